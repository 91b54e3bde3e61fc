"""Selection stages over all clips: filtering rules, near-duplicate removal, diversity sampling.

Each returns ``(kept, dropped)`` where ``dropped`` pairs a clip with a human-readable reason; the
result depends only on the clip records (sorted by ``clip_id``) and the configuration.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from .config import FilterConfig, SelectConfig

__all__ = ["dedup_clips", "diversity_sample", "filter_reason", "inverse_frequency_weights"]

Clip = dict[str, Any]


def filter_reason(clip: Clip, cfg: FilterConfig) -> tuple[str, str] | None:
    """The first rule a clip breaks as ``(reason tag, detail)``, or ``None`` when it passes."""
    d = clip.get("duration", 0.0)
    if cfg.min_duration is not None and d < cfg.min_duration:
        return "too_short", f"duration {d:.2f} s < {cfg.min_duration:g} s"
    if cfg.max_duration is not None and d > cfg.max_duration:
        return "too_long", f"duration {d:.2f} s > {cfg.max_duration:g} s"
    side = min(clip.get("width", 0), clip.get("height", 0))
    if cfg.min_short_side is not None and side < cfg.min_short_side:
        return "low_resolution", f"short side {side} px < {cfg.min_short_side} px"
    b = clip.get("black_ratio", 0.0)
    if cfg.max_black_ratio is not None and b > cfg.max_black_ratio:
        return "black", f"{b:.0%} black frames > {cfg.max_black_ratio:.0%}"
    s = clip.get("static_ratio", 0.0)
    if cfg.max_static_ratio is not None and s > cfg.max_static_ratio:
        return "static", f"{s:.0%} static frame pairs > {cfg.max_static_ratio:.0%}"
    m = clip.get("motion_score", 0.0)
    if cfg.min_motion is not None and m < cfg.min_motion:
        return "low_motion", f"motion score {m:.2f} < {cfg.min_motion:g}"
    vt = clip.get("vt_score")
    if cfg.min_vt_score is not None:
        if vt is None:
            return "no_score", "no video-text score (no caption or no scoring model)"
        if vt < cfg.min_vt_score:
            return "low_vt_score", f"video-text score {vt:.3f} < {cfg.min_vt_score:g}"
    return None


def dedup_clips(clips: Sequence[Clip], cfg: SelectConfig) -> tuple[list[Clip], list[tuple[Clip, str]]]:
    """Drop clips whose embedding has cosine similarity >= ``dedup_threshold`` with an earlier kept clip."""
    ordered = sorted(clips, key=lambda c: c["clip_id"])
    if not cfg.dedup or not ordered:
        return list(ordered), []
    key = "signature" if cfg.dedup_embedding == "signature" else "embedding"
    kept: list[Clip] = []
    kept_vecs: list[np.ndarray] = []
    dropped: list[tuple[Clip, str]] = []
    for c in ordered:
        vec = np.asarray(c.get(key) or [], dtype=np.float64)
        n = np.linalg.norm(vec)
        if n == 0:  # nothing to compare (a flat clip): keep it
            kept.append(c)
            continue
        vec = vec / n
        if kept_vecs:
            sims = np.stack(kept_vecs) @ vec
            j = int(np.argmax(sims))
            if sims[j] >= cfg.dedup_threshold:
                dropped.append((c, f"near duplicate of {kept[j]['clip_id']} (cosine {sims[j]:.4f})"))
                continue
        kept.append(c)
        kept_vecs.append(vec)
    return kept, dropped


def inverse_frequency_weights(clips: Sequence[Clip]) -> list[float]:
    """InternVid's diversity weights: ``1 / number of clips of the same source``, normalised to sum 1."""
    counts = Counter(c["source_id"] for c in clips)
    w = np.array([1.0 / counts[c["source_id"]] for c in clips])
    return list(w / w.sum()) if len(w) else []


def _uniform(seed: int, clip_id: str) -> float:
    h = hashlib.sha256(f"{seed}:{clip_id}".encode()).digest()
    return (int.from_bytes(h[:8], "big") + 0.5) / 2**64


def diversity_sample(clips: Sequence[Clip], cfg: SelectConfig) -> tuple[list[Clip], list[tuple[Clip, str]]]:
    """Draw ``max_clips`` clips without replacement with inverse-frequency weights (all when ``None``).

    Weighted sampling without replacement by the exponential-key method (key ``u ** (1 / w)``, largest
    keys win) with ``u`` a hash of ``(seed, clip_id)``: deterministic and independent of input order.
    Each kept clip records its ``sampling_weight``.
    """
    ordered = sorted(clips, key=lambda c: c["clip_id"])
    weights = inverse_frequency_weights(ordered)
    for c, w in zip(ordered, weights):
        c["sampling_weight"] = round(float(w), 8)
    if cfg.max_clips is None or cfg.max_clips >= len(ordered):
        return ordered, []
    keys = [np.log(_uniform(cfg.seed, c["clip_id"])) / w for c, w in zip(ordered, weights)]
    order = sorted(range(len(ordered)), key=lambda i: (-keys[i], ordered[i]["clip_id"]))
    chosen = set(order[: cfg.max_clips])
    kept = [c for i, c in enumerate(ordered) if i in chosen]
    dropped = [
        (c, f"not drawn by diversity sampling ({cfg.max_clips} of {len(ordered)})")
        for i, c in enumerate(ordered)
        if i not in chosen
    ]
    return kept, dropped
