"""One contrastive step under torchrun; each rank saves its loss and parameter gradients.

Usage: torchrun --nproc_per_node 2 dist_vtc_step.py OUT_DIR
Case "ddp": equal shards, DDP-wrapped. Case "uneven": shards of 3 and 5 rows, gradients averaged by hand.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from internvideo.train.distributed import cleanup_distributed, init_distributed
from internvideo.train.losses import vtc_loss
from internvideo.train.toy import TinyDualEncoder


def global_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(123)
    video = torch.randn(8, 12, generator=g)
    text = torch.randn(8, 10, generator=g)
    ids = torch.tensor([0, 0, 1, 2, 3, 3, 3, 4])
    return video, text, ids


class Step(nn.Module):
    def __init__(self, model: TinyDualEncoder) -> None:
        super().__init__()
        self.model = model

    def forward(self, video: torch.Tensor, text: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        temp = 1.0 / self.model.logit_scale.exp()
        return vtc_loss(self.model.encode_video(video), self.model.encode_text(text), temp, ids)


def main() -> None:
    out = Path(sys.argv[1])
    torch.set_num_threads(1)
    info = init_distributed(backend="gloo", device="cpu")
    video, text, ids = global_batch()
    results = {}
    for case, bounds in (("ddp", [0, 4, 8]), ("uneven", [0, 3, 8])):
        torch.manual_seed(0)
        model = TinyDualEncoder()
        lo, hi = bounds[info.rank], bounds[info.rank + 1]
        step = Step(model)
        runner = DistributedDataParallel(step) if case == "ddp" else step
        loss = runner(video[lo:hi], text[lo:hi], ids[lo:hi])
        loss.backward()
        if case == "uneven":
            for p in model.parameters():
                dist.all_reduce(p.grad)
                p.grad /= info.world_size
        results[case] = {"loss": loss.detach(), **{n: p.grad.clone() for n, p in model.named_parameters()}}
        del runner, loss  # release DDP's reducer before the process group goes away
    torch.save(results, out / f"rank{info.rank}.pt")
    dist.barrier()
    cleanup_distributed()


if __name__ == "__main__":
    main()
