from __future__ import annotations

import dataclasses
import json
import re

import pytest

from internvideo.errors import ConfigError
from internvideo.train.config import (
    OptimConfig,
    TrainConfig,
    apply_overrides,
    config_to_dict,
    load_config,
    save_config,
)
from internvideo.train.recipes import ToyConfig, toy_classification


def test_overrides_convert_types() -> None:
    cfg = TrainConfig(steps=10)
    new = apply_overrides(
        cfg,
        [
            "optim.lr=3e-4",
            "optim.betas=0.9,0.95",
            "steps=20",
            "clip_grad_norm=none",
            "ckpt_every=5",
            "precision=bf16",
            "shuffle=false",
            "out_dir=/tmp/x",
            "schedule.warmup_steps=3",
        ],
    )
    assert new.optim.lr == 3e-4 and new.optim.betas == (0.9, 0.95)
    assert new.steps == 20 and new.clip_grad_norm is None and new.ckpt_every == 5
    assert new.precision == "bf16" and new.shuffle is False and new.out_dir == "/tmp/x"
    assert new.schedule.warmup_steps == 3
    assert cfg.steps == 10 and cfg.optim.lr == OptimConfig().lr  # original untouched
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.steps = 3  # type: ignore[misc]


def test_overrides_nested_and_mapping() -> None:
    cfg = apply_overrides(toy_classification(), {"train.optim.lr": 0.5, "hidden": "32"})
    assert isinstance(cfg, ToyConfig) and cfg.train.optim.lr == 0.5 and cfg.hidden == 32


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lrr=1", "unknown config key 'optim.lrr'"),
        ("stepz=1", "unknown config key 'stepz'"),
        ("steps=1.5", "expected an integer"),
        ("optim.lr=fast", "expected a number"),
        ("precision=fp8", "expected one of"),
        ("shuffle=maybe", "expected a boolean"),
        ("optim.betas=0.9", "expected 2 comma-separated values"),
        ("steps", "must look like key=value"),
        ("optim=1", "is a section"),
        ("steps.x=1", "has no sub-fields"),
        ("batch_size=0", "batch_size must be >= 1"),
        ("epochs=3", "exactly one of steps or epochs"),
        ("steps=none", "exactly one of steps or epochs"),
    ],
)
def test_override_errors(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        apply_overrides(TrainConfig(steps=10), [override])


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match="exactly one of steps or epochs"):
        TrainConfig()
    with pytest.raises(ConfigError, match="layer_decay"):
        OptimConfig(layer_decay=1.5)


def test_save_load_roundtrip(tmp_path) -> None:
    cfg = apply_overrides(toy_classification(), ["train.optim.betas=0.8,0.9", "train.clip_grad_norm=none"])
    path = save_config(cfg, tmp_path / "cfg.json")
    data = json.loads(path.read_text())
    assert data["train"]["optim"]["betas"] == [0.8, 0.9]
    assert data == config_to_dict(cfg)
    assert load_config(ToyConfig, path) == cfg
    assert [p.name for p in tmp_path.iterdir()] == ["cfg.json"]  # no temporary file left
    data["train"]["bogus"] = 1
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(ConfigError, match="bogus"):
        load_config(ToyConfig, tmp_path / "bad.json")
