"""Upstream checkpoint formats → our modules, strictly.

One tested remap per upstream format:

* :func:`read_state_dict` reads ``.pt/.pth/.bin`` (``torch.load(weights_only=True)``) and ``.safetensors`` and
  unwraps the ``model`` / ``module`` / ``state_dict`` wrappers the official scripts write.
* :func:`remap_vision_state_dict` selects the vision tower of a multimodal checkpoint (``vision_encoder.``),
  strips wrapper prefixes, drops the heads of *other training stages* by name (logged), resizes position
  tables (temporal linear, then spatial bicubic, CLS row untouched — logged) and inflates 2D patch kernels.
* :func:`load_checkpoint` then loads strictly and raises :class:`~internvideo.errors.CheckpointError` naming
  every missing, unexpected and mis-shaped key.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError
from .layers import resize_pos_table

logger = logging.getLogger(__name__)

StateDict = dict[str, torch.Tensor]

_WRAPPERS = ("model", "module", "state_dict", "model_state", "ema")
# Parameters that belong to training stages other than the target's; dropped (with a log line) when the
# target model does not have them, e.g. stage-1 decoders when fine-tuning a classifier.
_STAGE_ONLY_PREFIXES = (
    "clip_decoder.",
    "final_clip_decoder.",
    "mae_decoder.",
    "clip_pos_embed",
    "clip_img_pos_embed",
    "mae_pos_embed",
    "img_pos_embed",
)
_POS_TABLES = {  # name -> number of prefix (CLS) rows
    "pos_embed": 1,
    "clip_pos_embed": 1,
    "img_pos_embed": 1,
    "clip_img_pos_embed": 1,
    "mae_pos_embed": 0,
}


def read_state_dict(path: str | Path) -> StateDict:
    """Read a checkpoint file into a flat ``{name: tensor}`` dict (wrappers unwrapped)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {str(path)!r} is empty (0 bytes)")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            obj: object = load_file(str(path))
        else:
            obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:  # corrupt file, pickle with non-tensor objects, ...
        raise CheckpointError(
            f"cannot read checkpoint {str(path)!r}: not a readable PyTorch (.pt/.pth/.bin) or .safetensors file "
            f"({type(e).__name__}: {e})"
        ) from e
    return unwrap_state_dict(obj, source=str(path))


