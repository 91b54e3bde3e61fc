"""Model registry: named factories, pretrained records and ``create_model``.

Every variant is a registered function; ``create_model("internvideo2_base_patch14_224.k710_ft_k400_f8",
pretrained=True)`` builds it and loads the released weights described by a :class:`PretrainedCfg` (the
record preprocessing is derived from — demos never hard-code it).
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import ConfigError

logger = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class PretrainedCfg:
    """Where a checkpoint lives and how its inputs must be prepared."""

    hub_id: str
    filename: str
    num_frames: int
    num_classes: int = 0
    img_size: int = 224
    # frames the position table in the file was trained with (resized on load when they differ)
    ckpt_num_frames: int | None = None
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    # frame sampling and spatial protocol used for evaluation (see internvideo.data)
    sampling: str = "segment"
    resize: str = "short_side"  # "short_side" (+ crops) or "squash" (resize to img_size x img_size)
    test_views: tuple[int, int] = (4, 3)  # clips x crops
    # "upstream" (official file), "internvideo" (a save_pretrained folder on the hub) or "embedded"
    # (a save_pretrained folder shipped in internvideo/weights/, named by ``filename``)
    format: str = "upstream"
    label_set: str = ""
    license: str = "apache-2.0"
    description: str = ""
    # False when the file cannot be loaded by this record alone (unknown file name, partial weights)
    loadable: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.hub_id}"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    builder: Callable[..., nn.Module]
    pretrained: dict[str, PretrainedCfg]
    description: str


_REGISTRY: dict[str, ModelEntry] = {}


def register_model(
    fn: Callable[..., nn.Module] | None = None, *, pretrained: dict[str, PretrainedCfg] | None = None
):
    """Register a factory under its function name (usable bare or with ``pretrained={tag: cfg}``)."""

    def wrap(f: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        name = f.__name__
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} registered twice")
        doc = (f.__doc__ or "").strip().splitlines()
        _REGISTRY[name] = ModelEntry(name, f, dict(pretrained or {}), doc[0] if doc else "")
        return f

    return wrap(fn) if fn is not None else wrap


def add_pretrained(name: str, tag: str, cfg: PretrainedCfg) -> None:
    """Attach a pretrained record to a registered model (used by the zoo table)."""
    _ensure_loaded()
    entry = _get_entry(name)
    entry.pretrained[tag] = cfg


def _ensure_loaded() -> None:
    # Importing these modules runs their @register_model decorators.
    from . import factories, zoo  # noqa: F401


def _get_entry(name: str) -> ModelEntry:
    if name not in _REGISTRY:
        close = fnmatch.filter(_REGISTRY, f"*{name.split('_')[0]}*")[:8]
        hint = f" Did you mean one of {close}?" if close else ""
        raise ConfigError(f"unknown model {name!r}.{hint} See internvideo.list_models().")
    return _REGISTRY[name]


def split_name(model_name: str) -> tuple[str, str | None]:
    """``"arch.tag"`` → ``("arch", "tag")``."""
    arch, _, tag = model_name.partition(".")
    return arch.replace("-", "_"), (tag or None)


def list_models(pattern: str = "*", pretrained: bool = False) -> list[str]:
    """Registered model names matching a glob; with ``pretrained`` the ``arch.tag`` names with weights."""
    _ensure_loaded()
    if pretrained:
        names = [f"{n}.{t}" for n, e in _REGISTRY.items() for t in e.pretrained]
    else:
        names = list(_REGISTRY)
    return sorted(n for n in names if fnmatch.fnmatch(n, pattern))


def get_pretrained_cfg(model_name: str) -> PretrainedCfg:
    """The pretrained record of ``arch.tag`` (or the model's only/first tag when no tag is given)."""
    _ensure_loaded()
    arch, tag = split_name(model_name)
    entry = _get_entry(arch)
    if not entry.pretrained:
        raise ConfigError(
            f"model {arch!r} has no released weights; list_models(pretrained=True) shows those that do"
        )
    if tag is None:
        tag = next(iter(entry.pretrained))
    if tag not in entry.pretrained:
        raise ConfigError(f"model {arch!r} has no pretrained tag {tag!r}; known: {sorted(entry.pretrained)}")
    return entry.pretrained[tag]


def create_model(
    model_name: str,
    pretrained: bool | str | Path = False,
    strict: bool = True,
    cache_dir: str | Path | None = None,
    hub_endpoint: str | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build a registered model, optionally loading weights.

    ``pretrained``: ``True`` loads the released weights of the ``arch.tag`` record (downloaded through
    ``huggingface_hub`` into its cache unless already present); a path loads that checkpoint file or
    ``save_pretrained`` folder. ``kwargs`` override configuration fields such as ``num_frames``,
    ``num_classes``, ``img_size`` or ``drop_path_rate``; position tables are resized on load.
    """
    _ensure_loaded()
    arch, tag = split_name(model_name)
    entry = _get_entry(arch)
    pcfg: PretrainedCfg | None = None
    if pretrained is True and tag is None and entry.pretrained:
        tag = next(iter(entry.pretrained))
        model_name = f"{arch}.{tag}"
    if pretrained is True or (tag is not None and pretrained is not False):
        pcfg = get_pretrained_cfg(model_name)
        if pcfg.format in ("internvideo", "embedded"):
            from .hub import from_pretrained

            if pcfg.format == "embedded":  # weights shipped inside this package
                from .default import WEIGHTS_DIR

                return _with_cfg(from_pretrained(WEIGHTS_DIR / pcfg.filename, **kwargs), pcfg)
            return _with_cfg(
                from_pretrained(pcfg.hub_id, cache_dir=cache_dir, endpoint=hub_endpoint, **kwargs), pcfg
            )
        kwargs.setdefault("num_frames", pcfg.num_frames)
        kwargs.setdefault("img_size", pcfg.img_size)
        kwargs.setdefault("num_classes", pcfg.num_classes)
    if pretrained is False:
        return entry.builder(**kwargs)
    from .convert import load_checkpoint, read_state_dict

    # fetch and read the checkpoint before building: a failed download or a bad file costs no model memory
    if pretrained is True:
        assert pcfg is not None
        if not pcfg.loadable or not pcfg.filename:
            raise ConfigError(
                f"{model_name}: the released file cannot be fetched from this record alone "
                f"({pcfg.description or 'file name not published'}); download it from {pcfg.url} and pass "
                "pretrained=<path to the file>"
            )
        from .hub import download_file

        path = download_file(pcfg.hub_id, pcfg.filename, cache_dir=cache_dir, endpoint=hub_endpoint)
        orig_frames = pcfg.ckpt_num_frames
    else:
        path = Path(pretrained)
        if path.is_dir():
            from .hub import from_pretrained

            return from_pretrained(path, **kwargs)
        orig_frames = None
    state = read_state_dict(path)
    model = entry.builder(**kwargs)
    load_checkpoint(model, state, strict=strict, orig_num_frames=orig_frames, source=str(path))
    return _with_cfg(model, pcfg)


def _with_cfg(model: nn.Module, pcfg: PretrainedCfg | None) -> nn.Module:
    model.pretrained_cfg = pcfg  # type: ignore[assignment]
    return model
