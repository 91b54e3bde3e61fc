"""Building blocks of the InternVideo2 vision towers.

Every module here produces the state-dict keys of the official checkpoints (see
``reference/internvideo2_architecture.md`` §1) and reproduces their fp32 numerics. Attention runs through
``torch.nn.functional.scaled_dot_product_attention`` so PyTorch picks the best kernel for the device.
"""

from __future__ import annotations

import math
import os
import weakref
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

GeluApprox = Literal["none", "tanh"]


class RMSNorm(nn.Module):
    """Root-mean-square norm with a weight and no bias (eps 1e-6 in InternVideo2).

    Computed in fp32 and returned in the input dtype, as the fused kernels every released checkpoint was
    trained with do. With autograd it is ``F.rms_norm`` (in fp32 the plain official path bit for bit);
    at inference one reduction pass and in-place scaling (equal to fp32 rounding). Keeping the output in
    the input dtype also keeps bf16 activations in bf16 under autocast instead of promoting them to fp32.
    """

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad):
            return F.rms_norm(x.float(), (x.shape[-1],), self.weight.float(), self.eps).to(x.dtype)
        # inference: one reduction pass (vector_norm) and in-place scaling, instead of F.rms_norm's
        # pow / mean / mul / mul on fresh tensors (same formula; results agree to fp32 rounding)
        xf = x.float()
        r = (
            torch.linalg.vector_norm(xf, dim=-1, keepdim=True)
            .square_()
            .div_(x.shape[-1])
            .add_(self.eps)
            .rsqrt_()
        )
        y = xf.mul_(r) if xf is not x else xf * r
        return y.mul_(self.weight.float()).to(x.dtype)


