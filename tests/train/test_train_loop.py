from __future__ import annotations

from pathlib import Path

import pytest
import torch

from internvideo.errors import CheckpointError, ConfigError
from internvideo.train import (
    ClassificationTask,
    ContrastiveTask,
    ShardedSampler,
    Trainer,
    TrainingTask,
    latest_checkpoint,
    load_checkpoint,
    read_metrics,
    save_checkpoint,
)
from internvideo.train.config import OptimConfig, ScheduleConfig, TrainConfig, apply_overrides
from internvideo.train.metrics_log import MetricsLogger
from internvideo.train.recipes import build_toy, toy_classification, toy_contrastive
from internvideo.train.toy import BlobsDataset, TinyClassifier


def _cfg(tmp_path: Path, **kw) -> TrainConfig:
    base = {
        "steps": 3,
        "batch_size": 8,
        "optim": OptimConfig(lr=1e-2, weight_decay=0.1, layer_decay=0.8),
        "schedule": ScheduleConfig(warmup_steps=1),
        "log_every": 1,
        "progress": False,
        "out_dir": str(tmp_path),
    }
    base.update(kw)
    return TrainConfig(**base)


def _model() -> TinyClassifier:
    torch.manual_seed(0)
    return TinyClassifier(dim=8, hidden=16, num_classes=4)


def test_grad_accumulation_equals_big_batch(tmp_path: Path) -> None:
    data = BlobsDataset(n=48)
    big = _model()
    Trainer(big, ClassificationTask(), data, _cfg(tmp_path / "a", batch_size=8)).fit(resume=False)
    small = _model()
    Trainer(small, ClassificationTask(), data, _cfg(tmp_path / "b", batch_size=4, grad_accum_steps=2)).fit(
        resume=False
    )
    for (name, p), q in zip(big.named_parameters(), small.parameters()):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-5, msg=name)
    la = [r["loss"] for r in read_metrics(tmp_path / "a" / "metrics.jsonl")]
    lb = [r["loss"] for r in read_metrics(tmp_path / "b" / "metrics.jsonl")]
    assert la == pytest.approx(lb, abs=1e-6)


def test_metrics_records_and_run_folder(tmp_path: Path) -> None:
    cfg = apply_overrides(
        toy_classification(), {"train.steps": 4, "train.log_every": 2, "train.progress": False}
    )
    cfg = apply_overrides(cfg, {"train.out_dir": str(tmp_path), "train.ckpt_every": 2, "train.keep_last": 1})
    model, task, data = build_toy(cfg)
    result = Trainer(model, task, data, cfg.train, run_config=cfg).fit()
    records = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in records] == [2, 4]
    for key in ("loss", "acc", "lr", "grad_norm", "samples_per_sec", "step_time_s", "epoch"):
        assert key in records[0]
    assert result.step == 4 and result.checkpoint == tmp_path / "checkpoints" / "step_00000004"
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step_00000004"]  # keep_last=1
    assert {"config.json", "run_config.json", "metrics.jsonl", "checkpoints"} == {
        p.name for p in tmp_path.iterdir()
    }
    # the recipe's 5-step warm-up is clamped to the 4 steps of this run; step 2 uses 2/4 of the peak
    assert records[0]["lr"] == pytest.approx(cfg.train.optim.lr * 2 / 4)


def test_bf16_contrastive_and_eval(tmp_path: Path) -> None:
    cfg = apply_overrides(
        toy_contrastive(),
        {
            "train.steps": 3,
            "train.precision": "bf16",
            "train.eval_every": 3,
            "train.out_dir": str(tmp_path),
            "train.progress": False,
            "num_samples": 32,
        },
    )
    model, task, data = build_toy(cfg)
    assert isinstance(task, ContrastiveTask) and isinstance(task, TrainingTask)
    trainer = Trainer(model, task, data, cfg.train, eval_data=data)
    trainer.fit()
    records = read_metrics(tmp_path / "metrics.jsonl")
    assert any("eval/loss" in r for r in records)
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_checkpoint_roundtrip_and_stale_temp(tmp_path: Path) -> None:
    model = _model()
    opt = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.randn(2, 8)).sum().backward()
    opt.step()
    path = save_checkpoint(tmp_path, 7, model, opt, extra_state={"note": "x"}, keep_last=2)
    assert latest_checkpoint(tmp_path) == path
    expected_next = torch.rand(3)
    other = TinyClassifier(dim=8, hidden=16, num_classes=4)
    other_opt = torch.optim.AdamW(other.parameters(), lr=0.1)
    state = load_checkpoint(path, other, other_opt)
    assert state["step"] == 7 and state["extra"]["note"] == "x"
    assert torch.equal(torch.rand(3), expected_next)  # RNG restored to the saved point
    for p, q in zip(model.parameters(), other.parameters()):
        assert torch.equal(p, q)
    assert other_opt.state_dict()["state"][0]["exp_avg"].equal(opt.state_dict()["state"][0]["exp_avg"])
    with pytest.raises(CheckpointError, match="does not match"):
        load_checkpoint(path, TinyClassifier(dim=8, hidden=8, num_classes=4))
    # a folder left by a save that was killed is ignored and then cleaned
    (tmp_path / ".tmp_step_00000009_dead").mkdir()
    assert latest_checkpoint(tmp_path) == path
    cfg = _cfg(tmp_path / "run", steps=1)
    (tmp_path / "run" / "checkpoints" / ".tmp_step_00000001_dead").mkdir(parents=True)
    Trainer(_model(), ClassificationTask(), BlobsDataset(n=16), cfg).fit()
    assert [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()] == ["step_00000001"]


