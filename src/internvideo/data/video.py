"""Video probing and frame-accurate decoding.

Frame identity: frame ``i`` is the ``i``-th frame of the video stream in presentation order, exactly
what a full sequential decode yields at position ``i``. Sparse reads decode only what they need: the
reader knows the keyframe layout (from demuxed packets, without decoding) and, for each wanted frame,
either keeps scanning forward or seeks to the nearest preceding keyframe when that skips real work.
Only the wanted frames are converted to RGB.

Frames come back as ``uint8`` tensors of shape ``(T, C, H, W)`` in RGB. Encoders take
``(B, C, T, H, W)`` float tensors; :func:`internvideo.data.transforms.to_encoder_input` converts.

Every bad input raises :class:`internvideo.errors.VideoReadError` with a reason tag.
"""

from __future__ import annotations

import bisect
import logging
import os
import struct
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import torch
from av.video.reformatter import VideoReformatter

from internvideo.errors import VideoReadError

__all__ = ["AudioStreamInfo", "VideoInfo", "VideoReader", "load_video", "probe"]

log = logging.getLogger(__name__)

PathLike = str | os.PathLike

# Seek instead of scanning on when seeking skips more than this many frames: a seek flushes the
# decoder (and its frame threads), which costs about as much as decoding a few frames.
DEFAULT_SEEK_THRESHOLD = 4
_MP4_FORMATS = ("mov", "mp4")
# RGB conversion arguments. One swscale thread: the default (one per core) sets up a thread pool
# for every frame, which costs ~10x the conversion itself on small frames.
_RGB_KWARGS: dict[str, object] = {"format": "rgb24", "threads": 1}
_LOCAL = threading.local()


def _reformatter() -> VideoReformatter:
    """This thread's RGB converter. ``frame.reformat`` sets up a new swscale context for every decoded
    frame (15 us for a 112 px frame); one kept per thread is set up again only when the sizes or
    formats change (6 us a frame). Not shared between threads: a context is not thread-safe."""
    r = getattr(_LOCAL, "reformatter", None)
    if r is None:
        r = _LOCAL.reformatter = VideoReformatter()
    return r


@dataclass(frozen=True)
class AudioStreamInfo:
    """One audio stream of a media file."""

    codec: str
    sample_rate: int
    channels: int


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learns about a video without decoding more than its first frame.

    ``width``/``height`` are the stored frame size; ``rotation`` is the counter-clockwise display
    rotation in degrees (from the display matrix), which readers apply only when asked.
    ``keyframes`` are presentation-order frame indices of keyframes (``None`` when unknown).
    """

    path: str
    duration: float
    fps: float
    num_frames: int
    width: int
    height: int
    rotation: int
    codec: str
    container: str = ""
    audio_streams: tuple[AudioStreamInfo, ...] = ()
    keyframes: tuple[int, ...] | None = field(default=None, repr=False)

    @property
    def has_audio(self) -> bool:
        """True when the file has at least one audio stream."""
        return len(self.audio_streams) > 0


# --------------------------------------------------------------------------------------------------
# opening and classifying bad input


def _check_file(path: PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise VideoReadError(p, "missing", "no such file; check the path")
    if p.is_dir():
        raise VideoReadError(p, "not_a_video", "this is a folder, not a file")
    try:
        size = p.stat().st_size
    except OSError as e:  # pragma: no cover - races / permissions
        raise VideoReadError(p, "missing", str(e)) from e
    if size == 0:
        raise VideoReadError(p, "empty", "the file has zero bytes")
    if not os.access(p, os.R_OK):
        raise VideoReadError(p, "missing", "the file is not readable (permission denied)")
    return p


def _iso_bmff_truncated(f, size: int) -> bool | None:
    """Walk the top-level boxes of an MP4/MOV file. True when truncated, None when not ISO BMFF."""
    f.seek(0)
    head = f.read(8)
    if len(head) < 8 or head[4:8] not in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"):
        return None
    pos, has_moov = 0, False
    while pos + 8 <= size:
        f.seek(pos)
        hdr = f.read(16)
        box_size, kind = struct.unpack(">I4s", hdr[:8])
        if box_size == 1 and len(hdr) >= 16:
            box_size = struct.unpack(">Q", hdr[8:16])[0]
        elif box_size == 0:  # box runs to the end of the file
            box_size = size - pos
        if box_size < 8:
            return True
        has_moov = has_moov or kind == b"moov"
        if pos + box_size > size:
            return True
        pos += box_size
    return not has_moov


def _looks_truncated(path: Path) -> bool:
    """Whether a file that FFmpeg refused starts like a known video container cut short."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            iso = _iso_bmff_truncated(f, size)
            if iso is not None:
                return iso
            f.seek(0)
            head = f.read(12)
    except OSError:
        return False
    if head[:4] == b"\x1a\x45\xdf\xa3":  # Matroska / WebM EBML header
        return True
    if head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"):
        return struct.unpack("<I", head[4:8])[0] + 8 > size
    return False