class LayerScale(nn.Module):
    """Per-channel scale ``x * gamma``; optionally computed in fp32 (the official default)."""

    def __init__(self, dim: int, init_values: float = 1e-5, force_fp32: bool = True) -> None:
        super().__init__()
        self.force_fp32 = force_fp32
        self.gamma = nn.Parameter(init_values * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.force_fp32 and x.dtype != torch.float32:
            return (x.float() * self.gamma.float()).to(x.dtype)
        return x * self.gamma


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample during training."""

    def __init__(self, drop_prob: float = 0.0) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1.0 - self.drop_prob
        shape = (x.shape[0],) + (1,) * (x.ndim - 1)
        mask = x.new_empty(shape).bernoulli_(keep)
        return x * mask / keep

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob}"


_GELU_TANH_C = 2.0 * math.sqrt(2.0 / math.pi)


def gelu_tanh_(x: torch.Tensor) -> torch.Tensor:
    """tanh-approximate GELU, overwriting a scratch copy: ``x * sigmoid(2*sqrt(2/pi)*(x + 0.044715 x^3))``.

    Equal to ``F.gelu(x, approximate="tanh")`` (``0.5 (1 + tanh z) = sigmoid(2z)``; max difference ~5e-7
    in fp32) but about twice as fast on CPU, where PyTorch's tanh-GELU kernel is several times slower than
    the exact one. Use only without autograd (it works in place on its own temporary).
    """
    t = x * x
    t.mul_(0.044715 * _GELU_TANH_C).add_(_GELU_TANH_C).mul_(x).sigmoid_()
    return t.mul_(x)


# ---------------------------------------------------------------------------------------------------
# Linear layers through oneDNN on the CPU

_ONEDNN: bool | None = None
_DERIVED: dict[int, tuple[tuple, torch.Tensor]] = {}  # id(parameter) -> (key, derived tensor)


def _onednn_available() -> bool:
    global _ONEDNN
    if _ONEDNN is None:
        _ONEDNN = (
            os.environ.get("INTERNVIDEO_ONEDNN", "1").strip().lower() not in ("0", "false", "no", "off")
            and torch.backends.mkldnn.is_available()
            and hasattr(torch.ops.mkldnn, "_linear_pointwise")
        )
    return _ONEDNN


def _autocast_dtype() -> torch.dtype | None:
    try:
        on, dtype = torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")
    except TypeError:  # pragma: no cover - torch < 2.4
        on, dtype = torch.is_autocast_cpu_enabled(), torch.get_autocast_cpu_dtype()
    return dtype if on else None


def _derived(owner: torch.Tensor, key: tuple, make) -> torch.Tensor:
    """``make()``, kept for ``owner`` (a parameter) until ``key`` changes (include the versions and data
    pointers of every tensor it derives from). Non-parameters are not cached."""
    if not isinstance(owner, nn.Parameter):
        return make()
    hit = _DERIVED.get(id(owner))
    if hit is not None and hit[0] == key:
        return hit[1]
    out = make()
    if hit is None:
        weakref.finalize(owner, _DERIVED.pop, id(owner), None)
    _DERIVED[id(owner)] = (key, out)
    return out


def _state(t: torch.Tensor | None) -> tuple:
    return () if t is None else (t._version, t.data_ptr())


def _onednn_dtype(x: torch.Tensor, weight: torch.Tensor) -> torch.dtype | None:
    """The dtype oneDNN should compute ``x @ weight.T`` in, or None when the plain path applies."""
    if (
        x.device.type != "cpu"
        or (torch.is_grad_enabled() and (x.requires_grad or weight.requires_grad))
        or not _onednn_available()
        or not torch.backends.mkldnn.enabled
        or x.dtype not in (torch.float32, torch.bfloat16)
    ):
        return None
    dtype = _autocast_dtype() or x.dtype
    return dtype if dtype in (torch.float32, torch.bfloat16) else None


def _onednn_params(
    weight: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype, scale: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """Weight and bias for oneDNN in ``dtype`` (times ``scale`` per output channel), or None.

    fp32 uses the parameters as they are (no copy; None when a scale would need one). bf16 keeps, per
    parameter, one copy in bf16 and in oneDNN's blocked layout (the autocast cast it replaces is as
    large; the layout saves ~8 % per GEMM): half the fp32 weights' memory, made on first use and
    remade when the parameter (or the scale) changes.
    """
    if dtype == torch.float32:
        return None if scale is not None else (weight.detach(), None if bias is None else bias.detach())
    key = ("onednn", dtype, *_state(weight), *_state(bias), *_state(scale))
    sc = None if scale is None else scale.detach().float()

    def scaled(t: torch.Tensor, col: bool) -> torch.Tensor:
        t = t.detach().float()
        return t if sc is None else t * (sc[:, None] if col else sc)

    w = _derived(weight, key, lambda: torch.ops.mkldnn._reorder_linear_weight(scaled(weight, True).to(dtype)))
    b = None if bias is None else _derived(bias, key, lambda: scaled(bias, False).to(dtype))
    return w, b


def linear(
    x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, act: str = "none"
) -> torch.Tensor:
    """``F.linear`` followed by ``act`` (``"none"``, ``"gelu"`` exact or ``"gelu_tanh"``).

    On the CPU, without autograd, in fp32 or bf16 (also under autocast), this runs oneDNN's GEMM with the
    GELU fused in (``torch.ops.mkldnn._linear_pointwise``, the kernel ``torch.compile`` uses): measured
    on an AVX-512 CPU, a 1569x768 @ 768x3072 fp32 linear takes 17 ms there against 37 ms through
    ``F.linear`` (MKL), and the fused tanh-GELU is nearly free in both dtypes. Results agree with
    ``F.linear`` to fp32 rounding (max error against fp64 ~2e-6 vs ~1.5e-6 for ``F.linear`` on
    unit-scale data). Elsewhere (autograd, GPU, other dtypes, ``INTERNVIDEO_ONEDNN=0``) it is plain
    PyTorch. In bf16 the weights are kept converted (see :func:`_onednn_params`).
    """
    dtype = _onednn_dtype(x, weight)
    if dtype is not None:
        w, b = _onednn_params(weight, bias, dtype)  # type: ignore[misc]
        if act == "none":
            return torch.ops.mkldnn._linear_pointwise(x.to(dtype), w, b, "none", [], "")
        algorithm = "tanh" if act == "gelu_tanh" else "none"
        return torch.ops.mkldnn._linear_pointwise(x.to(dtype), w, b, "gelu", [], algorithm)
    y = F.linear(x, weight, bias)
    if act == "none":
        return y
    if act == "gelu_tanh" and y.dtype == torch.float32 and not (torch.is_grad_enabled() and y.requires_grad):
        return gelu_tanh_(y)
    return F.gelu(y, approximate="tanh" if act == "gelu_tanh" else "none")


def linear_residual(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    residual: torch.Tensor,
    scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """``residual + scale * (x @ weight.T + bias)``: a transformer branch with its LayerScale, added.

    In bf16 on oneDNN's path (see :func:`linear`) the scale lives in the kept bf16 weights and the GEMM
    adds the residual itself (one rounding instead of three, two passes over the activations saved);
    otherwise it is computed as written, the scale in fp32. The result is a new tensor.
    """
    dtype = _onednn_dtype(x, weight)
    if dtype is not None and residual.dtype == dtype and residual.shape[:-1] == x.shape[:-1]:
        params = _onednn_params(weight, bias, dtype, scale)
        if params is not None:
            return torch.ops.mkldnn._linear_pointwise.binary(
                x.to(dtype), residual, params[0], params[1], "add"
            )
    y = linear(x, weight, bias)
    if scale is not None:
        # without autograd in place: an fp32 scale on a bf16 branch is applied in fp32, rounded once
        y = y * scale if torch.is_grad_enabled() and y.requires_grad else y.mul_(scale)
    return residual + y


class Mlp(nn.Module):
    """``fc2(gelu(fc1(x)))``. ``gelu="tanh"`` matches the fused kernels the released models were trained with."""

    def __init__(self, dim: int, hidden: int, out_dim: int | None = None, gelu: GeluApprox = "none") -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, out_dim or dim)
        self.gelu = gelu

    def forward(
        self, x: torch.Tensor, residual: torch.Tensor | None = None, scale: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``fc2(gelu(fc1(x)))``; with ``residual``: ``residual + scale * fc2(...)`` (see :func:`linear_residual`)."""
        h = linear(x, self.fc1.weight, self.fc1.bias, "gelu_tanh" if self.gelu == "tanh" else "gelu")
        if residual is not None:
            return linear_residual(h, self.fc2.weight, self.fc2.bias, residual, scale)
        return linear(h, self.fc2.weight, self.fc2.bias)


