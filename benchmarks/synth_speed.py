"""Time to generate the synthetic world: 1,000 clips of 16 frames at 112 px with 2 workers.

Target: <= 60 s on 2 CPU cores. Usage: python benchmarks/synth_speed.py [--clips 1000] [--workers 2] [--audio]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from internvideo.data.synth import generate_world, video_encoder


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=1000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--audio", action="store_true", help="also encode the AAC sound track")
    p.add_argument("--out", default=None, help="keep the world here (default: a temporary folder)")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.out or tmp)
        t0 = time.perf_counter()
        manifests = generate_world(
            out,
            num_clips={"train": args.clips},
            size=args.size,
            num_frames=args.frames,
            workers=args.workers,
            with_audio=args.audio,
            progress=False,
        )
        dt = time.perf_counter() - t0
        size_mb = sum(f.stat().st_size for f in (out / "videos").rglob("*.mp4")) / 2**20
        assert manifests["train"].exists()
    print(f"encoder           {video_encoder('h264')}")
    print(f"cores             {os.cpu_count()}")
    print(
        f"generated         {args.clips} clips x {args.frames} frames at {args.size}px, "
        f"{args.workers} workers, audio={'on' if args.audio else 'off'}"
    )
    print(f"wall time         {dt:.1f} s  ({args.clips / dt:.1f} clips/s; target <= 60 s for 1000 clips)")
    print(f"disk              {size_mb:.1f} MiB")


if __name__ == "__main__":
    main()
