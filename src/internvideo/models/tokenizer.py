"""BERT WordPiece tokeniser (through the ``tokenizers`` library) and InternVideo2 caption cleaning.

``BertTokenizer.from_vocab(vocab.txt, max_length=40)`` reproduces the uncased Hugging Face
``BertTokenizer`` used by InternVideo2 stage-2 (bert-large-uncased vocab): BERT normaliser (clean
text, CJK spacing, lower-case, accent stripping), BERT pre-tokeniser, WordPiece, the template
``[CLS] text [SEP]``, truncation to ``max_length`` and padding. ``pre_text`` is the caption cleaning
applied before tokenisation in the official retrieval evaluation.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Literal

import torch
from torch import Tensor

from internvideo.errors import ConfigError

logger = logging.getLogger(__name__)

_DELETE = re.compile(r"[,.'!?\"()*#:;~]")
_MULTI_SPACE = re.compile(r"\s{2,}")


def pre_text(text: str, max_words: int | None = None) -> str:
    """InternVideo2 caption pre-processing.

    Lower-case; delete ``,.'!?"()*#:;~``; ``-`` and ``/`` become spaces; ``<person>`` becomes
    ``person``; runs of two or more whitespace characters become one space; strip. With
    ``max_words``, keep only the first ``max_words`` space-separated words.
    """
    text = _DELETE.sub("", text.lower())
    text = text.replace("-", " ").replace("/", " ").replace("<person>", "person")
    text = _MULTI_SPACE.sub(" ", text).rstrip("\n").strip(" ")
    if max_words is not None:
        words = text.split(" ")
        if len(words) > max_words:
            text = " ".join(words[:max_words])
    return text


def _require_tokenizers() -> ModuleType:
    try:
        import tokenizers
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the text tokeniser needs the 'tokenizers' package: pip install 'internvideo[text]' "
            "(or pip install tokenizers)"
        ) from exc
    return tokenizers


class BertTokenizer:
    """Uncased (by default) BERT WordPiece tokeniser returning torch tensors.

    Calling it on a string or a list of strings returns ``{"input_ids", "attention_mask"}``, both
    ``(B, L)`` int64. ``padding="max_length"`` pads every row to ``max_length`` (the official
    InternVideo2 setting); ``"longest"`` pads to the longest row of the batch.
    """

    def __init__(
        self,
        backend: object,
        max_length: int,
        padding: Literal["max_length", "longest"] = "max_length",
        add_sep: bool = True,
    ) -> None:
        if padding not in ("max_length", "longest"):
            raise ConfigError(f"padding must be 'max_length' or 'longest', got {padding!r}")
        if max_length < 2:
            raise ConfigError(f"max_length must be at least 2, got {max_length}")
        self._tok = backend
        self.max_length = max_length
        self.padding = padding
        self.add_sep = add_sep
        vocab = self._tok.get_vocab()
        self.pad_token_id = vocab["[PAD]"]
        self.unk_token_id = vocab["[UNK]"]
        self.cls_token_id = vocab["[CLS]"]
        self.sep_token_id = vocab["[SEP]"]
        self.mask_token_id = vocab.get("[MASK]")

    @classmethod
    def from_vocab(
        cls,
        vocab_path: str | Path,
        max_length: int = 40,
        lowercase: bool = True,
        strip_accents: bool | None = None,
        add_sep: bool = True,
        padding: Literal["max_length", "longest"] = "max_length",
    ) -> BertTokenizer:
        """Build from a ``vocab.txt`` (one WordPiece token per line, id = line number).

        ``strip_accents=None`` follows ``lowercase`` (as BERT does). ``add_sep=False`` gives the
        template ``[CLS] text`` without the closing ``[SEP]``.
        """
        tk = _require_tokenizers()
        from tokenizers import decoders, models, normalizers, pre_tokenizers, processors

        path = Path(vocab_path)
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(f"cannot read vocabulary {str(path)!r}: {exc}") from exc
        vocab: dict[str, int] = {}
        for i, tok in enumerate(lines):
            tok = tok.rstrip("\r")
            if tok and tok not in vocab:
                vocab[tok] = i
        missing = [t for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]") if t not in vocab]
        if missing:
            raise ConfigError(f"vocabulary {str(path)!r} lacks the special tokens {missing}")

        backend = tk.Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
        backend.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=strip_accents, lowercase=lowercase
        )
        backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        cls_id, sep_id = vocab["[CLS]"], vocab["[SEP]"]
        if add_sep:
            single, pair = "[CLS] $A [SEP]", "[CLS] $A [SEP] $B:1 [SEP]:1"
        else:
            single, pair = "[CLS] $A", "[CLS] $A $B:1"
        backend.post_processor = processors.TemplateProcessing(
            single=single, pair=pair, special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)]
        )
        backend.decoder = decoders.WordPiece(prefix="##")
        specials = [t for t in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]") if t in vocab]
        backend.add_special_tokens([tk.AddedToken(t, special=True) for t in specials])
        logger.debug("loaded WordPiece vocabulary %s (%d tokens)", path, len(vocab))
        return cls(backend, max_length=max_length, padding=padding, add_sep=add_sep)

    @property
    def vocab_size(self) -> int:
        """Number of tokens in the vocabulary."""
        return self._tok.get_vocab_size()

    def tokenize(self, text: str) -> list[str]:
        """WordPiece tokens of ``text`` without special tokens."""
        return self._tok.encode(text, add_special_tokens=False).tokens

    def convert_tokens_to_ids(self, tokens: Sequence[str]) -> list[int]:
        """Ids of ``tokens`` (unknown tokens map to ``[UNK]``)."""
        out = []
        for t in tokens:
            i = self._tok.token_to_id(t)
            out.append(self.unk_token_id if i is None else i)
        return out

    def decode(self, ids: Sequence[int] | Tensor, skip_special_tokens: bool = True) -> str:
        """Text of a sequence of ids."""
        if isinstance(ids, Tensor):
            ids = ids.tolist()
        return self._tok.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def __call__(self, texts: str | Sequence[str], max_length: int | None = None) -> dict[str, Tensor]:
        """Tokenise, truncate to ``max_length`` (special tokens included) and pad."""
        if isinstance(texts, str):
            texts = [texts]
        length = self.max_length if max_length is None else max_length
        encs = self._tok.encode_batch(list(texts))
        rows = []
        for e in encs:
            ids = e.ids
            if len(ids) > length:
                # Keep the template: truncate the words, then close with [SEP] if the template has one.
                ids = ids[: length - 1] + [self.sep_token_id] if self.add_sep else ids[:length]
            rows.append(ids)
        width = length if self.padding == "max_length" else max((len(r) for r in rows), default=0)
        input_ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        attention_mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            input_ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
            attention_mask[i, : len(r)] = 1
        return {"input_ids": input_ids, "attention_mask": attention_mask}


__all__ = ["BertTokenizer", "pre_text"]
