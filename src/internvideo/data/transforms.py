"""Video transforms on ``uint8 (T, C, H, W)`` frame tensors, in plain torch (no torchvision).

Layout at the API boundary: readers return ``(T, C, H, W)`` uint8 RGB; encoders take float
``(B, C, T, H, W)``. Spatial ops here work on any ``(..., C, H, W)`` tensor and apply the same
geometry to every frame. :func:`to_encoder_input` is the one place that reorders to ``(C, T, H, W)``.

Random ops take an optional ``torch.Generator`` and never touch the global random state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

__all__ = [
    "CLIP_MEAN",
    "CLIP_STD",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "VideoTransform",
    "build_eval_transform",
    "build_train_transform",
    "center_crop",
    "normalize",
    "random_horizontal_flip",
    "random_resized_crop",
    "resize",
    "resize_short_side",
    "squash_resize",
    "three_crop",
    "to_encoder_input",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

Size = int | tuple[int, int]


def _pair(size: Size) -> tuple[int, int]:
    if isinstance(size, int):
        return size, size
    h, w = size
    return int(h), int(w)


def _check(x: torch.Tensor) -> None:
    if x.dim() < 3:
        raise ValueError(f"expected a (..., C, H, W) tensor, got shape {tuple(x.shape)}")


def resize(
    x: torch.Tensor, size: tuple[int, int], interpolation: str = "bilinear", antialias: bool = False
) -> torch.Tensor:
    """Resize every frame to ``size = (h, w)``. uint8 input is rounded and clamped back to uint8."""
    _check(x)
    if interpolation not in ("bilinear", "bicubic", "nearest"):
        raise ValueError(f"interpolation must be bilinear, bicubic or nearest, got {interpolation!r}")
    h, w = size
    if tuple(x.shape[-2:]) == (h, w):
        return x
    lead = x.shape[:-3]
    y = x.reshape(-1, *x.shape[-3:])
    dtype = y.dtype
    y = y.float() if not y.is_floating_point() else y
    kwargs = {} if interpolation == "nearest" else {"align_corners": False, "antialias": antialias}
    y = F.interpolate(y, size=(h, w), mode=interpolation, **kwargs)
    if dtype == torch.uint8:
        y = y.round_().clamp_(0, 255).to(torch.uint8)
    elif y.dtype != dtype:
        y = y.to(dtype)
    return y.reshape(*lead, *y.shape[-3:])


def resize_short_side(
    x: torch.Tensor, size: int, interpolation: str = "bilinear", antialias: bool = False
) -> torch.Tensor:
    """Resize so the short side is ``size``; the long side becomes ``int(size * long / short)``."""
    _check(x)
    h, w = x.shape[-2:]
    if h <= w:
        new = (size, int(size * w / h))
    else:
        new = (int(size * h / w), size)
    return resize(x, new, interpolation, antialias)


def squash_resize(
    x: torch.Tensor, size: Size, interpolation: str = "bicubic", antialias: bool = False
) -> torch.Tensor:
    """Resize to exactly ``size`` without preserving the aspect ratio (stage-2 evaluation protocol:
    bicubic, no antialiasing, as torchvision 0.14 did on tensors)."""
    return resize(x, _pair(size), interpolation, antialias)


def _crop(x: torch.Tensor, top: int, left: int, h: int, w: int) -> torch.Tensor:
    return x[..., top : top + h, left : left + w]


def center_crop(x: torch.Tensor, size: Size) -> torch.Tensor:
    """Central ``size`` crop (offsets ``round((H - h) / 2)``, as torchvision)."""
    _check(x)
    h, w = _pair(size)
    H, W = x.shape[-2:]
    if h > H or w > W:
        raise ValueError(f"crop {h}x{w} larger than the frames ({H}x{W}); resize first")
    return _crop(x, int(round((H - h) / 2.0)), int(round((W - w) / 2.0)), h, w)


def three_crop(x: torch.Tensor, size: int) -> torch.Tensor:
    """Three ``size x size`` crops along the long side (start, centre, end), stacked on a new dim 0.

    Crop ``k`` starts at ``int(k * (long - size) / 2)`` on the long side and is centred on the short
    side (the single-modality multi-view test protocol, after a short-side resize to ``size``).
    Returns ``(3, *x.shape[:-2], size, size)``.
    """
    _check(x)
    H, W = x.shape[-2:]
    if size > H or size > W:
        raise ValueError(f"crop {size} larger than the frames ({H}x{W}); resize the short side first")
    crops = []
    for k in range(3):
        if W >= H:
            top, left = (H - size) // 2, int(k * (W - size) / 2)
        else:
            top, left = int(k * (H - size) / 2), (W - size) // 2
        crops.append(_crop(x, top, left, size, size))
    return torch.stack(crops)


def _uniform(generator: torch.Generator | None, low: float, high: float) -> float:
    return float(torch.empty(1).uniform_(low, high, generator=generator))


def _randint(generator: torch.Generator | None, low: int, high: int) -> int:
    """Integer in ``[low, high]``."""
    return int(torch.randint(low, high + 1, (1,), generator=generator))


def random_resized_crop_params(
    height: int,
    width: int,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
) -> tuple[int, int, int, int]:
    """``(top, left, h, w)`` of a random crop with area fraction in ``scale`` and aspect in ``ratio``
    (the Inception-style sampler: ten tries, then a centre crop with the aspect clamped)."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * _uniform(generator, scale[0], scale[1])
        aspect = math.exp(_uniform(generator, *log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return _randint(generator, 0, height - h), _randint(generator, 0, width - w), h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def random_resized_crop(
    x: torch.Tensor,
    size: Size,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
    interpolation: str = "bicubic",
    antialias: bool = False,
) -> torch.Tensor:
    """Crop one random region (the same for all frames) and resize it to ``size``."""
    _check(x)
    top, left, h, w = random_resized_crop_params(x.shape[-2], x.shape[-1], scale, ratio, generator)
    return resize(_crop(x, top, left, h, w), _pair(size), interpolation, antialias)


def random_horizontal_flip(
    x: torch.Tensor, p: float = 0.5, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Mirror all frames left-right together with probability ``p``."""
    _check(x)
    if p > 0 and float(torch.rand(1, generator=generator)) < p:
        return x.flip(-1)
    return x


def normalize(
    x: torch.Tensor,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """``(x / 255 - mean) / std`` per channel (dim ``-3``), as float.

    uint8 input is divided by 255 first; floating input is taken to be in ``[0, 1]`` already.
    """
    _check(x)
    y = x.to(dtype)
    if not x.is_floating_point():
        y = y / 255.0
    m = torch.as_tensor(mean, dtype=dtype, device=x.device).view(-1, 1, 1)
    s = torch.as_tensor(std, dtype=dtype, device=x.device).view(-1, 1, 1)
    if m.shape[0] != x.shape[-3]:
        raise ValueError(f"mean/std have {m.shape[0]} channels but the frames have {x.shape[-3]}")
    return (y - m) / s


def to_encoder_input(x: torch.Tensor) -> torch.Tensor:
    """Normalised float frames ``(..., T, C, H, W)`` -> encoder layout ``(..., C, T, H, W)``.

    Add a batch dim (``x[None]``) for a single clip: encoders take ``(B, C, T, H, W)``. uint8 input is
    refused, because feeding unnormalised pixels is a silent accuracy bug; call :func:`normalize`.
    """
    if not x.is_floating_point():
        raise TypeError("to_encoder_input expects normalised float frames; call normalize() first")
    if x.dim() < 4:
        raise ValueError(f"expected (..., T, C, H, W), got shape {tuple(x.shape)}")
    return x.transpose(-4, -3).contiguous()


Step = Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]


@dataclass
class VideoTransform:
    """A small pipeline: ``steps`` applied in order to ``uint8 (T, C, H, W)`` frames.

    Each step is ``f(x, generator) -> x``; the default presets end with normalisation and
    :func:`to_encoder_input`, producing float ``(C, T, H, W)`` (``(V, C, T, H, W)`` for multi-view).
    """

    steps: list[Step] = field(default_factory=list)
    name: str = "custom"

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        for step in self.steps:
            x = step(x, generator)
        return x

    def __repr__(self) -> str:
        return f"VideoTransform({self.name!r}, {len(self.steps)} steps)"


def build_eval_transform(
    size: int = 224,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    mode: str = "squash",
    interpolation: str | None = None,
) -> VideoTransform:
    """Evaluation preprocessing.

    * ``squash``: resize to ``size x size`` without keeping the aspect (bicubic; stage-2 / CLIP
      retrieval and zero-shot).
    * ``center``: short side to ``size`` (bilinear), centre crop (classification validation).
    * ``three_crop``: short side to ``size`` (bilinear), three crops along the long side
      (classification test views); output ``(3, C, T, H, W)``.
    """
    if mode == "squash":
        interp = interpolation or "bicubic"
        geom: Step = lambda x, g: squash_resize(x, size, interp)  # noqa: E731
    elif mode == "center":
        interp = interpolation or "bilinear"
        geom = lambda x, g: center_crop(resize_short_side(x, size, interp), size)  # noqa: E731
    elif mode == "three_crop":
        interp = interpolation or "bilinear"
        geom = lambda x, g: three_crop(resize_short_side(x, size, interp), size)  # noqa: E731
    else:
        raise ValueError(f"mode must be 'squash', 'center' or 'three_crop', got {mode!r}")
    return VideoTransform(
        [geom, lambda x, g: normalize(x, mean, std), lambda x, g: to_encoder_input(x)],
        name=f"eval-{mode}-{size}",
    )


def build_train_transform(
    size: int = 224,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    scale: tuple[float, float] = (0.5, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    hflip: float = 0.5,
    short_side_range: tuple[int, int] | None = None,
    interpolation: str = "bicubic",
) -> VideoTransform:
    """Training augmentation: optional short-side jitter, random resized crop, horizontal flip,
    normalisation; one random draw per clip, shared by all its frames.

    Defaults follow stage-2 training (scale ``(0.5, 1)``, bicubic, flip 0.5). Fine-tuning uses
    ``short_side_range=(256, 320)``, ``scale=(0.08, 1)``, and ``hflip=0`` for SSv2.
    """
    steps: list[Step] = []
    if short_side_range is not None:
        lo, hi = short_side_range
        steps.append(lambda x, g: resize_short_side(x, _randint(g, lo, hi), "bilinear"))
    steps.append(lambda x, g: random_resized_crop(x, size, scale, ratio, g, interpolation))
    if hflip > 0:
        steps.append(lambda x, g: random_horizontal_flip(x, hflip, g))
    steps += [lambda x, g: normalize(x, mean, std), lambda x, g: to_encoder_input(x)]
    return VideoTransform(steps, name=f"train-{size}")
