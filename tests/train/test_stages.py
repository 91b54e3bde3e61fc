"""Stage-1, distillation and fine-tuning runs on a tiny synthetic world: checkpoints, DDP and FSDP2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from internvideo.data.masking import MaskConfig
from internvideo.errors import ConfigError
from internvideo.models import create_model
from internvideo.models.hub import save_pretrained
from internvideo.models.vision import InternVideo2, InternVideo2Pretrain
from internvideo.train import read_metrics
from internvideo.train.config import apply_overrides
from internvideo.train.distill import DistillTask, distill_tiny_synth, run_distill
from internvideo.train.finetune import (
    build_classifier,
    finetune_tiny_synth,
    run_finetune,
    set_probing,
    transfer_head,
)
from internvideo.train.stage1 import (
    EncoderSpec,
    FrozenTeacher,
    resample_tokens,
    run_stage1,
    stage1_tiny_synth,
)

SPEC = {
    "encoder.img_size": 32,
    "encoder.patch_size": 8,
    "encoder.num_frames": 4,
    "encoder.tubelet_size": 2,
    "encoder.embed_dim": 32,
    "encoder.depth": 2,
    "encoder.num_heads": 2,
    "encoder.attn_pool_num_heads": 2,
    "encoder.clip_embed_dim": 16,
}
TINY = EncoderSpec(
    embed_dim=32,
    depth=2,
    num_heads=2,
    img_size=32,
    patch_size=8,
    num_frames=4,
    attn_pool_num_heads=2,
    clip_embed_dim=16,
)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    from internvideo.data.synth import generate_world

    root = tmp_path_factory.mktemp("world")
    generate_world(
        root, num_clips={"train": 34, "test": 17}, size=32, num_frames=8, workers=1, progress=False
    )
    return root


def _common(world: Path, out: Path, steps: int = 2) -> dict[str, object]:
    return {
        **SPEC,
        "data.train": str(world / "train.jsonl"),
        "data.test": str(world / "test.jsonl"),
        "data.synth_train_clips": 0,
        "train.steps": steps,
        "train.batch_size": 8,
        "train.log_every": 1,
        "train.progress": False,
        "train.out_dir": str(out),
    }


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_stage1_pixel_run_exports_an_encoder_that_loads_strictly(world: Path, tmp_path: Path) -> None:
    recipe = apply_overrides(stage1_tiny_synth(), _common(world, tmp_path / "s1"))
    model = run_stage1(recipe, resume=False)
    rows = read_metrics(tmp_path / "s1" / "metrics.jsonl")
    assert [r["step"] for r in rows] == [1, 2] and all(r["loss"] > 0 for r in rows)
    enc = create_model("internvideo2_tiny_patch14_56", pretrained=tmp_path / "s1" / "encoder")
    assert type(enc) is InternVideo2 and enc.cfg.num_classes == 0 and enc.cfg.img_size == 32
    for k, v in enc.state_dict().items():
        assert torch.equal(v, model.encoder.state_dict()[k]), k
    assert not (tmp_path / "s1" / "final").exists()  # the pixel decoder is not an encoder checkpoint


def _teacher_dir(tmp_path: Path) -> Path:
    torch.manual_seed(5)
    teacher = InternVideo2(TINY.vision_config(embed_dim=48, num_heads=2, clip_embed_dim=24, depth=3))
    return save_pretrained(teacher, tmp_path / "teacher", model_name="internvideo2_tiny_patch14_56")


def test_stage1_with_teachers_saves_a_student_that_loads_strictly(world: Path, tmp_path: Path) -> None:
    tdir = _teacher_dir(tmp_path)
    over = {
        **_common(world, tmp_path / "s1t"),
        "clip_teacher.model": "internvideo2_tiny_patch14_56",
        "clip_teacher.pretrained": str(tdir),
        "clip_teacher.layers": 2,
        "mae_teacher.model": "internvideo2_tiny_patch14_56",
        "mae_teacher.pretrained": str(tdir),
        "mae_teacher.layers": 1,
        "mask.kind": "attention",
        "mask.ratio": 0.5,
    }
    model = run_stage1(apply_overrides(stage1_tiny_synth(), over), resume=False)
    rows = read_metrics(tmp_path / "s1t" / "metrics.jsonl")
    assert {"clip", "final", "mae", "loss"} <= rows[-1].keys()
    assert rows[-1]["loss"] == pytest.approx(rows[-1]["clip"] + rows[-1]["final"] + rows[-1]["mae"], rel=1e-5)
    student = create_model("internvideo2_pretrain_tiny_patch14_56", pretrained=tmp_path / "s1t" / "final")
    assert type(student) is InternVideo2Pretrain
    assert student.cfg.clip_teacher_embed_dim == 48 and student.cfg.clip_teacher_final_dim == 24
    _assert_same_weights(student, model)
    # the last training checkpoint holds the same weights
    ckpt = load_file(tmp_path / "s1t" / "checkpoints" / "step_00000002" / "model.safetensors")
    assert all(torch.equal(ckpt[k], v) for k, v in student.state_dict().items())


def test_resample_tokens_averages_grid_blocks() -> None:
    # a (T=2, G=4) grid of scalar tokens onto (1, 2): each target token is the mean of a 2x2x2 block
    x = torch.arange(2 * 16, dtype=torch.float32).reshape(1, 32, 1)
    y = resample_tokens(x, (2, 4), (1, 2))[0, :, 0]
    grid = x.reshape(2, 4, 4)
    want = [grid[:, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].mean() for i in range(2) for j in range(2)]
    assert torch.equal(y, torch.stack(want))
    assert resample_tokens(x, (2, 4), (2, 4)) is x


def test_teacher_from_a_video_text_model_at_its_own_size() -> None:
    """A video-text model's vision tower (112 px, patch 14: 4x8x8 tokens) teaches a 32 px / patch 8 student
    (2x4x4): clips are resized for it, its tokens and attention averaged onto the student's grid."""
    from internvideo.models.default import TinySynthModelConfig, build_tiny_synth_model

    torch.manual_seed(0)
    vt = build_tiny_synth_model(
        TinySynthModelConfig(depth=2, embed_dim=48, num_heads=2), pretrained_text=False
    )
    teacher = FrozenTeacher(vt, layers=1, img_size=112)
    assert teacher.encoder is vt.vision_encoder and teacher.grid == (4, 8)
    x = torch.randn(2, 3, 8, 32, 32)
    out = teacher(x, grid=(4, 4))
    assert out.hidden.shape == (1, 2, 1 + 4 * 16, 48) and out.attn.shape == (2, 4 * 16)
    # the pooled target is the tower's own pooled feature of the resized clip
    big = torch.nn.functional.interpolate(
        x.transpose(1, 2).flatten(0, 1), size=(112, 112), mode="bilinear", antialias=True, align_corners=False
    )
    big = big.reshape(2, 8, 3, 112, 112).transpose(1, 2)
    with torch.no_grad():
        tokens = vt.vision_encoder.forward_features(big)
        pooled, attn = vt.vision_encoder.clip_projector(tokens, return_attn=True)
    torch.testing.assert_close(
        out.pooled, torch.nn.functional.normalize(pooled, dim=-1), atol=1e-6, rtol=1e-5
    )
    want = resample_tokens(attn[:, 1:, None], (4, 8), (4, 4))[..., 0]
    torch.testing.assert_close(out.attn, want, atol=1e-7, rtol=1e-5)
    with pytest.raises(ConfigError, match="built for 112 px"):
        FrozenTeacher(vt, layers=1, img_size=64)
    with pytest.raises(ConfigError, match="InternVideo2 encoder or a video-text model"):
        FrozenTeacher(torch.nn.Linear(2, 2), layers=1)


