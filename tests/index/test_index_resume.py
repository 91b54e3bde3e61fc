"""A real crash: SIGKILL ``internvideo index`` mid-run, re-run, and compare with an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from internvideo.data.synth import generate_world
from internvideo.index import VideoIndex, build_index, load_model
from internvideo.index.cli import index_main


def _leftovers(root: Path) -> list[str]:
    return [
        str(p.relative_to(root)) for p in root.rglob("*") if p.name.endswith(".tmp") or p.name == ".parts"
    ]


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:  # fields after the command: state, ppid, ...
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for_parts(proc: subprocess.Popen, parts: Path, n: int) -> None:
    """Wait until ``n`` parts are committed while ``proc`` still runs (fails if it ends first)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if parts.is_dir() and len(list(parts.glob("part-*.npz"))) >= n:
            break
        time.sleep(0.005)
    assert proc.poll() is None, f"the run ended before it could be stopped: {proc.communicate()}"


def test_sigkill_then_resume_equals_an_uninterrupted_run(model, model_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "videos"
    generate_world(src, num_clips={"test": 40}, size=64, fps=8.0, num_frames=16, workers=1, progress=False)
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    cmd = [
        sys.executable,
        "-m",
        "internvideo",
        "index",
        str(src),
        "--out",
        str(killed),
        "--model",
        str(model_dir),
    ]
    cmd += ["--batch-size", "1", "--workers", "1", "--no-progress", "--window", "0"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    parts = killed / ".parts"
    try:
        _wait_for_parts(proc, parts, 3)
        children = _children(proc.pid)
        assert children, "the run has no decode worker"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        # its decode workers notice that it is gone and exit: no orphans
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and any(_alive(c) for c in children):
            time.sleep(0.05)
        assert not [c for c in children if _alive(c)]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    committed = len(list(parts.glob("part-*.npz")))
    assert committed >= 3 and not (killed / "index.json").exists()
    # what a kill in the middle of a write leaves: a temporary file beside its final name
    (parts / ".part-999999.npz.abcd.tmp").write_bytes(b"half a part")

    assert (
        index_main([str(src), "--out", str(killed), "--model", str(model_dir), "--window", "0", "--json"])
        == 0
    )
    build_index([src], clean, model, window=0.0, workers=1)

    a, b = VideoIndex.open(killed), VideoIndex.open(clean)
    assert [it["id"] for it in a.items] == [it["id"] for it in b.items] and len(a) == 40
    np.testing.assert_allclose(a.vectors, b.vectors, rtol=0, atol=1e-6)
    assert a.header["count"] == b.header["count"] and a.header["model"] == b.header["model"]
    assert _leftovers(killed) == [] and _leftovers(clean) == []
    assert sorted(os.listdir(killed)) == [
        "failed-000001.jsonl",
        "index.json",
        "items-000001.jsonl",
        "vectors-000001.npy",
    ]


def test_resume_report_counts_taken_over_files(model, tmp_path: Path, world) -> None:
    """Parts left by an interrupted run are taken over, not embedded again."""
    from internvideo.index.build import _to_record, index_settings
    from internvideo.index.model import preprocessing_for
    from internvideo.index.pipeline import SegmentPlan, encode_files
    from internvideo.index.store import IndexWriter

    src = world["test"].parent / "videos" / "test"
    files = sorted(src.glob("*.mp4"))
    out = tmp_path / "idx"
    pre = preprocessing_for(model)
    settings = index_settings(model, pre, 0.0, 0.0)
    with IndexWriter(out, settings) as w:  # an "interrupted run" that committed three files
        res = list(
            encode_files(files[:3], SegmentPlan(8), pre.transform(), lambda x: model.encode_video(x), 4, 0)
        )
        w.commit([_to_record(r, r.path.stat(), 32) for r in res], 32)
    report = build_index([src], out, model, workers=0)
    assert (report.resumed, report.embedded, report.unchanged) == (3, 7, 0)
    assert len(VideoIndex.open(out)) == 10 and not (out / ".parts").exists()


def test_a_damaged_part_is_ignored_and_its_files_embedded_again(model, tmp_path: Path, world, caplog) -> None:
    """A part cut short (say, by a disk error; parts are written atomically) is skipped with a warning."""
    from internvideo.index.build import _to_record, index_settings
    from internvideo.index.model import preprocessing_for
    from internvideo.index.pipeline import SegmentPlan, encode_files
    from internvideo.index.store import IndexWriter

    src = world["test"].parent / "videos" / "test"
    files = sorted(src.glob("*.mp4"))
    out = tmp_path / "idx"
    pre = preprocessing_for(model)
    with IndexWriter(out, index_settings(model, pre, 0.0, 0.0)) as w:
        res = list(encode_files(files[:3], SegmentPlan(8), pre.transform(), model.encode_video, 4, 0))
        part = w.commit([_to_record(r, r.path.stat(), 32) for r in res], 32)
    data = part.read_bytes()
    part.write_bytes(data[: len(data) // 2])
    report = build_index([src], out, model, workers=0)
    assert (report.resumed, report.embedded) == (0, 10)
    assert "ignoring unreadable part" in caplog.text
    assert len(VideoIndex.open(out)) == 10 and not (out / ".parts").exists()


def _part_records(parts: Path) -> list[str]:
    import json

    paths = []
    for p in sorted(parts.glob("part-*.npz")):
        with np.load(p) as z:
            paths += [r["path"] for r in json.loads(str(z["records"]))]
    return paths


def test_ctrl_c_keeps_what_was_committed_and_says_so(model_dir: Path, tmp_path: Path) -> None:
    """SIGINT (Ctrl-C) mid-run: exit code 130, a message with the number of files kept, and a re-run
    that takes them over."""
    src = tmp_path / "videos"
    generate_world(src, num_clips={"test": 40}, size=64, fps=8.0, num_frames=16, workers=1, progress=False)
    out = tmp_path / "idx"
    cmd = [sys.executable, "-m", "internvideo", "index", str(src), "--out", str(out)]
    cmd += [
        "--model",
        str(model_dir),
        "--batch-size",
        "1",
        "--workers",
        "1",
        "--no-progress",
        "--window",
        "0",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    parts = out / ".parts"
    try:
        _wait_for_parts(proc, parts, 2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    kept = _part_records(parts)
    assert len(kept) >= 2 and len(set(kept)) == len(kept)
    assert f"interrupted: {len(kept)} files committed to {out} are kept" in err, err
    assert "run the same command again" in err and "Traceback" not in err
    assert [p for p in _leftovers(out) if p != ".parts"] == []  # no half-written file
    report = build_index([src], out, load_model(model_dir), workers=1)
    assert (report.resumed, report.embedded) == (len(kept), 40 - len(kept))


def test_interrupt_commits_the_files_already_done(model, tmp_path: Path, world, monkeypatch) -> None:
    """Results waiting for the next commit (here two unreadable files, reported before any batch is
    embedded) are committed when the run is interrupted, not lost."""
    from internvideo.errors import JobInterrupted

    src = tmp_path / "videos"
    src.mkdir()
    for f in sorted((world["test"].parent / "videos" / "test").glob("*.mp4"))[:5]:
        (src / f.name).write_bytes(f.read_bytes())
    (src / "a_empty.mp4").write_bytes(b"")
    (src / "a_text.mp4").write_text("not a video")
    out = tmp_path / "idx"

    def interrupted(x, normalize=False):
        raise KeyboardInterrupt

    monkeypatch.setattr(model, "encode_video", interrupted)
    with pytest.raises(JobInterrupted, match=f"^2 files committed to {out} are kept$") as e:
        build_index([src], out, model, batch_size=4, workers=0)
    monkeypatch.undo()
    assert e.value.kept == 2 and e.value.out == str(out)
    assert sorted(Path(p).name for p in _part_records(out / ".parts")) == ["a_empty.mp4", "a_text.mp4"]
    report = build_index([src], out, model, batch_size=4, workers=0)
    assert (report.resumed, report.embedded, len(report.failures)) == (2, 5, 2)
