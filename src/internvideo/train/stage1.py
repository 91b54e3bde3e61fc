"""Stage 1: masked video pretraining of an InternVideo2 student aligned to frozen teachers.

The student (:class:`~internvideo.models.vision.InternVideo2Pretrain`) encodes only the visible tokens of
a masked clip. Its decoders are aligned with the cosine loss ``mean(2 - 2 <s, t>)`` on L2-normalised
features (``reference/internvideo2_architecture.md`` §2.4):

* ``clip``: the last ``K`` hidden states of an image–text teacher, on the student's visible tokens (CLS
  included), through ``clip_decoder``;
* ``final``: the teacher's pooled feature, through ``final_clip_decoder``;
* ``mae``: the last ``K'`` hidden states of a video teacher on the visible patches, through ``mae_decoder``.

A teacher is any registered encoder (:class:`FrozenTeacher` wraps one, e.g. a checkpoint of our own
loaded with ``create_model(name, pretrained=PATH)``). Its token grid must match the student's. An image
teacher can run frame by frame (``per_frame=True``, as the official InternViT-6B teacher does): its CLS
is averaged over frames and its patches are concatenated over time. The teacher's CLS->patch pooling
attention drives attention-guided masks.

Without teachers, :class:`PixelReconstructionTask` trains :class:`MaskedPixelModel` (the encoder plus a
small decoder that fills in mask tokens) to predict the normalised pixels of the masked patches
(VideoMAE-style).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..data.masking import MaskConfig, make_mask, with_cls
from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD, resize
from ..errors import ConfigError
from ..models.layers import Block, sincos_3d
from ..models.vision import InternVideo2, InternVideo2Pretrain, VisionConfig
from .config import OptimConfig, ScheduleConfig, TrainConfig

logger = logging.getLogger(__name__)

__all__ = [
    "EncoderSpec",
    "FrozenTeacher",
    "MaskedPixelModel",
    "PixelReconstructionTask",
    "Stage1Recipe",
    "Stage1Task",
    "TeacherConfig",
    "TeacherOutput",
    "build_student",
    "cosine_loss",
    "export_encoder",
    "patchify",
    "resample_tokens",
    "run_stage1",
    "stage1_published",
    "stage1_tiny_synth",
    "vision_tower",
]

_ATTENTION_MASK = MaskConfig("attention", 0.8)
_TUBE_MASK = MaskConfig("tube", 0.75)
_DECODER_PREFIXES = (
    "clip_decoder.",
    "final_clip_decoder.",
    "mae_decoder.",
    "clip_pos_embed",
    "clip_img_pos_embed",
    "mae_pos_embed",
)


# ------------------------------------------------------------------------------------------- configs
@dataclass(frozen=True)
class EncoderSpec:
    """The student / classifier encoder geometry (mapped onto :class:`VisionConfig`)."""

    embed_dim: int = 64
    depth: int = 3
    num_heads: int = 4
    mlp_ratio: float = 4.0
    img_size: int = 48
    patch_size: int = 8
    num_frames: int = 8
    tubelet_size: int = 2
    attn_pool_num_heads: int = 4
    clip_embed_dim: int = 64
    drop_path_rate: float = 0.0
    # LayerScale start: the released models use 1e-5, which leaves a small model from scratch an identity
    # map for hundreds of steps; 0.1 lets its blocks learn at once (measured, 300 fine-tuning steps from
    # random, seeds 0/1/2: 42/20/31 % top-1 with 0.1 against 30/6/7 % with 1.0)
    init_values: float = 0.1
    # classifier-head initial scale: the released recipe's 0.001 slows a small model's start further
    init_scale: float = 1.0

    def vision_config(self, **extra: Any) -> VisionConfig:
        """A :class:`VisionConfig` of this geometry (exact GELU), with ``extra`` fields replaced."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return VisionConfig(gelu="none", **fields).replace(**extra)

    @classmethod
    def published(
        cls, embed_dim: int, depth: int, num_heads: int, drop_path_rate: float, mlp_ratio: float = 4.0
    ) -> EncoderSpec:
        """The released recipes' geometry: 8 frames at 224 px, patch 14, tubelet 1, 16 pooling heads, 768-d
        clip feature, LayerScale 1e-5 and head scale 0.001."""
        return cls(
            embed_dim=embed_dim,
            depth=depth,
            num_heads=num_heads,
            mlp_ratio=mlp_ratio,
            img_size=224,
            patch_size=14,
            num_frames=8,
            tubelet_size=1,
            attn_pool_num_heads=16,
            clip_embed_dim=768,
            drop_path_rate=drop_path_rate,
            init_values=1e-5,
            init_scale=0.001,
        )


