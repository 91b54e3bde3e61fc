"""The on-disk video index: a self-describing folder, written atomically and resumable after a crash.

Layout of an index folder::

    index.json            header: format + version, the model (name, fingerprint, embedding size), the
                          preprocessing, the segment settings, counts, and the names of the data files
    vectors-<gen>.npy     float32 (N, D) L2-normalised embeddings, row i = item i
    items-<gen>.jsonl     one line per item: id, row, path, kind (video / segment), start, end (s),
                          the video's duration, fps, frames, size, codec, and file size + mtime
    failed-<gen>.jsonl    files that could not be read: path, size, mtime, reason, detail
    .parts/               work in progress (only while a run is going on or after a crash)

Every file is written under a temporary name and renamed into place. A run commits finished videos as
part files in ``.parts/``; at the end the parts and the kept part of the previous index are compacted
into a new generation of data files, ``index.json`` is replaced to point at them (the commit point), and
the old generation and the parts are removed. A run killed at any moment therefore loses at most the
videos in flight, and the next run picks up the parts and finishes the job.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write, atomic_write_text
from ..errors import ConfigError, InternVideoError

logger = logging.getLogger(__name__)

__all__ = ["FORMAT", "FORMAT_VERSION", "FileRecord", "VideoIndexError", "IndexWriter", "VideoIndex"]

FORMAT = "internvideo-index"
FORMAT_VERSION = 1
HEADER = "index.json"
PARTS = ".parts"
_GEN_RE = re.compile(r"^(vectors|items|failed)-(\d{6})\.(npy|jsonl)$")
_PART_RE = re.compile(r"^part-(\d{6})\.npz$")
_TMP_RE = re.compile(r"^\..+\.tmp$")
# descriptors holding an index lock in this process; forked children (decode workers) close their
# copies, or the lock would outlive a crashed run for as long as its orphaned workers live
_LOCK_FDS: set[int] = set()


def release_inherited_locks() -> None:
    """Close index-lock descriptors inherited from the parent (call first thing in a forked child)."""
    for fd in list(_LOCK_FDS):
        try:
            os.close(fd)
        except OSError:
            pass
        _LOCK_FDS.discard(fd)


class VideoIndexError(InternVideoError):
    """An index folder is missing, damaged, or was built with another model or settings."""


@dataclass
class FileRecord:
    """One video file of an index: its identity for change detection and its items (or its failure)."""

    path: str
    size: int
    mtime_ns: int
    meta: dict[str, Any] = field(default_factory=dict)
    clips: list[dict[str, Any]] = field(default_factory=list)  # kind, start, end per vector row
    reason: str = ""
    detail: str = ""

    @property
    def ok(self) -> bool:
        return not self.reason

    def same_file(self, size: int, mtime_ns: int) -> bool:
        return self.size == size and self.mtime_ns == mtime_ns

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "size": self.size,
            "mtime_ns": self.mtime_ns,
            "meta": self.meta,
            "clips": self.clips,
            "reason": self.reason,
            "detail": self.detail,
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FileRecord:
        return cls(
            d["path"], int(d["size"]), int(d["mtime_ns"]), d["meta"], d["clips"], d["reason"], d["detail"]
        )


def item_id(path: str, kind: str, start: float, end: float) -> str:
    """Stable id of an item: the video's path, plus ``@start-end`` (seconds) for a segment."""
    return path if kind == "video" else f"{path}@{start:.3f}-{end:.3f}"


def _write_npy(path: Path, array: np.ndarray) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)

    atomic_write(path, write)


