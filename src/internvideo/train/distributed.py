"""Distributed helpers: init from the ``torchrun`` environment, rank queries, gathers with gradients.

Every helper also works in a single process without an initialised process group (world size 1).
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DistInfo:
    """Where this process sits: global rank, world size, local rank and its device."""

    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def is_dist() -> bool:
    """True when a process group with more than one process is active."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def get_world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main_process() -> bool:
    return get_rank() == 0


def init_distributed(
    backend: str | None = None, device: str | torch.device | None = None, timeout_s: float = 1800.0
) -> DistInfo:
    """Initialise the default process group from ``torchrun``'s env vars (no-op when not launched so).

    ``backend`` defaults to NCCL when CUDA is available and the device is CUDA, else gloo. The device
    defaults to ``cuda:LOCAL_RANK`` when CUDA is available, else CPU.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device is None:
        dev = torch.device("cuda", local_rank) if torch.cuda.is_available() else torch.device("cpu")
    else:
        dev = torch.device(device)
        if dev.type == "cuda" and dev.index is None:
            dev = torch.device("cuda", local_rank)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world_size > 1 and not dist.is_initialized():
        if backend is None:
            backend = "nccl" if dev.type == "cuda" else "gloo"
        dist.init_process_group(
            backend=backend,
            init_method="env://",
            timeout=datetime.timedelta(seconds=timeout_s),
            **({"device_id": dev} if backend == "nccl" else {}),
        )
        logger.info("process group ready: backend=%s rank=%d/%d device=%s", backend, rank, world_size, dev)
    if dist.is_initialized():
        rank, world_size = dist.get_rank(), dist.get_world_size()
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank, device=dev)


def cleanup_distributed() -> None:
    """Destroy the default process group if one is active."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def barrier() -> None:
    if is_dist():
        dist.barrier()


def all_reduce_mean(t: torch.Tensor) -> torch.Tensor:
    """Mean of ``t`` over ranks (returns a new tensor, no gradient)."""
    t = t.detach().clone()
    if is_dist():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        t /= get_world_size()
    return t


def _gather_sizes(n: int, device: torch.device) -> list[int]:
    size = torch.tensor([n], dtype=torch.long, device=device)
    sizes = [torch.zeros_like(size) for _ in range(get_world_size())]
    dist.all_gather(sizes, size)
    return [int(s.item()) for s in sizes]


def _all_gather_padded(t: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    max_n = max(sizes)
    if t.shape[0] < max_n:
        pad = t.new_zeros((max_n - t.shape[0], *t.shape[1:]))
        t = torch.cat([t, pad], dim=0)
    out = [torch.empty_like(t) for _ in sizes]
    dist.all_gather(out, t.contiguous())
    return torch.cat([o[:n] for o, n in zip(out, sizes)], dim=0)


class _GatherWithGrad(torch.autograd.Function):
    """All-gather along dim 0; backward sums the incoming gradient over ranks and keeps the local slice.

    Every rank computes the same loss on the gathered batch, and DDP averages parameter gradients, so
    summing here makes the final gradient equal to single-process training on the concatenated batch.
    """

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        sizes = _gather_sizes(t.shape[0], t.device)
        rank = get_rank()
        ctx.start = sum(sizes[:rank])
        ctx.n = t.shape[0]
        return _all_gather_padded(t, sizes)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.start : ctx.start + ctx.n]


def all_gather_with_grad(t: torch.Tensor) -> torch.Tensor:
    """Concatenate ``t`` from every rank along dim 0 (rank order); gradients flow back to each shard.

    Ranks may hold different numbers of rows. In a single process this returns ``t`` unchanged.
    """
    if not is_dist():
        return t
    return _GatherWithGrad.apply(t)


def all_gather_no_grad(t: torch.Tensor) -> torch.Tensor:
    """Concatenate ``t`` from every rank along dim 0, detached (e.g. match ids, labels)."""
    if not is_dist():
        return t.detach()
    t = t.detach()
    return _all_gather_padded(t, _gather_sizes(t.shape[0], t.device))


def broadcast_object(obj: object, src: int = 0) -> object:
    """Send a picklable object from ``src`` to every rank."""
    if not is_dist():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]
