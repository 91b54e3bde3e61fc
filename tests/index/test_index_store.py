"""build_index: the index layout, vectors against direct encoding, segments, incremental runs, settings."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from internvideo.data import VideoReader, build_eval_transform, middle_indices
from internvideo.data.synth import read_manifest
from internvideo.index import VideoIndex, VideoIndexError, build_index, preprocessing_for
from internvideo.index.pipeline import SegmentPlan, VideoMeta
from internvideo.index.store import IndexWriter


def _reference(model, path: str, frames: list[int]) -> np.ndarray:
    """The embedding computed by hand: decode the frames, squash-resize + normalise, encode_video."""
    with VideoReader(path) as r:
        x = r.get_frames(frames)
    tf = build_eval_transform(model.cfg.vision.img_size, mode="squash")
    with torch.inference_mode():
        return model.encode_video(tf(x)[None], normalize=True)[0].numpy()


def test_segment_plan_windows() -> None:
    meta = VideoMeta(duration=10.0, fps=30.0, num_frames=300, width=4, height=4, codec="h264")
    clips = SegmentPlan(8, window=4.0, stride=3.0)(meta)
    assert [c.kind for c in clips] == ["video", "segment", "segment", "segment"]
    assert [(c.start, c.end) for c in clips[1:]] == [(0.0, 4.0), (3.0, 7.0), (6.0, 10.0)]
    assert list(clips[0].frames) == middle_indices(8, 300)
    assert list(clips[2].frames) == [90 + i for i in middle_indices(8, 120)]
    # the last window is moved back so that it ends with the video
    clips = SegmentPlan(8, window=4.0, stride=4.0)(meta)
    assert [(c.start, c.end) for c in clips[1:]] == [(0.0, 4.0), (4.0, 8.0), (6.0, 10.0)]
    # videos no longer than one window get the whole-video clip only
    assert [c.kind for c in SegmentPlan(8, window=10.0, stride=5.0)(meta)] == ["video"]


def test_index_layout_vectors_and_segments(world, model, tmp_path: Path) -> None:
    out = tmp_path / "idx"
    report = build_index([world["test"].parent / "videos"], out, model, window=4.0, stride=2.0, workers=1)
    assert (report.scanned, report.embedded, report.unchanged, report.new_failures) == (11, 11, 0, 0)
    idx = VideoIndex.open(out)
    h = idx.header
    assert h["format"] == "internvideo-index" and h["model"]["fingerprint"] == model.fingerprint
    assert h["preprocessing"] == preprocessing_for(model).to_dict()
    assert h["preprocessing"]["num_frames"] == 8 and h["preprocessing"]["img_size"] == 56
    assert h["segments"] == {"window": 4.0, "stride": 2.0}
    assert h["dim"] == 32 and idx.vectors.shape == (len(idx.items), 32)
    # 10 short clips (2 s, no segments) + the 12 s video and its 5 segments
    assert len(idx.items) == 10 + 1 + 5 and h["videos"] == 11
    assert sorted(os.listdir(out)) == [
        "failed-000001.jsonl",
        "index.json",
        "items-000001.jsonl",
        "vectors-000001.npy",
    ]
    paths = [it["path"] for it in idx.items]
    assert paths == sorted(paths) and [it["row"] for it in idx.items] == list(range(len(idx.items)))
    np.testing.assert_allclose(np.linalg.norm(idx.vectors, axis=1), 1.0, atol=1e-5)

    long_row = read_manifest(world["long_test"])[0]
    segs = [
        it
        for it in idx.items
        if it["path"] == str(Path(long_row["video_path"]).resolve()) and it["kind"] == "segment"
    ]
    assert [(s["start"], s["end"]) for s in segs] == [
        (0.0, 4.0),
        (2.0, 6.0),
        (4.0, 8.0),
        (6.0, 10.0),
        (8.0, 12.0),
    ]
    assert segs[1]["id"].endswith("@2.000-6.000") and segs[1]["fps"] == 8.0 and segs[1]["num_frames"] == 96

    # vectors equal a hand-made encoding: a short clip (middle of 16 frames) and the segment 2-6 s (frames 16..47)
    clip = read_manifest(world["test"])[3]
    row = idx.rows_of(str(Path(clip["video_path"]).resolve()))[0]
    np.testing.assert_allclose(
        idx.vectors[row], _reference(model, clip["video_path"], middle_indices(8, 16)), atol=1e-5
    )
    seg_frames = [16 + i for i in middle_indices(8, 32)]
    np.testing.assert_allclose(
        idx.vectors[segs[1]["row"]], _reference(model, long_row["video_path"], seg_frames), atol=1e-5
    )


def test_incremental_runs(world, model, tmp_path: Path) -> None:
    src = tmp_path / "videos"
    shutil.copytree(world["test"].parent / "videos" / "test", src)
    out = tmp_path / "idx"
    build_index([src], out, model, workers=0)
    first = VideoIndex.open(out, mmap=False)
    assert len(first) == 10

    again = build_index([src], out, model, workers=0)
    assert (again.embedded, again.unchanged, again.pruned) == (0, 10, 0)
    assert sorted(os.listdir(out)) == [
        "failed-000002.jsonl",
        "index.json",
        "items-000002.jsonl",
        "vectors-000002.npy",
    ]
    np.testing.assert_array_equal(VideoIndex.open(out).vectors, first.vectors)

    files = sorted(src.glob("*.mp4"))
    # a changed file is embedded again: swap the contents of two clips, a deleted one is dropped
    a, b = files[0].read_bytes(), files[1].read_bytes()
    files[0].write_bytes(b)
    files[1].write_bytes(a)
    files[2].unlink()
    third = build_index([src], out, model, workers=0)
    assert (third.embedded, third.unchanged, third.pruned) == (2, 7, 1)
    idx = VideoIndex.open(out)
    assert len(idx) == 9 and str(files[2].resolve()) not in {it["path"] for it in idx.items}
    old = {it["path"]: first.vectors[it["row"]] for it in first.items}
    new = {it["path"]: idx.vectors[it["row"]] for it in idx.items}
    p0, p1 = str(files[0].resolve()), str(files[1].resolve())
    np.testing.assert_allclose(new[p0], old[p1], atol=1e-6)  # the contents moved, so did the vectors
    np.testing.assert_allclose(new[p1], old[p0], atol=1e-6)
    for p in set(new) - {p0, p1}:
        np.testing.assert_array_equal(new[p], old[p])


def test_other_settings_are_refused(world, model, tmp_path: Path) -> None:
    src = world["test"].parent / "videos" / "test"
    out = tmp_path / "idx"
    build_index([src / "test_000000.mp4"], out, model, workers=0)
    with pytest.raises(VideoIndexError, match="segments"):
        build_index([src / "test_000000.mp4"], out, model, window=4.0, stride=2.0, workers=0)
    header = json.loads((out / "index.json").read_text())
    assert header["segments"] == {"window": 0.0, "stride": 0.0}  # untouched


def test_damaged_vectors_are_reported_not_raised_raw(world, model, tmp_path: Path) -> None:
    """A vectors file cut short or overwritten gives a VideoIndexError naming it, for both ways of opening."""
    src = world["test"].parent / "videos" / "test"
    out = tmp_path / "idx"
    build_index([src / "test_000000.mp4", src / "test_000001.mp4"], out, model, workers=0)
    vec = out / json.loads((out / "index.json").read_text())["files"]["vectors"]
    data = vec.read_bytes()
    for damaged in (data[: len(data) // 2], b"not an array" * 20):
        vec.write_bytes(damaged)
        for mmap in (True, False):
            with pytest.raises(VideoIndexError, match=f"{vec.name} cannot be read.*damaged"):
                VideoIndex.open(out, mmap=mmap)


def test_one_writer_at_a_time(model, tmp_path: Path) -> None:
    settings = {"model": {"fingerprint": "x"}, "preprocessing": {}, "segments": {}}
    with IndexWriter(tmp_path / "idx", settings):
        with pytest.raises(VideoIndexError, match="another 'internvideo index' run"):
            IndexWriter(tmp_path / "idx", settings).open()
    with IndexWriter(tmp_path / "idx", settings):  # released
        pass


def test_whole_video_vector_is_the_normalised_mean_of_its_segments() -> None:
    import numpy as np

    from internvideo.index.build import with_whole_video
    from internvideo.index.pipeline import Clip

    meta = VideoMeta(10.0, 8.0, 80, 64, 64, "h264")
    plan = SegmentPlan(8, window=6.0, stride=4.0, whole=False)
    segs = plan(meta)
    assert [(c.kind, c.start, c.end) for c in segs] == [("segment", 0.0, 6.0), ("segment", 4.0, 10.0)]
    v = np.array([[0.6, 0.8], [0.0, 1.0]], np.float32)
    clips, out = with_whole_video(meta, segs, v)
    assert [(c.kind, c.start, c.end) for c in clips] == [
        ("video", 0.0, 10.0),
        *[(c.kind, c.start, c.end) for c in segs],
    ]
    mean = np.array([0.3, 0.9]) / np.linalg.norm([0.3, 0.9])
    np.testing.assert_allclose(out[0], mean, atol=1e-6)
    np.testing.assert_array_equal(out[1:], v)
    # a video too short for segments is planned (and kept) as its whole clip
    short = VideoMeta(4.0, 8.0, 32, 64, 64, "h264")
    (only,) = plan(short)
    assert only.kind == "video" and len(only.frames) == 8
    same = with_whole_video(short, [only], v[:1])
    assert same[0] == [only] and np.array_equal(same[1], v[:1])
    assert isinstance(only, Clip)
