"""Map-style datasets over JSONL manifests (the synthetic world's, or any ``{video, caption(s)}`` list).

A manifest line needs ``video`` (a path relative to the manifest's folder, or absolute) and either
``captions`` (list) or ``caption`` (str); ``label`` is optional. Frames are sampled with a named policy
(``rand`` for training, ``middle`` for evaluation) and transformed to float ``(C, T, H, W)``.

``cache=True`` decodes every clip once (all frames, uint8) into memory so training epochs do not decode
again; decoding runs in a process pool with a progress bar. Unreadable videos are skipped with a logged
reason (they are listed in ``dataset.skipped``), never ending a run.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import InternVideoError
from .sampling import sample_indices

logger = logging.getLogger(__name__)


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read a JSON-lines file; blank lines are skipped, a bad line is an error naming the line number."""
    path = Path(path)
    rows = []
    with path.open() as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise InternVideoError(f"{path}:{n}: not valid JSON ({e})") from e
    return rows


def _decode_all(path: str) -> tuple[str, torch.Tensor | None, str]:
    from .video import VideoReader

    try:
        with VideoReader(path) as r:
            return path, r.get_frames(list(range(r.info.num_frames))), ""
    except InternVideoError as e:
        return path, None, str(e)


def decode_all_frames(
    paths: Sequence[str], workers: int, desc: str = "decoding"
) -> Iterator[tuple[str, torch.Tensor | None, str]]:
    """Every frame of every video (uint8 ``(T, C, H, W)``), in order, as ``(path, frames, "")``, or
    ``(path, None, reason)`` for an unreadable one; ``workers > 1`` decodes in a process pool. A progress
    bar follows the work."""
    from tqdm.auto import tqdm

    with tqdm(total=len(paths), desc=desc, unit="clip", leave=False) as bar:
        if workers > 1:
            # spawn, not fork: forking after torch / FFmpeg started their thread pools can deadlock
            with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                for result in pool.map(_decode_all, paths, chunksize=16):
                    bar.update()
                    yield result
        else:
            for p in paths:
                result = _decode_all(p)
                bar.update()
                yield result


class VideoTextDataset(Dataset):
    """Video–caption pairs from a manifest.

    Each item: ``{"video": float (C, T, H, W), "caption": str, "index": int, "label": int (or -1)}``.
    ``caption_field`` picks the list of captions (``captions`` or ``captions_heldout`` for the synthetic
    world); training draws one caption per item from ``(seed, epoch, index)``-free randomness of the
    generator passed by the sampler, evaluation uses the first.
    """

    def __init__(
        self,
        manifest: str | Path,
        num_frames: int = 8,
        sampling: str = "middle",
        transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        caption_field: str = "captions",
        cache: bool = False,
        workers: int = 0,
        seed: int = 0,
        limit: int | None = None,
    ) -> None:
        self.manifest = Path(manifest)
        rows = read_jsonl(self.manifest)
        if limit is not None:
            rows = rows[:limit]
        self.num_frames = num_frames
        self.sampling = sampling
        self.transform = transform
        self.caption_field = caption_field
        self.seed = seed
        self.epoch = 0
        self.skipped: list[tuple[str, str]] = []
        self.rows = []
        for r in rows:
            video = Path(r["video"])
            r = dict(r, video_path=str(video if video.is_absolute() else self.manifest.parent / video))
            caps = r.get(caption_field, r.get("caption"))
            if isinstance(caps, str):
                caps = [caps]
            if not caps:
                raise InternVideoError(
                    f"{self.manifest}: entry {r.get('id', r['video'])!r} has no {caption_field!r}"
                )
            r["_captions"] = list(caps)
            self.rows.append(r)
        self._frames: dict[str, torch.Tensor] | None = None
        if cache:
            self._fill_cache(workers)

    def _fill_cache(self, workers: int) -> None:
        paths = [r["video_path"] for r in self.rows]
        frames: dict[str, torch.Tensor] = {}
        for path, t, err in decode_all_frames(paths, workers, desc=f"decoding {self.manifest.name}"):
            self._store(frames, path, t, err)
        self.rows = [r for r in self.rows if r["video_path"] in frames]
        self._frames = frames

    def _store(self, frames: dict[str, torch.Tensor], path: str, t: torch.Tensor | None, err: str) -> None:
        if t is None:
            self.skipped.append((path, err))
            logger.warning("skipping %s: %s", path, err)
        else:
            frames[path] = t

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index])

    def frames(self, index: int, rng: np.random.Generator | None = None) -> torch.Tensor:
        """Sampled uint8 frames ``(T, C, H, W)`` of item ``index``."""
        row = self.rows[index]
        if self._frames is not None:
            allf = self._frames[row["video_path"]]
            idx = sample_indices(self.sampling, self.num_frames, allf.shape[0], seed=rng)
            return allf[idx]
        from .video import VideoReader

        with VideoReader(row["video_path"]) as r:
            idx = sample_indices(self.sampling, self.num_frames, r.info.num_frames, seed=rng)
            return r.get_frames(idx)

    def __getitem__(self, index: int) -> dict[str, Any]:
        rng = self._rng(index)
        row = self.rows[index]
        frames = self.frames(index, rng if self.sampling in ("rand", "random_segment") else None)
        video = self.transform(frames) if self.transform is not None else frames
        caps = row["_captions"]
        caption = caps[int(rng.integers(len(caps)))] if self.sampling == "rand" else caps[0]
        label = row.get("label")
        return {
            "video": video,
            "caption": caption,
            "index": index,
            "label": -1 if label is None else int(label),
        }


