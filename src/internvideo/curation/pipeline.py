"""The curation pipeline: stages, the work dir that makes it resumable, and the local / Ray engines.

Per-input stages (each a function ``unit -> unit`` over one input video and its clips)::

    probe -> detect -> extract -> quality -> caption -> score

Global stages (over all clips, on the driver)::

    filter -> dedup -> diversity -> write (tar shards + Parquet manifest + dropped list + report)

A *unit* is ``{"source": source record, "clips": [clip records], "dropped": [drop records]}``.

Source record: ``source_id``, ``path``; after ``probe``: ``fps``, ``num_frames``, ``duration``,
``width``, ``height``, ``codec``, ``container``, ``keyframes``; after ``detect``: ``cuts`` (first frames
of new shots), ``shots`` (``[start, end)`` frame ranges) and ``detector``.

Clip record: ``clip_id`` (``<source_id>-<nnnn>``), ``source_id``, ``source_path``, ``clip_path``
(relative to the work dir), ``start_frame`` / ``end_frame`` (``[start, end)`` in the source),
``start`` / ``end`` (s), ``fps``, ``extraction``, ``detector``; after ``quality``: ``num_frames``,
``duration``, ``width``, ``height``, ``motion_score``, ``black_ratio``, ``static_ratio``,
``signature``; after ``caption``: ``caption``, ``caption_source``, ``caption_score``,
``caption_model``, ``embedding``, ``embedding_model``; after ``score``: ``vt_score``, ``vt_model``.
The manifest columns are listed in :mod:`internvideo.curation.manifest`.

Drop record: ``id`` (clip or source id), ``source_id``, ``source_path``, ``stage``, ``reason`` (a
short tag such as ``truncated``, ``no_video_stream``, ``shot_too_short``, ``static``) and ``detail``.

Work dir: ``config.json`` (the configuration; a different one is refused), ``stages/<stage>/<source_id>.json``
(one file per input per stage, written atomically when the stage finishes for that input) and
``clips/<source_id>/<clip_id>.mp4``. A re-run skips every stage file that exists, so a killed run
resumes where it stopped and, the work being deterministic, ends with byte-identical outputs.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import multiprocessing
import os
import re
import traceback
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from internvideo._io import atomic_write_text
from internvideo.errors import ConfigError, InternVideoError, VideoReadError

from .config import CurationConfig

log = logging.getLogger(__name__)

__all__ = [
    "GLOBAL_STAGES",
    "SOURCE_STAGES",
    "CurationResult",
    "Source",
    "discover_inputs",
    "process_source",
    "run_pipeline",
    "run_source_stage",
]

SOURCE_STAGES: tuple[str, ...] = ("probe", "detect", "extract", "quality", "caption", "score")
GLOBAL_STAGES: tuple[str, ...] = ("filter", "dedup", "diversity", "write")
MEDIA_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .ts .mts .flv .wmv .3gp .ogv .gif "
    ".wav .mp3 .m4a .aac .flac .ogg .opus".split()
)

Unit = dict[str, Any]


@dataclass(frozen=True)
class Source:
    """One input video: a stable id (from its file name and absolute path) and its path."""

    source_id: str
    path: str


def _source_id(path: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_]+", "_", path.stem).strip("_")[:40] or "video"
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:8]
    return f"{stem}_{digest}"


def discover_inputs(inputs: Sequence[str | os.PathLike[str]]) -> list[Source]:
    """Sources from files and folders (searched recursively for media files), sorted by id."""
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files.extend(
                f
                for f in sorted(p.rglob("*"))
                if f.is_file() and f.suffix.lower() in MEDIA_EXTENSIONS and not f.name.startswith(".")
            )
        elif p.exists():
            files.append(p)
        else:
            raise InternVideoError(f"input {str(p)!r} does not exist")
    seen: dict[str, Source] = {}
    for f in files:
        s = Source(_source_id(f), str(f.resolve()))
        seen[s.source_id] = s
    return sorted(seen.values(), key=lambda s: s.source_id)


# ============================================================================================ stages
def _drop(
    stage: str, source: dict[str, Any], reason: str, detail: str, item_id: str | None = None
) -> dict[str, Any]:
    return {
        "id": item_id or source["source_id"],
        "source_id": source["source_id"],
        "source_path": source["path"],
        "stage": stage,
        "reason": reason,
        "detail": detail,
    }


def probe_stage(unit: Unit, cfg: CurationConfig, work: Path) -> Unit:
    """Read the input's metadata; unreadable inputs (corrupt, empty, audio-only, ...) are dropped."""
    from internvideo.data.video import probe

    src = dict(unit["source"])
    try:
        info = probe(src["path"])
    except VideoReadError as e:
        return {
            **unit,
            "source": src,
            "dropped": [*unit["dropped"], _drop("probe", src, e.reason, e.detail or str(e))],
        }
    if info.fps <= 0 or info.num_frames < 1:
        d = _drop("probe", src, "bad_metadata", f"fps {info.fps}, {info.num_frames} frames")
        return {**unit, "source": src, "dropped": [*unit["dropped"], d]}
    src.update(
        fps=info.fps,
        num_frames=info.num_frames,
        duration=round(info.duration, 6),
        width=info.width,
        height=info.height,
        codec=info.codec,
        container=info.container,
        keyframes=list(info.keyframes or []),
    )
    return {**unit, "source": src, "ok": True}


