"""Our own checkpoint format and the model-hub download path.

``save_pretrained(model, dir)`` writes ``config.json`` (architecture + typed config) and ``model.safetensors``;
``from_pretrained(dir_or_hub_id)`` rebuilds the model and loads it strictly. Hub ids are resolved with
``huggingface_hub`` (which honours ``HF_HUB_OFFLINE``, ``HF_HOME`` and ``HF_ENDPOINT``); nothing is
downloaded unless a hub id is asked for.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._io import atomic_write
from ..errors import CheckpointError, ConfigError

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT = "internvideo"
FORMAT_VERSION = 1

# architecture name -> (model class, config class)
_ARCHITECTURES: dict[str, tuple[Callable[[Any], nn.Module], type]] = {}


def register_architecture(cls: type, config_cls: type) -> None:
    """Make ``cls(config_cls(...))`` rebuildable from a saved ``config.json``."""
    _ARCHITECTURES[cls.__name__] = (cls, config_cls)


def _builtin_architectures() -> None:
    from .multimodal import InternVideo2Stage2, Stage2Config
    from .vision import InternVideo2, InternVideo2Pretrain, VisionConfig

    for cls in (InternVideo2, InternVideo2Pretrain):
        _ARCHITECTURES.setdefault(cls.__name__, (cls, VisionConfig))
    _ARCHITECTURES.setdefault(InternVideo2Stage2.__name__, (InternVideo2Stage2, Stage2Config))


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A (possibly nested) config dataclass as JSON-friendly data."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def config_from_dict(config_cls: type, data: dict[str, Any]) -> Any:
    """Rebuild a (possibly nested) frozen config dataclass; unknown fields are an error."""
    names = {f.name: f for f in dataclasses.fields(config_cls)}
    unknown = set(data) - set(names)
    if unknown:
        raise ConfigError(f"{config_cls.__name__}: unknown fields in saved config: {sorted(unknown)}")
    hints = typing.get_type_hints(config_cls)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        hint = hints.get(key)
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = config_from_dict(hint, value)  # type: ignore[arg-type]
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return config_cls(**kwargs)


def save_pretrained(
    model: nn.Module,
    directory: str | Path,
    model_name: str | None = None,
    dtype: torch.dtype | None = None,
    external: dict[str, str] | None = None,
    **meta: Any,
) -> Path:
    """Write ``config.json`` + ``model.safetensors`` into ``directory`` (each file atomically).

    ``dtype`` stores floating tensors in another precision (e.g. ``torch.float16`` to halve the file).
    ``external`` maps key prefixes to installed sources (see :func:`internvideo.models.default.external_weights`)
    whose tensors are left out of the file and restored from the source on load; they must be unchanged
    (e.g. frozen while training), which is checked here.
    """
    from safetensors.torch import save_file

    _builtin_architectures()
    arch = type(model).__name__
    if arch not in _ARCHITECTURES:
        raise ConfigError(f"{arch} is not a registered architecture; call register_architecture first")
    cfg = getattr(model, "cfg", None)
    if cfg is None or not dataclasses.is_dataclass(cfg):
        raise ConfigError(f"{arch} has no dataclass .cfg to save")
    directory = Path(directory)
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    # tied parameters share storage: keep one copy, safetensors refuses shared tensors
    seen: dict[int, str] = {}
    tied: dict[str, str] = {}
    for k, v in list(state.items()):
        ptr = v.untyped_storage().data_ptr() if v.numel() else -1
        if ptr in seen and ptr != -1:
            tied[k] = seen[ptr]
            del state[k]
        else:
            seen[ptr] = k
    external = dict(external or {})
    if external:
        from .default import external_weights

        for prefix, src in external.items():
            ref = external_weights(src)
            for k in [k for k in state if k.startswith(prefix)]:
                if k not in ref or not torch.equal(ref[k].to(state[k].dtype), state[k]):
                    raise ConfigError(f"{k} differs from its external source {src!r}; it cannot be left out")
                del state[k]
    if dtype is not None:
        state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "architecture": arch,
        "model_name": model_name,
        "config": config_to_dict(cfg),
        "tied_weights": tied,
        "external_weights": external,
        **meta,
    }
    atomic_write(directory / WEIGHTS_NAME, lambda p: save_file(state, p, metadata={"format": "pt"}))
    atomic_write(directory / CONFIG_NAME, lambda p: Path(p).write_text(json.dumps(config, indent=2) + "\n"))
    logger.info("saved %s to %s", arch, directory)
    return directory


def download_file(
    hub_id: str,
    filename: str,
    cache_dir: str | Path | None = None,
    revision: str | None = None,
    endpoint: str | None = None,
) -> Path:
    """Fetch one file of a hub repository into the local cache (or find it there) and return its path."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as e:  # pragma: no cover - core dependency
        raise ImportError("downloading weights needs huggingface_hub: pip install huggingface_hub") from e
    try:
        path = hf_hub_download(
            repo_id=hub_id,
            filename=filename,
            revision=revision,
            cache_dir=str(cache_dir) if cache_dir else None,
            endpoint=endpoint,
        )
    except Exception as e:
        raise CheckpointError(
            f"could not fetch {filename!r} from hub repository {hub_id!r}: {e}. If this machine is offline, "
            "download the file elsewhere and pass its local path instead."
        ) from e
    return Path(path)


