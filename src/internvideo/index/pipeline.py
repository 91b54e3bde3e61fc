"""The decode -> embed engine shared by ``index``, ``embed``, ``extract-features``, ``similar`` and ``classify``.

Worker processes (a :class:`torch.utils.data.DataLoader` over an iterable dataset) probe each video, plan
its clips (the whole video, fixed windows in seconds, or frame windows), decode only the frames those clips
need and apply the transform; the main process runs the model on batches of clips while the workers decode
ahead. Results come back per file, with the reason when a file cannot be read; a bad file never stops a run.

Clips of one long video are decoded and sent in chunks of at most ``batch_size`` clips, so memory stays
bounded whatever the video's length.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from ..errors import InternVideoError, VideoReadError
from .model import ClipTransform

logger = logging.getLogger(__name__)

__all__ = [
    "Clip",
    "FileResult",
    "FrameWindowPlan",
    "SegmentPlan",
    "VideoMeta",
    "default_workers",
    "encode_files",
]


@dataclass(frozen=True)
class Clip:
    """One model input: ``frames`` (indices into the video) covering ``[start, end)`` seconds."""

    kind: str  # "video" (the whole video), "segment" (a window in seconds) or "window" (in frames)
    start: float
    end: float
    frames: tuple[int, ...]


@dataclass(frozen=True)
class VideoMeta:
    """What the workers learned about a video (a subset of :class:`internvideo.data.VideoInfo`)."""

    duration: float
    fps: float
    num_frames: int
    width: int
    height: int
    codec: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "duration": self.duration,
            "fps": self.fps,
            "num_frames": self.num_frames,
            "width": self.width,
            "height": self.height,
            "codec": self.codec,
        }


def _frame_times(info: VideoMeta, first: int, stop: int) -> tuple[float, float]:
    fps = info.fps if info.fps > 0 else 1.0
    return first / fps, min(stop / fps, info.duration) if info.duration > 0 else stop / fps


def _sample(policy: str, num_frames: int, vlen: int) -> list[int]:
    from ..data.sampling import sample_indices

    return sample_indices(policy, num_frames, vlen)


@dataclass(frozen=True)
class SegmentPlan:
    """The whole video, plus windows of ``window`` seconds every ``stride`` seconds for long videos.

    A video gets segments only when it is longer than one window (``window <= 0`` disables them). Windows
    start at ``0, stride, 2*stride, ...``; the last one is moved back to end with the video, so every
    segment has the full length and the tail is covered. Each clip samples ``num_frames`` frames with the
    ``sampling`` policy inside its own frame range.
    """

    num_frames: int
    sampling: str = "middle"
    window: float = 0.0
    stride: float = 0.0
    whole: bool = True

    def __call__(self, info: VideoMeta) -> list[Clip]:
        n = info.num_frames
        clips = []
        if self.whole or self.window <= 0:
            clips.append(
                Clip(
                    "video",
                    0.0,
                    _frame_times(info, 0, n)[1],
                    tuple(_sample(self.sampling, self.num_frames, n)),
                )
            )
        if self.window > 0 and info.duration > self.window + 1e-6:
            stride = self.stride if self.stride > 0 else self.window
            last = info.duration - self.window
            starts = [k * stride for k in range(int(math.floor(last / stride + 1e-9)) + 1)]
            if last - starts[-1] > 1e-6:
                starts.append(last)
            fps = info.fps if info.fps > 0 else n / info.duration
            for s in starts:
                a = min(int(round(s * fps)), n - 1)
                b = max(a + 1, min(int(round((s + self.window) * fps)), n))
                idx = [a + i for i in _sample(self.sampling, self.num_frames, b - a)]
                clips.append(Clip("segment", round(s, 6), round(s + self.window, 6), tuple(idx)))
        return clips


@dataclass(frozen=True)
class FrameWindowPlan:
    """Windows of ``window`` consecutive frames every ``stride`` frames (the localisation feature grid).

    Feature ``j`` covers frames ``[j * stride, j * stride + window)`` (see
    :func:`internvideo.data.sampling.dense_windows`); the model sees ``num_frames`` frames of the window,
    sampled with ``middle`` (all of them when ``window == num_frames``).
    """

    num_frames: int
    window: int = 16
    stride: int = 4

    def __call__(self, info: VideoMeta) -> list[Clip]:
        from ..data.sampling import dense_windows, middle_indices

        clips = []
        for frames in dense_windows(info.num_frames, self.window, self.stride):
            pick = [frames[i] for i in middle_indices(self.num_frames, len(frames))]
            start, end = _frame_times(info, frames[0], frames[0] + self.window)
            clips.append(Clip("window", start, end, tuple(pick)))
        return clips


Planner = Callable[[VideoMeta], list[Clip]]


@dataclass
class FileResult:
    """The outcome for one file: its clips and their vectors, or the reason it failed."""

    index: int
    path: Path
    meta: VideoMeta | None = None
    clips: list[Clip] = field(default_factory=list)
    vectors: np.ndarray | None = None  # (len(clips), D) float32
    reason: str = ""
    detail: str = ""

    @property
    def ok(self) -> bool:
        return not self.reason


@dataclass
class _Packet:
    """What a decode worker sends: up to one batch of transformed clips and whose they are.

    ``entries`` are ``(file index, chunk number, is last chunk, meta, clips)`` in the order of the rows
    of ``x``; ``failures`` are ``(file index, reason, detail)``.
    """

    x: torch.Tensor | None
    entries: list[tuple[int, int, bool, VideoMeta, list[Clip]]]
    failures: list[tuple[int, str, str]]


class _DecodeStream(IterableDataset):
    """Decodes files (worker ``w`` of ``n`` takes files ``w, w + n, ...``) into packets of ``batch`` clips.

    Packing clips of several files into one tensor in the worker means one message per model batch and
    no concatenation in the main process.
    """

    def __init__(self, files: Sequence[Path], planner: Planner, transform, batch: int) -> None:
        super().__init__()
        self.files = list(files)
        self.planner = planner
        self.transform = transform
        self.batch = max(1, batch)

    def __iter__(self) -> Iterator[_Packet]:
        wi = get_worker_info()
        wid, nw = (wi.id, wi.num_workers) if wi is not None else (0, 1)
        xs: list[torch.Tensor] = []  # transformed clips of the packet being filled
        entries: list[tuple[int, int, bool, VideoMeta, list[Clip]]] = []
        failures: list[tuple[int, str, str]] = []
        batch: torch.Tensor | None = None
        for i in range(wid, len(self.files), nw):
            for item in self._file(i):
                if isinstance(item[1], str):  # a failure: (index, reason, detail)
                    failures.append(item)  # type: ignore[arg-type]
                    continue
                fi, k, last, meta, clips, clip_frames = item
                for frames in clip_frames:
                    if not isinstance(self.transform, ClipTransform):
                        xs.append(self.transform(frames))
                        continue
                    if batch is None:  # clips are written straight into the packet's batch tensor
                        size = self.transform.pre.img_size
                        batch = torch.empty((self.batch, frames.shape[1], frames.shape[0], size, size))
                    slot = batch[len(xs)] if len(xs) < self.batch else None
                    xs.append(self.transform(frames, out=slot))
                entries.append((fi, k, last, meta, clips))
                if len(xs) >= self.batch:
                    yield _Packet(self._pack(xs, batch), entries, failures)
                    xs, entries, failures, batch = [], [], [], None
        if xs or failures:
            yield _Packet(self._pack(xs, batch) if xs else None, entries, failures)

    def _pack(self, xs: list[torch.Tensor], batch: torch.Tensor | None) -> torch.Tensor:
        n = min(len(xs), self.batch)
        head = batch[:n] if batch is not None else torch.stack(xs[:n])
        return torch.cat([head, torch.stack(xs[n:])]) if len(xs) > n else head

    def _file(self, i: int):
        from ..data.video import VideoReader

        path = self.files[i]
        try:
            with VideoReader(path, backend="pyav", num_threads=1) as reader:
                v = reader.info
                meta = VideoMeta(v.duration, v.fps, v.num_frames, v.width, v.height, v.codec)
                clips = self.planner(meta)
                if not clips:
                    raise VideoReadError(path, "empty", "no clip could be planned for this video")
                parts = [clips[s : s + self.batch] for s in range(0, len(clips), self.batch)]
                for k, part in enumerate(parts):
                    wanted = sorted({f for c in part for f in c.frames})
                    frames = reader.get_frames(wanted)
                    pos = {f: j for j, f in enumerate(wanted)}
                    clips_frames = [frames[torch.tensor([pos[f] for f in c.frames])] for c in part]
                    yield i, k, k == len(parts) - 1, meta, part, clips_frames
        except VideoReadError as e:
            yield i, e.reason, e.detail
        except (InternVideoError, OSError, RuntimeError, ValueError, MemoryError) as e:
            logger.debug("decoding %s failed", path, exc_info=True)
            yield i, "decode_failed", f"{type(e).__name__}: {e}"


def _worker_init(_: int) -> None:
    from .store import release_inherited_locks

    release_inherited_locks()


def default_workers() -> int:
    """Decode workers: one per core beyond the one the model uses, at least one, at most four."""
    return max(1, min(4, (os.cpu_count() or 2) - 1))


def _identity(x):
    return x


def encode_files(
    files: Sequence[str | Path],
    planner: Planner,
    transform,
    encode: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int = 16,
    workers: int | None = None,
    device: torch.device | str = "cpu",
    progress: bool | str = False,
) -> Iterator[FileResult]:
    """Decode ``files`` in worker processes and embed their clips in batches; yields one result per file.

    ``encode`` maps a float ``(B, C, T, H, W)`` batch to ``(B, D)``. Results come in the order files
    complete (a file completes once all its clips are embedded); each carries its position in ``files``.
    ``progress`` shows a tqdm bar (a string sets its description).
    """
    from tqdm.auto import tqdm

    files = [Path(f) for f in files]
    if not files:
        return
    workers = default_workers() if workers is None else max(0, int(workers))
    workers = min(workers, len(files))
    device = torch.device(device)
    loader = DataLoader(
        _DecodeStream(files, planner, transform, batch_size),
        batch_size=None,
        num_workers=workers,
        collate_fn=_identity,
        pin_memory=device.type == "cuda",
        prefetch_factor=4 if workers else None,
        persistent_workers=False,
        worker_init_fn=_worker_init if workers else None,
    )
    pending: dict[int, FileResult] = {}
    chunks_seen: dict[int, int] = {}
    chunks_total: dict[int, int] = {}
    buf_x: list[torch.Tensor] = []
    buf_owner: list[tuple[int, int]] = []  # (file index, clip number within the file)
    vecs: dict[int, list[np.ndarray | None]] = {}
    bar = tqdm(
        total=len(files),
        unit="video",
        desc=progress if isinstance(progress, str) else "embedding",
        disable=not progress,
        dynamic_ncols=True,
    )

    def flush(n: int) -> list[FileResult]:
        """Embed the first ``n`` buffered clips; return the files this completes."""
        if not buf_x or n <= 0:
            return []
        x = torch.cat(buf_x) if len(buf_x) > 1 else buf_x[0]
        rest = x[n:]
        buf_x.clear()
        if len(rest):
            buf_x.append(rest)
        owners_now = buf_owner[:n]
        del buf_owner[:n]
        with torch.inference_mode():
            out = encode(x[:n].to(device, non_blocking=True)).float().cpu().numpy()
        for row, (fi, ci) in zip(out, owners_now):
            if fi in vecs:  # a file that failed after its first chunk was dropped
                vecs[fi][ci] = row
        owners = sorted({fi for fi, _ in owners_now if fi in pending})
        return [done for fi in owners if (done := _complete(fi)) is not None]

    def _complete(fi: int) -> FileResult | None:
        r = pending[fi]
        if fi not in chunks_total or chunks_seen[fi] != chunks_total[fi]:
            return None
        if any(v is None for v in vecs[fi]):
            return None
        r.vectors = np.stack(vecs.pop(fi)).astype(np.float32, copy=False)
        del pending[fi]
        return r

    try:
        for packet in loader:
            for fi, k, last, meta, clips in packet.entries:
                r = pending.setdefault(fi, FileResult(fi, files[fi], meta=meta))
                vecs.setdefault(fi, [])
                base = len(r.clips)
                r.clips.extend(clips)
                vecs[fi].extend([None] * len(clips))
                chunks_seen[fi] = chunks_seen.get(fi, 0) + 1
                if last:
                    chunks_total[fi] = k + 1
                buf_owner.extend((fi, base + j) for j in range(len(clips)))
            if packet.x is not None:
                buf_x.append(packet.x)
            for fi, reason, detail in packet.failures:
                if fi in pending:  # failed part-way through: forget what was decoded so far
                    del pending[fi], vecs[fi]
                    chunks_seen.pop(fi, None)
                bar.update(1)
                yield FileResult(fi, files[fi], reason=reason, detail=detail)
            while len(buf_owner) >= batch_size:
                for done in flush(batch_size):
                    bar.update(1)
                    yield done
        while buf_owner:
            for done in flush(min(batch_size, len(buf_owner))):
                bar.update(1)
                yield done
    finally:
        bar.close()
