"""The run summary: counts per stage, drop reasons, and histograms written as PNG files.

PNGs are encoded here (``zlib`` + the PNG chunk format) so the report needs no plotting library.
Each histogram shows its bars, the value range under the x axis and the tallest count at the top left.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from internvideo._io import atomic_write, atomic_write_text

__all__ = ["histogram_image", "write_png", "write_report"]

# 3x5 bitmap glyphs (rows top to bottom, 3 bits each) for the labels
_GLYPHS = {
    "0": (7, 5, 5, 5, 7),
    "1": (2, 6, 2, 2, 7),
    "2": (7, 1, 7, 4, 7),
    "3": (7, 1, 7, 1, 7),
    "4": (5, 5, 7, 1, 1),
    "5": (7, 4, 7, 1, 7),
    "6": (7, 4, 7, 5, 7),
    "7": (7, 1, 1, 2, 2),
    "8": (7, 5, 7, 5, 7),
    "9": (7, 5, 7, 1, 7),
    ".": (0, 0, 0, 0, 2),
    "-": (0, 0, 7, 0, 0),
    "e": (0, 7, 7, 4, 7),
    "+": (0, 2, 7, 2, 0),
    " ": (0, 0, 0, 0, 0),
}


def write_png(path: str | os.PathLike[str], rgb: np.ndarray) -> None:
    """Write an ``uint8 (H, W, 3)`` RGB image as a PNG file, atomically."""
    img = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w, _ = img.shape
    raw = b"".join(b"\x00" + img[y].tobytes() for y in range(h))  # filter type 0 per row

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    png = (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(png))


def _text(img: np.ndarray, x: int, y: int, s: str, scale: int = 2, colour: int = 40) -> None:
    for ch in s:
        rows = _GLYPHS.get(ch, _GLYPHS[" "])
        for r, bits in enumerate(rows):
            for c in range(3):
                if bits & (4 >> c):
                    y0, x0 = y + r * scale, x + c * scale
                    img[y0 : y0 + scale, x0 : x0 + scale] = colour
        x += 4 * scale


def _fmt(v: float) -> str:
    return f"{v:.3g}".replace("e+0", "e").replace("e-0", "e-")


def histogram_image(
    values: Sequence[float], bins: int = 20, size: tuple[int, int] = (200, 320)
) -> np.ndarray:
    """A histogram of ``values`` as an RGB image (white background, blue bars)."""
    h, w = size
    img = np.full((h, w, 3), 255, dtype=np.uint8)
    left, right, top, bottom = 20, w - 10, 24, h - 24
    img[top:bottom, left - 1] = 0
    img[bottom, left - 1 : right] = 0
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    if len(v) == 0:
        return img
    lo, hi = float(v.min()), float(v.max())
    if hi <= lo:
        hi = lo + 1.0
    counts, _ = np.histogram(v, bins=bins, range=(lo, hi))
    peak = max(int(counts.max()), 1)
    bw = (right - left) / bins
    for i, c in enumerate(counts):
        if c == 0:
            continue
        x0, x1 = int(left + i * bw) + 1, int(left + (i + 1) * bw) - 1
        y0 = bottom - int(round((bottom - top) * c / peak))
        img[y0:bottom, x0 : max(x1, x0 + 1)] = (60, 110, 200)
    _text(img, left, bottom + 6, _fmt(lo))
    hs = _fmt(hi)
    _text(img, right - 8 * len(hs), bottom + 6, hs)
    _text(img, 2, 4, str(peak))
    return img


def write_report(
    out_dir: str | os.PathLike[str],
    stage_counts: dict[str, dict[str, int]],
    dropped: Sequence[dict[str, Any]],
    kept: Sequence[dict[str, Any]],
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``report.json`` and ``report/*.png`` histograms under ``out_dir``; returns the report."""
    out = Path(out_dir)
    by_stage: dict[str, Counter[str]] = {}
    for d in dropped:
        by_stage.setdefault(d["stage"], Counter())[d["reason"]] += 1
    histograms = {}
    per_source = Counter(c["source_id"] for c in kept)
    series = {
        "duration": [c.get("duration") for c in kept],
        "motion_score": [c.get("motion_score") for c in kept],
        "static_ratio": [c.get("static_ratio") for c in kept],
        "vt_score": [c.get("vt_score") for c in kept],
        "clips_per_source": list(per_source.values()),
    }
    for name, values in series.items():
        vals = [float(x) for x in values if x is not None]
        if not vals:
            continue
        png = out / "report" / f"{name}.png"
        write_png(png, histogram_image(vals))
        histograms[name] = {
            "file": str(png.relative_to(out)),
            "count": len(vals),
            "min": round(min(vals), 6),
            "max": round(max(vals), 6),
            "mean": round(float(np.mean(vals)), 6),
        }
    report = {
        "stages": stage_counts,
        "dropped_by_stage": {s: dict(sorted(c.items())) for s, c in sorted(by_stage.items())},
        "histograms": histograms,
        **(extra or {}),
    }
    atomic_write_text(out / "report.json", json.dumps(report, indent=2, sort_keys=True) + "\n")
    return report
