"""Training engine: typed configs, tasks that own their loss, a small loop, DDP and checkpoint utilities."""

from __future__ import annotations

from internvideo.train.checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from internvideo.train.config import (
    OptimConfig,
    ScheduleConfig,
    TrainConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
    save_config,
)
from internvideo.train.distributed import (
    DistInfo,
    all_gather_no_grad,
    all_gather_with_grad,
    cleanup_distributed,
    get_rank,
    get_world_size,
    init_distributed,
    is_main_process,
)
from internvideo.train.loop import Trainer, TrainResult, train
from internvideo.train.losses import multi_positive_targets, vtc_loss
from internvideo.train.metrics_log import MetricsLogger, read_metrics
from internvideo.train.optim import (
    WarmupCosineSchedule,
    build_optimizer,
    lr_factor,
    param_groups,
    vit_layer_id,
)
from internvideo.train.sampling import ShardedSampler, seed_everything
from internvideo.train.tasks import ClassificationTask, ContrastiveTask, TrainingTask

__all__ = [
    "ClassificationTask",
    "ContrastiveTask",
    "DistInfo",
    "MetricsLogger",
    "OptimConfig",
    "ScheduleConfig",
    "ShardedSampler",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "TrainingTask",
    "WarmupCosineSchedule",
    "all_gather_no_grad",
    "all_gather_with_grad",
    "apply_overrides",
    "build_optimizer",
    "cleanup_distributed",
    "config_from_dict",
    "config_to_dict",
    "get_rank",
    "get_world_size",
    "init_distributed",
    "is_main_process",
    "latest_checkpoint",
    "load_checkpoint",
    "load_config",
    "lr_factor",
    "multi_positive_targets",
    "param_groups",
    "read_metrics",
    "save_checkpoint",
    "save_config",
    "seed_everything",
    "train",
    "vit_layer_id",
    "vtc_loss",
]
