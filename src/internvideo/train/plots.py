"""Training curves (loss, learning rate, accuracy) from a run's ``metrics.jsonl``, drawn to PNG.

matplotlib is an optional dependency (``pip install 'internvideo[plot]'``), imported only here and only
when a plot is drawn; figures are rendered off-screen and written atomically.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from .._io import atomic_write
from ..errors import ConfigError
from .metrics_log import read_metrics

logger = logging.getLogger(__name__)

__all__ = ["plot_training_curves", "save_figure"]


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ImportError("plots need matplotlib: pip install 'internvideo[plot]'") from e
    return plt


def save_figure(fig: Any, path: str | os.PathLike[str], dpi: int = 110) -> Path:
    """Write a matplotlib figure to ``path`` (PNG) atomically and close it."""
    path = Path(path)
    plt = _pyplot()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi))
    finally:
        plt.close(fig)
    return path


def plot_training_curves(
    metrics: str | os.PathLike[str], out: str | os.PathLike[str] | None = None, title: str | None = None
) -> Path:
    """Plot loss, lr and accuracies (training ``acc`` and every ``eval/*acc*`` / ``eval/top*``) against
    the step. ``out`` defaults to ``curves.png`` beside the metrics file. Returns the PNG path."""
    metrics = Path(metrics)
    rows = read_metrics(metrics)
    if not rows:
        raise ConfigError(f"{str(metrics)!r} holds no metric records to plot")
    out = Path(out) if out is not None else metrics.with_name("curves.png")

    def series(key: str) -> tuple[list[float], list[float]]:
        pts = [(r["step"], r[key]) for r in rows if key in r and r[key] is not None]
        return [p[0] for p in pts], [p[1] for p in pts]

    keys = sorted({k for r in rows for k in r})
    loss_keys = [k for k in keys if k == "loss" or k == "eval/loss"]
    part_keys = [k for k in keys if k in ("clip", "final", "mae")]
    acc_keys = [k for k in keys if k == "acc" or (k.startswith("eval/") and ("acc" in k or "top" in k))]
    panels = [("loss", loss_keys + part_keys), ("learning rate", ["lr"] if "lr" in keys else [])]
    if acc_keys:
        panels.append(("accuracy", acc_keys))
    plt = _pyplot()
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.6 * len(panels)), sharex=True, squeeze=False)
    for ax, (name, ks) in zip(axes[:, 0], panels):
        for k in ks:
            x, y = series(k)
            if x:
                ax.plot(x, y, marker="o" if len(x) < 30 else None, markersize=3, label=k)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        if len(ks) > 1:
            ax.legend(fontsize=8)
    axes[-1, 0].set_xlabel("step")
    fig.suptitle(title or metrics.parent.name)
    fig.tight_layout()
    save_figure(fig, out)
    logger.info("wrote %s", out)
    return out
