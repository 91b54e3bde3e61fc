"""Recipes: Python functions that return complete, typed run configs.

A recipe is the source of truth for a run; ``key=value`` overrides (see
:func:`internvideo.train.config.apply_overrides`) adjust it, and the config that ran is saved as JSON
in the run folder. The toy recipes here train tiny models on synthetic data and double as templates.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from typing import Literal

import torch

from internvideo.errors import ConfigError
from internvideo.train.config import OptimConfig, ScheduleConfig, TrainConfig
from internvideo.train.loop import Hook, TrainResult, train
from internvideo.train.tasks import ClassificationTask, ContrastiveTask, TrainingTask
from internvideo.train.toy import BlobsDataset, PairsDataset, TinyClassifier, TinyDualEncoder


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    """A toy run: which objective, the synthetic data and model sizes, and the training config."""

    kind: Literal["classification", "contrastive"] = "classification"
    num_samples: int = 256
    dim: int = 8
    num_classes: int = 4
    hidden: int = 16
    depth: int = 2
    dropout: float = 0.0
    noise: float = 0.0
    label_smoothing: float = 0.0
    data_seed: int = 0
    train: TrainConfig = dataclasses.field(default_factory=lambda: TrainConfig(steps=50))


def toy_classification() -> ToyConfig:
    """A 2-block MLP classifying Gaussian blobs: warm-up + cosine, layer decay, label smoothing."""
    return ToyConfig(
        kind="classification",
        label_smoothing=0.1,
        train=TrainConfig(
            steps=60,
            batch_size=16,
            optim=OptimConfig(lr=3e-3, weight_decay=0.05, layer_decay=0.9),
            schedule=ScheduleConfig(warmup_steps=5, min_lr_ratio=0.01),
            clip_grad_norm=1.0,
            log_every=10,
            ckpt_every=20,
            out_dir="runs/toy_classification",
        ),
    )


def toy_contrastive() -> ToyConfig:
    """Linear video / text encoders aligned with the VTC loss (two captions per video)."""
    return ToyConfig(
        kind="contrastive",
        train=TrainConfig(
            steps=60,
            batch_size=16,
            optim=OptimConfig(lr=1e-2, weight_decay=0.0),
            schedule=ScheduleConfig(warmup_steps=5),
            log_every=10,
            ckpt_every=20,
            out_dir="runs/toy_contrastive",
        ),
    )


RECIPES: dict[str, Callable[[], ToyConfig]] = {
    "toy_classification": toy_classification,
    "toy_contrastive": toy_contrastive,
}


def get_recipe(name: str) -> ToyConfig:
    """The config of a named recipe."""
    if name not in RECIPES:
        raise ConfigError(f"unknown recipe {name!r}; available: {', '.join(sorted(RECIPES))}")
    return RECIPES[name]()


def build_toy(cfg: ToyConfig) -> tuple[torch.nn.Module, TrainingTask, torch.utils.data.Dataset]:
    """Model (initialised from ``cfg.train.seed``), task and dataset of a toy config."""
    torch.manual_seed(cfg.train.seed)
    if cfg.kind == "classification":
        data = BlobsDataset(cfg.num_samples, cfg.dim, cfg.num_classes, seed=cfg.data_seed, noise=cfg.noise)
        model = TinyClassifier(cfg.dim, cfg.hidden, cfg.num_classes, depth=cfg.depth, dropout=cfg.dropout)
        return model, ClassificationTask(label_smoothing=cfg.label_smoothing), data
    data = PairsDataset(cfg.num_samples, video_dim=cfg.dim, text_dim=cfg.dim, seed=cfg.data_seed)
    return TinyDualEncoder(cfg.dim, cfg.dim, embed_dim=cfg.hidden), ContrastiveTask(), data


def run_toy(
    cfg: ToyConfig, *, resume: bool | str | os.PathLike[str] = True, hooks: Sequence[Hook] = ()
) -> TrainResult:
    """Train a toy config (single process, or one rank under ``torchrun``)."""
    model, task, data = build_toy(cfg)
    return train(model, task, data, cfg.train, resume=resume, hooks=hooks, run_config=cfg)
