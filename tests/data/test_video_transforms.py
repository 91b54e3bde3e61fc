"""Transforms: shapes, exact pixel picks, consistency across frames, numerics."""

from __future__ import annotations

import pytest
import torch

from internvideo.data.transforms import (
    CLIP_MEAN,
    IMAGENET_MEAN,
    IMAGENET_STD,
    build_eval_transform,
    build_train_transform,
    center_crop,
    normalize,
    random_horizontal_flip,
    random_resized_crop,
    resize_short_side,
    squash_resize,
    three_crop,
    to_encoder_input,
)


def clip(t: int = 4, h: int = 6, w: int = 8) -> torch.Tensor:
    return (torch.arange(t * 3 * h * w) % 251).to(torch.uint8).reshape(t, 3, h, w)


def test_center_crop_picks_the_centre() -> None:
    x = clip()
    assert torch.equal(center_crop(x, 4), x[..., 1:5, 2:6])
    assert torch.equal(center_crop(x, (2, 8)), x[..., 2:4, :])
    with pytest.raises(ValueError):
        center_crop(x, 7)


def test_three_crop_along_long_side() -> None:
    x = clip(h=4, w=10)
    crops = three_crop(x, 4)
    assert crops.shape == (3, 4, 3, 4, 4)
    for k, left in enumerate([0, 3, 6]):  # int(k * (10 - 4) / 2)
        assert torch.equal(crops[k], x[..., :, left : left + 4])
    tall = clip(h=9, w=4)
    assert torch.equal(three_crop(tall, 4)[1], tall[..., 2:6, :])  # int(1 * 5 / 2) = 2


def test_resizes_shapes_and_dtype() -> None:
    x = torch.randint(0, 256, (2, 3, 256, 340), dtype=torch.uint8)
    y = resize_short_side(x, 224)
    assert y.shape == (2, 3, 224, 297) and y.dtype == torch.uint8  # int(224 * 340 / 256)
    assert resize_short_side(x.transpose(-1, -2), 224).shape == (2, 3, 297, 224)
    z = squash_resize(x, 224)
    assert z.shape == (2, 3, 224, 224) and z.dtype == torch.uint8
    const = torch.full((1, 3, 10, 12), 200, dtype=torch.uint8)
    assert torch.equal(squash_resize(const, (7, 5)), torch.full((1, 3, 7, 5), 200, dtype=torch.uint8))
    f = squash_resize(x.float() / 255, 32, interpolation="bilinear", antialias=True)
    assert f.dtype == torch.float32 and f.shape == (2, 3, 32, 32)


def test_flip_is_consistent_across_frames() -> None:
    x = clip(t=6)
    assert torch.equal(random_horizontal_flip(x, p=1.0), x.flip(-1))
    assert torch.equal(random_horizontal_flip(x, p=0.0), x)
    outcomes = set()
    for seed in range(12):
        y = random_horizontal_flip(x, 0.5, torch.Generator().manual_seed(seed))
        flipped = [torch.equal(y[t], x[t].flip(-1)) for t in range(6)]
        assert all(flipped) or not any(flipped)
        outcomes.add(flipped[0])
    assert outcomes == {True, False}


def test_random_resized_crop_shared_and_seeded() -> None:
    frame = torch.randint(0, 256, (1, 3, 40, 60), dtype=torch.uint8)
    x = frame.repeat(5, 1, 1, 1)
    y = random_resized_crop(x, 16, scale=(0.2, 0.6), generator=torch.Generator().manual_seed(0))
    assert y.shape == (5, 3, 16, 16)
    assert all(torch.equal(y[0], y[t]) for t in range(5))
    y2 = random_resized_crop(x, 16, scale=(0.2, 0.6), generator=torch.Generator().manual_seed(0))
    assert torch.equal(y, y2)


def test_normalize_numerics() -> None:
    x = torch.zeros(2, 3, 2, 2, dtype=torch.uint8)
    x[:, :, 0, 0] = 255
    y = normalize(x, IMAGENET_MEAN, IMAGENET_STD)
    assert y.dtype == torch.float32
    for c in range(3):
        assert y[0, c, 0, 0].item() == pytest.approx((1 - IMAGENET_MEAN[c]) / IMAGENET_STD[c], abs=1e-6)
        assert y[1, c, 1, 1].item() == pytest.approx(-IMAGENET_MEAN[c] / IMAGENET_STD[c], abs=1e-6)
    assert torch.allclose(normalize(x.float() / 255), y)  # float input is taken as [0, 1]
    assert normalize(x, CLIP_MEAN)[0, 0, 1, 1].item() == pytest.approx(-CLIP_MEAN[0] / IMAGENET_STD[0])


def test_to_encoder_input_layout() -> None:
    x = normalize(clip(t=4))
    y = to_encoder_input(x)
    assert y.shape == (3, 4, 6, 8)
    assert torch.equal(y[1, 2], x[2, 1])
    assert to_encoder_input(x[None]).shape == (1, 3, 4, 6, 8)
    with pytest.raises(TypeError):
        to_encoder_input(clip())


def test_presets() -> None:
    x = torch.randint(0, 256, (4, 3, 256, 340), dtype=torch.uint8)
    assert build_eval_transform(64)(x).shape == (3, 4, 64, 64)
    assert build_eval_transform(64, mode="center")(x).shape == (3, 4, 64, 64)
    views = build_eval_transform(64, mode="three_crop")(x)
    assert views.shape == (3, 3, 4, 64, 64)
    expected = to_encoder_input(normalize(squash_resize(x, 64)))
    assert torch.equal(build_eval_transform(64)(x), expected)
    train = build_train_transform(64, short_side_range=(80, 96))
    a = train(x, torch.Generator().manual_seed(7))
    b = train(x, torch.Generator().manual_seed(7))
    assert a.shape == (3, 4, 64, 64) and a.dtype == torch.float32 and torch.equal(a, b)
    with pytest.raises(ValueError):
        build_eval_transform(64, mode="five_crop")
