"""Frame-accurate clip extraction with PyAV.

A clip ``[start, end)`` is *stream-copied* (packets remuxed, no quality loss) when it starts on a
keyframe and the copy decodes to exactly the source's frames (count, first, middle and last frame
compared bit for bit); otherwise its frames are decoded and *re-encoded* with H.264, so the clip
always starts and ends on the requested frames. Every clip file is written atomically.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from internvideo._io import atomic_write
from internvideo.data.video import VideoReader
from internvideo.errors import VideoReadError

from .config import ExtractConfig

log = logging.getLogger(__name__)

__all__ = ["ClipExtractor", "plan_clips", "yuv420p_frame"]

# BT.601 limited range, as FFmpeg converts RGB to YUV by default
_RGB_TO_YUV = np.array(
    [[0.256788, 0.504129, 0.097906], [-0.148223, -0.290993, 0.439216], [0.439216, -0.367788, -0.071427]],
    dtype=np.float32,
)


def yuv420p_frame(rgb: np.ndarray) -> av.VideoFrame:
    """An ``av.VideoFrame`` in yuv420p from an ``uint8 (H, W, 3)`` RGB array with even ``H`` and ``W``.

    The row padding of every plane is zeroed: x264 reads past the picture width when a plane's width is
    not a multiple of its SIMD block, so uninitialised padding would make the same frames encode to
    different bytes from run to run.
    """
    h, w, _ = rgb.shape
    yuv = rgb.astype(np.float32) @ _RGB_TO_YUV.T
    y = np.clip(np.rint(yuv[..., 0] + 16.0), 0, 255).astype(np.uint8)
    uv = yuv[..., 1:].reshape(h // 2, 2, w // 2, 2, 2).mean(axis=(1, 3)) + 128.0
    uv = np.clip(np.rint(uv), 0, 255).astype(np.uint8)
    frame = av.VideoFrame(w, h, "yuv420p")
    for plane, data in zip(frame.planes, (y, uv[..., 0], uv[..., 1])):
        padded = np.zeros((data.shape[0], plane.line_size), dtype=np.uint8)
        padded[:, : data.shape[1]] = data
        plane.update(padded.tobytes())
    return frame


def plan_clips(
    shots: Sequence[tuple[int, int]], fps: float, cfg: ExtractConfig
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Clips from shots: long shots split into equal pieces of at most ``max_clip_seconds``.

    Returns ``(clips, too_short)``: frame ranges to extract and shots shorter than ``min_clip_frames``.
    """
    max_frames = max(1, int(math.floor(cfg.max_clip_seconds * fps))) if fps > 0 else None
    clips, short = [], []
    for s, e in shots:
        n = e - s
        if n < cfg.min_clip_frames:
            short.append((s, e))
            continue
        pieces = 1 if max_frames is None else math.ceil(n / max_frames)
        bounds = [s + (n * k) // pieces for k in range(pieces + 1)]
        clips.extend((a, b) for a, b in zip(bounds[:-1], bounds[1:]))
    return clips, short


def _packet_pts(path: Path) -> tuple[list[int], set[int], Fraction]:
    """Sorted presentation timestamps of the video packets, the keyframe indices and the stream rate."""
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        pts, keys = [], []
        for p in c.demux(st):
            if p.size == 0 or p.pts is None:
                continue
            pts.append(int(p.pts))
            keys.append(bool(p.is_keyframe))
        rate = st.average_rate or st.guessed_rate or Fraction(25)
    order = sorted(range(len(pts)), key=lambda i: pts[i])
    pos = {pts[i]: k for k, i in enumerate(order)}
    keyframes = {pos[pts[i]] for i, k in enumerate(keys) if k}
    return [pts[i] for i in order], keyframes, Fraction(rate)


class ClipExtractor:
    """Cuts clips out of one source video (use as a context manager; clips in increasing order are fastest)."""

    def __init__(self, source: str | os.PathLike[str], cfg: ExtractConfig | None = None) -> None:
        self.source = Path(source)
        self.cfg = cfg or ExtractConfig()
        self.reader = VideoReader(self.source, backend="pyav", num_threads=1)
        self.pts: list[int] | None = None
        self.keyframes: set[int] = set()
        self.rate = (
            Fraction(self.reader.info.fps).limit_denominator(1001) if self.reader.info.fps else Fraction(25)
        )
        try:
            pts, keys, rate = _packet_pts(self.source)
            if len(pts) == len(self.reader) and len(set(pts)) == len(pts):
                self.pts, self.keyframes, self.rate = pts, keys, rate
        except (av.error.FFmpegError, IndexError):  # no usable packet table: always re-encode
            log.debug("%s: no packet table, clips will be re-encoded", self.source, exc_info=True)

    def __enter__(self) -> ClipExtractor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.reader.close()

    def extract(self, start: int, end: int, out: str | os.PathLike[str]) -> str:
        """Write frames ``[start, end)`` to ``out``; returns ``"copy"`` or ``"reencode"``."""
        n = len(self.reader)
        if not 0 <= start < end <= n:
            raise ValueError(f"bad clip range [{start}, {end}) for {n} frames of {self.source}")
        if self.cfg.copy and self.pts is not None and start in self.keyframes:
            try:
                atomic_write(out, lambda tmp: self._copy(start, end, tmp))
                if self._verify_copy(start, end, Path(out)):
                    return "copy"
                log.debug("%s [%d, %d): stream copy is not frame-exact; re-encoding", self.source, start, end)
            except (av.error.FFmpegError, VideoReadError, OSError) as e:
                log.debug("%s [%d, %d): stream copy failed (%s); re-encoding", self.source, start, end, e)
        atomic_write(out, lambda tmp: self._reencode(start, end, tmp))
        return "reencode"

    # ------------------------------------------------------------------------------------ copy
    def _copy(self, start: int, end: int, tmp: str) -> None:
        assert self.pts is not None
        start_pts = self.pts[start]
        end_pts = self.pts[end] if end < len(self.pts) else None
        with av.open(str(self.source)) as inp:
            ist = inp.streams.video[0]
            out = av.open(tmp, mode="w", format="mp4")
            try:
                ost = out.add_stream_from_template(ist)
                ost.time_base = ist.time_base
                inp.seek(start_pts, stream=ist, backward=True, any_frame=False)
                for pkt in inp.demux(ist):
                    if pkt.size == 0 or pkt.pts is None:
                        continue
                    if end_pts is not None and pkt.pts >= end_pts:
                        if pkt.is_keyframe:
                            break
                        continue
                    if pkt.pts < start_pts:
                        continue
                    pkt.pts -= start_pts
                    if pkt.dts is not None:
                        pkt.dts -= start_pts
                    pkt.stream = ost
                    out.mux(pkt)
            finally:
                out.close()

    def _verify_copy(self, start: int, end: int, path: Path) -> bool:
        n = end - start
        with VideoReader(path, backend="pyav", num_threads=1) as r:
            if len(r) != n:
                return False
            probe_at = sorted({0, n // 2, n - 1})
            got = r.get_frames(probe_at)
        want = self.reader.get_frames([start + i for i in probe_at])
        return bool((got == want).all())

    # ------------------------------------------------------------------------------------ re-encode
    def _reencode(self, start: int, end: int, tmp: str) -> None:
        from internvideo.data.synth import video_encoder

        info = self.reader.info
        w, h = info.width - info.width % 2, info.height - info.height % 2  # yuv420p needs even sizes
        encoder = video_encoder("h264")
        container = av.open(tmp, mode="w", format="mp4")
        try:
            st = container.add_stream(encoder, rate=self.rate)
            st.width, st.height = w, h
            st.pix_fmt = "yuv420p"
            opts = {"threads": "1"}
            if encoder == "libx264":
                opts.update(preset=self.cfg.preset, crf=str(self.cfg.crf))
            else:
                opts.update(qmin="2", qmax="4")
            st.options = opts
            i = 0
            for chunk in self.reader.iter_frames(chunk_size=16, start=start, stop=end):
                hwc = chunk.permute(0, 2, 3, 1).numpy()
                for frame in hwc:
                    vf = yuv420p_frame(frame[:h, :w])
                    vf.pts = i
                    i += 1
                    for pkt in st.encode(vf):
                        container.mux(pkt)
            for pkt in st.encode():
                container.mux(pkt)
        finally:
            container.close()
        if i != end - start:
            raise VideoReadError(
                self.source, "decode_failed", f"decoded {i} of {end - start} frames of a clip"
            )
