"""BERT text tower: stage-2 fixture parity (text and fusion), strict loading, MiniLM vs transformers."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from internvideo.errors import CheckpointError, ConfigError
from internvideo.models.text import BertConfig, BertForMaskedLM, BertModel, load_bert_state_dict

TOL = 1e-5


@pytest.fixture(scope="module")
def stage2(fixtures_dir: Path) -> dict:
    from safetensors.torch import load_file

    d = fixtures_dir / "stage2"
    if not (d / "model.safetensors").exists():
        pytest.skip(f"stage-2 fixture not found under {d}")
    return {
        "dir": d,
        "sd": load_file(str(d / "model.safetensors")),
        "io": load_file(str(d / "io.safetensors")),
        "cfg": BertConfig.from_hf_json(d / "bert_config.json"),
    }


@pytest.fixture(scope="module")
def stage2_bert(stage2: dict) -> BertForMaskedLM:
    model = BertForMaskedLM(stage2["cfg"]).eval()
    load_bert_state_dict(model, stage2["sd"], prefix="text_encoder.", source="stage2 fixture")
    return model


def tiny_cfg(**kw) -> BertConfig:
    base = dict(
        vocab_size=50,
        hidden_size=32,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=16,
        fusion_layer=2,
        encoder_width=24,
    )
    base.update(kw)
    return BertConfig(**base)


def test_config_from_hf_json(stage2: dict) -> None:
    cfg = stage2["cfg"]
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.fusion_layer, cfg.encoder_width) == (32, 4, 3, 64)
    assert cfg.num_text_layers == 3 and cfg.has_fusion
    raw = {"hidden_size": 8, "num_attention_heads": 2, "num_hidden_layers": 2, "architectures": ["x"]}
    cfg2 = BertConfig.from_hf_json(raw, fusion_layer=1, encoder_width=12)
    assert (cfg2.fusion_layer, cfg2.cross_width, cfg2.num_text_layers) == (1, 12, 1)
    assert not BertConfig.from_hf_json(raw).has_fusion
    with pytest.raises(ConfigError):
        BertConfig.from_hf_json({**raw, "num_attention_heads": 3})
    with pytest.raises(ConfigError):
        BertConfig.from_hf_json({**raw, "position_embedding_type": "relative_key"})


def test_stage2_keys_strict(stage2: dict, stage2_bert: BertForMaskedLM) -> None:
    ckpt = {k[len("text_encoder.") :] for k in stage2["sd"] if k.startswith("text_encoder.")}
    ours = set(stage2_bert.state_dict())
    # Every checkpoint key is a model key except the position_ids buffer (dropped on load).
    assert ckpt - ours == {"bert.embeddings.position_ids"}
    assert ours == ckpt - {"bert.embeddings.position_ids"}
    head = stage2_bert.cls.predictions
    assert head.decoder.weight is stage2_bert.bert.embeddings.word_embeddings.weight
    assert head.decoder.bias is head.bias


def test_stage2_text_mode_parity(stage2: dict, stage2_bert: BertForMaskedLM) -> None:
    io = stage2["io"]
    with torch.no_grad():
        out = stage2_bert.bert(io["input_ids"], io["attention_mask"], mode="text")
    emb = out.last_hidden_state
    assert emb.shape == io["text_embeds"].shape
    assert (emb - io["text_embeds"]).abs().max() <= TOL
    assert (emb[:, 0] - io["text_pooled"]).abs().max() <= TOL


def test_stage2_fusion_itm_parity(stage2: dict, stage2_bert: BertForMaskedLM) -> None:
    """itm_score[i, j] = itm_head(CLS of fusion(text j, video i))[1], from the fixture's vision tokens."""
    io, sd = stage2["io"], stage2["sd"]
    v, t = io["vision_embeds"], io["text_embeds"]
    n = v.shape[0]
    vi = torch.arange(n).repeat_interleave(n)
    tj = torch.arange(n).repeat(n)
    with torch.no_grad():
        out = stage2_bert.bert(
            encoder_embeds=t[tj],
            attention_mask=io["attention_mask"][tj],
            encoder_hidden_states=v[vi],
            encoder_attention_mask=torch.ones(v[vi].shape[:2], dtype=torch.long),
            mode="fusion",
        )
    logits = out.last_hidden_state[:, 0] @ sd["itm_head.weight"].T + sd["itm_head.bias"]
    score = logits[:, 1].reshape(n, n)
    assert (score - io["itm_score"]).abs().max() <= TOL


