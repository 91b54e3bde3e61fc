"""Audio loading and Kaldi fbank."""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from internvideo.data.audio import kaldi_fbank, load_audio, mel_banks
from internvideo.errors import VideoReadError


def test_load_wav_mono_average(media_dir: Path) -> None:
    path = media_dir / "test.wav"
    with av.open(str(path)) as c:
        s = c.streams.audio[0]
        rate, duration = s.sample_rate, float(s.duration * s.time_base)
        raw = np.concatenate([f.to_ndarray() for f in c.decode(s)], axis=1)  # packed s16: (1, N * ch)
        ch = s.channels
    assert (rate, ch) == (16000, 2)
    ref = raw.reshape(-1, ch).astype(np.float32).mean(axis=1) / 32768.0
    wav = load_audio(path)
    assert wav.dtype == torch.float32 and wav.dim() == 1
    assert abs(wav.numel() - duration * 16000) <= 2
    assert np.allclose(wav.numpy(), ref, atol=1e-6)


def test_load_resampled_and_trimmed(media_dir: Path) -> None:
    wav = load_audio(media_dir / "test.wav", sample_rate=8000)
    assert abs(wav.numel() - 6.55675 * 8000) <= 40
    part = load_audio(media_dir / "test.wav", start=1.0, end=2.5)
    assert part.numel() == 24000


def test_no_audio_stream(media_dir: Path) -> None:
    with pytest.raises(VideoReadError) as ei:
        load_audio(media_dir / "test.mp4")
    assert ei.value.reason == "no_audio_stream"


def test_audio_track_of_a_video(tmp_path: Path) -> None:
    path = tmp_path / "tone.mkv"
    sr, secs = 22050, 1.5
    t = np.arange(int(sr * secs)) / sr
    stereo = np.stack([np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 440 * t)]).astype(np.float32)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("mpeg4", rate=5)
        vs.width, vs.height, vs.pix_fmt = 32, 32, "yuv420p"
        ast = out.add_stream("pcm_f32le", rate=sr, layout="stereo")
        for _ in range(int(5 * secs)):
            img = np.zeros((32, 32, 3), np.uint8)
            for p in vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        frame = av.AudioFrame.from_ndarray(stereo, format="fltp", layout="stereo")
        frame.sample_rate = sr
        for p in ast.encode(frame):
            out.mux(p)
        for p in ast.encode():
            out.mux(p)
    wav = load_audio(path, sample_rate=16000)
    assert abs(wav.numel() - secs * 16000) <= 40
    # mono = mean of the channels: amplitude 0.75 at 440 Hz
    assert wav[2000:-2000].abs().max().item() == pytest.approx(0.75, abs=0.02)


def _mel(f: float) -> float:
    return 1127.0 * math.log(1.0 + f / 700.0)


def test_kaldi_fbank_shape_and_tone_bin() -> None:
    sr, f0 = 16000, 1000.0
    t = torch.arange(sr) / sr
    tone = 10000.0 * torch.sin(2 * math.pi * f0 * t)
    fb = kaldi_fbank(tone, sr, num_mel_bins=64)
    assert fb.shape == (1 + (16000 - 400) // 160, 64) and fb.dtype == torch.float32
    # bin b is centred at mel_low + (b + 1) * delta with 64 bins between 20 Hz and 8 kHz
    delta = (_mel(8000.0) - _mel(20.0)) / 65
    pos = (_mel(f0) - _mel(20.0)) / delta - 1
    peak = fb.argmax(dim=1)
    assert set(peak.tolist()) <= {math.floor(pos), math.ceil(pos)}
    assert fb[:, peak[0]].mean() - fb.mean() > 5  # clear peak over the rest of the spectrum


def test_kaldi_fbank_dc_and_short_inputs() -> None:
    const = torch.full((1, 1000), 123.0)  # a DC signal vanishes after DC removal
    fb = kaldi_fbank(const)
    assert fb.shape == (1 + (1000 - 400) // 160, 64)
    assert torch.allclose(fb, torch.full_like(fb, math.log(torch.finfo(torch.float32).eps)))
    assert kaldi_fbank(torch.zeros(399)).shape == (0, 64)


def test_mel_banks_are_triangles() -> None:
    banks = mel_banks(64, 256, 16000.0)
    assert banks.shape == (64, 257)
    assert torch.all(banks[:, -1] == 0) and torch.all(banks >= 0) and torch.all(banks <= 1)
    assert torch.all(banks.sum(dim=1) > 0)
    peaks = banks.argmax(dim=1)
    assert torch.all(peaks[1:] >= peaks[:-1])  # centres rise with the bin index