def detect_stage(unit: Unit, cfg: CurationConfig, work: Path) -> Unit:
    """Find shot boundaries."""
    from .detect import detect_cuts, shots_from_cuts

    src = dict(unit["source"])
    cuts, kind = detect_cuts(src["path"], cfg.detect)
    src.update(cuts=cuts, shots=[list(s) for s in shots_from_cuts(cuts, src["num_frames"])], detector=kind)
    return {**unit, "source": src}


def extract_stage(unit: Unit, cfg: CurationConfig, work: Path) -> Unit:
    """Cut one clip file per shot (long shots split); too-short shots and failed cuts are dropped."""
    from .extract import ClipExtractor, plan_clips

    src = unit["source"]
    fps = src["fps"]
    clips_plan, short = plan_clips([tuple(s) for s in src["shots"]], fps, cfg.extract)
    dropped = list(unit["dropped"])
    for s, e in short:
        dropped.append(
            _drop(
                "extract",
                src,
                "shot_too_short",
                f"shot [{s}, {e}) has {e - s} frames < {cfg.extract.min_clip_frames}",
                f"{src['source_id']}@{s}-{e}",
            )
        )
    clips = []
    with ClipExtractor(src["path"], cfg.extract) as ex:
        for k, (s, e) in enumerate(clips_plan):
            cid = f"{src['source_id']}-{k:04d}"
            rel = f"clips/{src['source_id']}/{cid}.mp4"
            try:
                how = ex.extract(s, e, work / rel)
            except (InternVideoError, OSError) as err:
                dropped.append(_drop("extract", src, "extract_failed", str(err), cid))
                continue
            clips.append(
                {
                    "clip_id": cid,
                    "source_id": src["source_id"],
                    "source_path": src["path"],
                    "clip_path": rel,
                    "start_frame": s,
                    "end_frame": e,
                    "start": round(s / fps, 6),
                    "end": round(e / fps, 6),
                    "fps": fps,
                    "extraction": how,
                    "detector": src["detector"],
                }
            )
    return {**unit, "clips": clips, "dropped": dropped}


def measure_clip(clip: dict[str, Any], cfg: CurationConfig, work: Path) -> dict[str, Any]:
    """Quality signals of one clip record (a pure function of the record and its clip file)."""
    from .quality import quality_signals

    return {**clip, **quality_signals(work / clip["clip_path"], cfg.quality)}


def quality_stage(unit: Unit, cfg: CurationConfig, work: Path) -> Unit:
    """Measure every clip; clips that cannot be decoded are dropped."""
    clips, dropped = [], list(unit["dropped"])
    for c in unit["clips"]:
        try:
            clips.append(measure_clip(c, cfg, work))
        except VideoReadError as e:
            dropped.append(_drop("quality", unit["source"], e.reason, e.detail or str(e), c["clip_id"]))
    return {**unit, "clips": clips, "dropped": dropped}


def caption_stage(unit: Unit, cfg: CurationConfig, work: Path) -> Unit:
    """Caption every clip with the configured captioner (no-op for ``captioner="none"``)."""
    from .captioning import build_captioner

    captioner = build_captioner(cfg.caption)
    if captioner is None or not unit["clips"]:
        return unit
    caps = captioner([str(work / c["clip_path"]) for c in unit["clips"]])
    clips = []
    for c, cap in zip(unit["clips"], caps):
        c = {
            **c,
            "caption": cap.text,
            "caption_source": cap.source,
            "caption_score": cap.score,
            "caption_model": cap.model,
        }
        if cap.embedding is not None:
            c.update(embedding=list(cap.embedding), embedding_model=cap.model)
        clips.append(c)
    return {**unit, "clips": clips}