def unwrap_state_dict(obj: object, source: str = "checkpoint") -> StateDict:
    """Descend through ``model`` / ``module`` / ``state_dict`` wrappers to the tensor dict."""
    for _ in range(4):
        if not isinstance(obj, Mapping):
            raise CheckpointError(f"{source}: expected a dict of tensors, found {type(obj).__name__}")
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
        inner = next((obj[k] for k in _WRAPPERS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
            if tensors:
                dropped = sorted(k for k in obj if k not in tensors)
                logger.info("%s: ignoring non-tensor entries %s", source, dropped)
                return tensors
            raise CheckpointError(f"{source}: no tensors found (top-level keys: {sorted(obj)[:10]})")
        obj = inner
    raise CheckpointError(f"{source}: checkpoint nesting too deep")


def _strip_prefix_if_all(sd: StateDict, prefix: str) -> StateDict:
    if sd and all(k.startswith(prefix) for k in sd):
        return {k[len(prefix) :]: v for k, v in sd.items()}
    return sd


def infer_num_frames(n_rows: int, num_prefix: int, model_grid: int, model_t: int) -> int:
    """Frames stored in a position table, assuming the spatial grid is the model's when it divides."""
    n = n_rows - num_prefix
    if n % (model_grid**2) == 0:
        return n // (model_grid**2)
    if n % model_t == 0:
        return model_t
    raise CheckpointError(
        f"cannot infer the frame count of a position table with {n_rows} rows; pass orig_num_frames"
    )


def remap_vision_state_dict(
    sd: StateDict,
    model: nn.Module,
    orig_num_frames: int | None = None,
    source: str = "checkpoint",
) -> StateDict:
    """Map an upstream InternVideo2 vision checkpoint onto ``model``'s key layout (see module doc)."""
    target = model.state_dict()
    sd = _strip_prefix_if_all(sd, "module.")
    if any(k.startswith("vision_encoder.") for k in sd):
        others = sorted({k.split(".")[0] for k in sd if not k.startswith("vision_encoder.")})
        if others:
            logger.info("%s: taking the vision tower; other towers ignored: %s", source, others)
        sd = {k[len("vision_encoder.") :]: v for k, v in sd.items() if k.startswith("vision_encoder.")}
    for prefix in ("backbone.", "encoder."):
        sd = _strip_prefix_if_all(sd, prefix)

    dropped = sorted(k for k in sd if k not in target and k.startswith(_STAGE_ONLY_PREFIXES))
    if dropped:
        groups = sorted({k.split(".")[0] for k in dropped})
        logger.info("%s: dropping parameters of other training stages: %s", source, groups)
        sd = {k: v for k, v in sd.items() if k not in dropped}

    cfg = getattr(model, "cfg", None)
    for name, num_prefix in _POS_TABLES.items():
        if name not in sd or name not in target or sd[name].shape == target[name].shape:
            continue
        src, dst = sd[name], target[name]
        if src.ndim != 3 or src.shape[-1] != dst.shape[-1]:
            continue  # left for the strict shape check to report
        if cfg is None:
            raise CheckpointError(f"{source}: {name} needs resizing but the model has no cfg")
        is_image = name in ("img_pos_embed", "clip_img_pos_embed")
        new_t = 1 if is_image else cfg.t_size
        if is_image:
            orig_t = 1
        elif orig_num_frames is not None:
            orig_t = orig_num_frames // cfg.tubelet_size
        else:
            orig_t = infer_num_frames(src.shape[1], num_prefix, cfg.grid, cfg.t_size)
        sd[name] = resize_pos_table(src, orig_t, new_t, cfg.grid, num_prefix=num_prefix)
        logger.info(
            "%s: resized %s %s -> %s (frames %d -> %d, grid %d -> %d)",
            source,
            name,
            tuple(src.shape),
            tuple(sd[name].shape),
            orig_t,
            new_t,
            round(((src.shape[1] - num_prefix) / orig_t) ** 0.5),
            cfg.grid,
        )

    w = sd.get("patch_embed.proj.weight")
    tw = target.get("patch_embed.proj.weight")
    if (
        w is not None
        and tw is not None
        and w.shape != tw.shape
        and w.shape[2] == 1
        and w.shape[3:] == tw.shape[3:]
    ):
        # 2D kernel → tubelet: put it on the centre slice (the official ``center_init``).
        new = torch.zeros_like(tw, dtype=w.dtype)
        new[:, :, tw.shape[2] // 2] = w[:, :, 0]
        sd["patch_embed.proj.weight"] = new
        logger.info("%s: inflated patch_embed kernel %s -> %s", source, tuple(w.shape), tuple(new.shape))
    return sd


@dataclass
class LoadReport:
    """What a non-strict load skipped (empty lists after a strict load)."""

    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)


def _fmt(keys: Iterable[str], limit: int = 40) -> str:
    keys = list(keys)
    shown = ", ".join(keys[:limit])
    return shown + (f", ... (+{len(keys) - limit} more)" if len(keys) > limit else "")


def load_state_dict_strict(
    model: nn.Module,
    sd: Mapping[str, torch.Tensor],
    strict: bool = True,
    allow_missing: Iterable[str] = (),
    source: str = "checkpoint",
) -> LoadReport:
    """Load ``sd`` into ``model``; with ``strict`` any missing/unexpected/mis-shaped key is an error.

    ``allow_missing``: key prefixes that may be absent (e.g. ``("head.", "fc_norm.")`` when a backbone
    checkpoint initialises a classifier); they keep their initial values and are logged.
    """
    target = model.state_dict()
    allow = tuple(allow_missing)
    missing = [k for k in target if k not in sd]
    unexpected = [k for k in sd if k not in target]
    mismatched = [
        f"{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(target[k].shape)}"
        for k in sd
        if k in target and sd[k].shape != target[k].shape
    ]
    hard_missing = [k for k in missing if not k.startswith(allow)] if allow else missing
    if mismatched or (strict and (hard_missing or unexpected)):
        parts = [f"{source} does not match {type(model).__name__}:"]
        if hard_missing:
            parts.append(f"missing keys ({len(hard_missing)}): {_fmt(hard_missing)}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {_fmt(unexpected)}")
        if mismatched:
            parts.append(f"shape mismatches ({len(mismatched)}): {_fmt(mismatched)}")
        parts.append(
            "Check that the model name / num_frames / img_size / num_classes match the checkpoint; "
            "pass strict=False to load the overlap on purpose."
        )
        raise CheckpointError("\n  ".join(parts))
    ok = {k: v for k, v in sd.items() if k in target}
    model.load_state_dict(ok, strict=False)
    if missing:
        logger.warning("%s: keys left at their initial values: %s", source, _fmt(missing))
    if unexpected:
        logger.warning("%s: checkpoint keys not used: %s", source, _fmt(unexpected))
    return LoadReport(missing=missing, unexpected=unexpected)


def load_checkpoint(
    model: nn.Module,
    checkpoint: str | Path | Mapping[str, torch.Tensor],
    strict: bool = True,
    orig_num_frames: int | None = None,
    allow_missing: Iterable[str] = (),
    source: str | None = None,
) -> LoadReport:
    """Load an upstream InternVideo2 vision checkpoint (file or state dict) into ``model``.

    ``source`` names a pre-read state dict in messages (file paths name themselves).
    """
    if isinstance(checkpoint, (str, Path)):
        source = str(checkpoint)
        sd = read_state_dict(checkpoint)
    else:
        source = source or "state_dict"
        sd = unwrap_state_dict(dict(checkpoint), source)
    sd = remap_vision_state_dict(sd, model, orig_num_frames=orig_num_frames, source=source)
    return load_state_dict_strict(model, sd, strict=strict, allow_missing=allow_missing, source=source)


_HEADS_BY_WIDTH = {64: 4, 384: 6, 768: 12, 1024: 16, 1408: 16, 3200: 25}


def infer_vision_config(
    sd: Mapping[str, torch.Tensor],
    img_size: int = 224,
    num_heads: int | None = None,
    attn_pool_num_heads: int | None = None,
    gelu: str = "tanh",
):
    """Work out the architecture of an InternVideo2 vision checkpoint from its keys and shapes.

    Returns ``(model_class, VisionConfig)``. Head counts are not visible in the weights: they come from the
    released sizes (by width) unless given.
    """
    from .vision import InternVideo2, InternVideo2Pretrain, VisionConfig

    sd = dict(sd)
    sd = _strip_prefix_if_all(sd, "module.")
    if any(k.startswith("vision_encoder.") for k in sd):
        sd = {k[len("vision_encoder.") :]: v for k, v in sd.items() if k.startswith("vision_encoder.")}
    for prefix in ("backbone.", "encoder."):
        sd = _strip_prefix_if_all(sd, prefix)
    try:
        w = sd["patch_embed.proj.weight"]
    except KeyError as e:
        raise CheckpointError("not an InternVideo2 vision checkpoint: no patch_embed.proj.weight") from e
    c, _, tubelet, patch, _ = w.shape
    depth = 1 + max(int(k.split(".")[1]) for k in sd if k.startswith("blocks."))
    heads = num_heads or _HEADS_BY_WIDTH.get(c)
    if heads is None:
        raise CheckpointError(f"cannot tell the head count of a {c}-wide model; pass num_heads")
    grid = img_size // patch
    n_patches = sd["pos_embed"].shape[1] - 1
    if n_patches % (grid * grid):
        raise CheckpointError(f"pos_embed with {n_patches} patch rows does not fit img_size {img_size}")
    fields: dict[str, object] = dict(
        img_size=img_size,
        patch_size=patch,
        embed_dim=c,
        depth=depth,
        num_heads=heads,
        mlp_ratio=sd["blocks.0.mlp.fc1.weight"].shape[0] / c,
        qkv_bias="blocks.0.attn.qkv.bias" in sd,
        qk_normalization="blocks.0.attn.q_norm.weight" in sd,
        init_values=1e-5 if "blocks.0.ls1.gamma" in sd else 0.0,
        num_frames=n_patches // (grid * grid) * tubelet,
        tubelet_size=tubelet,
        attn_pool_num_heads=attn_pool_num_heads or (16 if c >= 384 else 4),
        clip_embed_dim=sd["clip_projector.cross_attn.proj.weight"].shape[0],
        gelu=gelu,
        sep_image_video_pos_embed="img_pos_embed" in sd,
    )
    decoders = any(k.startswith(("clip_decoder.", "mae_decoder.")) for k in sd)
    if not decoders:
        fields["num_classes"] = sd["head.weight"].shape[0] if "head.weight" in sd else 0
        fields["head_type"] = "attentive" if "extra_mlp.0.weight" in sd else "linear"
        return InternVideo2, VisionConfig(**fields)  # type: ignore[arg-type]
    mlp = "clip_decoder.0.head.0.weight" in sd
    fields["clip_decoder"] = "mlp" if mlp else "linear"
    last = "head.2" if mlp else "head"
    k_clip = len({k.split(".")[1] for k in sd if k.startswith("clip_decoder.")})
    if k_clip:
        fields["clip_return_layer"] = k_clip
        fields["clip_teacher_embed_dim"] = sd[f"clip_decoder.0.{last}.weight"].shape[0]
    if f"final_clip_decoder.{last}.weight" in sd:
        fields["clip_teacher_final_dim"] = sd[f"final_clip_decoder.{last}.weight"].shape[0]
    k_mae = len({k.split(".")[1] for k in sd if k.startswith("mae_decoder.")})
    if k_mae:
        fields["mae_return_layer"] = k_mae
        fields["mae_teacher_embed_dim"] = sd["mae_decoder.0.head.2.weight"].shape[0]
    return InternVideo2Pretrain, VisionConfig(**fields)  # type: ignore[arg-type]
