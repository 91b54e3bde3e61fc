"""The clip manifest: one row per kept clip, written as Parquet (``pyarrow``, the ``curation`` extra).

Columns (``None`` where a stage did not run or the value is unknown):

========================  =======  =====================================================================
column                    type     meaning
========================  =======  =====================================================================
``clip_id``               string   ``<source_id>-<nnnn>``; also the sample key in the shards
``shard``                 string   shard file name holding ``<clip_id>.mp4`` and ``<clip_id>.json``
``index``                 int64    position of the clip in the manifest (the training ``video_id``)
``source_id``             string   the input video (diversity sampling groups by it)
``source_path``           string   the input file
``start_frame``           int64    first frame of the clip in the source (inclusive)
``end_frame``             int64    end frame in the source (exclusive)
``start`` / ``end``       double   the same in seconds (``frame / fps``)
``fps``                   double   frame rate
``num_frames``            int64    frames in the clip file
``duration``              double   seconds
``width`` / ``height``    int64    clip frame size
``extraction``            string   ``copy`` (stream copy) or ``reencode``
``detector``              string   shot detector that found the boundaries
``motion_score``          double   mean absolute luma difference of consecutive frames (0-255)
``black_ratio``           double   fraction of black frames
``static_ratio``          double   fraction of static consecutive frame pairs
``caption``               string   the caption
``caption_source``        string   ``retrieved`` (from a caption bank), ``generated`` or ``given``
``caption_score``         double   the captioner's confidence (retrieval: cosine similarity)
``caption_model``         string   model that chose / wrote the caption
``vt_score``              double   video–text similarity (our analogue of InternVid's UMT score)
``vt_model``              string   model that gave ``vt_score``
``aesthetic_score``       double   aesthetic score (released annotations only)
``sampling_weight``       double   diversity weight ``1 / clips of the source``, normalised
========================  =======  =====================================================================
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from internvideo._io import atomic_write

__all__ = ["MANIFEST_COLUMNS", "manifest_row", "read_manifest", "write_manifest"]

MANIFEST_COLUMNS: tuple[tuple[str, str], ...] = (
    ("clip_id", "string"),
    ("shard", "string"),
    ("index", "int64"),
    ("source_id", "string"),
    ("source_path", "string"),
    ("start_frame", "int64"),
    ("end_frame", "int64"),
    ("start", "float64"),
    ("end", "float64"),
    ("fps", "float64"),
    ("num_frames", "int64"),
    ("duration", "float64"),
    ("width", "int64"),
    ("height", "int64"),
    ("extraction", "string"),
    ("detector", "string"),
    ("motion_score", "float64"),
    ("black_ratio", "float64"),
    ("static_ratio", "float64"),
    ("caption", "string"),
    ("caption_source", "string"),
    ("caption_score", "float64"),
    ("caption_model", "string"),
    ("vt_score", "float64"),
    ("vt_model", "string"),
    ("aesthetic_score", "float64"),
    ("sampling_weight", "float64"),
)


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as e:
        raise ImportError("Parquet manifests need pyarrow: pip install 'internvideo[curation]'") from e
    return pa, pq


def manifest_row(record: dict[str, Any]) -> dict[str, Any]:
    """A clip record restricted to the manifest columns (missing ones are ``None``)."""
    return {name: record.get(name) for name, _ in MANIFEST_COLUMNS}


def write_manifest(path: str | os.PathLike[str], rows: Sequence[dict[str, Any]]) -> None:
    """Write manifest rows to a Parquet file atomically (same rows -> byte-identical file)."""
    pa, pq = _pyarrow()
    schema = pa.schema([(name, getattr(pa, typ)()) for name, typ in MANIFEST_COLUMNS])
    table = pa.Table.from_pylist([manifest_row(r) for r in rows], schema=schema)
    atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def read_manifest(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of a Parquet manifest as dicts."""
    _, pq = _pyarrow()
    return pq.read_table(Path(path)).to_pylist()
