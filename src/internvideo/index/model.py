"""Loading the model an index is built with, its fingerprint, and the preprocessing derived from it.

A model is named by a registered name (``internvideo2_tiny_synth``, ``arch.tag``) or by the path of a
``save_pretrained`` folder. The preprocessing (frames, size, mean/std, sampling, resize) comes from the
model's configuration and pretrained record, never from constants, and is stored in every index so that
queries and later runs prepare videos exactly as the index did.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, InternVideoError

logger = logging.getLogger(__name__)

__all__ = [
    "ClipTransform",
    "Preprocessing",
    "is_video_text_model",
    "load_model",
    "model_fingerprint",
    "pick_device",
    "preprocessing_for",
]


@dataclass(frozen=True)
class Preprocessing:
    """How frames are sampled and prepared for the encoder (stored in the index header)."""

    num_frames: int
    img_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    sampling: str = "middle"  # frame policy inside a video or a segment (see internvideo.data.sampling)
    resize: str = "squash"  # "squash" (resize to img_size x img_size) or "center" (short side + centre crop)

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Preprocessing:
        return cls(
            num_frames=int(data["num_frames"]),
            img_size=int(data["img_size"]),
            mean=tuple(float(v) for v in data["mean"]),  # type: ignore[arg-type]
            std=tuple(float(v) for v in data["std"]),  # type: ignore[arg-type]
            sampling=str(data["sampling"]),
            resize=str(data["resize"]),
        )

    def transform(self) -> ClipTransform:
        """The clip transform for these settings (``uint8 (T, C, H, W)`` -> float ``(C, T, H, W)``)."""
        return ClipTransform(self)


class ClipTransform:
    """The evaluation transform of :func:`internvideo.data.transforms.build_eval_transform`, with the
    normalisation done in place, straight into a slot of a batch tensor.

    Same geometry (the library's resize/crop functions), same result up to float rounding
    (``x * 1/(255 std) - mean/std`` instead of ``(x / 255 - mean) / std``). Decode workers use it to fill
    model batches without intermediate tensors.
    """

    def __init__(self, pre: Preprocessing) -> None:
        if pre.resize not in ("squash", "center"):
            raise ConfigError(f"unknown resize mode {pre.resize!r}; use squash or center")
        self.pre = pre
        std = torch.tensor(pre.std, dtype=torch.float32).view(-1, 1, 1, 1)
        mean = torch.tensor(pre.mean, dtype=torch.float32).view(-1, 1, 1, 1)
        self.scale = 1.0 / (255.0 * std)
        self.bias = -mean / std

    def __reduce__(self):
        # rebuilt from the settings: pickling the normalisation tensors would put each of them in a
        # shared-memory segment of its own when sent to a worker process
        return (ClipTransform, (self.pre,))

    def geometry(self, frames: torch.Tensor) -> torch.Tensor:
        """Resize (and crop) ``uint8 (T, C, H, W)`` frames to ``img_size`` as the eval transform does."""
        from ..data.transforms import center_crop, resize_short_side, squash_resize

        size = self.pre.img_size
        if self.pre.resize == "squash":
            return squash_resize(frames, size, "bicubic")
        return center_crop(resize_short_side(frames, size, "bilinear"), size)

    def normalize(self, frames: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """Resized ``uint8 (..., T, C, H, W)`` frames -> normalised float ``(..., C, T, H, W)``.

        Works on one clip or a batch of clips; writes into ``out`` when given.
        """
        x = frames.transpose(-4, -3)  # a view
        if out is None:
            out = torch.empty(x.shape, dtype=torch.float32)
        return out.copy_(x).mul_(self.scale).add_(self.bias)  # measured faster than one addcmul

    def __call__(self, frames: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        """``uint8 (T, C, H, W)`` frames -> normalised float ``(C, T, size, size)`` (into ``out`` if given)."""
        return self.normalize(self.geometry(frames), out)


def is_video_text_model(model: nn.Module) -> bool:
    """True for models with the dual-encoder verbs (``encode_video`` and ``encode_text``)."""
    return hasattr(model, "encode_video") and hasattr(model, "encode_text")


def _vision_cfg(model: nn.Module):
    cfg = model.cfg  # type: ignore[attr-defined]
    return cfg.vision if hasattr(cfg, "vision") else cfg


def preprocessing_for(model: nn.Module) -> Preprocessing:
    """Preprocessing of ``model``: frames and size from its config, the rest from its pretrained record.

    Video–text models use the retrieval protocol (``middle`` sampling, squash resize); classifiers use
    their record's protocol (one ``segment`` view with a centre crop unless the record says squash).
    """
    from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD

    vcfg = _vision_cfg(model)
    pcfg = getattr(model, "pretrained_cfg", None)
    mean = tuple(pcfg.mean) if pcfg is not None else IMAGENET_MEAN
    std = tuple(pcfg.std) if pcfg is not None else IMAGENET_STD
    if is_video_text_model(model):
        sampling, resize = "middle", "squash"
    else:
        sampling = pcfg.sampling if pcfg is not None and pcfg.sampling in ("middle", "segment") else "segment"
        resize = "squash" if pcfg is not None and pcfg.resize == "squash" else "center"
    return Preprocessing(
        num_frames=int(vcfg.num_frames),
        img_size=int(vcfg.img_size),
        mean=mean,  # type: ignore[arg-type]
        std=std,  # type: ignore[arg-type]
        sampling=sampling,
        resize=resize,
    )


def pick_device(device: str | None = None) -> torch.device:
    """``device`` when given, else the first GPU when there is one, else the CPU."""
    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_model(name_or_path: str | Path, device: str | torch.device | None = None) -> nn.Module:
    """Load a model by registered name (with its released weights) or from a ``save_pretrained`` folder.

    The model is put in eval mode on ``device`` and gets ``index_model_name`` (how it was named) and
    ``fingerprint`` attributes.
    """
    from ..models import create_model, from_pretrained
    from ..models.default import DEFAULT_MODEL

    name = str(name_or_path)
    path = Path(name).expanduser()
    if path.is_dir():
        model = from_pretrained(path)
        name = str(path.resolve())
    elif path.exists():
        raise ConfigError(f"--model {name!r} is a file; pass a save_pretrained folder or a registered name")
    else:
        try:
            model = create_model(name, pretrained=True)
        except InternVideoError as e:
            hint = ""
            if name.replace("-", "_").split(".")[0] == DEFAULT_MODEL:
                hint = (
                    " The embedded default weights are not installed in this copy of the package; "
                    "pass --model PATH with a save_pretrained folder instead."
                )
            raise ConfigError(f"cannot load model {name!r}: {e}.{hint}") from e
    model.eval().to(pick_device(str(device) if device is not None else None))
    model.index_model_name = name  # type: ignore[assignment]
    model.fingerprint = model_fingerprint(model)  # type: ignore[assignment]
    return model


def model_fingerprint(model: nn.Module) -> str:
    """SHA-256 over the model's architecture, config and every tensor of its state dict (16 hex chars).

    Two models with the same fingerprint produce the same embeddings; an index remembers it so that
    vectors of different models are never mixed.
    """
    h = hashlib.sha256()
    h.update(type(model).__name__.encode())
    cfg = getattr(model, "cfg", None)
    if cfg is not None and dataclasses.is_dataclass(cfg):
        h.update(repr(dataclasses.asdict(cfg)).encode())
    for key, value in sorted(model.state_dict().items()):
        t = value.detach().to("cpu").contiguous()
        h.update(key.encode())
        h.update(str(t.dtype).encode())
        h.update(repr(tuple(t.shape)).encode())
        if t.numel():
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]
