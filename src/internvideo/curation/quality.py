"""Quality signals of a clip, measured on its decoded frames.

* ``num_frames``, ``duration`` (s), ``width``, ``height`` — of the extracted clip file;
* ``motion_score`` — mean absolute luma difference (0-255) between consecutive frames, on a small
  thumbnail (0 for a frozen clip; a few units for slow motion; tens for fast motion);
* ``black_ratio`` — fraction of frames whose 99th-percentile luma is below ``black_luma`` (dark
  scenes with something lit in them are not black);
* ``static_ratio`` — fraction of consecutive frame pairs whose difference is below ``static_diff``;
* ``signature`` — a unit vector (3 frames at 25/50/75 % as 8x8 luma, mean removed) used to find
  near duplicates without a model.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from internvideo.data.video import VideoReader

from .config import QualityConfig
from .detect import thumbnails

__all__ = ["quality_signals"]

_LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


def quality_signals(path: str | os.PathLike[str], cfg: QualityConfig | None = None) -> dict[str, Any]:
    """Decode a clip and measure its quality signals (see the module docstring)."""
    cfg = cfg or QualityConfig()
    lumas: list[torch.Tensor] = []
    with VideoReader(path, backend="pyav", num_threads=1) as r:
        info = r.info
        for chunk in r.iter_frames(chunk_size=32):
            lumas.append((thumbnails(chunk, cfg.downscale) * _LUMA).sum(dim=1))
    y = torch.cat(lumas)  # (T, h, w)
    n = y.shape[0]
    diffs = (y[1:] - y[:-1]).abs().mean(dim=(1, 2)) if n > 1 else torch.zeros(0)
    bright = torch.quantile(y.flatten(1), 0.99, dim=1)  # a dark scene with a lit object is not black
    picks = sorted({min(n - 1, int(n * q)) for q in (0.25, 0.5, 0.75)})
    while len(picks) < 3:
        picks.append(picks[-1])
    small = F.interpolate(y[picks].unsqueeze(1), size=(8, 8), mode="area").flatten()
    small = small - small.mean()
    norm = float(small.norm())
    sig = (small / norm) if norm > 1e-6 else torch.zeros_like(small)
    fps = info.fps
    return {
        "num_frames": int(n),
        "duration": round(n / fps, 6) if fps > 0 else 0.0,
        "width": int(info.width),
        "height": int(info.height),
        "motion_score": round(float(diffs.mean()) if len(diffs) else 0.0, 4),
        "black_ratio": round(float((bright < cfg.black_luma).float().mean()), 4),
        "static_ratio": round(float((diffs < cfg.static_diff).float().mean()) if len(diffs) else 1.0, 4),
        "signature": [round(float(v), 5) for v in np.asarray(sig)],
    }
