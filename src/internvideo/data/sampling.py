"""Frame-sampling policies of InternVideo2, as pure functions returning frame indices.

Every function takes the video length in frames (``vlen``) and returns a list of ``int`` indices into
``[0, vlen)``. Random policies take ``seed`` or a ``numpy.random.Generator`` and never touch global
random state, so a seed reproduces the same indices everywhere.

Which policy serves which protocol:

* ``middle`` -- stage-2 / CLIP evaluation (retrieval, zero-shot): centre frame of equal intervals.
* ``rand`` -- stage-2 / CLIP training: a random frame in each equal interval (TSN style).
* ``segment`` -- single-modality classification test views (``kinetics_sparse``): clip ``k`` of ``n``
  takes a fixed offset of ``(k+1)/(n+1)`` of each segment. ``num_clips=1, clip_idx=0`` is the
  validation view.
* ``random_segment`` -- single-modality classification training: a random frame per segment.
* ``stride`` -- dense sampling at a fixed stride (``kinetics_dense`` style): the longest regular stride
  that fits, from a random start in training and from evenly spread starts for test views. Every gap
  between sampled frames is equal, which speed-sensitive classes (accelerating vs decelerating) need;
  segment sampling jitters the gaps.
* ``fps`` -- long-video / QA use: frames at a target rate, centred in each ``1/target_fps`` bin.
* :func:`dense_windows` -- overlapping fixed-length windows for temporal-localisation features.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

__all__ = [
    "dense_windows",
    "fps_indices",
    "middle_indices",
    "rand_indices",
    "random_segment_indices",
    "sample_indices",
    "segment_indices",
    "strided_indices",
    "SAMPLING_POLICIES",
]


def _check(num_frames: int, vlen: int) -> None:
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if vlen < 1:
        raise ValueError(f"the video must have at least one frame, got vlen={vlen}")


def _rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def _intervals(num_frames: int, vlen: int) -> list[tuple[int, int]]:
    """Equal intervals ``[start, end)`` as the official ``get_frame_indices`` builds them."""
    acc = min(num_frames, vlen)
    # np.linspace(0, vlen, acc + 1).astype(int), computed as numpy does (i * step, the end exact) without
    # its overhead (~50 us a call, paid per decoded clip)
    step = vlen / acc
    edges = [int(i * step) for i in range(acc)] + [vlen]
    return [(edges[i], edges[i + 1]) for i in range(acc)]


def _pad_last(indices: list[int], num_frames: int) -> list[int]:
    """Short videos: repeat the last index up to ``num_frames`` (official behaviour)."""
    if len(indices) < num_frames:
        indices = indices + [indices[-1]] * (num_frames - len(indices))
    return indices


def middle_indices(num_frames: int, vlen: int) -> list[int]:
    """Centre frame of each of ``num_frames`` equal intervals of ``[0, vlen)`` (evaluation).

    Intervals come from ``np.linspace(0, vlen, n + 1).astype(int)`` with ``n = min(num_frames, vlen)``;
    each contributes ``(start + end - 1) // 2``. A video shorter than ``num_frames`` yields every frame
    once, then the last index repeated.
    """
    _check(num_frames, vlen)
    idx = [(s + e - 1) // 2 for s, e in _intervals(num_frames, vlen)]
    return _pad_last(idx, num_frames)


def rand_indices(num_frames: int, vlen: int, seed: int | np.random.Generator | None = None) -> list[int]:
    """One uniformly random frame in each of ``num_frames`` equal intervals (training).

    The intervals are those of :func:`middle_indices`; the frame is drawn from the whole interval
    ``[start, end - 1]``. (The upstream code draws from ``range(start, end - 1)``, which excludes the
    interval's last frame and falls back to a random subset for one-frame intervals; we draw from the
    full interval, which is what the method describes.) Short videos are padded with the last index.
    """
    _check(num_frames, vlen)
    rng = _rng(seed)
    idx = [int(rng.integers(s, max(e, s + 1))) for s, e in _intervals(num_frames, vlen)]
    return _pad_last(idx, num_frames)


def segment_indices(num_frames: int, vlen: int, num_clips: int = 1, clip_idx: int = 0) -> list[int]:
    """Test view ``clip_idx`` of ``num_clips`` for segment ("sparse") sampling (classification).

    ``seg = (vlen - 1) / num_frames``; frame ``i`` is
    ``round(seg * i) + int(seg / (num_clips + 1) * (clip_idx + 1))``, clipped to ``vlen - 1``
    (``round`` is numpy's round-half-to-even, as upstream).
    """
    _check(num_frames, vlen)
    if num_clips < 1 or not 0 <= clip_idx < num_clips:
        raise ValueError(f"need 0 <= clip_idx < num_clips, got clip_idx={clip_idx}, num_clips={num_clips}")
    seg = max(0.0, float(vlen - 1) / num_frames)
    offset = int(seg / (num_clips + 1) * (clip_idx + 1))
    last = vlen - 1
    return [min(int(np.round(seg * i)) + offset, last) for i in range(num_frames)]


def random_segment_indices(
    num_frames: int, vlen: int, seed: int | np.random.Generator | None = None
) -> list[int]:
    """Training counterpart of :func:`segment_indices`: a random frame in each segment.

    Frame ``i`` is drawn uniformly from ``[round(seg * i), round(seg * (i + 1))]`` (both ends included,
    as upstream ``random.randint``) and clipped to ``vlen - 1``.
    """
    _check(num_frames, vlen)
    rng = _rng(seed)
    seg = max(0.0, float(vlen - 1) / num_frames)
    out = []
    for i in range(num_frames):
        start = int(np.round(seg * i))
        end = int(np.round(seg * (i + 1)))
        out.append(min(int(rng.integers(start, end + 1)), vlen - 1))
    return out


def strided_indices(
    num_frames: int,
    vlen: int,
    seed: int | np.random.Generator | None = None,
    num_clips: int = 1,
    clip_idx: int = 0,
) -> list[int]:
    """``num_frames`` frames at one fixed stride, ``max(1, vlen // num_frames)``.

    The span ``stride * (num_frames - 1) + 1`` starts at a uniformly random frame of
    ``[0, vlen - span]`` when ``seed`` is given (training); otherwise test view ``clip_idx`` of
    ``num_clips`` starts at ``round((vlen - span) * (clip_idx + 1) / (num_clips + 1))``. Videos shorter
    than ``num_frames`` are padded with the last index.
    """
    _check(num_frames, vlen)
    if num_clips < 1 or not 0 <= clip_idx < num_clips:
        raise ValueError(f"need 0 <= clip_idx < num_clips, got clip_idx={clip_idx}, num_clips={num_clips}")
    stride = max(1, vlen // num_frames)
    room = max(0, vlen - (stride * (num_frames - 1) + 1))
    if seed is not None:
        start = int(_rng(seed).integers(0, room + 1))
    else:
        start = int(round(room * (clip_idx + 1) / (num_clips + 1)))
    idx = [start + stride * i for i in range(num_frames)]
    return _pad_last([i for i in idx if i < vlen], num_frames)


def fps_indices(
    vlen: int,
    video_fps: float,
    target_fps: float,
    min_frames: int | None = None,
    max_frames: int | None = None,
    overflow: str = "truncate",
) -> list[int]:
    """Frames at ``target_fps``, each the frame nearest the centre of its ``1/target_fps`` bin.

    Bin centres are ``delta/2, 3*delta/2, ...`` seconds with ``delta = 1/target_fps``, mapped to frames
    by ``np.around(t * video_fps)``; indices ``>= vlen`` are dropped (the official ``fpsX`` mode).

    Caps: with more than ``max_frames`` frames, ``overflow="truncate"`` keeps the first ``max_frames``
    (official behaviour) and ``overflow="uniform"`` picks ``max_frames`` of them spread evenly over
    the whole video. With fewer than ``min_frames`` (a short video), ``min_frames`` frames are taken
    with :func:`middle_indices` instead.
    """
    if vlen < 1:
        raise ValueError(f"the video must have at least one frame, got vlen={vlen}")
    if video_fps <= 0 or target_fps <= 0:
        raise ValueError(f"fps must be positive, got video_fps={video_fps}, target_fps={target_fps}")
    if overflow not in ("truncate", "uniform"):
        raise ValueError(f"overflow must be 'truncate' or 'uniform', got {overflow!r}")
    duration = vlen / float(video_fps)
    delta = 1.0 / float(target_fps)
    seconds = np.arange(delta / 2, duration + delta / 2, delta)
    idx = [int(i) for i in np.around(seconds * video_fps).astype(int) if i < vlen]
    if min_frames is not None and len(idx) < min_frames:
        return middle_indices(min_frames, vlen)
    if max_frames is not None and len(idx) > max_frames:
        if overflow == "truncate":
            idx = idx[:max_frames]
        else:
            idx = [idx[j] for j in middle_indices(max_frames, len(idx))]
    return idx


def dense_windows(vlen: int, window: int = 16, stride: int = 4, pad_last: bool = True) -> list[list[int]]:
    """Fixed-length windows of consecutive frames every ``stride`` frames (feature extraction).

    Windows start at ``0, stride, 2*stride, ...`` while they fit entirely in the video, so the features
    lie on a regular grid (feature ``j`` covers frames ``[j*stride, j*stride + window)``). When frames
    at the end are not covered by any full window and ``pad_last`` is true, one more window starts at
    the next grid position and is padded by repeating the last frame, so every frame is covered and
    every window has length ``window``. A video shorter than one window gives a single padded window
    (or nothing with ``pad_last=False``).
    """
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got window={window}, stride={stride}")
    if vlen < 1:
        raise ValueError(f"the video must have at least one frame, got vlen={vlen}")
    last = vlen - 1
    windows = [list(range(s, s + window)) for s in range(0, vlen - window + 1, stride)]
    covered = windows[-1][-1] if windows else -1
    if pad_last and covered < last:
        start = len(windows) * stride
        windows.append([min(i, last) for i in range(start, start + window)])
    return windows


_FPS_RE = re.compile(r"^fps(\d+(?:\.\d*)?|\.\d+)$")


def _policy_middle(num_frames: int, vlen: int, **_: object) -> list[int]:
    return middle_indices(num_frames, vlen)


def _policy_rand(num_frames: int, vlen: int, seed=None, **_: object) -> list[int]:
    return rand_indices(num_frames, vlen, seed)


def _policy_segment(num_frames: int, vlen: int, num_clips: int = 1, clip_idx: int = 0, **_: object):
    return segment_indices(num_frames, vlen, num_clips, clip_idx)


def _policy_random_segment(num_frames: int, vlen: int, seed=None, **_: object) -> list[int]:
    return random_segment_indices(num_frames, vlen, seed)


def _policy_stride(num_frames: int, vlen: int, seed=None, num_clips: int = 1, clip_idx: int = 0, **_: object):
    return strided_indices(num_frames, vlen, seed, num_clips, clip_idx)


SAMPLING_POLICIES: dict[str, Callable[..., list[int]]] = {
    "middle": _policy_middle,
    "stride": _policy_stride,
    "rand": _policy_rand,
    "segment": _policy_segment,
    "random_segment": _policy_random_segment,
}
"""Named fixed-count policies understood by :func:`sample_indices` (plus ``fps`` / ``fpsX``)."""


def sample_indices(
    policy: str,
    num_frames: int,
    vlen: int,
    *,
    seed: int | np.random.Generator | None = None,
    num_clips: int = 1,
    clip_idx: int = 0,
    video_fps: float | None = None,
    target_fps: float | None = None,
    min_frames: int | None = None,
    max_frames: int | None = None,
) -> list[int]:
    """Dispatch to a policy by name: ``middle``, ``rand``, ``segment``, ``random_segment``, ``stride``,
    ``fps``.

    ``fpsX`` (for example ``fps1`` or ``fps0.5``) is the upstream spelling of ``fps`` with
    ``target_fps=X``; the fps policies need ``video_fps``. For ``fps``, ``num_frames`` is used as
    ``max_frames`` when ``max_frames`` is not given and ``num_frames > 0``.
    """
    m = _FPS_RE.match(policy)
    if policy == "fps" or m:
        if m:
            target_fps = float(m.group(1))
        if video_fps is None or target_fps is None:
            raise ValueError(f"sampling policy {policy!r} needs video_fps and target_fps")
        if max_frames is None and num_frames > 0:
            max_frames = num_frames
        return fps_indices(vlen, video_fps, target_fps, min_frames=min_frames, max_frames=max_frames)
    fn = SAMPLING_POLICIES.get(policy)
    if fn is None:
        known = ", ".join([*SAMPLING_POLICIES, "fps", "fpsX"])
        raise ValueError(f"unknown sampling policy {policy!r}; known: {known}")
    return fn(num_frames, vlen, seed=seed, num_clips=num_clips, clip_idx=clip_idx)