def _write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    atomic_write_text(path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise VideoIndexError(f"{path}:{n}: not valid JSON ({e}); the index is damaged") from e
    return rows


def _load_vectors(path: Path, mmap: bool) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (ValueError, OSError) as e:  # cut short or overwritten: numpy cannot map or parse it
        raise VideoIndexError(f"{path} cannot be read ({e}); the index is damaged, rebuild it") from e


class VideoIndex:
    """A read-only view of an index folder: ``header``, ``items`` (list of dicts), ``vectors`` (N, D)."""

    def __init__(self, root: Path, header: dict[str, Any], items: list[dict[str, Any]], vectors, failed):
        self.root = root
        self.header = header
        self.items = items
        self.vectors: np.ndarray = vectors
        self.failed: list[dict[str, Any]] = failed

    @classmethod
    def open(cls, root: str | os.PathLike[str], mmap: bool = True) -> VideoIndex:
        """Open the index in ``root`` (vectors memory-mapped unless ``mmap=False``)."""
        root = Path(root)
        for attempt in range(3):
            header = read_header(root)
            files = header["files"]
            try:
                vectors = _load_vectors(root / files["vectors"], mmap)
                items = _read_jsonl(root / files["items"])
                failed = _read_jsonl(root / files["failed"])
                break
            except FileNotFoundError as e:
                # a writer committed a new generation (and removed this one) while we were reading
                if attempt == 2:
                    raise VideoIndexError(
                        f"{root}: {e.filename} is missing; the index is damaged, rebuild it"
                    ) from e
        if vectors.ndim != 2 or vectors.shape[0] != len(items) or len(items) != header["count"]:
            raise VideoIndexError(
                f"{root}: {files['vectors']} holds {vectors.shape[0]} vectors but {files['items']} lists "
                f"{len(items)} items (header: {header['count']}); the index is damaged, rebuild it"
            )
        return cls(root, header, items, vectors, failed)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def model_name(self) -> str:
        return str(self.header["model"]["name"])

    @property
    def fingerprint(self) -> str:
        return str(self.header["model"]["fingerprint"])

    def rows_of(self, path: str, kind: str | None = "video") -> list[int]:
        """Rows of the items of the video at ``path`` (of one ``kind``, or all with ``None``)."""
        return [
            i
            for i, it in enumerate(self.items)
            if it["path"] == path and (kind is None or it["kind"] == kind)
        ]


def read_header(root: Path) -> dict[str, Any]:
    """Read and check ``index.json`` of the index in ``root``."""
    path = root / HEADER
    if not path.is_file():
        raise VideoIndexError(f"{root} is not an index (no {HEADER}); build one with 'internvideo index'")
    try:
        header = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise VideoIndexError(f"{path} is not valid JSON ({e}); the index is damaged") from e
    if header.get("format") != FORMAT:
        raise VideoIndexError(f"{path} is not an internvideo index (format={header.get('format')!r})")
    if header.get("format_version") != FORMAT_VERSION:
        raise VideoIndexError(
            f"{path} has format version {header.get('format_version')}; this version reads {FORMAT_VERSION}"
        )
    return header


class IndexWriter:
    """Exclusive writer of one index folder: resumable part commits and the final compaction.

    ``settings`` (model fingerprint, preprocessing, segments) must equal those of the existing index and
    of any parts left by an interrupted run; parts with other settings are discarded with a warning.
    """

    def __init__(self, root: str | os.PathLike[str], settings: dict[str, Any]) -> None:
        self.root = Path(root)
        self.settings = settings
        self._lock_fd: int | None = None
        self.previous: dict[str, tuple[FileRecord, np.ndarray]] = {}
        self.resumed: dict[str, tuple[FileRecord, np.ndarray]] = {}
        self._next_part = 1
        self._generation = 0

    # -------------------------------------------------------------------------------------- lifecycle
    def __enter__(self) -> IndexWriter:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        """Lock the folder, clean up after a crash, load the previous index and any committed parts."""
        if self.root.exists() and not self.root.is_dir():
            raise VideoIndexError(f"--out {self.root} exists and is not a folder")
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock()
        self._remove_stale_temporaries()
        if (self.root / HEADER).exists():
            self._load_previous()
        self._remove_unreferenced_generations()
        self._load_parts()

    def close(self) -> None:
        if self._lock_fd is not None:
            _LOCK_FDS.discard(self._lock_fd)
            os.close(self._lock_fd)  # closing the descriptor releases the flock
            self._lock_fd = None

    def _lock(self) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - non-POSIX systems: no cross-process lock
            return
        fd = os.open(self.root, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise VideoIndexError(
                f"another 'internvideo index' run is writing to {self.root}; wait for it"
            ) from None
        self._lock_fd = fd
        _LOCK_FDS.add(fd)

    def _remove_stale_temporaries(self) -> None:
        for folder in (self.root, self.root / PARTS):
            if folder.is_dir():
                for p in folder.iterdir():
                    if _TMP_RE.match(p.name) and p.is_file():
                        logger.info("removing %s left by an interrupted run", p)
                        p.unlink()

    def _remove_unreferenced_generations(self) -> None:
        referenced = set()
        if (self.root / HEADER).exists():
            referenced = set(read_header(self.root)["files"].values())
        for p in self.root.iterdir():
            if _GEN_RE.match(p.name) and p.name not in referenced:
                logger.info("removing %s (not part of the committed index)", p)
                p.unlink()

    def _load_previous(self) -> None:
        idx = VideoIndex.open(self.root, mmap=False)
        self._generation = int(idx.header["generation"])
        old = {k: idx.header[k] for k in self.settings}
        if _key(old) != _key(self.settings):
            diff = sorted(k for k in self.settings if _key({k: old[k]}) != _key({k: self.settings[k]}))
            raise VideoIndexError(
                f"{self.root} was built with other {', '.join(diff)} ({_describe(old)}; now "
                f"{_describe(self.settings)}); write to a new --out folder or delete this one"
            )
        for rec, vec in _records_from_index(idx):
            self.previous[rec.path] = (rec, vec)

    def _load_parts(self) -> None:
        folder = self.root / PARTS
        if not folder.is_dir():
            return
        for p in sorted(folder.iterdir()):
            m = _PART_RE.match(p.name)
            if not m:
                continue
            self._next_part = max(self._next_part, int(m.group(1)) + 1)
            try:
                with np.load(p, allow_pickle=False) as z:
                    settings = json.loads(str(z["settings"]))
                    records = [FileRecord.from_json(r) for r in json.loads(str(z["records"]))]
                    vectors = np.asarray(z["vectors"], dtype=np.float32)
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
                logger.warning("ignoring unreadable part %s (its files are embedded again): %s", p, e)
                continue
            if vectors.ndim != 2 or len(vectors) != sum(len(r.clips) for r in records):
                logger.warning("ignoring %s: its vectors do not match its records", p)
                continue
            if _key(settings) != _key(self.settings):
                logger.warning("ignoring %s: it was written with other settings (%s)", p, _describe(settings))
                continue
            row = 0
            for rec in records:
                n = len(rec.clips)
                self.resumed[rec.path] = (rec, vectors[row : row + n])
                row += n
        if self.resumed:
            logger.info("resuming: %d files already done by an interrupted run", len(self.resumed))

    # -------------------------------------------------------------------------------------- queries
    def done(self, path: str, size: int, mtime_ns: int) -> FileRecord | None:
        """The record of an unchanged file already in the index or in a committed part, else None."""
        for source in (self.resumed, self.previous):
            hit = source.get(path)
            if hit is not None and hit[0].same_file(size, mtime_ns):
                return hit[0]
        return None

    # -------------------------------------------------------------------------------------- writing
    def commit(self, results: Sequence[tuple[FileRecord, np.ndarray]], dim: int) -> Path | None:
        """Write finished files as one part (atomically); they survive a crash from now on."""
        if not results:
            return None
        vectors = [v for _, v in results if len(v)]
        stacked = np.concatenate(vectors).astype(np.float32) if vectors else np.zeros((0, dim), np.float32)
        records = json.dumps([r.to_json() for r, _ in results])
        path = self.root / PARTS / f"part-{self._next_part:06d}.npz"
        self._next_part += 1

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:
                np.savez(
                    f,
                    vectors=stacked,
                    records=np.array(records),
                    settings=np.array(json.dumps(self.settings)),
                )

        atomic_write(path, write)
        for rec, vec in results:
            self.resumed[rec.path] = (rec, vec)
        return path

    def finish(self, keep: Iterable[str], header_extra: dict[str, Any], dim: int) -> dict[str, Any]:
        """Compact into a new generation holding the files in ``keep`` (sorted by path); commit the header.

        Files are taken from this run's parts first, then from the previous index. Returns the header.
        """
        gen = self._generation + 1
        recs: list[tuple[FileRecord, np.ndarray]] = []
        for path in sorted(set(keep)):
            hit = self.resumed.get(path) or self.previous.get(path)
            if hit is None:
                raise VideoIndexError(f"internal: no record for {path} at compaction")
            recs.append(hit)
        items, failed, blocks = [], [], []
        for rec, vec in recs:
            if not rec.ok:
                failed.append(
                    {
                        "path": rec.path,
                        "size": rec.size,
                        "mtime_ns": rec.mtime_ns,
                        "reason": rec.reason,
                        "detail": rec.detail,
                    }
                )
                continue
            for clip in rec.clips:
                items.append(
                    {
                        "id": item_id(rec.path, clip["kind"], clip["start"], clip["end"]),
                        "row": len(items),
                        "path": rec.path,
                        "kind": clip["kind"],
                        "start": clip["start"],
                        "end": clip["end"],
                        "size": rec.size,
                        "mtime_ns": rec.mtime_ns,
                        **rec.meta,
                    }
                )
            blocks.append(np.asarray(vec, dtype=np.float32).reshape(len(rec.clips), dim))
        vectors = np.concatenate(blocks) if blocks else np.zeros((0, dim), np.float32)
        files = {
            "vectors": f"vectors-{gen:06d}.npy",
            "items": f"items-{gen:06d}.jsonl",
            "failed": f"failed-{gen:06d}.jsonl",
        }
        _write_npy(self.root / files["vectors"], np.ascontiguousarray(vectors))
        _write_jsonl(self.root / files["items"], items)
        _write_jsonl(self.root / files["failed"], failed)
        now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        created = now
        if (self.root / HEADER).exists():
            created = read_header(self.root).get("created", now)
        header = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "generation": gen,
            **self.settings,
            **header_extra,
            "count": len(items),
            "videos": sum(1 for it in items if it["kind"] == "video"),
            "failed": len(failed),
            "dim": dim,
            "files": files,
            "created": created,
            "updated": now,
        }
        atomic_write_text(self.root / HEADER, json.dumps(header, indent=2, sort_keys=True) + "\n")
        # the header now points at the new generation: the old one and the parts are garbage
        self._generation = gen
        self._remove_unreferenced_generations()
        parts = self.root / PARTS
        if parts.is_dir():
            for p in parts.iterdir():
                if _PART_RE.match(p.name) or _TMP_RE.match(p.name):
                    p.unlink()
            try:
                parts.rmdir()
            except OSError:
                logger.warning("%s holds files this program did not write; left in place", parts)
        return header


def _records_from_index(idx: VideoIndex) -> list[tuple[FileRecord, np.ndarray]]:
    out: list[tuple[FileRecord, np.ndarray]] = []
    by_path: dict[str, list[int]] = {}
    for i, it in enumerate(idx.items):
        by_path.setdefault(it["path"], []).append(i)
    meta_keys = ("duration", "fps", "num_frames", "width", "height", "codec")
    for path, rows in by_path.items():
        first = idx.items[rows[0]]
        rec = FileRecord(
            path,
            int(first["size"]),
            int(first["mtime_ns"]),
            {k: first[k] for k in meta_keys if k in first},
            [
                {"kind": idx.items[r]["kind"], "start": idx.items[r]["start"], "end": idx.items[r]["end"]}
                for r in rows
            ],
        )
        out.append((rec, np.asarray(idx.vectors[rows], dtype=np.float32)))
    for f in idx.failed:
        rec = FileRecord(
            f["path"], int(f["size"]), int(f["mtime_ns"]), reason=f["reason"], detail=f["detail"]
        )
        out.append((rec, np.zeros((0, idx.vectors.shape[1]), np.float32)))
    return out


def _key(settings: dict[str, Any]) -> str:
    """Settings as compared between runs: everything but the model's name (its fingerprint decides)."""
    d = json.loads(json.dumps(settings))
    if isinstance(d.get("model"), dict):
        d["model"].pop("name", None)
    return json.dumps(d, sort_keys=True)


def _describe(settings: dict[str, Any]) -> str:
    parts = []
    model = settings.get("model")
    if isinstance(model, dict):
        parts.append(f"model {model.get('name')} [{model.get('fingerprint')}]")
    seg = settings.get("segments")
    if isinstance(seg, dict):
        parts.append(f"window {seg.get('window')} s / stride {seg.get('stride')} s")
    pre = settings.get("preprocessing")
    if isinstance(pre, dict):
        parts.append(f"{pre.get('num_frames')} frames at {pre.get('img_size')} px")
    return ", ".join(parts)


def check_settings(settings: dict[str, Any]) -> None:
    """Refuse settings that cannot describe an index."""
    for key in ("model", "preprocessing", "segments"):
        if key not in settings:
            raise ConfigError(f"index settings lack {key!r}")
