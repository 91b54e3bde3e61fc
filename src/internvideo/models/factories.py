"""Registered InternVideo2 vision factories (sizes from ``reference/internvideo2_architecture.md`` §4).

Naming: ``internvideo2_{size}_patch14_224`` classifiers (``num_classes=0`` gives the CLIP vision tower),
``internvideo2_ap_*`` attentive-probing classifiers, ``internvideo2_pretrain_*`` stage-1 students,
``internvideo2_distill_*`` S/B/L distillation students, ``internvideo2_stage2_vision_*`` the stage-2
multimodal backbones, and ``internvideo2_tiny_patch14_56`` — the tiny geometry of the parity fixtures.
"""

from __future__ import annotations

from typing import Any

from .registry import register_model
from .vision import InternVideo2, InternVideo2Pretrain, VisionConfig

SIZES: dict[str, dict[str, Any]] = {
    "tiny": dict(img_size=56, embed_dim=64, depth=2, num_heads=4, attn_pool_num_heads=4, clip_embed_dim=32),
    "small": dict(embed_dim=384, depth=12, num_heads=6, mlp_ratio=4.0),
    "base": dict(embed_dim=768, depth=12, num_heads=12, mlp_ratio=4.0),
    "large": dict(embed_dim=1024, depth=24, num_heads=16, mlp_ratio=4.0),
    "1b": dict(embed_dim=1408, depth=40, num_heads=16, mlp_ratio=48 / 11),
    "6b": dict(embed_dim=3200, depth=48, num_heads=25, mlp_ratio=4.0),
}


def _cfg(size: str, defaults: dict[str, Any], overrides: dict[str, Any]) -> VisionConfig:
    fields = {**SIZES[size], **defaults, **overrides}
    return VisionConfig().replace(**fields)


def _classifier(size: str, kw: dict[str, Any], **defaults: Any) -> InternVideo2:
    defaults.setdefault("num_classes", 400)
    defaults.setdefault("drop_path_rate", 0.0)
    return InternVideo2(_cfg(size, defaults, kw))


@register_model
def internvideo2_tiny_patch14_56(**kw: Any) -> InternVideo2:
    """Tiny InternVideo2 classifier (64 wide, 2 blocks, 56 px, 4 frames) for tests and examples."""
    return _classifier("tiny", kw, num_frames=4, num_classes=10, gelu="none")


@register_model
def internvideo2_small_patch14_224(**kw: Any) -> InternVideo2:
    """InternVideo2-S/14 classifier (384 wide, 12 blocks)."""
    return _classifier("small", kw)


@register_model
def internvideo2_base_patch14_224(**kw: Any) -> InternVideo2:
    """InternVideo2-B/14 classifier (768 wide, 12 blocks)."""
    return _classifier("base", kw)


@register_model
def internvideo2_large_patch14_224(**kw: Any) -> InternVideo2:
    """InternVideo2-L/14 classifier (1024 wide, 24 blocks)."""
    return _classifier("large", kw)


@register_model
def internvideo2_1b_patch14_224(**kw: Any) -> InternVideo2:
    """InternVideo2-1B classifier (1408 wide, 40 blocks)."""
    return _classifier("1b", kw)


@register_model
def internvideo2_6b_patch14_224(**kw: Any) -> InternVideo2:
    """InternVideo2-6B classifier (3200 wide, 48 blocks)."""
    return _classifier("6b", kw)


def _ap(size: str, kw: dict[str, Any]) -> InternVideo2:
    return _classifier(size, kw, head_type="attentive")


@register_model
def internvideo2_ap_small_patch14_224(**kw: Any) -> InternVideo2:
    """Attentive-probing classifier on InternVideo2-S/14 (pooled feature + residual MLP)."""
    return _ap("small", kw)


@register_model
def internvideo2_ap_base_patch14_224(**kw: Any) -> InternVideo2:
    """Attentive-probing classifier on InternVideo2-B/14."""
    return _ap("base", kw)


@register_model
def internvideo2_ap_large_patch14_224(**kw: Any) -> InternVideo2:
    """Attentive-probing classifier on InternVideo2-L/14."""
    return _ap("large", kw)


