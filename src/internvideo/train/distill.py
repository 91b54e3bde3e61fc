"""Distillation of a large InternVideo2 teacher into a small student (the S/B/L recipe).

The student (``InternVideo2Pretrain`` with MLP decoders) sees a masked clip (attention-guided, 80 %,
sampled over the whole clip from the teacher's pooling attention) and aligns, with the cosine loss,

* its last ``K`` blocks (through ``clip_decoder``) with ``K`` teacher blocks spread over the teacher's
  depth (``interval``: the published recipe reads blocks 39, 36, 33, 29, 26, 23 of the 1B teacher), and
* its pooled feature (through ``final_clip_decoder``) with the teacher's pooled feature.

It is :class:`~internvideo.train.stage1.Stage1Task` with a single teacher and no MAE targets; recipes are
:class:`~internvideo.train.stage1.Stage1Recipe` values and run with :func:`run_distill`.
"""

from __future__ import annotations

from typing import Literal

from ..data.masking import MaskConfig
from .config import OptimConfig, ScheduleConfig, TrainConfig
from .stage1 import ClipData, EncoderSpec, FrozenTeacher, Stage1Recipe, Stage1Task, TeacherConfig, run_stage1

__all__ = ["DistillTask", "distill_published", "distill_tiny_synth", "run_distill"]


CLIP_ATTENTION_MASK = MaskConfig("attention", 0.8, per_frame=False)


class DistillTask(Stage1Task):
    """Align a student's intermediate and final features with one frozen teacher."""

    def __init__(
        self,
        teacher: FrozenTeacher,
        mask: MaskConfig = CLIP_ATTENTION_MASK,
        intermediate: float = 1.0,
        final: float = 1.0,
    ) -> None:
        super().__init__(teacher, None, mask, clip=intermediate, final=final, mae=0.0)


def distill_tiny_synth() -> Stage1Recipe:
    """Distil a fine-tuned tiny classifier (``runs/finetune_tiny_synth/final``) into a smaller student."""
    return Stage1Recipe(
        encoder=EncoderSpec(embed_dim=32, depth=2, num_heads=2, attn_pool_num_heads=2, clip_embed_dim=32),
        clip_teacher=TeacherConfig(
            "internvideo2_tiny_patch14_56", "runs/finetune_tiny_synth/final", layers=2, interval=1.0
        ),
        decoder="mlp",
        mask=MaskConfig("attention", 0.8, per_frame=False),
        train=TrainConfig(
            steps=400,
            batch_size=32,
            optim=OptimConfig(lr=1e-3, weight_decay=0.05, betas=(0.9, 0.98), eps=1e-6),
            schedule=ScheduleConfig(warmup_steps=40, min_lr_ratio=0.01),
            clip_grad_norm=5.0,
            log_every=20,
            ckpt_every=200,
            keep_last=1,
            out_dir="runs/distill_tiny_synth",
        ),
    )


_SIZES = {
    "small": dict(embed_dim=384, depth=12, num_heads=6, batch=128),
    "base": dict(embed_dim=768, depth=12, num_heads=12, batch=128),
    "large": dict(embed_dim=1024, depth=24, num_heads=16, batch=64),
}


def distill_published(size: Literal["small", "base", "large"] = "base") -> Stage1Recipe:
    """The published S/B/L distillation (documented, not run here): 1B stage-2 teacher, 6 teacher layers at
    interval 3.34, MLP decoders, attention mask 0.8 over the clip, 8 frames at 224 px, AdamW (0.9, 0.98)
    eps 1e-6, lr 1e-3 x batch/256, 101 epochs with 20 of warm-up, drop path 0.05, clip 5, bf16, 32 GPUs."""
    s = _SIZES[size]
    batch = int(s["batch"])
    return Stage1Recipe(
        encoder=EncoderSpec.published(
            int(s["embed_dim"]), int(s["depth"]), int(s["num_heads"]), drop_path_rate=0.05
        ),
        data=ClipData(train="data/kmash/train.csv", test="", cache=False, workers=8, synth_train_clips=0),
        clip_teacher=TeacherConfig(
            "internvideo2_stage2_vision_1b_patch14_224", "1B_stage2.safetensors", layers=6, interval=3.34
        ),
        decoder="mlp",
        mask=MaskConfig("attention", 0.8, per_frame=False),
        train=TrainConfig(
            epochs=101,
            batch_size=batch,
            optim=OptimConfig(lr=1e-3 * batch * 32 / 256, weight_decay=0.05, betas=(0.9, 0.98), eps=1e-6),
            schedule=ScheduleConfig(warmup_steps=5000, min_lr_ratio=0.0),
            clip_grad_norm=5.0,
            precision="bf16",
            num_workers=8,
            log_every=50,
            ckpt_every=2000,
            out_dir=f"runs/distill_{size}",
        ),
    )


run_distill = run_stage1
