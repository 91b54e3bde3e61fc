from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from internvideo.data.labelled import (
    LabelledRow,
    LabelledVideoDataset,
    collate_labelled,
    read_kinetics_list,
    read_labelled,
    read_ssv2_json,
    read_synth_manifest,
)
from internvideo.data.transforms import build_eval_transform
from internvideo.errors import InternVideoError


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    from internvideo.data.synth import generate_world

    root = tmp_path_factory.mktemp("lw")
    generate_world(root, num_clips={"train": 6}, size=32, num_frames=8, workers=1, progress=False)
    return root


def test_readers(tmp_path: Path, world: Path) -> None:
    (tmp_path / "k.csv").write_text("a/x.mp4,3\n/abs/y.mp4,0\n\n")
    rows = read_kinetics_list(tmp_path / "k.csv")
    assert rows == [LabelledRow(str(tmp_path / "a/x.mp4"), 3, "x"), LabelledRow("/abs/y.mp4", 0, "y")]
    (tmp_path / "s.txt").write_text("v1.webm 5\nv2.webm 100 7\n")
    rows = read_labelled(tmp_path / "s.txt", prefix="/videos")
    assert [(r.video_path, r.label) for r in rows] == [("/videos/v1.webm", 5), ("/videos/v2.webm", 7)]
    (tmp_path / "bad.csv").write_text("a.mp4,cat\n")
    with pytest.raises(InternVideoError, match="bad.csv:1"):
        read_kinetics_list(tmp_path / "bad.csv")

    (tmp_path / "labels.json").write_text(
        json.dumps({"Pushing something from left to right": "1", "Holding something": "0"})
    )
    (tmp_path / "train.json").write_text(
        json.dumps(
            [
                {"id": "11", "template": "Pushing [something] from left to right", "placeholders": ["a cup"]},
                {"id": "12", "label": "Holding something"},
            ]
        )
    )
    rows = read_ssv2_json(tmp_path / "train.json", tmp_path / "labels.json", video_dir="/ssv2")
    assert rows == [LabelledRow("/ssv2/11.webm", 1, "11"), LabelledRow("/ssv2/12.webm", 0, "12")]

    rows = read_synth_manifest(world / "train.jsonl")
    assert [r.label for r in rows] == [0, 1, 2, 3, 4, 5] and all(Path(r.video_path).is_file() for r in rows)


def test_multiview_items_and_frame_order(world: Path) -> None:
    rows = read_synth_manifest(world / "train.jsonl")
    tf = build_eval_transform(32, mode="three_crop")
    ds = LabelledVideoDataset(rows, num_frames=4, transform=tf, test_views=(2, 3), num_classes=17)
    item = ds[1]
    assert item["video"].shape == (6, 3, 4, 32, 32) and item["label"] == 1
    plain = LabelledVideoDataset(rows, num_frames=4, transform=lambda x, g: x, sampling="segment")
    rev = LabelledVideoDataset(
        rows, num_frames=4, transform=lambda x, g: x, sampling="segment", frame_order="reversed"
    )
    shuf = LabelledVideoDataset(
        rows, num_frames=4, transform=lambda x, g: x, sampling="segment", frame_order="shuffled"
    )
    a, b, c = plain[2]["video"], rev[2]["video"], shuf[2]["video"]
    assert torch.equal(b, a.flip(0))
    assert not torch.equal(c, a) and sorted(c.flatten(1).sum(1).tolist()) == sorted(
        a.flatten(1).sum(1).tolist()
    )
    assert torch.equal(shuf[2]["video"], c)  # the shuffle is fixed per item
    batch = collate_labelled([plain[0], plain[1]])
    assert batch["video"].shape == (2, 4, 3, 32, 32) and batch["label"].tolist() == [0, 1]


def test_stride_sampling_in_training_and_test_views(world: Path) -> None:
    from internvideo.data.video import VideoReader

    rows = read_synth_manifest(world / "train.jsonl")
    with VideoReader(rows[3].video_path) as r:
        every = r.get_frames(list(range(8)))  # the 8-frame clip: stride 2 for 4 frames, starts 0 or 1
    ident = lambda x, g: x  # noqa: E731
    test = LabelledVideoDataset(rows, num_frames=4, transform=ident, sampling="stride", test_views=(2, 1))
    views = test[3]["video"]  # (2 clips x 1 crop, T, C, H, W) with the identity transform
    assert torch.equal(views[0], every[[0, 2, 4, 6]]) and torch.equal(views[1], every[[1, 3, 5, 7]])
    train = LabelledVideoDataset(rows, num_frames=4, transform=ident, sampling="stride")
    seen = set()
    for epoch in range(6):
        train.set_epoch(epoch)
        clip = train[3]["video"]
        start = next(s for s in (0, 1) if torch.equal(clip, every[[s, s + 2, s + 4, s + 6]]))
        seen.add(start)
    assert seen == {0, 1}


def test_augmentation_depends_on_seed_epoch_index_only(world: Path) -> None:
    rows = read_synth_manifest(world / "train.jsonl")

    def tf(x, g):
        return x.float() + torch.rand(1, generator=g)

    ds = LabelledVideoDataset(rows, num_frames=4, transform=tf, seed=3)
    first = ds[0]["video"]
    torch.manual_seed(123)  # the global RNG plays no part
    assert torch.equal(ds[0]["video"], first)
    ds.set_epoch(1)
    assert not torch.equal(ds[0]["video"], first)


def test_corrupt_samples_are_replaced_with_a_logged_reason(world: Path, tmp_path: Path, caplog) -> None:
    good = read_synth_manifest(world / "train.jsonl")
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 50)
    rows = [LabelledRow(str(bad), 0, "broken"), *good]
    ds = LabelledVideoDataset(rows, num_frames=4, transform=lambda x, g: x)
    with caplog.at_level(logging.WARNING, logger="internvideo.data.labelled"):
        item = ds[0]
    assert item["index"] != 0 and item["video"].shape == (4, 3, 32, 32)
    assert ds.skipped and ds.skipped[0][0] == str(bad)
    assert any("broken.mp4" in r.getMessage() for r in caplog.records)
    for i in range(len(ds)):  # a whole pass never raises
        ds[i]
    cached = LabelledVideoDataset(rows, num_frames=4, cache=True)
    assert len(cached) == len(good) and cached.skipped[0][0] == str(bad)

    all_bad = LabelledVideoDataset(
        [LabelledRow(str(bad), 0), LabelledRow(str(tmp_path / "missing.mp4"), 1)], num_frames=4, max_retries=3
    )
    with pytest.raises(InternVideoError, match="could not be read"):
        all_bad[0]
