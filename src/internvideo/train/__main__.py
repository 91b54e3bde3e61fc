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
from internvideo.train.stage_recipes import STAGE_RECIPES
from internvideo.train.video_text import VIDEO_TEXT_RECIPES, run_video_text


def main(argv: list[str] | None = None, prog: str = "python -m internvideo.train") -> int:
    parser = argparse.ArgumentParser(prog=prog, description="Run a training recipe.")
    parser.add_argument("recipe", choices=sorted({**RECIPES, **VIDEO_TEXT_RECIPES, **STAGE_RECIPES}))
    parser.add_argument("overrides", nargs="*", help="dotted key=value overrides, e.g. train.optim.lr=1e-3")
    parser.add_argument("--fresh", action="store_true", help="ignore existing checkpoints in out_dir")
    args = parser.parse_intermixed_args(argv)
    logging.basicConfig(
        level=logging.INFO if os.environ.get("RANK", "0") == "0" else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    video_text = args.recipe in VIDEO_TEXT_RECIPES
    stage = STAGE_RECIPES.get(args.recipe)
    try:
        if stage is not None:
            base = stage[0]()
        else:
            base = VIDEO_TEXT_RECIPES[args.recipe]() if video_text else get_recipe(args.recipe)
        cfg = apply_overrides(base, args.overrides)
    except ConfigError as exc:
        parser.error(str(exc))
    try:
        if stage is not None:
            stage[1](cfg, resume=not args.fresh)
        elif video_text:
            run_video_text(cfg, resume=not args.fresh)
        else:
            result = run_toy(cfg, resume=not args.fresh)
            logging.getLogger("internvideo.train").info(
                "finished at step %d: %s", result.step, result.last_metrics
            )
    except ConfigError as exc:  # a setting found wrong once the run builds its parts
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    finally:
        cleanup_distributed()
    return 0


if __name__ == "__main__":
    sys.exit(main())
