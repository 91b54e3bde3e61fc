"""Helpers of the synthetic-world tests (decoding with PyAV until the project reader is used)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from internvideo.data.synth import generate_world

SIZE = 96


def decode_rgb(path: str | Path) -> np.ndarray:
    """All video frames of ``path`` as uint8 ``(T, H, W, 3)`` RGB, decoded with PyAV."""
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def small_world(out: Path, seed: int = 0, workers: int = 2) -> dict[str, Path]:
    """A small varied world with audio, every split and one long video."""
    return generate_world(
        out,
        num_clips={"train": 20, "val": 3, "test": 4, "comp_test": 5},
        size=64,
        fps=10.0,
        num_frames=12,
        seed=seed,
        workers=workers,
        with_audio=True,
        long_videos={"test": 1},
        long_duration=12.0,
        camera_jitter=0.7,
        progress=False,
    )
