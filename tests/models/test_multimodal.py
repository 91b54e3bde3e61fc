"""Stage-2 video–text model: exact parity with the official module, our format, dual-encoder API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from internvideo.models import VisionConfig, from_pretrained, save_pretrained
from internvideo.models.multimodal import InternVideo2Stage2, btchw_to_bcthw, stage2_config_from_upstream

TOL = 1e-5


@pytest.fixture(scope="module")
def stage2(fixtures_dir: Path):
    d = fixtures_dir / "stage2"
    ck = json.loads((d / "config.json").read_text())["constructor_kwargs"]
    v = {k: val for k, val in ck["vision"].items() if k in VisionConfig.__dataclass_fields__}
    vision = VisionConfig(**v, gelu="none", clip_decoder="linear")
    bert = json.loads((d / "bert_config.json").read_text())
    cfg = stage2_config_from_upstream(
        vision,
        bert,
        embed_dim=ck["embed_dim"],
        fusion_layer=bert["fusion_layer"],
        temp=ck["temp"],
        max_txt_len=ck["max_txt_len"],
        vocab=str(d / "vocab.txt"),
    )
    model = InternVideo2Stage2(cfg).eval()
    model.load_upstream_state_dict(load_file(d / "model.safetensors"), source="stage2 fixture")
    return model, load_file(d / "io.safetensors")


def _md(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return (a - b).abs().max().item()


def test_stage2_parity(stage2) -> None:
    model, io = stage2
    video = btchw_to_bcthw(io["video"])  # the official wrapper takes (B, T, C, H, W)
    with torch.no_grad():
        vis, pooled = model.encode_vision(video)
        txt = model.encode_text_tokens(io["input_ids"], io["attention_mask"])
        vfeat = model.encode_video(video, normalize=False)
        tfeat = model.encode_text(io["input_ids"], io["attention_mask"], normalize=False)
        itm = model.itm_score_matrix(vis, txt, io["attention_mask"])
    assert _md(vis, io["vision_embeds"]) <= TOL
    assert _md(pooled, io["vision_pooled"]) <= TOL
    assert _md(txt, io["text_embeds"]) <= TOL
    assert _md(txt[:, 0], io["text_pooled"]) <= TOL
    assert _md(vfeat, io["vision_feat"]) <= TOL
    assert _md(tfeat, io["text_feat"]) <= TOL
    assert _md(itm, io["itm_score"]) <= TOL


def test_dual_encoder_outputs(stage2) -> None:
    model, io = stage2
    video = btchw_to_bcthw(io["video"])
    with torch.no_grad():
        out = model(video, io["input_ids"], io["attention_mask"])
    assert out.logits_per_video.shape == (3, 3)
    assert torch.allclose(out.logits_per_text, out.logits_per_video.t())
    assert torch.allclose(out.video_embeds.norm(dim=-1), torch.ones(3), atol=1e-6)
    expected = (out.video_embeds @ out.text_embeds.t()) / model.temp.item()
    assert _md(out.logits_per_video, expected) <= 1e-4
    assert abs(model.logit_scale.exp().item() - 1 / model.temp.item()) < 1e-4


def test_stage2_save_load_roundtrip(stage2, tmp_path: Path) -> None:
    model, io = stage2
    save_pretrained(model, tmp_path / "s2")
    again = from_pretrained(tmp_path / "s2")
    assert isinstance(again, InternVideo2Stage2)
    video = btchw_to_bcthw(io["video"])
    with torch.no_grad():
        assert torch.equal(model.encode_video(video), again.encode_video(video))
        assert torch.equal(
            model.encode_text(io["input_ids"], io["attention_mask"]),
            again.encode_text(io["input_ids"], io["attention_mask"]),
        )
    # the tied MLM decoder stays tied after loading
    assert (
        again.text_encoder.cls.predictions.decoder.weight
        is again.text_encoder.bert.embeddings.word_embeddings.weight
    )


def test_stage2_strict_head_errors(stage2, fixtures_dir: Path) -> None:
    model, _ = stage2
    sd = load_file(fixtures_dir / "stage2" / "model.safetensors")
    del sd["itm_head.bias"]
    with pytest.raises(Exception, match="itm_head.bias"):
        model.load_upstream_state_dict(sd)


def test_from_pretrained_in_a_fresh_interpreter(stage2, tmp_path: Path) -> None:
    """A saved stage-2 folder loads without the caller importing the multimodal module first."""
    import subprocess
    import sys

    model, _ = stage2
    save_pretrained(model, tmp_path / "s2")
    code = (
        f"import internvideo as iv; m = iv.from_pretrained({str(tmp_path / 's2')!r}); print(type(m).__name__)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "InternVideo2Stage2"


def test_mean_text_pooling(stage2, fixtures_dir: Path, tmp_path: Path) -> None:
    import dataclasses

    base, io = stage2
    model = InternVideo2Stage2(dataclasses.replace(base.cfg, text_pooling="mean")).eval()
    model.load_upstream_state_dict(load_file(fixtures_dir / "stage2" / "model.safetensors"))
    ids, mask = io["input_ids"], io["attention_mask"]
    with torch.no_grad():
        tokens = model.encode_text_tokens(ids, mask)
        m = mask.float().unsqueeze(-1)
        expected = model.text_proj((tokens * m).sum(1) / m.sum(1))
        got = model.encode_text(ids, mask, normalize=False)
        assert _md(got, expected) <= 1e-6
        assert _md(got, base.encode_text(ids, mask, normalize=False)) > 1e-3  # differs from CLS pooling
        # more padding changes nothing
        pad = torch.zeros(3, 4, dtype=ids.dtype)
        padded = model.encode_text(torch.cat([ids, pad], 1), torch.cat([mask, pad], 1), normalize=False)
        assert _md(padded, got) <= 1e-5
    save_pretrained(model, tmp_path / "mean")
    assert from_pretrained(tmp_path / "mean").cfg.text_pooling == "mean"
