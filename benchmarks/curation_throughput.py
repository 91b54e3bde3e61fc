"""Curation throughput: clips per second of each pipeline stage with a process pool (2 workers by default).

Inputs are long synthetic videos of back-to-back scenes (known cuts) plus the two real media files
joined into one video when ../shared/media is present. Captioning and scoring use a small random
InternVideo2 stage-2 model (depth 1, 56 px, 4 frames, MiniLM text tower) by default; ``--model``
takes any registered name or save_pretrained folder instead. Each per-input stage runs over all inputs
in turn on a warm pool, so its time is its own; the global stages (filter, dedup, diversity sampling,
shards + manifest + report) run on the driver.

Usage: python benchmarks/curation_throughput.py [--videos 8] [--scenes 12] [--workers 2] [--model M]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from internvideo._paths import shared_dir
from internvideo.curation import CaptionConfig, CurationConfig
from internvideo.curation.pipeline import (
    SOURCE_STAGES,
    _prepare_work_dir,
    _worker_init,
    discover_inputs,
    finish,
    run_source_stage,
)
from internvideo.curation.synthetic import join_segments, make_cut_video


def _inputs(d: Path, videos: int, scenes: int, size: tuple[int, int]) -> float:
    rng = np.random.default_rng(0)
    seconds = 0.0
    for v in range(videos):
        lens = rng.integers(24, 96, size=scenes).tolist()
        make_cut_video(d / f"long_{v:02d}.mp4", lens, size=size, fps=24.0, seed=v)
        seconds += sum(lens) / 24.0
    media = shared_dir()
    if media is not None and (media / "media" / "test.mp4").exists():
        a, b = str(media / "media" / "test.mp4"), str(media / "media" / "example1.mp4")
        segs = [(a, 0, 100), (b, 0, 20), (a, 100, 200), (b, 20, 40), (a, 200, 300)]
        join_segments(d / "real_joined.mp4", segs, size=(240, 320), fps=25.0)
        seconds += 340 / 25.0
    return seconds


def _tiny_model(d: Path) -> str:
    import torch

    from internvideo.models import save_pretrained
    from internvideo.models.default import TinySynthModelConfig, build_tiny_synth_model

    torch.manual_seed(0)
    cfg = TinySynthModelConfig(
        img_size=56, num_frames=4, embed_dim=64, depth=1, num_heads=2, clip_embed_dim=32, joint_dim=32
    )
    save_pretrained(
        build_tiny_synth_model(cfg), d / "model", external={"text_encoder.bert.embeddings.": "minilm"}
    )
    return str(d / "model")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--videos", type=int, default=8, help="synthetic long videos")
    p.add_argument("--scenes", type=int, default=12, help="scenes per synthetic video")
    p.add_argument("--size", type=int, nargs=2, default=(128, 160), metavar=("H", "W"))
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--model", help="video-text model for captions and scores (default: a tiny random one)")
    p.add_argument("--no-caption", action="store_true", help="skip captioning and scoring")
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp_p = Path(tmp)
        (tmp_p / "in").mkdir()
        t0 = time.perf_counter()
        seconds = _inputs(tmp_p / "in", args.videos, args.scenes, tuple(args.size))
        print(
            f"inputs            {len(list((tmp_p / 'in').iterdir()))} videos, {seconds:.0f} s of video "
            f"(generated in {time.perf_counter() - t0:.1f} s)"
        )
        caption = CaptionConfig()
        if not args.no_caption:
            from internvideo.data.synth import CLASSES

            bank = tmp_p / "bank.txt"
            bank.write_text("\n".join(f"a shape {c.replace('_', ' ')}" for c in CLASSES) + "\n")
            model = args.model or _tiny_model(tmp_p)
            caption = CaptionConfig(captioner="retrieval", caption_bank=str(bank), model=model)
        cfg = CurationConfig(caption=caption)
        sources = discover_inputs([tmp_p / "in"])
        work = tmp_p / "work"
        _prepare_work_dir(work, cfg)

        rows = []
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(args.workers, mp_context=ctx, initializer=_worker_init) as pool:
            list(pool.map(int, range(args.workers)))  # start the workers before timing
            for stage in SOURCE_STAGES:
                t = time.perf_counter()
                units = list(
                    pool.map(
                        run_source_stage,
                        [stage] * len(sources),
                        sources,
                        [cfg] * len(sources),
                        [work] * len(sources),
                    )
                )
                dt = time.perf_counter() - t
                if stage in ("probe", "detect"):  # per-video stages: count videos
                    rows.append((stage, len(units), "videos", dt))
                else:
                    rows.append((stage, sum(len(u["clips"]) for u in units), "clips", dt))
        t = time.perf_counter()
        res = finish(sources, cfg, work, tmp_p / "out")
        rows.append(("filter..write", res.stage_counts["score"]["out"], "clips", time.perf_counter() - t))

    print(f"cores             {os.cpu_count()}, {args.workers} workers")
    print(f"{'stage':<14} {'items':>6} {'':<6} {'seconds':>8} {'items/s':>8}")
    total = 0.0
    for stage, n_items, unit, dt in rows:
        total += dt
        print(
            f"{stage:<14} {n_items:>6} {unit:<6} {dt:>8.2f} {n_items / dt if dt > 0 else float('inf'):>8.1f}"
        )
    n = res.stage_counts["extract"]["out"]
    print(
        f"{'all stages':<14} {n:>6} {'clips':<6} {total:>8.2f} {n / total:>8.1f}   ({seconds / total:.1f} s of video per s)"
    )
    print("stage counts      " + json.dumps({k: v["out"] for k, v in res.stage_counts.items()}))


if __name__ == "__main__":
    main()
