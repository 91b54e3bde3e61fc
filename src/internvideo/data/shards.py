"""WebDataset-style tar shards: writer and a streaming reader for training.

A shard is a plain tar file whose members are grouped by *key*: ``<key>.mp4`` (the clip) and
``<key>.json`` (its metadata: at least ``caption`` and ``index``; ``label`` optional), consecutive in
the archive. Keys contain no dots; the extension is everything after the first dot. Writing is
deterministic (fixed order, mtime 0, uid/gid 0, no user names) and atomic, so the same samples always
give byte-identical shards.

:class:`ShardDataset` streams the samples of a set of shards as decoded items in the format of
:class:`internvideo.data.datasets.VideoTextDataset` (``video``, ``caption``, ``index``, ``label``), so
the training code (``collate_video_text``, the stage-2 task) consumes shards unchanged.
"""

from __future__ import annotations

import glob
import io
import json
import logging
import os
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from internvideo._io import atomic_write
from internvideo.errors import InternVideoError

from .sampling import sample_indices

__all__ = ["ShardDataset", "iter_shard", "list_shards", "write_shard"]

logger = logging.getLogger(__name__)

Sample = tuple[str, dict[str, bytes]]


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.size = size
    ti.mtime = 0
    ti.mode = 0o644
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = ""
    return ti


def write_shard(path: str | os.PathLike[str], samples: Iterable[Sample]) -> int:
    """Write ``(key, {ext: bytes})`` samples to one tar shard, atomically; returns the sample count.

    Members of a sample are written in sorted extension order.
    """
    items = list(samples)
    for key, _ in items:
        if "." in key or "/" in key or not key:
            raise InternVideoError(
                f"{path}: bad sample key {key!r} (keys must be non-empty, without '.' or '/')"
            )

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh, tarfile.open(fileobj=fh, mode="w", format=tarfile.GNU_FORMAT) as tar:
            for key, members in items:
                for ext in sorted(members):
                    data = members[ext]
                    tar.addfile(_tarinfo(f"{key}.{ext}", len(data)), io.BytesIO(data))

    atomic_write(path, write)
    return len(items)


def iter_shard(path: str | os.PathLike[str]) -> Iterator[Sample]:
    """Samples ``(key, {ext: bytes})`` of one shard, in archive order."""
    try:
        tar = tarfile.open(path, mode="r:")
    except (tarfile.TarError, OSError) as e:
        raise InternVideoError(f"cannot read shard {str(path)!r}: {e}") from e
    with tar:
        key: str | None = None
        group: dict[str, bytes] = {}
        for member in tar:
            if not member.isfile():
                continue
            base = os.path.basename(member.name)
            if "." not in base:
                continue
            k, ext = base.split(".", 1)
            if key is not None and k != key:
                yield key, group
                group = {}
            key = k
            f = tar.extractfile(member)
            group[ext] = f.read() if f is not None else b""
        if key is not None:
            yield key, group


def list_shards(shards: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Shard paths from a folder (its ``*.tar``), a glob pattern, a single file, or a list of those."""
    if isinstance(shards, (str, os.PathLike)):
        p = Path(shards)
        if p.is_dir():
            out = sorted(p.glob("*.tar"))
        elif p.is_file():
            out = [p]
        else:
            out = sorted(Path(x) for x in glob.glob(str(shards)))
    else:
        out = [q for s in shards for q in list_shards(s)]
    if not out:
        raise InternVideoError(f"no shards found at {shards!r}")
    return out


class ShardDataset(IterableDataset):
    """Decoded video–caption samples streamed from tar shards.

    Each item: ``{"video": float (C, T, H, W) (or uint8 (T, C, H, W) without a transform),
    "caption": str, "index": int, "label": int (or -1)}``, like
    :class:`~internvideo.data.datasets.VideoTextDataset`. Shards are split across DataLoader workers
    and distributed ranks; ``shuffle`` permutes the shard order per epoch (``set_epoch``) from
    ``seed``. Frames are sampled with ``sampling`` (``rand`` draws from ``(seed, epoch, index)``).
    Unreadable clips are skipped with a logged warning.
    """

    def __init__(
        self,
        shards: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
        num_frames: int = 8,
        sampling: str = "middle",
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        caption_field: str = "caption",
        shuffle: bool = False,
        seed: int = 0,
    ) -> None:
        self.shards = list_shards(shards)
        self.num_frames = num_frames
        self.sampling = sampling
        self.transform = transform
        self.caption_field = caption_field
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _my_shards(self) -> list[Path]:
        shards = list(self.shards)
        if self.shuffle:
            perm = np.random.default_rng([self.seed, self.epoch]).permutation(len(shards))
            shards = [shards[i] for i in perm]
        rank, world = 0, 1
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        return shards[rank * nw + wid :: world * nw]

    def _decode(self, key: str, members: dict[str, bytes], shard: Path) -> dict[str, Any] | None:
        from .video import VideoReader

        if "json" not in members or "mp4" not in members:
            logger.warning("%s: sample %r lacks .mp4 or .json; skipped", shard, key)
            return None
        meta = json.loads(members["json"])
        index = int(meta.get("index", -1))
        rng = np.random.default_rng([self.seed, self.epoch, max(index, 0)])
        with tempfile.NamedTemporaryFile(suffix=".mp4") as tmp:
            tmp.write(members["mp4"])
            tmp.flush()
            try:
                with VideoReader(tmp.name, backend="pyav") as r:
                    seed = rng if self.sampling in ("rand", "random_segment") else None
                    idx = sample_indices(self.sampling, self.num_frames, r.info.num_frames, seed=seed)
                    frames = r.get_frames(idx)
            except InternVideoError as e:
                logger.warning("%s: sample %r cannot be decoded (%s); skipped", shard, key, e)
                return None
        caption = meta.get(self.caption_field, meta.get("caption"))
        if isinstance(caption, list):
            caption = caption[int(rng.integers(len(caption)))] if self.sampling == "rand" else caption[0]
        label = meta.get("label")
        return {
            "video": self.transform(frames) if self.transform is not None else frames,
            "caption": caption or "",
            "index": index,
            "label": -1 if label is None else int(label),
        }

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for shard in self._my_shards():
            for key, members in iter_shard(shard):
                item = self._decode(key, members, shard)
                if item is not None:
                    yield item
