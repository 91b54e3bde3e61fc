"""Fine-tuning augmentation on ``uint8 (T, C, H, W)`` clips, in plain torch.

* :func:`rand_augment` — RandAugment (``n`` ops of magnitude ``m`` out of 10, optional magnitude noise),
  with **one draw per clip**: every frame gets the same ops with the same parameters, so motion is
  preserved (the official fine-tuning applies the same random ops to all frames of a clip).
* :func:`random_erasing` — erase one random rectangle with per-pixel normal noise (on normalised float
  frames); ``per_frame=True`` draws a rectangle per frame, as the official recipe does.
* :func:`build_finetune_transform` — short-side jitter, random resized crop, optional horizontal flip,
  RandAugment, normalisation, random erasing, encoder layout ``(C, T, H, W)``.

Horizontal flips swap left/right classes (SSv2, the synthetic world's ``moves_left`` / ``moves_right``):
keep ``hflip=0`` for direction-sensitive labels.

All randomness comes from the ``torch.Generator`` passed in; the global RNG is never touched.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from ..data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    VideoTransform,
    _randint,
    normalize,
    random_horizontal_flip,
    random_resized_crop,
    resize_short_side,
    to_encoder_input,
)

__all__ = [
    "RAND_AUGMENT_OPS",
    "apply_op",
    "build_finetune_transform",
    "rand_augment",
    "random_erasing",
]

_MAX_LEVEL = 10.0
_FILL = 128


def _u(generator: torch.Generator | None) -> float:
    return float(torch.rand(1, generator=generator))


def _blend(a: torch.Tensor, b: torch.Tensor, factor: float) -> torch.Tensor:
    """``b + factor * (a - b)`` on float, clamped back to uint8 (PIL ImageEnhance semantics)."""
    out = b.float() + factor * (a.float() - b.float())
    return out.round_().clamp_(0, 255).to(torch.uint8)


def _grey(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float32, device=x.device).view(3, 1, 1)
    return (x.float() * w).sum(-3, keepdim=True)


def _affine(x: torch.Tensor, matrix: Sequence[float]) -> torch.Tensor:
    """Resample every frame through the inverse map ``matrix = (a, b, tx, d, e, ty)``: the output pixel at
    ``(px, py)`` takes the input pixel at ``(a*px + b*py + tx, d*px + e*py + ty)`` (pixel centres at
    integers), nearest neighbour, with grey (128) outside the frame."""
    t, c, h, w = x.shape
    a, b, tx, d, e, ty = matrix
    m = torch.tensor([[a, b, tx], [d, e, ty], [0.0, 0.0, 1.0]], dtype=torch.float64)
    # pixel -> normalised coordinates of affine_grid(align_corners=False): u = (2 px + 1) / W - 1
    s = torch.tensor(
        [[2.0 / w, 0.0, 1.0 / w - 1.0], [0.0, 2.0 / h, 1.0 / h - 1.0], [0.0, 0.0, 1.0]], dtype=torch.float64
    )
    theta = (s @ m @ torch.linalg.inv(s))[:2].float()
    grid = F.affine_grid(theta.unsqueeze(0).expand(t, 2, 3), [t, c, h, w], align_corners=False)
    ones = torch.ones(t, 1, h, w, device=x.device)
    sampled = F.grid_sample(
        torch.cat([x.float(), ones], 1), grid.to(x.device), mode="nearest", align_corners=False
    )
    img, valid = sampled[:, :c], sampled[:, c:]
    out = torch.where(valid > 0.5, img, torch.full_like(img, _FILL))
    return out.round_().clamp_(0, 255).to(torch.uint8)


def _rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    h, w = x.shape[-2:]
    r = math.radians(degrees)
    cos, sin = math.cos(r), math.sin(r)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    # rotate about the centre (counter-clockwise on screen for positive degrees, as PIL)
    return _affine(x, (cos, -sin, cx - cos * cx + sin * cy, sin, cos, cy - sin * cx - cos * cy))


def _equalize(x: torch.Tensor) -> torch.Tensor:
    """Per-channel histogram equalisation computed over the whole clip (the same map for every frame)."""
    out = torch.empty_like(x)
    for ch in range(x.shape[-3]):
        v = x[..., ch, :, :]
        hist = torch.bincount(v.reshape(-1).long(), minlength=256)
        nz = hist[hist > 0]
        step = (hist.sum() - nz[-1]) // 255 if nz.numel() else 0
        if step == 0:
            out[..., ch, :, :] = v
            continue
        lut = ((torch.cumsum(hist, 0) + step // 2) // step).clamp(0, 255)
        lut = torch.cat([torch.zeros(1, dtype=lut.dtype), lut[:-1]]).to(torch.uint8)
        out[..., ch, :, :] = lut[v.long()]
    return out


def _autocontrast(x: torch.Tensor) -> torch.Tensor:
    lo = x.amin(dim=(0, -2, -1), keepdim=True).float()
    hi = x.amax(dim=(0, -2, -1), keepdim=True).float()
    scale = torch.where(hi > lo, 255.0 / (hi - lo), torch.ones_like(hi))
    lo = torch.where(hi > lo, lo, torch.zeros_like(lo))
    return ((x.float() - lo) * scale).round_().clamp_(0, 255).to(torch.uint8)


def _sharpness(x: torch.Tensor, factor: float) -> torch.Tensor:
    t, c, h, w = x.shape
    k = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]]) / 13.0
    blurred = F.conv2d(x.float().reshape(t * c, 1, h, w), k.view(1, 1, 3, 3).to(x.device), padding=1)
    blurred = blurred.reshape(t, c, h, w)
    degenerate = x.float().clone()
    degenerate[..., 1:-1, 1:-1] = blurred[..., 1:-1, 1:-1]  # borders stay, as PIL's SMOOTH filter
    return _blend(x, degenerate, factor)


def _signed(level: float, generator: torch.Generator | None) -> float:
    return -level if _u(generator) < 0.5 else level


# op name -> (function(x, magnitude in [0, 1], generator), uses a signed magnitude)
def _op_table() -> dict[str, Callable[[torch.Tensor, float, torch.Generator | None], torch.Tensor]]:
    def shear_x(x, m, g):
        return _affine(x, (1, _signed(0.3 * m, g), 0, 0, 1, 0))

    def shear_y(x, m, g):
        return _affine(x, (1, 0, 0, _signed(0.3 * m, g), 1, 0))

    def translate_x(x, m, g):
        return _affine(x, (1, 0, _signed(0.45 * m, g) * x.shape[-1], 0, 1, 0))

    def translate_y(x, m, g):
        return _affine(x, (1, 0, 0, 0, 1, _signed(0.45 * m, g) * x.shape[-2]))

    return {
        "AutoContrast": lambda x, m, g: _autocontrast(x),
        "Equalize": lambda x, m, g: _equalize(x),
        "Invert": lambda x, m, g: 255 - x,
        "Rotate": lambda x, m, g: _rotate(x, _signed(30.0 * m, g)),
        "Posterize": lambda x, m, g: x & ((0xFF << (8 - max(1, 4 - int(4 * m)))) & 0xFF),
        "Solarize": lambda x, m, g: torch.where(x >= int(256 - 256 * m), 255 - x, x),
        "SolarizeAdd": lambda x, m, g: torch.where(
            x < 128, (x.int() + int(110 * m)).clamp(0, 255), x.int()
        ).to(torch.uint8),
        "Color": lambda x, m, g: _blend(x, _grey(x).expand_as(x), 1.0 + _signed(0.9 * m, g)),
        "Contrast": lambda x, m, g: _blend(x, _grey(x).mean().expand_as(x), 1.0 + _signed(0.9 * m, g)),
        "Brightness": lambda x, m, g: _blend(x, torch.zeros_like(x), 1.0 + _signed(0.9 * m, g)),
        "Sharpness": lambda x, m, g: _sharpness(x, 1.0 + _signed(0.9 * m, g)),
        "ShearX": shear_x,
        "ShearY": shear_y,
        "TranslateXRel": translate_x,
        "TranslateYRel": translate_y,
    }


RAND_AUGMENT_OPS: dict[str, Callable[[torch.Tensor, float, torch.Generator | None], torch.Tensor]] = (
    _op_table()
)


def apply_op(
    x: torch.Tensor, name: str, magnitude: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Apply one named op at ``magnitude`` in ``[0, 1]`` to every frame of ``uint8 (T, C, H, W)``."""
    if name not in RAND_AUGMENT_OPS:
        raise ValueError(f"unknown augmentation op {name!r}; known: {sorted(RAND_AUGMENT_OPS)}")
    if x.dtype != torch.uint8 or x.dim() != 4:
        raise ValueError(f"expected uint8 (T, C, H, W) frames, got {x.dtype} {tuple(x.shape)}")
    return RAND_AUGMENT_OPS[name](x, float(min(max(magnitude, 0.0), 1.0)), generator)


