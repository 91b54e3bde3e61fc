"""The multi-stage recipes known to ``python -m internvideo.train`` / ``internvideo train``.

Each entry maps a recipe name to ``(recipe function, runner)``; the runner takes the (overridden) config
and ``resume``. The ``*_published`` recipes document the published scale and need data and teachers
that are not part of this repository.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .distill import distill_published, distill_tiny_synth, run_distill
from .finetune import finetune_published_b14_k400, finetune_tiny_synth, run_finetune
from .stage1 import run_stage1, stage1_published, stage1_tiny_synth

STAGE_RECIPES: dict[str, tuple[Callable[[], Any], Callable[..., Any]]] = {
    "stage1_tiny_synth": (stage1_tiny_synth, run_stage1),
    "stage1_published_1b": (stage1_published, run_stage1),
    "finetune_tiny_synth": (finetune_tiny_synth, run_finetune),
    "finetune_published_b14_k400": (finetune_published_b14_k400, run_finetune),
    "distill_tiny_synth": (distill_tiny_synth, run_distill),
    "distill_published_b14": (lambda: distill_published("base"), run_distill),
}

__all__ = ["STAGE_RECIPES"]
