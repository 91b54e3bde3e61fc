"""Probe, frame-accurate reading and bad-input handling on real media."""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from internvideo.data import VideoReader, load_video, middle_indices, probe
from internvideo.data.video import _PyAVBackend
from internvideo.errors import VideoReadError

# What the shared files really contain (checked against the container headers and a full decode).
TRUTH = {
    "test.mp4": dict(
        codec="h264", width=340, height=256, fps=30.0, num_frames=300, duration=10.0, kf=(0, 235)
    ),
    "example1.mp4": dict(
        codec="mpeg4", width=640, height=480, fps=5.0, num_frames=40, duration=8.0, kf=(0, 12, 24, 36)
    ),
}
_FULL: dict[str, torch.Tensor] = {}


def full_decode(path: Path) -> torch.Tensor:
    """Every frame by a plain sequential PyAV decode, (T, C, H, W) uint8."""
    key = str(path)
    if key not in _FULL:
        with av.open(key) as c:
            frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        _FULL[key] = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)
    return _FULL[key]


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_probe_real_media(media_dir: Path, name: str) -> None:
    info = probe(media_dir / name)
    t = TRUTH[name]
    assert info.codec == t["codec"]
    assert (info.width, info.height) == (t["width"], t["height"])
    assert info.fps == pytest.approx(t["fps"])
    assert info.num_frames == t["num_frames"] == len(full_decode(media_dir / name))
    assert info.duration == pytest.approx(t["duration"])
    assert info.keyframes == t["kf"]
    assert info.rotation == 0
    assert not info.has_audio and info.audio_streams == ()


@pytest.mark.parametrize("name", sorted(TRUTH))
@pytest.mark.parametrize("num_frames", [8, 16])
def test_middle_sampling_matches_full_decode(media_dir: Path, name: str, num_frames: int) -> None:
    path = media_dir / name
    full = full_decode(path)
    idx = middle_indices(num_frames, len(full))
    with VideoReader(path, backend="pyav") as r:
        x = r.get_frames(idx)
    assert x.dtype == torch.uint8 and x.shape == (num_frames, 3, full.shape[2], full.shape[3])
    assert x.is_contiguous(memory_format=torch.channels_last)
    assert torch.equal(x, full[idx])
    assert torch.equal(load_video(path, num_frames, "middle", backend="pyav"), full[idx])


