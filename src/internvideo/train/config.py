"""Typed training configuration: frozen dataclasses, dotted ``key=value`` overrides, JSON records.

Recipes are Python functions that return these objects; JSON is only used to record what ran.
"""

from __future__ import annotations

import dataclasses
import json
import os
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

from internvideo._io import atomic_write_text
from internvideo.errors import ConfigError

T = TypeVar("T")

Precision = Literal["fp32", "bf16"]
ScheduleName = Literal["cosine", "constant"]


@dataclasses.dataclass(frozen=True)
class OptimConfig:
    """AdamW hyper-parameters and parameter grouping.

    ``lr`` is the peak learning rate of the top layer; with ``layer_decay < 1`` a parameter in layer
    ``i`` of ``L + 2`` layer ids gets ``lr * layer_decay ** (L + 1 - i)``.
    """

    lr: float = 1e-3
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    layer_decay: float = 1.0

    def __post_init__(self) -> None:
        if self.lr < 0:
            raise ConfigError(f"optim.lr must be >= 0, got {self.lr}")
        if self.weight_decay < 0:
            raise ConfigError(f"optim.weight_decay must be >= 0, got {self.weight_decay}")
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ConfigError(f"optim.betas must be two values in [0, 1), got {self.betas}")
        if self.eps <= 0:
            raise ConfigError(f"optim.eps must be > 0, got {self.eps}")
        if not 0.0 < self.layer_decay <= 1.0:
            raise ConfigError(f"optim.layer_decay must be in (0, 1], got {self.layer_decay}")


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    """Per-step learning-rate schedule: linear warm-up, then cosine decay (or constant).

    The factor applied to every group's base lr at optimizer step ``s`` (0-based) is
    ``(s + 1) / warmup_steps`` during warm-up, then for cosine
    ``min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + cos(pi * (s - warmup_steps) / (total - warmup_steps)))``.
    """

    name: ScheduleName = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0

    def __post_init__(self) -> None:
        if self.warmup_steps < 0:
            raise ConfigError(f"schedule.warmup_steps must be >= 0, got {self.warmup_steps}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ConfigError(f"schedule.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Everything the training loop needs besides the model, the data and the task.

    ``batch_size`` is the micro-batch per process; one optimizer step sees
    ``batch_size * grad_accum_steps * world_size`` samples. Give exactly one of ``steps``
    (optimizer steps) or ``epochs``.
    """

    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    schedule: ScheduleConfig = dataclasses.field(default_factory=ScheduleConfig)
    steps: int | None = None
    epochs: int | None = None
    batch_size: int = 8
    grad_accum_steps: int = 1
    clip_grad_norm: float | None = None
    precision: Precision = "fp32"
    seed: int = 0
    log_every: int = 10
    ckpt_every: int | None = None
    keep_last: int | None = 3
    save_final: bool = True
    eval_every: int | None = None
    out_dir: str = "runs/default"
    num_workers: int = 0
    shuffle: bool = True
    drop_last: bool = True
    progress: bool = True
    find_unused_parameters: bool = False

    def __post_init__(self) -> None:
        if (self.steps is None) == (self.epochs is None):
            raise ConfigError(
                f"give exactly one of steps or epochs (got steps={self.steps}, epochs={self.epochs})"
            )
        positive = {
            "steps": self.steps,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "grad_accum_steps": self.grad_accum_steps,
            "log_every": self.log_every,
            "ckpt_every": self.ckpt_every,
            "keep_last": self.keep_last,
            "eval_every": self.eval_every,
        }
        for name, value in positive.items():
            if value is not None and value < 1:
                raise ConfigError(f"{name} must be >= 1, got {value}")
        if self.clip_grad_norm is not None and self.clip_grad_norm <= 0:
            raise ConfigError(f"clip_grad_norm must be > 0 or None, got {self.clip_grad_norm}")
        if self.precision not in typing.get_args(Precision):
            raise ConfigError(
                f"precision must be one of {typing.get_args(Precision)}, got {self.precision!r}"
            )
        if self.num_workers < 0:
            raise ConfigError(f"num_workers must be >= 0, got {self.num_workers}")


# --------------------------------------------------------------------------------------------------
# overrides


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _parse_bool(raw: str, key: str) -> bool:
    low = raw.strip().lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    raise ConfigError(f"override {key}={raw!r}: expected a boolean (true/false)")


def _parse_value(raw: Any, tp: Any, key: str) -> Any:
    """Convert ``raw`` (a string from the command line, or a Python value) to type ``tp``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (
            raw is None or (isinstance(raw, str) and raw.strip().lower() in ("none", "null"))
        ):
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _parse_value(raw, arg, key)
            except ConfigError as exc:
                errors.append(str(exc))
        if len(errors) == 1:
            raise ConfigError(errors[0] + " or none")
        raise ConfigError(f"override {key}={raw!r}: expected {_type_name(tp)}")
    if origin is Literal:
        for choice in args:
            if raw == choice or (isinstance(raw, str) and str(choice) == raw.strip()):
                return choice
        raise ConfigError(f"override {key}={raw!r}: expected one of {list(args)}")
    if origin is tuple:
        if isinstance(raw, str):
            text = raw.strip().strip("()[]")
            items: list[Any] = [p.strip() for p in text.split(",") if p.strip()] if text else []
        elif isinstance(raw, (list, tuple)):
            items = list(raw)
        else:
            raise ConfigError(f"override {key}={raw!r}: expected a comma-separated list")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_parse_value(v, args[0], key) for v in items)
        if len(items) != len(args):
            raise ConfigError(f"override {key}={raw!r}: expected {len(args)} comma-separated values")
        return tuple(_parse_value(v, a, key) for v, a in zip(items, args))
    if tp is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str):
            return _parse_bool(raw, key)
        raise ConfigError(f"override {key}={raw!r}: expected a boolean")
    if tp is int:
        if isinstance(raw, bool):
            raise ConfigError(f"override {key}={raw!r}: expected an integer")
        if isinstance(raw, int):
            return raw
        if isinstance(raw, str):
            try:
                return int(raw.strip())
            except ValueError:
                pass
        raise ConfigError(f"override {key}={raw!r}: expected an integer")
    if tp is float:
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return float(raw)
        if isinstance(raw, str):
            try:
                return float(raw.strip())
            except ValueError:
                pass
        raise ConfigError(f"override {key}={raw!r}: expected a number")
    if tp is str:
        if isinstance(raw, str):
            return raw
        raise ConfigError(f"override {key}={raw!r}: expected a string")
    if tp is Path:
        if isinstance(raw, (str, os.PathLike)):
            return Path(raw)
        raise ConfigError(f"override {key}={raw!r}: expected a path")
    if dataclasses.is_dataclass(tp):
        raise ConfigError(f"override {key}: is a section, set one of its fields ({key}.<name>=...)")
    raise ConfigError(f"override {key}: fields of type {_type_name(tp)} cannot be overridden")


