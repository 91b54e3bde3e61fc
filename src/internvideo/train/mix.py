"""Mixup / CutMix for video batches, with label smoothing folded into the soft targets.

Batch mode, as the official fine-tuning (timm's ``Mixup``): one ``lam`` per batch, each sample mixed
with the batch reversed. With both enabled, each batch uses CutMix with probability ``switch_prob``.
CutMix cuts the same box out of every frame (``(B, C, T, H, W)`` input) and corrects ``lam`` to the box's
real area. Targets are ``lam * smooth(y) + (1 - lam) * smooth(y[::-1])`` where ``smooth`` puts
``1 - smoothing + smoothing / C`` on the class and ``smoothing / C`` elsewhere, so every row sums to 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ConfigError

__all__ = ["MixConfig", "Mixup", "smooth_one_hot", "soft_target_cross_entropy"]


@dataclass(frozen=True)
class MixConfig:
    """Mixup / CutMix settings (``alpha = 0`` turns one off; both 0 turns mixing off)."""

    mixup_alpha: float = 0.8
    cutmix_alpha: float = 1.0
    prob: float = 1.0
    switch_prob: float = 0.5
    label_smoothing: float = 0.1

    def __post_init__(self) -> None:
        if self.mixup_alpha < 0 or self.cutmix_alpha < 0:
            raise ConfigError("mixup_alpha and cutmix_alpha must be >= 0")
        if not 0.0 <= self.prob <= 1.0 or not 0.0 <= self.switch_prob <= 1.0:
            raise ConfigError("prob and switch_prob must be in [0, 1]")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")

    @property
    def enabled(self) -> bool:
        return self.prob > 0 and (self.mixup_alpha > 0 or self.cutmix_alpha > 0)


def smooth_one_hot(labels: torch.Tensor, num_classes: int, smoothing: float = 0.0) -> torch.Tensor:
    """``(B, C)`` float targets: ``1 - smoothing + smoothing / C`` on the label, ``smoothing / C`` elsewhere."""
    off = smoothing / num_classes
    out = torch.full((labels.shape[0], num_classes), off, device=labels.device)
    return out.scatter_(1, labels.long().view(-1, 1), 1.0 - smoothing + off)


def soft_target_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ``-sum(targets * log_softmax(logits))``."""
    return torch.sum(-targets * torch.log_softmax(logits.float(), dim=-1), dim=-1).mean()


def cutmix_box(h: int, w: int, lam: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A box of about ``(1 - lam)`` of the area, centred uniformly, clipped to the frame: ``(y0, y1, x0, x1)``."""
    cut = math.sqrt(1.0 - lam)
    ch, cw = int(h * cut), int(w * cut)
    cy, cx = int(rng.integers(0, h)), int(rng.integers(0, w))
    return max(cy - ch // 2, 0), min(cy + ch // 2, h), max(cx - cw // 2, 0), min(cx + cw // 2, w)


class Mixup:
    """Mix a batch ``(x, labels) -> (mixed x, soft targets (B, C))``.

    ``seed`` fixes the sequence of draws (``lam``, the mixup/cutmix choice, the box); without it the draws
    come from numpy's global generator. ``last`` records ``(kind, lam)`` of the latest call.
    """

    def __init__(self, cfg: MixConfig, num_classes: int, seed: int | None = None) -> None:
        self.cfg = cfg
        self.num_classes = num_classes
        self.rng = np.random.default_rng(seed) if seed is not None else None
        self.last: tuple[str, float] = ("none", 1.0)

    def _rng(self) -> np.random.Generator:
        return self.rng if self.rng is not None else np.random.default_rng(np.random.randint(2**31))

    def __call__(self, x: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.shape[0] % 2:
            raise ValueError(f"mixup needs an even batch size, got {x.shape[0]}")
        cfg = self.cfg
        rng = self._rng()
        kind, lam = "none", 1.0
        if cfg.enabled and rng.random() < cfg.prob:
            use_cutmix = cfg.cutmix_alpha > 0 and (cfg.mixup_alpha == 0 or rng.random() < cfg.switch_prob)
            if use_cutmix:
                kind, lam = "cutmix", float(rng.beta(cfg.cutmix_alpha, cfg.cutmix_alpha))
            else:
                kind, lam = "mixup", float(rng.beta(cfg.mixup_alpha, cfg.mixup_alpha))
        x = x.clone()
        if kind == "mixup":
            x = x * lam + x.flip(0) * (1.0 - lam)
        elif kind == "cutmix":
            h, w = x.shape[-2:]
            y0, y1, x0, x1 = cutmix_box(h, w, lam, rng)
            x[..., y0:y1, x0:x1] = x.flip(0)[..., y0:y1, x0:x1]
            lam = 1.0 - (y1 - y0) * (x1 - x0) / float(h * w)
        self.last = (kind, lam)
        y1h = smooth_one_hot(labels, self.num_classes, cfg.label_smoothing)
        targets = y1h * lam + y1h.flip(0) * (1.0 - lam)
        return x, targets
