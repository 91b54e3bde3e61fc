"""BERT text tower with optional cross-attention fusion layers (InternVideo2 stage-2 "xbert").

Post-LN BERT whose module names reproduce the Hugging Face ``BertModel`` state-dict keys
(``embeddings.*``, ``encoder.layer.{i}.attention.self.query``, ...), so checkpoints from the Hub and
the ``text_encoder.bert.*`` / ``text_encoder.cls.*`` part of InternVideo2 stage-2 checkpoints load with
strict key checks. Layers ``i >= fusion_layer`` carry a cross-attention block
(``encoder.layer.{i}.crossattention.*``) over a memory of width ``encoder_width`` (the video tokens).

Three modes, as in the official code:

* ``"text"``: embeddings + layers ``0 .. fusion_layer-1`` (no cross-attention). The text feature
  of InternVideo2 is the CLS token of this output.
* ``"fusion"``: starts from ``encoder_embeds`` (hidden states of a ``"text"`` pass) and runs layers
  ``fusion_layer ..`` with cross-attention over ``encoder_hidden_states``.
* ``"multi_modal"``: embeddings + all layers, cross-attention in the fusion layers.

Masks: the self-attention padding mask becomes ``(1 - mask) * -10000``; the cross-attention mask
``(1 - mask) * finfo(dtype).min`` (both built in the dtype the attention runs in).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from internvideo.errors import CheckpointError, ConfigError

logger = logging.getLogger(__name__)

Mode = Literal["text", "fusion", "multi_modal"]

SELF_ATTN_MASK_VALUE = -10000.0

_ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu")


@dataclass(frozen=True)
class BertConfig:
    """Architecture of a BERT tower (field names follow Hugging Face ``config.json``)."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    layer_norm_eps: float = 1e-12
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    pad_token_id: int = 0
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    # Layers with index >= fusion_layer get cross-attention. None (or num_hidden_layers): no fusion.
    fusion_layer: int | None = None
    # Width of the cross-attention memory (key/value input). None: hidden_size.
    encoder_width: int | None = None

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_attention_heads:
            raise ConfigError(
                f"BertConfig: hidden_size {self.hidden_size} is not divisible by "
                f"num_attention_heads {self.num_attention_heads}"
            )
        if self.hidden_act not in _ACTIVATIONS:
            raise ConfigError(f"BertConfig: hidden_act {self.hidden_act!r} is not one of {_ACTIVATIONS}")
        if self.fusion_layer is not None and not 0 <= self.fusion_layer <= self.num_hidden_layers:
            raise ConfigError(
                f"BertConfig: fusion_layer {self.fusion_layer} must lie in [0, {self.num_hidden_layers}]"
            )

    @property
    def num_text_layers(self) -> int:
        """Number of layers run in ``"text"`` mode (the layers without cross-attention)."""
        return self.num_hidden_layers if self.fusion_layer is None else self.fusion_layer

    @property
    def has_fusion(self) -> bool:
        """Whether any layer carries cross-attention."""
        return self.num_text_layers < self.num_hidden_layers

    @property
    def cross_width(self) -> int:
        """Width of the cross-attention memory."""
        return self.hidden_size if self.encoder_width is None else self.encoder_width

    @classmethod
    def from_hf_json(cls, path_or_dict: str | Path | Mapping[str, Any], **overrides: Any) -> BertConfig:
        """Build from a Hugging Face BERT ``config.json`` (a path or an already parsed dict).

        Unknown keys are ignored; ``fusion_layer`` / ``encoder_width`` are honoured when present.
        ``overrides`` replace values afterwards (InternVideo2 sets ``encoder_width`` to the vision
        width and ``fusion_layer`` from its model config).
        """
        if isinstance(path_or_dict, Mapping):
            raw = dict(path_or_dict)
            source = "<dict>"
        else:
            source = str(path_or_dict)
            try:
                raw = json.loads(Path(path_or_dict).read_text())
            except (OSError, json.JSONDecodeError) as exc:
                raise ConfigError(f"cannot read BERT config {source!r}: {exc}") from exc
        pos_type = raw.get("position_embedding_type", "absolute")
        if pos_type != "absolute":
            raise ConfigError(
                f"BERT config {source!r}: position_embedding_type {pos_type!r} is not supported "
                "(only 'absolute')"
            )
        names = {f.name for f in fields(cls)}
        known = {k: v for k, v in raw.items() if k in names}
        ignored = sorted(set(raw) - names)
        if ignored:
            logger.debug("BERT config %s: ignoring keys %s", source, ignored)
        known.update(overrides)
        return cls(**known)

    def with_fusion(self, fusion_layer: int | None, encoder_width: int | None = None) -> BertConfig:
        """A copy with other fusion settings."""
        return replace(self, fusion_layer=fusion_layer, encoder_width=encoder_width)


