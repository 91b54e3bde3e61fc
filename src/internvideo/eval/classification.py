"""Classification metrics: top-k accuracy, mean class accuracy, confusion matrix.

Accuracies are percentages. Top-k uses the same pessimistic tie rule as retrieval: a sample is
correct at ``k`` when fewer than ``k`` other classes score **at least** as high as the true class
(so all-equal logits are never counted correct, and the result does not depend on sort order).
``ties="optimistic"`` counts only strictly higher classes. Predicted labels (for the confusion
matrix and mean class accuracy from logits) are ``argmax``, which picks the lowest index on ties.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor

Ties = Literal["pessimistic", "optimistic"]

__all__ = ["classification_metrics", "confusion_matrix", "mean_class_accuracy", "topk_accuracy"]


def _check_targets(targets: Tensor, num_classes: int) -> Tensor:
    targets = targets.reshape(-1).long()
    if targets.numel() and (targets.min() < 0 or targets.max() >= num_classes):
        raise ValueError(
            f"targets must lie in [0, {num_classes}), got range [{targets.min()}, {targets.max()}]"
        )
    return targets


def _predictions(logits_or_preds: Tensor) -> Tensor:
    """``argmax`` of ``(N, C)`` logits, or ``(N,)`` labels passed through."""
    if logits_or_preds.dim() == 2:
        return logits_or_preds.argmax(dim=1)
    if logits_or_preds.dim() == 1:
        return logits_or_preds.long()
    raise ValueError(f"expected (N, C) logits or (N,) labels, got shape {tuple(logits_or_preds.shape)}")


def topk_accuracy(
    logits: Tensor, targets: Tensor, ks: Sequence[int] = (1, 5), ties: Ties = "pessimistic"
) -> dict[str, float]:
    """Top-k accuracy (percent) for every ``k`` in ``ks``; keys ``top1``, ``top5``, ..."""
    if logits.dim() != 2:
        raise ValueError(f"logits must be (N, C), got shape {tuple(logits.shape)}")
    if torch.isnan(logits).any():
        raise ValueError("logits contain NaN")
    if ties not in ("pessimistic", "optimistic"):
        raise ValueError(f"ties must be 'pessimistic' or 'optimistic', got {ties!r}")
    n, c = logits.shape
    targets = _check_targets(targets.to(logits.device), c)
    if targets.numel() != n:
        raise ValueError(f"{targets.numel()} targets for {n} samples")
    if n == 0:
        raise ValueError("no samples")
    true_score = logits.gather(1, targets[:, None])
    ahead = (logits >= true_score) if ties == "pessimistic" else (logits > true_score)
    # The true class itself is never "ahead" of itself.
    others = ahead.sum(dim=1) - (1 if ties == "pessimistic" else 0)
    return {f"top{k}": float((others < k).double().mean() * 100) for k in ks}


def confusion_matrix(logits_or_preds: Tensor, targets: Tensor, num_classes: int) -> Tensor:
    """``(C, C)`` int64 counts; row = true class, column = predicted class."""
    preds = _predictions(logits_or_preds).reshape(-1).cpu()
    targets = _check_targets(targets.cpu(), num_classes)
    if preds.numel() != targets.numel():
        raise ValueError(f"{preds.numel()} predictions for {targets.numel()} targets")
    _check_targets(preds, num_classes)
    flat = targets * num_classes + preds
    return torch.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def mean_class_accuracy(logits_or_preds: Tensor, targets: Tensor, num_classes: int) -> float:
    """Mean over classes present in ``targets`` of per-class accuracy (recall), in percent."""
    cm = confusion_matrix(logits_or_preds, targets, num_classes).double()
    support = cm.sum(dim=1)
    present = support > 0
    if not present.any():
        raise ValueError("no samples")
    per_class = cm.diagonal()[present] / support[present]
    return float(per_class.mean() * 100)


def classification_metrics(
    logits: Tensor, targets: Tensor, ks: Sequence[int] = (1, 5), ties: Ties = "pessimistic"
) -> dict[str, float]:
    """``topk_accuracy`` plus ``mean_class_acc`` in one dict."""
    out = topk_accuracy(logits, targets, ks, ties)
    out["mean_class_acc"] = mean_class_accuracy(logits, targets, logits.shape[1])
    return out
