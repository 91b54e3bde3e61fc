"""The ``index``, ``search``, ``similar``, ``classify``, ``embed`` and ``extract-features`` commands.

Each ``*_main(argv, prog)`` parses its own arguments and returns the exit code: 0 success, 1 a runtime
failure (an unreadable video named on the command line, a damaged index, a model that does not load),
2 a usage error. Results go to stdout (tables, or JSON with ``--json``); warnings and the progress bar go
to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = [
    "classify_main",
    "embed_main",
    "extract_features_main",
    "index_main",
    "search_main",
    "similar_main",
]


def _table(rows: Sequence[Sequence[object]], header: Sequence[str]) -> str:
    from ..cli import _table as table

    return table(rows, header)


def _default_model() -> str:
    from ..models.default import DEFAULT_MODEL

    return DEFAULT_MODEL


def _parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace | int:
    try:
        return parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a usage error (2)
        return int(e.code or 0) if not isinstance(e.code, str) else 2


def _common(p: argparse.ArgumentParser, model_help: str) -> None:
    p.add_argument("--model", default=None, help=model_help)
    p.add_argument("--batch-size", type=int, default=16, help="clips per model batch (default 16)")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="decoding processes (default: one per core when the model runs on the CPU, cores - 1 beside a GPU; 1..4)",
    )
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, ... (default: a GPU when present)")
    p.add_argument("--json", action="store_true", help="machine-readable output on stdout")
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--progress", dest="progress", action="store_true", default=None, help="always show a progress bar"
    )
    g.add_argument("--no-progress", dest="progress", action="store_false", help="never show a progress bar")


def _progress(args: argparse.Namespace) -> bool:
    return sys.stderr.isatty() if args.progress is None else bool(args.progress)


def _show_path(path: str) -> str:
    """A path relative to the working folder when it lies below it, control characters escaped."""
    from ..cli import printable

    try:
        return printable(str(Path(path).relative_to(Path.cwd())))
    except ValueError:
        return printable(path)


def _clock(seconds: float) -> str:
    m, s = divmod(max(0.0, seconds), 60.0)
    return f"{int(m)}:{s:04.1f}"


def _span(kind: str, start: float, end: float) -> str:
    return "whole video" if kind == "video" else f"{_clock(start)}-{_clock(end)}"


def _warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr)


def _model(args: argparse.Namespace, default: str | None = None):
    from .model import load_model

    return load_model(args.model or default or _default_model(), device=args.device)


# ---------------------------------------------------------------------------------------------- index
def index_main(argv: list[str], prog: str = "internvideo index") -> int:
    """``internvideo index PATHS... --out INDEX``: embed a collection into a searchable index."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="Scan folders (recursively) and files, embed every video, and write a searchable index. "
        "A re-run skips unchanged files and continues after an interrupted run; unreadable files are "
        "listed with their reason and the job goes on.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="video files or folders")
    p.add_argument("--out", required=True, help="index folder (created, or updated incrementally)")
    p.add_argument(
        "--window",
        type=float,
        default=10.0,
        help="segment length in seconds for videos longer than it; 0: whole videos only (default 10)",
    )
    p.add_argument("--stride", type=float, default=5.0, help="seconds between segment starts (default 5)")
    _common(p, f"registered model name or save_pretrained folder (default: {_default_model()})")
    args = _parse(p, argv)
    if isinstance(args, int):
        return args
    from .build import build_index, scan_videos

    if not scan_videos(args.paths, exclude=[Path(args.out)]):  # before the model loads: fail fast
        print(f"error: no video files found under {', '.join(args.paths)}", file=sys.stderr)
        return 1
    model = _model(args)
    report = build_index(
        args.paths,
        args.out,
        model,
        window=args.window,
        stride=args.stride,
        batch_size=args.batch_size,
        workers=args.workers,
        progress=_progress(args),
    )
    failures = [{"path": f.path, "reason": f.reason, "detail": f.detail} for f in report.failures]
    if args.json:
        print(
            json.dumps(
                {
                    "index": str(report.out),
                    "scanned": report.scanned,
                    "embedded": report.embedded,
                    "unchanged": report.unchanged,
                    "resumed": report.resumed,
                    "pruned": report.pruned,
                    "failed": failures,
                    "items": report.items,
                    "videos": report.videos,
                    "seconds": round(report.seconds, 3),
                    "videos_per_second": round(report.videos_per_second, 3),
                },
                indent=1,
            )
        )
    else:
        rate = f" ({report.videos_per_second:.1f} videos/s)" if report.embedded else ""
        print(
            f"{report.out}: {report.videos} videos, {report.items} items (model {report.header['model']['name']}, "
            f"{report.header['dim']}-d)\n"
            f"this run: {report.embedded} embedded{rate}, {report.unchanged} unchanged, "
            f"{report.resumed} taken over from an interrupted run, {report.pruned} removed, "
            f"{report.new_failures} unreadable; {report.seconds:.1f} s"
        )
    if failures:
        _warn(f"{len(failures)} of {report.scanned} files could not be read and are not in the index:")
        for f in failures:
            detail = f" ({f['detail']})" if f["detail"] else ""
            print(f"  {_show_path(f['path'])}: {f['reason']}{detail}", file=sys.stderr)
    if report.videos == 0:
        print("error: none of the files could be read; nothing was indexed", file=sys.stderr)
        return 1
    return 0


