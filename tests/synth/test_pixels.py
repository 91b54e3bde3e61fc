"""Ground truth is recomputed from decoded pixels, never trusted: every class, and long-video segments."""

from __future__ import annotations

import math

import numpy as np
import pytest
from synth_helpers import SIZE, decode_rgb

from internvideo.data.synth import CLASSES, COLOURS
from internvideo.data.synth.generate import read_manifest

NAMES = list(COLOURS)
PALETTE = np.array([COLOURS[n] for n in NAMES], np.float32)


def measure(frames: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame object measurements against a plain background.

    The object weight of a pixel is its colour distance to the background (the median of the
    border), so centroid and orientation stay exact even for a faint, half-transparent object.
    """
    f = frames.astype(np.float32)
    t, h, w, _ = f.shape
    border = np.concatenate([f[:, 0], f[:, -1], f[:, :, 0], f[:, :, -1]], axis=1)
    bg = np.median(border, axis=1)  # (T, 3)
    dist = np.sqrt(((f - bg[:, None, None]) ** 2).sum(-1))  # (T, H, W)
    wgt = np.where(dist > 6.0, dist, 0.0)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    m0 = wgt.sum(axis=(1, 2)) + 1e-6
    cx = (wgt * xs).sum(axis=(1, 2)) / m0
    cy = (wgt * ys).sum(axis=(1, 2)) / m0
    mask = dist > 40.0
    area = mask.sum(axis=(1, 2)).astype(np.float32)
    dx, dy = xs - cx[:, None, None], ys - cy[:, None, None]
    mu20 = (wgt * dx * dx).sum(axis=(1, 2)) / m0
    mu02 = (wgt * dy * dy).sum(axis=(1, 2)) / m0
    mu11 = (wgt * dx * dy).sum(axis=(1, 2)) / m0
    angle = 0.5 * np.arctan2(2 * mu11, mu20 - mu02)  # increases clockwise on screen (y down)
    inner = mask.copy()  # erode by one pixel: chroma subsampling blurs the edges
    inner[:, 1:-1, 1:-1] &= mask[:, :-2, 1:-1] & mask[:, 2:, 1:-1] & mask[:, 1:-1, :-2] & mask[:, 1:-1, 2:]
    n_in = np.maximum(inner.sum(axis=(1, 2)), 1)[:, None]
    colour = (f * inner[..., None]).sum(axis=(1, 2)) / n_in
    return {
        "cx": cx,
        "cy": cy,
        "area": area,
        "angle": angle,
        "colour": colour,
        "contrast": m0,
        "peak": np.percentile(dist.reshape(t, -1), 99.5, axis=1),
    }


def colour_name(rgb: np.ndarray) -> str:
    return NAMES[int(np.argmin(((PALETTE - rgb) ** 2).sum(1)))]


def unwrap_half(angle: np.ndarray) -> np.ndarray:
    """Unwrap an orientation defined modulo pi."""
    return np.unwrap(2 * angle) / 2


@pytest.fixture(scope="module")
def clips(plain_world):
    recs = read_manifest(plain_world["train"])
    return [(r, measure(decode_rgb(r["video_path"]))) for r in recs]


def _moved(m: dict[str, np.ndarray], axis: str) -> np.ndarray:
    return np.diff(m["cx" if axis == "x" else "cy"])


def check_clip(rec: dict, m: dict[str, np.ndarray]) -> None:
    name = rec["label_name"]
    ev = rec["events"][0]
    n = rec["num_frames"]
    vx, vy = np.diff(m["cx"]), np.diff(m["cy"])
    disp = math.hypot(m["cx"][-1] - m["cx"][0], m["cy"][-1] - m["cy"][0])
    area_ratio = m["area"][-1] / max(m["area"][0], 1.0)
    # the labelled colour is the colour of the first frame (of the most opaque frame for fades)
    ref = int(np.argmax(m["contrast"])) if name.startswith("fades") else 0
    assert colour_name(m["colour"][ref]) == (ev.get("from_colour") or rec["objects"][0]["colour"]), name

    if name in ("moves_left", "moves_right", "moves_up", "moves_down"):
        along, across = (vx, vy) if name in ("moves_left", "moves_right") else (vy, vx)
        sign = -1 if name in ("moves_left", "moves_up") else 1
        assert sign * along.sum() > 0.2 * SIZE, name
        assert np.all(sign * along > 0.2), name  # steady motion every frame
        assert np.abs(across).max() < 0.3, name
        assert 0.85 < area_ratio < 1.15, name
    elif name in ("grows", "shrinks"):
        assert (area_ratio > 2.0) if name == "grows" else (area_ratio < 0.5), name
        d_area = np.diff(m["area"])
        assert np.all(d_area > 0) if name == "grows" else np.all(d_area < 0), name
        assert disp < 1.0, name
    elif name.startswith("rotates"):
        ang = unwrap_half(m["angle"])
        step = np.diff(ang)
        sign = 1 if name == "rotates_clockwise" else -1
        assert sign * (ang[-1] - ang[0]) > math.radians(45), name
        assert np.all(sign * step > 0), name
        assert disp < 1.0, name
    elif name in ("fades_in", "fades_out"):
        c = m["contrast"]
        assert (c[-1] > 4 * c[0]) if name == "fades_in" else (c[0] > 4 * c[-1]), name
        assert np.all(np.diff(c) > 0) if name == "fades_in" else np.all(np.diff(c) < 0), name
        clear = c > 0.3 * c.max()  # the centroid of a nearly invisible object is compression noise
        assert np.ptp(m["cx"][clear]) < 1.0 and np.ptp(m["cy"][clear]) < 1.0, name
    elif name in ("speeds_up", "slows_down"):
        speed = np.hypot(vx, vy)
        early, late = speed[:5].mean(), speed[-5:].mean()
        assert (late > 2.5 * early) if name == "speeds_up" else (early > 2.5 * late), name
        assert disp > 0.3 * SIZE, name
    elif name == "bounces":
        axis_v = vx if abs(vx).sum() > abs(vy).sum() else vy
        signs = np.sign(axis_v[np.abs(axis_v) > 0.2])
        assert np.count_nonzero(np.diff(signs)) == 1, "exactly one reversal"
        flip = int(np.argmax(np.sign(axis_v) != np.sign(axis_v[0])))  # first step after the bounce
        bounce_frame = ev["bounce_times"][0] * rec["fps"]
        assert flip - 1 <= bounce_frame <= flip + 1, (flip, bounce_frame)
    elif name == "stays_still":
        assert np.ptp(m["cx"]) < 0.3 and np.ptp(m["cy"]) < 0.3
        assert np.ptp(m["area"]) <= 0.03 * m["area"].mean()
    elif name == "changes_colour":
        k0, k1 = ev["start_frame"], ev["end_frame"]
        names = [colour_name(c) for c in m["colour"]]
        assert all(c == ev["from_colour"] for c in names[: k0 + 1]), names
        assert all(c == ev["to_colour"] for c in names[k1:]), names
        assert disp < 0.5
    elif name in ("moves_then_changes_colour", "changes_colour_then_moves"):
        names = [colour_name(c) for c in m["colour"]]
        steps = {s["action"].split("_")[0]: s for s in ev["steps"]}
        mv, ch = steps["moves"], steps["changes"]
        assert [s["action"].startswith("moves") for s in ev["steps"]] == [
            name.startswith("moves"),
            name.startswith("changes"),
        ]
        direction = mv["action"].split("_")[1]
        along = vx if direction in ("left", "right") else vy
        sign = -1 if direction in ("left", "up") else 1
        inside = np.zeros(n - 1, bool)
        inside[mv["start_frame"] : mv["end_frame"]] = True
        assert np.all(sign * along[inside] > 0.2), name
        assert np.all(np.abs(np.hypot(vx, vy)[~inside]) < 0.3), name
        assert names[ch["start_frame"]] == ev["from_colour"] and names[ch["end_frame"]] == ch["to_colour"], (
            names
        )
        assert all(c == ev["from_colour"] for c in names[: ch["start_frame"] + 1])
        assert all(c == ch["to_colour"] for c in names[ch["end_frame"] :])
    else:  # pragma: no cover
        raise AssertionError(f"no pixel check for {name}")


def test_every_class_is_present(clips):
    assert sorted({r["label_name"] for r, _ in clips}) == sorted(CLASSES)


def test_ground_truth_from_pixels(clips):
    failures = []
    for rec, m in clips:
        try:
            check_clip(rec, m)
        except AssertionError as e:
            failures.append(f"{rec['id']} {rec['label_name']}: {e}")
    assert not failures, "\n".join(failures)


def test_localisation_segments_match_motion(plain_long_world):
    recs = read_manifest(plain_long_world["long_test"])
    assert len(recs) == 3 and all(r["duration"] >= 45.0 - 1e-6 for r in recs)
    assert len({e["action"] for r in recs for e in r["events"]}) == len(CLASSES) - 1  # all but stays_still
    for rec in recs:
        m = measure(decode_rgb(rec["video_path"]))
        n = rec["num_frames"]
        contrast = m["contrast"]
        rel_c = np.abs(np.diff(contrast)) / np.maximum(contrast[:-1], contrast[1:])
        opaque = m["peak"] > 50  # a faint object's centroid and colour are compression noise
        clear = opaque[:-1] & opaque[1:]
        move = np.hypot(np.diff(m["cx"]), np.diff(m["cy"]))
        elongated = rec["objects"][0]["shape"] in ("rectangle", "ellipse", "diamond")
        turn = np.abs(np.diff(unwrap_half(m["angle"]))) if elongated else np.zeros(n - 1)
        recolour = np.sqrt((np.diff(m["colour"], axis=0) ** 2).sum(1))
        changing = (rel_c > np.where(clear, 0.015, 0.12)) | (
            clear & ((move > 0.15) | (turn > math.radians(1.0)) | (recolour > 3.0))
        )
        inside = np.zeros(n - 1, bool)
        assert len(rec["events"]) >= 3
        for ev in rec["events"]:
            s, e = ev["start_frame"], ev["end_frame"]
            assert abs(ev["start"] - s / rec["fps"]) < 1e-3 and abs(ev["end"] - e / rec["fps"]) < 1e-3
            inside[s:e] = True
            active = np.flatnonzero(changing[s:e])
            assert active.size >= 0.5 * (e - s), (ev, changing[s:e])
            assert active[-1] - active[0] + 1 >= 0.7 * (e - s), (ev, changing[s:e])
        outside = np.flatnonzero(changing & ~inside)
        assert outside.size == 0, (
            f"{rec['id']}: change outside every segment at frame steps {outside.tolist()}"
        )
        queries = rec["moment_queries"]
        assert len(queries) >= len(rec["events"])
        assert all(0 <= q["start"] < q["end"] <= rec["duration"] for q in queries)