class Attention(nn.Module):
    """Multi-head self-attention with RMSNorm on q and k over the full width (before the head split)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = False, qk_norm: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"embed_dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.q_norm = RMSNorm(dim) if qk_norm else nn.Identity()
        self.k_norm = RMSNorm(dim) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(
        self, x: torch.Tensor, residual: torch.Tensor | None = None, scale: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Attention of ``x``; with ``residual``: ``residual + scale * attn(x)`` (see :func:`linear_residual`)."""
        b, n, c = x.shape
        q, k, v = linear(x, self.qkv.weight, self.qkv.bias).chunk(3, dim=-1)
        q, k = self.q_norm(q), self.k_norm(k)
        q, k, v = (t.view(b, n, self.num_heads, self.head_dim).transpose(1, 2) for t in (q, k, v))
        x = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c)
        if residual is not None:
            return linear_residual(x, self.proj.weight, self.proj.bias, residual, scale)
        return linear(x, self.proj.weight, self.proj.bias)


class Block(nn.Module):
    """Pre-norm transformer block: ``x + ls1(attn(norm1(x)))`` then ``x + ls2(mlp(norm2(x)))``."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_hidden: int,
        qkv_bias: bool = False,
        qk_norm: bool = True,
        init_values: float | None = 1e-5,
        layerscale_fp32: bool = True,
        drop_path: float = 0.0,
        gelu: GeluApprox = "none",
    ) -> None:
        super().__init__()
        self.norm1 = RMSNorm(dim)
        self.attn = Attention(dim, num_heads, qkv_bias=qkv_bias, qk_norm=qk_norm)
        self.ls1 = LayerScale(dim, init_values, layerscale_fp32) if init_values else nn.Identity()
        self.drop_path1 = DropPath(drop_path)
        self.norm2 = RMSNorm(dim)
        self.mlp = Mlp(dim, mlp_hidden, gelu=gelu)
        self.ls2 = LayerScale(dim, init_values, layerscale_fp32) if init_values else nn.Identity()
        self.drop_path2 = DropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() or self.training:
            x = x + self.drop_path1(self.ls1(self.attn(self.norm1(x))))
            return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))
        # Inference: each branch's last linear also applies the LayerScale and adds the residual (on the
        # CPU one oneDNN GEMM does all three; see linear_residual). The block's input is never written, so
        # captured intermediate states stay valid.
        y = self.attn(self.norm1(x), residual=x, scale=self._gamma(self.ls1))
        return self.mlp(self.norm2(y), residual=y, scale=self._gamma(self.ls2))

    @staticmethod
    def _gamma(ls: nn.Module) -> torch.Tensor | None:
        if isinstance(ls, LayerScale):
            return ls.gamma
        if isinstance(ls, nn.Identity):
            return None
        raise TypeError(f"unsupported layer scale module {type(ls).__name__}")


class PoolingCrossAttention(nn.Module):
    """Cross-attention with separate q/k/v bias parameters (keys ``q_bias``, ``k_bias``, ``v_bias``)."""

    def __init__(self, dim: int, num_heads: int, out_dim: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q = nn.Linear(dim, dim, bias=False)
        self.k = nn.Linear(dim, dim, bias=False)
        self.v = nn.Linear(dim, dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.k_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, out_dim)

    def forward(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, return_attn: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend from ``q (B, Nq, C)`` over ``k, v (B, N, C)``; the k/v projections are folded into q.

        With few queries (pooling uses one) projecting every key and value costs two ``N x C x C``
        matmuls. Instead ``q_h . (W_k,h x + b_k,h) = (W_k,h^T q_h) . x + q_h . b_k,h`` and, because the
        attention weights sum to one, ``sum_j a_j (W_v,h x_j + b_v,h) = W_v,h (sum_j a_j x_j) + b_v,h`` —
        the same result (up to rounding) for ``O(H N C)`` work. The key bias adds ``q_h . b_k,h``, the same
        for every key, which the softmax cancels: it is left out, so ``k_bias`` (kept for the checkpoint
        layout) gets an exact zero gradient instead of rounding noise that AdamW would turn into steps.
        """
        b, nq, c = q.shape
        h = self.num_heads
        d = c // h
        qh = F.linear(q, self.q.weight, self.q_bias).view(b, nq, h, d)
        w_k = self.k.weight.view(h, d, c).to(qh.dtype)
        w_v = self.v.weight.view(h, d, c)
        q_fold = torch.einsum("bqhd,hdc->bhqc", qh, w_k)  # (B, H, Nq, C)
        # heads x queries as the rows of one (B, H*Nq, C) @ (B, C, N) product: broadcasting k and v over
        # the heads instead would materialise them H times (under bf16 autocast: 10x the pooling time)
        scores = torch.bmm(q_fold.reshape(b, h * nq, c), k.transpose(1, 2).to(q_fold.dtype))
        attn = (scores.view(b, h, nq, -1) * d**-0.5).float().softmax(dim=-1)
        mixed = torch.bmm(attn.to(v.dtype).view(b, h * nq, -1), v).view(b, h, nq, c)  # weighted inputs
        out = torch.einsum("bhqc,hdc->bqhd", mixed, w_v.to(mixed.dtype)) + self.v_bias.view(h, d).to(
            mixed.dtype
        )
        out = self.proj(out.reshape(b, nq, c))
        if torch.is_grad_enabled() and self.k_bias.requires_grad:
            # k_bias is in the graph (DDP expects every parameter to get a gradient) with gradient 0 exactly
            out = out + 0.0 * self.k_bias.sum()
        return out, (attn.mean(1) if return_attn else None)


