"""Queries over an index and the per-video jobs: search, similar, classify, embed, extract-features."""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .._io import atomic_write, atomic_write_text
from ..errors import ConfigError, JobInterrupted
from .build import video_encoder
from .model import is_video_text_model, load_model, preprocessing_for
from .pipeline import FileResult, FrameWindowPlan, SegmentPlan, encode_files
from .search import VectorSearch
from .store import VideoIndex, VideoIndexError

logger = logging.getLogger(__name__)

__all__ = [
    "OutputManifest",
    "Result",
    "classify_videos",
    "embed_videos",
    "extract_features",
    "model_for_index",
    "search_text",
    "similar_videos",
]


@dataclass(frozen=True)
class Result:
    """A ranked search result."""

    rank: int
    score: float
    id: str
    path: str
    kind: str
    start: float
    end: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            "id": self.id,
            "path": self.path,
            "kind": self.kind,
            "start": self.start,
            "end": self.end,
        }


def model_for_index(
    index: VideoIndex, model: str | nn.Module | None = None, device: str | None = None
) -> nn.Module:
    """The index's model (by the name in its header unless given), checked against its fingerprint."""
    if model is None or isinstance(model, str | os.PathLike):
        model = load_model(model or index.model_name, device=device)
    fp = getattr(model, "fingerprint", None)
    if fp is None:
        from .model import model_fingerprint

        fp = model.fingerprint = model_fingerprint(model)  # type: ignore[assignment]
    if fp != index.fingerprint:
        raise VideoIndexError(
            f"{index.root} was built with model {index.model_name} [{index.fingerprint}], but the model given "
            f"has fingerprint {fp}; its embeddings are not comparable. Pass --model with the index's model."
        )
    return model


def _rows_for(index: VideoIndex, kind: str) -> np.ndarray | None:
    if kind == "all":
        return None
    if kind not in ("video", "segment"):
        raise ConfigError(f"--kind must be video, segment or all, got {kind!r}")
    return np.array([i for i, it in enumerate(index.items) if it["kind"] == kind], dtype=np.int64)


def _results(index: VideoIndex, hits) -> list[Result]:
    out = []
    for rank, h in enumerate(hits, 1):
        it = index.items[h.row]
        out.append(
            Result(rank, h.score, it["id"], it["path"], it["kind"], float(it["start"]), float(it["end"]))
        )
    return out


@torch.inference_mode()
def search_text(
    index: VideoIndex,
    model: nn.Module,
    queries: Sequence[str],
    k: int = 10,
    kind: str = "all",
    backend: str = "auto",
) -> list[list[Result]]:
    """Ranked items of ``index`` for each natural-language query (cosine of the joint embeddings)."""
    if not is_video_text_model(model):
        raise ConfigError(f"{type(model).__name__} has no text tower; text search needs a video-text model")
    if not queries or any(not q.strip() for q in queries):
        raise ConfigError("every query must be a non-empty text")
    q = model.encode_text(list(queries), normalize=True).float().cpu().numpy()
    search = VectorSearch(index.vectors, backend)
    return [_results(index, hits) for hits in search.search(q, k, allowed=_rows_for(index, kind))]


def similar_videos(
    index: VideoIndex,
    video: str | os.PathLike[str],
    k: int = 10,
    model: nn.Module | str | None = None,
    kind: str = "video",
    backend: str = "auto",
    workers: int | None = 0,
) -> list[Result]:
    """Items nearest to ``video`` (an indexed path uses its stored vector; any other file is embedded).

    Items of the query video itself are left out.
    """
    path = Path(video).expanduser()
    key = str(path.resolve()) if path.exists() else str(video)
    rows = index.rows_of(key, kind="video")
    if rows:
        query = np.asarray(index.vectors[rows[0]], dtype=np.float32)[None]
    else:
        if not path.exists():
            raise ConfigError(f"{video}: no such file, and it is not in the index")
        model = model_for_index(index, model)
        seg = index.header.get("segments") or {}
        window, stride = float(seg.get("window", 0.0)), float(seg.get("stride", 0.0))
        res = _embed_as_indexed(model, [path], window, stride, workers=workers)[0]
        if not res.ok:
            _raise_failed(res)
        query = res.vectors[:1]
    allowed = _rows_for(index, kind)
    if allowed is None:
        allowed = np.arange(len(index))
    allowed = np.array([r for r in allowed if index.items[r]["path"] != key], dtype=np.int64)
    hits = VectorSearch(index.vectors, backend).search(query, k, allowed=allowed)[0]
    return _results(index, hits)


def _raise_failed(res: FileResult) -> None:
    from ..errors import VideoReadError

    raise VideoReadError(res.path, res.reason, res.detail)