# ---------------------------------------------------------------------------------------------- search
def _open_index(path: str):
    from .store import VideoIndex

    return VideoIndex.open(path)


def _print_results(results, as_json: bool, query: str) -> None:
    if as_json:
        print(json.dumps({"query": query, "results": [r.to_dict() for r in results]}, indent=1))
        return
    rows = [(r.rank, f"{r.score:.3f}", _show_path(r.path), _span(r.kind, r.start, r.end)) for r in results]
    print(_table(rows, ["rank", "score", "video", "time"]) if rows else "no results")


def search_main(argv: list[str], prog: str = "internvideo search") -> int:
    """``internvideo search INDEX "query"``: ranked videos and segments for a text query."""
    p = argparse.ArgumentParser(prog=prog, description="Natural-language search of an index.")
    p.add_argument("index", help="index folder written by 'internvideo index'")
    p.add_argument("query", help="what to look for, in words")
    p.add_argument("-k", type=int, default=10, help="number of results (default 10)")
    p.add_argument(
        "--kind",
        choices=["all", "video", "segment"],
        default="all",
        help="search whole videos, segments, or both",
    )
    p.add_argument(
        "--backend",
        choices=["auto", "exact", "faiss"],
        default="auto",
        help="vector search (auto: faiss for large indexes when installed)",
    )
    p.add_argument(
        "--model", default=None, help="the index's model, when its recorded name no longer resolves"
    )
    p.add_argument("--device", default=None)
    p.add_argument("--json", action="store_true")
    args = _parse(p, argv)
    if isinstance(args, int):
        return args
    if args.k < 1:
        p.error("-k must be >= 1")
    from .api import model_for_index, search_text

    index = _open_index(args.index)
    model = model_for_index(index, args.model, device=args.device)
    t0 = time.perf_counter()
    results = search_text(index, model, [args.query], k=args.k, kind=args.kind, backend=args.backend)[0]
    _print_results(results, args.json, args.query)
    if not args.json:
        print(f"({len(index)} items searched in {1e3 * (time.perf_counter() - t0):.0f} ms)", file=sys.stderr)
    return 0


def similar_main(argv: list[str], prog: str = "internvideo similar") -> int:
    """``internvideo similar INDEX VIDEO``: the indexed videos nearest to a video."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="Videos of an index nearest to a video (recommendation). An indexed video uses its "
        "stored embedding; any other file is embedded with the index's model.",
    )
    p.add_argument("index")
    p.add_argument("video")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--kind", choices=["all", "video", "segment"], default="video")
    p.add_argument("--backend", choices=["auto", "exact", "faiss"], default="auto")
    p.add_argument(
        "--model", default=None, help="the index's model, when its recorded name no longer resolves"
    )
    p.add_argument("--json", action="store_true")
    args = _parse(p, argv)
    if isinstance(args, int):
        return args
    if args.k < 1:
        p.error("-k must be >= 1")
    from .api import similar_videos

    index = _open_index(args.index)
    results = similar_videos(
        index, args.video, k=args.k, model=args.model, kind=args.kind, backend=args.backend
    )
    _print_results(results, args.json, str(args.video))
    return 0


# ---------------------------------------------------------------------------------------------- classify
def classify_main(argv: list[str], prog: str = "internvideo classify") -> int:
    """``internvideo classify VIDEO... --labels a,b,c``: zero-shot (or fine-tuned) labels."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="Label videos: zero-shot over --labels with a video-text model (prompt ensembling), "
        "or with a fine-tuned classifier checkpoint (--model; --labels then names its classes).",
    )
    p.add_argument("videos", nargs="+", metavar="VIDEO")
    p.add_argument("--labels", default=None, help="class names: 'a,b,c' or @file (one per line)")
    p.add_argument("--top", type=int, default=3, help="labels shown per video (default 3)")
    _common(p, f"video-text model or classifier: registered name or folder (default: {_default_model()})")
    args = _parse(p, argv)
    if isinstance(args, int):
        return args
    from .api import classify_videos, parse_labels

    labels = parse_labels(args.labels) if args.labels else None
    model = _model(args)
    rows = classify_videos(
        model,
        args.videos,
        labels,
        batch_size=args.batch_size,
        workers=args.workers,
        progress=_progress(args),
    )
    bad = [r for r in rows if "error" in r]
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        table = []
        for r in rows:
            if "error" in r:
                continue
            top = list(r["scores"].items())[: max(1, args.top)]
            table.append((_show_path(r["path"]), *(f"{n} {s:.2f}" for n, s in top)))
        if table:
            width = max(len(t) for t in table) - 1
            print(_table(table, ["video", *[f"#{i + 1}" for i in range(width)]]))
    for r in bad:
        print(f"error: {r['path']}: {r['error']}", file=sys.stderr)
    return 1 if bad else 0