def _set_path(obj: Any, parts: list[str], raw: Any, full_key: str) -> Any:
    names = [f.name for f in dataclasses.fields(obj)]
    head = parts[0]
    if head not in names:
        where = full_key[: len(full_key) - len(".".join(parts))].rstrip(".") or type(obj).__name__
        raise ConfigError(
            f"unknown config key {full_key!r} ({head!r} is not a field of {where}); valid keys: {', '.join(names)}"
        )
    hints = typing.get_type_hints(type(obj))
    if len(parts) == 1:
        value = _parse_value(raw, hints[head], full_key)
    else:
        child = getattr(obj, head)
        if not dataclasses.is_dataclass(child):
            raise ConfigError(f"unknown config key {full_key!r}: {head!r} has no sub-fields")
        value = _set_path(child, parts[1:], raw, full_key)
    try:
        return dataclasses.replace(obj, **{head: value})
    except ConfigError as exc:
        raise ConfigError(f"override {full_key}={raw!r} gives an invalid config: {exc}") from exc


def apply_overrides(cfg: T, overrides: Iterable[str] | Mapping[str, Any]) -> T:
    """Return a copy of frozen dataclass ``cfg`` with dotted overrides applied.

    ``overrides`` is either CLI-style strings (``["optim.lr=3e-4", "steps=100"]``) or a mapping from
    dotted keys to values. Values are converted to and checked against the field's declared type;
    unknown keys and bad values raise :class:`~internvideo.errors.ConfigError`.
    """
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise ConfigError(f"apply_overrides needs a dataclass instance, got {type(cfg).__name__}")
    pairs: list[tuple[str, Any]] = []
    if isinstance(overrides, Mapping):
        pairs = [(str(k), v) for k, v in overrides.items()]
    else:
        for item in overrides:
            if not isinstance(item, str) or "=" not in item:
                raise ConfigError(f"override {item!r} must look like key=value (e.g. optim.lr=3e-4)")
            key, raw = item.split("=", 1)
            pairs.append((key.strip(), raw))
    for key, raw in pairs:
        if not key or any(not p for p in key.split(".")):
            raise ConfigError(f"override key {key!r} is empty or malformed")
        cfg = _set_path(cfg, key.split("."), raw, key)
    return cfg


# --------------------------------------------------------------------------------------------------
# JSON records


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (nested) config dataclass; tuples become lists, paths strings."""

    def convert(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: convert(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, (list, tuple)):
            return [convert(x) for x in v]
        if isinstance(v, Mapping):
            return {str(k): convert(x) for k, x in v.items()}
        if isinstance(v, os.PathLike):
            return os.fspath(v)
        return v

    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise ConfigError(f"config_to_dict needs a dataclass instance, got {type(cfg).__name__}")
    return convert(cfg)


def config_from_dict(cls: type[T], data: Mapping[str, Any]) -> T:
    """Rebuild config class ``cls`` from :func:`config_to_dict` output (type-checked, strict keys)."""
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(f"unknown keys for {cls.__name__}: {unknown}; valid keys: {sorted(names)}")
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        tp = hints[name]
        if dataclasses.is_dataclass(tp) and isinstance(value, Mapping):
            kwargs[name] = config_from_dict(tp, value)  # type: ignore[arg-type]
        else:
            kwargs[name] = _parse_value(value, tp, name)
    return cls(**kwargs)


def save_config(cfg: Any, path: str | os.PathLike[str]) -> Path:
    """Record the config that ran as pretty JSON (atomically). Returns the path written."""
    path = Path(path)
    atomic_write_text(path, json.dumps(config_to_dict(cfg), indent=2, sort_keys=False) + "\n")
    return path


def load_config(cls: type[T], path: str | os.PathLike[str]) -> T:
    """Read a config saved by :func:`save_config` back into ``cls``."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read config {str(path)!r}: {exc}") from exc
    return config_from_dict(cls, data)
