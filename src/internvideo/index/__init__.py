"""Video collections as searchable indexes, and the per-video jobs around them.

* :func:`build_index` — scan, decode in worker processes, embed in batches, commit resumably.
* :class:`VideoIndex` — the index folder (``index.json`` header, vectors, item metadata, failures).
* :func:`search_text`, :func:`similar_videos` — ranked items with scores and timestamps.
* :func:`classify_videos`, :func:`embed_videos`, :func:`extract_features` — per-video jobs.

The ``internvideo index|search|similar|classify|embed|extract-features`` commands are in :mod:`.cli`;
docs/cli.md shows each with an example.
"""

from __future__ import annotations

from .api import (
    OutputManifest,
    Result,
    classify_videos,
    embed_videos,
    extract_features,
    model_for_index,
    search_text,
    similar_videos,
)
from .build import VIDEO_EXTENSIONS, IndexReport, build_index, scan_videos, video_encoder
from .model import Preprocessing, load_model, model_fingerprint, preprocessing_for
from .search import FAISS_MIN_VECTORS, Hit, VectorSearch, faiss_available
from .store import VideoIndex, VideoIndexError

__all__ = [
    "FAISS_MIN_VECTORS",
    "VIDEO_EXTENSIONS",
    "Hit",
    "IndexReport",
    "OutputManifest",
    "Preprocessing",
    "Result",
    "VectorSearch",
    "VideoIndex",
    "VideoIndexError",
    "build_index",
    "classify_videos",
    "embed_videos",
    "extract_features",
    "faiss_available",
    "load_model",
    "model_fingerprint",
    "model_for_index",
    "preprocessing_for",
    "scan_videos",
    "search_text",
    "similar_videos",
    "video_encoder",
]