def score_stage(unit: Unit, cfg: CurationConfig, work: Path) -> Unit:
    """Video–text similarity of each clip and its caption with the scoring model (no-op without one)."""
    from .captioning import VideoTextScorer, embed_clips, load_video_text_model

    model = cfg.caption.scorer
    clips = [dict(c) for c in unit["clips"]]
    if model is None or not clips:
        return unit
    with_cap = [c for c in clips if c.get("caption")]
    if with_cap:
        scorer = VideoTextScorer(model, cfg.caption.batch_size)
        reuse = [c.get("embedding") if c.get("embedding_model") == model else None for c in with_cap]
        scores, embs = scorer(
            [str(work / c["clip_path"]) for c in with_cap], [c["caption"] for c in with_cap], reuse
        )
        for c, s, e in zip(with_cap, scores, embs):
            c.update(vt_score=s, vt_model=model, embedding=e, embedding_model=model)
    bare = [c for c in clips if c.get("embedding_model") != model]
    if bare and cfg.select.dedup_embedding == "model":
        v = embed_clips(
            load_video_text_model(model), [str(work / c["clip_path"]) for c in bare], cfg.caption.batch_size
        )
        for c, row in zip(bare, v):
            c.update(embedding=[round(float(x), 6) for x in row], embedding_model=model)
    return {**unit, "clips": clips}


STAGE_FUNCTIONS: dict[str, Callable[[Unit, CurationConfig, Path], Unit]] = {
    "probe": probe_stage,
    "detect": detect_stage,
    "extract": extract_stage,
    "quality": quality_stage,
    "caption": caption_stage,
    "score": score_stage,
}


# ============================================================================================ work dir
def _stage_file(work: Path, stage: str, source_id: str) -> Path:
    return work / "stages" / stage / f"{source_id}.json"


def _load(path: Path) -> Unit:
    return json.loads(path.read_text(encoding="utf-8"))


def _initial_unit(source: Source) -> Unit:
    return {"source": {"source_id": source.source_id, "path": source.path}, "clips": [], "dropped": []}


def run_source_stage(stage: str, source: Source, cfg: CurationConfig, work: str | os.PathLike[str]) -> Unit:
    """Run one per-input stage for one source, or load its result when the work dir already has it.

    The previous stage's result is read from the work dir (computed first when missing). An input that
    was dropped earlier passes through unchanged. Unexpected errors drop the input with reason
    ``error`` (logged with the traceback) so the run completes.
    """
    work = Path(work)
    out = _stage_file(work, stage, source.source_id)
    if out.is_file():
        return _load(out)
    k = SOURCE_STAGES.index(stage)
    unit = _initial_unit(source) if k == 0 else run_source_stage(SOURCE_STAGES[k - 1], source, cfg, work)
    alive = k == 0 or (unit.get("ok") and not any(d["id"] == source.source_id for d in unit["dropped"]))
    if alive:
        from .captioning import one_thread

        try:
            with one_thread():  # reductions then add up in one order: identical numbers in every process
                unit = STAGE_FUNCTIONS[stage](unit, cfg, work)
        except (InternVideoError, OSError, ValueError, RuntimeError) as e:
            log.error("%s: stage %s failed: %s", source.path, stage, e)
            log.debug("%s", traceback.format_exc())
            reason = e.reason if isinstance(e, VideoReadError) else "error"
            unit = {
                **unit,
                "clips": [],
                "dropped": [*unit["dropped"], _drop(stage, unit["source"], reason, str(e))],
            }
    atomic_write_text(out, json.dumps(unit, sort_keys=True) + "\n")
    return unit


def process_source(source: Source, cfg: CurationConfig, work: str | os.PathLike[str]) -> str:
    """Run every per-input stage for one source (resuming from the work dir); returns the source id."""
    for stage in SOURCE_STAGES:
        run_source_stage(stage, source, cfg, work)
    return source.source_id


def _prepare_work_dir(work: Path, cfg: CurationConfig) -> None:
    cfg_file = work / "config.json"
    if cfg_file.is_file():
        old = json.loads(cfg_file.read_text())
        if old.get("fingerprint") != cfg.fingerprint():
            raise ConfigError(
                f"work dir {str(work)!r} was made with another configuration; use a new work dir "
                "(or delete this one) to run with these settings"
            )
        return
    work.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        cfg_file,
        json.dumps({"fingerprint": cfg.fingerprint(), "config": cfg.to_dict()}, indent=2, sort_keys=True)
        + "\n",
    )


