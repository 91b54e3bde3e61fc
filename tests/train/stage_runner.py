"""Run a stage recipe with key=value overrides (plain or under torchrun); used by the stage tests.

Usage: python stage_runner.py finetune|stage1 key=value ...
"""

from __future__ import annotations

import sys

import torch

from internvideo.train.config import apply_overrides
from internvideo.train.distributed import cleanup_distributed
from internvideo.train.finetune import finetune_tiny_synth, run_finetune
from internvideo.train.stage1 import run_stage1, stage1_tiny_synth


def main() -> None:
    torch.set_num_threads(1)
    kind, overrides = sys.argv[1], sys.argv[2:]
    try:
        if kind == "finetune":
            run_finetune(apply_overrides(finetune_tiny_synth(), overrides), resume=False, evaluate=False)
        else:
            run_stage1(apply_overrides(stage1_tiny_synth(), overrides), resume=False)
    finally:
        cleanup_distributed()


if __name__ == "__main__":
    main()