def _resolve_dir(
    name_or_path: str | Path, cache_dir: str | Path | None, revision: str | None, endpoint: str | None
) -> Path:
    path = Path(name_or_path)
    if path.is_dir():
        return path
    if path.exists():
        raise CheckpointError(f"{str(path)!r} is a file; from_pretrained expects a save_pretrained folder")
    if str(name_or_path).count("/") != 1 or str(name_or_path).startswith((".", "/")):
        raise CheckpointError(
            f"{str(name_or_path)!r} is neither a local folder nor a hub id of the form 'owner/name'"
        )
    cfg_path = download_file(str(name_or_path), CONFIG_NAME, cache_dir, revision, endpoint)
    download_file(str(name_or_path), WEIGHTS_NAME, cache_dir, revision, endpoint)
    return cfg_path.parent


def from_pretrained(
    name_or_path: str | Path,
    cache_dir: str | Path | None = None,
    revision: str | None = None,
    endpoint: str | None = None,
    strict: bool = True,
    **overrides: Any,
) -> nn.Module:
    """Rebuild a model saved by :func:`save_pretrained` from a folder or a hub id, loading strictly.

    ``overrides`` replace config fields (e.g. ``num_frames=16``); position tables are resized on load.
    """
    from safetensors.torch import load_file

    from .convert import load_state_dict_strict, remap_vision_state_dict

    _builtin_architectures()
    directory = _resolve_dir(name_or_path, cache_dir, revision, endpoint)
    cfg_file, weights = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    if not cfg_file.is_file() or not weights.is_file():
        raise CheckpointError(f"{str(directory)!r} lacks {CONFIG_NAME} or {WEIGHTS_NAME}")
    try:
        meta = json.loads(cfg_file.read_text())
    except json.JSONDecodeError as e:
        raise CheckpointError(f"{str(cfg_file)!r} is not valid JSON: {e}") from e
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{str(cfg_file)!r} is not an {FORMAT} config (format={meta.get('format')!r})")
    arch = meta["architecture"]
    if arch not in _ARCHITECTURES:
        raise CheckpointError(
            f"{str(cfg_file)!r}: unknown architecture {arch!r}; known: {sorted(_ARCHITECTURES)}"
        )
    cls, config_cls = _ARCHITECTURES[arch]
    cfg = config_from_dict(config_cls, meta["config"])
    if overrides:
        cfg = dataclasses.replace(cfg, **overrides)
    model = cls(cfg)
    sd = load_file(str(weights))
    if meta.get("external_weights"):
        from .default import external_weights

        expected = model.state_dict()
        for prefix, src in meta["external_weights"].items():
            sd.update(
                {k: v for k, v in external_weights(src).items() if k.startswith(prefix) and k in expected}
            )
    for k, src in meta.get("tied_weights", {}).items():
        sd[k] = sd[src]
    source = str(weights)
    if overrides and hasattr(model, "pos_embed"):
        sd = remap_vision_state_dict(sd, model, source=source)
    load_state_dict_strict(model, sd, strict=strict, source=source)
    model.model_name = meta.get("model_name")  # type: ignore[assignment]
    model.eval()
    return model