def _activation(name: str) -> nn.Module:
    if name == "gelu":
        return nn.GELU()  # erf form, as BERT was trained
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return nn.GELU(approximate="tanh")
    return nn.ReLU()


def _additive_mask(mask: Tensor | None, dtype: torch.dtype, fill: float | None) -> Tensor | None:
    """Turn a 0/1 mask ``(B, Lk)`` or ``(B, Lq, Lk)`` into an additive SDPA mask ``(B, 1, *, Lk)``.

    ``fill=None`` uses ``finfo(dtype).min``. A 4-dim mask is taken as already broadcastable.
    """
    if mask is None:
        return None
    if mask.dim() == 2:
        mask = mask[:, None, None, :]
    elif mask.dim() == 3:
        mask = mask[:, None, :, :]
    elif mask.dim() != 4:
        raise ValueError(f"attention mask must have 2, 3 or 4 dims, got shape {tuple(mask.shape)}")
    value = torch.finfo(dtype).min if fill is None else fill
    return (1.0 - mask.to(dtype)) * value


def _compute_dtype(x: Tensor) -> torch.dtype:
    """The dtype attention will run in: the autocast dtype when autocast is on, else ``x.dtype``."""
    device_type = x.device.type
    try:
        if torch.is_autocast_enabled(device_type):
            return torch.get_autocast_dtype(device_type)
    except (TypeError, AttributeError):  # torch < 2.4
        if device_type == "cpu" and torch.is_autocast_cpu_enabled():
            return torch.get_autocast_cpu_dtype()
        if device_type == "cuda" and torch.is_autocast_enabled():
            return torch.get_autocast_gpu_dtype()
    return x.dtype


class BertEmbeddings(nn.Module):
    """Word + token-type + absolute position embeddings, then LayerNorm and dropout."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=cfg.pad_token_id)
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, input_ids: Tensor, token_type_ids: Tensor | None = None) -> Tensor:
        seq_len = input_ids.shape[1]
        if seq_len > self.position_embeddings.num_embeddings:
            raise ValueError(
                f"sequence length {seq_len} exceeds max_position_embeddings "
                f"{self.position_embeddings.num_embeddings}; tokenise with a smaller max_length"
            )
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        positions = torch.arange(seq_len, device=input_ids.device)[None]
        x = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        x = x + self.position_embeddings(positions)
        return self.dropout(self.LayerNorm(x))


class BertSelfAttention(nn.Module):
    """Multi-head attention projections (``query`` / ``key`` / ``value``) run through SDPA."""

    def __init__(self, cfg: BertConfig, kv_width: int | None = None) -> None:
        super().__init__()
        self.num_heads = cfg.num_attention_heads
        self.head_dim = cfg.hidden_size // cfg.num_attention_heads
        kv_width = cfg.hidden_size if kv_width is None else kv_width
        self.query = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.key = nn.Linear(kv_width, cfg.hidden_size)
        self.value = nn.Linear(kv_width, cfg.hidden_size)
        self.dropout_p = cfg.attention_probs_dropout_prob

    def _split(self, x: Tensor) -> Tensor:
        b, n, _ = x.shape
        return x.view(b, n, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, hidden: Tensor, memory: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        kv = hidden if memory is None else memory
        q = self._split(self.query(hidden))
        k = self._split(self.key(kv))
        v = self._split(self.value(kv))
        if mask is not None and mask.dtype != q.dtype:
            mask = mask.to(q.dtype)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout_p if self.training else 0.0
        )
        b, _, n, _ = out.shape
        return out.transpose(1, 2).reshape(b, n, self.num_heads * self.head_dim)


class BertResidualOutput(nn.Module):
    """Projection to the hidden size, dropout and post-LN residual (after attention and after the FFN)."""

    def __init__(self, cfg: BertConfig, in_features: int) -> None:
        super().__init__()
        self.dense = nn.Linear(in_features, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.hidden_dropout_prob)

    def forward(self, x: Tensor, residual: Tensor) -> Tensor:
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class BertAttention(nn.Module):
    """``self`` (attention) + ``output`` (dense, LayerNorm); used for self- and cross-attention."""

    def __init__(self, cfg: BertConfig, kv_width: int | None = None) -> None:
        super().__init__()
        self.self = BertSelfAttention(cfg, kv_width)
        self.output = BertResidualOutput(cfg, cfg.hidden_size)

    def forward(self, hidden: Tensor, memory: Tensor | None = None, mask: Tensor | None = None) -> Tensor:
        return self.output(self.self(hidden, memory, mask), hidden)


class BertIntermediate(nn.Module):
    """First FFN projection and activation."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)
        self.intermediate_act_fn = _activation(cfg.hidden_act)

    def forward(self, x: Tensor) -> Tensor:
        return self.intermediate_act_fn(self.dense(x))