# ---------------------------------------------------------------------------------------------- embed / features
def _videos(paths: list[str]) -> list[Path]:
    from .build import scan_videos

    files = scan_videos(paths)
    if not files:
        raise ConfigError(f"no video files found under {', '.join(paths)}")
    return files


def _report_outputs(manifest: list[dict[str, Any]], out: str, as_json: bool, what: str) -> int:
    bad = [m for m in manifest if "error" in m]
    reused = getattr(manifest, "reused", 0)  # videos an earlier run had written
    if as_json:
        print(
            json.dumps(
                {"out": out, "manifest": "manifest.jsonl", "reused": reused, "videos": manifest}, indent=1
            )
        )
    else:
        rows = [
            (_show_path(m["video"]), m["file"], "x".join(map(str, m["shape"])))
            for m in manifest
            if "error" not in m
        ]
        if rows:
            print(_table(rows, ["video", what, "shape"]))
        written = len(rows) - reused
        kept = f" (and kept {reused} from an earlier run)" if reused else ""
        print(
            f"wrote {written} file{'s' if written != 1 else ''}{kept} and "
            f"{os.path.join(out, 'manifest.jsonl')}"
        )
    for m in bad:
        detail = f" ({m['detail']})" if m["detail"] else ""
        print(f"error: {m['video']}: {m['error']}{detail}", file=sys.stderr)
    return 1 if bad else 0


def embed_main(argv: list[str], prog: str = "internvideo embed") -> int:
    """``internvideo embed VIDEO... --out DIR``: one embedding per video (and per window)."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="Write the normalised embedding of each video (row 0) and, with --window, of each "
        "window of longer videos (rows 1..) as .npy or safetensors, plus manifest.jsonl.",
    )
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files or folders")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--window", type=float, default=0.0, help="window length in seconds (default 0: whole videos)"
    )
    p.add_argument("--stride", type=float, default=0.0, help="seconds between windows (default: the window)")
    p.add_argument("--format", choices=["npy", "safetensors"], default="npy")
    _common(p, f"registered model name or save_pretrained folder (default: {_default_model()})")
    args = _parse(p, argv)
    if isinstance(args, int):
        return args
    from .api import embed_videos

    files = _videos(args.videos)
    model = _model(args)
    manifest = embed_videos(
        model,
        files,
        args.out,
        window=args.window,
        stride=args.stride,
        fmt=args.format,
        batch_size=args.batch_size,
        workers=args.workers,
        progress=_progress(args),
    )
    return _report_outputs(manifest, args.out, args.json, "embeddings")


def extract_features_main(argv: list[str], prog: str = "internvideo extract-features") -> int:
    """``internvideo extract-features VIDEO... --out DIR``: encoder features on a regular frame grid."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="Temporal-localisation features: feature j of a video comes from frames "
        "[j*stride, j*stride+window) (the model sees its own number of frames of each window, evenly "
        "spaced). Writes one (num_windows, D) array per video plus manifest.jsonl.",
    )
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video files or folders")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--window", type=int, default=16, help="frames per window (default 16)")
    p.add_argument("--stride", type=int, default=4, help="frames between window starts (default 4)")
    p.add_argument(
        "--layer",
        default="pooled",
        help="'pooled' (attention-pooled clip feature) or a block index, e.g. -1 or 5 (mean of its tokens)",
    )
    p.add_argument("--format", choices=["npy", "safetensors"], default="npy")
    _common(p, f"registered model name or save_pretrained folder (default: {_default_model()})")
    args = _parse(p, argv)
    if isinstance(args, int):
        return args
    if args.window < 1 or args.stride < 1:
        p.error("--window and --stride must be >= 1 frame")
    from .api import extract_features

    files = _videos(args.videos)
    model = _model(args)
    manifest = extract_features(
        model,
        files,
        args.out,
        window=args.window,
        stride=args.stride,
        layer=args.layer,
        fmt=args.format,
        batch_size=args.batch_size,
        workers=args.workers,
        progress=_progress(args),
    )
    return _report_outputs(manifest, args.out, args.json, "features")


COMMANDS: dict[str, Callable[[list[str], str], int]] = {
    "index": index_main,
    "search": search_main,
    "similar": similar_main,
    "classify": classify_main,
    "embed": embed_main,
    "extract-features": extract_features_main,
}