def test_fusion_depends_on_memory_and_modes_compose() -> None:
    torch.manual_seed(0)
    cfg = tiny_cfg()
    model = BertModel(cfg).eval()
    ids = torch.randint(5, cfg.vocab_size, (2, 7))
    mask = torch.ones_like(ids)
    mask[1, 5:] = 0
    mem = torch.randn(2, 9, cfg.encoder_width)
    with torch.no_grad():
        text = model(ids, mask, mode="text").last_hidden_state
        fused = model(attention_mask=mask, encoder_embeds=text, encoder_hidden_states=mem, mode="fusion")
        fused2 = model(attention_mask=mask, encoder_embeds=text, encoder_hidden_states=mem + 1, mode="fusion")
        mm = model(ids, mask, encoder_hidden_states=mem, mode="multi_modal")
        # Masking out half of the memory changes the result; masking nothing equals no mask.
        mem_mask = torch.ones(2, 9, dtype=torch.long)
        ones = model(
            attention_mask=mask,
            encoder_embeds=text,
            encoder_hidden_states=mem,
            encoder_attention_mask=mem_mask,
            mode="fusion",
        )
        mem_mask[:, 4:] = 0
        half = model(
            attention_mask=mask,
            encoder_embeds=text,
            encoder_hidden_states=mem,
            encoder_attention_mask=mem_mask,
            mode="fusion",
        )
    assert fused.last_hidden_state.shape == (2, 7, cfg.hidden_size)
    assert (fused.last_hidden_state - fused2.last_hidden_state).abs().max() > 1e-3
    torch.testing.assert_close(mm.last_hidden_state, fused.last_hidden_state)
    torch.testing.assert_close(ones.last_hidden_state, fused.last_hidden_state)
    assert (half.last_hidden_state - fused.last_hidden_state).abs().max() > 1e-4
    with pytest.raises(ValueError, match="encoder_hidden_states"):
        model(ids, mask, mode="multi_modal")
    with pytest.raises(ConfigError):
        BertModel(tiny_cfg(fusion_layer=None))(ids, mask, encoder_hidden_states=mem, mode="fusion")


