"""``python -m internvideo.train RECIPE [key=value ...]`` (also under ``torchrun``)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from internvideo.errors import ConfigError
from internvideo.train.config import apply_overrides
from internvideo.train.distributed import cleanup_distributed
from internvideo.train.recipes import RECIPES, get_recipe, run_toy


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m internvideo.train", description="Run a training recipe.")
    parser.add_argument("recipe", choices=sorted(RECIPES))
    parser.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. train.optim.lr=1e-3")
    parser.add_argument("--fresh", action="store_true", help="ignore existing checkpoints in out_dir")
    args = parser.parse_intermixed_args(argv)
    logging.basicConfig(
        level=logging.INFO if os.environ.get("RANK", "0") == "0" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        cfg = apply_overrides(get_recipe(args.recipe), args.overrides)
    except ConfigError as exc:
        parser.error(str(exc))
    try:
        result = run_toy(cfg, resume=not args.fresh)
    finally:
        cleanup_distributed()
    logging.getLogger("internvideo.train").info("finished at step %d: %s", result.step, result.last_metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