def test_plan_seeks_only_across_keyframes(media_dir: Path) -> None:
    with VideoReader(media_dir / "test.mp4", backend="pyav") as r:
        plan = r._backend.plan(middle_indices(8, 300))
        # frames 18..205 by one forward scan from frame 0, then a seek to the keyframe at 235
        assert [start for start, _ in plan] == [0, 235]
        assert r._backend.plan([10, 20, 30]) == [(0, [10, 20, 30])]


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_get_frames_any_order_duplicates_and_reuse(media_dir: Path, name: str) -> None:
    path = media_dir / name
    full = full_decode(path)
    n = len(full)
    rng = random.Random(0)
    with VideoReader(path, backend="pyav") as r:
        idx = [n - 1, 3, 3, 0, n // 2, 3, n - 2]
        assert torch.equal(r.get_frames(idx), full[idx])
        assert torch.equal(r.get_frames([-1]), full[[n - 1]])
        for _ in range(4):  # reader reuse: later calls go backwards, forwards, across keyframes
            idx = [rng.randrange(n) for _ in range(rng.randint(1, 6))]
            assert torch.equal(r.get_frames(idx), full[idx])
        assert torch.equal(r.get_frames(np.array([1, 2])), full[[1, 2]])
        assert r.get_frames([]).shape == (0, 3, full.shape[2], full.shape[3])
        with pytest.raises(IndexError):
            r.get_frames([n])


def _encode_bframes(path: Path, n: int = 48) -> None:
    """H.264 with B-frames (decoded out of order: the decoder holds frames back) and a keyframe every 12."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=12, options={"bframes": "3", "g": "12", "keyint_min": "12"})
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        rng = np.random.default_rng(0)
        for i in range(n):
            img = rng.integers(0, 40, (48, 64, 3), dtype=np.uint8)
            img[10:30, i % 40 : i % 40 + 20] = 200  # a moving block
            for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)


@pytest.mark.parametrize("name", [*sorted(TRUTH), "bframes.mp4"])
def test_kept_packets_and_a_second_demux_decode_alike(
    media_dir: Path, tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A short video's packets are kept from indexing and decoded from memory; scans from the start,
    again after a scan stopped part-way (frames held in the decoder), give what seeking back and
    demuxing again gives."""
    import internvideo.data.video as video

    if name == "bframes.mp4":
        path = tmp_path / name
        _encode_bframes(path)
    else:
        path = media_dir / name
    full = full_decode(path)
    n = len(full)
    orders = [[n // 2 - 1, 5], [n - 1, 0], [n // 2], [1, 2, n - 3], [0], [7, 3]]
    with VideoReader(path, backend="pyav") as r:
        kept = r._backend.index.packets
        assert kept is not None and len(kept) >= n  # every packet, and the final flush
        assert sum(p.size for p in kept) == sum(p.size for p in av.open(str(path)).demux(video=0))
        for idx in orders:
            assert torch.equal(r.get_frames(idx), full[idx]), idx
        # still decoding from the kept packets: no scan fell back to reopening the file
        assert r._backend.index.packets is kept
    assert r._backend.index.packets is None  # closing the reader lets them go
    monkeypatch.setattr(video, "_KEEP_PACKET_BYTES", 1000)  # longer than this: demuxed again
    with VideoReader(path, backend="pyav") as r:
        assert r._backend.index.packets is None
        for idx in orders:
            assert torch.equal(r.get_frames(idx), full[idx]), idx


def test_readers_in_threads_decode_alike(media_dir: Path) -> None:
    """Readers in several threads at once (as data-loader threads use them) get exact frames: the RGB
    converter each thread keeps is its own."""
    from concurrent.futures import ThreadPoolExecutor

    paths = [media_dir / name for name in sorted(TRUTH)]
    fulls = {p: full_decode(p) for p in paths}

    def read(k: int) -> bool:
        p = paths[k % len(paths)]
        n = len(fulls[p])
        idx = [(k * 7 + j * 5) % n for j in range(6)]
        with VideoReader(p, backend="pyav") as r:
            return torch.equal(r.get_frames(idx), fulls[p][idx])

    with ThreadPoolExecutor(4) as ex:
        assert all(ex.map(read, range(16)))


def test_consecutive_reads_continue_the_scan_correctly(media_dir: Path) -> None:
    """Frames just after a read may already be demuxed (and skipped as unwanted); re-reads must not miss them."""
    path = media_dir / "test.mp4"
    full = full_decode(path)
    with VideoReader(path, backend="pyav") as r:
        for i in range(10, 22):
            assert torch.equal(r.get_frames([i]), full[[i]]), i
    with VideoReader(path, backend="pyav") as r:
        assert torch.equal(r.get_frames([5, 40]), full[[5, 40]])
        assert torch.equal(r.get_frames([41, 42, 43, 230, 236]), full[[41, 42, 43, 230, 236]])


def test_timestamps(media_dir: Path) -> None:
    path = media_dir / "test.mp4"
    full = full_decode(path)
    with VideoReader(path, backend="pyav") as r:
        assert [r.index_at(t) for t in (0.0, 0.02, 1.0, 5.01, 9.99, 10.0)] == [0, 0, 30, 150, 299, 299]
        assert torch.equal(r.get_frames_at([1.0, 0.0, 9.99]), full[[30, 0, 299]])
        with pytest.raises(ValueError):
            r.get_frames_at([-0.5])


@pytest.mark.parametrize("name", sorted(TRUTH))
def test_iter_frames(media_dir: Path, name: str) -> None:
    path = media_dir / name
    full = full_decode(path)
    with VideoReader(path, backend="pyav") as r:
        chunks = list(r.iter_frames(chunk_size=16))
        assert all(c.shape[0] <= 16 for c in chunks)
        assert sum(c.shape[0] for c in chunks) == probe(path).num_frames
        assert torch.equal(torch.cat(chunks), full)
        part = torch.cat(list(r.iter_frames(chunk_size=5, start=len(full) - 7)))
        assert torch.equal(part, full[-7:])


def test_auto_backend_and_repr(media_dir: Path) -> None:
    with VideoReader(media_dir / "example1.mp4") as r:
        assert r.backend in ("pyav", "torchcodec")
        assert "example1.mp4" in repr(r) and len(r) == 40
    with pytest.raises(ValueError):
        r.get_frames([0])  # closed


def test_torchcodec_backend_matches(media_dir: Path) -> None:
    pytest.importorskip("torchcodec.decoders", reason="torchcodec not installed")
    path = media_dir / "test.mp4"
    idx = middle_indices(8, 300)
    with VideoReader(path, backend="torchcodec") as r:
        assert torch.equal(r.get_frames(idx), full_decode(path)[idx])


def _encode(path: Path, n: int = 6, size=(48, 64), rotation: int | None = None, audio: bool = False) -> None:
    """A tiny MPEG-4 video (optionally with a display rotation and an AAC track)."""
    h, w = size
    with av.open(str(path), "w") as out:
        vs = out.add_stream("mpeg4", rate=10)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        if rotation is not None:
            vs.set_display_rotation(rotation)
        ast = out.add_stream("aac", rate=16000, layout="mono") if audio else None
        for i in range(n):
            img = np.zeros((h, w, 3), np.uint8)
            img[: h // 2, : w // 2] = 20 * i + 40  # top-left block marks orientation
            for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        if ast is not None:
            t = np.arange(int(16000 * n / 10)) / 16000
            samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
            frame.sample_rate = 16000
            for p in ast.encode(frame):
                out.mux(p)
            for p in ast.encode():
                out.mux(p)


def test_rotation_metadata_and_apply(tmp_path: Path) -> None:
    path = tmp_path / "rot.mp4"
    _encode(path, rotation=90)
    info = probe(path)
    assert info.rotation == 90 and (info.width, info.height) == (64, 48)
    with VideoReader(path, backend="pyav") as r:
        plain = r.get_frames([2])
    with VideoReader(path, backend="pyav", apply_rotation=True) as r:
        turned = r.get_frames([2])
    assert turned.shape == (1, 3, 64, 48)
    assert torch.equal(turned, torch.rot90(plain, 1, dims=(2, 3)))


def test_probe_reports_audio_streams(tmp_path: Path) -> None:
    path = tmp_path / "av.mp4"
    _encode(path, n=10, audio=True)
    info = probe(path)
    assert info.has_audio and info.audio_streams[0].codec == "aac"
    assert info.audio_streams[0].sample_rate == 16000 and info.audio_streams[0].channels == 1
    assert info.num_frames == 10


# --------------------------------------------------------------------------------------------------
# bad input: every case must raise VideoReadError with the right reason, quickly


def _remux(src: Path, dst: Path, fmt: str | None = None, **options: str) -> None:
    with av.open(str(src)) as inp, av.open(str(dst), "w", format=fmt, options=options) as out:
        ist = inp.streams.video[0]
        ost = out.add_stream_from_template(ist)
        for p in inp.demux(ist):
            if p.dts is None:
                continue
            p.stream = ost
            out.mux(p)


def _faststart_copy(src: Path, dst: Path) -> None:
    """Remux with the index (moov) at the front, so that a truncated copy still opens."""
    _remux(src, dst, movflags="faststart")


def _bad_files(media_dir: Path, tmp: Path) -> dict[str, tuple[Path, str]]:
    data = (media_dir / "test.mp4").read_bytes()
    files = {}
    (tmp / "zero.mp4").write_bytes(b"")
    files["zero-byte"] = (tmp / "zero.mp4", "empty")
    (tmp / "random.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 200_000, np.uint8).tobytes())
    files["random bytes"] = (tmp / "random.mp4", "not_a_video")
    (tmp / "text.mp4").write_text("this is not a video\n" * 500)
    files["text renamed .mp4"] = (tmp / "text.mp4", "not_a_video")
    (tmp / "trunc.mp4").write_bytes(data[: int(len(data) * 0.3)])
    files["truncated (index at end)"] = (tmp / "trunc.mp4", "truncated")
    _faststart_copy(media_dir / "test.mp4", tmp / "fast.mp4")
    fast = (tmp / "fast.mp4").read_bytes()
    (tmp / "fast_trunc.mp4").write_bytes(fast[: int(len(fast) * 0.3)])
    files["truncated (index first, still opens)"] = (tmp / "fast_trunc.mp4", "truncated")
    (tmp / "moov_only.mp4").write_bytes(fast[: fast.find(b"mdat") - 4])  # the index and no sample at all
    files["cut right after the index (no packets)"] = (tmp / "moov_only.mp4", "truncated")
    unknown = bytearray(data)
    entry = unknown.find(b"avc1", unknown.find(b"stsd"))  # the sample entry's codec: one nobody decodes
    unknown[entry : entry + 4] = b"zzzz"
    (tmp / "unknown_codec.mp4").write_bytes(bytes(unknown))
    files["a codec FFmpeg has no decoder for"] = (tmp / "unknown_codec.mp4", "decode_failed")
    _remux(media_dir / "test.mp4", tmp / "full.mkv")
    mkv = (tmp / "full.mkv").read_bytes()
    (tmp / "cut.mkv").write_bytes(mkv[: int(len(mkv) * 0.3)])
    files["truncated Matroska (opens, fewer frames)"] = (tmp / "cut.mkv", "truncated")
    (tmp / "mkv_header.mkv").write_bytes(mkv[: mkv.find(bytes.fromhex("1F43B675"))])  # before the 1st cluster
    files["Matroska headers without a cluster"] = (tmp / "mkv_header.mkv", "truncated")
    shutil.copy(media_dir / "test.wav", tmp / "audio_only.wav")
    files["audio only"] = (tmp / "audio_only.wav", "no_video_stream")
    files["missing"] = (tmp / "nope.mp4", "missing")
    return files


def test_bad_inputs_raise_quickly(media_dir: Path, tmp_path: Path) -> None:
    for label, (path, reason) in _bad_files(media_dir, tmp_path).items():
        for fn in (probe, lambda p: VideoReader(p, backend="pyav"), lambda p: load_video(p, 8)):
            t0 = time.monotonic()
            with pytest.raises(VideoReadError) as ei:
                fn(path)
            elapsed = time.monotonic() - t0
            assert ei.value.reason == reason, f"{label}: got {ei.value.reason} ({ei.value})"
            assert str(path) in str(ei.value)
            assert elapsed < 5.0, f"{label} took {elapsed:.1f}s"


def test_remuxed_copies_read_identically(media_dir: Path, tmp_path: Path) -> None:
    _faststart_copy(media_dir / "test.mp4", tmp_path / "fast.mp4")
    _remux(media_dir / "test.mp4", tmp_path / "full.mkv")
    # named for another container than they hold: the demuxer tried first by name fails, probing finds it
    _remux(media_dir / "test.mp4", tmp_path / "matroska_named.mp4", fmt="matroska")
    _remux(media_dir / "test.mp4", tmp_path / "mp4_named.mkv", fmt="mp4")
    idx = [0, 150, 240, 299]
    paths = ["fast.mp4", "full.mkv", "matroska_named.mp4", "mp4_named.mkv"]
    assert probe(tmp_path / "matroska_named.mp4").container.startswith("matroska")
    assert probe(tmp_path / "mp4_named.mkv").container.startswith("mov")
    for path in (tmp_path / p for p in paths):
        assert probe(path).num_frames == 300
        with VideoReader(path, backend="pyav") as r:
            assert torch.equal(r.get_frames(idx), full_decode(media_dir / "test.mp4")[idx])


def test_decode_stopping_early_raises_truncated(media_dir: Path) -> None:
    """If the stream ends before a wanted frame (e.g. a cut file with a stale index), raise."""
    backend = _PyAVBackend(media_dir / "example1.mp4", num_threads=1, seek_threshold=4)
    try:
        backend.info = backend.info.__class__(**{**backend.info.__dict__, "num_frames": 45})
        backend.index.pts_to_index = dict(backend.index.pts_to_index)
        with pytest.raises(VideoReadError) as ei:
            backend.decode([39, 44])
        assert ei.value.reason == "truncated"
    finally:
        backend.close()
