"""Labelled video datasets for classification: Kinetics-style lists, SSv2 JSON, synthetic-world manifests.

Every reader returns a list of :class:`LabelledRow` (absolute video path, integer label, id), and
:class:`LabelledVideoDataset` turns those rows into training or multi-view test samples:

* training: one clip per item (``random_segment`` sampling by default), augmented by a transform
  ``f(uint8 (T, C, H, W), generator) -> float (C, T, H, W)`` whose randomness is drawn from
  ``(seed, epoch, index)`` — the same sample gets the same augmentation whatever the number of
  processes or workers, so runs are reproducible and resumable;
* testing (``test_views=(K, crops)``): ``K`` temporal clips (``segment`` views, clip ``k`` of ``K``; strided
  views when the dataset samples with ``stride``)
  each through an eval transform that yields ``crops`` spatial views; the item holds
  ``(K * crops, C, T, H, W)``, clip-major.

A sample that cannot be decoded is never the end of a run: the reason is logged, the file is listed in
``dataset.skipped`` and another sample (drawn deterministically) takes its place, at most
``max_retries`` times in a row before an :class:`~internvideo.errors.InternVideoError` names the files.

WebDataset-style tar shards are read by :mod:`internvideo.data.shards`, which yields the same dict
samples; this module only covers file lists.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import ConfigError, InternVideoError
from .datasets import decode_all_frames
from .sampling import sample_indices

logger = logging.getLogger(__name__)

FrameOrder = Literal["natural", "shuffled", "reversed"]
Transform = Callable[..., torch.Tensor]

__all__ = [
    "LabelledRow",
    "LabelledVideoDataset",
    "collate_labelled",
    "read_kinetics_list",
    "read_ssv2_json",
    "read_synth_manifest",
    "read_labelled",
]


@dataclass(frozen=True)
class LabelledRow:
    """One labelled video: absolute path, class index and an id (the file stem when none is given)."""

    video_path: str
    label: int
    id: str = ""


def _resolve(path: str, root: Path | None) -> str:
    p = Path(path)
    if not p.is_absolute() and root is not None:
        p = root / p
    return str(p)


def read_kinetics_list(
    path: str | Path, prefix: str | Path | None = None, sep: str | None = None
) -> list[LabelledRow]:
    """Kinetics / K710 / MiT style list: one ``video_path<sep>label`` per line, no header.

    ``sep`` defaults to ``,`` when the first line has one, else whitespace (the ``path label`` lists of
    SSv2 / HMDB with decoded videos). A three-column ``path num_frames label`` line (rawframe lists)
    uses its last column. Relative paths are joined to ``prefix`` (default: the list's folder).
    """
    path = Path(path)
    root = Path(prefix) if prefix is not None else path.parent
    try:
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    except OSError as e:
        raise InternVideoError(f"cannot read list file {str(path)!r}: {e}") from e
    lines = [ln for ln in lines if ln]
    if sep is None:
        sep = "," if lines and "," in lines[0] else None
    rows = []
    for n, line in enumerate(lines, 1):
        parts = next(csv.reader([line], delimiter=sep)) if sep else line.split()
        parts = [p.strip() for p in parts if p.strip()]
        if len(parts) < 2:
            raise InternVideoError(f"{path}:{n}: expected 'video{sep or ' '}label', got {line!r}")
        try:
            label = int(parts[-1])
        except ValueError as e:
            raise InternVideoError(f"{path}:{n}: label {parts[-1]!r} is not an integer") from e
        video = _resolve(parts[0], root)
        rows.append(LabelledRow(video, label, Path(parts[0]).stem))
    return rows


def _ssv2_template(text: str) -> str:
    return re.sub(r"\[(.*?)\]", r"\1", text).strip()


def read_ssv2_json(
    annotations: str | Path,
    labels: str | Path,
    video_dir: str | Path | None = None,
    ext: str = ".webm",
) -> list[LabelledRow]:
    """Something-Something v2 style: a JSON list of ``{"id", "template" (or "label")}`` entries and a
    JSON object mapping each template (brackets removed) to its class index.

    Videos are ``{video_dir}/{id}{ext}`` (``video_dir`` defaults to the annotation file's folder).
    An entry whose template is not in the label map is an error naming it.
    """
    annotations, labels = Path(annotations), Path(labels)
    root = Path(video_dir) if video_dir is not None else annotations.parent
    try:
        entries = json.loads(annotations.read_text(encoding="utf-8"))
        label_map = json.loads(labels.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise InternVideoError(
            f"cannot read SSv2 annotations {str(annotations)!r} / {str(labels)!r}: {e}"
        ) from e
    classes = {_ssv2_template(k): int(v) for k, v in label_map.items()}
    rows = []
    for n, entry in enumerate(entries):
        text = entry.get("template", entry.get("label"))
        if "id" not in entry or text is None:
            raise InternVideoError(f"{annotations}: entry {n} lacks 'id' or 'template'")
        key = _ssv2_template(str(text))
        if key not in classes:
            raise InternVideoError(f"{annotations}: entry {entry['id']!r} has unknown template {key!r}")
        rows.append(LabelledRow(str(root / f"{entry['id']}{ext}"), classes[key], str(entry["id"])))
    return rows


def read_synth_manifest(path: str | Path) -> list[LabelledRow]:
    """Short clips of a synthetic-world (or any JSONL ``{video, label}``) manifest; unlabelled rows
    (long videos) are left out."""
    from .datasets import read_jsonl

    path = Path(path)
    rows = []
    for r in read_jsonl(path):
        if r.get("label") is None:
            continue
        rows.append(LabelledRow(_resolve(r["video"], path.parent), int(r["label"]), str(r.get("id", ""))))
    return rows


def read_labelled(path: str | Path, **kwargs: Any) -> list[LabelledRow]:
    """Pick the reader from the file name: ``.jsonl`` manifests, ``.csv`` / ``.txt`` lists."""
    suffix = Path(path).suffix.lower()
    if suffix == ".jsonl":
        return read_synth_manifest(path)
    if suffix in (".csv", ".txt", ".list"):
        return read_kinetics_list(path, **kwargs)
    raise ConfigError(
        f"{str(path)!r}: unknown list format {suffix!r}; use read_ssv2_json for SSv2 JSON annotations"
    )


class LabelledVideoDataset(Dataset):
    """Labelled clips for classification training and multi-view testing.

    Items: ``{"video": float (C, T, H, W) or (V, C, T, H, W), "label": int, "index": int}``.

    ``transform(frames, generator)`` maps uint8 ``(T, C, H, W)`` to float; for ``test_views=(K, crops)``
    it must return ``(crops, C, T, H, W)`` when ``crops > 1`` (e.g.
    ``build_eval_transform(size, mode="three_crop")``). ``frame_order`` reorders the sampled frames
    (``shuffled``: a fixed permutation per item, for checking that a model uses time). ``cache``
    decodes every video once into memory (unreadable ones are dropped with a logged reason).
    """

    def __init__(
        self,
        rows: Sequence[LabelledRow],
        num_frames: int = 8,
        transform: Transform | None = None,
        sampling: str = "random_segment",
        test_views: tuple[int, int] | None = None,
        frame_order: FrameOrder = "natural",
        cache: bool = False,
        workers: int = 0,
        seed: int = 0,
        max_retries: int = 10,
        num_classes: int | None = None,
    ) -> None:
        if not rows:
            raise ConfigError("LabelledVideoDataset needs at least one row")
        if frame_order not in ("natural", "shuffled", "reversed"):
            raise ConfigError(f"frame_order must be natural, shuffled or reversed, got {frame_order!r}")
        if test_views is not None and (test_views[0] < 1 or test_views[1] < 1):
            raise ConfigError(f"test_views must be (clips >= 1, crops >= 1), got {test_views}")
        self.rows = list(rows)
        self.num_frames = num_frames
        self.transform = transform
        self.sampling = sampling
        self.test_views = test_views
        self.frame_order = frame_order
        self.seed = seed
        self.max_retries = max_retries
        self.epoch = 0
        self.skipped: list[tuple[str, str]] = []
        self._bad: set[int] = set()
        labels = [r.label for r in self.rows]
        self.num_classes = num_classes if num_classes is not None else max(labels) + 1
        if min(labels) < 0 or max(labels) >= self.num_classes:
            raise ConfigError(
                f"labels must lie in [0, {self.num_classes}), got [{min(labels)}, {max(labels)}]"
            )
        self._frames: dict[str, torch.Tensor] | None = None
        if cache:
            self._fill_cache(workers)

    # ------------------------------------------------------------------ cache
    def _fill_cache(self, workers: int) -> None:
        paths = sorted({r.video_path for r in self.rows})
        frames: dict[str, torch.Tensor] = {}
        for path, t, err in decode_all_frames(paths, workers):
            if t is None:
                self._skip(path, err)
            else:
                frames[path] = t
        self.rows = [r for r in self.rows if r.video_path in frames]
        if not self.rows:
            raise InternVideoError(f"no readable video among {len(paths)} files; see the logged reasons")
        self._frames = frames

    def _skip(self, path: str, reason: str) -> None:
        self.skipped.append((path, reason))
        logger.warning("skipping %s: %s", path, reason)

    # ------------------------------------------------------------------ dataset protocol
    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def labels(self) -> torch.Tensor:
        return torch.tensor([r.label for r in self.rows])

    def _rng(self, index: int, attempt: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index, attempt])

    def _all_frames(
        self, row: LabelledRow, indices_for: Callable[[int], list[list[int]]]
    ) -> list[torch.Tensor]:
        if self._frames is not None:
            allf = self._frames[row.video_path]
            return [allf[idx] for idx in indices_for(allf.shape[0])]
        from .video import VideoReader

        with VideoReader(row.video_path) as r:
            return [r.get_frames(idx) for idx in indices_for(r.info.num_frames)]

    def _reorder(self, frames: torch.Tensor, index: int) -> torch.Tensor:
        if self.frame_order == "reversed":
            return frames.flip(0)
        if self.frame_order == "shuffled":
            perm = np.random.default_rng([self.seed, 7919, index]).permutation(frames.shape[0])
            return frames[torch.from_numpy(perm)]
        return frames

    def _load(self, index: int, rng: np.random.Generator) -> torch.Tensor:
        row = self.rows[index]
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        if self.test_views is None:

            def one(vlen: int) -> list[list[int]]:
                return [sample_indices(self.sampling, self.num_frames, vlen, seed=rng)]

            frames = self._reorder(self._all_frames(row, one)[0], index)
            return self._apply(frames, gen)
        clips, crops = self.test_views

        # test views: evenly spread strided clips for stride sampling, segment views otherwise
        policy = "stride" if self.sampling == "stride" else "segment"

        def views(vlen: int) -> list[list[int]]:
            return [
                sample_indices(policy, self.num_frames, vlen, num_clips=clips, clip_idx=k)
                for k in range(clips)
            ]

        out = []
        for frames in self._all_frames(row, views):
            v = self._apply(self._reorder(frames, index), gen)
            out.append(v if crops > 1 else v.unsqueeze(0))
        video = torch.cat(out)
        if video.shape[0] != clips * crops:
            raise ConfigError(
                f"test_views={self.test_views} expects {crops} crops per clip from the transform, "
                f"got {video.shape[0] // clips}"
            )
        return video

    def _apply(self, frames: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return frames if self.transform is None else self.transform(frames, gen)

    def __getitem__(self, index: int) -> dict[str, Any]:
        tried: list[str] = []
        current = index
        for attempt in range(self.max_retries + 1):
            rng = self._rng(index, attempt)
            row = self.rows[current]
            if current not in self._bad:
                try:
                    video = self._load(current, rng)
                    return {"video": video, "label": row.label, "index": current}
                except InternVideoError as e:
                    self._bad.add(current)
                    self._skip(row.video_path, str(e))
            tried.append(row.video_path)
            current = int(rng.integers(len(self.rows)))
        raise InternVideoError(
            f"{self.max_retries + 1} samples in a row could not be read (starting at item {index}): "
            f"{tried[:5]}; check these files (reasons are logged and listed in dataset.skipped)"
        )


def collate_labelled(items: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack videos, labels and indices of :class:`LabelledVideoDataset` items."""
    return {
        "video": torch.stack([it["video"] for it in items]),
        "label": torch.tensor([it["label"] for it in items], dtype=torch.long),
        "index": torch.tensor([it["index"] for it in items], dtype=torch.long),
    }
