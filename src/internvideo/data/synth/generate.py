"""Write the synthetic world to disk: encoded mp4 files plus one JSONL manifest per split.

Each clip is made by a pure function of ``(config, split, index)``, so clips can be produced by any
number of worker processes in any order and the result is the same. Every file is written under a
temporary name and renamed when complete.
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
from collections.abc import Iterable, Iterator
from dataclasses import replace
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from internvideo._io import atomic_write_text
from internvideo.errors import ConfigError

from .audio import audio_events, describe_audio, render_audio
from .captions import captions, event_caption, moment_queries, qa_pairs
from .render import render_frames
from .spec import ClipSpec, sample_clip_spec, sample_long_spec
from .world import (
    BACKGROUNDS,
    CLASSES,
    COLOUR_PITCH_HZ,
    COLOURS,
    DIRECTION_PAIRS,
    SHAPES,
    SPLITS,
    TEMPORAL_PAIRS,
    TEXTURES,
    WorldConfig,
    size_name,
)

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
LONG_SPLITS: tuple[str, ...] = ("train", "val", "test")
_CHUNK_FRAMES = 64
_AUDIO_FRAME = 1024


# --------------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------------


@cache
def video_encoder(preferred: str = "h264") -> str:
    """Name of the encoder to use: libx264 or libopenh264 for ``"h264"``, else mpeg4 (with a warning)."""
    import av

    def available(name: str) -> bool:
        try:
            av.codec.Codec(name, "w")
            return True
        except Exception:
            return False

    if preferred in ("h264", "libx264", "libopenh264"):
        for name in ("libx264", "libopenh264"):
            if available(name):
                return name
        logger.warning("this PyAV build has no H.264 encoder (libx264/libopenh264); writing mpeg4 instead")
        return "mpeg4"
    if not available(preferred):
        raise ConfigError(
            f"video codec {preferred!r} is not available in this PyAV build; use 'h264' or 'mpeg4'"
        )
    return preferred


def _encoder_options(name: str, crf: int, gop: int) -> dict[str, str]:
    if name == "libx264":
        return {"preset": "ultrafast", "crf": str(crf), "g": str(gop), "threads": "1"}
    if name == "libopenh264":
        return {"g": str(gop), "threads": "1", "b": "2M"}
    return {"g": str(gop), "threads": "1", "qmin": "2", "qmax": "4", "b": "8M"}


def encode_mp4(
    path: str | os.PathLike[str],
    chunks: Iterable[np.ndarray],
    fps: float,
    width: int,
    height: int,
    audio: np.ndarray | None = None,
    sample_rate: int = 16_000,
    codec: str = "h264",
    crf: int = 18,
    gop: int = 16,
) -> None:
    """Encode RGB uint8 frame chunks ``(t, H, W, 3)`` (and optional mono audio) into an mp4 file.

    The file appears at ``path`` only once complete (written to a temporary name, then renamed).
    Audio is AAC, interleaved with the video by time.
    """
    import av

    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.mp4")
    encoder = video_encoder(codec)
    rate = Fraction(str(fps)).limit_denominator(1001)
    try:
        container = av.open(str(tmp), mode="w", format="mp4")
        try:
            vs = container.add_stream(encoder, rate=rate)
            vs.width, vs.height = width, height
            vs.pix_fmt = "yuv420p"
            vs.options = _encoder_options(encoder, crf, gop)
            as_ = None
            if audio is not None:
                as_ = container.add_stream("aac", rate=sample_rate, layout="mono")
            audio_pos = 0
            i = 0
            for chunk in chunks:
                for frame in chunk:
                    vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
                    vf.pts = i
                    for pkt in vs.encode(vf):
                        container.mux(pkt)
                    i += 1
                    if as_ is not None:  # keep the audio up to the end of this frame
                        limit = min(len(audio), int(round(i / float(rate) * sample_rate)))
                        audio_pos = _encode_audio(av, container, as_, audio, audio_pos, limit, sample_rate)
            for pkt in vs.encode():
                container.mux(pkt)
            if as_ is not None:
                _encode_audio(av, container, as_, audio, audio_pos, len(audio), sample_rate, final=True)
                for pkt in as_.encode():
                    container.mux(pkt)
        finally:
            container.close()
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _encode_audio(av, container, stream, audio, pos: int, limit: int, sr: int, final: bool = False) -> int:
    while pos + _AUDIO_FRAME <= limit or (final and pos < limit):
        chunk = audio[pos : pos + _AUDIO_FRAME]
        af = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk[None, :]), format="fltp", layout="mono")
        af.sample_rate = sr
        af.pts = pos
        for pkt in stream.encode(af):
            container.mux(pkt)
        pos += len(chunk)
    return pos


# --------------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------------


def clip_id(split: str, index: int, is_long: bool = False) -> str:
    """Identifier (and file stem) of a clip, e.g. ``train_000042`` or ``long_test_000003``."""
    return f"{'long_' if is_long else ''}{split}_{index:06d}"


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float):
        return round(x, 4)
    return x


def _event_record(spec: ClipSpec, ev: dict[str, Any], k: int) -> dict[str, Any]:
    fps = spec.fps
    out: dict[str, Any] = {
        "action": ev["action"],
        "label": ev["label"],
        "start": ev["start_frame"] / fps,
        "end": ev["end_frame"] / fps,
        "start_frame": int(ev["start_frame"]),
        "end_frame": int(ev["end_frame"]),
    }
    if spec.is_long:
        out["caption"] = event_caption(spec, ev, k)
    for key in ("direction", "from_colour", "to_colour", "degrees", "walls"):
        if key in ev:
            out[key] = ev[key]
    if "bounce_frames" in ev:
        out["bounce_times"] = [f / fps for f in ev["bounce_frames"]]
    if "steps" in ev:
        out["steps"] = [
            {
                "action": s["action"],
                "start": s["start_frame"] / fps,
                "end": s["end_frame"] / fps,
                "start_frame": int(s["start_frame"]),
                "end_frame": int(s["end_frame"]),
                **({"to_colour": s["to_colour"]} if "to_colour" in s else {}),
            }
            for s in ev["steps"]
        ]
    return out


def clip_record(spec: ClipSpec, cfg: WorldConfig, video: str) -> dict[str, Any]:
    """The manifest record of a clip (see docs/synthetic_world.md for every field)."""
    short_side = min(spec.height, spec.width)
    objects = []
    for obj in spec.objects:
        d = obj.describe(0)
        d["size"] = size_name(float(obj.r[0]), short_side)
        objects.append(d)
    events = [_event_record(spec, ev, k) for k, ev in enumerate(spec.events)]
    if spec.is_long:
        caps = [e["caption"] for e in events]
        caps_heldout = [event_caption(spec, ev, k, heldout=True) for k, ev in enumerate(spec.events)]
        qa: list[dict[str, Any]] = []
    else:
        caps = captions(spec, cfg.captions_per_clip)
        caps_heldout = captions(spec, cfg.heldout_captions_per_clip, heldout=True)
        qa = qa_pairs(spec)
    audio = None
    if spec.with_audio:
        audio = {
            "codec": "aac",
            "sample_rate": spec.audio_sample_rate,
            "description": describe_audio(spec),
            "events": audio_events(spec),
        }
    record = {
        "id": clip_id(spec.split, spec.index, spec.is_long),
        "split": spec.split,
        "kind": "long" if spec.is_long else "clip",
        "video": video,
        "fps": spec.fps,
        "num_frames": spec.num_frames,
        "duration": spec.duration,
        "width": spec.width,
        "height": spec.height,
        "has_audio": spec.with_audio,
        "label": spec.label,
        "label_name": spec.label_name,
        "captions": caps,
        "captions_heldout": caps_heldout,
        "objects": objects,
        "background": spec.background.kind,
        "events": events,
        "qa": qa,
        "moment_queries": moment_queries(spec),
        "audio": audio,
        "seed": spec.seed,
        "index": spec.index,
    }
    return _jsonable(record)


def make_clip(
    cfg: WorldConfig, split: str, index: int, out_dir: str | os.PathLike[str], is_long: bool = False
) -> dict[str, Any]:
    """Render, encode and describe one clip; returns its manifest record (video path relative to ``out_dir``)."""
    spec = sample_long_spec(cfg, split, index) if is_long else sample_clip_spec(cfg, split, index)
    rel = f"videos/{'long_' if is_long else ''}{split}/{clip_id(split, index, is_long)}.mp4"
    path = Path(out_dir) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    chunks = (render_frames(spec, s, s + _CHUNK_FRAMES) for s in range(0, spec.num_frames, _CHUNK_FRAMES))
    audio = render_audio(spec) if spec.with_audio else None
    encode_mp4(
        path,
        chunks,
        spec.fps,
        spec.width,
        spec.height,
        audio=audio,
        sample_rate=spec.audio_sample_rate,
        codec=cfg.codec,
        crf=cfg.crf,
        gop=cfg.gop,
    )
    return clip_record(spec, cfg, rel)


# --------------------------------------------------------------------------------------------------
# The whole world
# --------------------------------------------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(cfg: WorldConfig, out_dir: str) -> None:
    _WORKER["cfg"], _WORKER["out"] = cfg, out_dir


def _work(job: tuple[str, int, bool]) -> tuple[tuple[str, int, bool], dict[str, Any]]:
    split, index, is_long = job
    return job, make_clip(_WORKER["cfg"], split, index, _WORKER["out"], is_long)


def _run_jobs(
    jobs: list[tuple[str, int, bool]], cfg: WorldConfig, out_dir: Path, workers: int, progress: bool
) -> Iterator[tuple[tuple[str, int, bool], dict[str, Any]]]:
    from tqdm.auto import tqdm

    bar = tqdm(total=len(jobs), desc="synthetic world", unit="clip", disable=not progress)
    try:
        if workers <= 1 or len(jobs) <= 1:
            _init_worker(cfg, str(out_dir))
            for job in jobs:
                yield _work(job)
                bar.update()
            return
        method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
        ctx = mp.get_context(method)
        chunksize = max(1, min(16, len(jobs) // (workers * 8)))
        with ctx.Pool(workers, initializer=_init_worker, initargs=(cfg, str(out_dir))) as pool:
            for item in pool.imap_unordered(_work, jobs, chunksize=chunksize):
                yield item
                bar.update()
    finally:
        bar.close()


def generate_world(
    out_dir: str | os.PathLike[str],
    num_clips: dict[str, int] | None = None,
    size: int | tuple[int, int] = 112,
    fps: float = 8.0,
    num_frames: int = 16,
    seed: int = 0,
    workers: int | None = None,
    with_audio: bool = False,
    long_videos: int | dict[str, int] = 0,
    config: WorldConfig | None = None,
    progress: bool = True,
    **overrides: Any,
) -> dict[str, Path]:
    """Generate the synthetic world under ``out_dir`` and return ``{manifest name: path}``.

    ``num_clips`` maps short-clip splits (``train``, ``val``, ``test``, ``comp_test``) to counts
    (default 1000/100/100/100). ``long_videos`` gives long videos (``config.long_duration`` seconds,
    several action instances each) per split, as a dict over ``train``/``val``/``test`` or an int for
    the test split only. ``size`` is a side or ``(height, width)``. Pass a full ``config`` or override
    single :class:`WorldConfig` fields by keyword (``backgrounds=("plain",)``, ``distractors=(0, 0)``).
    Manifests are ``<split>.jsonl`` and ``long_<split>.jsonl``; ``world.json`` records the config.
    """
    if config is None:
        h, w = (size, size) if isinstance(size, int) else size
        config = WorldConfig(
            height=h, width=w, fps=fps, num_frames=num_frames, seed=seed, with_audio=with_audio
        )
    if overrides:
        try:
            config = replace(config, **overrides)
        except TypeError as e:
            raise ConfigError(f"unknown world option: {e}") from None
    counts = (
        {"train": 1000, "val": 100, "test": 100, "comp_test": 100} if num_clips is None else dict(num_clips)
    )
    for split in counts:
        if split not in SPLITS:
            raise ConfigError(f"num_clips has unknown split {split!r}; use {', '.join(SPLITS)}")
    longs = {"test": long_videos} if isinstance(long_videos, int) else dict(long_videos)
    for split in longs:
        if split not in LONG_SPLITS:
            raise ConfigError(f"long_videos has unknown split {split!r}; use {', '.join(LONG_SPLITS)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    workers = (os.cpu_count() or 1) if workers is None else int(workers)

    jobs = [(s, i, True) for s, n in longs.items() for i in range(n)]  # slow ones first
    jobs += [(s, i, False) for s, n in counts.items() for i in range(n)]
    logger.info(
        "generating %d clips and %d long videos in %s with %d workers",
        sum(counts.values()),
        sum(longs.values()),
        out,
        workers,
    )
    records: dict[tuple[str, bool], dict[int, dict[str, Any]]] = {}
    for (split, index, is_long), rec in _run_jobs(jobs, config, out, workers, progress):
        records.setdefault((split, is_long), {})[index] = rec

    manifests: dict[str, Path] = {}
    groups = [(s, False) for s, n in counts.items()] + [(s, True) for s, n in longs.items() if n > 0]
    for split, is_long in groups:
        name = f"long_{split}" if is_long else split
        recs = records.get((split, is_long), {})
        lines = [json.dumps(recs[i], sort_keys=True) for i in sorted(recs)]
        path = out / f"{name}.jsonl"
        atomic_write_text(path, "".join(line + "\n" for line in lines))
        manifests[name] = path
    meta = {
        "schema_version": SCHEMA_VERSION,
        "config": config.to_dict(),
        "video_encoder": video_encoder(config.codec),
        "classes": list(CLASSES),
        "direction_pairs": [list(p) for p in DIRECTION_PAIRS],
        "temporal_pairs": [list(p) for p in TEMPORAL_PAIRS],
        "shapes": list(SHAPES),
        "colours": {k: list(v) for k, v in COLOURS.items()},
        "colour_pitch_hz": COLOUR_PITCH_HZ,
        "textures": list(TEXTURES),
        "backgrounds": list(BACKGROUNDS),
        "manifests": {k: p.name for k, p in manifests.items()},
    }
    atomic_write_text(out / "world.json", json.dumps(meta, indent=2, sort_keys=True) + "\n")
    logger.info("wrote %s", ", ".join(str(p) for p in manifests.values()))
    return manifests


def read_manifest(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Load a JSONL manifest; each record gains ``video_path`` (absolute, from the manifest folder)."""
    path = Path(path)
    out = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rec = json.loads(line)
                rec["video_path"] = str((path.parent / rec["video"]).resolve())
                out.append(rec)
    return out
