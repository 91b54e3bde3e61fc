"""Vocabulary, config validation, specs, rendering and text of the synthetic world (no files)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from internvideo.data.synth import (
    BACKGROUNDS,
    CLASSES,
    COLOURS,
    DIRECTION_PAIRS,
    SHAPES,
    TEMPORAL_PAIRS,
    TEXTURES,
    WorldConfig,
    captions,
    moment_queries,
    qa_pairs,
    render_clip,
    render_frames,
    sample_clip_spec,
    sample_long_spec,
)
from internvideo.data.synth.captions import (
    ACTION_WORDS,
    BACKGROUND_WORDS,
    COLOUR_WORDS,
    SHAPE_WORDS,
    SIZE_WORDS,
    TEMPLATES,
    TEXTURE_WORDS,
    TWO_STEP_JOIN,
)
from internvideo.errors import ConfigError


def test_vocabulary_sizes():
    assert len(SHAPES) >= 6 and len(COLOURS) >= 8 and len(TEXTURES) >= 3 and len(CLASSES) >= 14
    assert set(BACKGROUNDS) == {"plain", "gradient", "noise", "moving_texture"}
    assert len(DIRECTION_PAIRS) == 6 and all(a in CLASSES and b in CLASSES for a, b in TEMPORAL_PAIRS)
    for vocab in (COLOUR_WORDS, SHAPE_WORDS, ACTION_WORDS):
        for train, held in vocab.values():
            assert train and held and not set(train) & set(held)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"height": 33},
        {"num_frames": 4},
        {"actions": ("flies",)},
        {"shapes": ("circle",), "actions": ("rotates_clockwise",)},
        {"distractors": (2, 1)},
        {"fps": 0},
        {"colours": ("red", "blue")},
    ],
)
def test_config_errors_are_readable(kwargs):
    with pytest.raises(ConfigError):
        WorldConfig(**kwargs)


def test_specs_are_pure_functions_of_seed_split_index():
    cfg = WorldConfig(height=64, width=64)
    a = render_clip(sample_clip_spec(cfg, "train", 5))
    _ = render_clip(sample_clip_spec(cfg, "train", 4))
    b = render_clip(sample_clip_spec(cfg, "train", 5))
    assert a.shape == (16, 64, 64, 3) and a.dtype == np.uint8 and np.array_equal(a, b)
    assert not np.array_equal(a, render_clip(sample_clip_spec(cfg, "val", 5)))
    assert not np.array_equal(
        a, render_clip(sample_clip_spec(WorldConfig(height=64, width=64, seed=1), "train", 5))
    )


def test_chunked_render_equals_full_render():
    cfg = WorldConfig(
        height=48, width=64, long_duration=10.0, camera_jitter=1.0, backgrounds=("noise", "moving_texture")
    )
    spec = sample_long_spec(cfg, "test", 0)
    full = render_clip(spec)
    parts = np.concatenate([render_frames(spec, s, s + 7) for s in range(0, spec.num_frames, 7)])
    assert full.shape == (80, 48, 64, 3) and np.array_equal(full, parts)


def test_every_class_shape_background_texture_renders():
    for i, action in enumerate(CLASSES):
        cfg = WorldConfig(
            height=48,
            width=48,
            backgrounds=(BACKGROUNDS[i % 4],),
            textures=(TEXTURES[i % 4],),
            camera_jitter=0.5,
            distractors=(1, 2),
        )
        spec = sample_clip_spec(cfg, "train", CLASSES.index(action))
        assert spec.label_name == action
        frames = render_clip(spec)
        assert frames.std() > 5
    for shape in SHAPES:
        cfg = WorldConfig(
            height=48, width=48, shapes=(shape, "rectangle"), backgrounds=("plain",), sensor_noise=0
        )
        spec = sample_clip_spec(cfg, "train", CLASSES.index("stays_still"))
        spec.objects[0].shape = shape
        spec.objects[:] = spec.objects[:1]
        f = render_clip(spec)[0].astype(int)
        covered = (np.abs(f - f[0, 0]).sum(-1) > 30).sum()
        r = float(spec.target.r[0])
        assert 0.25 * np.pi * r * r < covered < 1.15 * np.pi * r * r, shape


@pytest.mark.parametrize("pair", DIRECTION_PAIRS)
def test_direction_pairs_have_the_same_frame_distribution(pair):
    """Pooled over frames, every state variable has the same quantiles for both members of a pair."""
    cfg = WorldConfig(height=64, width=64, actions=pair)
    pooled = {}
    for k, action in enumerate(pair):
        vals = {"x": [], "y": [], "r": [], "alpha": [], "angle": []}
        for i in range(k, 2 * 300, 2):
            t = sample_clip_spec(cfg, "train", i).target
            for key in vals:
                v = getattr(t, key)
                vals[key].append(np.mod(v, np.pi) if key == "angle" else v)
        pooled[action] = {key: np.concatenate(v) for key, v in vals.items()}
    a, b = (pooled[p] for p in pair)
    qs = np.linspace(0.05, 0.95, 10)
    for key in a:
        span = np.ptp(np.concatenate([a[key], b[key]])) + 1e-6
        diff = np.abs(np.quantile(a[key], qs) - np.quantile(b[key], qs)).max() / span
        assert diff < 0.1, (pair, key, diff)  # per-clip constants make the pooled samples correlated


def _texts_of(vocab_side: int) -> set[str]:
    words: set[str] = set()
    for vocab in (COLOUR_WORDS, SHAPE_WORDS, TEXTURE_WORDS, SIZE_WORDS, BACKGROUND_WORDS, ACTION_WORDS):
        for pair in vocab.values():
            words.update(w for w in pair[vocab_side] if w)
    return words


def test_heldout_paraphrases_never_appear_in_train_captions():
    cfg = WorldConfig(height=48, width=48)
    train_caps, held_caps = [], []
    for i in range(3 * len(CLASSES)):
        spec = sample_clip_spec(cfg, "train", i)
        train_caps += captions(spec, 8)
        held_caps += captions(spec, 4, heldout=True)
    assert not set(train_caps) & set(held_caps)
    text = " | ".join(train_caps)
    held_phrases = [w.split("{")[0].strip() for w in _texts_of(1)] + [
        t.split("{")[0].strip() for t in TEMPLATES[1] + TWO_STEP_JOIN[1] if t.split("{")[0].strip()
    ]
    for phrase in held_phrases:
        assert not re.search(rf"\b{re.escape(phrase)}\b", text), phrase
    # and the held-out captions do use the held-out vocabulary
    assert all(
        any(re.search(rf"\b{re.escape(p)}\b", c) for p in held_phrases if len(p) > 3) for c in held_caps
    )


def test_qa_and_moment_queries():
    cfg = WorldConfig(height=48, width=48, with_audio=True)
    for i in range(len(CLASSES)):
        spec = sample_clip_spec(cfg, "test", i)
        qa = qa_pairs(spec)
        action_q = next(q for q in qa if q["type"] == "action")
        assert len(action_q["options"]) == 4 and 0 <= action_q["answer"] < 4
        if spec.label_name in dict(TEMPORAL_PAIRS) or spec.label_name in dict(TEMPORAL_PAIRS).values():
            assert len({o.split(",")[0] for o in action_q["options"]}) >= 2
        for q in moment_queries(spec):
            assert 0 <= q["start"] <= q["end"] <= spec.duration and q["query"]


def test_long_video_is_long_with_several_instances():
    cfg = WorldConfig(height=48, width=48)
    spec = sample_long_spec(cfg, "test", 0)
    assert spec.duration >= 60 and spec.label is None
    assert len(spec.events) >= 6
    ends = [(e["start_frame"], e["end_frame"]) for e in spec.events]
    assert all(a < b for a, b in ends) and all(ends[i][1] < ends[i + 1][0] for i in range(len(ends) - 1))