def test_padding_does_not_change_valid_tokens() -> None:
    torch.manual_seed(1)
    model = BertModel(tiny_cfg()).eval()
    ids = torch.randint(5, 50, (1, 5))
    padded = torch.cat([ids, torch.zeros(1, 4, dtype=torch.long)], 1)
    mask = torch.cat([torch.ones(1, 5), torch.zeros(1, 4)], 1).long()
    with torch.no_grad():
        a = model(ids, torch.ones_like(ids)).last_hidden_state
        b = model(padded, mask).last_hidden_state[:, :5]
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_mlm_loss_and_grad_checkpointing() -> None:
    torch.manual_seed(2)
    cfg = tiny_cfg(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    model = BertForMaskedLM(cfg).train()
    ids = torch.randint(5, cfg.vocab_size, (2, 6))
    mask = torch.ones_like(ids)
    mem = torch.randn(2, 3, cfg.encoder_width)
    labels = torch.full_like(ids, -100)
    labels[:, 2] = ids[:, 2]

    def run() -> tuple[torch.Tensor, torch.Tensor]:
        model.zero_grad()
        out = model(ids, mask, encoder_hidden_states=mem, labels=labels)
        out.loss.backward()
        return out.loss.detach(), model.bert.embeddings.word_embeddings.weight.grad.clone()

    assert model(ids, mask, encoder_hidden_states=mem).logits.shape == (2, 6, cfg.vocab_size)
    loss, grad = run()
    model.set_grad_checkpointing(True)
    loss_ckpt, grad_ckpt = run()
    torch.testing.assert_close(loss, loss_ckpt)
    torch.testing.assert_close(grad, grad_ckpt)
    assert torch.isfinite(loss) and loss > 0


def test_bf16_autocast_runs() -> None:
    model = BertModel(tiny_cfg()).eval()
    ids = torch.randint(5, 50, (2, 6))
    mask = torch.ones_like(ids)
    mask[0, 4:] = 0
    mem = torch.randn(2, 3, 24)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(
            ids, mask, encoder_hidden_states=mem, encoder_attention_mask=torch.ones(2, 3), mode="multi_modal"
        )
    assert torch.isfinite(out.last_hidden_state.float()).all()


def test_loading_errors_name_keys() -> None:
    cfg = tiny_cfg()
    src = BertForMaskedLM(cfg)
    sd = dict(src.state_dict())
    # Tied copies and position_ids are optional.
    minimal = {k: v for k, v in sd.items() if not k.startswith("cls.predictions.decoder.")}
    minimal["bert.embeddings.position_ids"] = torch.arange(16)[None]
    dst = BertForMaskedLM(cfg)
    load_bert_state_dict(dst, minimal)
    torch.testing.assert_close(dst.cls.predictions.decoder.weight, src.bert.embeddings.word_embeddings.weight)

    broken = dict(minimal)
    del broken["bert.encoder.layer.2.crossattention.self.key.weight"]
    broken["bert.pooler.dense.weight"] = torch.zeros(32, 32)
    with pytest.raises(CheckpointError, match="crossattention.self.key.weight") as err:
        load_bert_state_dict(BertForMaskedLM(cfg), broken, source="ckpt.pt")
    assert "pooler.dense.weight" in str(err.value) and "ckpt.pt" in str(err.value)

    wrong_width = BertForMaskedLM(tiny_cfg(encoder_width=16)).state_dict()
    with pytest.raises(CheckpointError, match="mis-shaped"):
        load_bert_state_dict(BertForMaskedLM(cfg), wrong_width)

    untied = dict(sd)
    untied["cls.predictions.decoder.weight"] = torch.randn_like(sd["cls.predictions.decoder.weight"])
    with pytest.raises(CheckpointError, match="ties"):
        load_bert_state_dict(BertForMaskedLM(cfg), untied)
    # A prefixed checkpoint (the stage-2 layout) loads with its prefix; other towers' keys are ignored.
    prefixed = {f"text_encoder.{k}": v for k, v in sd.items()} | {"vision_proj.weight": torch.zeros(1)}
    load_bert_state_dict(BertForMaskedLM(cfg), prefixed, prefix="text_encoder.")


# --------------------------------------------------------------------------------- MiniLM (packaged)

SENTENCES = [
    "A dog runs in the snow.",
    "Two people are playing guitar on a stage while the crowd cheers loudly",
    "hi",
    "Ça va? A naïve café-au-lait, s'il vous plaît!",
    "the quick brown fox jumps over the lazy dog again and again",
]


@pytest.fixture(scope="module")
def minilm():
    from internvideo.models.minilm import build_minilm_text_encoder, minilm_dir

    pytest.importorskip("tokenizers")
    try:
        d = minilm_dir()
    except CheckpointError as exc:
        pytest.skip(str(exc))
    model, tok = build_minilm_text_encoder()
    return d, model, tok


def test_minilm_matches_transformers(minilm) -> None:
    transformers = pytest.importorskip("transformers")
    d, model, tok = minilm
    batch = tok(SENTENCES)
    assert batch["attention_mask"].sum(1).min() < batch["attention_mask"].shape[1]  # some padding
    valid = batch["attention_mask"].bool()
    with torch.no_grad():
        ours = model(**batch)
        for impl in ("sdpa", "eager"):
            ref = transformers.BertModel.from_pretrained(str(d), attn_implementation=impl).eval()
            theirs = ref(**batch)
            diff = (ours.last_hidden_state - theirs.last_hidden_state).abs()
            # SDPA reference: every position; eager (-inf style mask) differs only in padded rows.
            assert (diff if impl == "sdpa" else diff[valid]).max() <= TOL, impl
            assert (ours.pooler_output - theirs.pooler_output).abs().max() <= TOL


def test_minilm_strict_keys(minilm) -> None:
    from internvideo.models.minilm import load_minilm_state_dict

    _, model, _ = minilm
    assert set(load_minilm_state_dict()) - {"embeddings.position_ids"} == set(model.state_dict())
    assert model.config.hidden_size == 384 and model.config.num_hidden_layers == 6


def test_minilm_missing_gives_install_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from internvideo.models.minilm import MINILM_PACKAGE, minilm_dir

    monkeypatch.setenv("INTERNVIDEO_MINILM_DIR", str(tmp_path))
    with pytest.raises(CheckpointError, match=MINILM_PACKAGE):
        minilm_dir()
