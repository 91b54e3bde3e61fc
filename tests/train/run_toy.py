"""Run a toy recipe with overrides; used by tests (plain or under torchrun).

Usage: python run_toy.py RECIPE [--kill-after-step K] [--fresh] key=value ...
"""

from __future__ import annotations

import argparse
import os
import signal

import torch

from internvideo.train.config import apply_overrides
from internvideo.train.distributed import cleanup_distributed
from internvideo.train.recipes import get_recipe, run_toy


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("recipe")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--kill-after-step", type=int, default=None)
    parser.add_argument("--fresh", action="store_true")
    args = parser.parse_intermixed_args()
    torch.set_num_threads(1)
    cfg = apply_overrides(get_recipe(args.recipe), args.overrides)

    def kill(trainer) -> None:  # noqa: ANN001 - a Trainer hook
        if args.kill_after_step is not None and trainer.step == args.kill_after_step:
            os.kill(os.getpid(), signal.SIGKILL)

    try:
        run_toy(cfg, resume=not args.fresh, hooks=[kill])
    finally:
        cleanup_distributed()


if __name__ == "__main__":
    main()
