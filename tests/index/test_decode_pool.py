"""The decode pool behind every embedding command: same results as decoding in-process, whatever the
strategy; a decoder process that dies costs only the file it was decoding; interrupted and concurrent
jobs leave a working pool."""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from internvideo.index.model import preprocessing_for
from internvideo.index.pipeline import (
    DecodePool,
    FileResult,
    SegmentPlan,
    VideoMeta,
    decode_strategy,
    encode_files,
)

CRASH_FRAMES = 13  # a video with this many frames kills the decoder that plans it


@dataclass(frozen=True)
class CrashingPlan:
    """A real planner that SIGKILLs its own process on one video (a decoder crash, e.g. in FFmpeg)."""

    inner: SegmentPlan

    def __call__(self, info: VideoMeta):
        if info.num_frames == CRASH_FRAMES and os.getpid() != MAIN_PID:
            os.kill(os.getpid(), signal.SIGKILL)
        return self.inner(info)


MAIN_PID = os.getpid()


@dataclass(frozen=True)
class BuggyPlan:
    """A real planner with a bug that shows on one video (an exception nobody anticipated)."""

    inner: SegmentPlan

    def __call__(self, info: VideoMeta):
        if info.num_frames == CRASH_FRAMES:
            return [][0]  # IndexError
        return self.inner(info)


@pytest.fixture(scope="module")
def files(world) -> list[Path]:
    short = sorted((world["test"].parent / "videos" / "test").glob("*.mp4"))
    long = sorted((world["test"].parent / "videos" / "long_test").glob("*.mp4"))
    return [*short, *long]


@pytest.fixture(scope="module")
def crash_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from internvideo.data.synth import generate_world

    out = tmp_path_factory.mktemp("crash")
    generate_world(
        out,
        num_clips={"test": 1},
        size=64,
        fps=8.0,
        num_frames=CRASH_FRAMES,
        seed=1,
        workers=1,
        progress=False,
    )
    return next((out / "videos" / "test").glob("*.mp4"))


def _run(model, files, workers, plan=None, batch_size=4) -> dict[Path, FileResult]:
    pre = preprocessing_for(model)
    plan = plan or SegmentPlan(pre.num_frames, pre.sampling, window=4.0, stride=2.0)
    out = encode_files(
        files, plan, pre.transform(), lambda x: model.encode_video(x, normalize=True), batch_size, workers
    )
    return {r.path: r for r in out}


def _same(a: dict[Path, FileResult], b: dict[Path, FileResult]) -> None:
    assert a.keys() == b.keys()
    for path, r in a.items():
        assert r.ok and b[path].ok, (r.reason, b[path].reason)
        assert [(c.kind, c.start, c.end, c.frames) for c in r.clips] == [
            (c.kind, c.start, c.end, c.frames) for c in b[path].clips
        ]
        # batches are composed differently (which clips share a batch), so GEMM blocking may differ
        np.testing.assert_allclose(r.vectors, b[path].vectors, rtol=0, atol=1e-6)


@pytest.fixture(scope="module")
def reference(model, files):
    return _run(model, files, workers=0)


def test_long_video_has_segments(reference, files) -> None:
    """The fixture exercises chunking: the 12 s video has its whole clip plus 5 segments."""
    kinds = [c.kind for c in reference[files[-1]].clips]
    assert kinds == ["video"] + ["segment"] * 5


@pytest.mark.parametrize("threads", [None, 1])
def test_pool_equals_in_process(model, files, reference, threads) -> None:
    """Both strategies (taking turns with the model, and decoding ahead) give the in-process vectors."""
    before = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)  # leaves a core free on 2+ cores: the decoders work ahead
        strategy = decode_strategy("cpu")
        if threads is None:
            assert strategy == "alternate"
        elif (os.cpu_count() or 1) > 1:
            assert strategy == "overlap"
        # 4 and 3 share the workers' slot ring (2 rows a slot), 8 needs a larger one and 4 after it a
        # smaller one again: a worker must write into the ring the main process reads
        for batch_size in (4, 3, 8, 4):
            _same(_run(model, files, workers=2, batch_size=batch_size), reference)
    finally:
        torch.set_num_threads(before)


def test_decoder_crash_costs_only_its_file(model, files, reference, crash_video) -> None:
    pre = preprocessing_for(model)
    plan = CrashingPlan(SegmentPlan(pre.num_frames, pre.sampling, window=4.0, stride=2.0))
    mixed = [*files[:5], crash_video, *files[5:]]
    got = _run(model, mixed, workers=2, plan=plan)
    bad = got.pop(crash_video)
    assert bad.reason == "decoder_crashed" and "signal 9" in bad.detail
    _same(got, reference)
    # the pool replaced the worker and keeps serving
    _same(_run(model, files, workers=2), reference)