# demuxers to try first by file extension: naming the format skips FFmpeg's probing of every demuxer
# against the file's first bytes (0.22 -> 0.17 ms per open of a short MP4); a file whose content does not
# match its name is opened again with probing, so the hint never changes what opens or how it fails
_FORMAT_HINTS = {".mp4": "mov", ".m4v": "mov", ".mov": "mov", ".mkv": "matroska", ".webm": "matroska"}


def _open(path: Path) -> av.container.InputContainer:
    hint = _FORMAT_HINTS.get(path.suffix.lower())
    if hint is not None:
        try:
            return av.open(str(path), mode="r", format=hint)
        except (av.error.FFmpegError, OSError):
            pass
    try:
        return av.open(str(path), mode="r")
    except av.error.FFmpegError as e:
        if _looks_truncated(path):
            raise VideoReadError(path, "truncated", f"the container is cut short: {e}") from e
        raise VideoReadError(path, "not_a_video", f"FFmpeg cannot read this format: {e}") from e
    except OSError as e:
        raise VideoReadError(path, "missing", str(e)) from e


def _video_stream(container, path: Path):
    streams = [
        s
        for s in container.streams.video
        if not (s.disposition & av.stream.Disposition.attached_pic)  # skip cover art
    ]
    if not streams:
        if container.streams.audio:
            raise VideoReadError(path, "no_video_stream", "the file has audio but no video stream")
        raise VideoReadError(path, "not_a_video", "the file has no video stream")
    if streams[0].codec_context is None:
        raise VideoReadError(path, "decode_failed", "this FFmpeg build has no decoder for the video codec")
    return streams[0]


@dataclass
class _Index:
    """Presentation-order frame table built from demuxed packets (no decoding)."""

    num_frames: int
    pts: list[int] | None  # sorted presentation timestamps; None -> identify frames by counting
    pts_to_index: dict[int, int]
    keyframes: list[int]  # presentation indices, always starting with 0
    keyframe_pts: list[int | None]
    time_base: Fraction
    truncated_detail: str = ""
    # every demuxed packet (the final flush packet included) while they total at most _KEEP_PACKET_BYTES:
    # decoding from the start then reads these instead of seeking back and demuxing the file again
    packets: list | None = None

    def without_leading(self, k: int) -> _Index:
        """The table without its first ``k`` frames (which the decoder does not give)."""
        assert self.pts is not None and 0 < k < self.num_frames
        pts = self.pts[k:]
        kf = [i - k for i in self.keyframes if i >= k]
        if not kf or kf[0] != 0:
            kf = [0, *kf]
        return _Index(
            len(pts),
            pts,
            {p: i for i, p in enumerate(pts)},
            kf,
            [pts[i] for i in kf],
            self.time_base,
            self.truncated_detail,
            self.packets,
        )


