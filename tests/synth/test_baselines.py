"""The direction-pair classes need time: static features score near chance, frame differences do not."""

from __future__ import annotations

import numpy as np

from internvideo.data.synth import CLASS_INDEX, DIRECTION_PAIRS, WorldConfig, render_clip, sample_clip_spec
from internvideo.data.synth.baselines import (
    mean_frame_features,
    middle_frame_features,
    pair_accuracies,
    temporal_features,
)


def _videos(cfg: WorldConfig, split: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    vids = np.stack([render_clip(sample_clip_spec(cfg, split, i)) for i in range(n)])
    labels = np.array([CLASS_INDEX[cfg.actions[i % len(cfg.actions)]] for i in range(n)])
    return vids, labels


def test_single_and_mean_frames_are_at_chance_but_differences_are_not():
    actions = tuple(a for pair in DIRECTION_PAIRS for a in pair)
    cfg = WorldConfig(height=64, width=64, actions=actions)  # the default varied world, smaller
    v_tr, y_tr = _videos(cfg, "train", 24 * len(actions))
    v_te, y_te = _videos(cfg, "test", 12 * len(actions))
    pairs = [(CLASS_INDEX[a], CLASS_INDEX[b]) for a, b in DIRECTION_PAIRS]
    acc = {}
    for name, fn in (
        ("middle", middle_frame_features),
        ("mean", mean_frame_features),
        ("temporal", temporal_features),
    ):
        acc[name] = pair_accuracies(fn(v_tr), y_tr, fn(v_te), y_te, pairs)
    mean = {k: float(np.mean(list(v.values()))) for k, v in acc.items()}
    assert mean["middle"] <= 0.75, acc["middle"]  # chance is 0.5 within a pair
    assert mean["mean"] <= 0.75, acc["mean"]
    assert mean["temporal"] >= 0.9, acc["temporal"]
    assert min(acc["temporal"].values()) >= 0.8, acc["temporal"]
