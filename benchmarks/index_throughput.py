"""Indexing throughput: the whole ``index`` pipeline against the model's own rate on pre-decoded tensors.

One run generates a synthetic collection (the default model's training distribution: 112 px, 16 frames at
8 fps), builds the default model's architecture (random weights: speed does not depend on them) and saves
it, then measures, alternating, for ``--repeats`` rounds:

* model only: clips decoded and transformed beforehand, ``encode_video`` on batches (videos/s);
* pipeline: ``build_index`` into a fresh folder: scan, decode in worker processes, embed, commit parts,
  compact and write the index (videos/s of the whole call);
* decode only: the same decoding with a model that does nothing, for the bound below.

With the model on the CPU and every core taken by it, decoding and the model take turns (see
``internvideo.index.pipeline``), so the pipeline cannot beat ``1 / (1/model + 1/decode)``; the script
prints that bound and how close the pipeline comes to it.

Prints both rates (best and median) and the ratio pipeline / model-only per round (the two halves of a
round run back to back, in alternating order, so that changing machine load affects both alike); the
target is a median ratio >= 0.85.

The process is set up as the ``internvideo`` command sets up its own (:mod:`internvideo.runtime`: OpenMP's
idle spin shortened before torch loads, malloc thresholds fixed), for both halves alike;
``--default-openmp`` / ``--default-malloc`` leave the runtimes' defaults.

    python benchmarks/index_throughput.py [--videos 128] [--repeats 10] [--batch-size 16] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from internvideo.runtime import tune_malloc, tune_openmp

# before torch loads, as the ``internvideo`` command does (the runtime reads it once)
OPENMP_TUNED = "--default-openmp" not in sys.argv and tune_openmp()

import torch  # noqa: E402

from internvideo.data.synth import generate_world  # noqa: E402
from internvideo.data.video import VideoReader  # noqa: E402
from internvideo.index import build_index, load_model, preprocessing_for, scan_videos  # noqa: E402
from internvideo.index.pipeline import SegmentPlan, VideoMeta  # noqa: E402
from internvideo.models import create_model, save_pretrained  # noqa: E402
from internvideo.models.default import DEFAULT_MODEL  # noqa: E402


def predecode(files: list[Path], model) -> torch.Tensor:
    pre = preprocessing_for(model)
    plan = SegmentPlan(pre.num_frames, pre.sampling)
    tf = pre.transform()
    clips = []
    for f in files:
        with VideoReader(f, backend="pyav", num_threads=1) as r:
            i = r.info
            clip = plan(VideoMeta(i.duration, i.fps, i.num_frames, i.width, i.height, i.codec))[0]
            clips.append(tf(r.get_frames(list(clip.frames))))
    return torch.stack(clips)


def model_only(model, x: torch.Tensor, batch_size: int) -> float:
    device = next(model.parameters()).device
    t0 = time.perf_counter()
    with torch.inference_mode():
        for s in range(0, len(x), batch_size):
            model.encode_video(x[s : s + batch_size].to(device), normalize=True).cpu()
    return len(x) / (time.perf_counter() - t0)


def pipeline(files: list[Path], root: Path, model, batch_size: int, workers: int | None, run: int) -> float:
    out = root / f"index_{run}"
    t0 = time.perf_counter()
    report = build_index(files, out, model, batch_size=batch_size, workers=workers)
    dt = time.perf_counter() - t0
    assert report.embedded == len(files), report
    return len(files) / dt


def decode_only(files: list[Path], model, batch_size: int, workers: int | None) -> float:
    from internvideo.index.pipeline import encode_files

    pre = preprocessing_for(model)
    dim = 1
    t0 = time.perf_counter()
    n = sum(
        1
        for _ in encode_files(
            files,
            SegmentPlan(pre.num_frames, pre.sampling),
            pre.transform(),
            lambda x: torch.zeros(len(x), dim),
            batch_size,
            workers,
        )
    )
    return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--videos", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--workers", type=int, default=None, help="decode workers (default: the pipeline's)")
    ap.add_argument(
        "--model", default=None, help="a save_pretrained folder (default: the default architecture)"
    )
    ap.add_argument("--default-malloc", action="store_true", help="do not tune malloc as the CLI does")
    ap.add_argument(
        "--default-openmp", action="store_true", help="keep OpenMP's default idle spin (the CLI shortens it)"
    )
    args = ap.parse_args()
    tuned = False if args.default_malloc else tune_malloc()

    with tempfile.TemporaryDirectory(prefix="iv_index_bench_") as tmp:
        root = Path(tmp)
        generate_world(root / "world", num_clips={"test": args.videos}, workers=2, progress=False)
        files = scan_videos([root / "world"])
        if args.model is None:
            torch.manual_seed(0)
            save_pretrained(create_model(DEFAULT_MODEL), root / "model", model_name=DEFAULT_MODEL)
        model = load_model(args.model or root / "model")
        pre = preprocessing_for(model)
        print(f"load average: {', '.join(f'{v:.1f}' for v in os.getloadavg())} ({os.cpu_count()} cores)")
        print(f"malloc: {'tuned as by the internvideo command' if tuned else 'glibc defaults'}")
        spin = os.environ.get("GOMP_SPINCOUNT", "default")
        print(f"OpenMP idle spin: {spin}{' (set as by the internvideo command)' if OPENMP_TUNED else ''}")
        print(
            f"{len(files)} videos, model {DEFAULT_MODEL if args.model is None else args.model} "
            f"({pre.num_frames} frames at {pre.img_size} px), batch {args.batch_size}, "
            f"{torch.get_num_threads()} torch threads, device {next(model.parameters()).device}"
        )
        x = predecode(files, model)
        model_only(model, x[: args.batch_size], args.batch_size)  # warm-up
        pipeline(files[: args.batch_size], root, model, args.batch_size, args.workers, -1)
        m_rates, p_rates, ratios, d_rates = [], [], [], []
        for r in range(args.repeats):
            d_rates.append(decode_only(files, model, args.batch_size, args.workers))
            # alternate the order, so that a change in machine load between the two halves of a round
            # does not always favour the same side
            if r % 2 == 0:
                m = model_only(model, x, args.batch_size)
                p = pipeline(files, root, model, args.batch_size, args.workers, r)
            else:
                p = pipeline(files, root, model, args.batch_size, args.workers, r)
                m = model_only(model, x, args.batch_size)
            m_rates.append(m)
            p_rates.append(p)
            ratios.append(p / m)
            print(
                f"round {r + 1}: model only {m:.1f} videos/s, index pipeline {p:.1f} videos/s, ratio {p / m:.2f}"
            )
        m_med, p_med = statistics.median(m_rates), statistics.median(p_rates)
        print(f"model only (pre-decoded tensors): best {max(m_rates):.1f}, median {m_med:.1f} videos/s")
        print(
            f"index pipeline (decode + embed + write): best {max(p_rates):.1f}, median {p_med:.1f} videos/s"
        )
        print(
            f"ratio pipeline / model: median of rounds {statistics.median(ratios):.2f}, "
            f"best / best {max(p_rates) / max(m_rates):.2f}, min {min(ratios):.2f} (target >= 0.85)"
        )
        d_med = statistics.median(d_rates)
        bound = 1.0 / (1.0 / m_med + 1.0 / d_med)
        print(
            f"decode only: median {d_med:.1f} videos/s; turn-taking bound 1/(1/model + 1/decode) = "
            f"{bound:.1f} videos/s = {bound / m_med:.2f} of model only; the pipeline reaches "
            f"{p_med / bound:.2f} of the bound"
        )
        print(
            f"load average at the end: {', '.join(f'{v:.1f}' for v in os.getloadavg())} ({os.cpu_count()} cores)"
        )


if __name__ == "__main__":
    main()