class _LateStart(Exception):
    """Decoding from the start of the stream, the first frame out was frame ``index``, not 0."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


# a short video's packets are kept from indexing for decoding (a 16-frame 112 px clip: ~40 KB)
_KEEP_PACKET_BYTES = 16 << 20


def _build_index(container, stream, path: Path) -> _Index:
    pts_list: list[int | None] = []
    key_flags: list[bool] = []
    n_all = 0
    demux_error = ""
    packets: list | None = []
    kept = 0
    try:
        for packet in container.demux(stream):
            if packets is not None:
                kept += packet.size
                if kept > _KEEP_PACKET_BYTES:
                    packets = None  # a long video: decoding demuxes the file again
                else:
                    packets.append(packet)
            if packet.size == 0:
                continue
            n_all += 1
            if packet.is_discard:
                continue
            pts_list.append(packet.pts)
            key_flags.append(bool(packet.is_keyframe))
    except av.error.FFmpegError as e:
        demux_error = str(e)

    size = path.stat().st_size
    detail = ""
    try:
        entries = stream.index_entries
        ends = [e.pos + e.size for e in entries if e.pos >= 0]
        if ends and max(ends) > size:
            detail = f"the index points {max(ends) - size} bytes past the end of the {size}-byte file"
    except (AttributeError, av.error.FFmpegError):  # pragma: no cover - older PyAV
        pass
    fmt = container.format.name or ""
    if not detail and stream.frames and n_all < stream.frames and any(f in fmt for f in _MP4_FORMATS):
        detail = f"the header lists {stream.frames} frames but only {n_all} are in the file"
    if not detail and demux_error:
        detail = f"demuxing stopped with an error after {n_all} packets: {demux_error}"

    tb = stream.time_base or Fraction(1, 1)
    valid = all(p is not None for p in pts_list) and len(set(pts_list)) == len(pts_list)
    if valid and pts_list:
        order = sorted(range(len(pts_list)), key=lambda i: pts_list[i])
        pts_sorted = [pts_list[i] for i in order]
        p2i = {p: i for i, p in enumerate(pts_sorted)}
        kf = sorted(p2i[pts_list[i]] for i, k in enumerate(key_flags) if k)
        if not kf or kf[0] != 0:
            kf = [0, *kf]
        kf_pts: list[int | None] = [pts_sorted[i] for i in kf]
        if not detail and len(pts_sorted) > 1:
            detail = _duration_shortfall(container, stream, pts_sorted, tb)
        return _Index(len(pts_sorted), pts_sorted, p2i, kf, kf_pts, tb, detail, packets)
    if pts_list:
        log.debug("%s: packets lack unique timestamps; frames are identified by counting", path)
    return _Index(len(pts_list), None, {}, [0], [None], tb, detail, packets)


def _declared_duration(container, stream) -> float | None:
    """The video stream's duration as its headers state it, in seconds (None when unstated)."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    if tag:  # Matroska writes "HH:MM:SS.nnnnnnnnn"
        try:
            h, m, s = tag.split(":")
            return int(h) * 3600 + int(m) * 60 + float(s)
        except ValueError:
            pass
    if container.duration and len(container.streams) == 1:
        return container.duration / av.time_base
    return None


def _duration_shortfall(container, stream, pts: list[int], tb: Fraction) -> str:
    """Non-empty when the packets cover clearly less time than the headers declare (a cut file)."""
    declared = _declared_duration(container, stream)
    if not declared:
        return ""
    step = (pts[-1] - pts[0]) / (len(pts) - 1)
    covered = float((pts[-1] - pts[0] + step) * tb)
    if declared - covered > max(1.0, 0.1 * declared):
        return f"the headers declare {declared:.2f} s of video but the file holds only {covered:.2f} s"
    return ""


def _info(path: Path, container, stream, index: _Index, first, header_duration: bool = True) -> VideoInfo:
    """Assemble :class:`VideoInfo` from the stream header, the packet index and the first frame.

    ``header_duration=False`` takes the duration from the frames' timestamps even when the header
    states one (frames at the start were dropped, which the header still counts)."""
    rotation = int(round(getattr(first, "rotation", 0) or 0)) % 360
    if not rotation:
        try:
            rotation = int(float(stream.metadata.get("rotate", 0))) % 360
        except (TypeError, ValueError):
            rotation = 0

    tb = index.time_base
    duration = 0.0
    if stream.duration and header_duration:
        duration = float(stream.duration * tb)
    elif index.pts and len(index.pts) > 1:
        step = (index.pts[-1] - index.pts[0]) / (len(index.pts) - 1)
        duration = float((index.pts[-1] - index.pts[0] + step) * tb)
    elif container.duration:
        duration = container.duration / av.time_base
    rate = stream.average_rate or stream.guessed_rate
    if rate and float(rate) > 0:
        fps = float(rate)
    elif duration > 0:
        fps = index.num_frames / duration
    else:
        fps = 0.0
    if duration <= 0 and fps > 0:
        duration = index.num_frames / fps

    audio = tuple(
        AudioStreamInfo(s.codec_context.name, int(s.sample_rate or 0), int(s.channels or 0))
        for s in container.streams.audio
    )
    return VideoInfo(
        path=str(path),
        duration=duration,
        fps=fps,
        num_frames=index.num_frames,
        width=int(stream.codec_context.width or first.width),
        height=int(stream.codec_context.height or first.height),
        rotation=rotation,
        codec=stream.codec_context.name,
        container=container.format.name or "",
        audio_streams=audio,
        keyframes=tuple(index.keyframes) if index.pts is not None else None,
    )