def _iter_embedded(
    model: nn.Module,
    files: Sequence[Path],
    window: float,
    stride: float,
    batch_size: int = 16,
    workers: int | None = 0,
    progress: bool | str = False,
) -> Iterator[FileResult]:
    """Results as files complete; each readable file's first row is its whole-video vector as
    :func:`~internvideo.index.build_index` with these segment settings stores it (a long video's is the
    normalised mean of its segments'), followed by its segments."""
    from .build import index_plan, with_whole_video

    pre = preprocessing_for(model)
    device = next(model.parameters()).device
    plan = index_plan(pre, window, stride)
    for r in encode_files(
        files, plan, pre.transform(), video_encoder(model), batch_size, workers, device, progress
    ):
        if r.ok:
            r.clips, r.vectors = with_whole_video(r.meta, r.clips, r.vectors)
        yield r


def _embed_as_indexed(
    model: nn.Module, files: Sequence[Path], window: float, stride: float, workers: int | None = 0
) -> dict[int, FileResult]:
    """:func:`_iter_embedded`'s results by file position."""
    return {r.index: r for r in _iter_embedded(model, files, window, stride, workers=workers)}


def parse_labels(text: str) -> list[str]:
    """Class names from ``a,b,c`` or ``@file`` (one name per line)."""
    if text.startswith("@"):
        path = Path(text[1:])
        if not path.is_file():
            raise ConfigError(f"--labels {text}: no such file")
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    else:
        names = [n.strip() for n in text.split(",")]
    names = [n for n in names if n]
    if not names:
        raise ConfigError("--labels lists no class names")
    if len(set(names)) != len(names):
        raise ConfigError(f"--labels lists a class twice: {names}")
    return names