class AttentionPoolingBlock(nn.Module):
    """InternVideo2's attention-pooling head (key prefix ``clip_projector.``).

    The query is the mean of *all* tokens (CLS included); keys and values are the tokens. Three LayerNorms
    (eps 1e-5) normalise query, key and value inputs. Output ``(B, out_dim)``.
    """

    def __init__(self, dim: int, num_heads: int, out_dim: int) -> None:
        super().__init__()
        self.norm1_q = nn.LayerNorm(dim, eps=1e-5)
        self.norm1_k = nn.LayerNorm(dim, eps=1e-5)
        self.norm1_v = nn.LayerNorm(dim, eps=1e-5)
        self.cross_attn = PoolingCrossAttention(dim, num_heads, out_dim)

    def forward(self, x: torch.Tensor, return_attn: bool = False):
        q = x.mean(1, keepdim=True)
        out, attn = self.cross_attn(
            self.norm1_q(q), self.norm1_k(x), self.norm1_v(x), return_attn=return_attn
        )
        out = out.squeeze(1)
        if return_attn:
            return out, attn.squeeze(1)
        return out


class LinearDecoder(nn.Module):
    """Distillation decoder ``l2norm(LN(Linear(x)))`` (keys ``head.*``, ``norm.*``)."""

    def __init__(self, in_dim: int, out_dim: int, l2_norm: bool = True) -> None:
        super().__init__()
        self.head = nn.Linear(in_dim, out_dim)
        self.norm = nn.LayerNorm(out_dim, eps=1e-5)
        self.l2_norm = l2_norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.head(x))
        return F.normalize(x, dim=-1) if self.l2_norm else x