def collate_video_text(
    tokenize: Callable[[Sequence[str]], dict[str, torch.Tensor]],
) -> Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]]:
    """A collate function stacking videos and tokenizing captions (``video_id`` = dataset index)."""

    def collate(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        tok = tokenize([it["caption"] for it in items])
        return {
            "video": torch.stack([it["video"] for it in items]),
            "input_ids": tok["input_ids"],
            "attention_mask": tok["attention_mask"],
            "video_id": torch.tensor([it["index"] for it in items]),
            "label": torch.tensor([it["label"] for it in items]),
        }

    return collate


class GroupedDataset(Dataset):
    """Items are groups of ``group_size`` clips that share ``key`` (e.g. the same object), for hard negatives.

    Item ``i`` of an epoch takes clip ``perm[i]`` as anchor and adds ``group_size - 1`` other clips with
    the anchor's key, preferring clips whose ``distinct`` value (e.g. the action label) differs from
    those already chosen — so a contrastive batch must separate them by that value alone. Deterministic
    in ``(seed, epoch, i)``; ``len`` is ``len(dataset) // group_size`` groups per epoch. Collate with
    :func:`flatten_groups`.
    """

    def __init__(
        self,
        dataset: VideoTextDataset,
        group_size: int,
        key: Callable[[dict[str, Any]], Any],
        distinct: Callable[[dict[str, Any]], Any] | None = None,
        seed: int = 0,
    ) -> None:
        if group_size < 1:
            raise ValueError(f"group_size must be >= 1, got {group_size}")
        self.dataset, self.group_size, self.seed, self.epoch = dataset, group_size, seed, 0
        self.keys = [key(r) for r in dataset.rows]
        self.distinct = [distinct(r) if distinct else i for i, r in enumerate(dataset.rows)]
        self._perm: tuple[int, np.ndarray] | None = None
        self.members: dict[Any, list[int]] = {}
        for i, k in enumerate(self.keys):
            self.members.setdefault(k, []).append(i)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.dataset.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.dataset) // self.group_size

    def indices(self, index: int) -> list[int]:
        """Dataset indices of group ``index`` in the current epoch."""
        if self._perm is None or self._perm[0] != self.epoch:  # one permutation per epoch, not per item
            self._perm = (
                self.epoch,
                np.random.default_rng([self.seed, self.epoch]).permutation(len(self.dataset)),
            )
        anchor = int(self._perm[1][index])
        rng = np.random.default_rng([self.seed, self.epoch, index])
        others = [j for j in self.members[self.keys[anchor]] if j != anchor]
        rng.shuffle(others)
        chosen, seen = [anchor], {self.distinct[anchor]}
        for j in others:  # first pass: new distinct values only; second pass: fill up
            if len(chosen) < self.group_size and self.distinct[j] not in seen:
                chosen.append(j)
                seen.add(self.distinct[j])
        chosen += [j for j in others if j not in chosen][: self.group_size - len(chosen)]
        return chosen

    def __getitem__(self, index: int) -> list[dict[str, Any]]:
        return [self.dataset[j] for j in self.indices(index)]


def flatten_groups(
    collate: Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]],
) -> Callable[[list[list[dict[str, Any]]]], dict[str, torch.Tensor]]:
    """Wrap a collate function so that it takes a list of groups (from :class:`GroupedDataset`)."""
    return lambda groups: collate([item for group in groups for item in group])


def default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))