class BertLayer(nn.Module):
    """Post-LN transformer layer: self-attention, optional cross-attention, FFN."""

    def __init__(self, cfg: BertConfig, cross_attention: bool = False) -> None:
        super().__init__()
        self.attention = BertAttention(cfg)
        self.has_cross_attention = cross_attention
        if cross_attention:
            self.crossattention = BertAttention(cfg, kv_width=cfg.cross_width)
        self.intermediate = BertIntermediate(cfg)
        self.output = BertResidualOutput(cfg, cfg.intermediate_size)

    def forward(
        self,
        hidden: Tensor,
        self_mask: Tensor | None = None,
        memory: Tensor | None = None,
        memory_mask: Tensor | None = None,
    ) -> Tensor:
        x = self.attention(hidden, mask=self_mask)
        if self.has_cross_attention:
            if memory is None:
                raise ValueError("a fusion layer needs encoder_hidden_states (the cross-attention memory)")
            x = self.crossattention(x, memory, memory_mask)
        return self.output(self.intermediate(x), x)


class BertEncoder(nn.Module):
    """The stack of layers (``encoder.layer.{i}``)."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(
            [BertLayer(cfg, cross_attention=i >= cfg.num_text_layers) for i in range(cfg.num_hidden_layers)]
        )
        self.grad_checkpointing = False

    def forward(
        self,
        hidden: Tensor,
        start: int,
        end: int,
        self_mask: Tensor | None,
        memory: Tensor | None,
        memory_mask: Tensor | None,
        all_hidden: list[Tensor] | None = None,
    ) -> Tensor:
        for layer in self.layer[start:end]:
            if self.grad_checkpointing and self.training and torch.is_grad_enabled():
                hidden = checkpoint(layer, hidden, self_mask, memory, memory_mask, use_reentrant=False)
            else:
                hidden = layer(hidden, self_mask, memory, memory_mask)
            if all_hidden is not None:
                all_hidden.append(hidden)
        return hidden


class BertPooler(nn.Module):
    """``tanh(dense(CLS))`` (only present in checkpoints saved with a pooler)."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden: Tensor) -> Tensor:
        return self.activation(self.dense(hidden[:, 0]))


@dataclass
class BertModelOutput:
    """Result of :meth:`BertModel.forward`.

    ``last_hidden_state`` ``(B, L, hidden)``; ``pooler_output`` ``(B, hidden)`` when the model has a
    pooler, else ``None``; ``hidden_states`` the input of the first run layer followed by every run
    layer's output when requested.
    """

    last_hidden_state: Tensor
    pooler_output: Tensor | None = None
    hidden_states: tuple[Tensor, ...] | None = None


