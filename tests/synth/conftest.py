"""Shared fixtures of the synthetic-world tests: small generated worlds and a PyAV decoding helper."""

from __future__ import annotations

from pathlib import Path

import pytest
from synth_helpers import SIZE, small_world

from internvideo.data.synth import CLASSES, generate_world


@pytest.fixture(scope="session")
def plain_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every class twice on a plain background (no distractors, noise, jitter or textures)."""
    out = tmp_path_factory.mktemp("plain_world")
    return generate_world(
        out,
        num_clips={"train": 2 * len(CLASSES)},
        size=SIZE,
        fps=8.0,
        num_frames=16,
        seed=3,
        workers=2,
        progress=False,
        backgrounds=("plain",),
        textures=("solid",),
        distractors=(0, 0),
        sensor_noise=0.0,
        camera_jitter=0.0,
        shapes=("rectangle", "ellipse", "diamond", "circle", "star", "cross"),
    )


@pytest.fixture(scope="session")
def plain_long_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three 45 s long videos on a plain background (elongated shapes, so rotations occur too)."""
    out = tmp_path_factory.mktemp("plain_long_world")
    return generate_world(
        out,
        num_clips={},
        size=64,
        fps=8.0,
        seed=7,  # a seed whose three videos hold every class but stays_still (the idle gaps)
        workers=2,
        long_videos={"test": 3},
        long_duration=45.0,
        crf=10,  # near-lossless: sub-degree turns of a 7 px object must not drown in coding noise
        progress=False,
        backgrounds=("plain",),
        textures=("solid",),
        distractors=(0, 0),
        sensor_noise=0.0,
        shapes=("rectangle", "ellipse", "diamond"),
    )


@pytest.fixture(scope="session")
def varied_world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The small varied world (seed 0, two workers)."""
    return small_world(tmp_path_factory.mktemp("varied_world"))
