"""Deterministic, resumable, rank-sharded sampling for map-style datasets.

The sample order of an epoch is a pure function of ``(seed, epoch)``: a shuffled permutation is
split round-robin over ranks (as ``torch.utils.data.DistributedSampler`` does), so a run can resume
at any micro-batch by skipping a prefix of the shard without touching the data.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import Sampler


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices) RNGs."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class ShardedSampler(Sampler[int]):
    """Indices of this rank's shard of epoch ``epoch``, starting at position ``start``.

    With ``drop_last`` the tail that does not divide evenly over ranks is dropped; otherwise the
    permutation is padded by repeating its head, so every rank yields the same count.
    """

    def __init__(
        self,
        dataset_len: int,
        *,
        num_replicas: int = 1,
        rank: int = 0,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = True,
    ) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is outside [0, {num_replicas})")
        self.dataset_len = dataset_len
        self.num_replicas = num_replicas
        self.rank = rank
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.epoch = 0
        self.start = 0
        if drop_last:
            self.shard_len = dataset_len // num_replicas
        else:
            self.shard_len = math.ceil(dataset_len / num_replicas)

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Select the epoch (and how many of this rank's samples to skip) for the next iteration."""
        self.epoch = epoch
        self.start = start

    def epoch_indices(self, epoch: int) -> list[int]:
        """This rank's full shard for ``epoch``."""
        if self.shuffle:
            g = torch.Generator()
            g.manual_seed(self.seed + epoch)
            order = torch.randperm(self.dataset_len, generator=g).tolist()
        else:
            order = list(range(self.dataset_len))
        total = self.shard_len * self.num_replicas
        if total > len(order):
            reps = math.ceil((total - len(order)) / max(1, len(order)))
            order = order + (order * reps)[: total - len(order)]
        order = order[:total]
        return order[self.rank : total : self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self.epoch_indices(self.epoch)[self.start :])

    def __len__(self) -> int:
        return max(0, self.shard_len - self.start)
