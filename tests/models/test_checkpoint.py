"""Checkpoint loading: upstream wrappers/prefixes, strict errors by name, our format, the hub path."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import internvideo as iv
from internvideo.errors import CheckpointError
from internvideo.models import (
    create_model,
    from_pretrained,
    load_checkpoint,
    read_state_dict,
    save_pretrained,
)
from internvideo.models.registry import PretrainedCfg, _get_entry, add_pretrained


@pytest.fixture()
def classifier_sd(fixtures_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(fixtures_dir / "classifier" / "model.safetensors")


def _tiny() -> torch.nn.Module:
    return create_model("internvideo2_tiny_patch14_56").eval()


def _same_weights(model: torch.nn.Module, sd: dict[str, torch.Tensor]) -> bool:
    own = model.state_dict()
    return all(torch.equal(own[k], v) for k, v in sd.items())


@pytest.mark.parametrize(
    "wrap",
    [
        lambda sd: sd,
        lambda sd: {"model": sd, "epoch": 3},
        lambda sd: {"module": {f"module.{k}": v for k, v in sd.items()}},
        lambda sd: {"model": {f"backbone.{k}": v for k, v in sd.items()}},
    ],
    ids=["flat", "model", "module+prefix", "backbone-prefix"],
)
def test_upstream_pth_wrappers(classifier_sd, tmp_path: Path, wrap) -> None:
    path = tmp_path / "ckpt.pth"
    torch.save(wrap(classifier_sd), path)
    model = _tiny()
    report = load_checkpoint(model, path)
    assert report.missing == [] and report.unexpected == []
    assert _same_weights(model, classifier_sd)


def test_vision_tower_from_multimodal_checkpoint(fixtures_dir: Path, tmp_path: Path) -> None:
    """A full stage-2 checkpoint (vision + text) loads into the vision backbone; other towers are ignored."""
    sd = load_file(fixtures_dir / "stage2" / "model.safetensors")
    torch.save({"module": sd}, tmp_path / "stage2.pt")
    model = create_model("internvideo2_stage2_vision_1b_patch14_224", **_STAGE2_TINY)
    load_checkpoint(model, tmp_path / "stage2.pt")
    vis = {k[len("vision_encoder.") :]: v for k, v in sd.items() if k.startswith("vision_encoder.")}
    assert _same_weights(model, vis)


_STAGE2_TINY = dict(
    img_size=56,
    embed_dim=64,
    depth=2,
    num_heads=4,
    mlp_ratio=4.0,
    attn_pool_num_heads=4,
    clip_embed_dim=32,
    clip_teacher_embed_dim=48,
    clip_teacher_final_dim=32,
    clip_return_layer=1,
    gelu="none",
)


def test_classifier_from_stage1_drops_decoders_and_allows_new_head(fixtures_dir: Path) -> None:
    sd = load_file(fixtures_dir / "pretrain" / "model.safetensors")
    model = _tiny()
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(model, sd)
    assert "head.weight" in str(e.value) and "fc_norm.weight" in str(e.value)
    report = load_checkpoint(model, sd, allow_missing=("head.", "fc_norm."))
    assert sorted(report.missing) == ["fc_norm.bias", "fc_norm.weight", "head.bias", "head.weight"]
    assert torch.equal(model.blocks[1].mlp.fc2.weight, sd["blocks.1.mlp.fc2.weight"])


def test_strict_errors_name_the_keys(classifier_sd) -> None:
    bad = dict(classifier_sd)
    del bad["blocks.1.attn.q_norm.weight"]
    bad["blocks.7.mystery.weight"] = torch.zeros(3)
    bad["head.weight"] = torch.zeros(7, 32)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(_tiny(), bad)
    msg = str(e.value)
    assert "missing keys (1): blocks.1.attn.q_norm.weight" in msg
    assert "unexpected keys (1): blocks.7.mystery.weight" in msg
    assert "head.weight: checkpoint (7, 32) vs model (10, 32)" in msg


def test_non_strict_loads_overlap(classifier_sd) -> None:
    partial = {k: v for k, v in classifier_sd.items() if not k.startswith("head.")}
    model = _tiny()
    report = load_checkpoint(model, partial, strict=False)
    assert report.missing == ["head.weight", "head.bias"]


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04garbage"])
def test_unreadable_files(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match="broken.pth"):
        read_state_dict(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        read_state_dict(tmp_path / "absent.pt")


def test_from_pretrained_with_more_frames_resizes(tmp_path: Path) -> None:
    model = _tiny()
    save_pretrained(model, tmp_path / "m")
    bigger = from_pretrained(tmp_path / "m", num_frames=8)
    assert bigger.pos_embed.shape == (1, 1 + 8 * 16, 64)
    assert bigger(torch.randn(1, 3, 8, 56, 56)).shape == (1, 10)


def test_hub_download_through_a_local_server(hub_server, tmp_path: Path, classifier_sd) -> None:
    endpoint, root = hub_server
    # our format, fetched by hub id
    model = _tiny()
    save_pretrained(model, root / "acme" / "tiny-ours", model_name="internvideo2_tiny_patch14_56")
    got = from_pretrained("acme/tiny-ours", endpoint=endpoint, cache_dir=tmp_path / "cache")
    assert _same_weights(got, model.state_dict())
    # an upstream file described by a pretrained record
    (root / "acme" / "tiny-upstream").mkdir(parents=True)
    torch.save({"model": classifier_sd}, root / "acme" / "tiny-upstream" / "ckpt.pth")
    add_pretrained(
        "internvideo2_tiny_patch14_56",
        "hubtest",
        PretrainedCfg(
            hub_id="acme/tiny-upstream", filename="ckpt.pth", num_frames=4, num_classes=10, img_size=56
        ),
    )
    try:
        m = iv.create_model(
            "internvideo2_tiny_patch14_56.hubtest",
            pretrained=True,
            cache_dir=tmp_path / "cache",
            hub_endpoint=endpoint,
        )
        assert _same_weights(m, classifier_sd)
        assert m.pretrained_cfg.hub_id == "acme/tiny-upstream"
        # a missing file is a clear error
        with pytest.raises(CheckpointError, match="could not fetch"):
            from_pretrained("acme/absent", endpoint=endpoint, cache_dir=tmp_path / "cache")
    finally:
        del _get_entry("internvideo2_tiny_patch14_56").pretrained["hubtest"]


def test_create_model_reports_the_file_and_builds_nothing_on_a_bad_file(
    tmp_path: Path, classifier_sd
) -> None:
    bad = dict(classifier_sd)
    bad.pop("head.bias")
    path = tmp_path / "ckpt.pth"
    torch.save({"model": bad}, path)
    with pytest.raises(CheckpointError, match=r"(?s)ckpt\.pth does not match.*head\.bias"):
        iv.create_model("internvideo2_tiny_patch14_56", pretrained=path)
    with pytest.raises(CheckpointError, match="does not exist"):
        iv.create_model("internvideo2_6b_patch14_224", pretrained=tmp_path / "absent.pth")  # no 6B built
