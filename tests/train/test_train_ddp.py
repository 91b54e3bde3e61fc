from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from internvideo.train import read_metrics
from internvideo.train.config import apply_overrides
from internvideo.train.recipes import get_recipe, run_toy

OVERRIDES = [
    "num_samples=64",
    "train.steps=5",
    "train.log_every=1",
    "train.progress=false",
    "train.ckpt_every=5",
]


@pytest.mark.parametrize("recipe", ["toy_classification", "toy_contrastive"])
def test_two_process_training_matches_single_process(tmp_path: Path, run_torchrun, recipe: str) -> None:
    """2 ranks x batch 4 (gloo) follow the same trajectory as 1 process x batch 8.

    For the contrastive recipe this holds because the VTC loss gathers both ranks' projections.
    """
    single_dir, ddp_dir = tmp_path / "single", tmp_path / "ddp"
    cfg = apply_overrides(
        get_recipe(recipe), [*OVERRIDES, "train.batch_size=8", f"train.out_dir={single_dir}"]
    )
    run_toy(cfg, resume=False)
    run_torchrun(
        "run_toy.py",
        [recipe, "--fresh", *OVERRIDES, "train.batch_size=4", f"train.out_dir={ddp_dir}"],
        nproc=2,
        timeout=120,
    )
    ls, ld = read_metrics(single_dir / "metrics.jsonl"), read_metrics(ddp_dir / "metrics.jsonl")
    assert [r["step"] for r in ls] == [r["step"] for r in ld] == [1, 2, 3, 4, 5]
    assert [r["loss"] for r in ld] == pytest.approx([r["loss"] for r in ls], abs=1e-5)
    assert [r["grad_norm"] for r in ld] == pytest.approx([r["grad_norm"] for r in ls], abs=1e-5)
    ws = load_file(single_dir / "checkpoints" / "step_00000005" / "model.safetensors")
    wd = load_file(ddp_dir / "checkpoints" / "step_00000005" / "model.safetensors")
    for k in ws:
        torch.testing.assert_close(wd[k], ws[k], atol=1e-5, rtol=1e-5, msg=k)
    assert sorted(p.name for p in (ddp_dir / "checkpoints" / "step_00000005").iterdir()) == [
        "model.safetensors",
        "optimizer.pt",
        "rng_rank0.pt",
        "rng_rank1.pt",
        "state.pt",
    ]
