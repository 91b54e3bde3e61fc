"""WordPiece tokeniser: fixture ids, equality with transformers' BertTokenizer, caption cleaning."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("tokenizers")

from internvideo.errors import ConfigError  # noqa: E402
from internvideo.models.tokenizer import BertTokenizer, pre_text  # noqa: E402

FIXTURE_TEXTS = ["a dog runs in the snow", "a man plays with his toy", "a red circle moves left"]


@pytest.fixture(scope="module")
def stage2_dir(fixtures_dir: Path) -> Path:
    d = fixtures_dir / "stage2"
    if not (d / "vocab.txt").exists():
        pytest.skip(f"stage-2 fixture not found under {d}")
    return d


def test_fixture_ids(stage2_dir: Path) -> None:
    """The fixture's ids were made without the closing [SEP]; the default template adds it."""
    from safetensors.torch import load_file

    io = load_file(str(stage2_dir / "io.safetensors"))
    tok = BertTokenizer.from_vocab(stage2_dir / "vocab.txt", max_length=12, add_sep=False)
    out = tok(FIXTURE_TEXTS)
    assert torch.equal(out["input_ids"], io["input_ids"])
    assert torch.equal(out["attention_mask"], io["attention_mask"])

    default = BertTokenizer.from_vocab(stage2_dir / "vocab.txt", max_length=12)
    with_sep = default(FIXTURE_TEXTS)
    lengths = io["attention_mask"].sum(1)
    for i, n in enumerate(lengths.tolist()):
        assert torch.equal(with_sep["input_ids"][i, :n], io["input_ids"][i, :n])
        assert with_sep["input_ids"][i, n] == default.sep_token_id
        assert with_sep["attention_mask"][i].sum() == n + 1


def test_truncation_padding_and_decode(stage2_dir: Path) -> None:
    tok = BertTokenizer.from_vocab(stage2_dir / "vocab.txt", max_length=6)
    out = tok("a dog runs in the snow with his toy")
    assert out["input_ids"].shape == (1, 6)
    assert out["input_ids"][0, 0] == tok.cls_token_id and out["input_ids"][0, -1] == tok.sep_token_id
    assert tok.decode(out["input_ids"][0]) == "a dog runs in"
    longest = BertTokenizer.from_vocab(stage2_dir / "vocab.txt", max_length=12, padding="longest")
    assert longest(["a dog", "a dog runs"])["input_ids"].shape == (2, 5)
    assert tok.tokenize("A zebra") == ["a", "[UNK]"]
    with pytest.raises(ConfigError):
        BertTokenizer.from_vocab(stage2_dir / "missing.txt")


def test_matches_transformers_on_minilm_vocab() -> None:
    transformers = pytest.importorskip("transformers")
    from internvideo.errors import CheckpointError
    from internvideo.models.minilm import minilm_dir

    try:
        vocab = minilm_dir() / "vocab.txt"
    except CheckpointError as exc:
        pytest.skip(str(exc))
    ref = transformers.BertTokenizer(str(vocab))
    ours = BertTokenizer.from_vocab(vocab, max_length=16)
    texts = [
        "Hello World! Ça va? naïve café",
        "A man <person> is playing the guitar-solo on stage / outdoors.",
        "東京 tower 123,456.78 unbelievably supercalifragilisticexpialidocious",
        "\ttabs\nand  spaces here, and a sentence that is much longer than sixteen word pieces",
        "",
    ]
    for text in texts:
        r = ref(text, padding="max_length", truncation=True, max_length=16, return_tensors="pt")
        o = ours(text)
        assert torch.equal(o["input_ids"], r["input_ids"]), text
        assert torch.equal(o["attention_mask"], r["attention_mask"]), text
        assert ours.tokenize(text) == ref.tokenize(text)


def test_pre_text() -> None:
    assert pre_text('A man <person> is "Playing" the guitar-solo on stage/outdoors.  Wow!!') == (
        "a man person is playing the guitar solo on stage outdoors wow"
    )
    assert pre_text("  (Hello),   World;  ") == "hello world"
    assert pre_text("one two three four", max_words=2) == "one two"