@dataclass(frozen=True)
class TeacherConfig:
    """A frozen teacher: a registered model name, its weights, and which hidden states serve as targets.

    ``pretrained``: a file or ``save_pretrained`` folder; empty loads the released weights of a name
    with a tag (``arch.tag``, e.g. ``internvideo2_tiny_synth.synth``, the embedded default model) and
    leaves a bare architecture name with random weights (tests only). ``img_size``: 0 builds the teacher
    at the student's image size and frame count; the teacher's own size (e.g. 112 for the default model)
    keeps its geometry: clips are resized to it and its tokens resampled to the student's grid.
    """

    model: str = ""
    pretrained: str = ""
    layers: int = 2  # K: the last-K targets (teacher blocks depth-1-int(i*interval))
    interval: float = 1.0
    per_frame: bool = False  # run an image teacher on each frame separately
    img_size: int = 0

    @property
    def enabled(self) -> bool:
        return bool(self.model)


# ------------------------------------------------------------------------------------------- teachers
@dataclass
class TeacherOutput:
    """L2-normalised teacher targets: ``hidden (K, B, 1+N, C)``, ``pooled (B, E)``, ``attn (B, N)``."""

    hidden: torch.Tensor
    pooled: torch.Tensor
    attn: torch.Tensor


def _return_index(depth: int, k: int, interval: float) -> list[int]:
    return sorted(depth - 1 - int(i * interval) for i in range(k))


def vision_tower(model: nn.Module) -> InternVideo2:
    """The InternVideo2 encoder of ``model``: the model itself, or the ``vision_encoder`` of a video-text
    model (stage 2, the embedded default)."""
    enc = getattr(model, "vision_encoder", model)
    if not isinstance(enc, InternVideo2):
        raise ConfigError(
            f"a teacher must be an InternVideo2 encoder or a video-text model with one, got {type(model).__name__}"
        )
    return enc


def resample_tokens(x: torch.Tensor, src: tuple[int, int], dst: tuple[int, int]) -> torch.Tensor:
    """Patch tokens ``(..., T*G*G, C)`` of a ``src = (T, G)`` grid averaged onto a ``dst`` grid (area
    weights over time and space, ``adaptive_avg_pool3d``); ``C`` may be 1 (attention weights)."""
    if src == dst:
        return x
    (t, g), (t2, g2) = src, dst
    lead, c = x.shape[:-2], x.shape[-1]
    v = x.reshape(-1, t, g, g, c).permute(0, 4, 1, 2, 3).float()
    v = F.adaptive_avg_pool3d(v, (t2, g2, g2)).permute(0, 2, 3, 4, 1)
    return v.reshape(*lead, t2 * g2 * g2, c).to(x.dtype)


