"""AdamW parameter groups (decay / no-decay, layer-wise lr decay) and the per-step lr schedule.

Layer ids follow the BEiT / InternVideo2 convention: for a model with ``L`` blocks, embeddings
(``cls_token``, ``pos_embed``, ``patch_embed``, ``mask_token``) are layer 0, ``blocks.{i}.`` is layer
``i + 1`` and everything else (norms after the blocks, heads, projections) is layer ``L + 1``. A group's
lr is ``base_lr * lr_scale`` with ``lr_scale = layer_decay ** (L + 1 - layer_id)``.

A model can take over both choices by exposing ``get_num_layers() -> int`` and
``get_layer_id(name: str) -> int``, and can list parameter names to exempt from weight decay with
``no_weight_decay() -> set[str]``.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from internvideo.errors import ConfigError
from internvideo.train.config import OptimConfig, ScheduleConfig

logger = logging.getLogger(__name__)

_BLOCK_RE = re.compile(r"(?:^|\.)blocks\.(\d+)\.")
_EMBED_NAMES = ("cls_token", "pos_embed", "patch_embed", "mask_token", "register_tokens")
_NORM_TYPES: tuple[type[nn.Module], ...] = (
    nn.LayerNorm,
    nn.GroupNorm,
    nn.modules.batchnorm._BatchNorm,
    nn.modules.instancenorm._InstanceNorm,
    nn.LocalResponseNorm,
)
if hasattr(nn, "RMSNorm"):
    _NORM_TYPES = (*_NORM_TYPES, nn.RMSNorm)


def vit_layer_id(name: str, num_layers: int) -> int:
    """Default layer id for ViT-style parameter names (see module docstring)."""
    parts = name.split(".")
    if any(p in _EMBED_NAMES for p in parts):
        return 0
    m = _BLOCK_RE.search(name)
    if m is not None:
        return int(m.group(1)) + 1
    return num_layers + 1


def infer_num_layers(model: nn.Module) -> int | None:
    """``model.get_num_layers()`` if defined, else ``max(i) + 1`` over ``blocks.{i}.`` names, else None."""
    if hasattr(model, "get_num_layers"):
        return int(model.get_num_layers())
    ids = [int(m.group(1)) for n, _ in model.named_parameters() if (m := _BLOCK_RE.search(n))]
    return max(ids) + 1 if ids else None


def _no_decay_names(model: nn.Module) -> set[str]:
    names: set[str] = set()
    if hasattr(model, "no_weight_decay"):
        names |= set(model.no_weight_decay())
    for mod_name, module in model.named_modules():
        if isinstance(module, _NORM_TYPES) or type(module).__name__.lower().endswith("norm"):
            for p_name, _ in module.named_parameters(recurse=False):
                names.add(f"{mod_name}.{p_name}" if mod_name else p_name)
    return names


def _matches(name: str, skip: set[str]) -> bool:
    if name in skip:
        return True
    parts = name.split(".")
    # a listed name may be relative to a sub-module (``pos_embed`` matches ``vision.pos_embed``)
    return any(".".join(parts[i:]) in skip for i in range(1, len(parts)))


def param_groups(
    model: nn.Module,
    weight_decay: float,
    layer_decay: float = 1.0,
    *,
    no_weight_decay: Iterable[str] = (),
    layer_id_fn: Callable[[str], int] | None = None,
    num_layers: int | None = None,
) -> list[dict[str, Any]]:
    """Split trainable parameters into AdamW groups keyed by (layer id, decay / no decay).

    No weight decay for biases, 1-D parameters (norm weights, tokens of shape ``(D,)``), parameters
    of normalisation layers and names in ``model.no_weight_decay()`` or ``no_weight_decay``. Each group
    carries ``lr_scale`` (layer-wise decay), ``weight_decay``, ``layer_id``, ``group_name`` and
    ``param_names``; the optimizer's lr for a group is ``base_lr * lr_scale``.
    """
    skip = _no_decay_names(model) | set(no_weight_decay)
    use_layers = layer_decay != 1.0
    if use_layers:
        if num_layers is None:
            num_layers = infer_num_layers(model)
        if num_layers is None:
            raise ConfigError(
                f"layer_decay={layer_decay} needs layer ids, but {type(model).__name__} has no "
                "get_num_layers() and no 'blocks.{i}.' parameters; set optim.layer_decay=1.0 or give the "
                "model get_num_layers() and get_layer_id(name)"
            )
        if layer_id_fn is None:
            if hasattr(model, "get_layer_id"):
                layer_id_fn = model.get_layer_id
            else:
                n = num_layers

                def layer_id_fn(name: str) -> int:
                    return vit_layer_id(name, n)

    groups: dict[str, dict[str, Any]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        decay = not (param.ndim <= 1 or name.endswith(".bias") or _matches(name, skip))
        if use_layers:
            assert layer_id_fn is not None and num_layers is not None
            layer_id = int(layer_id_fn(name))
            scale = layer_decay ** (num_layers + 1 - layer_id)
        else:
            layer_id, scale = 0, 1.0
        key = f"layer_{layer_id}_{'decay' if decay else 'no_decay'}"
        if key not in groups:
            groups[key] = {
                "group_name": key,
                "layer_id": layer_id,
                "lr_scale": scale,
                "weight_decay": weight_decay if decay else 0.0,
                "params": [],
                "param_names": [],
            }
        groups[key]["params"].append(param)
        groups[key]["param_names"].append(name)
    return sorted(groups.values(), key=lambda g: (g["layer_id"], g["weight_decay"] == 0.0))


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups` with each group's lr set to ``cfg.lr * lr_scale``."""
    groups = param_groups(model, cfg.weight_decay, cfg.layer_decay)
    if not groups:
        raise ConfigError(f"{type(model).__name__} has no trainable parameters")
    for g in groups:
        g["lr"] = cfg.lr * g["lr_scale"]
        g["base_lr"] = cfg.lr
    for g in groups:
        logger.debug(
            "param group %s: %d tensors, lr_scale=%.4g, wd=%g",
            g["group_name"],
            len(g["params"]),
            g["lr_scale"],
            g["weight_decay"],
        )
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay)


