"""Sampling policies against hand-computed index lists."""

from __future__ import annotations

import numpy as np
import pytest

from internvideo.data.sampling import (
    dense_windows,
    fps_indices,
    middle_indices,
    rand_indices,
    random_segment_indices,
    sample_indices,
    segment_indices,
    strided_indices,
)


def test_middle_indices_hand_computed() -> None:
    # linspace(0, 300, 9).astype(int) = 0 37 75 112 150 187 225 262 300; (s + e - 1) // 2
    assert middle_indices(8, 300) == [18, 55, 93, 130, 168, 205, 243, 280]
    # linspace(0, 10, 5).astype(int) = 0 2 5 7 10
    assert middle_indices(4, 10) == [0, 3, 5, 8]
    assert middle_indices(1, 40) == [19]
    # shorter than num_frames: every frame once, then the last index repeated
    assert middle_indices(8, 3) == [0, 1, 2, 2, 2, 2, 2, 2]
    assert middle_indices(4, 1) == [0, 0, 0, 0]


def test_intervals_equal_the_official_linspace_edges() -> None:
    """The official code takes interval edges from ``np.linspace(0, vlen, n + 1).astype(int)``; ours are
    computed without numpy and must agree everywhere, including where float rounding sits on an edge."""
    from internvideo.data.sampling import _intervals

    for n in (1, 2, 3, 4, 7, 8, 12, 16, 32, 64):
        for vlen in [*range(1, 400), 999, 1000, 1001, 4095, 9999, 10**6 + 7]:
            acc = min(n, vlen)
            edges = np.linspace(0, vlen, acc + 1).astype(int)
            assert _intervals(n, vlen) == [(int(edges[i]), int(edges[i + 1])) for i in range(acc)], (n, vlen)


def test_rand_indices_in_intervals_and_deterministic() -> None:
    a = rand_indices(8, 300, seed=123)
    assert a == rand_indices(8, 300, seed=123)
    assert a != rand_indices(8, 300, seed=124)
    edges = np.linspace(0, 300, 9).astype(int)
    assert all(edges[i] <= a[i] < edges[i + 1] for i in range(8))
    gen = np.random.default_rng(5)
    b, c = rand_indices(4, 100, gen), rand_indices(4, 100, gen)
    gen2 = np.random.default_rng(5)
    assert [b, c] == [rand_indices(4, 100, gen2), rand_indices(4, 100, gen2)]
    assert rand_indices(6, 2, seed=0) == [0, 1, 1, 1, 1, 1]
    state = np.random.get_state()[1].copy()
    rand_indices(8, 300)
    assert (np.random.get_state()[1] == state).all()  # global state untouched


def test_segment_indices_hand_computed() -> None:
    # seg = 299 / 8 = 37.375; round(seg * i) = 0 37 75 112 150 187 224 262 (149.5 -> 150, half to even)
    base = [0, 37, 75, 112, 150, 187, 224, 262]
    for clip, offset in enumerate([7, 14, 22, 29]):  # int(37.375 / 5 * (k + 1))
        assert segment_indices(8, 300, num_clips=4, clip_idx=clip) == [b + offset for b in base]
    # seg = 9 / 8 = 1.125 -> round: 0 1 2 3 4 6 7 8 (4.5 -> 4); offset int(1.125 / 2) = 0
    assert segment_indices(8, 10) == [0, 1, 2, 3, 4, 6, 7, 8]
    assert segment_indices(4, 1) == [0, 0, 0, 0]
    with pytest.raises(ValueError):
        segment_indices(8, 300, num_clips=2, clip_idx=2)


def test_random_segment_indices() -> None:
    a = random_segment_indices(8, 300, seed=1)
    assert a == random_segment_indices(8, 300, seed=1)
    seg = 299 / 8
    for i, v in enumerate(a):
        assert round(seg * i) <= v <= round(seg * (i + 1))