class FrozenTeacher(nn.Module):
    """Any InternVideo2 encoder (or a video-text model's vision tower) as a frozen target provider (no
    gradients, eval mode, never trained).

    ``img_size``: the teacher's own image size when it differs from the student's (each clip is resized to
    it, bilinearly with antialiasing). Targets come on the teacher's own token grid; :meth:`forward` with
    ``grid=(T, G)`` resamples them (and the attention weights) to a student's ``T x G x G`` grid.
    """

    def __init__(
        self,
        encoder: nn.Module,
        layers: int,
        interval: float = 1.0,
        per_frame: bool = False,
        img_size: int = 0,
    ):
        super().__init__()
        encoder = vision_tower(encoder)
        depth = encoder.cfg.depth
        self.index = _return_index(depth, layers, interval)
        if min(self.index) < 0:
            raise ConfigError(
                f"teacher has {depth} blocks; {layers} layers at interval {interval} do not fit"
            )
        if img_size and img_size != encoder.cfg.img_size:
            raise ConfigError(
                f"the teacher is built for {encoder.cfg.img_size} px clips, not {img_size} (img_size must be "
                "the teacher's own size, or 0 to build it at the student's)"
            )
        self.encoder = encoder.eval().requires_grad_(False)
        self.per_frame = per_frame
        self.img_size = img_size

    @classmethod
    def from_config(cls, cfg: TeacherConfig, **model_kwargs: Any) -> FrozenTeacher:
        """Build ``cfg``'s teacher; ``model_kwargs`` (the student's ``num_frames`` / ``img_size``) apply
        unless ``cfg.img_size`` keeps the teacher's own geometry."""
        from ..models.registry import create_model, split_name

        tagged = split_name(cfg.model)[1] is not None
        pretrained: bool | str = cfg.pretrained or tagged
        kwargs = {} if cfg.img_size else model_kwargs
        try:
            model = create_model(cfg.model, pretrained=pretrained, **kwargs)
        except TypeError as exc:  # a model that cannot be rebuilt at another geometry (video-text)
            if not kwargs:
                raise
            raise ConfigError(
                f"teacher {cfg.model} cannot be built at the student's frames and image size ({exc}); set "
                "its img_size to its own size to keep its geometry"
            ) from exc
        if not pretrained:
            logger.warning("teacher %s has random weights (no pretrained path given)", cfg.model)
        teacher = cls(model, cfg.layers, cfg.interval, cfg.per_frame, cfg.img_size)
        frames = model_kwargs.get("num_frames")
        if cfg.img_size and frames is not None and frames != teacher.encoder.cfg.num_frames:
            raise ConfigError(
                f"teacher {cfg.model} takes {teacher.encoder.cfg.num_frames} frames, the student {frames}"
            )
        return teacher

    @property
    def embed_dim(self) -> int:
        return self.encoder.cfg.embed_dim

    @property
    def pooled_dim(self) -> int:
        return self.encoder.cfg.clip_embed_dim

    @property
    def grid(self) -> tuple[int, int]:
        """The teacher's token grid ``(T, G)``: temporal slots (1 per frame when run per frame) and side."""
        c = self.encoder.cfg
        size = self.img_size or c.img_size
        return (c.num_frames if self.per_frame else c.t_size), size // c.patch_size

    def train(self, mode: bool = True) -> FrozenTeacher:  # a teacher always stays in eval mode
        return super().train(False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor, grid: tuple[int, int] | None = None) -> TeacherOutput:
        enc = self.encoder
        b, _, t = x.shape[:3]
        if self.img_size:  # (B, C, T, H, W) frames resized for the teacher (a no-op at its size)
            x = resize(x.transpose(1, 2), (self.img_size, self.img_size), antialias=True).transpose(1, 2)
        if self.per_frame:
            frames = x.transpose(1, 2).reshape(b * t, x.shape[1], 1, *x.shape[-2:])
            last, hidden = enc.forward_intermediates(frames, indices=self.index, use_image=True)
            pooled, attn = enc.clip_projector(last, return_attn=True)
            hs = []
            for h in hidden:  # (B*T, 1+L, C) -> CLS averaged over frames, patches concatenated over time
                h = h.reshape(b, t, *h.shape[1:])
                hs.append(torch.cat([h[:, :, 0].mean(1, keepdim=True), h[:, :, 1:].flatten(1, 2)], 1))
            pooled = pooled.reshape(b, t, -1).mean(1)
            attn = attn[:, 1:].reshape(b, -1)
        else:
            last, hs = enc.forward_intermediates(x, indices=self.index)
            pooled, attn = enc.clip_projector(last, return_attn=True)
            attn = attn[:, 1:]
        hidden = torch.stack(hs).float()
        attn = attn.float()
        if grid is not None and tuple(grid) != self.grid:
            hidden = torch.cat([hidden[:, :, :1], resample_tokens(hidden[:, :, 1:], self.grid, grid)], 2)
            attn = resample_tokens(attn[..., None], self.grid, grid)[..., 0]
        hidden = F.normalize(hidden, dim=-1)
        return TeacherOutput(hidden, F.normalize(pooled.float(), dim=-1), attn)


