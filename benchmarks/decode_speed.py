"""Clip-sampling speed: our VideoReader against plain PyAV, decord and OpenCV.

Each measurement opens the file, samples ``num_frames`` frames with the ``middle`` policy, returns
them as RGB arrays and closes the file (one "clip"). Prints clips/s (best and median over repeats) and
the ratio of our median to the best peer's median (>= 1.0 means we are at least as fast).

    python benchmarks/decode_speed.py [--repeats 7] [--frames 8 16] [FILES...]

decord and OpenCV are measured when importable (``pip install decord opencv-python-headless``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from internvideo._paths import shared_dir
from internvideo.data.sampling import middle_indices
from internvideo.data.video import VideoReader


def ours(path: str, num_frames: int) -> np.ndarray:
    with VideoReader(path, backend="pyav") as r:
        return r.get_frames(middle_indices(num_frames, len(r))).numpy()


def pyav_full(path: str, num_frames: int) -> np.ndarray:
    """The upstream ``av`` backend: decode every frame, then index."""
    with av.open(path) as c:
        s = c.streams.video[0]
        s.thread_type = "AUTO"
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(s)]
    idx = middle_indices(num_frames, len(frames))
    return np.stack([frames[i] for i in idx])


def make_decord() -> Callable[[str, int], np.ndarray] | None:
    try:
        import decord
    except ImportError:
        return None

    def run(path: str, num_frames: int) -> np.ndarray:
        vr = decord.VideoReader(path, ctx=decord.cpu(0))
        return vr.get_batch(middle_indices(num_frames, len(vr))).asnumpy()

    return run


def make_opencv() -> Callable[[str, int], np.ndarray] | None:
    try:
        import cv2
    except ImportError:
        return None

    def run(path: str, num_frames: int) -> np.ndarray:
        cap = cv2.VideoCapture(path)
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        wanted = middle_indices(num_frames, n)
        want = set(wanted)
        got: dict[int, np.ndarray] = {}
        for i in range(max(wanted) + 1):
            if not cap.grab():
                break
            if i in want:
                ok, bgr = cap.retrieve()
                if ok:
                    got[i] = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        cap.release()
        return np.stack([got[i] for i in wanted])

    return run


def measure(readers: dict[str, Callable[[str, int], np.ndarray]], path: str, n: int, repeats: int):
    """Seconds per clip for every reader, interleaved round-robin so load drifts hit all alike."""
    for fn in readers.values():
        fn(path, n)  # warm-up (page cache, lazy imports)
    times: dict[str, list[float]] = {name: [] for name in readers}
    for _ in range(repeats):
        for name, fn in readers.items():
            t = time.perf_counter()
            fn(path, n)
            times[name].append(time.perf_counter() - t)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="*", help="videos (default: the shared real media)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--frames", type=int, nargs="+", default=[8, 16])
    args = ap.parse_args()

    files = [Path(f) for f in args.files]
    if not files:
        media = (shared_dir() or Path("../shared")) / "media"
        files = [media / "test.mp4", media / "example1.mp4"]
    readers: dict[str, Callable[[str, int], np.ndarray]] = {"ours": ours, "pyav-full": pyav_full}
    for name, factory in (("decord", make_decord), ("opencv", make_opencv)):
        fn = factory()
        if fn is None:
            print(f"({name} not importable: skipped)")
        else:
            readers[name] = fn

    header = f"{'file':<14}{'T':>4}  " + "".join(f"{name:>22}" for name in readers) + f"{'ours/best':>11}"
    print("clips/s as best / median over", args.repeats, "repeats")
    print(header)
    print("-" * len(header))
    for path in files:
        for n in args.frames:
            ref = ours(str(path), n).transpose(0, 2, 3, 1)  # (T, H, W, C) like the peers
            times = measure(readers, str(path), n, args.repeats)
            cells, medians = [], {}
            for name, fn in readers.items():
                out = fn(str(path), n)
                if out.shape[-1] != 3:
                    out = out.transpose(0, 2, 3, 1)
                same = out.shape == ref.shape and np.array_equal(out, ref)
                ts = times[name]
                medians[name] = statistics.median(ts)
                mark = "" if same else "*"
                cells.append(f"{1 / min(ts):9.1f} / {1 / medians[name]:7.1f}{mark:1}".rjust(22))
            best_peer = min(v for k, v in medians.items() if k != "ours")
            ratio = best_peer / medians["ours"]
            print(f"{path.name:<14}{n:>4}  " + "".join(cells) + f"{ratio:>11.2f}")
    print("(* = frames differ from ours; ours/best = best peer median time / our median time)")


if __name__ == "__main__":
    main()
