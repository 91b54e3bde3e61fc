"""Registry: every model builds; tiny ones run forward/backward/save-load; big ones are built on meta."""

from __future__ import annotations

import pytest
import torch

import internvideo as iv
from internvideo.errors import ConfigError
from internvideo.models import InternVideo2Pretrain, count_params, create_model, list_models
from internvideo.models.registry import get_pretrained_cfg

PARAMS_400 = {  # millions, with a 400-class head (reference size table)
    "internvideo2_small_patch14_224": 23.35,
    "internvideo2_base_patch14_224": 89.75,
    "internvideo2_large_patch14_224": 309.24,
    "internvideo2_1b_patch14_224": 1021.02,
    "internvideo2_6b_patch14_224": 5942.04,
}


@pytest.mark.parametrize("name,millions", sorted(PARAMS_400.items()))
def test_parameter_counts_on_meta(name: str, millions: float) -> None:
    with torch.device("meta"):
        model = create_model(name, num_classes=400)
    assert abs(count_params(model) / 1e6 - millions) <= 0.01


@pytest.mark.parametrize("name", list_models())
def test_every_registered_model_builds_on_meta(name: str) -> None:
    with torch.device("meta"):
        model = create_model(name)
    assert count_params(model) > 0
    assert all(p.device.type == "meta" for p in model.parameters())


@pytest.mark.parametrize("name", list_models("*tiny_patch*"))
def test_tiny_forward_backward_save_load(name: str, tmp_path) -> None:
    torch.manual_seed(0)
    model = create_model(name)
    x = torch.randn(2, 3, 4, 56, 56)
    out = model(x)
    if isinstance(model, InternVideo2Pretrain):
        loss = out.x_clip_align.sum() + out.x_align.sum() + out.x_mae_align.sum()
        assert out.x_clip_align.shape == (2, 2, 65, 48)
    else:
        assert out.shape == (2, 10)
        loss = out.square().sum()
    loss.backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if p.requires_grad), "unused params"
    iv.save_pretrained(model, tmp_path / "m", model_name=name)
    again = iv.from_pretrained(tmp_path / "m")
    model.eval()
    with torch.no_grad():
        a, b = model(x), again(x)
    if isinstance(model, InternVideo2Pretrain):
        a, b = a.x_align, b.x_align
    assert torch.equal(a, b)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]


def test_uniform_verbs() -> None:
    torch.manual_seed(0)
    model = create_model("internvideo2_tiny_patch14_56").eval()
    x = torch.randn(1, 3, 4, 56, 56)
    final, hidden = model.forward_intermediates(x, indices=[0, -1])
    assert len(hidden) == 2 and torch.equal(hidden[-1], final)
    assert final.shape == (1, 65, 64)
    assert model.forward_head(final, pre_logits=True).shape == (1, 32)
    assert model.forward_pooled(x).shape == (1, 32)
    model.reset_classifier(5)
    assert model(x).shape == (1, 5)
    model.reset_classifier(0)
    assert model(x).shape == (1, 32)
    assert {"pos_embed", "cls_token"} <= model.no_weight_decay()
    # image path: a single frame goes through the time-averaged position table
    assert model(torch.randn(1, 3, 1, 56, 56)).shape == (1, 32)


def test_gradient_checkpointing_same_grads() -> None:
    torch.manual_seed(0)
    model = create_model("internvideo2_tiny_patch14_56")
    x = torch.randn(2, 3, 4, 56, 56)
    model(x).sum().backward()
    g1 = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model.set_grad_checkpointing(True)
    model(x).sum().backward()
    for a, p in zip(g1, model.parameters()):
        assert torch.allclose(a, p.grad, atol=1e-6)


def test_bad_inputs_are_explained() -> None:
    model = create_model("internvideo2_tiny_patch14_56")
    with pytest.raises(ValueError, match="num_frames=8"):
        model(torch.randn(1, 3, 8, 56, 56))
    with pytest.raises(ValueError, match="img_size=84"):
        model(torch.randn(1, 3, 4, 84, 84))
    with pytest.raises(ConfigError, match="unknown model"):
        create_model("internvideo2_huge")
    with pytest.raises(ConfigError, match="unknown VisionConfig fields"):
        create_model("internvideo2_tiny_patch14_56", not_a_field=1)


def test_zoo_records() -> None:
    names = list_models(pretrained=True)
    assert "internvideo2_1b_patch14_224.k710_ft_k400_f16" in names
    assert "internvideo2_distill_base_patch14_224.dist_1b_stage2_f8" in names
    assert "internvideo2_stage2_vision_1b_patch14_224.stage2_f4" in names
    cfg = get_pretrained_cfg("internvideo2_1b_patch14_224.k710_ft_k400_f16")
    assert (cfg.num_frames, cfg.num_classes, cfg.hub_id) == (
        16,
        400,
        "OpenGVLab/InternVideo2-Stage1-1B-224p-f8-K400",
    )
    assert get_pretrained_cfg("internvideo2_small_patch14_224.ssv2_f8").num_classes == 174
    s2 = get_pretrained_cfg("internvideo2_stage2_vision_1b_patch14_224.stage2_f4")
    assert (s2.sampling, s2.resize, s2.num_frames) == ("middle", "squash", 4)
    # records whose file cannot be fetched say so instead of failing obscurely
    with pytest.raises(ConfigError, match="pass pretrained=<path"):
        with torch.device("meta"):
            create_model("internvideo2_6b_patch14_224.clip_f8", pretrained=True)


def test_layerwise_lr_decay_on_our_encoder() -> None:
    from internvideo.train import OptimConfig, build_optimizer

    model = create_model("internvideo2_tiny_patch14_56")  # depth 2 -> layer ids 0..3
    opt = build_optimizer(model, OptimConfig(lr=1.0, weight_decay=0.05, layer_decay=0.5))
    scale = {}
    for group in opt.param_groups:
        for p in group["params"]:
            scale[id(p)] = (group["lr"], group["weight_decay"])
    params = dict(model.named_parameters())
    assert scale[id(params["head.weight"])] == (1.0, 0.05)
    assert scale[id(params["blocks.1.mlp.fc1.weight"])] == (0.5, 0.05)
    assert scale[id(params["blocks.0.attn.qkv.weight"])] == (0.25, 0.05)
    assert scale[id(params["patch_embed.proj.weight"])] == (0.125, 0.05)
    assert scale[id(params["pos_embed"])] == (0.125, 0.0)  # no decay for position tables
    assert scale[id(params["blocks.0.norm1.weight"])][1] == 0.0