def cosine_loss(student: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The official alignment loss ``mean(2 - 2 <s, t>)`` on L2-normalised features (last dim)."""
    s = F.normalize(student.float(), dim=-1)
    t = F.normalize(target.float(), dim=-1)
    return (2.0 - 2.0 * (s * t).sum(-1)).mean()


def _visible(t: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Select the visible tokens of ``(K, B, N, C)`` targets with a ``(B, N)`` mask (True = masked)."""
    if mask is None:
        return t
    k, b, _, c = t.shape
    return t[:, ~mask].reshape(k, b, -1, c)


# ------------------------------------------------------------------------------------------- task
class Stage1Task:
    """Masked distillation from frozen teachers (also the S/B/L distillation task with one teacher).

    ``clip_teacher`` feeds ``clip`` (last-K hidden states) and ``final`` (pooled) targets; ``mae_teacher``
    feeds ``mae`` targets. Attention-guided masks use the CLIP teacher's attention (else the MAE
    teacher's). Loss = ``clip * L_clip + final * L_final + mae * L_mae``.
    """

    def __init__(
        self,
        clip_teacher: FrozenTeacher | None = None,
        mae_teacher: FrozenTeacher | None = None,
        mask: MaskConfig = _ATTENTION_MASK,
        clip: float = 1.0,
        final: float = 1.0,
        mae: float = 1.0,
    ) -> None:
        if clip_teacher is None and mae_teacher is None:
            raise ConfigError(
                "Stage1Task needs at least one teacher; use PixelReconstructionTask without one"
            )
        self.clip_teacher = clip_teacher
        self.mae_teacher = mae_teacher
        self.mask = mask
        self.w = {"clip": clip if clip_teacher else 0.0, "final": final if clip_teacher else 0.0}
        self.w["mae"] = mae if mae_teacher else 0.0

    def _teachers_to(self, device: torch.device) -> None:
        for t in (self.clip_teacher, self.mae_teacher):
            if t is not None and next(t.parameters()).device != device:
                t.to(device)

    def _mask(
        self, model: InternVideo2Pretrain, b: int, outs: dict[str, TeacherOutput], device: torch.device
    ):
        cfg = model.cfg
        attn = None
        if self.mask.kind == "attention":
            src = outs.get("clip") or outs.get("mae")
            attn = src.attn if src is not None else None
        return make_mask(self.mask, b, cfg.t_size, cfg.grid**2, attn=attn, device=device)

    def losses(self, model: InternVideo2Pretrain, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self._teachers_to(x.device)
        outs: dict[str, TeacherOutput] = {}
        grid = (model.cfg.t_size, model.cfg.grid)
        with torch.no_grad():
            if self.clip_teacher is not None:
                outs["clip"] = self.clip_teacher(x, grid)
            if self.mae_teacher is not None:
                outs["mae"] = self.mae_teacher(x, grid)
        mask = self._mask(model, x.shape[0], outs, x.device)
        out = model(x, mask)
        full = with_cls(mask) if mask is not None else None
        result: dict[str, torch.Tensor] = {}
        loss = torch.zeros((), device=x.device)
        if self.w["clip"]:
            result["clip"] = cosine_loss(out.x_clip_align, _visible(outs["clip"].hidden, full))
            loss = loss + self.w["clip"] * result["clip"]
        if self.w["final"]:
            result["final"] = cosine_loss(out.x_align, outs["clip"].pooled)
            loss = loss + self.w["final"] * result["final"]
        if self.w["mae"]:
            result["mae"] = cosine_loss(out.x_mae_align, _visible(outs["mae"].hidden[:, :, 1:], mask))
            loss = loss + self.w["mae"] * result["mae"]
        result["loss"] = loss
        return result

    def training_step(self, model: InternVideo2Pretrain, batch: Any) -> dict[str, torch.Tensor]:
        return self.losses(model, batch["video"])

    @torch.no_grad()
    def eval_step(self, model: InternVideo2Pretrain, batch: Any) -> dict[str, torch.Tensor]:
        return self.losses(model, batch["video"])


def build_student(
    spec: EncoderSpec,
    clip_teacher: FrozenTeacher | None = None,
    mae_teacher: FrozenTeacher | None = None,
    decoder: str = "linear",
) -> InternVideo2Pretrain:
    """An :class:`InternVideo2Pretrain` whose decoders match the teachers' widths and layer counts."""
    extra: dict[str, Any] = {}
    if clip_teacher is not None:
        extra.update(
            clip_decoder=decoder,
            clip_teacher_embed_dim=clip_teacher.embed_dim,
            clip_teacher_final_dim=clip_teacher.pooled_dim,
            clip_return_layer=len(clip_teacher.index),
        )
    if mae_teacher is not None:
        extra.update(mae_teacher_embed_dim=mae_teacher.embed_dim, mae_return_layer=len(mae_teacher.index))
    return InternVideo2Pretrain(spec.vision_config(**extra))


def export_encoder(model: nn.Module) -> InternVideo2:
    """The trunk of a stage-1 / distillation student (or of a :class:`MaskedPixelModel`) as a plain
    :class:`InternVideo2` with no head: the checkpoint fine-tuning starts from."""
    src = model.encoder if isinstance(model, MaskedPixelModel) else model
    cfg = src.cfg.replace(
        num_classes=0,
        clip_decoder="none",
        clip_teacher_embed_dim=0,
        clip_teacher_final_dim=0,
        clip_return_layer=0,
        mae_teacher_embed_dim=0,
        mae_return_layer=0,
    )
    enc = InternVideo2(cfg)
    sd = {k: v for k, v in src.state_dict().items() if not k.startswith(_DECODER_PREFIXES)}
    enc.load_state_dict(sd, strict=True)
    return enc


# ------------------------------------------------------------------------------------------- teacher-free
def patchify(x: torch.Tensor, patch: int, tubelet: int) -> torch.Tensor:
    """``(B, C, T, H, W) -> (B, N, tubelet*patch*patch*C)`` in the encoder's token order (time-major)."""
    b, c, t, h, w = x.shape
    x = x.reshape(b, c, t // tubelet, tubelet, h // patch, patch, w // patch, patch)
    x = x.permute(0, 2, 4, 6, 3, 5, 7, 1)  # B, t, h, w, tubelet, p, p, C
    return x.reshape(b, (t // tubelet) * (h // patch) * (w // patch), -1)


class MaskedPixelModel(nn.Module):
    """Encoder (visible tokens) + a small transformer decoder that predicts every masked patch's pixels."""

    def __init__(
        self, encoder: InternVideo2, decoder_dim: int = 64, decoder_depth: int = 1, decoder_heads: int = 4
    ):
        super().__init__()
        cfg = encoder.cfg
        self.encoder = encoder
        self.cfg = cfg
        n = cfg.t_size * cfg.grid**2
        self.decoder_embed = nn.Linear(cfg.embed_dim, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.register_buffer(
            "decoder_pos",
            sincos_3d(decoder_dim, cfg.grid, cfg.t_size, cls_token=False)[None],
            persistent=False,
        )
        self.decoder_blocks = nn.ModuleList(
            Block(decoder_dim, decoder_heads, 4 * decoder_dim, qkv_bias=True, qk_norm=False, init_values=0.0)
            for _ in range(decoder_depth)
        )
        self.decoder_norm = nn.LayerNorm(decoder_dim)
        self.decoder_pred = nn.Linear(decoder_dim, cfg.tubelet_size * cfg.patch_size**2 * cfg.in_chans)
        nn.init.trunc_normal_(self.mask_token, std=0.02)
        self.num_tokens = n

    def no_weight_decay(self) -> set[str]:
        return {f"encoder.{k}" for k in self.encoder.no_weight_decay()} | {"mask_token"}

    def get_num_layers(self) -> int:
        return self.encoder.get_num_layers()

    def get_layer_id(self, name: str) -> int:
        if name.startswith("encoder."):
            return self.encoder.get_layer_id(name[len("encoder.") :])
        return self.encoder.cfg.depth + 1

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Predictions ``(B, N_masked, tubelet*p*p*C)`` for the masked tokens (``mask``: ``(B, N)``, True = masked)."""
        vis = self.encoder.forward_features(x, mask=mask)[:, 1:]  # drop CLS
        b = x.shape[0]
        pos = self.decoder_pos.expand(b, -1, -1).to(vis.dtype)
        d = pos.shape[-1]
        vis = self.decoder_embed(vis) + pos[~mask].reshape(b, -1, d)
        masked = self.mask_token.to(vis.dtype) + pos[mask].reshape(b, -1, d)
        h = torch.cat([vis, masked], dim=1)
        for blk in self.decoder_blocks:
            h = blk(h)
        h = self.decoder_norm(h[:, vis.shape[1] :])
        return self.decoder_pred(h)


class PixelReconstructionTask:
    """VideoMAE-style target: the masked patches' pixels, each patch normalised by its own mean and std
    (``norm_pix``); MSE over masked patches. ``mean``/``std`` undo the input normalisation first."""

    def __init__(
        self,
        mask: MaskConfig = _TUBE_MASK,
        norm_pix: bool = True,
        mean: tuple[float, float, float] = IMAGENET_MEAN,
        std: tuple[float, float, float] = IMAGENET_STD,
    ) -> None:
        if mask.kind not in ("tube", "random"):
            raise ConfigError(f"pixel reconstruction needs a tube or random mask, got {mask.kind!r}")
        self.mask = mask
        self.norm_pix = norm_pix
        self.mean, self.std = mean, std

    def targets(self, model: MaskedPixelModel, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        cfg = model.cfg
        m = torch.tensor(self.mean, device=x.device).view(1, -1, 1, 1, 1)
        s = torch.tensor(self.std, device=x.device).view(1, -1, 1, 1, 1)
        pix = patchify(x.float() * s + m, cfg.patch_size, cfg.tubelet_size)
        if self.norm_pix:
            pix = (pix - pix.mean(-1, keepdim=True)) / (
                pix.var(-1, unbiased=True, keepdim=True) + 1e-6
            ).sqrt()
        return pix[mask].reshape(x.shape[0], -1, pix.shape[-1])

    def losses(self, model: MaskedPixelModel, x: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg = model.cfg
        mask = make_mask(self.mask, x.shape[0], cfg.t_size, cfg.grid**2, device=x.device)
        assert mask is not None
        pred = model(x, mask)
        loss = F.mse_loss(pred.float(), self.targets(model, x, mask))
        return {"loss": loss}

    def training_step(self, model: MaskedPixelModel, batch: Any) -> dict[str, torch.Tensor]:
        return self.losses(model, batch["video"])

    @torch.no_grad()
    def eval_step(self, model: MaskedPixelModel, batch: Any) -> dict[str, torch.Tensor]:
        return self.losses(model, batch["video"])


# ------------------------------------------------------------------------------------------- recipes
@dataclass(frozen=True)
class ClipData:
    """Video clips for a stage: a manifest / list file (labels unused in stage 1) and how to sample them."""

    train: str = "data/synth_stage_bench_plain/train.jsonl"
    test: str = "data/synth_stage_bench_plain/test.jsonl"
    limit: int | None = None  # use only the first N training rows (None: all)
    # training frame sampling (random_segment, rand, stride, ...); test views follow it (stride -> strided
    # views, anything else -> segment views)
    sampling: str = "random_segment"
    cache: bool = True
    workers: int = 0
    # synthetic world generated when the train manifest is missing (0 clips: never generate)
    synth_train_clips: int = 2040
    synth_test_clips: int = 340
    synth_size: int = 64
    synth_seed: int = 1
    synth_plain: bool = True  # plain backgrounds and no distractors


@dataclass(frozen=True)
class Stage1Recipe:
    """A stage-1 run: student geometry, teachers (or the teacher-free pixel target), mask and training."""

    encoder: EncoderSpec = field(default_factory=EncoderSpec)
    data: ClipData = field(default_factory=ClipData)
    clip_teacher: TeacherConfig = field(default_factory=TeacherConfig)
    mae_teacher: TeacherConfig = field(default_factory=TeacherConfig)
    decoder: str = "linear"
    mask: MaskConfig = field(default_factory=lambda: MaskConfig("tube", 0.75))
    loss_clip: float = 1.0
    loss_final: float = 1.0
    loss_mae: float = 1.0
    # teacher-free pixel reconstruction (used when no teacher is configured)
    norm_pix: bool = True
    decoder_dim: int = 64
    decoder_depth: int = 1
    crop_scale: tuple[float, float] = (0.7, 1.0)
    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            steps=600,
            batch_size=32,
            optim=OptimConfig(lr=1.5e-3, weight_decay=0.05, betas=(0.9, 0.95)),
            schedule=ScheduleConfig(warmup_steps=60, min_lr_ratio=0.01),
            clip_grad_norm=3.0,
            log_every=20,
            ckpt_every=200,
            keep_last=1,
            out_dir="runs/stage1_tiny_synth",
        )
    )


def stage1_tiny_synth() -> Stage1Recipe:
    """Teacher-free stage 1 (tube mask 0.75, normalised-pixel target) of a tiny encoder on the synthetic
    world, frames at a fixed stride; ``benchmarks/stage1_helps.py`` adds the default model as teacher."""
    return Stage1Recipe(data=ClipData(sampling="stride"))


def stage1_published() -> Stage1Recipe:
    """The published InternVideo2-1B stage-1 setting (documented; needs the teachers' weights and a cluster).

    InternViT-6B (image-text, per frame, last 6 layers + pooled 768-d) and VideoMAEv2-g (last 4 layers)
    teachers, attention-guided mask 0.8, 8 frames at 224 px, AdamW (0.9, 0.98) eps 1e-6, lr 2.4e-3 at
    batch 4096, 300 epochs with 40 of warm-up, drop path 0.25, clip 3.0, bf16.
    """
    return Stage1Recipe(
        encoder=EncoderSpec.published(1408, 40, 16, drop_path_rate=0.25, mlp_ratio=48 / 11),
        data=ClipData(train="data/kmash/train.csv", test="", cache=False, workers=8, synth_train_clips=0),
        clip_teacher=TeacherConfig("internvit_6b", "internvl_c_13b_224px.pth", layers=6, per_frame=True),
        mae_teacher=TeacherConfig("videomae_g14", "vit_g_hybrid_pt_1200e.pth", layers=4),
        mask=MaskConfig("attention", 0.8, per_frame=True),
        train=TrainConfig(
            epochs=300,
            batch_size=32,
            optim=OptimConfig(lr=2.4e-3, weight_decay=0.05, betas=(0.9, 0.98), eps=1e-6),
            schedule=ScheduleConfig(warmup_steps=11_000, min_lr_ratio=0.0),
            clip_grad_norm=3.0,
            precision="bf16",
            num_workers=8,
            log_every=50,
            ckpt_every=2000,
            out_dir="runs/stage1_1b",
        ),
    )


def ensure_clip_data(d: ClipData) -> None:
    """Generate the synthetic world of ``d`` when its train manifest is missing (and generation is on)."""
    if Path(d.train).exists() or d.synth_train_clips <= 0:
        return
    from ..data.synth import generate_world

    root = Path(d.train).parent
    logger.info("generating the synthetic world in %s", root)
    generate_world(
        root,
        num_clips={"train": d.synth_train_clips, "test": d.synth_test_clips},
        size=d.synth_size,
        seed=d.synth_seed,
        workers=2,
        progress=False,
        **({"backgrounds": ("plain",), "distractors": (0, 0)} if d.synth_plain else {}),
    )


def clip_dataset(
    d: ClipData, transform, num_frames: int, seed: int = 0, limit: int | None = None, **kwargs: Any
):
    """A :class:`~internvideo.data.labelled.LabelledVideoDataset` over ``d.train`` (first ``limit`` rows)."""
    from ..data.labelled import LabelledVideoDataset, read_labelled

    ensure_clip_data(d)
    rows = read_labelled(d.train)
    limit = limit if limit is not None else d.limit
    if limit is not None:
        rows = rows[:limit]
    return LabelledVideoDataset(
        rows,
        num_frames=num_frames,
        transform=transform,
        sampling=d.sampling,
        cache=d.cache,
        workers=d.workers,
        seed=seed,
        **kwargs,
    )


def run_stage1(recipe: Stage1Recipe, resume: bool = True, hooks=()) -> nn.Module:
    """Train stage 1 and write ``out_dir/final`` (the whole student, ``save_pretrained``) and
    ``out_dir/encoder`` (its trunk as a plain encoder, for fine-tuning). Returns the student."""
    from ..data.labelled import collate_labelled
    from ..data.transforms import build_train_transform
    from ..models.hub import save_pretrained
    from .distributed import get_rank
    from .loop import Trainer

    e = recipe.encoder
    transform = build_train_transform(e.img_size, scale=recipe.crop_scale, hflip=0.0)
    data = clip_dataset(recipe.data, transform, e.num_frames, seed=recipe.train.seed)
    torch.manual_seed(recipe.train.seed)
    teacher_kw = {"num_frames": e.num_frames, "img_size": e.img_size}
    clip_t = (
        FrozenTeacher.from_config(recipe.clip_teacher, **teacher_kw) if recipe.clip_teacher.enabled else None
    )
    mae_t = (
        FrozenTeacher.from_config(recipe.mae_teacher, **teacher_kw) if recipe.mae_teacher.enabled else None
    )
    if clip_t is None and mae_t is None:
        model: nn.Module = MaskedPixelModel(
            InternVideo2(e.vision_config()),
            recipe.decoder_dim,
            recipe.decoder_depth,
            max(1, recipe.decoder_dim // 32),
        )
        task: Any = PixelReconstructionTask(recipe.mask, recipe.norm_pix)
    else:
        model = build_student(e, clip_t, mae_t, recipe.decoder)
        task = Stage1Task(clip_t, mae_t, recipe.mask, recipe.loss_clip, recipe.loss_final, recipe.loss_mae)
    trainer = Trainer(
        model, task, data, recipe.train, collate_fn=collate_labelled, hooks=hooks, run_config=recipe
    )
    trainer.fit(resume=resume)
    out = Path(recipe.train.out_dir)
    if get_rank() == 0:
        model.eval()
        if not isinstance(model, MaskedPixelModel):
            save_pretrained(model, out / "final", model_name="internvideo2_pretrain_tiny_patch14_56")
        save_pretrained(export_encoder(model), out / "encoder", model_name="internvideo2_tiny_patch14_56")
        (out / "skipped.json").write_text(json.dumps(data.skipped, indent=1) + "\n")
        logger.info("stage 1 finished: encoder saved to %s", out / "encoder")
    return model
