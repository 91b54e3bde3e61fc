"""``build_index``: scan folders, embed new and changed videos, and commit them into an index folder."""

from __future__ import annotations

import logging
import os
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError, JobInterrupted
from .model import Preprocessing, preprocessing_for
from .pipeline import Clip, FileResult, SegmentPlan, encode_files, whole_video_end
from .store import FileRecord, IndexWriter, VideoIndexError

logger = logging.getLogger(__name__)

__all__ = ["VIDEO_EXTENSIONS", "IndexReport", "build_index", "scan_videos", "video_encoder"]

#: File name endings taken as videos when a folder is scanned (a file named on the command line is
#: always tried, whatever its name).
VIDEO_EXTENSIONS = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".mkv",
        ".webm",
        ".avi",
        ".mpg",
        ".mpeg",
        ".ts",
        ".mts",
        ".wmv",
        ".flv",
        ".3gp",
        ".ogv",
    }
)


def scan_videos(paths: Sequence[str | os.PathLike[str]], exclude: Sequence[Path] = ()) -> list[Path]:
    """Resolved video files under ``paths`` (folders recursively, hidden entries skipped), sorted.

    Files named directly are kept whatever their extension; a path that does not exist is an error.
    Anything under ``exclude`` (e.g. the index folder itself) is left out. Links to files are resolved;
    links to folders are not followed (a folder tree with a loop stays finite).
    """
    excluded = [os.path.realpath(e) for e in exclude]
    resolved_dirs: dict[str, str] = {}

    def resolve(path: str, entry: os.DirEntry | None = None) -> str:
        # one realpath per folder, not per file: a file that is not itself a link resolves to its
        # folder's real path joined with its name
        link = entry.is_symlink() if entry is not None else os.path.islink(path)
        if link:
            return os.path.realpath(path)
        folder, name = os.path.split(os.path.abspath(path))
        real = resolved_dirs.get(folder)
        if real is None:
            real = resolved_dirs[folder] = os.path.realpath(folder)
        return os.path.join(real, name)

    found: set[str] = set()
    for raw in paths:
        p = os.path.expanduser(os.fspath(raw))
        try:
            mode = os.stat(p).st_mode
        except OSError:
            raise ConfigError(f"{raw}: no such file or folder") from None
        if stat.S_ISREG(mode):
            found.add(resolve(p))
            continue
        if not stat.S_ISDIR(mode):  # a pipe or a device: opening it could wait forever
            logger.warning("skipping %s: not a regular file or a folder", raw)
            continue
        todo = [os.path.realpath(p)]
        while todo:
            try:
                entries = list(os.scandir(todo.pop()))
            except OSError as e:  # unreadable folder: what else is there still gets indexed
                logger.warning("skipping %s: %s", e.filename, e.strerror)
                continue
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    todo.append(entry.path)
                elif os.path.splitext(entry.name)[1].lower() in VIDEO_EXTENSIONS and entry.is_file():
                    found.add(resolve(entry.path, entry))
    below = tuple(e.rstrip(os.sep) + os.sep for e in excluded)
    keep = (f for f in found if f not in excluded and not f.startswith(below))
    return [Path(f) for f in sorted(keep)]


