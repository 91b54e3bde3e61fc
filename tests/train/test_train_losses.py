from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from internvideo.train.losses import multi_positive_targets, vtc_loss
from internvideo.train.toy import TinyDualEncoder


def test_multi_positive_targets() -> None:
    t = multi_positive_targets(torch.tensor([7, 7, 1]))
    expected = torch.tensor([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]])
    torch.testing.assert_close(t, expected)


def test_vtc_loss_matches_hand_computation() -> None:
    g = torch.Generator().manual_seed(0)
    v, t = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    ids = torch.tensor([0, 1, 1, 2])
    temp = 0.07
    vn, tn = F.normalize(v, dim=-1), F.normalize(t, dim=-1)
    total = 0.0
    for i in range(4):
        pos = [j for j in range(4) if ids[j] == ids[i]]
        row_v = [float(vn[i] @ tn[j]) / temp for j in range(4)]
        row_t = [float(tn[i] @ vn[j]) / temp for j in range(4)]
        lse_v = math.log(sum(math.exp(x) for x in row_v))
        lse_t = math.log(sum(math.exp(x) for x in row_t))
        total += -sum(row_v[j] - lse_v for j in pos) / len(pos)
        total += -sum(row_t[j] - lse_t for j in pos) / len(pos)
    expected = total / 8
    assert vtc_loss(v, t, temp, ids).item() == pytest.approx(expected, rel=1e-5)
    # without ids each pair is its own positive
    plain = vtc_loss(v, t, temp)
    logits = vn @ tn.t() / temp
    ref = (F.cross_entropy(logits, torch.arange(4)) + F.cross_entropy(logits.t(), torch.arange(4))) / 2
    assert plain.item() == pytest.approx(ref.item(), rel=1e-6)


def _load_step_script(helpers_dir: Path):
    spec = importlib.util.spec_from_file_location("dist_vtc_step", helpers_dir / "dist_vtc_step.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


def test_distributed_vtc_matches_single_process(tmp_path: Path, run_torchrun, helpers_dir: Path) -> None:
    """2 gloo processes (equal shards under DDP, and uneven 3/5 shards) == one process on the whole batch."""
    run_torchrun("dist_vtc_step.py", [str(tmp_path)], nproc=2, timeout=120)
    step = _load_step_script(helpers_dir)
    video, text, ids = step.global_batch()
    torch.manual_seed(0)
    model = TinyDualEncoder()
    loss = step.Step(model)(video, text, ids)
    loss.backward()
    ref = {"loss": loss.detach(), **{n: p.grad for n, p in model.named_parameters()}}
    for rank in (0, 1):
        got = torch.load(tmp_path / f"rank{rank}.pt", weights_only=True)
        for case in ("ddp", "uneven"):
            assert set(got[case]) == set(ref)
            for name, value in ref.items():
                diff = (got[case][name] - value).abs().max().item()
                assert diff <= 1e-6, f"rank {rank} {case} {name}: max diff {diff}"