class MLPDecoder(nn.Module):
    """Distillation decoder ``l2norm(LN(Linear(GELU(Linear(x)))))`` (keys ``head.0``, ``head.2``, ``norm``)."""

    def __init__(self, in_dim: int, out_dim: int, l2_norm: bool = True) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Linear(in_dim, in_dim), nn.GELU(), nn.Linear(in_dim, out_dim))
        self.norm = nn.LayerNorm(out_dim, eps=1e-5)
        self.l2_norm = l2_norm

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.head(x))
        return F.normalize(x, dim=-1) if self.l2_norm else x


# ---------------------------------------------------------------------------------------------------
# Position tables


def _sincos_1d(dim: int, pos: np.ndarray) -> np.ndarray:
    """``[sin(pos*omega) | cos(pos*omega)]`` with ``omega_i = 1/10000^(i/(dim/2))`` → ``(M, dim)``."""
    if dim % 2:
        raise ValueError(f"sin-cos dimension must be even, got {dim}")
    omega = np.arange(dim // 2, dtype=np.float32) / np.float32(dim / 2.0)
    omega = 1.0 / 10000**omega
    out = np.einsum("m,d->md", pos.reshape(-1).astype(np.float32), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def sincos_2d(dim: int, grid: int) -> np.ndarray:
    """2D table ``(grid*grid, dim)``: first half encodes the column (x), second half the row (y)."""
    ys, xs = np.meshgrid(np.arange(grid, dtype=np.float32), np.arange(grid, dtype=np.float32), indexing="ij")
    return np.concatenate([_sincos_1d(dim // 2, xs), _sincos_1d(dim // 2, ys)], axis=1)


def sincos_3d(dim: int, grid: int, t_size: int, cls_token: bool = True) -> torch.Tensor:
    """The official 3D sin-cos initialiser: per token ``[temporal (dim/4) | spatial (3dim/4)]``.

    Tokens are time-major; a zero row is prepended for CLS when ``cls_token``. Returns float32 ``(N, dim)``.
    """
    if dim % 4:
        raise ValueError(f"embed_dim must be divisible by 4 for the 3D sin-cos table, got {dim}")
    d_s, d_t = dim // 4 * 3, dim // 4
    spatial = sincos_2d(d_s, grid)  # (L, d_s)
    temporal = _sincos_1d(d_t, np.arange(t_size, dtype=np.float32))  # (T, d_t)
    table = np.concatenate(
        [
            np.repeat(temporal[:, None, :], grid * grid, axis=1),
            np.repeat(spatial[None, :, :], t_size, axis=0),
        ],
        axis=-1,
    ).reshape(t_size * grid * grid, dim)
    if cls_token:
        table = np.concatenate([np.zeros((1, dim)), table], axis=0)
    return torch.from_numpy(table).float()


def resize_pos_table(
    pos: torch.Tensor, orig_t: int, new_t: int, new_grid: int, num_prefix: int = 1
) -> torch.Tensor:
    """Resize a ``(1, prefix + T*L, C)`` table: temporal linear first, then spatial bicubic; prefix untouched.

    This is the algorithm every official loader uses (``align_corners=False``). Returns a new tensor in the
    input's dtype.
    """
    prefix, patches = pos[:, :num_prefix], pos[:, num_prefix:]
    c = pos.shape[-1]
    n = patches.shape[1]
    if n % orig_t:
        raise ValueError(f"position table with {n} patch rows cannot hold {orig_t} frames")
    orig_l = n // orig_t
    orig_grid = math.isqrt(orig_l)
    if orig_grid * orig_grid != orig_l:
        raise ValueError(f"position table rows per frame ({orig_l}) are not a square grid")
    x = patches.float()
    if orig_t != new_t:
        x = x.view(1, orig_t, orig_l, c).permute(0, 2, 3, 1).reshape(orig_l, c, orig_t)
        x = F.interpolate(x, size=new_t, mode="linear", align_corners=False)
        x = x.view(1, orig_l, c, new_t).permute(0, 3, 1, 2).reshape(1, new_t * orig_l, c)
    if orig_grid != new_grid:
        x = x.view(new_t, orig_grid, orig_grid, c).permute(0, 3, 1, 2)
        x = F.interpolate(x, size=(new_grid, new_grid), mode="bicubic", align_corners=False)
        x = x.permute(0, 2, 3, 1).reshape(1, new_t * new_grid * new_grid, c)
    return torch.cat([prefix.float(), x], dim=1).to(pos.dtype)
