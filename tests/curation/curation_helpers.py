"""Helpers shared by the curation tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from internvideo.curation.synthetic import encode_frames

SIZE = (64, 80)


def write_bad_inputs(d: Path, media: Path | None, good: Path) -> dict[str, str]:
    """Bad inputs beside good ones; returns ``{file name: expected drop reason}`` (``""``: must be kept)."""
    d.mkdir(parents=True, exist_ok=True)
    expected = {}
    (d / "empty.mp4").write_bytes(b"")
    expected["empty.mp4"] = "empty"
    data = good.read_bytes()
    (d / "cut_short.mp4").write_bytes(data[: len(data) // 3])
    expected["cut_short.mp4"] = "truncated"
    (d / "noise.mkv").write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    expected["noise.mkv"] = "not_a_video"
    if media is not None and (media / "test.wav").exists():
        shutil.copy(media / "test.wav", d / "speech.wav")
        expected["speech.wav"] = "no_video_stream"
    # unusual codecs that decode: they must go through (clips are re-encoded as H.264)
    frames = np.zeros((30, 48, 62, 3), dtype=np.uint8)
    for t in range(30):
        frames[t, :, :, 0] = 40 + 4 * t
        frames[t, 10:30, (t % 40) : (t % 40) + 12] = 230
    encode_frames(d / "motion_jpeg.mp4", [frames], fps=15.0, codec="mjpeg")
    expected["motion_jpeg.mp4"] = ""
    return expected


CAPTIONS = [
    "a red circle moves to the left",
    "a blue square grows",
    "a green star rotates clockwise",
    "a yellow triangle fades out",
    "a person cleans a swimming pool",
    "a man plays with a dog in the snow",
]
