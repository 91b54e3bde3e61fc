"""Captioners (pluggable) and video–text scoring with any registered video–text model.

A captioner turns clip files into :class:`Caption` records. The default, ``retrieval``, does not
generate text: it embeds the clip and every caption of a *caption bank* with a video–text model and
returns the best match, labelled ``source="retrieved"``. Other captioners (a generative model, a
service) plug in through :func:`register_captioner` and label their output ``"generated"``.

:class:`VideoTextScorer` gives each clip–caption pair the cosine similarity of the model's video and
text embeddings (the analogue of InternVid's UMT score). Models are loaded once per process from a
registered name (``arch`` or ``arch.tag``) or a ``save_pretrained`` folder; inference runs with one
thread so scores are bit-identical in every worker process.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from internvideo.errors import ConfigError, InternVideoError

from .config import CaptionConfig

log = logging.getLogger(__name__)

__all__ = [
    "Caption",
    "Captioner",
    "RetrievalCaptioner",
    "VideoTextScorer",
    "build_captioner",
    "load_video_text_model",
    "read_caption_bank",
    "register_captioner",
]

_MODELS: dict[str, nn.Module] = {}
_DIGITS = 6


@dataclass(frozen=True)
class Caption:
    """A caption for one clip: its text, how it was made (``retrieved`` / ``generated`` / ``given``),
    the captioner's confidence (cosine similarity for retrieval) and the model that made it."""

    text: str
    source: str
    score: float | None
    model: str
    embedding: tuple[float, ...] | None = None  # the clip's video embedding, when the captioner has one


class Captioner(Protocol):
    """Pluggable captioner: clip files in, one :class:`Caption` each out."""

    name: str

    def __call__(self, clips: Sequence[str]) -> list[Caption]: ...


_CAPTIONERS: dict[str, Callable[[CaptionConfig], Captioner]] = {}


def register_captioner(
    name: str,
) -> Callable[[Callable[[CaptionConfig], Captioner]], Callable[[CaptionConfig], Captioner]]:
    """Register a captioner factory ``(CaptionConfig) -> Captioner`` under ``name``."""

    def deco(factory: Callable[[CaptionConfig], Captioner]) -> Callable[[CaptionConfig], Captioner]:
        _CAPTIONERS[name] = factory
        return factory

    return deco


_BUILT: dict[CaptionConfig, Captioner] = {}


def build_captioner(cfg: CaptionConfig) -> Captioner | None:
    """The captioner ``cfg`` names (built once per process), or ``None`` for ``captioner="none"``."""
    if cfg.captioner == "none":
        return None
    if cfg.captioner not in _CAPTIONERS:
        raise ConfigError(
            f"unknown captioner {cfg.captioner!r}; known: none, {', '.join(sorted(_CAPTIONERS))}"
        )
    if cfg not in _BUILT:
        _BUILT[cfg] = _CAPTIONERS[cfg.captioner](cfg)
    return _BUILT[cfg]


# ------------------------------------------------------------------------------------------ models
def load_video_text_model(spec: str) -> nn.Module:
    """A video–text model from a registered name (released weights when the name has a tag or a default
    record) or a ``save_pretrained`` folder; cached per process, in eval mode."""
    if spec in _MODELS:
        return _MODELS[spec]
    from internvideo.models import create_model, from_pretrained
    from internvideo.models.registry import _get_entry, split_name

    if Path(spec).is_dir():
        model = from_pretrained(spec)
    else:
        arch, tag = split_name(spec)
        try:
            entry = _get_entry(arch)
        except Exception as e:
            raise ConfigError(f"{spec!r} is neither a model folder nor a registered model name") from e
        if tag is not None or entry.pretrained:
            model = create_model(spec, pretrained=True)
        else:
            log.warning("%s has no released weights: scoring with an untrained model", spec)
            model = create_model(spec)
    if not (hasattr(model, "encode_video") and hasattr(model, "encode_text")):
        raise ConfigError(f"{spec!r} is not a video–text model (it lacks encode_video / encode_text)")
    model.eval()
    _MODELS[spec] = model
    return model


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread inside the block (results then do not depend on the thread count)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


def _round(x: torch.Tensor) -> list[float]:
    return [round(float(v), _DIGITS) for v in x]


