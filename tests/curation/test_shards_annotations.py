"""Tar shards (deterministic writer, streaming reader) and the released-annotation readers."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader

from internvideo.curation import (
    read_annotations,
    read_internvid,
    read_internvideo2,
    read_manifest,
    write_manifest,
)
from internvideo.curation.annotations import parse_timestamp
from internvideo.data.shards import ShardDataset, iter_shard, list_shards, write_shard
from internvideo.data.transforms import build_eval_transform
from internvideo.errors import InternVideoError


def _samples(videos: list[Path]) -> list[tuple[str, dict[str, bytes]]]:
    out = []
    for i, v in enumerate(videos):
        meta = {"caption": f"caption {i}", "index": i, "label": i % 2}
        out.append((f"clip-{i:03d}", {"mp4": v.read_bytes(), "json": json.dumps(meta).encode()}))
    return out


def test_shards_are_deterministic_and_round_trip(tmp_path: Path, cut_videos) -> None:
    samples = _samples([p for p, _, _ in cut_videos])
    write_shard(tmp_path / "a.tar", samples)
    write_shard(tmp_path / "b.tar", samples)
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    with tarfile.open(tmp_path / "a.tar") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == [f"clip-{i:03d}.{e}" for i in range(3) for e in ("json", "mp4")]
    assert all(m.mtime == 0 and m.uid == 0 and m.uname == "" for m in members)
    back = list(iter_shard(tmp_path / "a.tar"))
    assert back == samples
    with pytest.raises(InternVideoError, match="bad sample key"):
        write_shard(tmp_path / "c.tar", [("a.b", {"json": b"{}"})])


def test_shard_dataset_yields_video_text_items(tmp_path: Path, cut_videos) -> None:
    samples = _samples([p for p, _, _ in cut_videos] * 2)
    samples = [(f"clip-{i:03d}", m) for i, (_, m) in enumerate(samples)]
    for i in range(0, 6, 2):  # three shards of two
        write_shard(tmp_path / f"shard-{i // 2:06d}.tar", samples[i : i + 2])
    assert len(list_shards(tmp_path)) == 3
    ds = ShardDataset(tmp_path, num_frames=4, sampling="middle", transform=build_eval_transform(32))
    items = list(ds)
    assert [it["caption"] for it in items] == [f"caption {i}" for i in range(6)]
    assert [it["index"] for it in items] == list(range(6))
    assert items[0]["video"].shape == (3, 4, 32, 32) and items[0]["video"].dtype == torch.float32
    assert [it["label"] for it in items] == [0, 1, 0, 1, 0, 1]
    # raw frames equal a direct decode of the same clip with the same sampling
    raw = next(iter(ShardDataset(tmp_path / "shard-000000.tar", num_frames=4)))["video"]
    from internvideo.data.video import load_video

    assert torch.equal(raw, load_video(cut_videos[0][0], num_frames=4, sampling="middle", backend="pyav"))
    # two DataLoader workers split the shards: every sample exactly once
    loader = DataLoader(ShardDataset(tmp_path, num_frames=2), batch_size=None, num_workers=2)
    assert sorted(it["caption"] for it in loader) == sorted(it["caption"] for it in items)


INTERNVID_SAMPLE = """\
{"YoutubeID": "qi3n35jW_Vw", "Start_timestamp": "00:05:20.120", "End_timestamp": "00:05:24.320", "Caption": "a young man standing in front of a lake", "Aesthetic_Score": 4.304688, "UMT_Score": 0.401367}
{"YoutubeID": "n_HiT103uyU", "Start_timestamp": "00:02:49.867", "End_timestamp": "00:02:52.200", "Caption": "a website that shows an image", "UMT_Score": 0.478271}

{"YoutubeID": "7ozusQqrRww", "Start_timestamp": "01:00:10.437", "End_timestamp": "01:00:11.757", "Caption": "the shoes are on fire"}
"""

INTERNVIDEO2_SAMPLE = [
    {
        "video": "AbCdEfGhIjK_000123.mp4",
        "video_fps": 30.0,
        "video_start_frame": 90,
        "video_end_frame": 240,
        "av_captions": "a man talks while a dog barks",
        "selected_video_caption": "a man and a dog",
    },
    {
        "video_name": "ZyXwVuTsRqP_9.mp4",
        "selected_video_caption": "a car drives by",
        "start": 1.5,
        "end": 4.0,
    },
]


def test_internvid_reader(tmp_path: Path) -> None:
    p = tmp_path / "internvid.jsonl"
    p.write_text(INTERNVID_SAMPLE)
    rows = read_internvid(p)
    assert len(rows) == 3
    r = rows[0]
    assert r["source_id"] == "qi3n35jW_Vw" and r["caption"] == "a young man standing in front of a lake"
    assert r["start"] == pytest.approx(5 * 60 + 20.12) and r["end"] == pytest.approx(5 * 60 + 24.32)
    assert r["duration"] == pytest.approx(4.2)
    assert r["vt_score"] == pytest.approx(0.401367) and r["vt_model"] == "UMT"
    assert r["aesthetic_score"] == pytest.approx(4.304688) and r["caption_source"] == "given"
    assert r["clip_id"] == "qi3n35jW_Vw_000320120_000324320"
    assert rows[1]["aesthetic_score"] is None and rows[2]["vt_score"] is None
    assert rows[2]["start"] == pytest.approx(3610.437)
    assert [r["index"] for r in rows] == [0, 1, 2]
    assert read_annotations(p) == rows  # format detected
    write_manifest(tmp_path / "m.parquet", rows)
    assert read_manifest(tmp_path / "m.parquet") == rows
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"YoutubeID": "x", "Caption": "no times"}\n')
    with pytest.raises(InternVideoError, match="bad.jsonl:1"):
        read_internvid(bad)


def test_internvideo2_reader(tmp_path: Path) -> None:
    p = tmp_path / "iv2.json"
    p.write_text(json.dumps(INTERNVIDEO2_SAMPLE))
    rows = read_annotations(p)
    assert rows == read_internvideo2(p)
    a, b = rows
    assert a["source_id"] == "AbCdEfGhIjK"  # the first 11 characters, as InternVid's sampler reads them
    assert (a["start_frame"], a["end_frame"], a["fps"]) == (90, 240, 30.0)
    assert a["start"] == pytest.approx(3.0) and a["end"] == pytest.approx(8.0)
    assert a["caption"] == "a man talks while a dog barks"  # the audio-visual-speech caption first
    assert b["source_id"] == "ZyXwVuTsRqP" and b["caption"] == "a car drives by"
    assert b["start"] == pytest.approx(1.5) and b["duration"] == pytest.approx(2.5)


def test_parse_timestamp() -> None:
    assert parse_timestamp("00:00:01.5") == pytest.approx(1.5)
    assert parse_timestamp("02:03.25") == pytest.approx(123.25)
    assert parse_timestamp(7) == 7.0
    with pytest.raises(ValueError):
        parse_timestamp("soon")