def rand_augment(
    x: torch.Tensor,
    num_ops: int = 4,
    magnitude: float = 7.0,
    magnitude_std: float = 0.5,
    ops: Sequence[str] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """RandAugment on a clip: ``num_ops`` ops drawn with replacement, magnitude ``magnitude`` of 10 with
    Gaussian noise ``magnitude_std``; each op is applied with probability 0.5 (timm's ``rand-m7-n4-mstd0.5``).
    The same ops and parameters apply to every frame."""
    names = list(ops) if ops is not None else list(RAND_AUGMENT_OPS)
    for _ in range(num_ops):
        name = names[int(torch.randint(len(names), (1,), generator=generator))]
        if _u(generator) >= 0.5:
            continue
        m = magnitude
        if magnitude_std > 0:
            m = m + magnitude_std * float(torch.randn(1, generator=generator))
        x = apply_op(x, name, min(max(m, 0.0), _MAX_LEVEL) / _MAX_LEVEL, generator)
    return x


def random_erasing(
    x: torch.Tensor,
    p: float = 0.25,
    scale: tuple[float, float] = (0.02, 1 / 3),
    ratio: tuple[float, float] = (0.3, 3.3),
    per_frame: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """With probability ``p`` replace one rectangle with standard-normal noise (normalised float
    ``(T, C, H, W)``); ``per_frame`` draws the decision and the rectangle for each frame separately."""
    if not x.is_floating_point():
        raise TypeError("random_erasing works on normalised float frames; apply it after normalize()")
    groups = [x[i : i + 1] for i in range(x.shape[0])] if per_frame else [x]
    out = []
    h, w = x.shape[-2:]
    log_r = (math.log(ratio[0]), math.log(ratio[1]))
    for g in groups:
        g = g.clone()
        if _u(generator) < p:
            for _ in range(10):
                area = h * w * (scale[0] + (scale[1] - scale[0]) * _u(generator))
                aspect = math.exp(log_r[0] + (log_r[1] - log_r[0]) * _u(generator))
                eh, ew = int(round(math.sqrt(area * aspect))), int(round(math.sqrt(area / aspect)))
                if 0 < eh < h and 0 < ew < w:
                    top, left = _randint(generator, 0, h - eh), _randint(generator, 0, w - ew)
                    noise = torch.randn((*g.shape[:-2], eh, ew), generator=generator, dtype=torch.float32)
                    g[..., top : top + eh, left : left + ew] = noise.to(g.dtype)
                    break
        out.append(g)
    return torch.cat(out) if per_frame else out[0]


def build_finetune_transform(
    size: int = 224,
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
    scale: tuple[float, float] = (0.08, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    short_side_range: tuple[int, int] | None = None,
    hflip: float = 0.0,
    rand_aug: tuple[int, float] | None = (4, 7.0),
    rand_aug_std: float = 0.5,
    erase_prob: float = 0.25,
    interpolation: str = "bicubic",
) -> VideoTransform:
    """The fine-tuning pipeline on ``uint8 (T, C, H, W)``; output float ``(C, T, H, W)``.

    Defaults follow the official recipe (RandAugment ``n=4, m=7, std 0.5``, random erasing 0.25, scale
    ``(0.08, 1)``) except ``hflip=0``: flips change direction-sensitive labels.
    """
    steps: list[Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]] = []
    if short_side_range is not None:
        lo, hi = short_side_range
        steps.append(lambda x, g: resize_short_side(x, _randint(g, lo, hi), "bilinear"))
    steps.append(lambda x, g: random_resized_crop(x, size, scale, ratio, g, interpolation))
    if hflip > 0:
        steps.append(lambda x, g: random_horizontal_flip(x, hflip, g))
    if rand_aug is not None:
        n, m = rand_aug
        steps.append(lambda x, g: rand_augment(x, int(n), float(m), rand_aug_std, generator=g))
    steps.append(lambda x, g: normalize(x, mean, std))
    if erase_prob > 0:
        steps.append(lambda x, g: random_erasing(x, erase_prob, generator=g))
    steps.append(lambda x, g: to_encoder_input(x))
    return VideoTransform(steps, name=f"finetune-{size}")
