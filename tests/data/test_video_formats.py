"""Frame-exact reading across containers and codecs, from kept packets and by seeking.

Each case is encoded here (64x48, 40 frames, a moving block on noise, keyframes every 8-12 frames where
the encoder takes a GOP size) and read back frame by frame, forwards, backwards and in random groups,
against a plain sequential decode. With the packets kept from indexing the reader scans from memory;
with them disabled it seeks, which is not exact in every container (MPEG-TS lands a GOP late, and past
the last frame near the end: such files could not even be opened before).
"""

from __future__ import annotations

import random
from pathlib import Path

import av
import numpy as np
import pytest
import torch

import internvideo.data.video as video
from internvideo.data import VideoReader

CASES = {
    "h264_bframes.ts": ("libx264", "mpegts", {"bframes": "2", "g": "10"}),
    "h264_bframes.mov": ("libx264", "mov", {"bframes": "3", "g": "12"}),
    "hevc_bframes.mkv": ("libx265", "matroska", {"x265-params": "bframes=3:keyint=12:log-level=none"}),
    "vp9.webm": ("libvpx-vp9", "webm", {"g": "12"}),
    "mpeg4.avi": ("mpeg4", "avi", {"g": "8"}),
    "mpeg2.mpg": ("mpeg2video", "mpeg", {"g": "9"}),
    "mjpeg.avi": ("mjpeg", "avi", {}),
}


def _encode(path: Path, codec: str, fmt: str, options: dict[str, str], n: int = 40) -> None:
    with av.open(str(path), "w", format=fmt) as out:
        vs = out.add_stream(codec, rate=12, options=options)
        vs.width, vs.height = 64, 48
        vs.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        rng = np.random.default_rng(0)
        for i in range(n):
            img = rng.integers(0, 60, (48, 64, 3), dtype=np.uint8)
            img[10:30, i % 40 : i % 40 + 20] = 220
            for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)


def _full(path: Path) -> torch.Tensor:
    with av.open(str(path)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    return torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("formats")
    out = {}
    for name, (codec, fmt, options) in CASES.items():
        if codec in av.codecs_available:
            _encode(root / name, codec, fmt, options)
            out[name] = root / name
    return out


@pytest.mark.parametrize("kept", [True, False], ids=["kept-packets", "seeking"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_every_frame_in_any_order(videos, name: str, kept: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if name not in videos:
        pytest.skip(f"no {CASES[name][0]} encoder in this FFmpeg build")
    if not kept:
        monkeypatch.setattr(video, "_KEEP_PACKET_BYTES", 0)
    path = videos[name]
    full = _full(path)
    n = len(full)
    assert n == 40
    rng = random.Random(0)
    with VideoReader(path, backend="pyav") as r:
        assert r.info.num_frames == n
        assert (r._backend.index.packets is not None) == kept
        for i in [*range(n), *reversed(range(n))]:
            assert torch.equal(r.get_frames([i]), full[[i]]), i
        for _ in range(20):
            idx = [rng.randrange(n) for _ in range(rng.randint(1, 5))]
            assert torch.equal(r.get_frames(idx), full[idx]), idx


@pytest.mark.parametrize("kept", [True, False], ids=["kept-packets", "seeking"])
def test_stream_cut_mid_gop_starts_at_its_first_decodable_frame(
    videos, tmp_path: Path, kept: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transport stream cut in the middle of a group of pictures (a capture started late): the decoder
    drops the frames before the first keyframe, so the video is the frames it gives -- before, the whole
    file was refused ('cannot position the decoder at frame 0')."""
    if "h264_bframes.ts" not in videos:
        pytest.skip("no libx264 encoder in this FFmpeg build")
    data = videos["h264_bframes.ts"].read_bytes()
    cut = tmp_path / "cut.ts"
    k = len(data) // 188 * 3 // 10  # drop ~30 % of the 188-byte TS packets, keeping the first two (PAT, PMT)
    cut.write_bytes(data[: 2 * 188] + data[188 * k :])
    if not kept:
        monkeypatch.setattr(video, "_KEEP_PACKET_BYTES", 0)
    full = _full(cut)
    n = len(full)
    with av.open(str(cut)) as c:
        packets = sum(1 for p in c.demux(video=0) if p.size)
    assert 10 <= n < packets  # the cut left frames the decoder drops
    with VideoReader(cut, backend="pyav") as r:
        assert r.info.num_frames == n
        assert r.info.duration == pytest.approx(n / r.info.fps)
        assert r.info.keyframes[0] == 0
        for i in [*range(n), *reversed(range(n))]:
            assert torch.equal(r.get_frames([i]), full[[i]]), i
