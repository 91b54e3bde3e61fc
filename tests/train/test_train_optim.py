from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from internvideo.errors import ConfigError
from internvideo.train.config import OptimConfig, ScheduleConfig
from internvideo.train.optim import (
    WarmupCosineSchedule,
    build_optimizer,
    lr_factor,
    param_groups,
    vit_layer_id,
)


class ToyViT(nn.Module):
    """ViT-style names: cls_token, pos_embed, patch_embed, blocks.{i}, norm, head."""

    def __init__(self, depth: int = 3, dim: int = 4) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, 5, dim))
        self.patch_embed = nn.Conv1d(2, dim, 1)
        self.blocks = nn.ModuleList(
            nn.ModuleDict({"norm1": nn.LayerNorm(dim), "attn": nn.Linear(dim, dim)}) for _ in range(depth)
        )
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 3)
        self.frozen = nn.Parameter(torch.zeros(2, 2), requires_grad=False)

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", "cls_token"}


def _by_name(groups: list[dict]) -> dict[str, dict]:
    return {n: g for g in groups for n in g["param_names"]}


def test_layer_decay_values() -> None:
    model = ToyViT(depth=3)
    groups = _by_name(param_groups(model, weight_decay=0.05, layer_decay=0.5))
    # L = 3 blocks -> layer ids 0..4; scale = 0.5 ** (4 - id)
    expected = {
        "cls_token": 0.5**4,
        "pos_embed": 0.5**4,
        "patch_embed.weight": 0.5**4,
        "patch_embed.bias": 0.5**4,
        "blocks.0.attn.weight": 0.5**3,
        "blocks.1.norm1.weight": 0.5**2,
        "blocks.2.attn.bias": 0.5**1,
        "norm.weight": 1.0,
        "head.weight": 1.0,
    }
    for name, scale in expected.items():
        assert groups[name]["lr_scale"] == pytest.approx(scale), name
    assert "frozen" not in groups
    assert vit_layer_id("encoder.blocks.11.mlp.fc1.weight", 12) == 12
    assert vit_layer_id("vision.pos_embed", 12) == 0
    assert vit_layer_id("text_proj.weight", 12) == 13


def test_decay_groups() -> None:
    model = ToyViT()
    groups = _by_name(param_groups(model, weight_decay=0.05))
    no_decay = {"cls_token", "pos_embed", "patch_embed.bias", "norm.weight", "norm.bias", "head.bias"}
    no_decay |= {f"blocks.{i}.{n}" for i in range(3) for n in ("norm1.weight", "norm1.bias", "attn.bias")}
    decay = {"patch_embed.weight", "head.weight"} | {f"blocks.{i}.attn.weight" for i in range(3)}
    assert set(groups) == no_decay | decay
    for n in no_decay:
        assert groups[n]["weight_decay"] == 0.0, n
    for n in decay:
        assert groups[n]["weight_decay"] == 0.05, n


def test_model_layer_hooks_and_errors() -> None:
    class Custom(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(2, 2)
            self.b = nn.Linear(2, 2)

        def get_num_layers(self) -> int:
            return 1

        def get_layer_id(self, name: str) -> int:
            return 0 if name.startswith("a.") else 2

    groups = _by_name(param_groups(Custom(), 0.1, layer_decay=0.1))
    assert groups["a.weight"]["lr_scale"] == pytest.approx(0.01)
    assert groups["b.weight"]["lr_scale"] == pytest.approx(1.0)
    with pytest.raises(ConfigError, match="get_num_layers"):
        param_groups(nn.Linear(2, 2), 0.1, layer_decay=0.5)


def test_build_optimizer_sets_group_lrs() -> None:
    opt = build_optimizer(ToyViT(depth=2), OptimConfig(lr=1.0, layer_decay=0.5, weight_decay=0.1))
    lrs = {g["group_name"]: g["lr"] for g in opt.param_groups}
    assert lrs["layer_0_no_decay"] == pytest.approx(0.125)
    assert lrs["layer_3_decay"] == pytest.approx(1.0)


def test_warmup_cosine_values() -> None:
    cfg = ScheduleConfig(warmup_steps=4, min_lr_ratio=0.1)
    total = 14  # 4 warm-up + 10 cosine steps
    assert lr_factor(0, total, cfg) == pytest.approx(0.25)
    assert lr_factor(1, total, cfg) == pytest.approx(0.5)
    assert lr_factor(3, total, cfg) == pytest.approx(1.0)
    assert lr_factor(4, total, cfg) == pytest.approx(1.0)
    # halfway through the cosine: 0.1 + 0.9 * 0.5 * (1 + cos(pi/2)) = 0.55
    assert lr_factor(9, total, cfg) == pytest.approx(0.55)
    # step 6: progress 0.2 -> 0.1 + 0.45 * (1 + cos(0.2 pi))
    assert lr_factor(6, total, cfg) == pytest.approx(0.1 + 0.45 * (1 + math.cos(0.2 * math.pi)))
    assert lr_factor(14, total, cfg) == pytest.approx(0.1)
    const = ScheduleConfig(name="constant", warmup_steps=2)
    assert [lr_factor(s, 10, const) for s in range(4)] == [0.5, 1.0, 1.0, 1.0]


def test_schedule_drives_optimizer() -> None:
    model = ToyViT(depth=1)
    opt = build_optimizer(model, OptimConfig(lr=2.0, layer_decay=0.5))
    sched = WarmupCosineSchedule(opt, total_steps=6, cfg=ScheduleConfig(warmup_steps=2))
    scales = [g["lr_scale"] for g in opt.param_groups]
    assert sched.get_last_lr() == pytest.approx([2.0 * s * 0.5 for s in scales])
    sched.step()
    sched.step()
    sched.step()  # step 3: cosine progress 1/4
    f = 0.5 * (1 + math.cos(math.pi / 4))
    assert sched.get_last_lr() == pytest.approx([2.0 * s * f for s in scales])
    state = sched.state_dict()
    other = WarmupCosineSchedule(opt, total_steps=6, cfg=ScheduleConfig(warmup_steps=2))
    other.load_state_dict(state)
    assert other.get_last_lr() == pytest.approx([2.0 * s * f for s in scales])
