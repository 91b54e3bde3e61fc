"""Data curation in the InternVid style: raw videos -> shots -> clips -> quality signals -> captions ->
video–text scores -> filters -> near-duplicate removal -> diversity sampling -> tar shards + Parquet
manifest. See docs/curation.md.

>>> from internvideo.curation import CurationConfig, run_pipeline
>>> result = run_pipeline(["videos/"], "curated/", CurationConfig(), workers=2)
"""

from __future__ import annotations

from .annotations import read_annotations, read_internvid, read_internvideo2
from .captioning import Caption, Captioner, RetrievalCaptioner, VideoTextScorer, register_captioner
from .config import (
    CaptionConfig,
    CurationConfig,
    DetectConfig,
    ExtractConfig,
    FilterConfig,
    QualityConfig,
    SelectConfig,
)
from .detect import detect_cuts, shots_from_cuts
from .extract import ClipExtractor, plan_clips
from .manifest import MANIFEST_COLUMNS, read_manifest, write_manifest
from .pipeline import GLOBAL_STAGES, SOURCE_STAGES, CurationResult, Source, discover_inputs, run_pipeline
from .quality import quality_signals

__all__ = [
    "GLOBAL_STAGES",
    "MANIFEST_COLUMNS",
    "SOURCE_STAGES",
    "Caption",
    "CaptionConfig",
    "Captioner",
    "ClipExtractor",
    "CurationConfig",
    "CurationResult",
    "DetectConfig",
    "ExtractConfig",
    "FilterConfig",
    "QualityConfig",
    "RetrievalCaptioner",
    "SelectConfig",
    "Source",
    "VideoTextScorer",
    "detect_cuts",
    "discover_inputs",
    "plan_clips",
    "quality_signals",
    "read_annotations",
    "read_internvid",
    "read_internvideo2",
    "read_manifest",
    "register_captioner",
    "run_pipeline",
    "shots_from_cuts",
    "write_manifest",
]