class BertModel(nn.Module):
    """BERT encoder with optional cross-attention fusion layers (see the module docstring)."""

    def __init__(self, cfg: BertConfig, add_pooling_layer: bool = False) -> None:
        super().__init__()
        self.config = cfg
        self.embeddings = BertEmbeddings(cfg)
        self.encoder = BertEncoder(cfg)
        self.pooler = BertPooler(cfg) if add_pooling_layer else None
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(m: nn.Module) -> None:
        # BERT initialisation (normal std 0.02, zero bias, unit LayerNorm); matters only from scratch.
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)
            if m.padding_idx is not None:
                with torch.no_grad():
                    m.weight[m.padding_idx].zero_()
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute layer activations in the backward pass to save memory."""
        self.encoder.grad_checkpointing = enable

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        encoder_hidden_states: Tensor | None = None,
        encoder_attention_mask: Tensor | None = None,
        mode: Mode = "text",
        encoder_embeds: Tensor | None = None,
        output_hidden_states: bool = False,
    ) -> BertModelOutput:
        """Run the tower in ``mode`` (``"text"``, ``"fusion"`` or ``"multi_modal"``).

        ``input_ids``/``attention_mask`` ``(B, L)``; ``encoder_hidden_states`` ``(B, M, encoder_width)``
        is the cross-attention memory with optional 0/1 mask ``encoder_attention_mask`` ``(B, M)``
        (all visible when ``None``); ``encoder_embeds`` ``(B, L, hidden)`` replaces the embeddings in
        ``"fusion"`` mode.
        """
        cfg = self.config
        n_text = cfg.num_text_layers
        if mode == "text":
            start, end = 0, n_text
        elif mode == "fusion":
            start, end = n_text, cfg.num_hidden_layers
        elif mode == "multi_modal":
            start, end = 0, cfg.num_hidden_layers
        else:
            raise ValueError(f"mode must be 'text', 'fusion' or 'multi_modal', got {mode!r}")
        if mode != "text" and not cfg.has_fusion:
            raise ConfigError(f"mode {mode!r} needs fusion layers, but this BERT has fusion_layer=None")

        if mode == "fusion":
            if encoder_embeds is None:
                raise ValueError("mode 'fusion' needs encoder_embeds (the hidden states of a 'text' pass)")
            hidden = encoder_embeds
        else:
            if input_ids is None:
                raise ValueError(f"mode {mode!r} needs input_ids")
            hidden = self.embeddings(input_ids, token_type_ids)
        if mode != "text" and encoder_hidden_states is None:
            raise ValueError(f"mode {mode!r} needs encoder_hidden_states (the cross-attention memory)")

        dtype = _compute_dtype(hidden)
        self_mask = _additive_mask(attention_mask, dtype, SELF_ATTN_MASK_VALUE)
        memory = encoder_hidden_states if mode != "text" else None
        memory_mask = _additive_mask(encoder_attention_mask, dtype, None) if memory is not None else None

        all_hidden: list[Tensor] | None = [hidden] if output_hidden_states else None
        hidden = self.encoder(hidden, start, end, self_mask, memory, memory_mask, all_hidden)
        pooled = self.pooler(hidden) if self.pooler is not None else None
        return BertModelOutput(
            last_hidden_state=hidden,
            pooler_output=pooled,
            hidden_states=tuple(all_hidden) if all_hidden is not None else None,
        )


class BertPredictionHeadTransform(nn.Module):
    """dense -> activation -> LayerNorm before the vocabulary projection."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.transform_act_fn = _activation(cfg.hidden_act)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x: Tensor) -> Tensor:
        return self.LayerNorm(self.transform_act_fn(self.dense(x)))


class BertLMPredictionHead(nn.Module):
    """MLM head: ``transform`` then ``decoder`` (weight tied to the word embeddings; bias is ``bias``)."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.transform = BertPredictionHeadTransform(cfg)
        self.decoder = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))
        self.decoder.bias = self.bias  # one parameter under two keys, as in the upstream checkpoints

    def forward(self, x: Tensor) -> Tensor:
        return self.decoder(self.transform(x))


class BertOnlyMLMHead(nn.Module):
    """Container giving the ``cls.predictions.*`` key prefix."""

    def __init__(self, cfg: BertConfig) -> None:
        super().__init__()
        self.predictions = BertLMPredictionHead(cfg)

    def forward(self, x: Tensor) -> Tensor:
        return self.predictions(x)


@dataclass
class MaskedLMOutput:
    """Result of :meth:`BertForMaskedLM.forward`: vocabulary logits, loss when labels were given."""

    logits: Tensor
    last_hidden_state: Tensor
    loss: Tensor | None = None


class BertForMaskedLM(nn.Module):
    """``bert`` (a :class:`BertModel` without pooler) + ``cls`` MLM head with tied decoder weight.

    State-dict keys: ``bert.*`` and ``cls.predictions.{transform.dense, transform.LayerNorm,
    decoder.weight, decoder.bias, bias}``; ``decoder.weight`` is the word-embedding matrix and
    ``decoder.bias`` is ``bias`` (the same tensors under two names).
    """

    def __init__(self, cfg: BertConfig, tie_word_embeddings: bool = True) -> None:
        super().__init__()
        self.config = cfg
        self.bert = BertModel(cfg, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(cfg)
        self.tie_word_embeddings = tie_word_embeddings
        if tie_word_embeddings:
            self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute layer activations in the backward pass to save memory."""
        self.bert.set_grad_checkpointing(enable)

    def forward(
        self,
        input_ids: Tensor | None = None,
        attention_mask: Tensor | None = None,
        token_type_ids: Tensor | None = None,
        encoder_hidden_states: Tensor | None = None,
        encoder_attention_mask: Tensor | None = None,
        mode: Mode = "multi_modal",
        encoder_embeds: Tensor | None = None,
        labels: Tensor | None = None,
    ) -> MaskedLMOutput:
        """Encode (see :meth:`BertModel.forward`), predict tokens; cross-entropy on ``labels`` != -100."""
        out = self.bert(
            input_ids,
            attention_mask,
            token_type_ids,
            encoder_hidden_states,
            encoder_attention_mask,
            mode=mode,
            encoder_embeds=encoder_embeds,
        )
        logits = self.cls(out.last_hidden_state)
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1))
        return MaskedLMOutput(logits=logits, last_hidden_state=out.last_hidden_state, loss=loss)


