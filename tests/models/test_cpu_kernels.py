"""The CPU inference kernels of the layers (oneDNN linears with fused GELU / LayerScale + residual, kept
bf16 weights, one-pass RMSNorm) against plain PyTorch, and their fall-backs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from internvideo.models import layers
from internvideo.models.layers import RMSNorm, linear, linear_residual

pytestmark = pytest.mark.skipif(
    not layers._onednn_available(), reason="oneDNN is not available in this torch"
)


@pytest.fixture()
def lin() -> torch.nn.Linear:
    torch.manual_seed(0)
    m = torch.nn.Linear(96, 160)
    torch.nn.init.normal_(m.weight, std=0.1)
    torch.nn.init.normal_(m.bias, std=0.1)
    return m


def _plain(x, m, act):
    y = F.linear(x.double(), m.weight.double(), m.bias.double())
    if act == "none":
        return y
    return F.gelu(y, approximate="tanh" if act == "gelu_tanh" else "none")


@pytest.mark.parametrize("act", ["none", "gelu", "gelu_tanh"])
def test_linear_fp32_equals_fp64_reference(lin, act) -> None:
    x = torch.randn(2, 37, 96)
    with torch.inference_mode():
        got = linear(x, lin.weight, lin.bias, act)
    assert got.dtype == torch.float32 and got.shape == (2, 37, 160)
    err = (got.double() - _plain(x, lin, act)).abs().max().item()
    torch_err = (F.linear(x, lin.weight, lin.bias).double() - _plain(x, lin, "none")).abs().max().item()
    assert err < 1e-5 and (act != "none" or err < 10 * torch_err + 1e-6)


@pytest.mark.parametrize("act", ["none", "gelu_tanh"])
def test_linear_under_bf16_autocast(lin, act) -> None:
    x = torch.randn(37, 96)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        got = linear(x, lin.weight, lin.bias, act)
        ref = F.linear(x, lin.weight, lin.bias)  # autocast's own bf16 linear
        ref = ref if act == "none" else F.gelu(ref, approximate="tanh")
    assert got.dtype == torch.bfloat16
    assert (got.float() - ref.float()).abs().max().item() < 0.05  # bf16 rounding of ~unit values
    assert (got.double() - _plain(x, lin, act)).abs().max().item() < 0.05


def test_kept_bf16_weights_follow_the_parameter(lin) -> None:
    x = torch.randn(5, 96)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        before = linear(x, lin.weight, lin.bias)
        with torch.no_grad():
            lin.weight.mul_(2.0)  # an optimizer step, say
            lin.bias.mul_(2.0)
        after = linear(x, lin.weight, lin.bias)
    assert (after.float() - 2 * before.float()).abs().max().item() < 0.05 * before.abs().max().item()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_linear_residual_equals_the_written_formula(lin, dtype) -> None:
    x = torch.randn(2, 37, 96)
    res = torch.randn(2, 37, 160).to(dtype)
    res_before = res.clone()
    scale = torch.nn.Parameter(torch.rand(160) + 0.5)
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        got = linear_residual(x, lin.weight, lin.bias, res, scale)
    ref = res.double() + scale.double() * _plain(x, lin, "none")
    tol = 1e-5 if dtype == torch.float32 else 0.06
    assert got.dtype == dtype and (got.double() - ref).abs().max().item() < tol
    assert torch.equal(res, res_before)  # the residual is not written


def test_autograd_and_switched_off_paths_are_plain_pytorch(lin, monkeypatch) -> None:
    x = torch.randn(4, 96, requires_grad=True)
    y = linear(x, lin.weight, lin.bias, "gelu_tanh")  # grad enabled: F.linear + F.gelu
    y.sum().backward()
    assert x.grad is not None and lin.weight.grad is not None
    monkeypatch.setattr(layers, "_ONEDNN", False)
    with torch.inference_mode():
        off = linear(x.detach(), lin.weight, lin.bias, "gelu_tanh")
    assert torch.allclose(off, y.detach(), atol=1e-6)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rmsnorm_inference_path_equals_training_path(dtype) -> None:
    torch.manual_seed(0)
    norm = RMSNorm(96)
    torch.nn.init.uniform_(norm.weight, 0.5, 1.5)
    x = (torch.randn(3, 40, 3 * 96) * 3).to(dtype)[..., 96:192]  # a strided view, as q/k are
    train = norm(x)  # grad enabled (weight requires grad): F.rms_norm
    with torch.inference_mode():
        fast = norm(x)
    assert fast.dtype == dtype and x.dtype == dtype
    tol = 2e-6 if dtype == torch.float32 else 1e-2
    assert (fast.float() - train.float()).abs().max().item() <= tol


def test_block_inference_equals_autograd_path_in_bf16() -> None:
    from internvideo.models import create_model

    torch.manual_seed(0)
    model = create_model("internvideo2_tiny_patch14_56", gelu="tanh").eval()
    for blk in model.blocks:
        blk.ls1.gamma.data.fill_(0.7)
        blk.ls2.gamma.data.fill_(1.3)
    x = torch.randn(2, 3, 4, 56, 56)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ref = model.forward_features(x).float()  # autograd path: autocast's own kernels
        with torch.inference_mode():
            fast = model.forward_features(x).float()
    assert (fast - ref).abs().max().item() < 0.05 * ref.abs().max().item()