def test_stage1_with_the_embedded_default_model_as_teacher(world: Path, tmp_path: Path) -> None:
    """The benchmark's stage 1: the default model (named with its tag, so its packaged weights load) at
    112 px teaches a 32 px student through its pooled feature only, on unmasked clips."""
    over = {
        **_common(world, tmp_path / "s1d"),
        "encoder.num_frames": 8,  # the teacher's frame count
        "clip_teacher.model": "internvideo2_tiny_synth.synth",
        "clip_teacher.img_size": 112,
        "clip_teacher.layers": 1,
        "loss_clip": 0.0,
        "mask.kind": "none",
    }
    model = run_stage1(apply_overrides(stage1_tiny_synth(), over), resume=False)
    rows = read_metrics(tmp_path / "s1d" / "metrics.jsonl")
    assert "clip" not in rows[-1] and rows[-1]["loss"] == pytest.approx(rows[-1]["final"], rel=1e-6)
    assert 0.0 < rows[-1]["final"] < 4.0
    assert model.cfg.clip_teacher_final_dim == 256  # the default model's pooled width
    enc = create_model("internvideo2_tiny_patch14_56", pretrained=tmp_path / "s1d" / "encoder")
    assert enc.cfg.img_size == 32 and enc.cfg.num_classes == 0


