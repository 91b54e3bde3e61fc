"""``internvideo demo``: the main job end to end on the embedded default model, with its own checks.

It generates a small synthetic collection (short clips whose shape, colour and action are known, and a
long video with timed events), adds the real videos of the shared media folder when present, indexes
everything (segments with timestamps for the long videos), re-runs the index to show that unchanged
files are skipped, runs natural-language queries (paraphrases included) and checks that each query's
top hit is a clip showing what the query describes (plus one query in held-out vocabulary, shown only), searches a moment of the long video, and
labels a few clips zero-shot. It prints tables and timings, and exits non-zero on a missed query.

This module talks to the terminal (it is the demo command's body); the library it calls only logs.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

from ._paths import shared_dir

#: Segment settings of the demo index (seconds): the long video gets a segment every 2 s.
WINDOW, STRIDE = 4.0, 2.0
NUM_CLIPS = 34  # two of every synthetic class
NUM_QUERIES = 5
LONG_DURATION = 24.0


def _say(msg: str = "") -> None:
    print(msg, flush=True)


def _media(media_dir: str | None) -> list[Path]:
    folder = Path(media_dir) if media_dir else (shared_dir() / "media" if shared_dir() else None)
    return sorted(folder.glob("*.mp4")) if folder and folder.is_dir() else []


def _short(path: str, root: Path) -> str:
    p = Path(path)
    try:
        return str(p.relative_to(root))
    except ValueError:
        return p.name


def pick_queries(
    rows: list[dict[str, Any]], avoid: set[tuple[str, str]], n: int = NUM_QUERIES
) -> list[dict[str, Any]]:
    """Queries with an unambiguous ground truth: clips whose target (shape, colour) no other video shows,
    with distinct actions; alternately a paraphrase (the clip's last caption: other synonyms and another
    sentence frame of the caption grammar) and the clip's first caption.

    Each query: ``text``, ``paraphrase`` (bool), ``clip`` (its row), ``truth`` (paths of every clip with
    the same shape, colour and action) and ``heldout`` (the clip's held-out-vocabulary paraphrase).
    """
    from .train.video_text import synth_match_key

    def sc(r: dict[str, Any]) -> tuple[str, str]:
        return r["objects"][0]["shape"], r["objects"][0]["colour"]

    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        counts[sc(r)] = counts.get(sc(r), 0) + 1
    queries, actions = [], set()
    for r in rows:
        if counts[sc(r)] != 1 or sc(r) in avoid or r["label"] in actions:
            continue
        actions.add(r["label"])
        paraphrase = len(queries) % 2 == 0
        text = r["captions"][-1] if paraphrase else r["captions"][0]
        truth = {x["video_path"] for x in rows if synth_match_key(x) == synth_match_key(r)}
        heldout = (r.get("captions_heldout") or [None])[0]
        queries.append(
            {"text": text, "paraphrase": paraphrase, "clip": r, "truth": truth, "heldout": heldout}
        )
        if len(queries) == n:
            break
    return queries


def run_demo(
    media_dir: str | None = None,
    out_dir: Path = Path("demo_out"),
    model: str | None = None,
    clips: int = NUM_CLIPS,
) -> int:
    """Run the tour; returns the exit code (0 when every checked query's top hit is right)."""
    import torch

    from .cli import _table
    from .data.synth import CLASSES, generate_world, read_manifest
    from .index import build_index, classify_videos, load_model, search_text
    from .index.store import VideoIndex
    from .models.default import DEFAULT_MODEL
    from .train.video_text import SynthWorldData, synth_class_prompts

    torch.manual_seed(0)
    t_all = time.perf_counter()
    out_dir = Path(out_dir)
    timings: list[tuple[str, str]] = []

    # 1. the model --------------------------------------------------------------------------------
    t0 = time.perf_counter()
    net = load_model(model or DEFAULT_MODEL)
    pre = net.cfg.vision  # type: ignore[union-attr]
    n_params = sum(p.numel() for p in net.parameters()) / 1e6
    timings.append(("load model", f"{time.perf_counter() - t0:.1f} s"))
    _say(
        f"model: {net.index_model_name} ({n_params:.1f} M parameters, {pre.num_frames} frames at "
        f"{pre.img_size} px, fingerprint {net.fingerprint})"
    )

    # 2. the collection ---------------------------------------------------------------------------
    t0 = time.perf_counter()
    coll, index_dir = out_dir / "collection", out_dir / "index"
    for d in (coll, index_dir):  # the demo's own folders: start fresh every time
        if d.exists():
            shutil.rmtree(d)
    d = SynthWorldData()  # the distribution the default model was trained on
    manifests = generate_world(
        coll,
        num_clips={"test": clips},
        size=d.size,
        fps=d.fps,
        num_frames=d.num_frames,
        seed=d.seed,
        workers=2,
        progress=False,
        long_videos={"test": 1},
        long_duration=LONG_DURATION,
    )
    rows = read_manifest(manifests["test"])
    long_row = read_manifest(manifests["long_test"])[0]
    media = _media(media_dir)
    timings.append(("generate collection", f"{time.perf_counter() - t0:.1f} s"))
    _say(
        f"collection: {len(rows)} synthetic clips ({d.num_frames} frames, {d.size} px), one "
        f"{LONG_DURATION:.0f} s video with {len(long_row['events'])} timed events"
        + (f", {len(media)} real videos from {media[0].parent}" if media else " (no real media folder found)")
    )

    # 3. index (and an incremental re-run) ---------------------------------------------------------
    report = build_index(
        [coll / "videos", *media], index_dir, net, window=WINDOW, stride=STRIDE, progress=True
    )
    timings.append(("index", f"{report.seconds:.1f} s ({report.videos_per_second:.1f} videos/s embedding)"))
    _say(
        f"index: {report.videos} videos, {report.items} items (whole videos + {WINDOW:g} s segments every "
        f"{STRIDE:g} s of longer videos), {len(report.failures)} unreadable, {report.seconds:.1f} s -> {index_dir}"
    )
    again = build_index([coll / "videos", *media], index_dir, net, window=WINDOW, stride=STRIDE)
    timings.append(("re-index (nothing changed)", f"{again.seconds:.2f} s"))
    _say(f"re-run: {again.embedded} embedded, {again.unchanged} unchanged ({again.seconds:.2f} s)")
    index = VideoIndex.open(index_dir)

    # 4. natural-language queries with ground truth -------------------------------------------------
    target = long_row["objects"][0]
    queries = pick_queries(rows, avoid={(target["shape"], target["colour"])})
    t0 = time.perf_counter()
    results = search_text(index, net, [q["text"] for q in queries], k=3)
    timings.append(("search", f"{1e3 * (time.perf_counter() - t0) / max(1, len(queries)):.0f} ms per query"))
    # one query in words the captions never use, shown but not checked: see the model card's limits
    extra = [dict(q, text=q["heldout"], unchecked=True) for q in queries[:1] if q["heldout"]]
    results += search_text(index, net, [q["text"] for q in extra], k=3) if extra else []
    misses = 0
    for n, (q, hits) in enumerate(zip(queries + extra, results), 1):
        ok = bool(hits) and hits[0].kind == "video" and hits[0].path in q["truth"]
        clip = q["clip"]
        truth = f"{clip['objects'][0]['colour']} {clip['objects'][0]['shape']}, {clip['label_name']}"
        if q.get("unchecked"):
            kind = "held-out vocabulary, shown but not checked"
        else:
            misses += not ok
            kind = "paraphrase" if q["paraphrase"] else "caption"
        _say(f'\nquery {n} ({kind}): "{q["text"]}"\n  ground truth: {truth} ({len(q["truth"])} clip(s))')
        table = [
            (
                h.rank,
                f"{h.score:.3f}",
                _short(h.path, coll),
                "whole" if h.kind == "video" else f"{h.start:.1f}-{h.end:.1f} s",
                "yes" if h.kind == "video" and h.path in q["truth"] else "",
            )
            for h in hits
        ]
        _say("  " + _table(table, ["rank", "score", "video", "time", "match"]).replace("\n", "\n  "))
        _say(f"  -> {'ok' if ok else 'MISS'}" + (" (not counted)" if q.get("unchecked") else ""))

    # 5. a moment in the long video (timestamps) -----------------------------------------------------
    event = long_row["events"][0]
    moment = search_text(index, net, [event["caption"]], k=3, kind="segment")[0]
    _say(
        f'\nmoment search: "{event["caption"]}" (in {_short(long_row["video_path"], coll)} the event runs '
        f"{event['start']:.1f}-{event['end']:.1f} s)"
    )
    table = [(h.rank, f"{h.score:.3f}", _short(h.path, coll), f"{h.start:.1f}-{h.end:.1f} s") for h in moment]
    _say("  " + _table(table, ["rank", "score", "video", "segment"]).replace("\n", "\n  "))

    # 6. zero-shot classification -------------------------------------------------------------------
    t0 = time.perf_counter()
    sample = [q["clip"] for q in queries]
    prompts = synth_class_prompts()
    labels = classify_videos(
        net,
        [r["video_path"] for r in sample],
        list(CLASSES),
        prompts=[prompts[i] for i in range(len(CLASSES))],
    )
    timings.append(("zero-shot classification", f"{time.perf_counter() - t0:.1f} s for {len(sample)} clips"))
    correct = sum(lab.get("label") == r["label_name"] for lab, r in zip(labels, sample))
    _say(f"\nzero-shot classification over the {len(CLASSES)} synthetic classes:")
    table = [
        (
            _short(r["video_path"], coll),
            r["label_name"],
            lab.get("label", lab.get("error")),
            f"{lab.get('score', 0.0):.2f}",
        )
        for lab, r in zip(labels, sample)
    ]
    _say("  " + _table(table, ["clip", "true class", "predicted", "probability"]).replace("\n", "\n  "))
    _say(f"  {correct} of {len(sample)} correct")

    # 7. summary -----------------------------------------------------------------------------------
    timings.append(("total", f"{time.perf_counter() - t_all:.1f} s"))
    _say("\ntimings:\n  " + _table(timings, ["step", "time"]).replace("\n", "\n  "))
    if misses:
        _say(f"\nFAILED: {misses} of {len(queries)} queries missed their ground truth")
        return 1
    _say(f"\nall {len(queries)} queries found their ground truth at rank 1")
    return 0
