"""Quality signals against hand-computed values, filtering rules, near-duplicate removal, diversity sampling."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from internvideo.curation import FilterConfig, QualityConfig, SelectConfig, quality_signals
from internvideo.curation.select import (
    dedup_clips,
    diversity_sample,
    filter_reason,
    inverse_frequency_weights,
)
from internvideo.curation.synthetic import encode_frames


def _test_frames() -> np.ndarray:
    """10 black frames, 20 frozen grey frames, 20 frames of a white square moving 3 px per frame."""
    f = np.zeros((50, 64, 80, 3), dtype=np.uint8)
    f[10:] = 128
    for t in range(30, 50):
        x = 4 + 3 * (t - 30)
        f[t, 20:36, x : x + 16] = 230
    return f


def test_quality_signals_match_hand_computed_values(tmp_path: Path) -> None:
    frames = _test_frames()
    p = tmp_path / "q.mp4"
    encode_frames(p, [frames], fps=25.0, crf=4)
    q = quality_signals(p, QualityConfig(downscale=80))  # measured at full resolution
    assert q["num_frames"] == 50 and q["duration"] == pytest.approx(2.0)
    assert (q["width"], q["height"]) == (80, 64)
    assert q["black_ratio"] == pytest.approx(10 / 50, abs=1e-4)
    # static pairs: 9 black->black and 19 grey->grey; the rest change
    assert q["static_ratio"] == pytest.approx(28 / 49, abs=1e-4)  # stored with 4 decimals
    # motion: mean |luma difference| over consecutive frames, computed on the raw frames
    y = frames.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    want = np.abs(np.diff(y, axis=0)).mean(axis=(1, 2)).mean()
    assert q["motion_score"] == pytest.approx(want, abs=0.15)
    assert np.linalg.norm(q["signature"]) == pytest.approx(1.0, abs=1e-4)


def test_filter_rules() -> None:
    cfg = FilterConfig(
        min_duration=1.0, max_duration=10.0, min_short_side=64, min_motion=0.5, min_vt_score=0.2
    )
    ok = {
        "duration": 2.0,
        "width": 80,
        "height": 64,
        "black_ratio": 0.0,
        "static_ratio": 0.1,
        "motion_score": 2.0,
        "vt_score": 0.3,
    }
    assert filter_reason(ok, cfg) is None
    cases = {
        "too_short": {"duration": 0.5},
        "too_long": {"duration": 11.0},
        "low_resolution": {"height": 48},
        "black": {"black_ratio": 0.8},
        "static": {"static_ratio": 0.99},
        "low_motion": {"motion_score": 0.1},
        "low_vt_score": {"vt_score": 0.1},
        "no_score": {"vt_score": None},
    }
    for reason, change in cases.items():
        got = filter_reason({**ok, **change}, cfg)
        assert got is not None and got[0] == reason, (reason, got)
    assert filter_reason({**ok, "vt_score": None}, FilterConfig()) is None  # rule off


def _clip(cid: str, src: str, vec: list[float]) -> dict:
    return {"clip_id": cid, "source_id": src, "signature": vec}


def test_dedup_keeps_the_first_of_near_duplicates() -> None:
    clips = [
        _clip("b-0", "b", [1.0, 0.0, 0.0]),
        _clip("a-0", "a", [0.999, 0.02, 0.0]),  # cos 0.9998 with b-0
        _clip("a-1", "a", [0.0, 1.0, 0.0]),
        _clip("c-0", "c", [0.7, 0.7, 0.0]),  # cos 0.707 with both: kept
        _clip("c-1", "c", [0.0, 0.0, 0.0]),  # nothing to compare: kept
    ]
    kept, dropped = dedup_clips(clips, SelectConfig(dedup_threshold=0.98))
    assert [c["clip_id"] for c in kept] == ["a-0", "a-1", "c-0", "c-1"]
    assert [(c["clip_id"], why.split(" (")[0]) for c, why in dropped] == [("b-0", "near duplicate of a-0")]
    kept, dropped = dedup_clips(clips, SelectConfig(dedup=False))
    assert len(kept) == 5 and not dropped


def test_diversity_sampling_follows_inverse_frequency() -> None:
    clips = [_clip(f"a-{i}", "a", []) for i in range(8)] + [_clip(f"b-{i}", "b", []) for i in range(2)]
    w = inverse_frequency_weights(clips)
    assert w[:8] == pytest.approx([1 / 8 / 2] * 8) and w[8:] == pytest.approx([1 / 2 / 2] * 2)
    kept, dropped = diversity_sample([dict(c) for c in clips], SelectConfig(max_clips=4, seed=1))
    again, _ = diversity_sample([dict(c) for c in reversed(clips)], SelectConfig(max_clips=4, seed=1))
    assert [c["clip_id"] for c in kept] == [c["clip_id"] for c in again]  # order-independent
    assert len(kept) == 4 and len(dropped) == 6
    # each b clip has 4x the weight of an a clip: over many seeds it is drawn far more often
    hits = {c["clip_id"]: 0 for c in clips}
    for seed in range(300):
        for c in diversity_sample([dict(c) for c in clips], SelectConfig(max_clips=2, seed=seed))[0]:
            hits[c["clip_id"]] += 1
    rate_a = np.mean([hits[f"a-{i}"] for i in range(8)]) / 300
    rate_b = np.mean([hits[f"b-{i}"] for i in range(2)]) / 300
    assert rate_b > 2.5 * rate_a
    assert rate_a * 8 + rate_b * 2 == pytest.approx(2.0)
    all_kept, none = diversity_sample([dict(c) for c in clips], SelectConfig(max_clips=None))
    assert len(all_kept) == 10 and not none and all("sampling_weight" in c for c in all_kept)
