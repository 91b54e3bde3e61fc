"""Model math: InternVideo2 encoders, registry, checkpoint conversion (no I/O beyond checkpoints)."""

from __future__ import annotations

from .convert import LoadReport, load_checkpoint, read_state_dict, remap_vision_state_dict
from .hub import from_pretrained, register_architecture, save_pretrained
from .layers import resize_pos_table, sincos_3d
from .registry import (
    PretrainedCfg,
    create_model,
    get_pretrained_cfg,
    list_models,
    register_model,
)
from .vision import InternVideo2, InternVideo2Pretrain, PretrainOutput, VisionConfig, count_params

__all__ = [
    "InternVideo2",
    "InternVideo2Pretrain",
    "LoadReport",
    "PretrainOutput",
    "PretrainedCfg",
    "VisionConfig",
    "count_params",
    "create_model",
    "from_pretrained",
    "get_pretrained_cfg",
    "list_models",
    "load_checkpoint",
    "read_state_dict",
    "register_architecture",
    "register_model",
    "remap_vision_state_dict",
    "resize_pos_table",
    "save_pretrained",
    "sincos_3d",
]
