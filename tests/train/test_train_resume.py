from __future__ import annotations

import signal
from pathlib import Path

import torch
from safetensors.torch import load_file

from internvideo.train import latest_checkpoint, read_metrics

COMMON = [
    "toy_classification",
    "num_samples=24",
    "dropout=0.1",  # uses the torch RNG inside the model
    "noise=0.1",  # uses the torch RNG inside the dataset
    "train.steps=8",
    "train.batch_size=4",
    "train.grad_accum_steps=2",  # 3 optimizer steps per epoch: the run crosses two epoch boundaries
    "train.ckpt_every=2",
    "train.keep_last=2",
    "train.log_every=1",
    "train.progress=false",
]


def _leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".tmp") or p.name.endswith(".tmp")]


def test_killed_run_resumes_bit_identically(tmp_path: Path, run_script) -> None:
    full_dir, killed_dir = tmp_path / "full", tmp_path / "killed"
    full = run_script("run_toy.py", [*COMMON, "--fresh", f"train.out_dir={full_dir}"])
    assert full.returncode == 0, full.stderr[-3000:]

    # SIGKILL right after step 5: the step-4 checkpoint is the latest, step 5 is lost
    killed = run_script(
        "run_toy.py", [*COMMON, "--fresh", "--kill-after-step", "5", f"train.out_dir={killed_dir}"]
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert latest_checkpoint(killed_dir / "checkpoints").name == "step_00000004"
    assert [r["step"] for r in read_metrics(killed_dir / "metrics.jsonl")] == [1, 2, 3, 4, 5]

    resumed = run_script("run_toy.py", [*COMMON, f"train.out_dir={killed_dir}"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    a, b = full_dir / "checkpoints" / "step_00000008", killed_dir / "checkpoints" / "step_00000008"
    wa, wb = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    oa = torch.load(a / "optimizer.pt", weights_only=True)
    ob = torch.load(b / "optimizer.pt", weights_only=True)
    for i in oa["state"]:
        for k in oa["state"][i]:
            assert torch.equal(oa["state"][i][k], ob["state"][i][k]), (i, k)

    ma, mb = read_metrics(full_dir / "metrics.jsonl"), read_metrics(killed_dir / "metrics.jsonl")
    assert [r["step"] for r in mb] == list(range(1, 9))
    assert [r["loss"] for r in ma] == [r["loss"] for r in mb]
    assert sorted(p.name for p in (killed_dir / "checkpoints").iterdir()) == [
        "step_00000006",
        "step_00000008",
    ]
    assert _leftovers(tmp_path) == []