def embed_clips(model: nn.Module, clips: Sequence[str], batch_size: int = 8) -> torch.Tensor:
    """L2-normalised video embeddings ``(N, D)`` of clip files (frames sampled as the model expects)."""
    from internvideo.data.transforms import build_eval_transform
    from internvideo.data.video import load_video

    vcfg = model.cfg.vision
    transform = build_eval_transform(vcfg.img_size, mode="squash")
    out = []
    with one_thread(), torch.inference_mode():
        for s in range(0, len(clips), batch_size):
            x = torch.stack(
                [
                    transform(load_video(p, num_frames=vcfg.num_frames, sampling="middle", backend="pyav"))
                    for p in clips[s : s + batch_size]
                ]
            )
            out.append(model.encode_video(x, normalize=True).float())
    return torch.cat(out) if out else torch.zeros(0)


def embed_texts(model: nn.Module, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
    """L2-normalised text embeddings ``(N, D)``."""
    out = []
    with one_thread(), torch.inference_mode():
        for s in range(0, len(texts), batch_size):
            out.append(model.encode_text(list(texts[s : s + batch_size]), normalize=True).float())
    return torch.cat(out) if out else torch.zeros(0)


# ------------------------------------------------------------------------------------------ retrieval
def read_caption_bank(path: str | Path) -> list[str]:
    """Captions from a ``.txt`` (one per line), ``.json`` (a list of strings) or ``.jsonl`` file
    (``caption`` or ``text`` field, or a ``captions`` list per line)."""
    p = Path(path)
    if not p.is_file():
        raise InternVideoError(f"caption bank {str(p)!r} does not exist")
    text = p.read_text(encoding="utf-8")
    caps: list[str] = []
    if p.suffix == ".json":
        caps = [str(c) for c in json.loads(text)]
    elif p.suffix == ".jsonl":
        from internvideo.data.datasets import read_jsonl

        for row in read_jsonl(p):
            v = row.get("caption", row.get("text", row.get("captions")))
            caps.extend([v] if isinstance(v, str) else list(v or []))
    else:
        caps = text.splitlines()
    caps = [c.strip() for c in caps if c and c.strip()]
    if not caps:
        raise InternVideoError(f"caption bank {str(p)!r} holds no captions")
    return caps


class RetrievalCaptioner:
    """The best-matching caption of a bank by video–text retrieval (``source="retrieved"``)."""

    name = "retrieval"

    def __init__(self, bank: Sequence[str], model: str, batch_size: int = 8) -> None:
        self.bank = list(bank)
        self.model_name = model
        self.batch_size = batch_size
        self._text: torch.Tensor | None = None

    def __call__(self, clips: Sequence[str]) -> list[Caption]:
        model = load_video_text_model(self.model_name)
        if self._text is None:
            self._text = embed_texts(model, self.bank)
        v = embed_clips(model, clips, self.batch_size)
        sims = v @ self._text.t()
        best = sims.argmax(dim=1)
        return [
            Caption(
                text=self.bank[int(j)],
                source="retrieved",
                score=round(float(sims[i, j]), _DIGITS),
                model=self.model_name,
                embedding=tuple(_round(v[i])),
            )
            for i, j in enumerate(best.tolist())
        ]


@register_captioner("retrieval")
def _retrieval(cfg: CaptionConfig) -> Captioner:
    assert cfg.caption_bank is not None and cfg.model is not None
    return RetrievalCaptioner(read_caption_bank(cfg.caption_bank), cfg.model, cfg.batch_size)


# ------------------------------------------------------------------------------------------ scoring
class VideoTextScorer:
    """Cosine similarity of clip and caption embeddings under one model."""

    def __init__(self, model: str, batch_size: int = 8) -> None:
        self.model_name = model
        self.batch_size = batch_size

    def __call__(
        self,
        clips: Sequence[str],
        captions: Sequence[str],
        embeddings: Sequence[Sequence[float] | None] | None = None,
    ) -> tuple[list[float], list[list[float]]]:
        """Scores and the clips' video embeddings; ``embeddings`` (from the same model) are reused."""
        model = load_video_text_model(self.model_name)
        have = embeddings if embeddings is not None else [None] * len(clips)
        todo = [i for i, e in enumerate(have) if e is None]
        v = torch.zeros(len(clips), 0)
        fresh = embed_clips(model, [clips[i] for i in todo], self.batch_size) if todo else None
        rows: list[torch.Tensor] = []
        k = 0
        for e in have:
            if e is None:
                assert fresh is not None
                rows.append(fresh[k])
                k += 1
            else:
                rows.append(torch.tensor(list(e), dtype=torch.float32))
        v = torch.stack(rows) if rows else v
        t = embed_texts(model, captions)
        scores = (v * t).sum(dim=1)
        return [round(float(s), _DIGITS) for s in scores], [_round(r) for r in v]