def test_teacher_geometry_errors_are_clean_cli_errors(world: Path, tmp_path: Path, capsys) -> None:
    from internvideo.train.__main__ import main

    args = [f"{k}={v}" for k, v in _common(world, tmp_path / "bad").items()]
    for teacher_size, why in (
        ("64", "built for 112 px clips, not 64"),
        ("0", "cannot be built at the student"),
    ):
        with pytest.raises(SystemExit) as exc:
            main(["stage1_tiny_synth", *args, "clip_teacher.model=internvideo2_tiny_synth.synth",
                  f"clip_teacher.img_size={teacher_size}", "--fresh"])  # fmt: skip
        assert exc.value.code == 2
        assert why in capsys.readouterr().err


def test_distill_and_finetune_checkpoints_load_strictly(world: Path, tmp_path: Path) -> None:
    tdir = _teacher_dir(tmp_path)
    over = {
        **_common(world, tmp_path / "dist"),
        "clip_teacher.pretrained": str(tdir),
        "encoder.embed_dim": 16,
        "encoder.num_heads": 2,
    }
    student = run_distill(apply_overrides(distill_tiny_synth(), over), resume=False)
    loaded = create_model("internvideo2_distill_small_patch14_224", pretrained=tmp_path / "dist" / "final")
    assert loaded.cfg.clip_decoder == "mlp" and loaded.cfg.embed_dim == 16
    _assert_same_weights(loaded, student)

    ft = {
        **_common(world, tmp_path / "ft", steps=3),
        "init": str(tmp_path / "dist" / "encoder"),
        "augment.rand_aug_n": 2,
        "test_clips": 2,
    }
    model, metrics = run_finetune(apply_overrides(finetune_tiny_synth(), ft), resume=False)
    out = tmp_path / "ft"
    clf = create_model("internvideo2_tiny_patch14_56", pretrained=out / "final")
    assert clf.cfg.num_classes == 17 and clf.cfg.embed_dim == 16
    _assert_same_weights(clf, model)
    # initialised from the distilled trunk: block weights moved away from it only by training
    assert (out / "curves.png").stat().st_size > 1000
    assert (out / "confusion_natural.png").stat().st_size > 1000
    rec = json.loads((out / "test_natural.json").read_text())
    assert rec["top1"] == pytest.approx(metrics["top1"]) and len(rec["per_class_acc"]) == 17
    assert sum(map(sum, rec["confusion"])) == 17


