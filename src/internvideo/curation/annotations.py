"""Readers for the released InternVid / InternVideo2 annotation files, into our manifest schema.

* **InternVid** (InternVid-10M-FLT, -Aesthetics, -Full; JSON lines): ``YoutubeID``,
  ``Start_timestamp`` / ``End_timestamp`` (``HH:MM:SS.mmm``), ``Caption``, ``UMT_Score`` and, in some
  releases, ``Aesthetic_Score``. The UMT score becomes ``vt_score`` (``vt_model="UMT"``).
* **InternVideo2** stage-2 video–text annotations (JSON lines or a JSON list): ``video`` or
  ``video_name`` (the YouTube id is its first 11 characters, as InternVid's diversity sampling reads
  it), ``video_fps``, ``video_start_frame`` / ``video_end_frame``, and captions ``av_captions`` (the
  audio–visual–speech summary), ``selected_video_caption``, ``selected_audio_caption``,
  ``asr_captions`` or a plain ``caption``; the first present, in that order, is the caption.

Rows carry ``caption_source="given"``. Videos are not distributed with these files; the rows say which
source video and time span to fetch and cut.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from internvideo.errors import InternVideoError

from .manifest import manifest_row

__all__ = ["parse_timestamp", "read_annotations", "read_internvid", "read_internvideo2"]

_TS = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)$")
_IV2_CAPTIONS = ("av_captions", "selected_video_caption", "selected_audio_caption", "asr_captions", "caption")


def parse_timestamp(value: str | float | int) -> float:
    """Seconds from ``HH:MM:SS.mmm`` / ``MM:SS.mmm`` strings or plain numbers."""
    if isinstance(value, (int, float)):
        return float(value)
    s = str(value).strip()
    m = _TS.match(s)
    if m:
        h, mnt, sec = m.groups()
        return int(h or 0) * 3600 + int(mnt) * 60 + float(sec)
    try:
        return float(s)
    except ValueError:
        raise ValueError(f"not a timestamp: {value!r}") from None


def _rows(path: Path) -> list[tuple[int, dict[str, Any]]]:
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InternVideoError(f"{path}: not valid JSON ({e})") from e
        return list(enumerate(data, 1))
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                out.append((n, json.loads(line)))
            except json.JSONDecodeError as e:
                raise InternVideoError(f"{path}:{n}: not valid JSON ({e})") from e
    return out


def _clip_id(source: str, start: float, end: float) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]", "_", source)
    return f"{safe}_{int(round(start * 1000)):09d}_{int(round(end * 1000)):09d}"


def _finish(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for i, r in enumerate(rows):
        r["index"] = i
        r["duration"] = round(r["end"] - r["start"], 6) if r.get("end") is not None else None
        out.append(manifest_row(r))
    return out


def read_internvid(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of an InternVid annotation file (see the module docstring) as manifest rows."""
    p = Path(path)
    rows = []
    for n, a in _rows(p):
        try:
            yid = str(a["YoutubeID"])
            start, end = parse_timestamp(a["Start_timestamp"]), parse_timestamp(a["End_timestamp"])
            caption = str(a["Caption"])
        except (KeyError, ValueError) as e:
            raise InternVideoError(f"{p}:{n}: not an InternVid annotation ({e})") from e
        umt = a.get("UMT_Score")
        aes = a.get("Aesthetic_Score")
        rows.append(
            {
                "clip_id": _clip_id(yid, start, end),
                "source_id": yid,
                "start": start,
                "end": end,
                "caption": caption,
                "caption_source": "given",
                "vt_score": None if umt is None else float(umt),
                "vt_model": None if umt is None else "UMT",
                "aesthetic_score": None if aes is None else float(aes),
            }
        )
    return _finish(rows)


def read_internvideo2(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Rows of an InternVideo2 stage-2 annotation file (see the module docstring) as manifest rows."""
    p = Path(path)
    rows = []
    for n, a in _rows(p):
        name = a.get("video_name") or a.get("video")
        if not name:
            raise InternVideoError(f"{p}:{n}: no 'video_name' or 'video' field")
        stem = Path(str(name)).stem
        yid = stem[:11]
        fps = a.get("video_fps")
        start = end = None
        if a.get("video_start_frame") is not None and fps:
            start = float(a["video_start_frame"]) / float(fps)
            end = float(a["video_end_frame"]) / float(fps) if a.get("video_end_frame") is not None else None
        elif a.get("start") is not None:
            start = parse_timestamp(a["start"])
            end = parse_timestamp(a["end"]) if a.get("end") is not None else None
        caption = None
        for field in _IV2_CAPTIONS:
            v = a.get(field)
            if isinstance(v, list):
                v = next((x for x in v if x), None)
            if v:
                caption = str(v)
                break
        if caption is None:
            raise InternVideoError(f"{p}:{n}: no caption field ({', '.join(_IV2_CAPTIONS)})")
        rows.append(
            {
                "clip_id": _clip_id(stem, start or 0.0, end or 0.0)
                if start is not None
                else re.sub(r"[^A-Za-z0-9_-]", "_", stem),
                "source_id": yid,
                "source_path": str(name),
                "start_frame": None if a.get("video_start_frame") is None else int(a["video_start_frame"]),
                "end_frame": None if a.get("video_end_frame") is None else int(a["video_end_frame"]),
                "start": start,
                "end": end,
                "fps": None if fps is None else float(fps),
                "caption": caption,
                "caption_source": "given",
            }
        )
    return _finish(rows)


def read_annotations(path: str | os.PathLike[str], fmt: str = "auto") -> list[dict[str, Any]]:
    """Read an annotation file as manifest rows; ``fmt`` is ``internvid``, ``internvideo2`` or ``auto``
    (decided by the first row's fields)."""
    p = Path(path)
    if not p.is_file():
        raise InternVideoError(f"annotation file {str(p)!r} does not exist")
    if fmt == "auto":
        first = next((r for _, r in _rows(p)), None)
        if first is None:
            return []
        fmt = "internvid" if "YoutubeID" in first else "internvideo2"
    if fmt == "internvid":
        return read_internvid(p)
    if fmt == "internvideo2":
        return read_internvideo2(p)
    raise InternVideoError(f"unknown annotation format {fmt!r}; use internvid, internvideo2 or auto")
