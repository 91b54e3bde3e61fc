"""Exact-equivalence rewrites in the layers: fast tanh-GELU and the folded attention-pooling projections."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from internvideo.models.layers import AttentionPoolingBlock, Mlp, gelu_tanh_


def test_fast_tanh_gelu_equals_torch() -> None:
    x = torch.linspace(-8, 8, 10001)
    assert (gelu_tanh_(x.clone()) - F.gelu(x, approximate="tanh")).abs().max().item() < 1e-6


def test_mlp_same_with_and_without_autograd() -> None:
    torch.manual_seed(0)
    mlp = Mlp(16, 64, gelu="tanh")
    x = torch.randn(4, 16, requires_grad=True)
    with_grad = mlp(x)  # the autograd path uses torch's kernel
    with torch.no_grad():
        fast = mlp(x)
    assert torch.allclose(with_grad, fast, atol=1e-6)
    with_grad.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_folded_pooling_equals_projecting_every_token() -> None:
    torch.manual_seed(0)
    pool = AttentionPoolingBlock(dim=64, num_heads=4, out_dim=32)
    for p in pool.parameters():
        torch.nn.init.normal_(p, std=0.2)
    x = torch.randn(3, 50, 64)
    ca = pool.cross_attn
    # reference: the textbook computation with k and v projected for every token
    q = (
        F.linear(pool.norm1_q(x.mean(1, keepdim=True)), ca.q.weight, ca.q_bias)
        .view(3, 1, 4, 16)
        .transpose(1, 2)
    )
    k = F.linear(pool.norm1_k(x), ca.k.weight, ca.k_bias).view(3, 50, 4, 16).transpose(1, 2)
    v = F.linear(pool.norm1_v(x), ca.v.weight, ca.v_bias).view(3, 50, 4, 16).transpose(1, 2)
    attn = ((q * 16**-0.5) @ k.transpose(-2, -1)).softmax(-1)
    ref = ca.proj((attn @ v).transpose(1, 2).reshape(3, 1, 64)).squeeze(1)
    out, a = pool(x, return_attn=True)
    assert (out - ref).abs().max().item() < 1e-5
    assert torch.allclose(a, attn.mean(1).squeeze(1), atol=1e-6)


def test_inference_path_keeps_intermediates_and_matches_autograd_path() -> None:
    from internvideo.models import create_model

    torch.manual_seed(0)
    model = create_model("internvideo2_tiny_patch14_56", gelu="tanh").eval()
    for blk in model.blocks:  # make LayerScale matter
        blk.ls1.gamma.data.fill_(0.7)
        blk.ls2.gamma.data.fill_(1.3)
    x = torch.randn(2, 3, 4, 56, 56)
    final_g, hidden_g = model.forward_intermediates(x)  # autograd path (grad enabled)
    with torch.inference_mode():
        final_i, hidden_i = model.forward_intermediates(x)  # in-place inference path
    assert torch.allclose(final_g, final_i, atol=1e-5)
    for a, b in zip(hidden_g, hidden_i):
        assert torch.allclose(a, b, atol=1e-5)
    assert not torch.equal(hidden_i[0], hidden_i[1])  # block 0's output was not overwritten by block 1


def test_pooling_key_bias_gets_an_exact_zero_gradient() -> None:
    """The key bias shifts every logit of a query alike (the softmax cancels it): its gradient is 0,
    not rounding noise that AdamW would turn into lr-sized steps."""
    torch.manual_seed(0)
    pool = AttentionPoolingBlock(dim=64, num_heads=4, out_dim=32)
    for p in pool.parameters():
        torch.nn.init.normal_(p, std=0.2)
    pool(torch.randn(3, 50, 64)).square().sum().backward()
    assert torch.equal(pool.cross_attn.k_bias.grad, torch.zeros(64))
    assert pool.cross_attn.q_bias.grad.abs().max() > 1e-4  # the others do learn
