from __future__ import annotations

import pytest
import torch

from internvideo.train.augment import (
    RAND_AUGMENT_OPS,
    apply_op,
    build_finetune_transform,
    rand_augment,
    random_erasing,
)
from internvideo.train.finetune import FinetuneTask
from internvideo.train.mix import MixConfig, Mixup, smooth_one_hot, soft_target_cross_entropy


@pytest.mark.parametrize(
    "cfg",
    [MixConfig(0.8, 1.0), MixConfig(0.8, 0.0), MixConfig(0.0, 1.0), MixConfig(0.8, 1.0, label_smoothing=0.0)],
)
def test_mixup_cutmix_targets_sum_to_one_and_match_lam(cfg: MixConfig) -> None:
    mixer = Mixup(cfg, num_classes=10, seed=0)
    x = torch.arange(6 * 3 * 4 * 8 * 8, dtype=torch.float32).reshape(6, 3, 4, 8, 8)
    y = torch.tensor([0, 1, 2, 3, 4, 5])
    kinds = set()
    for _ in range(20):
        xm, t = mixer(x, y)
        kind, lam = mixer.last
        kinds.add(kind)
        assert t.shape == (6, 10)
        torch.testing.assert_close(t.sum(1), torch.ones(6), atol=1e-6, rtol=0)
        off = cfg.label_smoothing / 10
        # the sample's own class gets lam of the smoothed mass, its partner (batch reversed) 1 - lam
        torch.testing.assert_close(
            t[0, 0], torch.tensor(lam * (1 - cfg.label_smoothing) + off), atol=1e-6, rtol=0
        )
        torch.testing.assert_close(
            t[0, 5], torch.tensor((1 - lam) * (1 - cfg.label_smoothing) + off), atol=1e-6, rtol=0
        )
        if kind == "mixup":
            torch.testing.assert_close(xm, lam * x + (1 - lam) * x.flip(0))
        else:  # cutmix: the same box in every frame; lam is the kept area fraction
            changed = (xm != x).any(dim=(1, 2))[0]  # (H, W) of sample 0
            assert changed.float().mean().item() == pytest.approx(1 - lam)
            box = xm[0, :, :, changed]
            assert torch.equal(box, x[5][:, :, changed])
    expect = (
        {"mixup"} if cfg.cutmix_alpha == 0 else {"cutmix"} if cfg.mixup_alpha == 0 else {"mixup", "cutmix"}
    )
    assert kinds == expect


def test_soft_target_ce_equals_label_smoothing_ce() -> None:
    logits = torch.randn(5, 7)
    y = torch.tensor([0, 3, 6, 2, 2])
    ref = torch.nn.functional.cross_entropy(logits, y, label_smoothing=0.1)
    assert soft_target_cross_entropy(logits, smooth_one_hot(y, 7, 0.1)).item() == pytest.approx(
        ref.item(), abs=1e-6
    )


def test_finetune_task_with_mixup_logs_loss_only() -> None:
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 2 * 4 * 4, 4))
    batch = {"video": torch.randn(4, 3, 2, 4, 4), "label": torch.tensor([0, 1, 2, 3])}
    out = FinetuneTask(4, 0.1, MixConfig(), mix_seed=0).training_step(model, batch)
    assert set(out) == {"loss"} and out["loss"].requires_grad
    out = FinetuneTask(4, 0.1, MixConfig(prob=0.0)).training_step(model, batch)
    assert set(out) == {"loss", "acc"}


def test_rand_augment_is_the_same_for_every_frame() -> None:
    g = torch.Generator().manual_seed(0)
    frame = torch.randint(0, 256, (1, 3, 24, 24), dtype=torch.uint8, generator=g)
    clip = frame.repeat(5, 1, 1, 1)
    for seed in range(10):
        out = rand_augment(clip, num_ops=4, magnitude=9, generator=torch.Generator().manual_seed(seed))
        assert out.dtype == torch.uint8 and out.shape == clip.shape
        assert (out == out[:1]).all()  # identical frames stay identical: one draw per clip
    for name in RAND_AUGMENT_OPS:
        out = apply_op(clip, name, 0.8, torch.Generator().manual_seed(1))
        assert (out == out[:1]).all(), name


def test_geometric_ops_move_pixels_as_specified() -> None:
    x = torch.zeros(2, 3, 10, 10, dtype=torch.uint8)
    x[..., 4, 4] = 200
    inv = apply_op(x, "Invert", 0.5)
    assert torch.equal(inv, 255 - x)
    sol = apply_op(x, "Solarize", 0.5)  # threshold 128: the bright pixel is inverted
    assert sol[0, 0, 4, 4] == 55 and sol[0, 0, 0, 0] == 0
    rot = apply_op(x, "Rotate", 0.0)  # magnitude 0 is the identity
    assert torch.equal(rot, x)


def test_random_erasing_per_frame_and_transform_output() -> None:
    x = torch.zeros(6, 3, 16, 16)
    out = random_erasing(x, p=1.0, generator=torch.Generator().manual_seed(0))
    erased = (out != 0).any(dim=1)  # (T, H, W)
    assert erased.flatten(1).any(1).all()  # every frame erased
    assert not all(torch.equal(erased[0], erased[i]) for i in range(1, 6))  # each frame its own box
    assert torch.equal(random_erasing(x, p=0.0), x)
    clip = torch.randint(0, 256, (8, 3, 40, 48), dtype=torch.uint8)
    tf = build_finetune_transform(32)
    a = tf(clip, torch.Generator().manual_seed(3))
    b = tf(clip, torch.Generator().manual_seed(3))
    assert a.shape == (3, 8, 32, 32) and a.dtype == torch.float32 and torch.equal(a, b)
