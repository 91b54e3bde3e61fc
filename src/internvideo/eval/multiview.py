"""Multi-view classification testing: K clips x crops per video, softmax averaged over the views.

The official protocol (``reference/internvideo_tasks_and_data.md`` §2.4): every test video becomes
``K`` temporal clips x 3 spatial crops; each view's logits go through a softmax, the probabilities are
averaged over the views, and top-1 / top-5 are taken from that average. This module adds per-class
accuracy and a confusion matrix (saved as an image with :func:`save_confusion_matrix`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .classification import confusion_matrix, topk_accuracy

logger = logging.getLogger(__name__)

__all__ = [
    "average_view_probs",
    "multiview_metrics",
    "predict_views",
    "save_confusion_matrix",
]


def average_view_probs(logits: torch.Tensor) -> torch.Tensor:
    """``(N, V, C)`` per-view logits -> ``(N, C)`` mean over views of each view's softmax."""
    if logits.dim() != 3:
        raise ValueError(f"expected (N, views, classes) logits, got shape {tuple(logits.shape)}")
    return logits.float().softmax(dim=-1).mean(dim=1)


@torch.no_grad()
def predict_views(
    model: nn.Module,
    dataset: Any,
    batch_size: int = 16,
    device: torch.device | str | None = None,
    precision: str = "fp32",
    progress: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``model`` on every view of every item: returns ``(logits (N, V, C), labels (N,))``.

    Items are dicts with ``video`` ``(V, C, T, H, W)`` (or ``(C, T, H, W)``, one view) and ``label``.
    """
    from tqdm.auto import tqdm

    device = torch.device(device) if device is not None else next(model.parameters()).device
    was_training = model.training
    model.eval()
    autocast: Any = (
        torch.autocast(device.type, dtype=torch.bfloat16) if precision == "bf16" else contextlib.nullcontext()
    )
    logits, labels = [], []
    for start in tqdm(
        range(0, len(dataset), batch_size), desc="test views", disable=not progress, leave=False
    ):
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        video = torch.stack([it["video"] for it in items])
        if video.dim() == 5:
            video = video.unsqueeze(1)
        b, v = video.shape[:2]
        with autocast:
            out = model(video.flatten(0, 1).to(device))
        logits.append(out.float().reshape(b, v, -1).cpu())
        labels.extend(int(it["label"]) for it in items)
    model.train(was_training)
    return torch.cat(logits), torch.tensor(labels, dtype=torch.long)


def multiview_metrics(
    logits: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int | None = None,
    subsets: dict[str, Sequence[int]] | None = None,
) -> dict[str, Any]:
    """Metrics of view-averaged predictions.

    Returns ``top1``, ``top5`` (percent, from the averaged probabilities), ``mean_class_acc``,
    ``per_class_acc`` (list, ``nan`` for classes absent from ``labels``), ``confusion`` (``(C, C)`` tensor,
    row = true class) and, for every named subset of classes, ``<name>_top1`` over the samples whose
    label is in it.
    """
    probs = average_view_probs(logits) if logits.dim() == 3 else logits.float().softmax(-1)
    c = num_classes or probs.shape[1]
    out: dict[str, Any] = topk_accuracy(probs, labels, ks=(1, min(5, c)))
    if "top5" not in out:
        out["top5"] = out.pop(f"top{min(5, c)}")
    cm = confusion_matrix(probs, labels, c)
    support = cm.sum(1).double()
    per_class = torch.where(support > 0, cm.diagonal().double() / support.clamp_min(1), torch.nan)
    out["per_class_acc"] = [float(v) * 100 for v in per_class]
    out["mean_class_acc"] = float(per_class[support > 0].mean() * 100)
    out["confusion"] = cm
    pred = probs.argmax(1)
    for name, classes in (subsets or {}).items():
        sel = torch.isin(labels, torch.tensor(list(classes)))
        if sel.any():
            out[f"{name}_top1"] = float((pred[sel] == labels[sel]).double().mean() * 100)
    return out


def save_confusion_matrix(
    cm: torch.Tensor,
    path: str | Path,
    class_names: Sequence[str] | None = None,
    title: str = "confusion matrix",
    normalize: bool = True,
) -> Path:
    """Draw a confusion matrix (rows = true class, normalised per row by default) as a PNG, atomically.

    Needs matplotlib: ``pip install 'internvideo[plot]'``.
    """
    from ..train.plots import _pyplot, save_figure

    plt = _pyplot()
    m = cm.double()
    if normalize:
        m = m / m.sum(1, keepdim=True).clamp_min(1)
    n = m.shape[0]
    size = max(4.0, 0.45 * n + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    im = ax.imshow(m.numpy(), cmap="Blues", vmin=0, vmax=1 if normalize else None)
    names = list(class_names) if class_names is not None else [str(i) for i in range(n)]
    ax.set_xticks(range(n), names, rotation=90, fontsize=7)
    ax.set_yticks(range(n), names, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                if cm[i, j]:
                    ax.text(
                        j,
                        i,
                        int(cm[i, j]),
                        ha="center",
                        va="center",
                        fontsize=6,
                        color="white" if m[i, j] > 0.5 else "black",
                    )
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return save_figure(fig, path)
