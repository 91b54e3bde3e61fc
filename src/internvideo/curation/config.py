"""Typed configuration of the curation pipeline (frozen dataclasses; JSON only records what ran)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from internvideo.errors import ConfigError

DETECTORS = ("auto", "builtin", "content", "adaptive")
DEDUP_EMBEDDINGS = ("signature", "model")


@dataclass(frozen=True)
class DetectConfig:
    """Shot detection.

    ``detector``: ``builtin`` (this package's content detector, the default), ``content`` /
    ``adaptive`` (PySceneDetect's detectors, needs the ``scenedetect`` extra; they get the same
    thresholds) or ``auto`` (PySceneDetect's adaptive detector when it is installed, else the
    built-in one). On the ground-truth videos of the tests the built-in detector finds 33 of 33 cuts
    within +-2 frames and PySceneDetect's adaptive detector 30 of 33, hence the default.

    The built-in detector scores each frame by the mean absolute difference (0-255) to the previous
    frame on a ``downscale``-pixel-wide thumbnail and cuts where that score is at least
    ``min_score`` and ``ratio`` times the mean score of the ``window`` frames on each side (an
    adaptive threshold: fast motion raises the bar). Cuts closer than ``min_shot_frames`` keep the
    stronger one.
    """

    detector: str = "builtin"
    downscale: int = 64
    min_score: float = 8.0
    ratio: float = 3.0
    window: int = 3
    min_shot_frames: int = 8

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ConfigError(f"detector must be one of {DETECTORS}, got {self.detector!r}")
        if self.downscale < 8 or self.window < 1 or self.min_shot_frames < 1 or self.ratio <= 0:
            raise ConfigError(f"invalid detection settings: {self}")


@dataclass(frozen=True)
class ExtractConfig:
    """Clip extraction: one clip per shot, long shots split into equal pieces of at most
    ``max_clip_seconds``; shots shorter than ``min_clip_frames`` are dropped. ``copy`` allows stream
    copy (when the clip starts on a keyframe and decodes to exactly the right frames); otherwise the
    frames are re-encoded with H.264 at ``crf`` with x264's ``preset``. The default ``superfast`` has no
    rate-control lookahead: slower presets (``veryfast`` and up) use one that, at some frame widths,
    makes the same frames encode to different bytes from run to run, which breaks byte-identical
    re-runs."""

    min_clip_frames: int = 8
    max_clip_seconds: float = 20.0
    copy: bool = True
    crf: int = 18
    preset: str = "superfast"

    def __post_init__(self) -> None:
        if self.min_clip_frames < 1 or self.max_clip_seconds <= 0:
            raise ConfigError(f"invalid extraction settings: {self}")


@dataclass(frozen=True)
class QualityConfig:
    """Quality signals. A frame is black when its 99th-percentile luma is below ``black_luma``; a pair of
    consecutive frames is static when their mean absolute luma difference is below ``static_diff``.
    Frames are measured on a ``downscale``-pixel-wide thumbnail."""

    downscale: int = 64
    black_luma: float = 32.0
    static_diff: float = 0.5


@dataclass(frozen=True)
class CaptionConfig:
    """Captioning and video–text scoring.

    ``captioner``: ``retrieval`` (the best-matching caption of ``caption_bank`` by video–text
    retrieval with ``model``; labelled ``retrieved``) or ``none``. ``score_model`` (default: ``model``)
    gives each clip–caption pair its similarity (the analogue of InternVid's UMT score). ``model`` is a
    registered model name (with ``.tag`` for released weights) or a ``save_pretrained`` folder.
    """

    captioner: str = "none"
    caption_bank: str | None = None
    model: str | None = None
    score_model: str | None = None
    batch_size: int = 8

    @property
    def scorer(self) -> str | None:
        return self.score_model or self.model


@dataclass(frozen=True)
class FilterConfig:
    """Filtering rules; ``None`` switches a rule off."""

    min_duration: float | None = 1.0
    max_duration: float | None = None
    min_short_side: int | None = None
    max_black_ratio: float | None = 0.5
    max_static_ratio: float | None = 0.95
    min_motion: float | None = None
    min_vt_score: float | None = None


@dataclass(frozen=True)
class SelectConfig:
    """Near-duplicate removal and diversity sampling.

    Two clips are near duplicates when the cosine similarity of their ``dedup_embedding`` is at least
    ``dedup_threshold`` (``signature``: a luma thumbnail signature of three frames, always available;
    ``model``: the video embedding of the scoring model). The first clip in id order is kept.
    ``max_clips`` draws that many clips without replacement with weights ``1 / clips of the same
    source`` (InternVid's diversity rule), seeded by ``seed``; ``None`` keeps all.
    """

    dedup: bool = True
    dedup_embedding: str = "signature"
    dedup_threshold: float = 0.98
    max_clips: int | None = None
    seed: int = 42

    def __post_init__(self) -> None:
        if self.dedup_embedding not in DEDUP_EMBEDDINGS:
            raise ConfigError(
                f"dedup_embedding must be one of {DEDUP_EMBEDDINGS}, got {self.dedup_embedding!r}"
            )


@dataclass(frozen=True)
class CurationConfig:
    """Everything that determines the pipeline's output (the work dir remembers it to resume safely)."""

    detect: DetectConfig = field(default_factory=DetectConfig)
    extract: ExtractConfig = field(default_factory=ExtractConfig)
    quality: QualityConfig = field(default_factory=QualityConfig)
    caption: CaptionConfig = field(default_factory=CaptionConfig)
    filter: FilterConfig = field(default_factory=FilterConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    shard_size: int = 64

    def __post_init__(self) -> None:
        if self.shard_size < 1:
            raise ConfigError(f"shard_size must be >= 1, got {self.shard_size}")
        c = self.caption
        if c.captioner == "retrieval" and (not c.caption_bank or not c.model):
            raise ConfigError(
                "the retrieval captioner needs a caption bank and a model (--caption-bank, --model)"
            )
        if self.select.dedup_embedding == "model" and not c.scorer:
            raise ConfigError("dedup_embedding='model' needs a model to embed the clips (--model)")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CurationConfig:
        parts = {
            "detect": DetectConfig,
            "extract": ExtractConfig,
            "quality": QualityConfig,
            "caption": CaptionConfig,
            "filter": FilterConfig,
            "select": SelectConfig,
        }
        kw: dict[str, Any] = {k: parts[k](**v) for k, v in d.items() if k in parts}
        kw.update({k: v for k, v in d.items() if k not in parts})
        return cls(**kw)

    def fingerprint(self) -> str:
        """A short hash of the configuration (work dirs refuse to resume under another one)."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha1(blob).hexdigest()[:16]