# ---------------------------------------------------------------------------------------------------
# Strict loading


def _tied_keys(model: nn.Module) -> dict[str, str]:
    """Map key -> key of the tensor it shares storage with (the second name of a tied parameter)."""
    first: dict[int, str] = {}
    tied: dict[str, str] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in first:
            tied[name] = first[id(p)]
        else:
            first[id(p)] = name
    return tied


def load_bert_state_dict(
    model: nn.Module, state_dict: Mapping[str, Tensor], prefix: str = "", source: str = "<state_dict>"
) -> None:
    """Load a BERT checkpoint into ``model`` (a :class:`BertModel` or :class:`BertForMaskedLM`), strictly.

    Only keys starting with ``prefix`` are used (the prefix is stripped), e.g. ``"text_encoder."`` for
    an InternVideo2 stage-2 checkpoint. The ``embeddings.position_ids`` buffer saved by older
    ``transformers`` is dropped. Tied parameters (``cls.predictions.decoder.weight`` = word
    embeddings, ``cls.predictions.decoder.bias`` = ``cls.predictions.bias``) may be absent; when
    present they must equal their tie source. Raises :class:`CheckpointError` listing missing,
    unexpected and mis-shaped keys.
    """
    sd = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
    for k in [k for k in sd if k.endswith("embeddings.position_ids")]:
        logger.debug("%s: dropping buffer %s%s (positions are computed on the fly)", source, prefix, k)
        del sd[k]

    tied = _tied_keys(model)
    for key, src in tied.items():
        if key not in sd:
            continue
        if src in sd and (sd[key].shape != sd[src].shape or not torch.equal(sd[key], sd[src])):
            raise CheckpointError(
                f"{source}: {prefix}{key} differs from {prefix}{src}, but the model ties them; "
                "build the model with tie_word_embeddings=False to load untied weights"
            )
        del sd[key]

    expected = model.state_dict()
    own = {k: v for k, v in expected.items() if k not in tied}
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    mis_shaped = sorted(
        f"{k}: checkpoint {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
        for k in set(own) & set(sd)
        if sd[k].shape != own[k].shape
    )
    if missing or unexpected or mis_shaped:
        lines = [f"{source}: BERT checkpoint does not match the model (prefix {prefix!r})"]
        if missing:
            lines.append(f"  missing ({len(missing)}): {missing[:20]}{' ...' if len(missing) > 20 else ''}")
        if unexpected:
            lines.append(
                f"  unexpected ({len(unexpected)}): {unexpected[:20]}{' ...' if len(unexpected) > 20 else ''}"
            )
        if mis_shaped:
            lines.append(f"  mis-shaped ({len(mis_shaped)}): {mis_shaped[:20]}")
        lines.append("  check the BERT config (layers, width, fusion_layer, encoder_width, pooler)")
        raise CheckpointError("\n".join(lines))
    # Tied names point at the same parameter: load each tensor once, under its first name.
    result = model.load_state_dict(sd, strict=False)
    leftover = [k for k in result.missing_keys if k not in tied]
    if leftover or result.unexpected_keys:
        raise CheckpointError(f"{source}: unexpected load result {result}")


__all__ = [
    "BertConfig",
    "BertForMaskedLM",
    "BertModel",
    "BertModelOutput",
    "MaskedLMOutput",
    "load_bert_state_dict",
]
