"""Atomic training checkpoints with exact resume.

A checkpoint is a folder ``<root>/step_00000100/`` holding

* ``model.safetensors`` - model weights (safetensors, shared tensors handled),
* ``optimizer.pt``      - optimizer state (``torch.save``; loaded with ``weights_only=True``),
* ``state.pt``          - step, scheduler state, loop position and any extra state,
* ``rng_rank{r}.pt``    - python / numpy / torch (/ CUDA) RNG states of every rank.

Everything is written into a hidden temporary folder beside it, each file is fsynced, and the folder
is renamed into place with ``os.replace``: a folder named ``step_*`` is always complete. Leftover
temporary folders of a killed run are removed by :func:`remove_stale_temp`.
"""

from __future__ import annotations

import logging
import os
import random
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_model, save_model
from torch import nn

from internvideo.errors import CheckpointError
from internvideo.train import distributed as du

logger = logging.getLogger(__name__)

_STEP_RE = re.compile(r"^step_(\d+)$")
_TMP_PREFIX = ".tmp_"
MODEL_FILE = "model.safetensors"
OPTIM_FILE = "optimizer.pt"
STATE_FILE = "state.pt"


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def capture_rng_state() -> dict[str, Any]:
    """RNG states of python, numpy, torch and CUDA as plain tensors (loadable with ``weights_only``)."""
    py_version, py_state, py_gauss = random.getstate()
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": {
            "version": py_version,
            "state": torch.tensor(py_state, dtype=torch.int64),
            "gauss": py_gauss,
        },
        "numpy": {
            "kind": str(np_state[0]),
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
    nps = state["numpy"]
    np.random.set_state(
        (
            nps["kind"],
            nps["keys"].numpy().astype(np.uint32),
            nps["pos"],
            nps["has_gauss"],
            nps["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_step(path: str | os.PathLike[str]) -> int | None:
    """Step number of a checkpoint folder name (``step_00000100`` -> 100), else None."""
    m = _STEP_RE.match(Path(path).name)
    return int(m.group(1)) if m else None


def list_checkpoints(root: str | os.PathLike[str]) -> list[Path]:
    """Complete checkpoints under ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [(checkpoint_step(p), p) for p in root.iterdir() if p.is_dir() and checkpoint_step(p) is not None]
    return [p for _, p in sorted(found, key=lambda x: x[0])]


def latest_checkpoint(root: str | os.PathLike[str]) -> Path | None:
    """The newest complete checkpoint under ``root``, or None."""
    ckpts = list_checkpoints(root)
    return ckpts[-1] if ckpts else None


def remove_stale_temp(root: str | os.PathLike[str]) -> int:
    """Delete temporary folders/files left under ``root`` by an interrupted save. Returns how many."""
    root = Path(root)
    if not root.is_dir():
        return 0
    n = 0
    for p in root.iterdir():
        if p.name.startswith(_TMP_PREFIX):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            n += 1
    if n:
        logger.info("removed %d stale temporary checkpoint item(s) under %s", n, root)
    return n


def _torch_save(obj: Any, path: Path) -> None:
    with open(path, "wb") as fh:
        torch.save(obj, fh)
        fh.flush()
        os.fsync(fh.fileno())


def _remove_dir(path: Path) -> None:
    """Rename first so that an interrupted delete leaves only a temporary (cleanable) folder."""
    doomed = path.parent / f"{_TMP_PREFIX}del_{path.name}_{uuid.uuid4().hex[:8]}"
    os.replace(path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def save_checkpoint(
    root: str | os.PathLike[str],
    step: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    extra_state: dict[str, Any] | None = None,
    keep_last: int | None = None,
) -> Path:
    """Save a checkpoint of ``step`` atomically; call it on every rank (each saves its RNG state).

    Rank 0 writes the model, optimizer and state; older checkpoints beyond ``keep_last`` are removed.
    With several processes ``root`` must be on a file system that all ranks see.
    """
    root = Path(root)
    final = root / f"step_{step:08d}"
    rank = du.get_rank()
    tmp_name = f"{_TMP_PREFIX}step_{step:08d}_{uuid.uuid4().hex[:8]}" if rank == 0 else None
    tmp_name = du.broadcast_object(tmp_name)
    tmp = root / str(tmp_name)
    if rank == 0:
        tmp.mkdir(parents=True, exist_ok=False)
    du.barrier()
    try:
        _torch_save(capture_rng_state(), tmp / f"rng_rank{rank}.pt")
        du.barrier()
        if rank == 0:
            save_model(model, str(tmp / MODEL_FILE))
            _fsync_file(tmp / MODEL_FILE)
            if optimizer is not None:
                _torch_save(optimizer.state_dict(), tmp / OPTIM_FILE)
            state = {
                "step": step,
                "world_size": du.get_world_size(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "extra": extra_state or {},
            }
            _torch_save(state, tmp / STATE_FILE)
            _fsync_dir(tmp)
            if final.exists():
                _remove_dir(final)
            os.replace(tmp, final)
            _fsync_dir(root)
            if keep_last is not None:
                for old in list_checkpoints(root)[:-keep_last]:
                    _remove_dir(old)
            logger.info("saved checkpoint %s", final)
    except BaseException:
        if rank == 0 and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    du.barrier()
    return final


def _load_pt(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"cannot read {str(path)!r}: {exc}; the checkpoint may be damaged") from exc


def load_checkpoint(
    path: str | os.PathLike[str],
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any | None = None,
    *,
    restore_rng: bool = True,
    strict: bool = True,
) -> dict[str, Any]:
    """Load a checkpoint folder into ``model`` (strict keys), ``optimizer`` and ``scheduler``.

    Restores this rank's RNG states when present. Returns the saved state dict (``step``,
    ``world_size``, ``extra``...).
    """
    path = Path(path)
    model_file = path / MODEL_FILE
    if not model_file.exists():
        raise CheckpointError(f"no {MODEL_FILE} in checkpoint {str(path)!r}; pass a step_* folder")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        load_model(model, str(model_file), strict=strict, device=str(device))
    except RuntimeError as exc:
        raise CheckpointError(
            f"checkpoint {str(model_file)!r} does not match {type(model).__name__}: {exc}"
        ) from exc
    state = _load_pt(path / STATE_FILE)
    if optimizer is not None:
        if not (path / OPTIM_FILE).exists():
            raise CheckpointError(f"checkpoint {str(path)!r} has no optimizer state ({OPTIM_FILE})")
        optimizer.load_state_dict(_load_pt(path / OPTIM_FILE))
    if scheduler is not None and state["scheduler"] is not None:
        scheduler.load_state_dict(state["scheduler"])
    if restore_rng:
        rng_file = path / f"rng_rank{du.get_rank()}.pt"
        if rng_file.exists():
            restore_rng_state(_load_pt(rng_file))
        else:
            logger.warning(
                "checkpoint %s has no RNG state for rank %d; resume is not exact", path, du.get_rank()
            )
    return state