@register_model
def internvideo2_ap_1b_patch14_224(**kw: Any) -> InternVideo2:
    """Attentive-probing classifier on InternVideo2-1B."""
    return _ap("1b", kw)


@register_model
def internvideo2_ap_6b_patch14_224(**kw: Any) -> InternVideo2:
    """Attentive-probing classifier on InternVideo2-6B."""
    return _ap("6b", kw)


def _pretrain(size: str, kw: dict[str, Any], **defaults: Any) -> InternVideo2Pretrain:
    return InternVideo2Pretrain(_cfg(size, defaults, kw))


_STAGE1 = dict(
    clip_decoder="linear",
    clip_teacher_embed_dim=3200,
    clip_teacher_final_dim=768,
    clip_return_layer=6,
    mae_teacher_embed_dim=1408,
    mae_return_layer=4,
)


@register_model
def internvideo2_pretrain_tiny_patch14_56(**kw: Any) -> InternVideo2Pretrain:
    """Tiny stage-1 student (the pretrain parity-fixture geometry)."""
    return _pretrain(
        "tiny",
        kw,
        num_frames=4,
        gelu="none",
        clip_decoder="linear",
        clip_teacher_embed_dim=48,
        clip_teacher_final_dim=24,
        clip_return_layer=2,
        mae_teacher_embed_dim=40,
        mae_return_layer=2,
    )


@register_model
def internvideo2_pretrain_1b_patch14_224(**kw: Any) -> InternVideo2Pretrain:
    """Stage-1 InternVideo2-1B student: CLIP-teacher (3200-d, last 6 blocks) and MAE-teacher decoders."""
    return _pretrain("1b", kw, drop_path_rate=0.25, **_STAGE1)


@register_model
def internvideo2_pretrain_6b_patch14_224(**kw: Any) -> InternVideo2Pretrain:
    """Stage-1 InternVideo2-6B student."""
    return _pretrain("6b", kw, drop_path_rate=0.3, **_STAGE1)


_DISTILL = dict(
    clip_decoder="mlp", clip_teacher_embed_dim=1408, clip_teacher_final_dim=768, clip_return_layer=6
)


@register_model
def internvideo2_distill_small_patch14_224(**kw: Any) -> InternVideo2Pretrain:
    """InternVideo2-S/14 distillation student (MLP decoders to the 1B stage-2 teacher)."""
    return _pretrain("small", kw, **_DISTILL)


@register_model
def internvideo2_distill_base_patch14_224(**kw: Any) -> InternVideo2Pretrain:
    """InternVideo2-B/14 distillation student."""
    return _pretrain("base", kw, **_DISTILL)


@register_model
def internvideo2_distill_large_patch14_224(**kw: Any) -> InternVideo2Pretrain:
    """InternVideo2-L/14 distillation student."""
    return _pretrain("large", kw, **_DISTILL)


_STAGE2 = dict(
    num_frames=4,
    clip_decoder="linear",
    clip_teacher_embed_dim=3200,
    clip_teacher_final_dim=768,
    clip_return_layer=6,
)


@register_model
def internvideo2_stage2_vision_1b_patch14_224(**kw: Any) -> InternVideo2Pretrain:
    """Stage-2 InternVideo2-1B vision backbone (4 frames, separate image position tables)."""
    return _pretrain("1b", kw, sep_image_video_pos_embed=True, **_STAGE2)


@register_model
def internvideo2_stage2_vision_6b_patch14_224(**kw: Any) -> InternVideo2Pretrain:
    """Stage-2 InternVideo2-6B vision backbone (4 frames, joint position table)."""
    return _pretrain("6b", kw, sep_image_video_pos_embed=False, **_STAGE2)


@register_model
def internvideo2_tiny_synth(**kw: Any):
    """Embedded default video-text model: tiny InternVideo2 + MiniLM text tower, trained on the synthetic world."""
    from .default import TinySynthModelConfig, build_tiny_synth_model

    return build_tiny_synth_model(TinySynthModelConfig(**kw))