@pytest.mark.parametrize("workers", [2, 0])
def test_an_unexpected_error_costs_only_its_file(model, files, reference, crash_video, workers) -> None:
    """A reader bug on an odd file is that file's failure (reported as an internal error), not the run's."""
    pre = preprocessing_for(model)
    plan = BuggyPlan(SegmentPlan(pre.num_frames, pre.sampling, window=4.0, stride=2.0))
    got = _run(model, [*files[:3], crash_video, *files[3:]], workers=workers, plan=plan)
    bad = got.pop(crash_video)
    assert bad.reason == "decode_failed" and bad.detail.startswith("internal error: IndexError")
    _same(got, reference)


def test_interrupted_job_leaves_a_working_pool(model, files, reference) -> None:
    pre = preprocessing_for(model)
    gen = encode_files(
        files,
        SegmentPlan(pre.num_frames, pre.sampling, window=4.0, stride=2.0),
        pre.transform(),
        lambda x: model.encode_video(x, normalize=True),
        2,
        2,
    )
    first = next(gen)
    assert first.ok
    gen.close()  # the consumer stops part-way (an exception, Ctrl-C, a break)
    _same(_run(model, files, workers=2), reference)


def test_concurrent_jobs_get_their_own_pool(model, files, reference) -> None:
    results: list[dict[Path, FileResult]] = []
    errors: list[BaseException] = []

    def job() -> None:
        try:
            results.append(_run(model, files, workers=2))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=job) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(results) == 2
    for r in results:
        _same(r, reference)


@pytest.mark.parametrize("threads", [None, 1])
def test_decoding_ahead_of_the_model_is_bounded(model, files, tmp_path, threads) -> None:
    """Many clips per video: the rows decoded and not yet embedded stay within a batch plus the
    workers' slots, whether the decoders take turns with the model or work ahead of it."""
    import shutil

    long = [shutil.copy(files[-1], tmp_path / f"long{k}.mp4") for k in range(3)]
    pre = preprocessing_for(model)
    plan = SegmentPlan(pre.num_frames, pre.sampling, window=0.5, stride=0.25)
    batch_size, workers = 4, 2
    before = torch.get_num_threads()
    try:
        if threads is not None:
            torch.set_num_threads(threads)
        got = _run(model, long, workers=workers, plan=plan, batch_size=batch_size)
    finally:
        torch.set_num_threads(before)
    ref = _run(model, long, workers=0, plan=plan, batch_size=batch_size)
    _same(got, ref)
    clips = sum(len(r.clips) for r in got.values())
    assert clips > 100
    limit = -(-batch_size // workers)  # clips per packet
    bound = batch_size + limit - 1 + workers * DecodePool.depth * limit
    peak = DecodePool._shared.peak_waiting_rows
    assert 0 < peak <= bound, (peak, bound, clips)


def test_pool_is_reused_and_closes() -> None:
    a, shared = DecodePool.acquire(1)
    a.lock.release()
    b, _ = DecodePool.acquire(1)
    b.lock.release()
    assert shared and a is b
    procs = [w.proc for w in a.workers]
    a.close()
    assert all(not p.is_alive() for p in procs)
    c, _ = DecodePool.acquire(1)
    c.lock.release()
    assert c is not a and not c.closed


@pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2, reason="needs 2 cores"
)
def test_taking_turns_wakes_the_worker_on_this_core_last() -> None:
    """A worker woken on the waker's own core takes it at once, delaying the other workers' tasks."""
    from internvideo.index.pipeline import _current_cpu

    pool = DecodePool(2)
    mine = os.sched_getaffinity(0)
    try:
        pool._pin(True)
        assert sorted(w.core for w in pool.workers) == sorted(mine)[:2]
        for w in pool.workers:
            assert os.sched_getaffinity(w.proc.pid) == {w.core}
        for core in sorted(mine)[:2]:
            os.sched_setaffinity(0, {core})
            assert _current_cpu() == core
            order = pool._dispatch_order()
            assert order[-1].core == core and len(order) == 2
        pool._pin(False)
        assert [w.core for w in pool.workers] == [None, None]
    finally:
        os.sched_setaffinity(0, mine)
        pool.close()
