"""FSDP2 training steps on CPU (gloo) against a single-process reference on the whole batch.

Usage: torchrun --nproc_per_node 2 fsdp_step.py OUT_DIR
Each rank trains a sharded copy on its half of a fixed batch and, locally, an unsharded reference on the
whole batch; it saves both loss sequences; rank 0 saves the gathered full weights with save_pretrained.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from internvideo.models.hub import save_pretrained
from internvideo.models.vision import InternVideo2, VisionConfig
from internvideo.train.distributed import cleanup_distributed, init_distributed
from internvideo.train.fsdp import full_state_dict, is_sharded, shard_model

CFG = VisionConfig(
    img_size=32,
    patch_size=8,
    embed_dim=32,
    depth=2,
    num_heads=2,
    num_frames=4,
    tubelet_size=2,
    attn_pool_num_heads=2,
    clip_embed_dim=16,
    num_classes=5,
    gelu="none",
)


def main() -> None:
    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    info = init_distributed(backend="gloo", device="cpu")
    torch.manual_seed(0)
    model = InternVideo2(CFG)
    ref = copy.deepcopy(model)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(8, 3, 4, 32, 32, generator=g)
    y = torch.randint(0, 5, (8,), generator=g)
    lo, hi = 4 * info.rank, 4 * info.rank + 4
    shard_model(model)
    assert is_sharded(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    opt_ref = torch.optim.AdamW(ref.parameters(), lr=1e-3, weight_decay=0.05)
    losses, ref_losses = [], []
    for _ in range(3):
        loss = F.cross_entropy(model(x[lo:hi]), y[lo:hi])
        loss.backward()
        opt.step()
        opt.zero_grad()
        mean = loss.detach().clone()
        dist.all_reduce(mean)
        losses.append(mean.item() / info.world_size)
        loss_ref = F.cross_entropy(ref(x), y)
        loss_ref.backward()
        opt_ref.step()
        opt_ref.zero_grad()
        ref_losses.append(loss_ref.item())
    sd = full_state_dict(model)
    if info.rank == 0:
        plain = InternVideo2(CFG)
        plain.load_state_dict(sd, strict=True)
        save_pretrained(plain, out / "fsdp_final", model_name="internvideo2_tiny_patch14_56")
        save_pretrained(ref, out / "ref_final", model_name="internvideo2_tiny_patch14_56")
    (out / f"rank{info.rank}.json").write_text(json.dumps({"loss": losses, "ref": ref_losses}))
    dist.barrier()
    cleanup_distributed()


if __name__ == "__main__":
    main()
