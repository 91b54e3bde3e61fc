"""The training loop: a small :class:`Trainer` around a model, a task and a map-style dataset.

It handles devices, DDP (when launched with ``torchrun``), gradient accumulation, bf16 autocast,
gradient clipping, the lr schedule, JSONL metrics, a rank-0 progress bar and atomic checkpoints with
exact resume. The task computes the loss; the loop never looks inside a batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from internvideo.errors import CheckpointError, ConfigError
from internvideo.train import distributed as du
from internvideo.train.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    remove_stale_temp,
    save_checkpoint,
)
from internvideo.train.config import TrainConfig, config_to_dict, save_config
from internvideo.train.metrics_log import MetricsLogger
from internvideo.train.optim import WarmupCosineSchedule, build_optimizer
from internvideo.train.sampling import ShardedSampler, seed_everything
from internvideo.train.tasks import TrainingTask

logger = logging.getLogger(__name__)

Hook = Callable[["Trainer"], None]


def move_to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor in a (nested) dict / list / tuple / dataclass batch to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, Mapping):
        return type(batch)({k: move_to_device(v, device) for k, v in batch.items()})  # type: ignore[call-arg]
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(move_to_device(v, device) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(move_to_device(v, device) for v in batch)
    if dataclasses.is_dataclass(batch) and not isinstance(batch, type):
        return dataclasses.replace(
            batch,
            **{f.name: move_to_device(getattr(batch, f.name), device) for f in dataclasses.fields(batch)},
        )
    return batch


class _TaskStep(nn.Module):
    """Runs ``task.training_step`` inside ``forward`` so DDP sees (and syncs) any method the task calls."""

    def __init__(self, model: nn.Module, task: TrainingTask) -> None:
        super().__init__()
        self.model = model
        object.__setattr__(self, "_task", task)  # not a sub-module: tasks hold no parameters

    def forward(self, batch: Any) -> dict[str, torch.Tensor]:
        return self._task.training_step(self.model, batch)


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What :meth:`Trainer.fit` returns."""

    step: int
    last_metrics: dict[str, float]
    checkpoint: Path | None


