"""``internvideo curate``: raw videos -> clips -> captions -> scores -> shards, and annotation import."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import (
    DEDUP_EMBEDDINGS,
    DETECTORS,
    CaptionConfig,
    CurationConfig,
    DetectConfig,
    ExtractConfig,
    FilterConfig,
    SelectConfig,
)


def _opt_float(s: str) -> float | None:
    return None if s.lower() in ("none", "off") else float(s)


def build_parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog, description="Curate raw videos into captioned, scored clip shards."
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    r = sub.add_parser("run", help="run the pipeline on video files / folders (resumable)")
    r.add_argument("inputs", nargs="+", help="video files or folders (searched recursively)")
    r.add_argument(
        "--out", required=True, help="output folder: shards/, manifest.parquet, dropped.jsonl, report"
    )
    r.add_argument("--work", help="work dir with per-stage results (default OUT/work); re-run to resume")
    r.add_argument("--engine", choices=["local", "ray"], default="local")
    r.add_argument("--workers", type=int, default=1, help="processes (local) or CPUs of a local Ray instance")
    r.add_argument("--ray-address", help="join a running Ray cluster instead of starting a local one")
    g = r.add_argument_group("shots and clips")
    g.add_argument("--detector", choices=DETECTORS, default=DetectConfig.detector)
    g.add_argument("--min-shot-frames", type=int, default=DetectConfig.min_shot_frames)
    g.add_argument("--min-clip-frames", type=int, default=ExtractConfig.min_clip_frames)
    g.add_argument("--max-clip-seconds", type=float, default=ExtractConfig.max_clip_seconds)
    g.add_argument("--no-copy", action="store_true", help="always re-encode clips (never stream copy)")
    g = r.add_argument_group("captions and scores")
    g.add_argument("--caption-bank", help="captions to retrieve from (.txt lines, .json list or .jsonl)")
    g.add_argument("--model", help="video-text model: registered name (.tag) or save_pretrained folder")
    g.add_argument("--score-model", help="model for the video-text score (default: --model)")
    g = r.add_argument_group("filters and selection ('none' switches a rule off)")
    g.add_argument("--min-duration", type=_opt_float, default=FilterConfig.min_duration)
    g.add_argument("--max-duration", type=_opt_float, default=FilterConfig.max_duration)
    g.add_argument("--max-black-ratio", type=_opt_float, default=FilterConfig.max_black_ratio)
    g.add_argument("--max-static-ratio", type=_opt_float, default=FilterConfig.max_static_ratio)
    g.add_argument("--min-motion", type=_opt_float, default=FilterConfig.min_motion)
    g.add_argument("--min-vt-score", type=_opt_float, default=FilterConfig.min_vt_score)
    g.add_argument("--no-dedup", action="store_true")
    g.add_argument("--dedup-embedding", choices=DEDUP_EMBEDDINGS, default=SelectConfig.dedup_embedding)
    g.add_argument("--dedup-threshold", type=float, default=SelectConfig.dedup_threshold)
    g.add_argument("--max-clips", type=int, help="diversity-sample this many clips (default: keep all)")
    g.add_argument("--seed", type=int, default=SelectConfig.seed)
    g.add_argument("--shard-size", type=int, default=CurationConfig.shard_size, help="clips per tar shard")
    r.add_argument("--json", action="store_true", help="print the report as JSON")
    r.add_argument("--no-progress", action="store_true")

    a = sub.add_parser(
        "annotations", help="convert InternVid / InternVideo2 annotation JSONL to a Parquet manifest"
    )
    a.add_argument("file", help="annotation file (JSON lines or a JSON list)")
    a.add_argument("--out", required=True, help="Parquet manifest to write")
    a.add_argument("--format", choices=["auto", "internvid", "internvideo2"], default="auto")
    return p


def _config(args: argparse.Namespace) -> CurationConfig:
    return CurationConfig(
        detect=DetectConfig(detector=args.detector, min_shot_frames=args.min_shot_frames),
        extract=ExtractConfig(
            min_clip_frames=args.min_clip_frames,
            max_clip_seconds=args.max_clip_seconds,
            copy=not args.no_copy,
        ),
        caption=CaptionConfig(
            captioner="retrieval" if args.caption_bank else "none",
            caption_bank=str(Path(args.caption_bank).resolve()) if args.caption_bank else None,
            model=args.model,
            score_model=args.score_model,
        ),
        filter=FilterConfig(
            min_duration=args.min_duration,
            max_duration=args.max_duration,
            max_black_ratio=args.max_black_ratio,
            max_static_ratio=args.max_static_ratio,
            min_motion=args.min_motion,
            min_vt_score=args.min_vt_score,
        ),
        select=SelectConfig(
            dedup=not args.no_dedup,
            dedup_embedding=args.dedup_embedding,
            dedup_threshold=args.dedup_threshold,
            max_clips=args.max_clips,
            seed=args.seed,
        ),
        shard_size=args.shard_size,
    )


def _run(args: argparse.Namespace) -> int:
    from .pipeline import run_pipeline

    res = run_pipeline(
        args.inputs,
        args.out,
        _config(args),
        work_dir=args.work,
        engine=args.engine,
        workers=args.workers,
        ray_address=args.ray_address,
        progress=not args.no_progress,
    )
    if args.json:
        print(json.dumps(res.report, indent=1, sort_keys=True))
        return 0
    print(f"{'stage':<10} {'out':>6} {'dropped':>8}")
    for stage, c in res.stage_counts.items():
        print(f"{stage:<10} {c['out']:>6} {c['dropped']:>8}")
    for stage, reasons in res.report["dropped_by_stage"].items():
        print(f"dropped at {stage}: " + ", ".join(f"{k} {v}" for k, v in reasons.items()))
    print(f"wrote {len(res.shards)} shards, {res.manifest}, {res.dropped} and {res.out_dir / 'report.json'}")
    return 0


def _annotations(args: argparse.Namespace) -> int:
    from .annotations import read_annotations
    from .manifest import write_manifest

    rows = read_annotations(args.file, args.format)
    write_manifest(args.out, rows)
    print(f"wrote {len(rows)} rows to {args.out}")
    return 0


def main(argv: list[str] | None = None, prog: str = "internvideo curate") -> int:
    """Entry point (``internvideo curate ...``); returns the exit code."""
    args = build_parser(prog).parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "run":
        return _run(args)
    return _annotations(args)