def probe(path: PathLike) -> VideoInfo:
    """Read a video's metadata: duration, fps, true frame count, size, rotation, codec, audio, keyframes.

    The frame count and keyframes come from demuxing packets (no decoding); only the first frame is
    decoded, to check that the stream decodes and to read its display rotation. Raises
    :class:`VideoReadError` on bad input.
    """
    backend = _PyAVBackend(_check_file(path), num_threads=1, seek_threshold=DEFAULT_SEEK_THRESHOLD)
    backend.close()
    return backend.info


# --------------------------------------------------------------------------------------------------
# backends

# Decoders for which FFmpeg's skip_frame=NONREF drops only pictures nothing else refers to.
_SKIP_NONREF_CODECS = frozenset({"h264", "hevc", "mpeg4", "mpeg2video", "mpeg1video"})


class _PyAVBackend:
    """Decoder over one PyAV container with keyframe-aware planning.

    A single decode generator stays alive between requests, so reading wanted frames in increasing
    order (clip after clip, or right after opening) continues the scan instead of seeking again.
    While scanning, packets of frames nobody asked for are decoded with ``skip_frame=NONREF``:
    the decoder drops them when they are non-reference pictures (B-frames, typically), which saves
    their decoding without changing any other frame.
    """

    def __init__(self, path: Path, num_threads: int, seek_threshold: int) -> None:
        self.path = path
        self.num_threads = num_threads
        self.seek_threshold = seek_threshold
        self._gen: Iterator[tuple[int, av.VideoFrame]] | None = None
        self._pos = -1  # index of the last frame the live generator yielded
        self._want: set[int] | None = None  # frames the scan must not skip; None: all
        self._want_last = -1  # no frame after this one is skipped
        self._fresh = False  # the container was just opened and nothing demuxed from it yet
        self.container = _open(path)
        try:
            self.stream = _video_stream(self.container, path)
            self._configure()
            self.index = _build_index(self.container, self.stream, path)
            if self.index.truncated_detail:
                raise VideoReadError(path, "truncated", self.index.truncated_detail)
            if self.index.num_frames == 0:
                raise VideoReadError(path, "empty", "the video stream has no frames")
            self._skip_ok = (
                self.index.pts is not None and self.stream.codec_context.name in _SKIP_NONREF_CODECS
            )
            whole = True  # the index holds every frame the file has
            try:
                first = self._first_frame(rebase=True)
            except _LateStart as late:
                # a stream cut in the middle of a group of pictures (a TS capture, say): the decoder
                # drops the frames before its first keyframe, so the video starts where frames come out
                log.debug(
                    "%s: the first %d frames do not decode; the video starts after them", path, late.index
                )
                self.index = self.index.without_leading(late.index)
                first = self._first_frame(rebase=False)
                whole = False
            self.info = _info(path, self.container, self.stream, self.index, first, header_duration=whole)
        except BaseException:
            self.container.close()
            raise

    def _first_frame(self, rebase: bool) -> av.VideoFrame:
        self._gen = self._frames(0, late_start_ok=rebase)
        try:
            self._pos, first = next(self._gen)
        except StopIteration:
            raise VideoReadError(
                self.path, "decode_failed", "the video stream yields no decodable frame"
            ) from None
        return first

    def _configure(self) -> None:
        cc = self.stream.codec_context
        cc.thread_type = "AUTO"
        # 0 means one thread per core; FFmpeg's own "auto" starts cores + 1 frame threads, whose start-up
        # and teardown cost more than they give on short clips (measured on MPEG-4 640x480: -9 %)
        cc.thread_count = self.num_threads or min(8, os.cpu_count() or 1)

    def _reopen(self) -> None:
        self.index.packets = None  # they belong to the container being closed
        self.container.close()
        self.container = _open(self.path)
        self.stream = _video_stream(self.container, self.path)
        self._configure()
        self._fresh = True

    def close(self) -> None:
        self._gen = None
        self.index.packets = None  # the memory goes with the file, not with the reader object
        self.container.close()

    # planning ---------------------------------------------------------------------------------
    def _keyframe_before(self, i: int) -> int:
        kfs = self.index.keyframes
        return kfs[bisect.bisect_right(kfs, i) - 1]

    def plan(self, wanted: Sequence[int], pos: int | None = None) -> list[tuple[int | None, list[int]]]:
        """Group sorted unique indices into scans ``(start keyframe, frames)``.

        A new scan (a seek) starts when the keyframe before a wanted frame lies more than
        ``seek_threshold`` frames beyond the previous wanted frame; ``start=None`` means: continue the
        live scan currently at frame ``pos``.
        """
        groups: list[tuple[int | None, list[int]]] = []
        counting = self.index.pts is None
        for w in wanted:
            k = 0 if counting else self._keyframe_before(w)
            if groups:
                if counting or k - groups[-1][1][-1] <= self.seek_threshold:
                    groups[-1][1].append(w)
                    continue
            elif pos is not None and pos < w and (counting or k - pos <= self.seek_threshold):
                groups.append((None, [w]))
                continue
            groups.append((k, [w]))
        return groups

    # decoding ---------------------------------------------------------------------------------
    def _seek(self, start: int) -> None:
        """Position the demuxer before keyframe ``start`` (> 0); callers check which frame comes first."""
        try:
            self.container.seek(self.index.pts[start], stream=self.stream, backward=True, any_frame=False)
        except av.error.FFmpegError:
            log.debug("%s: seek to frame %d failed; rescanning from the start", self.path, start)
            self._reopen()

    def _frames(
        self, start: int, seek_to: int | None = None, step: int = 1, late_start_ok: bool = False
    ) -> Iterator[tuple[int, av.VideoFrame]]:
        """Decoded frames with their indices, from keyframe ``start`` onwards.

        The demuxer is positioned at keyframe ``seek_to`` (default ``start``). Seeking by timestamp is
        not exact in every container: when the first frame decoded lies beyond ``start`` (or none comes
        at all), the scan starts again from a keyframe ``step`` keyframes earlier, doubling the step each
        time, down to the first frame, which is read exactly. With ``late_start_ok``, a scan from the
        first frame whose first frame out is a later one raises :class:`_LateStart` instead of failing.
        """
        counting = self.index.pts is None
        target = start if seek_to is None else seek_to
        if counting and start != 0:
            raise AssertionError("counting mode decodes from the start only")
        kept = self.index.packets if target == 0 else None
        if kept is not None:  # from the start, out of the packets indexing read: no seek, no second demux
            self.stream.codec_context.flush_buffers()  # what seeking does: an earlier scan may have left frames
            source = iter(kept)
        else:
            if target > 0:
                self._seek(target)
            elif not self._fresh:
                # back to the first frame: a file opened afresh reads from its start, while seeking
                # back by timestamp is not exact in every container (in MPEG-TS it can land after the
                # first frames, which made such files unreadable)
                self._reopen()
            self._fresh = False
            source = self.container.demux(self.stream)
        cc = self.stream.codec_context
        p2i = self.index.pts_to_index
        skip_ok = self._skip_ok
        mode = "DEFAULT"
        counter = -1
        checked = False
        try:
            for packet in source:
                if skip_ok:
                    want = self._want
                    m = "DEFAULT"
                    if want is not None and packet.size:
                        # skip only between wanted frames: packets beyond the last wanted frame may
                        # be demuxed ahead (B-frame reordering, frame threads) and must stay intact
                        # for a later request that continues this scan
                        i = p2i.get(packet.pts)
                        if i is not None and i < self._want_last and i not in want:
                            m = "NONREF"
                    if m != mode:
                        cc.skip_frame = mode = m
                for frame in cc.decode(packet):
                    if counting:
                        counter += 1
                        idx = counter
                    else:
                        idx = p2i.get(frame.pts) if frame.pts is not None else None
                        if idx is None:
                            continue
                    if not checked:
                        checked = True
                        if idx > start:  # the seek landed after the wanted keyframe
                            if late_start_ok and target == 0 and not counting:
                                raise _LateStart(idx)
                            if target == 0:
                                raise VideoReadError(
                                    self.path,
                                    "decode_failed",
                                    f"cannot position the decoder at frame {start}",
                                )
                            log.debug("%s: seek to frame %d overshot (got %d)", self.path, target, idx)
                            yield from self._frames(start, self._keyframes_back(target, step), 2 * step)
                            return
                    if idx < start:
                        continue  # frames before the wanted keyframe (an earlier one was sought)
                    yield idx, frame
        except av.error.FFmpegError as e:
            raise VideoReadError(self.path, "decode_failed", f"decoding failed: {e}") from e
        finally:
            if skip_ok and mode != "DEFAULT":
                cc.skip_frame = "DEFAULT"
        if not checked and target > 0:  # the seek landed past every frame (MPEG-TS, near the end)
            log.debug("%s: seek to frame %d found no frame", self.path, target)
            yield from self._frames(start, self._keyframes_back(target, step), 2 * step)

    def _keyframes_back(self, keyframe: int, step: int) -> int:
        """The keyframe ``step`` keyframes before ``keyframe`` (the first frame at the latest)."""
        kfs = self.index.keyframes
        return kfs[max(0, bisect.bisect_left(kfs, keyframe) - step)]

    def _rgb(self, frame: av.VideoFrame) -> av.VideoFrame:
        """``frame`` converted to RGB at the video's size (a mid-stream size change keeps one output size)."""
        kwargs = dict(_RGB_KWARGS)
        w, h = self.info.width, self.info.height
        if frame.width != w or frame.height != h:
            kwargs.update(width=w, height=h)
        try:
            return _reformatter().reformat(frame, **kwargs)
        except TypeError:  # PyAV without the ``threads`` option
            kwargs.pop("threads", None)
            _RGB_KWARGS.pop("threads", None)
            return _reformatter().reformat(frame, **kwargs)

    def _to_rgb(self, frame: av.VideoFrame) -> np.ndarray:
        return self._rgb(frame).to_ndarray()

    def _to_rgb_into(self, frame: av.VideoFrame, out: np.ndarray) -> None:
        """Convert to RGB and write into ``out`` ``(H, W, 3)``, reading the converted plane in place."""
        w, h = self.info.width, self.info.height
        plane = self._rgb(frame).planes[0]
        rows = np.frombuffer(plane, dtype=np.uint8).reshape(h, plane.line_size)
        out[...] = rows[:, : w * 3].reshape(h, w, 3)

    def _scan(self, start: int | None, want: set[int] | None) -> Iterator[tuple[int, av.VideoFrame]]:
        """Frames of the live scan (``start=None``) or of a new one from keyframe ``start``."""
        if start is not None or self._gen is None:
            self._gen = None
            self._gen = self._frames(start or 0)
            self._pos = -1
        gen = self._gen
        self._want = want
        self._want_last = max(want) if want else -1
        try:
            for idx, frame in gen:
                self._pos = idx
                yield idx, frame
        except GeneratorExit:
            raise  # the consumer stopped early: the live scan stays usable
        except BaseException:
            self._gen = None
            raise
        else:
            self._gen = None  # exhausted

    def decode(self, wanted: Sequence[int]) -> torch.Tensor:
        """RGB frames ``(N, H, W, 3)`` for sorted unique ``wanted`` indices."""
        # frames are converted straight into their slot of one preallocated array (no second copy)
        buf = np.empty((len(wanted), self.info.height, self.info.width, 3), dtype=np.uint8)
        slot = {i: k for k, i in enumerate(wanted)}
        plan = self.plan(wanted, self._pos if self._gen is not None else None)
        log.debug("%s: %d frames in %d scan(s): %s", self.path, len(wanted), len(plan), plan)
        for start, group in plan:
            todo = set(group)
            last = group[-1]
            seen = -1
            for idx, frame in self._scan(start, set(group)):
                seen = idx
                if idx in todo:
                    self._to_rgb_into(frame, buf[slot[idx]])
                    todo.discard(idx)
                if idx >= last:
                    break
            if todo:
                self._gen = None
                missing = sorted(todo)
                raise VideoReadError(
                    self.path,
                    "truncated" if seen < missing[0] else "decode_failed",
                    f"frames {missing[:8]} of {self.info.num_frames} could not be decoded "
                    f"(the stream ended at frame {seen})",
                )
        self._want = None
        return torch.from_numpy(buf)

    def iter_decode(self, start: int, stop: int) -> Iterator[tuple[int, np.ndarray]]:
        """RGB frames ``[start, stop)`` in order, as ``(index, (H, W, 3) array)``."""
        if self._gen is not None and self._pos < start:
            k = None if self.index.pts is None else self._keyframe_before(start)
            if k is None or k - self._pos <= self.seek_threshold:
                k = None
        else:
            k = 0 if self.index.pts is None else self._keyframe_before(start)
        seen = start - 1
        for idx, frame in self._scan(k, None):
            if idx >= stop:
                break
            if idx >= start:
                seen = idx
                yield idx, self._to_rgb(frame)
                if idx == stop - 1:
                    break
        if seen < stop - 1:
            self._gen = None
            raise VideoReadError(
                self.path,
                "truncated",
                f"the stream ended at frame {seen} but {self.info.num_frames} were expected",
            )