def test_strided_indices_hand_computed() -> None:
    # 16 frames, 8 wanted: stride 2, span 15, one frame of room -> starts 0 or 1
    assert strided_indices(8, 16, num_clips=2, clip_idx=0) == [0, 2, 4, 6, 8, 10, 12, 14]  # round(1/3)
    assert strided_indices(8, 16, num_clips=2, clip_idx=1) == [1, 3, 5, 7, 9, 11, 13, 15]  # round(2/3)
    # 100 frames: stride 12, span 85, room 15 -> the validation view starts at round(7.5) = 8
    assert strided_indices(8, 100) == list(range(8, 93, 12))
    starts = {strided_indices(8, 100, seed=s)[0] for s in range(200)}
    assert starts == set(range(16))  # every start in [0, room] occurs, no other
    for s in range(20):
        idx = strided_indices(8, 100, seed=s)
        assert np.all(np.diff(idx) == 12)  # equal gaps, unlike segment sampling
    assert strided_indices(8, 5, seed=0) == [0, 1, 2, 3, 4, 4, 4, 4]  # short video: padded
    assert sample_indices("stride", 8, 16, seed=3) == strided_indices(8, 16, seed=3)
    assert sample_indices("stride", 8, 16, num_clips=2, clip_idx=1) == strided_indices(8, 16, None, 2, 1)


def test_fps_indices_hand_computed() -> None:
    # bins of 1 s centred at 0.5 .. 9.5 s -> frames 15, 45, ..., 285 at 30 fps
    assert fps_indices(300, 30.0, 1.0) == list(range(15, 300, 30))
    assert fps_indices(300, 30.0, 0.5) == [30, 90, 150, 210, 270]
    assert fps_indices(300, 30.0, 1.0, max_frames=4) == [15, 45, 75, 105]
    # uniform cap: middle_indices(4, 10) = 0 3 5 8 of the 10 candidates
    assert fps_indices(300, 30.0, 1.0, max_frames=4, overflow="uniform") == [15, 105, 165, 255]
    # too short for min_frames: fall back to middle sampling (linspace 0 7 15 22 30)
    assert fps_indices(30, 30.0, 1.0, min_frames=4) == [3, 10, 18, 25]
    # 5 fps video at 2 fps: 0.25 s, 0.75 s, ... -> 1.25 -> 1, 3.75 -> 4, 6.25 -> 6, 8.75 -> 9
    assert fps_indices(10, 5.0, 2.0) == [1, 4, 6, 9]


def test_dense_windows() -> None:
    assert dense_windows(10, window=4, stride=3) == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    # frame 10 uncovered by full windows -> one padded window at the next grid position
    assert dense_windows(11, window=4, stride=3)[-1] == [9, 10, 10, 10]
    assert len(dense_windows(11, window=4, stride=3, pad_last=False)) == 3
    assert dense_windows(2, window=4, stride=2) == [[0, 1, 1, 1]]
    assert dense_windows(2, window=4, stride=2, pad_last=False) == []
    w = dense_windows(300, window=16, stride=4)
    assert len(w) == (300 - 16) // 4 + 1 and w[-1][-1] == 299
    assert all(len(x) == 16 for x in w)


def test_sample_indices_dispatch() -> None:
    assert sample_indices("middle", 8, 300) == middle_indices(8, 300)
    assert sample_indices("rand", 8, 300, seed=3) == rand_indices(8, 300, seed=3)
    assert sample_indices("segment", 8, 300, num_clips=4, clip_idx=1) == segment_indices(8, 300, 4, 1)
    assert sample_indices("random_segment", 8, 300, seed=3) == random_segment_indices(8, 300, seed=3)
    assert sample_indices("fps1", 0, 300, video_fps=30.0) == fps_indices(300, 30.0, 1.0)
    assert sample_indices("fps0.5", 3, 300, video_fps=30.0) == [30, 90, 150]
    assert sample_indices("fps", 0, 300, video_fps=30.0, target_fps=1.0) == fps_indices(300, 30.0, 1.0)
    with pytest.raises(ValueError, match="unknown sampling policy"):
        sample_indices("uniform", 8, 300)
    with pytest.raises(ValueError):
        sample_indices("fps1", 8, 300)  # needs video_fps
