"""The decode -> embed engine shared by ``index``, ``embed``, ``extract-features``, ``similar`` and ``classify``.

Decoders probe each video, plan its clips (the whole video, fixed windows in seconds, or frame windows),
decode only the frames those clips need and resize them; the main process normalises them into model
batches and runs the model. Results come back per file, with the reason when a file cannot be read; a bad
file never stops a run, and neither does a decoder that crashes on one (the file is reported as
``decoder_crashed`` and the decoder is replaced). Clips of one long video are decoded in chunks, so memory
stays bounded whatever the video's length.

Decoders are worker processes of a pool that lives as long as the program (:class:`DecodePool`): no
start-up per call, and no copy-on-write storm -- forking a process whose heap the model keeps rewriting
turns every page the model writes afterwards into a copy (measured: +40 % on the next model batch), which
a pool forked once pays once. Decoded frames travel as ``uint8`` through shared-memory slots that are
reused, not as fresh shared tensors per batch.

How far the decoders run ahead depends on where the model runs (:func:`decode_strategy`):

* ``"overlap"`` -- the model runs on a GPU, or leaves CPU cores free: decoders work ahead while the
  model computes.
* ``"alternate"`` -- the model runs on the CPU and its threads take every core. Decoding beside it does
  not overlap for free: a decoder takes a core from one of the model's OpenMP threads, and every parallel
  region then waits for the thread that lost its core (measured on 2 cores: each model batch took about
  as much longer as the decoding done meanwhile). So the two take turns, each on all cores: the decoders
  get the next batch's files when the model is done with a batch. Each worker runs on a core of its
  own, and the ``internvideo`` command shortens OpenMP's idle spin (:func:`internvideo.runtime.tune_openmp`),
  so that the model's threads hand the cores over at once.

Either way, what is decoded ahead of the model is bounded by the workers' slots, however many clips the
videos hold.
"""

from __future__ import annotations

import atexit
import functools
import gc
import logging
import math
import os
import signal
import threading
import weakref
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InternVideoError, VideoReadError
from .model import ClipTransform

logger = logging.getLogger(__name__)

