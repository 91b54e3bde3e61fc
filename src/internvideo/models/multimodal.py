"""Video–text models: the InternVideo2 stage-2 model and its dual-encoder API.

:class:`InternVideo2Stage2` = a vision encoder + a BERT whose top layers fuse the video through
cross-attention (``reference/internvideo2_architecture.md`` §6.1): ``vision_proj`` / ``text_proj`` map the
pooled video feature and the text CLS (after the text-only layers) into a joint space, ``itm_head`` scores
video–text matching on the fused CLS, ``temp`` is the contrastive temperature. Key names equal the official
checkpoint's (``vision_encoder.*``, ``text_encoder.bert.*``, ``text_encoder.cls.*``, ...).

The dual-encoder verbs follow open_clip / Hugging Face X-CLIP: ``encode_video(x, normalize=)``,
``encode_text(ids, mask, normalize=)``, ``logit_scale`` and outputs with ``logits_per_video``,
``logits_per_text``, ``video_embeds``, ``text_embeds``. Videos are ``(B, C, T, H, W)`` like every encoder
here; :func:`btchw_to_bcthw` converts the ``(B, T, C, H, W)`` layout of the official wrappers and HF
processors.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError, ConfigError
from .text import BertConfig, BertForMaskedLM, load_bert_state_dict
from .vision import InternVideo2, InternVideo2Pretrain, VisionConfig

logger = logging.getLogger(__name__)


def btchw_to_bcthw(x: torch.Tensor) -> torch.Tensor:
    """``(B, T, C, H, W)`` (official stage-2 wrappers, HF processors) → ``(B, C, T, H, W)`` (our encoders)."""
    if x.ndim != 5:
        raise ValueError(f"expected a 5-D video batch, got shape {tuple(x.shape)}")
    return x.permute(0, 2, 1, 3, 4)


@dataclass(frozen=True)
class Stage2Config:
    """A stage-2 video–text model: vision tower, BERT text tower and the joint-space size."""

    vision: VisionConfig
    text: BertConfig
    embed_dim: int = 512
    temp: float = 0.07
    max_txt_len: int = 40
    # where the tokenizer vocabulary comes from: "minilm" (the packaged bert-base-uncased vocab) or a path
    vocab: str = "minilm"
    # retrieval text feature: "cls" (upstream: CLS after the text-only layers) or "mean" (masked mean of
    # those tokens, the sentence embedding of MiniLM-style towers)
    text_pooling: Literal["cls", "mean"] = "cls"

    def __post_init__(self) -> None:
        if self.text.fusion_layer is None or not self.text.has_fusion:
            raise ConfigError(
                "the stage-2 text tower needs fusion layers (BertConfig.fusion_layer < num layers)"
            )
        if self.text_pooling not in ("cls", "mean"):
            raise ConfigError(f"text_pooling must be 'cls' or 'mean', got {self.text_pooling!r}")
        if self.text.cross_width != self.vision.embed_dim:
            raise ConfigError(
                f"BERT cross-attention width {self.text.cross_width} must equal the vision width "
                f"{self.vision.embed_dim} (the fusion memory is the raw vision tokens)"
            )


@dataclass
class VideoTextOutput:
    """HF-style outputs of a video–text forward pass (embeddings L2-normalised)."""

    logits_per_video: torch.Tensor  # (B_video, B_text), scaled by logit_scale
    logits_per_text: torch.Tensor  # (B_text, B_video)
    video_embeds: torch.Tensor  # (B_video, embed_dim)
    text_embeds: torch.Tensor  # (B_text, embed_dim)


class InternVideo2Stage2(nn.Module):
    """InternVideo2 stage-2 video–text model (vision encoder + fusion BERT + projections + ITM head)."""

    def __init__(self, cfg: Stage2Config) -> None:
        super().__init__()
        self.cfg = cfg
        v = cfg.vision
        if v.clip_decoder != "none":
            self.vision_encoder: InternVideo2 = InternVideo2Pretrain(v)
        else:
            self.vision_encoder = InternVideo2(v.replace(num_classes=0))
        self.text_encoder = BertForMaskedLM(cfg.text)
        self.vision_proj = nn.Linear(v.clip_embed_dim, cfg.embed_dim)
        self.text_proj = nn.Linear(cfg.text.hidden_size, cfg.embed_dim)
        self.itm_head = nn.Linear(cfg.text.hidden_size, 2)
        self.temp = nn.Parameter(torch.tensor(float(cfg.temp)))
        self._tokenizer = None

    # ------------------------------------------------------------------ conveniences
    @property
    def logit_scale(self) -> torch.Tensor:
        """``log(1 / temp)``, in the open_clip / HF CLIP convention: logits are ``logit_scale.exp() * cos``."""
        return -torch.log(self.temp)

    def no_weight_decay(self) -> set[str]:
        return {"temp"} | {f"vision_encoder.{n}" for n in self.vision_encoder.no_weight_decay()}

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        self.vision_encoder.set_grad_checkpointing(enable)
        self.text_encoder.set_grad_checkpointing(enable)

    @property
    def tokenizer(self):
        """The WordPiece tokenizer of this model (``max_length = cfg.max_txt_len``)."""
        if self._tokenizer is None:
            from .tokenizer import BertTokenizer

            if self.cfg.vocab == "minilm":
                from .minilm import minilm_dir

                vocab = minilm_dir() / "vocab.txt"
            else:
                vocab = Path(self.cfg.vocab)
            self._tokenizer = BertTokenizer.from_vocab(
                vocab, max_length=self.cfg.max_txt_len, padding="longest"
            )
        return self._tokenizer

    def tokenize(self, texts: Sequence[str]) -> dict[str, torch.Tensor]:
        """Pre-process (InternVideo2 caption cleaning) and tokenize texts → ``input_ids``, ``attention_mask``."""
        from .tokenizer import pre_text

        device = self.temp.device
        return {k: v.to(device) for k, v in self.tokenizer([pre_text(t) for t in texts]).items()}

    # ------------------------------------------------------------------ towers
    def encode_vision(
        self, video: torch.Tensor, use_image: bool | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(vision_embeds (B, N, C) raw last-block tokens, pooled (B, clip_embed_dim))``."""
        tokens = self.vision_encoder.forward_features(video, use_image=use_image)
        return tokens, self.vision_encoder.pool(tokens)

    def encode_video(self, video: torch.Tensor, normalize: bool = True) -> torch.Tensor:
        """Joint-space video embedding ``(B, embed_dim)``."""
        feat = self.vision_proj(self.encode_vision(video)[1])
        return F.normalize(feat, dim=-1) if normalize else feat

    def encode_text_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Hidden states after the text-only layers ``(B, L, hidden)`` (the fusion layers' input)."""
        return self.text_encoder.bert(
            input_ids=input_ids, attention_mask=attention_mask, mode="text"
        ).last_hidden_state

    def encode_text(
        self,
        input_ids: torch.Tensor | Sequence[str],
        attention_mask: torch.Tensor | None = None,
        normalize: bool = True,
    ) -> torch.Tensor:
        """Joint-space text embedding ``(B, embed_dim)`` from token ids (or raw strings)."""
        if not isinstance(input_ids, torch.Tensor):
            tok = self.tokenize(list(input_ids))
            input_ids, attention_mask = tok["input_ids"], tok["attention_mask"]
        if attention_mask is None:
            attention_mask = (input_ids != self.cfg.text.pad_token_id).long()
        feat = self.text_feature(self.encode_text_tokens(input_ids, attention_mask), attention_mask)
        return F.normalize(feat, dim=-1) if normalize else feat

    def text_pool(self, text_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The pooled text-only hidden state ``(B, hidden)`` (CLS or masked mean, per ``cfg.text_pooling``)."""
        if self.cfg.text_pooling == "cls":
            return text_embeds[:, 0]
        m = attention_mask.to(text_embeds.dtype).unsqueeze(-1)
        return (text_embeds * m).sum(1) / m.sum(1).clamp_min(1.0)

    def text_feature(self, text_embeds: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Joint-space text feature (not normalised) from the text-only hidden states."""
        return self.text_proj(self.text_pool(text_embeds, attention_mask))

    def fuse(
        self, vision_embeds: torch.Tensor, text_embeds: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Run the fusion layers over text hidden states with the video tokens as memory → ``(B, L, hidden)``."""
        vision_mask = torch.ones(vision_embeds.shape[:2], dtype=torch.long, device=vision_embeds.device)
        return self.text_encoder.bert(
            encoder_embeds=text_embeds,
            attention_mask=attention_mask,
            encoder_hidden_states=vision_embeds,
            encoder_attention_mask=vision_mask,
            mode="fusion",
        ).last_hidden_state

    def itm_logits(
        self, vision_embeds: torch.Tensor, text_embeds: torch.Tensor, attention_mask: torch.Tensor
    ) -> torch.Tensor:
        """Matching logits ``(B, 2)`` for aligned pairs (class 1 = "matches")."""
        return self.itm_head(self.fuse(vision_embeds, text_embeds, attention_mask)[:, 0])

    def itm_score_matrix(
        self,
        vision_embeds: torch.Tensor,
        text_embeds: torch.Tensor,
        attention_mask: torch.Tensor,
        batch_size: int = 64,
    ) -> torch.Tensor:
        """``score[i, j]`` = matching logit (class 1) of text ``j`` fused with video ``i``."""
        nv, nt = vision_embeds.shape[0], text_embeds.shape[0]
        vi = torch.arange(nv).repeat_interleave(nt)
        ti = torch.arange(nt).repeat(nv)
        out = []
        for s in range(0, nv * nt, batch_size):
            v, t = vi[s : s + batch_size], ti[s : s + batch_size]
            out.append(self.itm_logits(vision_embeds[v], text_embeds[t], attention_mask[t])[:, 1])
        return torch.cat(out).view(nv, nt)

    def forward(
        self, video: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> VideoTextOutput:
        """Contrastive logits between every video and every text of the batch."""
        v = self.encode_video(video)
        t = self.encode_text(input_ids, attention_mask)
        logits = self.logit_scale.exp() * v @ t.t()
        return VideoTextOutput(logits, logits.t(), v, t)

    # ------------------------------------------------------------------ upstream checkpoints
    def load_upstream_state_dict(
        self, sd: Mapping[str, torch.Tensor], orig_num_frames: int | None = None, source: str = "checkpoint"
    ) -> None:
        """Load an official stage-2 checkpoint (already unwrapped) strictly, tower by tower."""
        from .convert import load_state_dict_strict, remap_vision_state_dict

        sd = dict(sd)
        towers = ("vision_encoder.", "text_encoder.")
        heads = {k: v for k, v in sd.items() if not k.startswith(towers)}
        vis = {k[len("vision_encoder.") :]: v for k, v in sd.items() if k.startswith("vision_encoder.")}
        if not vis:
            raise CheckpointError(f"{source}: no vision_encoder.* keys; is this a stage-2 checkpoint?")
        vis = remap_vision_state_dict(
            vis, self.vision_encoder, orig_num_frames=orig_num_frames, source=source
        )
        load_state_dict_strict(self.vision_encoder, vis, source=f"{source} [vision_encoder]")
        load_bert_state_dict(self.text_encoder, sd, prefix="text_encoder.", source=f"{source} [text_encoder]")
        own_heads = {k: v for k, v in self.state_dict().items() if not k.startswith(towers)}
        missing = sorted(set(own_heads) - set(heads))
        unexpected = sorted(set(heads) - set(own_heads))
        if missing or unexpected:
            raise CheckpointError(
                f"{source}: head keys do not match InternVideo2Stage2: missing {missing}, unexpected {unexpected}"
            )
        for k, v in heads.items():
            if v.shape != own_heads[k].shape:
                raise CheckpointError(
                    f"{source}: {k}: checkpoint {tuple(v.shape)} vs model {tuple(own_heads[k].shape)}"
                )
        self.load_state_dict(heads, strict=False)


def stage2_config_from_upstream(
    vision: VisionConfig, bert_config: str | Path | Mapping, embed_dim: int, fusion_layer: int, **kw: object
) -> Stage2Config:
    """Compose a :class:`Stage2Config` the way the official ``build_bert`` does (encoder width = vision width)."""
    text = BertConfig.from_hf_json(bert_config, fusion_layer=fusion_layer, encoder_width=vision.embed_dim)
    return Stage2Config(vision=vision, text=text, embed_dim=embed_dim, **kw)  # type: ignore[arg-type]


__all__ = [
    "InternVideo2Stage2",
    "Stage2Config",
    "VideoTextOutput",
    "btchw_to_bcthw",
    "stage2_config_from_upstream",
]