# ============================================================================================ engines
def _worker_init() -> None:
    import torch

    torch.set_num_threads(1)


def run_local(
    sources: Sequence[Source], cfg: CurationConfig, work: Path, workers: int = 1, progress: bool = True
) -> None:
    """Per-input stages in a process pool (``workers`` processes; 1 runs in this process)."""
    from tqdm.auto import tqdm

    bar = tqdm(total=len(sources), desc="curating", unit="video", disable=not progress)
    try:
        if workers <= 1 or len(sources) <= 1:
            for s in sources:
                process_source(s, cfg, work)
                bar.update()
            return
        # spawn, not fork: forking after torch / FFmpeg started their thread pools can deadlock
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init) as pool:
            futures = [pool.submit(process_source, s, cfg, str(work)) for s in sources]
            for f in as_completed(futures):
                f.result()
                bar.update()
    finally:
        bar.close()


def _ray_stage(row: dict[str, Any], stage: str, cfg: CurationConfig, work: str) -> dict[str, Any]:
    unit = run_source_stage(stage, Source(row["source_id"], row["path"]), cfg, work)
    return {"source_id": row["source_id"], "path": row["path"], "clips": len(unit["clips"])}


def run_ray(
    sources: Sequence[Source],
    cfg: CurationConfig,
    work: Path,
    address: str | None = None,
    num_cpus: int | None = None,
) -> None:
    """Per-input stages on Ray Data: one ``map`` per stage over the inputs, with the same stage
    functions as the local engine. The work dir must be on storage every Ray node can reach."""
    try:
        import ray
        import ray.data
    except ImportError as e:
        raise ImportError("engine='ray' needs Ray Data: pip install 'internvideo[ray]'") from e

    own = not ray.is_initialized()
    if own:
        ray.init(address=address, num_cpus=num_cpus, include_dashboard=False, log_to_driver=False)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # Ray Data's own deprecated settings
            ctx = ray.data.DataContext.get_current()
            ctx.enable_progress_bars = False
            ds = ray.data.from_items([{"source_id": s.source_id, "path": s.path} for s in sources])
            for stage in SOURCE_STAGES:
                fn = functools.partial(_ray_stage, stage=stage, cfg=cfg, work=str(work))
                ds = ds.map(fn, num_cpus=1)
            done = ds.take_all()
        if len(done) != len(sources):
            raise InternVideoError(f"Ray finished {len(done)} of {len(sources)} inputs")
    finally:
        if own:
            ray.shutdown()


# ============================================================================================ global
@dataclass(frozen=True)
class CurationResult:
    """Where a run wrote its outputs, and its per-stage counts."""

    out_dir: Path
    manifest: Path
    shards: tuple[Path, ...]
    dropped: Path
    report: dict[str, Any]

    @property
    def stage_counts(self) -> dict[str, dict[str, int]]:
        return self.report["stages"]


