"""InternVideo2 video encoders.

Two classes cover every released vision checkpoint (``reference/internvideo2_architecture.md`` §2):

* :class:`InternVideo2` — the trunk with attention pooling and an optional classification head. With
  ``num_classes=0`` it is the CLIP vision tower (pooled ``(B, clip_embed_dim)`` output); with
  ``head_type="attentive"`` it is the attentive-probing classifier.
* :class:`InternVideo2Pretrain` — the trunk plus distillation decoders: the stage-1 student (CLIP and MAE
  decoders), the S/B/L distillation student (MLP decoders) and the stage-2 multimodal backbone (linear
  decoders, optional separate image position tables).

Input layout: ``(B, C, T, H, W)`` float, already normalised. A single-frame input ``(B, C, 1, H, W)`` to a
multi-frame model takes the image path (the official ``use_image``).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..errors import ConfigError
from .layers import AttentionPoolingBlock, Block, LinearDecoder, Mlp, MLPDecoder, sincos_3d

logger = logging.getLogger(__name__)

DecoderKind = Literal["none", "linear", "mlp"]


@dataclass(frozen=True)
class VisionConfig:
    """Hyper-parameters of an InternVideo2 video encoder (names follow the official constructors)."""

    img_size: int = 224
    patch_size: int = 14
    in_chans: int = 3
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    qkv_bias: bool = False
    qk_normalization: bool = True
    init_values: float = 1e-5
    layerscale_fp32: bool = True
    drop_path_rate: float = 0.0
    num_frames: int = 8
    tubelet_size: int = 1
    attn_pool_num_heads: int = 16
    clip_embed_dim: int = 768
    # "tanh": the fused-kernel GELU every released checkpoint was trained with; "none": exact erf GELU.
    gelu: Literal["none", "tanh"] = "tanh"
    # classification head (num_classes=0: no fc_norm / head, forward returns the pooled feature)
    num_classes: int = 0
    head_type: Literal["linear", "attentive"] = "linear"
    fc_drop_rate: float = 0.0
    init_scale: float = 0.001
    # image path of the stage-2 backbone
    sep_image_video_pos_embed: bool = False
    # distillation decoders (InternVideo2Pretrain only)
    clip_decoder: DecoderKind = "none"
    clip_teacher_embed_dim: int = 0
    clip_teacher_final_dim: int = 0
    clip_return_layer: int = 0
    clip_student_return_interval: float = 1.0
    mae_teacher_embed_dim: int = 0
    mae_return_layer: int = 0
    mae_student_return_interval: float = 1.0

    def __post_init__(self) -> None:
        if self.img_size % self.patch_size:
            raise ConfigError(f"img_size {self.img_size} is not a multiple of patch_size {self.patch_size}")
        if self.num_frames % self.tubelet_size:
            raise ConfigError(
                f"num_frames {self.num_frames} is not a multiple of tubelet_size {self.tubelet_size}"
            )
        if self.embed_dim % self.num_heads or self.embed_dim % self.attn_pool_num_heads:
            raise ConfigError(
                f"embed_dim {self.embed_dim} must be divisible by num_heads {self.num_heads} "
                f"and attn_pool_num_heads {self.attn_pool_num_heads}"
            )
        if self.gelu not in ("none", "tanh"):
            raise ConfigError(f"gelu must be 'none' (exact) or 'tanh', got {self.gelu!r}")

    @property
    def grid(self) -> int:
        return self.img_size // self.patch_size

    @property
    def t_size(self) -> int:
        return self.num_frames // self.tubelet_size

    @property
    def mlp_hidden(self) -> int:
        return int(self.embed_dim * self.mlp_ratio)

    def replace(self, **kwargs: object) -> VisionConfig:
        unknown = set(kwargs) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ConfigError(f"unknown VisionConfig fields: {sorted(unknown)}")
        return dataclasses.replace(self, **kwargs)


class PatchEmbed(nn.Module):
    """Conv3d patchifier ``(B, C, T, H, W) -> (B, T*h*w, D)``, tokens time-major then row-major."""

    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        k = (cfg.tubelet_size, cfg.patch_size, cfg.patch_size)
        self.proj = nn.Conv3d(cfg.in_chans, cfg.embed_dim, kernel_size=k, stride=k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x.to(self.proj.weight.dtype))
        return x.flatten(2).transpose(1, 2)


class InternVideo2(nn.Module):
    """InternVideo2 video transformer with attention pooling and an optional classifier head."""

    def __init__(self, cfg: VisionConfig) -> None:
        super().__init__()
        self.cfg = cfg
        c = cfg.embed_dim
        self.num_prefix_tokens = 1
        self.grad_checkpointing = False
        self.patch_embed = PatchEmbed(cfg)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + cfg.t_size * cfg.grid**2, c))
        if cfg.sep_image_video_pos_embed:
            self.img_pos_embed = nn.Parameter(torch.zeros(1, 1 + cfg.grid**2, c))
        dpr = [cfg.drop_path_rate * i / max(cfg.depth - 1, 1) for i in range(cfg.depth)]
        self.blocks = nn.ModuleList(
            Block(
                c,
                cfg.num_heads,
                cfg.mlp_hidden,
                qkv_bias=cfg.qkv_bias,
                qk_norm=cfg.qk_normalization,
                init_values=cfg.init_values,
                layerscale_fp32=cfg.layerscale_fp32,
                drop_path=dpr[i],
                gelu=cfg.gelu,
            )
            for i in range(cfg.depth)
        )
        self.clip_projector = AttentionPoolingBlock(c, cfg.attn_pool_num_heads, cfg.clip_embed_dim)
        self._build_head(cfg.num_classes)
        self.init_weights()

    # ------------------------------------------------------------------ construction
    def _build_head(self, num_classes: int) -> None:
        cfg = self.cfg
        e = cfg.clip_embed_dim
        self.num_classes = num_classes
        if num_classes > 0:
            if cfg.head_type == "attentive":
                self.extra_mlp = nn.Sequential(nn.LayerNorm(e, eps=1e-5), Mlp(e, 4 * e, gelu="none"))
            self.fc_norm = nn.LayerNorm(e, eps=1e-5)
            self.head_drop = nn.Dropout(cfg.fc_drop_rate) if cfg.fc_drop_rate > 0 else nn.Identity()
            self.head = nn.Linear(e, num_classes)
        else:
            self.fc_norm = nn.Identity()
            self.head_drop = nn.Identity()
            self.head = nn.Identity()

    @torch.no_grad()
    def init_weights(self) -> None:
        """The official initialisation (only matters when training from scratch)."""
        cfg = self.cfg
        self.apply(_init_linear_and_norm)
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        self.pos_embed.copy_(sincos_3d(cfg.embed_dim, cfg.grid, cfg.t_size).unsqueeze(0))
        if hasattr(self, "img_pos_embed"):
            self.img_pos_embed.copy_(sincos_3d(cfg.embed_dim, cfg.grid, 1).unsqueeze(0))
        for i, blk in enumerate(self.blocks):
            blk.attn.proj.weight.div_(math.sqrt(2.0 * (i + 1)))
            blk.mlp.fc2.weight.div_(math.sqrt(2.0 * (i + 1)))
        if isinstance(self.head, nn.Linear):
            self.head.weight.mul_(cfg.init_scale)
            self.head.bias.mul_(cfg.init_scale)
        if hasattr(self, "extra_mlp"):
            nn.init.zeros_(self.extra_mlp[1].fc2.weight)
            nn.init.zeros_(self.extra_mlp[1].fc2.bias)

    # ------------------------------------------------------------------ uniform verbs
    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classification head (``0`` removes it: the model then returns pooled features)."""
        device = self.pos_embed.device
        for name in ("extra_mlp", "fc_norm", "head_drop", "head"):
            if hasattr(self, name):
                delattr(self, name)
        self.cfg = self.cfg.replace(num_classes=num_classes)
        self._build_head(num_classes)
        if isinstance(self.head, nn.Linear):
            nn.init.trunc_normal_(self.head.weight, std=0.02)
            nn.init.zeros_(self.head.bias)
            with torch.no_grad():
                self.head.weight.mul_(self.cfg.init_scale)
        self.to(device)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.grad_checkpointing = enable

    def no_weight_decay(self) -> set[str]:
        return {n for n, _ in self.named_parameters() if n.endswith("pos_embed") or n == "cls_token"}

    def get_num_layers(self) -> int:
        return self.cfg.depth

    def get_layer_id(self, name: str) -> int:
        """Layer index for layer-wise lr decay: embeddings 0, block i -> i+1, heads depth+1."""
        if name in ("cls_token",) or name.endswith("pos_embed") or name.startswith("patch_embed"):
            return 0
        if name.startswith("blocks."):
            return int(name.split(".")[1]) + 1
        return self.cfg.depth + 1

    # ------------------------------------------------------------------ forward pieces
    def _is_image(self, x: torch.Tensor, use_image: bool | None) -> bool:
        if use_image is not None:
            return use_image
        return x.shape[2] == self.cfg.tubelet_size and self.cfg.t_size > 1

    def _video_pos(self, table: torch.Tensor, img_table: torch.Tensor | None, image: bool) -> torch.Tensor:
        """The position rows for a video or (image path) a single frame."""
        if not image:
            return table
        if img_table is not None:
            return img_table
        c = table.shape[-1]
        patches = table[:, 1:].view(1, self.cfg.t_size, self.cfg.grid**2, c).mean(1)
        return torch.cat([table[:, :1], patches], dim=1)

    def embed(self, x: torch.Tensor, use_image: bool | None = None) -> torch.Tensor:
        """Patchify, prepend CLS and add position embeddings → ``(B, 1+T*L, C)``."""
        if x.ndim != 5:
            raise ValueError(f"expected video of shape (B, C, T, H, W), got {tuple(x.shape)}")
        cfg = self.cfg
        image = self._is_image(x, use_image)
        t_in = x.shape[2] // cfg.tubelet_size
        if x.shape[-1] != cfg.img_size or x.shape[-2] != cfg.img_size:
            raise ValueError(
                f"model expects {cfg.img_size}x{cfg.img_size} frames, got {x.shape[-2]}x{x.shape[-1]}; "
                f"create the model with img_size={x.shape[-1]} (position tables are resized on load)"
            )
        if not image and t_in != cfg.t_size:
            raise ValueError(
                f"model expects {cfg.num_frames} frames, got {x.shape[2]}; create it with num_frames={x.shape[2]} "
                "(position tables are resized when a checkpoint is loaded)"
            )
        tokens = self.patch_embed(x)
        cls = self.cls_token.expand(tokens.shape[0], -1, -1).to(tokens.dtype)
        tokens = torch.cat([cls, tokens], dim=1)
        pos = self._video_pos(self.pos_embed, getattr(self, "img_pos_embed", None), image)
        return tokens + pos.to(tokens.dtype)

    @staticmethod
    def _check_mask(mask: torch.Tensor, n: int) -> torch.Tensor:
        mask = mask.bool()
        if mask.shape[1] == n - 1:  # no CLS column given: CLS is always visible
            mask = torch.cat([mask.new_zeros(mask.shape[0], 1), mask], dim=1)
        if mask.shape[1] != n:
            raise ValueError(f"mask has {mask.shape[1]} columns, expected {n} (1 + tokens) or {n - 1}")
        if mask[:, 0].any():
            raise ValueError("the CLS column of the mask must be False (visible)")
        visible = (~mask).sum(1)
        if (visible != visible[0]).any():
            raise ValueError(
                f"every sample must keep the same number of visible tokens, got {visible.tolist()}"
            )
        return mask

    @staticmethod
    def _select(t: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b = mask.shape[0]
        return t.expand(b, -1, -1)[~mask].reshape(b, -1, t.shape[-1])

    def _run_block(self, blk: nn.Module, x: torch.Tensor) -> torch.Tensor:
        if self.grad_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(blk, x, use_reentrant=False)
        return blk(x)

    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | Sequence[int] | None = None,
        mask: torch.Tensor | None = None,
        use_image: bool | None = None,
        stop_early: bool = False,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Run the trunk and also return the hidden states after the chosen blocks.

        ``indices``: an int ``n`` (the last ``n`` blocks), a list of block indices (negative allowed), or
        ``None`` (every block). Returns ``(final_tokens, [hidden (B, N_vis, C) in ascending block order])``.
        """
        depth = self.cfg.depth
        if indices is None:
            wanted = set(range(depth))
        elif isinstance(indices, int):
            wanted = set(range(depth - indices, depth))
        else:
            wanted = {i % depth for i in indices}
        tokens = self.embed(x, use_image)
        if mask is not None:
            mask = self._check_mask(mask, tokens.shape[1])
            tokens = self._select(tokens, mask)
        hidden: list[torch.Tensor] = []
        last = max(wanted) if (stop_early and wanted) else depth - 1
        for i, blk in enumerate(self.blocks):
            tokens = self._run_block(blk, tokens)
            if i in wanted:
                hidden.append(tokens)
            if i == last:
                break
        return tokens, hidden

    def forward_features(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, use_image: bool | None = None
    ) -> torch.Tensor:
        """Tokens after the last block ``(B, N_vis, C)`` (there is no final norm in InternVideo2)."""
        return self.forward_intermediates(x, indices=[], mask=mask, use_image=use_image)[0]

    def pool(self, tokens: torch.Tensor) -> torch.Tensor:
        """Attention pooling of tokens → ``(B, clip_embed_dim)``."""
        return self.clip_projector(tokens)

    def forward_head(self, tokens: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool the tokens and apply the head; ``pre_logits`` returns the normalised feature fed to it."""
        x = self.pool(tokens)
        if hasattr(self, "extra_mlp"):
            x = x + self.extra_mlp(x)
        x = self.head_drop(self.fc_norm(x))
        return x if pre_logits else self.head(x)

    def forward_pooled(self, x: torch.Tensor, use_image: bool | None = None) -> torch.Tensor:
        """The attention-pooled clip embedding ``(B, clip_embed_dim)`` (the feature-extraction output)."""
        return self.pool(self.forward_features(x, use_image=use_image))

    def forward(self, x: torch.Tensor, use_image: bool | None = None) -> torch.Tensor:
        """Logits ``(B, num_classes)``, or the pooled feature when the model has no head."""
        return self.forward_head(self.forward_features(x, use_image=use_image))


@dataclass
class PretrainOutput:
    """Outputs of :class:`InternVideo2Pretrain` (all decoder outputs are L2-normalised)."""

    x_vis: torch.Tensor  # (B, N_vis, C) tokens after the last block
    x_pool: torch.Tensor  # (B, clip_embed_dim)
    x_clip_align: torch.Tensor | None  # (K, B, N_vis, clip_teacher_embed_dim)
    x_align: torch.Tensor | None  # (B, clip_teacher_final_dim)
    x_mae_align: torch.Tensor | None  # (K_mae, B, N_vis - 1, mae_teacher_embed_dim)


def _return_index(depth: int, k: int, interval: float) -> list[int]:
    """Blocks whose outputs feed decoders, ascending (decoder ``j`` reads the ``j``-th of these)."""
    return sorted(depth - 1 - int(i * interval) for i in range(k))


class InternVideo2Pretrain(InternVideo2):
    """The trunk plus distillation decoders (stage-1 student, S/B/L distillation student, stage-2 backbone)."""

    def __init__(self, cfg: VisionConfig) -> None:
        if cfg.num_classes:
            raise ConfigError("pretraining / distillation models have no classification head (num_classes=0)")
        if cfg.clip_decoder == "none" and cfg.clip_return_layer:
            raise ConfigError("clip_return_layer > 0 needs clip_decoder='linear' or 'mlp'")
        super().__init__(cfg)

    def _build_head(self, num_classes: int) -> None:  # decoders instead of a classifier
        super()._build_head(0)
        cfg = self.cfg
        c, n = cfg.embed_dim, cfg.t_size * cfg.grid**2
        dec = {"linear": LinearDecoder, "mlp": MLPDecoder}.get(cfg.clip_decoder)
        self.clip_return_index = _return_index(
            cfg.depth, cfg.clip_return_layer, cfg.clip_student_return_interval
        )
        self.mae_return_index = _return_index(
            cfg.depth, cfg.mae_return_layer, cfg.mae_student_return_interval
        )
        if cfg.clip_return_layer:
            self.clip_pos_embed = nn.Parameter(torch.zeros(1, 1 + n, c))
            if cfg.sep_image_video_pos_embed:
                self.clip_img_pos_embed = nn.Parameter(torch.zeros(1, 1 + cfg.grid**2, c))
            self.clip_decoder = nn.ModuleList(
                dec(c, cfg.clip_teacher_embed_dim) for _ in range(cfg.clip_return_layer)
            )
        if dec is not None and cfg.clip_teacher_final_dim > 0:
            self.final_clip_decoder = dec(cfg.clip_embed_dim, cfg.clip_teacher_final_dim)
        if cfg.mae_return_layer:
            self.mae_pos_embed = nn.Parameter(torch.zeros(1, n, c))
            self.mae_decoder = nn.ModuleList(
                MLPDecoder(c, cfg.mae_teacher_embed_dim) for _ in range(cfg.mae_return_layer)
            )

    @torch.no_grad()
    def init_weights(self) -> None:
        super().init_weights()
        cfg = self.cfg
        table = sincos_3d(cfg.embed_dim, cfg.grid, cfg.t_size).unsqueeze(0)
        if hasattr(self, "clip_pos_embed"):
            self.clip_pos_embed.copy_(table)
        if hasattr(self, "clip_img_pos_embed"):
            self.clip_img_pos_embed.copy_(sincos_3d(cfg.embed_dim, cfg.grid, 1).unsqueeze(0))
        if hasattr(self, "mae_pos_embed"):
            self.mae_pos_embed.copy_(table[:, 1:])
        for name in ("clip_decoder", "final_clip_decoder", "mae_decoder"):
            if hasattr(self, name):
                for m in getattr(self, name).modules():
                    if isinstance(m, nn.Linear):
                        nn.init.xavier_uniform_(m.weight)
                        nn.init.zeros_(m.bias)

    def forward(
        self, x: torch.Tensor, mask: torch.Tensor | None = None, use_image: bool | None = None
    ) -> PretrainOutput:
        """Run the student on the visible tokens (``mask``: True = masked) and decode teacher targets."""
        image = self._is_image(x, use_image)
        wanted = sorted(set(self.clip_return_index) | set(self.mae_return_index))
        x_vis, hidden = self.forward_intermediates(x, indices=wanted, mask=mask, use_image=image)
        by_block = dict(zip(wanted, hidden))
        if mask is not None:
            mask = self._check_mask(mask, 1 + (1 if image else self.cfg.t_size) * self.cfg.grid**2)
        x_pool = self.pool(x_vis)
        x_align = self.final_clip_decoder(x_pool) if hasattr(self, "final_clip_decoder") else None

        x_clip_align = None
        if self.clip_return_index:
            pos = self._video_pos(self.clip_pos_embed, getattr(self, "clip_img_pos_embed", None), image)
            if mask is not None:
                pos = self._select(pos, mask)
            x_clip_align = torch.stack(
                [
                    dec(by_block[i] + pos.to(x_vis.dtype))
                    for dec, i in zip(self.clip_decoder, self.clip_return_index)
                ]
            )
        x_mae_align = None
        if self.mae_return_index:
            if image:
                raise ValueError("the MAE decoders are defined for video inputs only")
            pos = self.mae_pos_embed
            if mask is not None:
                pos = self._select(pos, mask[:, 1:])
            x_mae_align = torch.stack(
                [
                    dec(by_block[i][:, 1:] + pos.to(x_vis.dtype))
                    for dec, i in zip(self.mae_decoder, self.mae_return_index)
                ]
            )
        return PretrainOutput(x_vis, x_pool, x_clip_align, x_align, x_mae_align)


def _init_linear_and_norm(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


__all__ = [
    "VisionConfig",
    "InternVideo2",
    "InternVideo2Pretrain",
    "PretrainOutput",
    "PatchEmbed",
    "count_params",
]