__all__ = [
    "Clip",
    "DecodePool",
    "FileResult",
    "FrameWindowPlan",
    "SegmentPlan",
    "VideoMeta",
    "decode_strategy",
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
    ``sampling`` policy inside its own frame range. With ``whole=False`` the whole-video clip (first
    when planned) is planned only for videos that get no segments.
    """

    num_frames: int
    sampling: str = "middle"
    window: float = 0.0
    stride: float = 0.0
    whole: bool = True

    def __call__(self, info: VideoMeta) -> list[Clip]:
        n = info.num_frames
        clips = []
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
        if self.whole or not clips:
            frames = tuple(_sample(self.sampling, self.num_frames, n))
            clips.insert(0, Clip("video", 0.0, whole_video_end(info), frames))
        return clips


def whole_video_end(info: VideoMeta) -> float:
    """Where the whole-video clip ends (seconds)."""
    return _frame_times(info, 0, info.num_frames)[1]


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
    """Decoded clips of one or more files, and whose they are.

    ``entries`` are ``(file index, chunk number, is last chunk, meta, clips)`` in the order of the rows
    of the clips; ``failures`` are ``(file index, reason, detail)``. With a :class:`ClipTransform` the
    rows are resized ``uint8 (N, T, C, H, W)`` frames (the main process normalises them into the model
    batch); with another transform, whatever it returns, stacked. A pool worker that wrote its rows into
    a shared slot sends ``x=None`` with the slot's number; ``last`` marks the final packet of a task.
    """

    x: torch.Tensor | None
    entries: list[tuple[int, int, bool, VideoMeta, list[Clip]]]
    failures: list[tuple[int, str, str]]
    slot: int | None = None
    rows: int = 0
    last: bool = False


def _decode_file(path: Path, i: int, planner: Planner, chunk: int):
    """Items for file ``i``: ``(i, k, is_last, meta, clips, frames per clip)`` per chunk of at most
    ``chunk`` clips, or one ``(i, reason, detail)`` failure."""
    from ..data.video import VideoReader

    try:
        with VideoReader(path, backend="pyav", num_threads=1) as reader:
            v = reader.info
            meta = VideoMeta(v.duration, v.fps, v.num_frames, v.width, v.height, v.codec)
            clips = planner(meta)
            if not clips:
                raise VideoReadError(path, "empty", "no clip could be planned for this video")
            parts = [clips[s : s + chunk] for s in range(0, len(clips), chunk)]
            for k, part in enumerate(parts):
                wanted = sorted({f for c in part for f in c.frames})
                frames = reader.get_frames(wanted)
                if len(part) == 1 and list(part[0].frames) == wanted:
                    clips_frames = [frames]  # the usual single clip: no gather copy (~0.1 ms a clip)
                else:
                    pos = {f: j for j, f in enumerate(wanted)}
                    clips_frames = [frames[torch.tensor([pos[f] for f in c.frames])] for c in part]
                yield i, k, k == len(parts) - 1, meta, part, clips_frames
    except VideoReadError as e:
        yield i, e.reason, e.detail
    except (InternVideoError, OSError, RuntimeError, ValueError, MemoryError) as e:
        logger.debug("decoding %s failed", path, exc_info=True)
        yield i, "decode_failed", f"{type(e).__name__}: {e}"
    except Exception as e:  # noqa: BLE001 - a reader bug on an odd file must not end the whole run
        logger.warning("unexpected error decoding %s (please report it)", path, exc_info=True)
        yield i, "decode_failed", f"internal error: {type(e).__name__}: {e}"


def _decode_packets(
    items: Sequence[tuple[int, Path]],
    planner: Planner,
    transform,
    limit: int,
    buffer: Callable[[tuple[int, ...]], tuple[int | None, torch.Tensor]] | None = None,
    on_file: Callable[[int], None] | None = None,
) -> Iterator[_Packet]:
    """Decode ``items`` (``(file index, path)``) into packets of at most ``limit`` clips.

    Packing clips of several files into one tensor means one message per packet; a packet never holds
    more than ``limit`` clips (when a file's next chunk does not fit, the packet is sent first). With a
    :class:`ClipTransform`, resized frames are written straight into a ``uint8`` buffer of ``limit``
    rows from ``buffer(row shape)`` (a shared slot and its number, or a fresh tensor and ``None``).
    ``on_file`` is told which file is about to be decoded.
    """
    raw = isinstance(transform, ClipTransform)
    xs: list[torch.Tensor] = []  # clips of the packet being filled
    entries: list[tuple[int, int, bool, VideoMeta, list[Clip]]] = []
    failures: list[tuple[int, str, str]] = []
    buf: torch.Tensor | None = None
    slot: int | None = None

    def packet() -> _Packet:
        nonlocal xs, entries, failures, buf, slot
        if slot is not None:
            out = _Packet(None, entries, failures, slot=slot, rows=len(xs))
        else:
            x = (buf[: len(xs)] if buf is not None else torch.stack(xs)) if xs else None
            out = _Packet(x, entries, failures, rows=len(xs))
        xs, entries, failures, buf, slot = [], [], [], None, None
        return out

    for i, path in items:
        if on_file is not None:
            on_file(i)
        for item in _decode_file(path, i, planner, limit):
            if isinstance(item[1], str):  # a failure: (index, reason, detail)
                failures.append(item)  # type: ignore[arg-type]
                continue
            fi, k, last, meta, clips, clip_frames = item
            if xs and len(xs) + len(clip_frames) > limit:
                yield packet()
            for frames in clip_frames:
                if not raw:
                    xs.append(transform(frames))
                    continue
                x = transform.geometry(frames)
                if buf is None:  # frames are written straight into the packet's buffer
                    if buffer is not None:
                        slot, buf = buffer(tuple(x.shape))
                    else:
                        buf = torch.empty((limit, *x.shape), dtype=torch.uint8)
                row = buf[len(xs)]
                # frames come channels-last from the decoder: numpy de-interleaves them ~30 % faster
                # than torch's strided copy (0.09 vs 0.13 ms a 112 px clip)
                np.copyto(row.numpy(), x.numpy())
                xs.append(row)
            entries.append((fi, k, last, meta, clips))
            if len(xs) >= limit:
                yield packet()
    if xs or failures:
        yield packet()


# --------------------------------------------------------------------------------------------------
# the decode pool


# the main process's ends of every worker's pipe: a worker closes the copies it inherits, so that each
# pipe reports end-of-file to its worker as soon as the main process is gone (even after a SIGKILL)
_MAIN_ENDS: weakref.WeakSet = weakref.WeakSet()


def _worker_main(conn, own_main_end, free, current) -> None:
    """A pool worker: runs tasks ``(task id, items, limit)`` of the current job until told to stop."""
    from .store import release_inherited_locks

    for c in [own_main_end, *_MAIN_ENDS]:
        c.close()
    release_inherited_locks()  # index-lock descriptors inherited from the parent
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's business
    torch.set_num_threads(1)
    # everything inherited from the parent (modules, the model) stays alive as long as this process and
    # holds no garbage: the collector need not walk it (it took 5 % of a worker's time, measured)
    gc.freeze()
    parent = os.getppid()
    planner = transform = ring = None
    count = 0  # slots filled so far (they are used round-robin)
    limit = 1

    def take_slot(shape: tuple[int, ...]) -> tuple[int | None, torch.Tensor]:
        nonlocal count
        if ring is None or tuple(ring.shape[2:]) != shape or ring.shape[1] < limit:
            return None, torch.empty((limit, *shape), dtype=torch.uint8)  # no slot fits: a plain tensor
        while not free.acquire(timeout=1.0):  # handed back once the main process has the rows
            if os.getppid() != parent:  # the main process is gone (killed): nobody will
                os._exit(0)
        s = count % len(ring)
        count += 1
        return s, ring[s]

    def on_file(i: int) -> None:
        current.value = i

    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        if msg[0] == "job":  # the ring is sent again only when it changed (re-attaching one costs ~1 ms)
            _, planner, transform, new_ring, keep_ring = msg
            ring = ring if keep_ring else new_ring
            continue
        _, task, items, limit = msg
        try:
            held = None  # each packet is sent once the next exists, so the last can say it is the last
            for pk in _decode_packets(items, planner, transform, limit, take_slot, on_file):
                if held is not None:
                    conn.send((task, held))
                held = pk
            current.value = -1
            held = held if held is not None else _Packet(None, [], [])
            held.last = True
            conn.send((task, held))
        except BaseException as e:  # noqa: BLE001 - reported to the main process, which raises
            conn.send((task, e))
            return


class _Worker:
    def __init__(self, ctx, wid: int, depth: int) -> None:
        self.wid = wid
        self.free = ctx.Semaphore(depth)
        self.current = ctx.Value("q", -1, lock=False)
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(
            target=_worker_main,
            args=(child, self.conn, self.free, self.current),
            daemon=True,
            name=f"decode-{wid}",
        )
        self.proc.start()
        child.close()
        _MAIN_ENDS.add(self.conn)
        self.job = -1  # the job whose settings this worker holds
        self.ring: torch.Tensor | None = None  # the pool's slot ring this worker was last sent
        self.core: int | None = None  # the core it is pinned to, if any
        self.held = 0  # its slots received and not yet handed back
        self.dead = False
        self.tasks: deque[tuple[int, list[tuple[int, Path]]]] = deque()  # in flight, oldest first

    def close(self, timeout: float = 1.0) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.proc.join(timeout)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(timeout)
        self.conn.close()


class DecodePool:
    """Decoder processes that live as long as the program (or until :meth:`close`).

    :func:`encode_files` uses the program's shared pool (:meth:`acquire`); a pool runs one job at a
    time. Workers are forked (they inherit the loaded modules, not a fresh interpreter), ignore Ctrl-C,
    and exit when the main process is gone, even after a SIGKILL.
    """

    depth = 2  # shared slots per worker: one being filled while the main process reads the other

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"a decode pool needs at least one worker, got {workers}")
        self.ctx = torch.multiprocessing.get_context("fork")
        self.pid = os.getpid()
        self.size = workers
        self.lock = threading.Lock()
        self.workers = [_Worker(self.ctx, w, self.depth) for w in range(workers)]
        self._ring_buf: tuple[tuple[int, ...], torch.Tensor] | None = (
            None  # (W, depth, rows, T, C, H, W) uint8
        )
        self.jobs = 0
        self.closed = False
        self._pinned = False
        self.peak_waiting_rows = 0  # most decoded clips waiting for the consumer at once (last job)
        self._to_release: list[_Worker] = []  # read slots to hand back at the decoders' next turn
        self._start_round: Callable[[], None] | None = None

    _shared: DecodePool | None = None
    _shared_lock = threading.Lock()

    @classmethod
    def acquire(cls, workers: int) -> tuple[DecodePool, bool]:
        """A pool of ``workers`` decoders for one job, with its :attr:`lock` held; ``True`` when it is
        the program's shared pool (kept afterwards), ``False`` for a private one (close it after the job:
        the shared one is busy with another thread's job)."""
        with cls._shared_lock:
            pool = cls._shared
            usable = pool is not None and not pool.closed and pool.pid == os.getpid()
            if usable and pool.size != workers and pool.lock.acquire(blocking=False):
                pool.lock.release()  # an idle pool of another size: replace it
                pool.close()
                usable = False
            if not usable:
                pool = cls._shared = cls(workers)
            if pool.size == workers and pool.lock.acquire(blocking=False):
                return pool, True
        private = cls(workers)
        private.lock.acquire()
        return private, False

    def close(self) -> None:
        """Stop the workers (idempotent)."""
        if self.closed or self.pid != os.getpid():
            return
        self.closed = True
        for w in self.workers:
            w.close()
        self._ring_buf = None

    def _respawn(self, w: _Worker) -> _Worker:
        w.close(timeout=0.1)
        new = _Worker(self.ctx, w.wid, self.depth)
        self.workers[w.wid] = new
        if self._pinned:
            self._pin_worker(new, True)
        return new

    def _pin(self, pin: bool) -> None:
        """Taking turns (``pin``), worker ``k`` runs on core ``k``; otherwise anywhere it may.

        The main process wakes every worker at the start of a round, and Linux places a woken process
        beside its waker: measured on 2 cores, the second worker shared the first one's core for the first
        2-4 ms of each round (of ~16). With a core each, the workers start together.
        """
        if pin == self._pinned or not hasattr(os, "sched_setaffinity"):
            return
        self._pinned = pin
        for w in self.workers:
            self._pin_worker(w, pin)

    def _pin_worker(self, w: _Worker, pin: bool) -> None:
        cores = sorted(os.sched_getaffinity(0))
        if pin and self.size > len(cores):
            return
        try:
            os.sched_setaffinity(w.proc.pid, {cores[w.wid]} if pin else cores)
        except OSError:  # it has just exited (reported when its pipe closes), or affinity is locked
            logger.debug("cannot set the affinity of decode worker %d", w.wid, exc_info=True)
            return
        w.core = cores[w.wid] if pin else None

    def _dispatch_order(self) -> list[_Worker]:
        """Workers in the order to hand them tasks: the one pinned to the core this process runs on last.

        Waking a process on one's own core lets it take the core at once (measured on 2 cores: the next
        worker's task went out 2.3 ms late, the median over rounds); a worker on another core wakes there.
        """
        here = _current_cpu()
        if here is None or not self._pinned:
            return self.workers
        return sorted(self.workers, key=lambda w: w.core == here)

    def _ring(self, rows: int, shape: tuple[int, ...]) -> torch.Tensor:
        """The shared slots for clips of ``shape``, ``rows`` per slot (kept while jobs keep that size)."""
        key = (rows, *shape)
        if self._ring_buf is None or self._ring_buf[0] != key:
            ring = torch.empty((self.size, self.depth, rows, *shape), dtype=torch.uint8)
            self._ring_buf = (key, ring.share_memory_())
        return self._ring_buf[1]

    def run(
        self,
        files: Sequence[Path],
        planner: Planner,
        transform,
        batch_size: int,
        ahead: bool,
    ) -> Iterator[tuple[_Packet, torch.Tensor | None, Callable[[], None]]]:
        """Decode ``files``; yields ``(packet, rows, release)`` where ``rows`` is the packet's clips (a
        view of a shared slot, or the packet's own tensor) and ``release()`` must be called once the
        rows have been copied out.

        ``ahead=True``: every worker keeps two tasks of ``batch_size / workers`` files queued.
        ``ahead=False`` (taking turns): a round of ``batch_size`` files starts when the consumer asks for
        more, or calls :meth:`start_round` once its model is done, and no round runs; its files go out
        in shrinking tasks, two queued per worker, each worker pinned to a core of its own; its packets
        are handed on once the round is complete, or once every worker still at it has filled its
        slots (videos with many clips: the first batch of rows is copied out, later rows wait in their
        slots, so at most about ``batch_size + workers * depth * batch_size / workers`` rows are
        decoded ahead of the model).
        The caller holds :attr:`lock`.
        """
        try:
            yield from self._run(list(files), planner, transform, batch_size, ahead)
        except BaseException:
            # interrupted or failed part-way: workers may still be busy with this job; start afresh
            self.close()
            raise

    def _run(self, files, planner, transform, batch_size: int, ahead: bool):
        self.jobs += 1
        self.peak_waiting_rows = 0
        limit = max(1, -(-batch_size // self.size))
        ring = None
        if isinstance(transform, ClipTransform):
            pre = transform.pre
            ring = self._ring(limit, (pre.num_frames, 3, pre.img_size, pre.img_size))
        todo = deque(enumerate(files))
        done_files: set[int] = set()  # files whose last chunk or failure has arrived
        ready: deque[tuple[_Packet, torch.Tensor | None, Callable[[], None], int]] = deque()
        tasks = iter(range(1 << 62))

        # taking turns, a round's files go out in shrinking tasks (a share of what the round has left),
        # two queued per worker, so that the workers neither wait for their next task nor finish apart
        round_left = 0  # files the current round may still hand out (taking turns)
        self._pin(not ahead)

        def dispatch(w: _Worker, items=None) -> None:
            nonlocal round_left
            if items is None:
                if ahead:
                    n = min(limit, len(todo))
                else:
                    share = min(round_left, len(todo))  # what this round can still hand out
                    n = min(share, max(1, -(-share // (2 * self.size))))
                items = [todo.popleft() for _ in range(n)]
                round_left -= n
            if w.job != self.jobs:
                keep = ring is not None and w.ring is ring
                slots = None if ring is None or keep else ring[w.wid]
                w.conn.send(("job", planner, transform, slots, keep))
                w.job, w.ring = self.jobs, ring
            task = next(tasks)
            w.tasks.append((task, items))
            w.conn.send(("task", task, items, limit))

        def fill() -> None:
            for w in self._dispatch_order():
                while len(w.tasks) < 2 and todo and (ahead or round_left > 0):
                    dispatch(w)

        def start_round() -> None:
            """Taking turns, the decoders' turn, unless rows are waiting: workers whose slots were read
            go on, and a round of about one batch of files starts if none runs."""
            nonlocal round_left
            if ready:
                return
            self._resume()
            if not todo or any(w.tasks for w in self.workers):
                return
            round_left = batch_size
            fill()

        def decoding() -> bool:
            """A worker has files left and can go on: it sends a packet once it has filled the next
            one, so it stops when ``depth - 1`` of its slots wait to be read."""
            return any(w.tasks and w.held < self.depth - 1 for w in self.workers)

        self._start_round = None if ahead else start_round
        try:
            while True:
                # taking turns: the consumer's next work (normalising rows, the model) waits until the
                # round is done or every worker still at it waits for its slots to be read
                while ready and (ahead or not decoding()):
                    pk, rows, release, _ = ready.popleft()
                    yield pk, rows, release
                busy = any(w.tasks for w in self.workers)  # the consumer may have started a round
                if not todo and not busy:
                    return
                # only reached when the consumer waits for data
                if ahead:
                    fill()
                else:
                    start_round()
                self._wait(dispatch, done_files, ready, ring, ahead, batch_size)
                if not ahead:
                    fill()
        finally:
            self._start_round = None
            self._resume()

    def start_round(self) -> None:
        """Taking turns, start decoding the next round now: called by the consumer as soon as the model
        is done with a batch, so that the decoders work while it handles the results."""
        if self._start_round is not None:
            self._start_round()

    def _wait(self, dispatch, done_files: set[int], ready, ring, ahead: bool, batch_size: int) -> None:
        """Wait for a message or an exit of a busy worker and handle what arrives."""
        from multiprocessing.connection import wait

        live = [w for w in self.workers if w.tasks]
        conns = {w.conn: w for w in live}
        sentinels = {w.proc.sentinel: w for w in live}
        for obj in wait([*conns, *sentinels]):
            w = conns[obj] if obj in conns else sentinels[obj]
            if w.dead:  # its pipe and its sentinel were both ready: already replaced
                continue
            if obj in conns:
                alive = self._receive(w, done_files, ready, ring, ahead, batch_size)
            else:  # it exited: read what it sent before dying
                while (alive := w.conn.poll()) and self._receive(
                    w, done_files, ready, ring, ahead, batch_size
                ):
                    pass
                alive = False
            if not alive:
                self._crashed(w, done_files, ready, dispatch)

    @staticmethod
    def _release(w: _Worker) -> None:
        w.held -= 1
        w.free.release()

    def _release_later(self, w: _Worker) -> None:
        self._to_release.append(w)

    def _resume(self) -> None:
        """Hand back the slots the consumer has read since the decoders' last turn."""
        while self._to_release:
            self._release(self._to_release.pop())

    def _receive(self, w: _Worker, done_files: set[int], ready, ring, ahead: bool, batch_size: int) -> bool:
        """Take one message from ``w``; False when its pipe is closed (it died)."""
        try:
            task, pk = w.conn.recv()
        except (EOFError, OSError):
            return False
        if isinstance(pk, BaseException):
            raise RuntimeError(f"decode worker {w.wid} failed: {type(pk).__name__}: {pk}") from pk
        for fi, _k, last, _meta, _clips in pk.entries:
            if last:
                done_files.add(fi)
        done_files.update(fi for fi, _, _ in pk.failures)
        if pk.last:
            w.tasks.popleft()
        if pk.slot is not None:
            rows = ring[w.wid, pk.slot, : pk.rows]
            copied = sum(len(r) for _, r, _, wid in ready if wid < 0 and r is not None)
            if ahead or copied >= batch_size or not w.tasks:
                # handed on in its slot; the consumer releases the slot once it has the rows (a worker
                # whose slots are all held waits: what is decoded ahead stays bounded; one with nothing
                # left to do needs no copy) -- taking turns, the slot goes back at the decoders' next
                # turn, not while the model computes
                w.held += 1
                release = self._release if ahead else self._release_later
                ready.append((pk, rows, functools.partial(release, w), w.wid))
            else:  # taking turns, the first batch of a round is copied, so that the worker can go on
                # (copied by numpy: a torch copy would wake the OpenMP threads, whose spinning
                # afterwards slows the decoders still at work by ~50 %)
                ready.append((pk, torch.from_numpy(rows.numpy().copy()), _noop, -1))
                w.free.release()
        elif pk.x is not None or pk.entries or pk.failures:
            ready.append((pk, pk.x, _noop, w.wid))
        waiting = sum(len(r) for _, r, _, _ in ready if r is not None)
        self.peak_waiting_rows = max(self.peak_waiting_rows, waiting)
        return True

    def _crashed(self, w: _Worker, done_files: set[int], ready, dispatch) -> None:
        w.dead = True
        w.proc.join(1.0)  # reap it, for its exit code
        code = w.proc.exitcode
        why = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        bad = int(w.current.value)
        logger.warning(
            "a decode worker died (%s) on %s; replacing it", why, "a file" if bad < 0 else f"file {bad}"
        )
        # rows it left in its slots must not be overwritten by its successor before they are read
        for j in range(len(ready)):
            pk, rows, _, wid = ready[j]
            if wid == w.wid and pk.slot is not None:
                ready[j] = (pk, rows.clone(), _noop, -1)
        tasks = list(w.tasks)
        new = self._respawn(w)
        for _task, items in tasks:
            if bad >= 0 and bad not in done_files and any(i == bad for i, _ in items):
                done_files.add(bad)
                detail = f"the decoder process died ({why}) on this file"
                ready.append((_Packet(None, [], [(bad, "decoder_crashed", detail)]), None, _noop, -1))
            rest = [(i, p) for i, p in items if i not in done_files]
            if rest:
                dispatch(new, rest)


def _noop() -> None:
    pass


@atexit.register
def _close_shared_pool() -> None:
    pool = DecodePool._shared
    if pool is not None:
        pool.close()


@functools.cache
def _sched_getcpu() -> Callable[[], int] | None:
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).sched_getcpu
    except (OSError, AttributeError):  # pragma: no cover - not glibc/musl
        return None


def _current_cpu() -> int | None:
    """The core the calling thread runs on right now (None where the C library cannot tell)."""
    f = _sched_getcpu()
    if f is None:
        return None
    cpu = f()
    return cpu if cpu >= 0 else None


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def default_workers(strategy: str = "overlap") -> int:
    """Decode workers: ``alternate`` -- one per core (they run while the model waits);
    ``overlap`` -- one per core beyond the one the model's process uses; 1..4 either way."""
    cores = _available_cores()
    return max(1, min(4, cores if strategy == "alternate" else cores - 1))


def decode_strategy(device: torch.device | str) -> str:
    """``"alternate"`` when the model runs on the CPU with a thread on every core, else ``"overlap"``.

    See the module notes: with no core to spare, decoding and the model take turns; otherwise the
    decoders work ahead while the model computes.
    """
    if torch.device(device).type == "cpu" and torch.get_num_threads() >= _available_cores():
        return "alternate"
    return "overlap"


class _Batches:
    """Model batches assembled from decoded rows: ``batch_size``-row float tensors, allocated once and
    refilled. Raw ``uint8`` rows are normalised on the way in (see :class:`ClipTransform`)."""

    def __init__(self, batch_size: int, transform, pin: bool) -> None:
        self.batch_size = batch_size
        self.transform = transform if isinstance(transform, ClipTransform) else None
        self.pin = pin
        self.full: deque[torch.Tensor] = deque()  # completed batches, oldest first
        self.current: torch.Tensor | None = None
        self.filled = 0
        self.spare: list[torch.Tensor] = []

    def __len__(self) -> int:
        return len(self.full) * self.batch_size + self.filled

    def add(self, rows: torch.Tensor) -> None:
        shape = (rows.shape[2], rows.shape[1], *rows.shape[3:]) if self.transform else tuple(rows.shape[1:])
        start = 0
        while start < len(rows):
            if self.current is None or tuple(self.current.shape[1:]) != shape:
                if self.current is not None and self.filled:
                    raise InternVideoError(f"clips of different shapes in one batch: {shape}")
                self.current = self._new(shape)
                self.filled = 0
            k = min(len(rows) - start, self.batch_size - self.filled)
            dst = self.current[self.filled : self.filled + k]
            if self.transform is not None:
                self.transform.normalize(rows[start : start + k], out=dst)
            else:
                dst.copy_(rows[start : start + k])
            self.filled += k
            start += k
            if self.filled == self.batch_size:
                self.full.append(self.current)
                self.current, self.filled = None, 0

    def _new(self, shape: tuple[int, ...]) -> torch.Tensor:
        while self.spare:
            t = self.spare.pop()
            if tuple(t.shape[1:]) == shape:
                return t
        return torch.empty((self.batch_size, *shape), pin_memory=self.pin)

    def take(self) -> torch.Tensor:
        """The oldest full batch, or what there is when none is full."""
        if self.full:
            return self.full.popleft()
        assert self.current is not None
        out = self.current[: self.filled]
        self.current, self.filled = None, 0
        return out

    def recycle(self, x: torch.Tensor) -> None:
        base = x if x._base is None else x._base
        if len(base) == self.batch_size and len(self.spare) < 2:
            self.spare.append(base)


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
    """Decode ``files`` and embed their clips in batches; yields one result per file.

    ``encode`` maps a float ``(B, C, T, H, W)`` batch to ``(B, D)``. ``workers`` is the number of decoder
    processes (``None``: :func:`default_workers`; ``0``: decode in the calling thread); whether they work
    ahead of the model or take turns with it is :func:`decode_strategy`'s choice. Results come in the
    order files complete (a file completes once all its clips are embedded); each carries its position
    in ``files``. ``progress`` shows a tqdm bar (a string sets its description).
    """
    from tqdm.auto import tqdm

    files = [Path(f) for f in files]
    if not files:
        return
    device = torch.device(device)
    strategy = decode_strategy(device)
    workers = default_workers(strategy) if workers is None else max(0, int(workers))
    workers = min(workers, len(files))
    if workers and "fork" not in torch.multiprocessing.get_all_start_methods():
        logger.info("no 'fork' start method on this platform: decoding in the calling thread")
        workers = 0
    logger.debug("decoding with %d workers (%s)", workers, strategy)
    batches = _Batches(batch_size, transform, pin=device.type == "cuda")
    pending: dict[int, FileResult] = {}
    chunks_seen: dict[int, int] = {}
    chunks_total: dict[int, int] = {}
    owners: deque[tuple[int, int]] = deque()  # (file index, clip number) of every buffered row
    vecs: dict[int, list[np.ndarray | None]] = {}
    bar = tqdm(
        total=len(files),
        unit="video",
        desc=progress if isinstance(progress, str) else "embedding",
        disable=not progress,
        dynamic_ncols=True,
    )

    def flush() -> list[FileResult]:
        """Embed the oldest batch; return the files this completes."""
        x = batches.take()
        now = [owners.popleft() for _ in range(len(x))]
        with torch.inference_mode():
            out = encode(x.to(device, non_blocking=True)).float().cpu().numpy()
        if pool is not None:  # taking turns: the decoders' turn begins now, not once the results are handled
            pool.start_round()
        batches.recycle(x)
        for row, (fi, ci) in zip(out, now):
            if fi in vecs:  # a file that failed after its first chunk was dropped
                vecs[fi][ci] = row
        done = sorted({fi for fi, _ in now if fi in pending})
        return [r for fi in done if (r := _complete(fi)) is not None]

    def _complete(fi: int) -> FileResult | None:
        r = pending[fi]
        if fi not in chunks_total or chunks_seen[fi] != chunks_total[fi]:
            return None
        if any(v is None for v in vecs[fi]):
            return None
        r.vectors = np.stack(vecs.pop(fi)).astype(np.float32, copy=False)
        del pending[fi]
        return r

    pool: DecodePool | None = None
    if workers > 0:  # the pool's lock is held from here to the ``finally`` below
        pool, shared = DecodePool.acquire(workers)
        stream = pool.run(files, planner, transform, batch_size, strategy == "overlap")
    else:
        stream = (
            (pk, pk.x, _noop)
            for pk in _decode_packets(list(enumerate(files)), planner, transform, batch_size)
        )
    try:
        for packet, rows, release in stream:
            for fi, k, last, meta, clips in packet.entries:
                r = pending.setdefault(fi, FileResult(fi, files[fi], meta=meta))
                vecs.setdefault(fi, [])
                base = len(r.clips)
                r.clips.extend(clips)
                vecs[fi].extend([None] * len(clips))
                chunks_seen[fi] = chunks_seen.get(fi, 0) + 1
                if last:
                    chunks_total[fi] = k + 1
                owners.extend((fi, base + j) for j in range(len(clips)))
            if rows is not None:
                batches.add(rows)
            release()
            for fi, reason, detail in packet.failures:
                if fi in pending:  # failed part-way through: forget what was decoded so far
                    del pending[fi], vecs[fi]
                    chunks_seen.pop(fi, None)
                bar.update(1)
                yield FileResult(fi, files[fi], reason=reason, detail=detail)
            while batches.full:
                for done in flush():
                    bar.update(1)
                    yield done
        while len(batches):
            for done in flush():
                bar.update(1)
                yield done
    finally:
        stream.close()
        if pool is not None:
            pool.lock.release()
            if not shared:
                pool.close()
        bar.close()
