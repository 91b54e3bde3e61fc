"""Token masks for masked video pretraining: tube, random and teacher-attention-guided.

A mask is a bool tensor ``(B, T*L)`` over the patch tokens (``T`` temporal tokens, ``L = h*w`` patches
per temporal slot, time-major as the encoder's patchifier orders them), **True = masked**. Every sample
keeps exactly the same number of visible tokens, which is what the encoder's visible-token forward
(``InternVideo2.forward_features(x, mask=...)``) needs. The encoder adds the always-visible CLS column
itself; :func:`with_cls` adds it explicitly where a ``(B, 1+T*L)`` mask is wanted.

* ``tube``: one spatial mask of exactly ``int(ratio * L)`` masked patches, repeated over time (VideoMAE).
* ``random``: exactly ``int(ratio * T*L)`` masked tokens anywhere in space-time.
* ``attention``: visible tokens drawn without replacement in proportion to a teacher's CLS->patch
  attention (UMT / InternVideo2). ``per_frame=True`` keeps ``L - int(ratio * L)`` tokens in every
  temporal slot (stage 1, whose image teacher attends per frame); ``per_frame=False`` keeps
  ``N - int(ratio * N)`` over the whole clip (the S/B/L distillation recipe).

Randomness comes from an optional ``torch.Generator``; the global RNG is used when none is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from ..errors import ConfigError

MaskKind = Literal["tube", "random", "attention", "none"]

__all__ = [
    "MaskConfig",
    "MaskKind",
    "attention_mask",
    "make_mask",
    "num_visible",
    "random_mask",
    "tube_mask",
    "with_cls",
]


@dataclass(frozen=True)
class MaskConfig:
    """Which mask to draw and how much to hide (``ratio`` of the patch tokens, in ``[0, 1)``)."""

    kind: MaskKind = "tube"
    ratio: float = 0.8
    # attention masks: keep the count per temporal slot (True) or over the whole clip (False)
    per_frame: bool = True

    def __post_init__(self) -> None:
        if self.kind not in ("tube", "random", "attention", "none"):
            raise ConfigError(f"mask kind must be tube, random, attention or none, got {self.kind!r}")
        if not 0.0 <= self.ratio < 1.0:
            raise ConfigError(f"mask ratio must be in [0, 1), got {self.ratio}")


def _check_ratio(ratio: float) -> None:
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"mask ratio must be in [0, 1) so that some tokens stay visible, got {ratio}")


def num_visible(kind: MaskKind, ratio: float, t: int, patches: int, per_frame: bool = True) -> int:
    """How many patch tokens a mask of this kind keeps visible per sample (CLS not counted)."""
    _check_ratio(ratio)
    if kind == "none":
        return t * patches
    if kind == "tube" or (kind == "attention" and per_frame):
        return t * (patches - int(ratio * patches))
    return t * patches - int(ratio * t * patches)


def _rand(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device="cpu").to(device)


def _mask_lowest(scores: torch.Tensor, n_masked: int) -> torch.Tensor:
    """Bool mask with exactly ``n_masked`` True per row: the rows' ``n_masked`` lowest scores."""
    order = scores.argsort(dim=-1)
    mask = torch.zeros_like(scores, dtype=torch.bool)
    if n_masked:
        mask.scatter_(-1, order[..., :n_masked], True)
    return mask


def tube_mask(
    batch: int,
    t: int,
    patches: int,
    ratio: float,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """``(B, T*L)`` masks hiding the same ``int(ratio * L)`` of the ``L = patches`` in every temporal slot."""
    _check_ratio(ratio)
    spatial = _mask_lowest(_rand((batch, patches), generator, torch.device(device)), int(ratio * patches))
    return spatial.unsqueeze(1).expand(batch, t, patches).reshape(batch, t * patches)


def random_mask(
    batch: int,
    num_tokens: int,
    ratio: float,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """``(B, N)`` masks hiding exactly ``int(ratio * N)`` tokens, uniformly over space-time."""
    _check_ratio(ratio)
    return _mask_lowest(_rand((batch, num_tokens), generator, torch.device(device)), int(ratio * num_tokens))


def attention_mask(
    attn: torch.Tensor,
    ratio: float,
    t: int = 1,
    per_frame: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Teacher-attention-guided masks: visible tokens are sampled in proportion to ``attn``.

    ``attn``: non-negative CLS->patch weights ``(B, T*L)``, time-major (a per-frame teacher's
    ``(B*T, L)`` weights become that with ``.reshape(B, -1)``). With ``per_frame`` each of the ``t``
    slots keeps ``L - int(ratio * L)`` tokens; otherwise the clip keeps ``N - int(ratio * N)``. Sampling
    is without replacement (``torch.multinomial``), so salient tokens are more likely, not certain, to
    stay visible. Returns ``(B, T*L)`` bool, True = masked.
    """
    _check_ratio(ratio)
    if attn.dim() != 2 or attn.shape[1] % t:
        raise ValueError(f"attention weights must be (B, T*L) with T={t}, got {tuple(attn.shape)}")
    batch = attn.shape[0]
    w = attn.detach().float()
    rows = w.reshape(batch * t, -1) if per_frame else w
    n = rows.shape[-1]
    keep = n - int(ratio * n)
    # a zero or non-finite row would break multinomial: fall back to uniform weights there
    rows = torch.nan_to_num(rows, nan=0.0, posinf=0.0, neginf=0.0).clamp_min(0.0)
    empty = rows.sum(-1, keepdim=True) <= 0
    rows = torch.where(empty, torch.ones_like(rows), rows) + 1e-12
    device = rows.device
    picked = torch.multinomial(rows.cpu(), keep, replacement=False, generator=generator).to(device)
    mask = torch.ones(rows.shape, dtype=torch.bool, device=device)
    mask.scatter_(-1, picked, False)
    return mask.reshape(batch, -1)


def with_cls(mask: torch.Tensor) -> torch.Tensor:
    """Prepend the always-visible CLS column: ``(B, N) -> (B, 1+N)``."""
    return torch.cat([mask.new_zeros(mask.shape[0], 1), mask], dim=1)


def make_mask(
    cfg: MaskConfig,
    batch: int,
    t: int,
    patches: int,
    attn: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor | None:
    """The ``(B, T*L)`` mask ``cfg`` asks for (``None`` for ``kind="none"``).

    ``attn`` (the teacher's CLS->patch attention) is required for ``attention`` masks.
    """
    if cfg.kind == "none":
        return None
    if cfg.kind == "tube":
        return tube_mask(batch, t, patches, cfg.ratio, generator, device)
    if cfg.kind == "random":
        return random_mask(batch, t * patches, cfg.ratio, generator, device)
    if attn is None:
        raise ConfigError("attention-guided masks need a teacher's attention weights (attn=...)")
    if attn.numel() != batch * t * patches:
        raise ValueError(
            f"attention weights have {attn.numel()} entries, expected batch*T*L = {batch}*{t}*{patches}; "
            "the teacher's token grid must match the student's"
        )
    return attention_mask(attn.reshape(batch, t * patches), cfg.ratio, t, cfg.per_frame, generator).to(device)
