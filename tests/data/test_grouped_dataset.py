"""Hard-negative groups: every group shares the key, prefers distinct labels, and is deterministic."""

from __future__ import annotations

import pytest
import torch

from internvideo.data.datasets import GroupedDataset, VideoTextDataset, collate_video_text, flatten_groups
from internvideo.data.synth import generate_world


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> VideoTextDataset:
    root = tmp_path_factory.mktemp("world")
    manifests = generate_world(
        root, num_clips={"train": 48}, size=32, num_frames=8, workers=1, progress=False
    )
    return VideoTextDataset(manifests["train"], num_frames=4, sampling="rand", seed=3)


def _key(row):
    return row["objects"][0]["colour"]


def test_groups_share_the_key_and_prefer_distinct_labels(world: VideoTextDataset) -> None:
    ds = GroupedDataset(world, 3, key=_key, distinct=lambda r: r["label"], seed=1)
    assert len(ds) == len(world) // 3
    members: dict[str, list[int]] = {}
    for i, r in enumerate(world.rows):
        members.setdefault(_key(r), []).append(i)
    for g in range(len(ds)):
        idx = ds.indices(g)
        rows = [world.rows[i] for i in idx]
        assert len(set(idx)) == len(idx)  # no clip twice in a group
        assert {_key(r) for r in rows} == {_key(rows[0])}
        pool = members[_key(rows[0])]
        assert len(idx) == min(3, len(pool))
        available = len({world.rows[i]["label"] for i in pool})
        assert len({r["label"] for r in rows}) == min(len(idx), available)
    # anchors of one epoch are a permutation: each clip anchors at most one group
    anchors = [ds.indices(g)[0] for g in range(len(ds))]
    assert len(set(anchors)) == len(anchors)


def test_deterministic_per_epoch_and_collates_flat(world: VideoTextDataset) -> None:
    a = GroupedDataset(world, 2, key=_key, seed=5)
    b = GroupedDataset(world, 2, key=_key, seed=5)
    assert [a.indices(g) for g in range(len(a))] == [b.indices(g) for g in range(len(b))]
    first = [a.indices(g) for g in range(len(a))]
    a.set_epoch(1)
    assert world.epoch == 1  # the inner dataset re-draws its frames too
    assert [a.indices(g) for g in range(len(a))] != first
    collate = flatten_groups(
        collate_video_text(
            lambda texts: {
                "input_ids": torch.zeros(len(texts), 2, dtype=torch.long),
                "attention_mask": torch.ones(len(texts), 2, dtype=torch.long),
            }
        )
    )
    batch = collate([a[0], a[1]])
    assert batch["video"].shape[0] == 4
    assert batch["video_id"].tolist() == a.indices(0) + a.indices(1)
    with pytest.raises(ValueError, match="group_size"):
        GroupedDataset(world, 0, key=_key)