_TORCHCODEC_OK: bool | None = None


def _torchcodec_available() -> bool:
    global _TORCHCODEC_OK
    if _TORCHCODEC_OK is None:
        try:
            import torchcodec.decoders  # noqa: F401
        except Exception:  # any import failure (missing FFmpeg libraries, CUDA-only builds, ...)
            _TORCHCODEC_OK = False
        else:
            _TORCHCODEC_OK = True
    return _TORCHCODEC_OK


class _TorchCodecBackend:
    """Decoding through torchcodec; metadata and validation still come from PyAV."""

    def __init__(self, path: Path, num_threads: int, seek_threshold: int) -> None:
        # validate and index with PyAV so errors and VideoInfo are identical across backends
        probe_backend = _PyAVBackend(path, num_threads, seek_threshold)
        self.info, self.index = probe_backend.info, probe_backend.index
        self._fallback = probe_backend
        self.path = path
        try:
            from torchcodec.decoders import VideoDecoder
        except Exception as e:
            raise ImportError(
                "backend='torchcodec' needs torchcodec (pip install torchcodec) and FFmpeg libraries"
            ) from e
        try:
            self.decoder = VideoDecoder(
                str(path),
                dimension_order="NHWC",
                seek_mode="exact",
                num_ffmpeg_threads=num_threads,
            )
        except Exception as e:
            raise VideoReadError(path, "decode_failed", f"torchcodec cannot open the file: {e}") from e

    def close(self) -> None:
        self._fallback.close()

    def decode(self, wanted: Sequence[int]) -> torch.Tensor:
        try:
            return self.decoder.get_frames_at(indices=list(wanted)).data
        except Exception as e:
            raise VideoReadError(self.path, "decode_failed", f"torchcodec: {e}") from e

    def iter_decode(self, start: int, stop: int) -> Iterator[tuple[int, np.ndarray]]:
        return self._fallback.iter_decode(start, stop)


