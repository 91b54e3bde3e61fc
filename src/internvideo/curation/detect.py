"""Shot (scene) detection: a light built-in content detector, or PySceneDetect's detectors when installed.

A *cut* is the index of the first frame of a new shot; shots are half-open frame ranges
``[start, end)`` that tile the video.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .config import DetectConfig

log = logging.getLogger(__name__)

__all__ = [
    "adaptive_cuts",
    "detect_cuts",
    "frame_scores",
    "scenedetect_available",
    "shots_from_cuts",
    "thumbnails",
]


def thumbnails(frames: torch.Tensor, width: int) -> torch.Tensor:
    """Area-downscale ``uint8 (T, C, H, W)`` frames to ``width`` pixels wide; float32 ``(T, C, h, width)``."""
    t, _, h, w = frames.shape
    if w <= width:
        return frames.float()
    height = max(1, round(h * width / w))
    return F.interpolate(frames.float(), size=(height, width), mode="area")


def _iter_thumbs(path: str | Path, width: int) -> Iterator[torch.Tensor]:
    from internvideo.data.video import VideoReader

    with VideoReader(path, backend="pyav", num_threads=1) as reader:
        for chunk in reader.iter_frames(chunk_size=64):
            yield thumbnails(chunk, width)


def frame_scores(thumbs: Iterator[torch.Tensor] | Sequence[torch.Tensor]) -> np.ndarray:
    """Content score of each frame: mean absolute difference (0-255) to the previous frame (0 for frame 0)."""
    scores: list[np.ndarray] = []
    prev: torch.Tensor | None = None
    for chunk in thumbs:
        if chunk.shape[0] == 0:
            continue
        seq = chunk if prev is None else torch.cat([prev, chunk])
        d = (seq[1:] - seq[:-1]).abs().mean(dim=(1, 2, 3))
        if prev is None:
            d = torch.cat([torch.zeros(1), d])
        scores.append(d.numpy().astype(np.float64))
        prev = chunk[-1:]
    return np.concatenate(scores) if scores else np.zeros(0)


def adaptive_cuts(scores: np.ndarray, cfg: DetectConfig) -> list[int]:
    """Frames whose score stands out against their neighbourhood (see :class:`DetectConfig`)."""
    n = len(scores)
    cand: list[tuple[int, float]] = []
    for i in range(1, n):
        s = scores[i]
        if s < cfg.min_score:
            continue
        lo, hi = max(1, i - cfg.window), min(n, i + cfg.window + 1)
        neigh = np.concatenate([scores[lo:i], scores[i + 1 : hi]])
        base = float(neigh.mean()) if len(neigh) else 0.0
        if s >= cfg.ratio * base:
            cand.append((i, float(s)))
    # non-maximum suppression: cuts closer than min_shot_frames keep the strongest
    cuts: list[int] = []
    for i, _s in sorted(cand, key=lambda c: (-c[1], c[0])):
        if all(abs(i - j) >= cfg.min_shot_frames for j in cuts):
            cuts.append(i)
    return sorted(cuts)


def scenedetect_available() -> bool:
    """Whether PySceneDetect imports."""
    try:
        import scenedetect  # noqa: F401
    except Exception:
        return False
    return True


def _scenedetect_cuts(path: str | Path, kind: str, cfg: DetectConfig) -> list[int]:
    try:
        from scenedetect import AdaptiveDetector, ContentDetector, SceneManager, open_video
    except Exception as e:
        raise ImportError(
            f"detector={kind!r} needs PySceneDetect: pip install 'internvideo[scenedetect]' "
            "(it pulls opencv-python; see docs/curation.md)"
        ) from e
    video = open_video(str(path), backend="pyav")
    manager = SceneManager()
    n = cfg.min_shot_frames
    if kind == "adaptive":  # our thresholds carry over: PySceneDetect's content score is also 0-255
        det = AdaptiveDetector(
            adaptive_threshold=cfg.ratio,
            min_scene_len=n,
            window_width=cfg.window,
            min_content_val=cfg.min_score,
        )
    else:
        det = ContentDetector(min_scene_len=n)
    manager.add_detector(det)
    manager.detect_scenes(video, show_progress=False)
    scenes = manager.get_scene_list(start_in_scene=True)
    return sorted({int(start.get_frames()) for start, _ in scenes} - {0})


def detect_cuts(path: str | Path, cfg: DetectConfig | None = None) -> tuple[list[int], str]:
    """Cut frames of a video and the detector that found them (``builtin``, ``content``, ``adaptive``)."""
    cfg = cfg or DetectConfig()
    kind = cfg.detector
    if kind == "auto":
        kind = "adaptive" if scenedetect_available() else "builtin"
    if kind in ("content", "adaptive"):
        return _scenedetect_cuts(path, kind, cfg), kind
    return adaptive_cuts(frame_scores(_iter_thumbs(path, cfg.downscale)), cfg), "builtin"


def shots_from_cuts(cuts: Sequence[int], num_frames: int) -> list[tuple[int, int]]:
    """Half-open shots ``[start, end)`` between cuts, covering ``[0, num_frames)``."""
    bounds = [0, *sorted(c for c in set(cuts) if 0 < c < num_frames), num_frames]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:]) if b > a]