def video_encoder(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """The function that maps a clip batch to L2-normalised embeddings for ``model``.

    Video–text models give their joint-space embedding (``encode_video``); bare video encoders give the
    normalised attention-pooled feature.
    """
    if hasattr(model, "encode_video"):
        return lambda x: model.encode_video(x, normalize=True)
    if hasattr(model, "forward_pooled"):
        return lambda x: F.normalize(model.forward_pooled(x), dim=-1)
    raise ConfigError(
        f"{type(model).__name__} has neither encode_video nor forward_pooled; it cannot embed videos"
    )


def index_settings(model: nn.Module, pre: Preprocessing, window: float, stride: float) -> dict[str, Any]:
    """What an index must agree on between runs: the model, the preprocessing and the segments."""
    return {
        "model": {
            "name": str(getattr(model, "index_model_name", type(model).__name__)),
            "fingerprint": str(model.fingerprint),  # type: ignore[attr-defined]
            "architecture": type(model).__name__,
        },
        "preprocessing": pre.to_dict(),
        "segments": {"window": float(window), "stride": float(stride if window > 0 else 0.0)},
    }


@dataclass
class IndexReport:
    """What one ``build_index`` run did."""

    out: Path
    scanned: int = 0
    embedded: int = 0  # files embedded by this run
    unchanged: int = 0  # files already in the index, not changed since
    resumed: int = 0  # files committed by an interrupted run and taken over
    pruned: int = 0  # index entries whose file no longer exists
    failures: list[FileRecord] = field(default_factory=list)  # unreadable files, this run's and earlier
    new_failures: int = 0
    items: int = 0
    videos: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0
    header: dict[str, Any] = field(default_factory=dict)

    @property
    def videos_per_second(self) -> float:
        return self.embedded / self.embed_seconds if self.embed_seconds > 0 else 0.0


def build_index(
    paths: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    model: nn.Module,
    window: float = 0.0,
    stride: float = 0.0,
    batch_size: int = 16,
    workers: int | None = None,
    progress: bool = False,
    commit_seconds: float = 2.0,
) -> IndexReport:
    """Index the videos under ``paths`` into the folder ``out`` with ``model`` (see :mod:`.store`).

    Unchanged files (same size and modification time) already in the index are skipped, files committed
    by an interrupted run are taken over, unreadable files are recorded with their reason, and index
    entries whose file is gone are dropped. ``window``/``stride`` (seconds) add segment embeddings for
    videos longer than one window. ``model`` comes from :func:`internvideo.index.model.load_model`.
    """
    if window < 0 or stride < 0:
        raise ConfigError(f"--window and --stride must be >= 0, got {window} and {stride}")
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be >= 1, got {batch_size}")
    t0 = time.perf_counter()
    out = Path(out)
    pre = preprocessing_for(model)
    settings = index_settings(model, pre, window, stride)
    encode = video_encoder(model)
    device = next(model.parameters()).device
    report = IndexReport(out=out)
    files = scan_videos(paths, exclude=[out])
    report.scanned = len(files)
    with IndexWriter(out, settings) as writer:
        todo: list[Path] = []
        stats: dict[Path, os.stat_result] = {}
        for f in list(files):
            try:
                st = f.stat()
            except OSError as e:  # vanished (or became unreadable) since the scan
                logger.warning("skipping %s: %s", f, e)
                files.remove(f)
                continue
            stats[f] = st
            hit = writer.done(str(f), st.st_size, st.st_mtime_ns)
            if hit is None:
                todo.append(f)
            elif str(f) in writer.resumed:
                report.resumed += 1
            else:
                report.unchanged += 1
        logger.info(
            "%d files scanned: %d to embed, %d unchanged, %d done by an interrupted run",
            len(files),
            len(todo),
            report.unchanged,
            report.resumed,
        )
        plan = index_plan(pre, window, stride)
        dim = _embed_dim(model, encode, pre, device)
        pending: list[tuple[FileRecord, np.ndarray]] = []
        last_commit = time.perf_counter()
        t_embed = time.perf_counter()
        try:
            for res in encode_files(
                todo,
                plan,
                pre.transform(),
                encode,
                batch_size,
                workers,
                device,
                "indexing" if progress else False,
            ):
                st = stats[res.path]
                pending.append(_to_record(res, st, dim))
                if res.ok:
                    report.embedded += 1
                else:
                    report.new_failures += 1
                if len(pending) >= batch_size or time.perf_counter() - last_commit >= commit_seconds:
                    writer.commit(pending, dim)
                    pending, last_commit = [], time.perf_counter()
        except KeyboardInterrupt as e:
            # what is embedded already is kept: a re-run takes it over (a second Ctrl-C while this
            # part is written leaves no half part: parts are written atomically); the count includes
            # files an earlier interrupted run committed, and unreadable ones (committed with their reason)
            writer.commit(pending, dim)
            n = len(writer.resumed)
            raise JobInterrupted(out, n, f"{n} file{'s' if n != 1 else ''} committed") from e
        writer.commit(pending, dim)
        report.embed_seconds = time.perf_counter() - t_embed
        keep = {str(f) for f in files}
        for path in writer.previous:
            if path not in keep:
                if Path(path).exists():
                    keep.add(path)  # indexed by an earlier run over other folders: kept
                else:
                    report.pruned += 1
                    logger.info("dropping %s from the index: the file is gone", path)
        for path in writer.resumed:
            if path not in keep and Path(path).exists():
                keep.add(path)
        header = writer.finish(keep, {}, dim)
        for path in sorted(keep):
            rec = (writer.resumed.get(path) or writer.previous[path])[0]
            if not rec.ok:
                report.failures.append(rec)
    report.header = header
    report.items, report.videos = header["count"], header["videos"]
    report.seconds = time.perf_counter() - t0
    return report


def _embed_dim(model: nn.Module, encode, pre: Preprocessing, device: torch.device) -> int:
    cfg = getattr(model, "cfg", None)
    if cfg is not None and hasattr(cfg, "embed_dim") and hasattr(model, "encode_video"):
        return int(cfg.embed_dim)
    vcfg = getattr(cfg, "vision", cfg)
    if vcfg is not None and hasattr(vcfg, "clip_embed_dim"):
        return int(vcfg.clip_embed_dim)
    with torch.inference_mode():  # pragma: no cover - models without a known width
        x = torch.zeros(1, 3, pre.num_frames, pre.img_size, pre.img_size, device=device)
        return int(encode(x).shape[-1])


def _to_record(res: FileResult, st: os.stat_result, dim: int) -> tuple[FileRecord, np.ndarray]:
    rec = FileRecord(str(res.path), st.st_size, st.st_mtime_ns)
    if not res.ok:
        rec.reason, rec.detail = res.reason, res.detail
        return rec, np.zeros((0, dim), np.float32)
    assert res.meta is not None and res.vectors is not None
    rec.meta = res.meta.to_dict()
    clips, vectors = with_whole_video(res.meta, res.clips, res.vectors)
    rec.clips = [{"kind": c.kind, "start": c.start, "end": c.end} for c in clips]
    return rec, vectors


def index_plan(pre: Preprocessing, window: float, stride: float) -> SegmentPlan:
    """The clips an index embeds for each video: its segments when it is longer than ``window``, else
    the whole video. A video with segments gets the mean of their vectors as its whole-video vector
    (:func:`with_whole_video`), so its sparse whole-video clip is not decoded at all."""
    return SegmentPlan(pre.num_frames, pre.sampling, window=window, stride=stride, whole=False)


def with_whole_video(meta, clips: list[Clip], vectors: np.ndarray) -> tuple[list[Clip], np.ndarray]:
    """Put a whole-video entry first: for a video planned as segments only, the normalised mean of its
    segment vectors.

    A few frames spread over a long video are far from what a clip model was trained on and give a
    vague vector that outranks real matches for many queries; the mean of the in-distribution segment
    embeddings describes the whole video better. A video with its own whole-video clip keeps it.
    """
    if not clips or clips[0].kind == "video":
        return clips, vectors
    mean = vectors.astype(np.float64).mean(0)
    whole = (mean / max(np.linalg.norm(mean), 1e-12)).astype(np.float32)
    return [Clip("video", 0.0, whole_video_end(meta), ()), *clips], np.vstack([whole[None], vectors])


__all__ += ["VideoIndexError", "index_plan", "index_settings", "with_whole_video"]