def _clip_json(row: dict[str, Any]) -> bytes:
    return (json.dumps(row, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def finish(sources: Sequence[Source], cfg: CurationConfig, work: Path, out: Path) -> CurationResult:
    """Global stages over the per-input results: filter, dedup, diversity, then shards, manifest, report."""
    from internvideo.data.shards import write_shard

    from .manifest import manifest_row, write_manifest
    from .report import write_report
    from .select import dedup_clips, diversity_sample, filter_reason

    units = [_load(_stage_file(work, SOURCE_STAGES[-1], s.source_id)) for s in sources]
    dropped: list[dict[str, Any]] = [d for u in units for d in u["dropped"]]
    counts: dict[str, dict[str, int]] = {"inputs": {"out": len(sources), "dropped": 0}}
    # per-input stages: sources alive after probe/detect, clips after the others
    for k, stage in enumerate(SOURCE_STAGES):
        stage_units = [_load(_stage_file(work, stage, s.source_id)) for s in sources]
        n_drop = sum(1 for d in dropped if d["stage"] == stage)
        if k < 2:
            alive = sum(
                1 for u in stage_units if not any(d["id"] == u["source"]["source_id"] for d in u["dropped"])
            )
            counts[stage] = {"out": alive, "dropped": n_drop}
        else:
            counts[stage] = {"out": sum(len(u["clips"]) for u in stage_units), "dropped": n_drop}

    clips = sorted((c for u in units for c in u["clips"]), key=lambda c: c["clip_id"])
    src_of = {c["clip_id"]: c for c in clips}

    def drop_clip(stage: str, c: dict[str, Any], reason: str, detail: str) -> dict[str, Any]:
        return {
            "id": c["clip_id"],
            "source_id": c["source_id"],
            "source_path": c["source_path"],
            "stage": stage,
            "reason": reason,
            "detail": detail,
        }

    kept = []
    for c in clips:
        why = filter_reason(c, cfg.filter)
        if why is None:
            kept.append(c)
        else:
            dropped.append(drop_clip("filter", c, *why))
    counts["filter"] = {"out": len(kept), "dropped": len(clips) - len(kept)}
    kept, dups = dedup_clips(kept, cfg.select)
    dropped += [drop_clip("dedup", c, "near_duplicate", why) for c, why in dups]
    counts["dedup"] = {"out": len(kept), "dropped": len(dups)}
    kept, unsampled = diversity_sample(kept, cfg.select)
    dropped += [drop_clip("diversity", c, "not_sampled", why) for c, why in unsampled]
    counts["diversity"] = {"out": len(kept), "dropped": len(unsampled)}

    # write: fixed order, fixed shard size
    shard_dir = out / "shards"
    shard_dir.mkdir(parents=True, exist_ok=True)
    for tmp in shard_dir.glob(".shard-*.tmp"):  # left by a run that was killed while writing
        tmp.unlink()
    rows = []
    shards = []
    for i in range(0, len(kept), cfg.shard_size):
        name = f"shard-{i // cfg.shard_size:06d}.tar"
        samples = []
        for j, c in enumerate(kept[i : i + cfg.shard_size]):
            row = manifest_row({**c, "shard": name, "index": i + j})
            rows.append(row)
            data = (work / src_of[c["clip_id"]]["clip_path"]).read_bytes()
            samples.append((c["clip_id"], {"mp4": data, "json": _clip_json(row)}))
        write_shard(shard_dir / name, samples)
        shards.append(shard_dir / name)
    for stale in sorted(shard_dir.glob("shard-*.tar")):
        if stale not in shards:
            stale.unlink()
    counts["write"] = {"out": len(rows), "dropped": 0, "shards": len(shards)}
    manifest = out / "manifest.parquet"
    write_manifest(manifest, rows)
    dropped.sort(
        key=lambda d: (
            (SOURCE_STAGES + GLOBAL_STAGES).index(d["stage"])
            if d["stage"] in SOURCE_STAGES + GLOBAL_STAGES
            else 99
        )
    )
    dropped_path = out / "dropped.jsonl"
    atomic_write_text(dropped_path, "".join(json.dumps(d, sort_keys=True) + "\n" for d in dropped))
    report = write_report(out, counts, dropped, kept, extra={"config_fingerprint": cfg.fingerprint()})
    log.info("kept %d clips in %d shards; dropped %d items", len(rows), len(shards), len(dropped))
    return CurationResult(out, manifest, tuple(shards), dropped_path, report)


def run_pipeline(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    cfg: CurationConfig | None = None,
    *,
    work_dir: str | os.PathLike[str] | None = None,
    engine: str = "local",
    workers: int = 1,
    ray_address: str | None = None,
    progress: bool = True,
) -> CurationResult:
    """Curate ``inputs`` (video files or folders) into ``out_dir`` (``shards/``, ``manifest.parquet``,
    ``dropped.jsonl``, ``report.json``, ``report/*.png``).

    ``work_dir`` (default ``out_dir/work``) keeps per-stage, per-input results: re-running with the
    same arguments resumes. ``engine`` is ``local`` (a process pool of ``workers``) or ``ray``
    (Ray Data; ``ray_address`` joins a cluster, else a local instance with ``workers`` CPUs starts).
    """
    cfg = cfg or CurationConfig()
    out = Path(out_dir)
    work = Path(work_dir) if work_dir is not None else out / "work"
    if engine not in ("local", "ray"):
        raise ConfigError(f"engine must be 'local' or 'ray', got {engine!r}")
    sources = discover_inputs(inputs)
    if not sources:
        raise InternVideoError(f"no input videos found in {', '.join(map(str, inputs))}")
    _prepare_work_dir(work, cfg)
    log.info("curating %d inputs with the %s engine (work dir %s)", len(sources), engine, work)
    if engine == "ray":
        run_ray(sources, cfg, work, address=ray_address, num_cpus=None if ray_address else max(1, workers))
    else:
        run_local(sources, cfg, work, workers=workers, progress=progress)
    return finish(sources, cfg, work, out)