# --------------------------------------------------------------------------------------------------
# public reader


class VideoReader:
    """Random-access, frame-accurate video reader returning ``uint8`` RGB ``(T, C, H, W)`` tensors.

    ``backend``: ``"pyav"`` (default), ``"torchcodec"`` (optional, imported lazily) or ``"auto"``
    (torchcodec when it imports, else PyAV). ``num_threads`` is the decoder's thread count (0: one per
    core). ``apply_rotation`` turns frames by the file's display rotation (multiples of 90 degrees);
    off by default, as in the upstream decord pipeline. Use as a context manager or call
    :meth:`close`.
    """

    def __init__(
        self,
        path: PathLike,
        backend: str = "auto",
        *,
        num_threads: int = 0,
        apply_rotation: bool = False,
        seek_threshold: int = DEFAULT_SEEK_THRESHOLD,
    ) -> None:
        p = _check_file(path)
        if backend not in ("auto", "pyav", "torchcodec"):
            raise ValueError(f"backend must be 'auto', 'pyav' or 'torchcodec', got {backend!r}")
        if backend == "auto":
            backend = "torchcodec" if _torchcodec_available() else "pyav"
        cls = _TorchCodecBackend if backend == "torchcodec" else _PyAVBackend
        self._backend = cls(p, num_threads, seek_threshold)
        self.backend = backend
        self.path = p
        self.apply_rotation = apply_rotation
        self._closed = False

    # basic protocol -------------------------------------------------------------------------------
    @property
    def info(self) -> VideoInfo:
        """The :class:`VideoInfo` of this file."""
        return self._backend.info

    def __len__(self) -> int:
        return self._backend.info.num_frames

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the decoder and the file."""
        if not self._closed:
            self._closed = True
            self._backend.close()

    def __repr__(self) -> str:
        i = self.info
        return (
            f"VideoReader({str(self.path)!r}, backend={self.backend!r}, frames={i.num_frames}, "
            f"fps={i.fps:g}, size={i.width}x{i.height})"
        )

    # frames --------------------------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"the reader for {str(self.path)!r} is closed")

    def _normalise(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> list[int]:
        if isinstance(indices, torch.Tensor | np.ndarray):
            indices = indices.reshape(-1).tolist()
        n = len(self)
        out = []
        for i in indices:
            j = int(i)
            if j < 0:
                j += n
            if not 0 <= j < n:
                raise IndexError(f"frame index {i} out of range for {n} frames of {str(self.path)!r}")
            out.append(j)
        return out

    def _finish(self, hwc: torch.Tensor) -> torch.Tensor:
        # (T, H, W, C) -> (T, C, H, W) as a view: the result is in channels-last memory format,
        # which every torch op accepts, and saves a full copy of the frames.
        x = hwc.permute(0, 3, 1, 2)
        k = (self.info.rotation // 90) % 4 if self.apply_rotation else 0
        if k:
            x = torch.rot90(x, k, dims=(2, 3)).contiguous(memory_format=torch.channels_last)
        return x

    def get_frames(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> torch.Tensor:
        """Frames at ``indices`` (any order, duplicates allowed) as ``uint8 (T, C, H, W)`` RGB.

        The tensor is stored channels-last (``x.is_contiguous(memory_format=torch.channels_last)``);
        call ``.contiguous()`` when a standard layout is needed.
        """
        self._check_open()
        idx = self._normalise(indices)
        if not idx:
            h, w = self.info.height, self.info.width
            return self._finish(torch.empty((0, h, w, 3), dtype=torch.uint8))
        uniq = sorted(set(idx))
        frames = self._backend.decode(uniq)
        if len(uniq) != len(idx) or uniq != idx:
            pos = {v: k for k, v in enumerate(uniq)}
            frames = frames[torch.tensor([pos[i] for i in idx], dtype=torch.long)]
        return self._finish(frames)

    def index_at(self, t: float) -> int:
        """Index of the frame shown at ``t`` seconds from the start of the video stream."""
        info = self.info
        if not (0.0 <= t <= info.duration + 1e-6) and not (t >= 0 and info.duration <= 0):
            raise ValueError(f"timestamp {t} s is outside [0, {info.duration:g}] s of {str(self.path)!r}")
        index = self._backend.index
        if index.pts is not None:
            base = index.pts[0]
            target = base + t / float(index.time_base)
            i = bisect.bisect_right(index.pts, target + 1e-6) - 1
        else:
            i = int(np.floor(t * info.fps + 1e-6))
        return min(max(i, 0), len(self) - 1)

    def get_frames_at(self, timestamps: Sequence[float]) -> torch.Tensor:
        """Frames shown at ``timestamps`` (seconds from the stream start) as ``uint8 (T, C, H, W)``."""
        return self.get_frames([self.index_at(float(t)) for t in timestamps])

    def iter_frames(
        self, chunk_size: int = 32, start: int = 0, stop: int | None = None
    ) -> Iterator[torch.Tensor]:
        """Decode frames ``[start, stop)`` in order, yielding ``uint8 (n, C, H, W)`` chunks of at most
        ``chunk_size`` frames, so memory stays bounded for long videos."""
        self._check_open()
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        n = len(self)
        stop = n if stop is None else min(stop, n)
        if not 0 <= start <= stop:
            raise IndexError(f"bad frame range [{start}, {stop}) for {n} frames")
        if start == stop:
            return
        buf: list[np.ndarray] = []
        for _, rgb in self._backend.iter_decode(start, stop):
            buf.append(rgb)
            if len(buf) == chunk_size:
                yield self._finish(torch.from_numpy(np.stack(buf)))
                buf = []
        if buf:
            yield self._finish(torch.from_numpy(np.stack(buf)))


def load_video(
    path: PathLike,
    num_frames: int = 8,
    sampling: str = "middle",
    seed: int | np.random.Generator | None = None,
    *,
    backend: str = "auto",
    num_clips: int = 1,
    clip_idx: int = 0,
    target_fps: float | None = None,
    max_frames: int | None = None,
) -> torch.Tensor:
    """Sample ``num_frames`` frames of a video with a named policy; ``uint8 (T, C, H, W)`` RGB.

    ``sampling`` is any name :func:`internvideo.data.sampling.sample_indices` knows (``middle``,
    ``rand``, ``segment``, ``random_segment``, ``fps`` / ``fpsX``).
    """
    from internvideo.data.sampling import sample_indices

    with VideoReader(path, backend=backend) as reader:
        info = reader.info
        idx = sample_indices(
            sampling,
            num_frames,
            info.num_frames,
            seed=seed,
            num_clips=num_clips,
            clip_idx=clip_idx,
            video_fps=info.fps,
            target_fps=target_fps,
            max_frames=max_frames,
        )
        return reader.get_frames(idx)