def lr_factor(step: int, total_steps: int, cfg: ScheduleConfig) -> float:
    """Multiplier on the base lr for optimizer step ``step`` (0-based) of ``total_steps``."""
    warmup = min(cfg.warmup_steps, total_steps)
    if step < warmup:
        return (step + 1) / warmup
    if cfg.name == "constant":
        return 1.0
    decay_steps = max(1, total_steps - warmup)
    progress = min(1.0, (step - warmup) / decay_steps)
    return cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


class WarmupCosineSchedule:
    """Sets each group's lr to ``base_lr * lr_scale * lr_factor(step)``; call :meth:`step` per update.

    The schedule is a pure function of the step counter, so its state is just that counter.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, total_steps: int, cfg: ScheduleConfig) -> None:
        if total_steps < 1:
            raise ConfigError(f"the schedule needs total_steps >= 1, got {total_steps}")
        self.optimizer = optimizer
        self.total_steps = total_steps
        self.cfg = cfg
        self.last_step = 0
        for g in optimizer.param_groups:
            g.setdefault("base_lr", g["lr"] / g.get("lr_scale", 1.0))
            g.setdefault("lr_scale", 1.0)
        self._apply()

    def _apply(self) -> None:
        f = lr_factor(self.last_step, self.total_steps, self.cfg)
        for g in self.optimizer.param_groups:
            g["lr"] = g["base_lr"] * g["lr_scale"] * f

    def step(self) -> None:
        """Advance by one optimizer step and set the lr for the next one."""
        self.last_step += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        """Current lr of every group."""
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, int]:
        return {"last_step": self.last_step, "total_steps": self.total_steps}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.last_step = int(state["last_step"])
        self._apply()
