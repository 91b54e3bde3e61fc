from __future__ import annotations

import pytest
import torch

from internvideo.data.masking import (
    MaskConfig,
    attention_mask,
    make_mask,
    num_visible,
    random_mask,
    tube_mask,
    with_cls,
)
from internvideo.errors import ConfigError
from internvideo.models.vision import InternVideo2, VisionConfig


@pytest.mark.parametrize("ratio", [0.0, 0.5, 0.75, 0.9])
def test_tube_mask_repeats_one_spatial_mask(ratio: float) -> None:
    g = torch.Generator().manual_seed(0)
    m = tube_mask(5, 4, 16, ratio, generator=g)
    assert m.shape == (5, 64) and m.dtype == torch.bool
    per_frame = m.view(5, 4, 16)
    assert (per_frame == per_frame[:, :1]).all()  # the same patches in every temporal slot
    assert (per_frame[:, 0].sum(1) == int(ratio * 16)).all()
    assert ((~m).sum(1) == num_visible("tube", ratio, 4, 16)).all()
    assert len({tuple(r.tolist()) for r in per_frame[:, 0]}) > 1 or ratio == 0.0  # samples differ


def test_random_mask_exact_count_and_uniform_coverage() -> None:
    g = torch.Generator().manual_seed(1)
    m = random_mask(4000, 20, 0.75, generator=g)
    assert (m.sum(1) == 15).all()
    freq = m.float().mean(0)
    assert torch.allclose(freq, torch.full((20,), 0.75), atol=0.03)  # every position equally likely


@pytest.mark.parametrize("per_frame", [True, False])
@pytest.mark.parametrize("ratio", [0.5, 0.8])
def test_attention_mask_keeps_exactly_the_requested_visible_count(per_frame: bool, ratio: float) -> None:
    t, n, b = 4, 25, 6
    g = torch.Generator().manual_seed(2)
    attn = torch.rand(b, t * n, generator=g) ** 4
    attn[0] = 0.0  # a degenerate row falls back to uniform sampling
    m = attention_mask(attn, ratio, t=t, per_frame=per_frame, generator=g)
    assert m.shape == (b, t * n)
    if per_frame:
        assert ((~m).view(b, t, n).sum(-1) == n - int(ratio * n)).all()
    else:
        assert ((~m).sum(1) == t * n - int(ratio * t * n)).all()
    assert ((~m).sum(1) == num_visible("attention", ratio, t, n, per_frame)).all()


def test_attention_mask_prefers_salient_tokens() -> None:
    # tokens 0..4 of every frame carry almost all attention: they are nearly always visible
    t, n = 2, 10
    attn = torch.full((500, t * n), 1e-4)
    attn.view(500, t, n)[:, :, :5] = 1.0
    m = attention_mask(attn, 0.5, t=t, generator=torch.Generator().manual_seed(3))
    kept = (~m).view(500, t, n).float().mean(0)
    assert (kept[:, :5] > 0.99).all() and (kept[:, 5:] < 0.01).all()


def test_make_mask_dispatch_and_errors() -> None:
    assert make_mask(MaskConfig("none", 0.0), 2, 2, 4) is None
    with pytest.raises(ConfigError, match="attention"):
        make_mask(MaskConfig("attention", 0.5), 2, 2, 4)
    with pytest.raises(ValueError, match="token grid"):
        make_mask(MaskConfig("attention", 0.5), 2, 2, 4, attn=torch.rand(2, 7))
    with pytest.raises(ConfigError):
        MaskConfig("tube", 1.0)
    m = make_mask(MaskConfig("attention", 0.5), 2, 2, 4, attn=torch.rand(2, 8))
    assert with_cls(m).shape == (2, 9) and not with_cls(m)[:, 0].any()


def test_masks_feed_the_visible_token_forward() -> None:
    cfg = VisionConfig(
        img_size=32,
        patch_size=8,
        embed_dim=32,
        depth=1,
        num_heads=2,
        num_frames=4,
        tubelet_size=2,
        attn_pool_num_heads=2,
        clip_embed_dim=16,
    )
    model = InternVideo2(cfg).eval()
    x = torch.randn(3, 3, 4, 32, 32)
    for cfg_m in (MaskConfig("tube", 0.75), MaskConfig("random", 0.5)):
        mask = make_mask(cfg_m, 3, cfg.t_size, cfg.grid**2)
        tokens = model.forward_features(x, mask=mask)
        assert tokens.shape == (3, 1 + num_visible(cfg_m.kind, cfg_m.ratio, cfg.t_size, cfg.grid**2), 32)
        # the visible tokens equal the unmasked forward's embedding of the same positions at layer 0
        emb = model.embed(x)
        sel = emb[:, 1:][~mask].view(3, -1, 32)
        assert torch.equal(model._select(emb, with_cls(mask))[:, 1:], sel)
