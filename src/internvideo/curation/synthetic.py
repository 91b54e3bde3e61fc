"""Inputs with known shot boundaries, for testing and benchmarking the pipeline.

* :func:`make_cut_video` — a long H.264 video made of synthetic-world scenes (different backgrounds,
  objects and actions) joined back to back; returns the true cut frames.
* :func:`join_segments` — frame ranges of real videos, resized to one size, joined into one video.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable, Sequence
from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["encode_frames", "join_segments", "make_cut_video"]


def encode_frames(
    path: str | os.PathLike[str],
    chunks: Iterable[np.ndarray],
    fps: float,
    keyframes: Sequence[int] = (),
    gop: int = 48,
    crf: int = 16,
    codec: str = "h264",
) -> int:
    """Encode RGB ``uint8 (t, H, W, 3)`` chunks to an mp4 (H.264 unless ``codec`` names another encoder);
    frames listed in ``keyframes`` are forced to be keyframes. Written atomically; returns the frame count."""
    import av

    from internvideo._io import atomic_write
    from internvideo.data.synth import video_encoder

    from .extract import yuv420p_frame

    forced = set(keyframes)
    encoder = video_encoder(codec)
    count = 0

    def write(tmp: str) -> None:
        nonlocal count
        container = av.open(tmp, mode="w", format="mp4")
        try:
            stream = None
            for chunk in chunks:
                for frame in chunk:
                    if stream is None:
                        stream = container.add_stream(
                            encoder, rate=Fraction(str(fps)).limit_denominator(1001)
                        )
                        stream.height, stream.width = frame.shape[:2]
                        stream.pix_fmt = "yuvj420p" if encoder == "mjpeg" else "yuv420p"
                        opts = {"g": str(gop), "threads": "1"}
                        if encoder == "libx264":
                            opts.update(preset="superfast", crf=str(crf))  # reproducible bytes
                        else:
                            opts.update(qmin="2", qmax="4")
                        stream.options = opts
                    if stream.pix_fmt == "yuv420p" and frame.shape[0] % 2 == 0 and frame.shape[1] % 2 == 0:
                        vf = yuv420p_frame(frame)  # bit-reproducible conversion
                    else:
                        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
                    vf.pts = count
                    if count in forced:
                        vf.pict_type = av.video.frame.PictureType.I
                    for pkt in stream.encode(vf):
                        container.mux(pkt)
                    count += 1
            if stream is not None:
                for pkt in stream.encode():
                    container.mux(pkt)
        finally:
            container.close()

    atomic_write(path, write)
    return count


def make_cut_video(
    path: str | os.PathLike[str],
    scene_frames: Sequence[int],
    size: tuple[int, int] = (96, 128),
    fps: float = 24.0,
    seed: int = 0,
    keyframes_at_cuts: bool = False,
    gop: int = 48,
) -> list[int]:
    """Write a video of ``len(scene_frames)`` synthetic scenes of the given lengths; return the cut frames.

    Each scene is a different clip of the synthetic world (its own background, objects and action).
    ``keyframes_at_cuts`` forces a keyframe at every cut (so clips can be stream-copied).
    """
    from internvideo.data.synth import WorldConfig, render_clip, sample_clip_spec

    h, w = size
    base = WorldConfig(height=h, width=w, fps=fps, num_frames=16, seed=seed)
    cuts = list(np.cumsum(scene_frames)[:-1].astype(int))

    def chunks() -> Iterable[np.ndarray]:
        for k, n in enumerate(scene_frames):
            cfg = dataclasses.replace(base, num_frames=int(n))
            yield render_clip(sample_clip_spec(cfg, "train", k))

    encode_frames(path, chunks(), fps, keyframes=cuts if keyframes_at_cuts else (), gop=gop)
    return [int(c) for c in cuts]


def join_segments(
    path: str | os.PathLike[str],
    segments: Sequence[tuple[str | os.PathLike[str], int, int]],
    size: tuple[int, int] = (120, 160),
    fps: float = 25.0,
) -> list[int]:
    """Join frame ranges ``(video, start, stop)`` of real videos, each resized to ``size`` (H, W); return
    the cut frames (where each segment after the first begins)."""
    from internvideo.data.video import VideoReader

    lengths = [stop - start for _, start, stop in segments]

    def chunks() -> Iterable[np.ndarray]:
        for src, start, stop in segments:
            with VideoReader(src, backend="pyav") as reader:
                for chunk in reader.iter_frames(chunk_size=32, start=start, stop=stop):
                    x = F.interpolate(chunk.float(), size=size, mode="bilinear", antialias=True)
                    yield x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()

    encode_frames(path, chunks(), fps)
    return [int(c) for c in np.cumsum(lengths)[:-1]]