@torch.inference_mode()
def classify_videos(
    model: nn.Module,
    videos: Sequence[str | os.PathLike[str]],
    labels: Sequence[str] | None = None,
    prompts: Sequence[Sequence[str]] | None = None,
    batch_size: int = 16,
    workers: int | None = 0,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Class probabilities for each video: zero-shot over ``labels`` for video–text models (prompt
    ensembling over ``prompts`` per class, or the default templates), or the head of a fine-tuned
    classifier (``labels`` then name its classes). Unreadable videos get ``error`` instead of scores.
    """
    from ..eval.zeroshot import class_prompts, zero_shot_logits, zero_shot_weights

    pre = preprocessing_for(model)
    device = next(model.parameters()).device
    if is_video_text_model(model):
        if not labels:
            raise ConfigError("zero-shot classification needs --labels")
        weights = zero_shot_weights(model, list(prompts) if prompts else class_prompts(list(labels)))

        def encode(x: torch.Tensor) -> torch.Tensor:
            return zero_shot_logits(model, model.encode_video(x), weights).softmax(-1)

    else:
        num_classes = int(getattr(model.cfg, "num_classes", 0))  # type: ignore[union-attr]
        if num_classes <= 0:
            raise ConfigError(
                f"{type(model).__name__} has no classifier head and no text tower; pass a video-text model "
                "(zero-shot) or a fine-tuned classifier"
            )
        if labels and len(labels) != num_classes:
            raise ConfigError(f"--labels names {len(labels)} classes but the classifier has {num_classes}")
        labels = list(labels) if labels else [f"class_{i}" for i in range(num_classes)]

        def encode(x: torch.Tensor) -> torch.Tensor:
            return model(x).float().softmax(-1)

    files = [Path(v) for v in videos]
    rows: dict[int, dict[str, Any]] = {}
    plan = SegmentPlan(pre.num_frames, pre.sampling)
    for res in encode_files(
        files, plan, pre.transform(), encode, batch_size, workers, device, progress and "classifying"
    ):
        if not res.ok:
            rows[res.index] = {
                "path": str(res.path),
                "error": f"{res.reason}: {res.detail}" if res.detail else res.reason,
            }
            continue
        probs = res.vectors[0]
        order = np.argsort(-probs, kind="stable")
        rows[res.index] = {
            "path": str(res.path),
            "label": labels[order[0]],
            "score": float(probs[order[0]]),
            "scores": {labels[i]: float(probs[i]) for i in order},
        }
    return [rows[i] for i in range(len(files))]


def _output_names(files: Sequence[Path]) -> list[str]:
    """File stems, made unique (``name``, ``name-2``, ...) in input order."""
    seen: dict[str, int] = {}
    names = []
    for f in files:
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", f.stem) or "video"
        n = seen.get(stem, 0) + 1
        seen[stem] = n
        names.append(stem if n == 1 else f"{stem}-{n}")
    return names


def _save_array(path: Path, array: np.ndarray, fmt: str) -> None:
    if fmt == "npy":

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:
                np.save(f, array, allow_pickle=False)
    else:
        from safetensors.numpy import save_file

        def write(tmp: str) -> None:
            save_file({"features": np.ascontiguousarray(array)}, tmp)

    atomic_write(path, write)


_PARTIAL_MANIFEST = ".manifest.partial.jsonl"


class OutputManifest(list):
    """The manifest entries :func:`embed_videos` and :func:`extract_features` wrote (one dict per video,
    in input order); ``reused`` counts the videos whose array an earlier run had written."""

    reused: int = 0


class _Outputs:
    """One array file per video plus ``manifest.jsonl`` in ``out``, written as the videos complete.

    Memory stays bounded whatever the number of videos, and a run that is interrupted keeps the videos
    it finished: each is listed in a partial manifest as soon as its array is written (atomically).
    A re-run with the same settings (the model and every setting in ``settings``, the format) skips
    the videos whose array is there from an earlier run -- complete or interrupted -- and whose file has
    not changed since (same size and modification time). Unreadable videos are tried again.
    """

    def __init__(self, out: Path, files: Sequence[Path], fmt: str, settings: dict[str, Any]) -> None:
        if fmt not in ("npy", "safetensors"):
            raise ConfigError(f"--format must be npy or safetensors, got {fmt!r}")
        self.out, self.files, self.fmt = out, list(files), fmt
        self.settings = json.loads(json.dumps(settings))  # as it reads back from the manifest
        self.names = [f"{n}.{fmt}" for n in _output_names(self.files)]
        self.entries: dict[int, dict[str, Any]] = {}
        self.stats: dict[int, os.stat_result] = {}
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {out} is a file, not a folder")
        out.mkdir(parents=True, exist_ok=True)
        earlier = self._earlier()
        for i, f in enumerate(self.files):
            try:
                self.stats[i] = f.stat()
            except OSError:  # reported as missing when it is decoded
                continue
            e = earlier.get(str(f))
            if e is not None and self._reusable(e, i):
                self.entries[i] = e
        self.reused = len(self.entries)
        self._partial = (out / _PARTIAL_MANIFEST).open("a", encoding="utf-8")
        for i in sorted(self.entries):  # the next run finds them even if this one is interrupted
            self._note(self.entries[i])
        # until this run completes, only the partial manifest describes the folder: a complete one from
        # an earlier run with other settings would not match the arrays this run overwrites
        (out / "manifest.jsonl").unlink(missing_ok=True)

    def _earlier(self) -> dict[str, dict[str, Any]]:
        """Entries of earlier runs by video: the last complete manifest, then a partial one (later lines
        win; a line cut short by a crash is skipped)."""
        found: dict[str, dict[str, Any]] = {}
        for name in ("manifest.jsonl", _PARTIAL_MANIFEST):
            try:
                lines = (self.out / name).read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError):
                continue
            for line in lines:
                try:
                    e = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(e, dict) and isinstance(e.get("video"), str):
                    found[e["video"]] = e
        return found

    def _reusable(self, e: dict[str, Any], i: int) -> bool:
        st = self.stats[i]
        return (
            "error" not in e
            and e.get("file") == self.names[i]
            and e.get("size") == st.st_size
            and e.get("mtime_ns") == st.st_mtime_ns
            and all(e.get(k) == v for k, v in self.settings.items())
            and (self.out / self.names[i]).is_file()
        )

    def todo(self) -> list[int]:
        """Positions of the videos still to compute."""
        return [i for i in range(len(self.files)) if i not in self.entries]

    def _note(self, entry: dict[str, Any]) -> None:
        self._partial.write(json.dumps(entry) + "\n")
        self._partial.flush()

    def add(self, i: int, res: FileResult) -> None:
        """Write video ``i``'s result (its array, or its error) and list it."""
        f = self.files[i]
        st = self.stats.get(i)
        stat = {"size": st.st_size, "mtime_ns": st.st_mtime_ns} if st is not None else {}
        if not res.ok:
            entry: dict[str, Any] = {"video": str(f), "error": res.reason, "detail": res.detail, **stat}
        else:
            assert res.vectors is not None and res.meta is not None
            _save_array(self.out / self.names[i], res.vectors, self.fmt)
            entry = {
                "video": str(f),
                "file": self.names[i],
                "shape": list(res.vectors.shape),
                **stat,
                **res.meta.to_dict(),
                **self.settings,
                "kinds": [c.kind for c in res.clips],
                "starts": [round(c.start, 6) for c in res.clips],
                "ends": [round(c.end, 6) for c in res.clips],
            }
        self.entries[i] = entry
        self._note(entry)

    def run(self, results: Callable[[list[Path]], Iterator[FileResult]]) -> OutputManifest:
        """Compute the videos still to do with ``results`` (files -> results as they complete), then
        write the manifest (in input order). Ctrl-C raises :class:`JobInterrupted`, the finished videos
        kept."""
        todo = self.todo()
        if self.reused:
            logger.info("%d of %d videos already done by an earlier run", self.reused, len(self.files))
        try:
            for r in results([self.files[i] for i in todo]):
                self.add(todo[r.index], r)
        except KeyboardInterrupt as e:
            n = sum(1 for m in self.entries.values() if "error" not in m)
            raise JobInterrupted(
                self.out, n, f"{n} of {len(self.files)} video{'s' if len(self.files) != 1 else ''} written"
            ) from e
        finally:
            self._partial.close()
        manifest = OutputManifest(self.entries[i] for i in range(len(self.files)))
        manifest.reused = self.reused
        atomic_write_text(self.out / "manifest.jsonl", "".join(json.dumps(m) + "\n" for m in manifest))
        (self.out / _PARTIAL_MANIFEST).unlink(missing_ok=True)
        return manifest


def embed_videos(
    model: nn.Module,
    videos: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    window: float = 0.0,
    stride: float = 0.0,
    fmt: str = "npy",
    batch_size: int = 16,
    workers: int | None = None,
    progress: bool = False,
) -> OutputManifest:
    """Write one ``(n, D)`` array per video into ``out`` plus ``manifest.jsonl``.

    Row 0 is the whole video; with ``window > 0`` the next rows are the windows (seconds) of videos
    longer than one window, and row 0 of such a video is the normalised mean of its windows' rows --
    the same vectors ``index`` stores with the same settings. The manifest names each row's kind, start
    and end.

    Arrays are written as videos complete; a re-run with the same settings skips videos written before
    and unchanged since, and Ctrl-C raises :class:`~internvideo.errors.JobInterrupted`, keeping them.
    """
    pre = preprocessing_for(model)
    settings = {
        "model": str(getattr(model, "index_model_name", type(model).__name__)),
        "fingerprint": getattr(model, "fingerprint", ""),
        "preprocessing": pre.to_dict(),
        "window": window,
        "stride": stride,
        "normalized": True,
    }
    outputs = _Outputs(Path(out), [Path(v) for v in videos], fmt, settings)
    return outputs.run(
        lambda files: _iter_embedded(
            model, files, window, stride, batch_size, workers, progress and "embedding"
        )
    )


def _feature_fn(model: nn.Module, layer: str):
    enc = model.vision_encoder if hasattr(model, "vision_encoder") else model
    if layer == "pooled":
        return lambda x: enc.forward_pooled(x), int(enc.cfg.clip_embed_dim)
    try:
        block = int(layer)
    except ValueError:
        raise ConfigError(f"--layer must be 'pooled' or a block number, got {layer!r}") from None
    depth = int(enc.cfg.depth)
    if not -depth <= block < depth:
        raise ConfigError(f"--layer {block}: the encoder has blocks 0..{depth - 1} (or -1..-{depth})")

    def fn(x: torch.Tensor) -> torch.Tensor:
        _, hidden = enc.forward_intermediates(x, indices=[block], stop_early=True)
        return hidden[0].mean(dim=1)  # mean over the block's tokens

    return fn, int(enc.cfg.embed_dim)


def extract_features(
    model: nn.Module,
    videos: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    window: int = 16,
    stride: int = 4,
    layer: str = "pooled",
    fmt: str = "npy",
    batch_size: int = 16,
    workers: int | None = None,
    progress: bool = False,
) -> OutputManifest:
    """Temporal-localisation features: per video an array ``(num_windows, D)``, row ``j`` from frames
    ``[j * stride, j * stride + window)`` (the last window padded with the last frame), plus a manifest.

    ``layer`` is ``pooled`` (the attention-pooled clip feature) or a block index (mean of its tokens).
    Written and resumed as :func:`embed_videos` writes and resumes.
    """
    pre = preprocessing_for(model)
    device = next(model.parameters()).device
    fn, dim = _feature_fn(model, layer)
    plan = FrameWindowPlan(pre.num_frames, window=window, stride=stride)
    settings = {
        "model": str(getattr(model, "index_model_name", type(model).__name__)),
        "fingerprint": getattr(model, "fingerprint", ""),
        "preprocessing": pre.to_dict(),
        "layer": layer,
        "dim": dim,
        "window_frames": window,
        "stride_frames": stride,
        "protocol": "feature j covers frames [j*stride, j*stride+window); the last window repeats the last frame",
    }
    outputs = _Outputs(Path(out), [Path(v) for v in videos], fmt, settings)
    return outputs.run(
        lambda files: encode_files(
            files, plan, pre.transform(), fn, batch_size, workers, device, progress and "features"
        )
    )
