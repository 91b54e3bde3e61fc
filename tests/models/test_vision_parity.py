"""Exact parity with the official InternVideo2 modules on the shared fixtures (fp32, max abs diff <= 1e-5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from internvideo.models import InternVideo2, InternVideo2Pretrain, VisionConfig, load_checkpoint
from internvideo.models.layers import resize_pos_table

TOL = 1e-5


def _cfg(folder: Path, **kw) -> VisionConfig:
    ck = json.loads((folder / "config.json").read_text())["constructor_kwargs"]
    fields = {k: v for k, v in ck.items() if k in VisionConfig.__dataclass_fields__}
    return VisionConfig(**{**fields, **kw})


def _maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()


@pytest.mark.parametrize("gelu,key", [("none", "logits"), ("tanh", "logits_gelu_tanh")])
def test_classifier(fixtures_dir: Path, gelu: str, key: str) -> None:
    d = fixtures_dir / "classifier"
    io = load_file(d / "io.safetensors")
    model = InternVideo2(_cfg(d, gelu=gelu)).eval()
    load_checkpoint(model, d / "model.safetensors")  # strict
    with torch.no_grad():
        tokens = model.forward_features(io["video"])
        logits = model.forward_head(tokens)
    if gelu == "none":
        assert _maxdiff(tokens, io["tokens_before_pool"]) <= TOL
        assert _maxdiff(model.pool(tokens), io["pooled"]) <= TOL
    assert _maxdiff(logits, io[key]) <= TOL
    # the GELU switch really matters: the other setting does not reproduce these logits
    other = io["logits_gelu_tanh" if gelu == "none" else "logits"]
    assert _maxdiff(logits, other) > 1e-7


@pytest.mark.parametrize("folder,decoder", [("pretrain", "linear"), ("distill", "mlp")])
def test_pretrain_and_distill_students(fixtures_dir: Path, folder: str, decoder: str) -> None:
    d = fixtures_dir / folder
    io = load_file(d / "io.safetensors")
    model = InternVideo2Pretrain(_cfg(d, gelu="none", clip_decoder=decoder)).eval()
    load_checkpoint(model, d / "model.safetensors")
    with torch.no_grad():
        out = model(io["video"], mask=io["mask"])
    assert _maxdiff(out.x_clip_align, io["x_clip_align"]) <= TOL
    assert _maxdiff(out.x_align, io["x_align"]) <= TOL
    if "x_mae_align" in io:
        assert _maxdiff(out.x_mae_align, io["x_mae_align"]) <= TOL
    else:
        assert out.x_mae_align is None


@pytest.mark.parametrize("folder", ["mm_backbone_sep0", "mm_backbone_sep1"])
@pytest.mark.parametrize("inp", ["video", "image"])
def test_stage2_backbone(fixtures_dir: Path, folder: str, inp: str) -> None:
    d = fixtures_dir / folder
    io = load_file(d / "io.safetensors")
    model = InternVideo2Pretrain(_cfg(d, gelu="none", clip_decoder="linear")).eval()
    load_checkpoint(model, d / "model.safetensors")
    with torch.no_grad():
        out = model(io[inp])
    for ours, theirs in (
        ("x_vis", "x_vis"),
        ("x_pool", "x_pool_vis"),
        ("x_clip_align", "x_clip_align"),
        ("x_align", "x_align"),
    ):
        assert _maxdiff(getattr(out, ours), io[f"{inp}_{theirs}"]) <= TOL, ours


def test_masked_forward_equals_visible_subset(fixtures_dir: Path) -> None:
    """Masking drops tokens before the blocks: masked tokens never influence the visible ones' inputs."""
    d = fixtures_dir / "pretrain"
    io = load_file(d / "io.safetensors")
    model = InternVideo2Pretrain(_cfg(d, gelu="none", clip_decoder="linear")).eval()
    load_checkpoint(model, d / "model.safetensors")
    mask = io["mask"].bool()
    with torch.no_grad():
        a = model(io["video"], mask=mask).x_vis
        video2 = io["video"].clone()
        video2[:, :, :, :14, :14] += 100.0  # the top-left patch of every frame
        b = model(video2, mask=mask).x_vis
    # the top-left patch (index 1 + t*16) of every frame is masked in the fixture iff this holds
    hidden_patches = all(mask[i, 1 + t * 16] for i in range(2) for t in range(4))
    assert torch.equal(a, b) == hidden_patches


@pytest.mark.parametrize("which", ["frames_x2", "size_plus28"])
def test_position_table_resizing(fixtures_dir: Path, which: str) -> None:
    d = fixtures_dir / "pos_resize"
    io = load_file(d / "io.safetensors")
    sd = load_file(d / "model.safetensors")
    base = _cfg(d, gelu="none", clip_decoder="linear")
    cfg = base.replace(num_frames=8) if which == "frames_x2" else base.replace(img_size=84)
    model = InternVideo2Pretrain(cfg)
    load_checkpoint(model, sd)  # strict, with the logged resize
    for name in ("pos_embed", "clip_pos_embed"):
        assert _maxdiff(getattr(model, name).detach(), io[f"{which}.{name}"]) <= TOL
        # the CLS row is untouched
        assert torch.equal(getattr(model, name).detach()[:, 0], sd[name][:, 0])


def test_resize_identity_and_cls() -> None:
    pos = torch.randn(1, 1 + 4 * 16, 8)
    assert torch.equal(resize_pos_table(pos, 4, 4, 4), pos)
    out = resize_pos_table(pos, 4, 2, 4)
    # linear 4 -> 2 with align_corners=False samples at t = 0.5 and 2.5: means of neighbouring frames
    frames = pos[:, 1:].view(4, 16, 8)
    assert torch.allclose(out[:, 1:].view(2, 16, 8)[0], (frames[0] + frames[1]) / 2, atol=1e-6)
    assert torch.allclose(out[:, 1:].view(2, 16, 8)[1], (frames[2] + frames[3]) / 2, atol=1e-6)