def test_sampler_is_deterministic_and_resumable() -> None:
    shards = [ShardedSampler(10, num_replicas=2, rank=r, seed=3, drop_last=False) for r in (0, 1)]
    for s in shards:
        s.set_epoch(1)
    a, b = list(shards[0]), list(shards[1])
    assert len(a) == len(b) == 5 and sorted(set(a) | set(b)) == list(range(10))
    shards[0].set_epoch(1, start=2)
    assert list(shards[0]) == a[2:]
    shards[0].set_epoch(2)
    assert list(shards[0]) != a


def test_metrics_logger_trims_on_resume(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    with MetricsLogger(path) as log:
        for s in (1, 2, 3):
            log.log({"step": s, "loss": torch.tensor(float(s))})
    with open(path, "a") as fh:
        fh.write('{"step": 4, "lo')  # torn line of a killed writer
    with MetricsLogger(path, resume_step=2) as log:
        log.log({"step": 3, "loss": float("nan")})
    assert [(r["step"], r["loss"]) for r in read_metrics(path)] == [(1, 1.0), (2, 2.0), (3, "nan")]


def test_trainer_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="too small"):
        Trainer(_model(), ClassificationTask(), BlobsDataset(n=4), _cfg(tmp_path))
    with pytest.raises(ConfigError, match="not a TrainingTask"):
        Trainer(_model(), object(), BlobsDataset(n=16), _cfg(tmp_path))  # type: ignore[arg-type]
    with pytest.raises(CheckpointError, match="does not exist"):
        Trainer(_model(), ClassificationTask(), BlobsDataset(n=16), _cfg(tmp_path)).fit(
            resume=tmp_path / "nope"
        )


def test_epochs_give_total_steps(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, steps=None, epochs=2, batch_size=4, grad_accum_steps=2)
    trainer = Trainer(_model(), ClassificationTask(), BlobsDataset(n=20), cfg)
    assert trainer.steps_per_epoch == 2 and trainer.total_steps == 4
    assert trainer.fit().step == 4
    assert [r["epoch"] for r in read_metrics(tmp_path / "metrics.jsonl")] == [0, 0, 1, 1]


class _EpochRecordingBlobs(BlobsDataset):
    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.epochs: list[int] = []

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)


def test_trainer_tells_the_dataset_its_epoch(tmp_path: Path) -> None:
    """Datasets that seed augmentation by epoch (VideoTextDataset) must see each new epoch."""
    cfg = _cfg(tmp_path, steps=None, epochs=3, batch_size=4)
    data = _EpochRecordingBlobs(n=8)
    Trainer(_model(), ClassificationTask(), data, cfg).fit()
    assert data.epochs == [0, 1, 2]


def test_video_text_dataset_draws_differ_across_epochs(tmp_path: Path) -> None:
    from internvideo.data.datasets import VideoTextDataset
    from internvideo.data.synth import generate_world

    manifests = generate_world(tmp_path / "w", num_clips={"train": 2}, size=56, workers=1, progress=False)
    ds = VideoTextDataset(manifests["train"], num_frames=4, sampling="rand", seed=0)
    first = [(ds[i]["video"].clone(), ds[i]["caption"]) for i in range(2)]
    again = [(ds[i]["video"], ds[i]["caption"]) for i in range(2)]
    assert all(
        torch.equal(a[0], b[0]) and a[1] == b[1] for a, b in zip(first, again)
    )  # same epoch: same draw
    ds.set_epoch(1)
    later = [(ds[i]["video"], ds[i]["caption"]) for i in range(2)]
    assert any(not torch.equal(a[0], b[0]) or a[1] != b[1] for a, b in zip(first, later))
