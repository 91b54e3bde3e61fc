"""A folder mixing good videos with broken files: every good one is indexed, every bad one is listed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av
import numpy as np

from internvideo.index import VideoIndex
from internvideo.index.cli import index_main


def _audio_only_mp4(path: Path) -> None:
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=16000)
        s.layout = "mono"
        tone = np.sin(np.linspace(0, 2000, 16000)).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        frame.sample_rate = 16000
        for p in [*s.encode(frame), *s.encode(None)]:
            c.mux(p)


def test_bad_files_are_listed_and_the_job_goes_on(world, model_dir: Path, tmp_path: Path, capsys) -> None:
    folder = tmp_path / "mixed"
    good = sorted((world["test"].parent / "videos" / "test").glob("*.mp4"))[:4]
    (folder / "sub").mkdir(parents=True)
    for i, g in enumerate(good):
        shutil.copyfile(g, folder / ("sub" if i % 2 else ".") / g.name)
    data = good[0].read_bytes()
    (folder / "zero_bytes.mp4").write_bytes(b"")
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (folder / "random_bytes.mp4").write_bytes(np.random.default_rng(0).bytes(20_000))
    (folder / "sub" / "notes.mp4").write_text("these are my holiday notes, not a video\n" * 20)
    _audio_only_mp4(folder / "audio_only.mp4")
    (folder / "readme.txt").write_text("not scanned: no video extension")

    out = tmp_path / "idx"
    rc = index_main([str(folder), "--out", str(out), "--model", str(model_dir), "--workers", "1", "--json"])
    captured = capsys.readouterr()
    assert rc == 0
    summary = json.loads(captured.out)
    expected = {
        "zero_bytes.mp4": "empty",
        "truncated.mp4": "truncated",
        "random_bytes.mp4": "not_a_video",
        "notes.mp4": "not_a_video",
        "audio_only.mp4": "no_video_stream",
    }
    assert summary["embedded"] == 4 and summary["videos"] == 4 and summary["scanned"] == 9
    assert {Path(f["path"]).name: f["reason"] for f in summary["failed"]} == expected
    # the warning summary on stderr names every bad file and its reason
    assert "warning: 5 of 9 files could not be read" in captured.err
    for name, reason in expected.items():
        assert any(name in line and reason in line for line in captured.err.splitlines()), name

    idx = VideoIndex.open(out)
    assert sorted(Path(it["path"]).name for it in idx.items) == sorted(g.name for g in good)
    assert {Path(f["path"]).name: f["reason"] for f in idx.failed} == expected
    assert all(f["detail"] for f in idx.failed if f["reason"] != "empty")

    # a re-run skips the unchanged bad files too (they are still reported) and still exits 0
    assert index_main([str(folder), "--out", str(out), "--model", str(model_dir), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["embedded"] == 0 and again["unchanged"] == 9 and len(again["failed"]) == 5


def test_nothing_readable_is_an_error(model_dir: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "a.mp4").write_bytes(b"")
    assert (
        index_main([str(tmp_path / "a.mp4"), "--out", str(tmp_path / "idx"), "--model", str(model_dir)]) == 1
    )
    assert "none of the files could be read" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert index_main([str(empty), "--out", str(tmp_path / "idx2"), "--model", str(model_dir)]) == 1
    assert "no video files found" in capsys.readouterr().err
    from internvideo.cli import main

    assert main(["index", str(tmp_path / "missing"), "--out", str(tmp_path / "idx3")]) == 1
    assert "missing: no such file or folder" in capsys.readouterr().err
    assert main(["index", str(tmp_path)]) == 2  # --out is required: a usage error
