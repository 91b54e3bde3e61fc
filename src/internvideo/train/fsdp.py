"""FSDP2 (``torch.distributed.fsdp.fully_shard``) for large encoders.

Each transformer block becomes its own FSDP unit (its parameters are gathered just before it runs and
freed after), then the root module takes the rest (embeddings, pooling, head). Parameters become
``DTensor`` shards; gradients are reduce-scattered and averaged over ranks, so a step on ``N`` ranks with
``1/N`` of the batch each equals a step of one process on the whole batch. Works with gloo on CPU and
NCCL on GPUs.

    torchrun --nproc_per_node 8 my_train.py      # in it: shard_model(model); optimizer after sharding

:func:`full_state_dict` gathers a complete, unsharded state dict (on CPU) for ``save_pretrained``.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError

logger = logging.getLogger(__name__)

__all__ = ["full_state_dict", "is_sharded", "shard_model"]


def _fully_shard() -> Any:
    try:
        from torch.distributed.fsdp import fully_shard
    except ImportError as e:  # pragma: no cover - torch < 2.6
        raise ImportError("FSDP2 needs torch >= 2.6 (torch.distributed.fsdp.fully_shard)") from e
    return fully_shard


def shard_model(
    model: nn.Module,
    mesh: Any | None = None,
    reshard_after_forward: bool = True,
    param_dtype: torch.dtype | None = None,
    reduce_dtype: torch.dtype | None = None,
) -> nn.Module:
    """Shard ``model`` in place: every module in ``model.blocks`` (or ``model.encoder.blocks``) first, then
    the root. ``param_dtype`` / ``reduce_dtype`` set a mixed-precision policy (e.g. bf16 compute with fp32
    reductions). Build the optimizer **after** this call. Needs an initialised process group."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        raise ConfigError("shard_model needs an initialised process group (launch with torchrun)")
    fully_shard = _fully_shard()
    kwargs: dict[str, Any] = {"reshard_after_forward": reshard_after_forward}
    if mesh is not None:
        kwargs["mesh"] = mesh
    else:
        from torch.distributed.device_mesh import init_device_mesh

        p = next(model.parameters())
        kwargs["mesh"] = init_device_mesh(p.device.type, (dist.get_world_size(),))
    if param_dtype is not None or reduce_dtype is not None:
        from torch.distributed.fsdp import MixedPrecisionPolicy

        kwargs["mp_policy"] = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=reduce_dtype)
    blocks = getattr(model, "blocks", None)
    if blocks is None and hasattr(model, "encoder"):
        blocks = getattr(model.encoder, "blocks", None)
    if blocks is None:
        raise ConfigError(f"{type(model).__name__} has no .blocks to shard")
    for blk in blocks:
        fully_shard(blk, **kwargs)
    fully_shard(model, **kwargs)
    logger.info("FSDP2: sharded %d blocks + root over %d ranks", len(blocks), dist.get_world_size())
    return model


def is_sharded(model: nn.Module) -> bool:
    """True when ``model`` was wrapped by ``fully_shard``."""
    try:
        from torch.distributed.fsdp import FSDPModule
    except ImportError:  # pragma: no cover
        return False
    return isinstance(model, FSDPModule)


def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The complete (unsharded) state dict of an FSDP2 model, on CPU; every rank must call it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