class Trainer:
    """Train ``model`` with ``task`` on ``train_data`` as ``config`` says.

    ``train_data`` is a map-style dataset (``__len__`` / ``__getitem__``); it is sharded over ranks and
    its order is a function of ``(config.seed, epoch)``. ``hooks`` are called as ``hook(trainer)``
    after every optimizer step (after any checkpoint of that step). ``run_config`` (any dataclass)
    is saved beside the train config as ``run_config.json``.
    """

    def __init__(
        self,
        model: nn.Module,
        task: TrainingTask,
        train_data: Dataset,
        config: TrainConfig,
        *,
        eval_data: Dataset | None = None,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        optimizer: torch.optim.Optimizer | None = None,
        device: str | torch.device | None = None,
        hooks: Sequence[Hook] = (),
        run_config: Any | None = None,
    ) -> None:
        if not isinstance(task, TrainingTask):
            raise ConfigError(
                f"{type(task).__name__} is not a TrainingTask (it needs training_step(model, batch))"
            )
        if not hasattr(train_data, "__len__"):
            raise ConfigError("train_data must be a map-style dataset with __len__ and __getitem__")
        self.config = config
        self.task = task
        self.dist = du.init_distributed(device=device)
        self.device = self.dist.device
        self.model = model.to(self.device)
        self.train_data = train_data
        self.eval_data = eval_data
        self.collate_fn = collate_fn
        self.hooks = list(hooks)
        self.run_config = run_config
        self.out_dir = Path(config.out_dir)
        self.ckpt_root = self.out_dir / "checkpoints"
        self.optimizer = optimizer if optimizer is not None else build_optimizer(self.model, config.optim)

        self.sampler = ShardedSampler(
            len(train_data),  # type: ignore[arg-type]
            num_replicas=self.dist.world_size,
            rank=self.dist.rank,
            shuffle=config.shuffle,
            seed=config.seed,
            drop_last=config.drop_last,
        )
        if config.drop_last:
            micro_per_epoch = self.sampler.shard_len // config.batch_size
        else:
            micro_per_epoch = math.ceil(self.sampler.shard_len / config.batch_size)
        self.steps_per_epoch = micro_per_epoch // config.grad_accum_steps
        if self.steps_per_epoch < 1:
            raise ConfigError(
                f"dataset of {len(train_data)} samples is too small for one optimizer step of "  # type: ignore[arg-type]
                f"batch_size={config.batch_size} x grad_accum_steps={config.grad_accum_steps} x "
                f"world_size={self.dist.world_size}"
            )
        self.total_steps = config.steps if config.steps is not None else config.epochs * self.steps_per_epoch  # type: ignore[operator]
        self.scheduler = WarmupCosineSchedule(self.optimizer, self.total_steps, config.schedule)
        self.step = 0
        self.last_metrics: dict[str, float] = {}
        self._last_saved: int | None = None

    # ------------------------------------------------------------------------------------------
    @property
    def is_main(self) -> bool:
        return self.dist.is_main

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.config.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _loader(self, dataset: Dataset, sampler: ShardedSampler, drop_last: bool, seed: int) -> DataLoader:
        g = torch.Generator()
        g.manual_seed(seed)
        return DataLoader(
            dataset,
            batch_size=self.config.batch_size,
            sampler=sampler,
            drop_last=drop_last,
            num_workers=self.config.num_workers,
            collate_fn=self.collate_fn,
            generator=g,
            pin_memory=self.device.type == "cuda",
        )

    def _micro_batches(self, epoch: int, start_micro: int) -> Iterator[Any]:
        self.sampler.set_epoch(epoch, start=start_micro * self.config.batch_size)
        if hasattr(self.train_data, "set_epoch"):  # datasets whose augmentation depends on the epoch
            self.train_data.set_epoch(epoch)
        loader = self._loader(
            self.train_data, self.sampler, self.config.drop_last, self.config.seed * 1_000_003 + epoch
        )
        limit = self.steps_per_epoch * self.config.grad_accum_steps - start_micro
        for i, batch in enumerate(loader):
            if i >= limit:
                break
            yield batch

    def _resume(self, resume: bool | str | os.PathLike[str]) -> bool:
        if resume is False:
            return False
        if resume is True:
            path = latest_checkpoint(self.ckpt_root)
            if path is None:
                return False
        else:
            path = Path(resume)
            if not path.is_dir():
                raise CheckpointError(f"cannot resume: checkpoint folder {str(path)!r} does not exist")
        state = load_checkpoint(path, self.model, self.optimizer, self.scheduler)
        self.step = int(state["step"])
        self._last_saved = self.step
        if state["world_size"] != self.dist.world_size:
            logger.warning(
                "resuming a %d-process checkpoint with %d processes: the data order changes",
                state["world_size"],
                self.dist.world_size,
            )
        extra = state["extra"]
        if "steps_per_epoch" in extra and extra["steps_per_epoch"] != self.steps_per_epoch:
            logger.warning(
                "resuming with %d steps per epoch (checkpoint: %d): the data position is not exact",
                self.steps_per_epoch,
                extra["steps_per_epoch"],
            )
        saved_cfg = extra["config"] if "config" in extra else None
        if saved_cfg is not None and saved_cfg != config_to_dict(self.config):
            logger.warning("resuming %s with a config that differs from the one that saved it", path)
        logger.info("resumed from %s at step %d", path, self.step)
        return True

    def save(self) -> Path:
        """Checkpoint the current step (every rank must call this)."""
        path = save_checkpoint(
            self.ckpt_root,
            self.step,
            self.model,
            self.optimizer,
            self.scheduler,
            extra_state={
                "config": config_to_dict(self.config),
                "epoch": self.step // self.steps_per_epoch,
                "steps_per_epoch": self.steps_per_epoch,
            },
            keep_last=self.config.keep_last,
        )
        self._last_saved = self.step
        return path

    # ------------------------------------------------------------------------------------------
    def fit(self, resume: bool | str | os.PathLike[str] = True) -> TrainResult:
        """Train until ``total_steps``; ``resume=True`` continues from the latest checkpoint in
        ``out_dir`` if any, a path resumes from that checkpoint, ``False`` starts afresh."""
        cfg = self.config
        if self.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
            remove_stale_temp(self.ckpt_root)
            save_config(cfg, self.out_dir / "config.json")
            if self.run_config is not None:
                save_config(self.run_config, self.out_dir / "run_config.json")
        du.barrier()
        resumed = self._resume(resume)
        if not resumed:
            seed_everything(cfg.seed + self.dist.rank)
        metrics = (
            MetricsLogger(self.out_dir / "metrics.jsonl", resume_step=self.step) if self.is_main else None
        )

        step_module = _TaskStep(self.model, self.task)
        if du.is_dist():
            ddp_kwargs: dict[str, Any] = {"find_unused_parameters": cfg.find_unused_parameters}
            if self.device.type == "cuda":
                ddp_kwargs["device_ids"] = [self.device.index]
            runner: nn.Module = DistributedDataParallel(step_module, **ddp_kwargs)
        else:
            runner = step_module
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        global_batch = cfg.batch_size * cfg.grad_accum_steps * self.dist.world_size

        pbar = tqdm(
            total=self.total_steps,
            initial=self.step,
            disable=not (self.is_main and cfg.progress),
            desc="train",
            dynamic_ncols=True,
        )
        window: dict[str, torch.Tensor] = {}  # summed on the device; synced only when logging
        lr_used = 0.0
        window_steps = 0
        window_start = time.perf_counter()
        try:
            while self.step < self.total_steps:
                epoch = self.step // self.steps_per_epoch
                start_micro = (self.step % self.steps_per_epoch) * cfg.grad_accum_steps
                batches = self._micro_batches(epoch, start_micro)
                while self.step < self.total_steps and self.step // self.steps_per_epoch == epoch:
                    sums, grad_norm = self._train_step(runner, batches, params)
                    lr_used = max(self.scheduler.get_last_lr())
                    self.optimizer.step()
                    self.scheduler.step()
                    self.step += 1
                    window_steps += 1
                    sums["grad_norm"] = grad_norm
                    for k, v in sums.items():
                        window[k] = window[k] + v if k in window else v
                    pbar.update(1)

                    if self.step % cfg.log_every == 0 or self.step == self.total_steps:
                        elapsed = time.perf_counter() - window_start
                        record: dict[str, float] = {
                            "step": self.step,
                            "epoch": epoch,
                            **self._reduce_window(window, window_steps),
                            "lr": lr_used,  # the lr of the latest step
                            "samples_per_sec": global_batch * window_steps / max(elapsed, 1e-9),
                            "step_time_s": elapsed / window_steps,
                        }
                        self.last_metrics = record
                        if metrics is not None:
                            metrics.log(record)
                            pbar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['lr']:.2e}")
                        window, window_steps = {}, 0
                        window_start = time.perf_counter()

                    if (
                        cfg.eval_every is not None
                        and self.eval_data is not None
                        and self.step % cfg.eval_every == 0
                    ):
                        ev = self.evaluate(self.eval_data)
                        if metrics is not None:
                            metrics.log({"step": self.step, **{f"eval/{k}": v for k, v in ev.items()}})
                        window_start = time.perf_counter()
                    if cfg.ckpt_every is not None and self.step % cfg.ckpt_every == 0:
                        self.save()
                        window_start = time.perf_counter()
                    for hook in self.hooks:
                        hook(self)
                batches.close()
            final = None
            if cfg.save_final and self._last_saved != self.step:
                final = self.save()
            elif self._last_saved == self.step:
                final = latest_checkpoint(self.ckpt_root)
        finally:
            pbar.close()
            if metrics is not None:
                metrics.close()
        return TrainResult(step=self.step, last_metrics=dict(self.last_metrics), checkpoint=final)

    def _train_step(
        self, runner: nn.Module, batches: Iterator[Any], params: list[torch.nn.Parameter]
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        cfg = self.config
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        sums: dict[str, torch.Tensor] = {}
        accum = cfg.grad_accum_steps
        for k in range(accum):
            batch = move_to_device(next(batches), self.device)
            sync = contextlib.nullcontext()
            if isinstance(runner, DistributedDataParallel) and k < accum - 1:
                sync = runner.no_sync()
            with sync:
                with self._autocast():
                    out = runner(batch)
                if "loss" not in out:
                    raise KeyError(f"{type(self.task).__name__}.training_step must return a dict with 'loss'")
                (out["loss"] / accum).backward()
            for name, value in out.items():
                v = torch.as_tensor(value, device=self.device).detach().float().reshape(()) / accum
                sums[name] = sums[name] + v if name in sums else v
        clip = cfg.clip_grad_norm if cfg.clip_grad_norm is not None else math.inf
        grad_norm = torch.nn.utils.clip_grad_norm_(params, clip)
        return sums, grad_norm.detach().float()

    def _reduce_window(self, window: dict[str, torch.Tensor], n: int) -> dict[str, float]:
        names = sorted(window)
        values = torch.stack([window[k].to(torch.float64) / n for k in names])
        values = du.all_reduce_mean(values)
        out = {k: float(v) for k, v in zip(names, values.tolist())}
        if "loss" in out and not math.isfinite(out["loss"]):
            logger.warning("non-finite loss %s at step %d", out["loss"], self.step)
        return out

    @torch.no_grad()
    def evaluate(self, dataset: Dataset) -> dict[str, float]:
        """Mean of the task's ``eval_step`` scalars over ``dataset`` (sharded, sample-weighted)."""
        if not hasattr(self.task, "eval_step"):
            raise ConfigError(f"{type(self.task).__name__} has no eval_step")
        sampler = ShardedSampler(
            len(dataset),  # type: ignore[arg-type]
            num_replicas=self.dist.world_size,
            rank=self.dist.rank,
            shuffle=False,
            drop_last=False,
        )
        was_training = self.model.training
        self.model.eval()
        totals: dict[str, float] = {}
        count = 0
        for batch in self._loader(dataset, sampler, drop_last=False, seed=self.config.seed):
            batch = move_to_device(batch, self.device)
            with self._autocast():
                out = self.task.eval_step(self.model, batch)
            n = _batch_len(batch)
            for k, v in out.items():
                totals[k] = totals.get(k, 0.0) + float(v) * n
            count += n
        self.model.train(was_training)
        names = sorted(totals)
        values = torch.tensor(
            [totals[k] for k in names] + [float(count)], dtype=torch.float64, device=self.device
        )
        if du.is_dist():
            torch.distributed.all_reduce(values)
        total = values[-1].item()
        return {k: v / max(total, 1.0) for k, v in zip(names, values[:-1].tolist())}


def _batch_len(batch: Any) -> int:
    if isinstance(batch, torch.Tensor):
        return int(batch.shape[0])
    if isinstance(batch, Mapping):
        return _batch_len(next(iter(batch.values())))
    if isinstance(batch, (list, tuple)) and batch:
        return _batch_len(batch[0])
    return 1


def train(
    model: nn.Module,
    task: TrainingTask,
    train_data: Dataset,
    config: TrainConfig,
    *,
    resume: bool | str | os.PathLike[str] = True,
    **trainer_kwargs: Any,
) -> TrainResult:
    """Build a :class:`Trainer` and run :meth:`Trainer.fit` (see both for the arguments)."""
    return Trainer(model, task, train_data, config, **trainer_kwargs).fit(resume=resume)
