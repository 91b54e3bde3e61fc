"""Training tasks: one per objective, each owning its loss.

A task turns ``(model, batch)`` into a dict with a scalar ``"loss"`` (what is back-propagated) and
any other scalars worth logging. The loop does the rest (devices, precision, accumulation, DDP).
Tasks hold no learnable parameters: those (e.g. a contrastive ``logit_scale``) belong to the model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import nn

from internvideo.errors import ConfigError
from internvideo.train.losses import vtc_loss


@runtime_checkable
class TrainingTask(Protocol):
    """What the loop needs from a task. ``eval_step(model, batch)`` is optional and returns scalars too."""

    def training_step(self, model: nn.Module, batch: Any) -> dict[str, torch.Tensor]:
        """Compute the loss of one micro-batch: ``{"loss": scalar tensor, **other_scalars}``."""
        ...


def _split_batch(batch: Any, input_key: str, target_key: str, task: str) -> tuple[Any, Any]:
    if isinstance(batch, Mapping):
        missing = [k for k in (input_key, target_key) if k not in batch]
        if missing:
            raise KeyError(f"{task}: batch has no {missing} (keys: {sorted(batch)})")
        return batch[input_key], batch[target_key]
    if isinstance(batch, (tuple, list)) and len(batch) == 2:
        return batch[0], batch[1]
    raise TypeError(f"{task}: expected a dict batch or an (input, target) pair, got {type(batch).__name__}")


class ClassificationTask:
    """Cross-entropy on ``model(inputs)`` logits, with optional label smoothing; logs top-1 accuracy.

    Batches are dicts (``input_key``, ``label_key``) or ``(inputs, labels)`` pairs.
    """

    def __init__(
        self, label_smoothing: float = 0.0, input_key: str = "video", label_key: str = "label"
    ) -> None:
        if not 0.0 <= label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = label_smoothing
        self.input_key = input_key
        self.label_key = label_key

    def _logits(self, model: nn.Module, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        x, y = _split_batch(batch, self.input_key, self.label_key, "ClassificationTask")
        logits = model(x)
        if isinstance(logits, Mapping):
            logits = logits["logits"]
        return logits.float(), y

    def training_step(self, model: nn.Module, batch: Any) -> dict[str, torch.Tensor]:
        logits, y = self._logits(model, batch)
        loss = F.cross_entropy(logits, y, label_smoothing=self.label_smoothing)
        with torch.no_grad():
            acc = (logits.argmax(dim=-1) == y).float().mean()
        return {"loss": loss, "acc": acc}

    @torch.no_grad()
    def eval_step(self, model: nn.Module, batch: Any) -> dict[str, torch.Tensor]:
        logits, y = self._logits(model, batch)
        return {
            "loss": F.cross_entropy(logits, y),
            "acc": (logits.argmax(dim=-1) == y).float().mean(),
        }


class ContrastiveTask:
    """Video-text contrastive (VTC) training for any model with ``encode_video`` and ``encode_text``.

    Batches are dicts with ``video_key`` (passed to ``encode_video``), ``text_key`` (a tensor passed
    to ``encode_text``, or a mapping passed as keyword arguments, e.g. ``input_ids`` /
    ``attention_mask``) and optionally ``id_key`` (one id per clip: clips of the same video are all
    positives). Projections are gathered across ranks inside :func:`vtc_loss`.

    The temperature is ``temperature`` when given, else taken from the model: ``1 / exp(logit_scale)``
    (CLIP style, scale capped at ``max_logit_scale``) or its ``temp`` attribute (InternVideo2 style).
    """

    def __init__(
        self,
        temperature: float | None = None,
        video_key: str = "video",
        text_key: str = "text",
        id_key: str = "video_id",
        max_logit_scale: float = 100.0,
    ) -> None:
        if temperature is not None and temperature <= 0:
            raise ConfigError(f"temperature must be > 0, got {temperature}")
        self.temperature = temperature
        self.video_key = video_key
        self.text_key = text_key
        self.id_key = id_key
        self.max_logit_scale = max_logit_scale

    def _temperature(self, model: nn.Module) -> float | torch.Tensor:
        if self.temperature is not None:
            return self.temperature
        if hasattr(model, "logit_scale"):
            scale = model.logit_scale.float().clamp(max=math.log(self.max_logit_scale)).exp()
            return 1.0 / scale
        if hasattr(model, "temp"):
            return torch.as_tensor(model.temp).float().clamp(min=1e-3)
        raise ConfigError(
            f"ContrastiveTask: {type(model).__name__} has neither logit_scale nor temp; pass temperature="
        )

    def _features(
        self, model: nn.Module, batch: Any
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        if not isinstance(batch, Mapping):
            raise TypeError(f"ContrastiveTask: expected a dict batch, got {type(batch).__name__}")
        for k in (self.video_key, self.text_key):
            if k not in batch:
                raise KeyError(f"ContrastiveTask: batch has no {k!r} (keys: {sorted(batch)})")
        video = model.encode_video(batch[self.video_key])
        text_in = batch[self.text_key]
        text = model.encode_text(**text_in) if isinstance(text_in, Mapping) else model.encode_text(text_in)
        ids = batch[self.id_key] if self.id_key in batch else None
        return video, text, ids

    def training_step(self, model: nn.Module, batch: Any) -> dict[str, torch.Tensor]:
        video, text, ids = self._features(model, batch)
        temp = self._temperature(model)
        loss = vtc_loss(video, text, temp, ids, gather=True)
        return {"loss": loss, "temperature": torch.as_tensor(temp).detach().float()}

    @torch.no_grad()
    def eval_step(self, model: nn.Module, batch: Any) -> dict[str, torch.Tensor]:
        video, text, ids = self._features(model, batch)
        return {"loss": vtc_loss(video, text, self._temperature(model), ids, gather=True)}