def test_classifier_init_probing_and_label_map(tmp_path: Path) -> None:
    torch.manual_seed(0)
    src = InternVideo2(TINY.vision_config(num_classes=7))
    save_pretrained(src, tmp_path / "clf7")
    clf = build_classifier(None, 7, init=tmp_path / "clf7")
    _assert_same_weights(clf, src)  # same head shape: the head is kept
    new = build_classifier(None, 3, init=tmp_path / "clf7")  # other label set: trunk kept, head fresh
    for k, v in src.state_dict().items():
        if not k.startswith(("head.", "fc_norm.")):
            assert torch.equal(new.state_dict()[k], v), k
    transfer_head(clf, [6, 0, 3])
    assert clf.head.out_features == 3 and clf.cfg.num_classes == 3
    x = torch.randn(2, 3, 4, 32, 32)
    with torch.no_grad():
        assert torch.allclose(clf.eval()(x), src.eval()(x)[:, [6, 0, 3]], atol=1e-6)
    set_probing(clf, "linear")
    assert {n for n, p in clf.named_parameters() if p.requires_grad} == {
        "fc_norm.weight",
        "fc_norm.bias",
        "head.weight",
        "head.bias",
    }
    set_probing(clf, "attentive")
    trainable = {n.split(".")[0] for n, p in clf.named_parameters() if p.requires_grad}
    assert trainable == {"fc_norm", "head", "clip_projector"}


def test_distill_task_uses_spread_teacher_layers() -> None:
    teacher = FrozenTeacher(InternVideo2(TINY.vision_config(depth=7)), layers=3, interval=3.0)
    assert teacher.index == [0, 3, 6]
    task = DistillTask(teacher)
    assert task.mask == MaskConfig("attention", 0.8, per_frame=False) and task.w["mae"] == 0.0


def test_two_process_finetune_matches_single_process(world: Path, tmp_path: Path, run_torchrun) -> None:
    """2 ranks x batch 4 (gloo, DDP) follow the same losses as 1 process x batch 8 for 5 steps."""
    over = {
        **_common(world, tmp_path / "single", steps=5),
        "data.test": "",
        "mix.prob": 0.0,
        "encoder.drop_path_rate": 0.0,
        "augment.rand_aug_n": 2,
        "train.optim.layer_decay": 0.75,
    }
    run_finetune(apply_overrides(finetune_tiny_synth(), over), resume=False, evaluate=False)
    ddp = {**over, "train.batch_size": 4, "train.out_dir": str(tmp_path / "ddp")}
    run_torchrun("stage_runner.py", ["finetune", *[f"{k}={v}" for k, v in ddp.items()]], nproc=2, timeout=300)
    ls = read_metrics(tmp_path / "single" / "metrics.jsonl")
    ld = read_metrics(tmp_path / "ddp" / "metrics.jsonl")
    assert [r["step"] for r in ls] == [r["step"] for r in ld] == [1, 2, 3, 4, 5]
    assert [r["loss"] for r in ld] == pytest.approx([r["loss"] for r in ls], abs=1e-5)
    assert len({round(r["loss"], 4) for r in ls}) > 1  # the loss moves: the model really trains
    a = create_model("internvideo2_tiny_patch14_56", pretrained=tmp_path / "single" / "final")
    b = create_model("internvideo2_tiny_patch14_56", pretrained=tmp_path / "ddp" / "final")
    for k, v in a.state_dict().items():
        torch.testing.assert_close(b.state_dict()[k], v, atol=1e-5, rtol=1e-5, msg=k)


def test_fsdp2_training_step_on_cpu(tmp_path: Path, run_torchrun) -> None:
    """fully_shard over 2 gloo ranks: losses equal an unsharded run on the whole batch; the gathered
    weights load back through create_model strictly."""
    run_torchrun("fsdp_step.py", [str(tmp_path)], nproc=2, timeout=300)
    r0 = json.loads((tmp_path / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "rank1.json").read_text())
    assert r0["loss"] == r1["loss"]
    assert r0["loss"] == pytest.approx(r0["ref"], abs=1e-5)
    assert r0["loss"][0] != pytest.approx(r0["loss"][-1], abs=1e-4)
    a = create_model("internvideo2_tiny_patch14_56", pretrained=tmp_path / "fsdp_final")
    b = create_model("internvideo2_tiny_patch14_56", pretrained=tmp_path / "ref_final")
    for k, v in b.state_dict().items():
        torch.testing.assert_close(a.state_dict()[k], v, atol=1e-5, rtol=1e-4, msg=k)
