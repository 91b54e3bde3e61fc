"""Do the temporal classes of the synthetic world really need time?

Generates a world of the temporal-pair classes (encoded files, the default varied scenes), decodes the
test split and trains the same simple classifier (logistic regression, numpy) on three feature sets:
the middle frame, the mean frame, and trajectory features from frame differences. Each pair is a
binary problem (chance 0.5). Expected: middle / mean <= 0.75 (1.5x chance), temporal >= 0.90.

Usage: python benchmarks/synth_temporal_baselines.py [--train-per-class 60] [--test-per-class 30]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from internvideo.data.synth import CLASS_INDEX, CLASSES, DIRECTION_PAIRS, TEMPORAL_PAIRS, generate_world
from internvideo.data.synth.baselines import (
    LogisticRegression,
    mean_frame_features,
    middle_frame_features,
    pair_accuracies,
    temporal_features,
)
from internvideo.data.synth.generate import read_manifest

FEATURES = {"middle": middle_frame_features, "mean": mean_frame_features, "temporal": temporal_features}


def _decoder():
    """The project's reader when available, else PyAV: path -> uint8 (T, H, W, 3)."""
    try:
        from internvideo.data.video import VideoReader, probe

        def read(path: str) -> np.ndarray:
            n = probe(path).num_frames
            return VideoReader(path).get_frames(list(range(n))).permute(0, 2, 3, 1).numpy()

        return read, "internvideo.data.video"
    except ImportError:
        import av

        def read(path: str) -> np.ndarray:
            with av.open(path) as c:
                return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])

        return read, "PyAV"


def _features(manifest: Path, read) -> tuple[dict[str, np.ndarray], np.ndarray]:
    recs = read_manifest(manifest)
    feats: dict[str, list[np.ndarray]] = {k: [] for k in FEATURES}
    for start in range(0, len(recs), 64):
        batch = np.stack([read(r["video_path"]) for r in recs[start : start + 64]])
        for k, fn in FEATURES.items():
            feats[k].append(fn(batch))
    labels = np.array([r["label"] for r in recs])
    return {k: np.concatenate(v) for k, v in feats.items()}, labels


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train-per-class", type=int, default=60)
    p.add_argument("--test-per-class", type=int, default=30)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    actions = tuple(a for pair in TEMPORAL_PAIRS for a in pair)
    read, reader_name = _decoder()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        manifests = generate_world(
            tmp,
            num_clips={
                "train": args.train_per_class * len(actions),
                "test": args.test_per_class * len(actions),
            },
            size=args.size,
            num_frames=args.frames,
            seed=args.seed,
            workers=args.workers,
            actions=actions,
            progress=False,
        )
        t1 = time.perf_counter()
        f_tr, y_tr = _features(manifests["train"], read)
        f_te, y_te = _features(manifests["test"], read)
        t2 = time.perf_counter()
    print(
        f"world: {len(y_tr)} train / {len(y_te)} test clips, {args.frames} frames at {args.size}px, "
        f"default scenes (all backgrounds, textures, 0-2 distractors, sensor noise); "
        f"generated in {t1 - t0:.0f} s, decoded with {reader_name} + features in {t2 - t1:.0f} s"
    )
    pairs = [(CLASS_INDEX[a], CLASS_INDEX[b]) for a, b in TEMPORAL_PAIRS]
    results = {k: pair_accuracies(f_tr[k], y_tr, f_te[k], y_te, pairs) for k in FEATURES}
    print(f"\n{'pair (binary, chance 0.50)':52s}" + "".join(f"{k:>10s}" for k in FEATURES))
    for a, b in pairs:
        print(
            f"{CLASSES[a] + ' / ' + CLASSES[b]:52s}"
            + "".join(f"{results[k][(a, b)]:10.3f}" for k in FEATURES)
        )
    n_dir = len(DIRECTION_PAIRS)
    means = {k: float(np.mean([results[k][pr] for pr in pairs[:n_dir]])) for k in FEATURES}
    print(f"{'mean over the 6 direction pairs':52s}" + "".join(f"{means[k]:10.3f}" for k in FEATURES))

    # One 12-way classifier over the direction-pair classes: a static feature can at best name the
    # pair (ceiling 0.5, i.e. 6x the 1/12 chance); only time separates its two members.
    dir_ids = [i for pr in pairs[:n_dir] for i in pr]
    tr, te = np.isin(y_tr, dir_ids), np.isin(y_te, dir_ids)
    print("\n12-way over the direction-pair classes (chance 0.083, ceiling without time 0.50):")
    for k in FEATURES:
        clf = LogisticRegression().fit(f_tr[k][tr], y_tr[tr])
        print(f"  {k:10s} {float((clf.predict(f_te[k][te]) == y_te[te]).mean()):.3f}")
    ok = means["middle"] <= 0.75 and means["mean"] <= 0.75 and means["temporal"] >= 0.90
    print(f"\ncriteria (static <= 1.5x chance = 0.75, temporal >= 0.90): {'PASS' if ok else 'FAIL'}")


if __name__ == "__main__":
    main()
