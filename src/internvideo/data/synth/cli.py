"""Command line of the synthetic world (``python -m internvideo.data.synth`` / ``internvideo synth``)."""

from __future__ import annotations

import argparse
import logging
import time

from internvideo.errors import InternVideoError

from .world import BACKGROUNDS, CLASSES, COLOURS, SHAPES, TEXTURES


def _csv(vocab: tuple[str, ...]):
    def parse(text: str) -> tuple[str, ...]:
        items = tuple(t.strip() for t in text.split(",") if t.strip())
        bad = [t for t in items if t not in vocab]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"unknown {bad or text!r}; choose from {', '.join(vocab)}")
        return items

    return parse


def _range(text: str) -> tuple[int, int]:
    lo, _, hi = text.partition("-")
    try:
        return (int(lo), int(hi or lo))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N or MIN-MAX, got {text!r}") from None


def build_parser(prog: str = "internvideo synth") -> argparse.ArgumentParser:
    """Argument parser of the ``synth`` command."""
    p = argparse.ArgumentParser(
        prog=prog,
        description="Generate the synthetic video-text world: mp4 files and JSONL manifests.",
    )
    p.add_argument("out_dir", help="output folder (manifests at its top, videos under videos/)")
    p.add_argument("--train", type=int, default=1000, help="short clips in train (default 1000)")
    p.add_argument("--val", type=int, default=100, help="short clips in val (default 100)")
    p.add_argument("--test", type=int, default=100, help="short clips in test (default 100)")
    p.add_argument("--comp-test", type=int, default=100, help="clips with held-out (shape, colour, action)")
    p.add_argument("--long-train", type=int, default=0, help="long videos in long_train")
    p.add_argument("--long-val", type=int, default=0, help="long videos in long_val")
    p.add_argument("--long-test", type=int, default=0, help="long videos in long_test")
    p.add_argument("--long-duration", type=float, default=60.0, help="seconds per long video (default 60)")
    p.add_argument("--long-fps", type=float, default=None, help="frame rate of long videos (default --fps)")
    p.add_argument("--size", type=int, default=112, help="frame side in pixels (even, default 112)")
    p.add_argument("--fps", type=float, default=8.0, help="frames per second (default 8)")
    p.add_argument("--frames", type=int, default=16, help="frames per short clip (default 16)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=None, help="worker processes (default: all cores)")
    p.add_argument("--audio", action="store_true", help="add a synchronised AAC sound track")
    p.add_argument("--actions", type=_csv(CLASSES), default=CLASSES, help="comma-separated subset of classes")
    p.add_argument("--shapes", type=_csv(SHAPES), default=SHAPES)
    p.add_argument("--colours", type=_csv(tuple(COLOURS)), default=tuple(COLOURS))
    p.add_argument("--textures", type=_csv(TEXTURES), default=TEXTURES)
    p.add_argument("--backgrounds", type=_csv(BACKGROUNDS), default=BACKGROUNDS)
    p.add_argument("--distractors", type=_range, default=(0, 2), help="N or MIN-MAX (default 0-2)")
    p.add_argument("--jitter", type=float, default=0.0, help="camera jitter, pixels (std)")
    p.add_argument("--noise", type=float, default=2.0, help="sensor noise, 8-bit levels (std)")
    p.add_argument("--codec", default="h264", help="h264 (default; mpeg4 when unavailable) or mpeg4")
    p.add_argument("--crf", type=int, default=18, help="H.264 quality (lower is better)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--list-classes", action="store_true", help="print the class list and exit")
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the process exit status."""
    args = build_parser().parse_args(argv)
    if args.list_classes:
        for i, name in enumerate(CLASSES):
            print(f"{i:2d} {name}")
        return 0
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname)s %(message)s"
    )
    from .generate import generate_world
    from .world import WorldConfig

    try:
        config = WorldConfig(
            height=args.size,
            width=args.size,
            fps=args.fps,
            num_frames=args.frames,
            seed=args.seed,
            actions=args.actions,
            shapes=args.shapes,
            colours=args.colours,
            textures=args.textures,
            backgrounds=args.backgrounds,
            distractors=args.distractors,
            camera_jitter=args.jitter,
            sensor_noise=args.noise,
            with_audio=args.audio,
            long_duration=args.long_duration,
            long_fps=args.long_fps,
            codec=args.codec,
            crf=args.crf,
        )
        counts = {"train": args.train, "val": args.val, "test": args.test, "comp_test": args.comp_test}
        longs = {"train": args.long_train, "val": args.long_val, "test": args.long_test}
        t0 = time.perf_counter()
        manifests = generate_world(
            args.out_dir,
            num_clips={k: v for k, v in counts.items() if v > 0},
            long_videos={k: v for k, v in longs.items() if v > 0},
            workers=args.workers,
            config=config,
            progress=not args.quiet,
        )
    except InternVideoError as e:
        print(f"error: {e}")
        return 2
    print(f"generated in {time.perf_counter() - t0:.1f} s:")
    for name, path in manifests.items():
        print(f"  {name:10s} {path}")
    return 0
