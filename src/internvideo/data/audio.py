"""Audio loading (from audio files or the audio track of a video) and Kaldi-compatible fbank features.

:func:`load_audio` returns float32 mono samples in ``[-1, 1]``. The upstream audio pipeline scales
them to the int16 range (``x * 32768``) before :func:`kaldi_fbank`, then normalises with the BEATs
statistics; that belongs to the audio tower's preprocessing.
"""

from __future__ import annotations

import logging
import math

import av
import numpy as np
import torch

from internvideo.data.video import PathLike, _check_file, _open
from internvideo.errors import VideoReadError

__all__ = ["kaldi_fbank", "load_audio", "mel_banks"]

log = logging.getLogger(__name__)


def load_audio(
    path: PathLike,
    sample_rate: int = 16000,
    start: float | None = None,
    end: float | None = None,
) -> torch.Tensor:
    """Decode the first audio stream of ``path`` to float32 mono at ``sample_rate``: shape ``(N,)``.

    Channels are averaged; resampling uses FFmpeg's resampler (PyAV ``AudioResampler``). ``start`` /
    ``end`` (seconds from the beginning of the stream) trim the result. Raises
    :class:`VideoReadError` with reason ``no_audio_stream`` when the file has no audio.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    p = _check_file(path)
    container = _open(p)
    try:
        if not container.streams.audio:
            raise VideoReadError(p, "no_audio_stream", "the file has no audio stream")
        stream = container.streams.audio[0]
        channels = int(stream.channels or 1)
        chunks: list[np.ndarray] = []
        resampler = None
        try:
            for frame in container.decode(stream):
                if resampler is None:
                    layout = frame.layout.name if frame.layout and frame.layout.name else None
                    resampler = av.AudioResampler(format="fltp", layout=layout, rate=sample_rate)
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())
            if resampler is not None:
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray())
        except av.error.FFmpegError as e:
            raise VideoReadError(p, "decode_failed", f"audio decoding failed: {e}") from e
    finally:
        container.close()
    if not chunks:
        raise VideoReadError(p, "empty", "the audio stream has no samples")
    data = np.concatenate(chunks, axis=1)  # (channels, N)
    if data.shape[0] != channels:
        log.debug("%s: decoded %d channels, header said %d", p, data.shape[0], channels)
    wav = torch.from_numpy(np.ascontiguousarray(data.mean(axis=0), dtype=np.float32))
    if start is not None or end is not None:
        s = max(0, int(round((start or 0.0) * sample_rate)))
        e = wav.numel() if end is None else max(s, int(round(end * sample_rate)))
        wav = wav[s:e]
    return wav


def _mel(freq: torch.Tensor) -> torch.Tensor:
    return 1127.0 * torch.log1p(freq / 700.0)


def mel_banks(
    num_bins: int,
    num_fft_bins: int,
    sample_rate: float,
    low_freq: float = 20.0,
    high_freq: float = 0.0,
) -> torch.Tensor:
    """Kaldi triangular mel filters, ``(num_bins, num_fft_bins + 1)`` (the Nyquist column is zero).

    ``num_fft_bins`` is half the padded window; ``high_freq <= 0`` means Nyquist plus ``high_freq``.
    Triangles are linear on the mel scale ``1127 ln(1 + f / 700)``.
    """
    nyquist = 0.5 * sample_rate
    if high_freq <= 0:
        high_freq += nyquist
    if not 0 <= low_freq < high_freq <= nyquist:
        raise ValueError(f"bad mel range low={low_freq} high={high_freq} (nyquist {nyquist})")
    fft_bin_width = sample_rate / (2 * num_fft_bins)
    mel_low, mel_high = _mel(torch.tensor(low_freq)), _mel(torch.tensor(high_freq))
    delta = (mel_high - mel_low) / (num_bins + 1)
    b = torch.arange(num_bins, dtype=torch.float32).unsqueeze(1)
    left = mel_low + b * delta
    center = mel_low + (b + 1) * delta
    right = mel_low + (b + 2) * delta
    mel = _mel(fft_bin_width * torch.arange(num_fft_bins, dtype=torch.float32)).unsqueeze(0)
    up = (mel - left) / (center - left)
    down = (right - mel) / (right - center)
    banks = torch.clamp(torch.minimum(up, down), min=0.0)
    return torch.nn.functional.pad(banks, (0, 1))


def kaldi_fbank(
    waveform: torch.Tensor,
    sample_rate: int = 16000,
    num_mel_bins: int = 64,
    frame_length_ms: float = 25.0,
    frame_shift_ms: float = 10.0,
    preemphasis: float = 0.97,
    low_freq: float = 20.0,
    high_freq: float = 0.0,
) -> torch.Tensor:
    """Log mel filterbank energies with Kaldi's defaults (as ``torchaudio.compliance.kaldi.fbank``).

    Frames of ``frame_length_ms`` every ``frame_shift_ms`` (edges snipped), each: DC offset removed,
    pre-emphasis, Povey window (Hann to the power 0.85), zero-padded to a power of two, power spectrum,
    mel filters, ``log(max(energy, eps))``. No dither. ``waveform`` is ``(N,)`` or ``(1, N)``; returns
    ``(num_frames, num_mel_bins)`` float32. Upstream feeds samples scaled to the int16 range.
    """
    x = waveform.to(torch.float32)
    if x.dim() == 2:
        if x.shape[0] != 1:
            raise ValueError(f"expected mono audio, got shape {tuple(waveform.shape)}")
        x = x[0]
    if x.dim() != 1:
        raise ValueError(f"expected (N,) or (1, N) audio, got shape {tuple(waveform.shape)}")
    win = int(sample_rate * frame_length_ms * 0.001)
    shift = int(sample_rate * frame_shift_ms * 0.001)
    if x.numel() < win:
        return torch.empty((0, num_mel_bins), dtype=torch.float32)
    frames = x.unfold(0, win, shift)  # (F, win), snip_edges=True
    frames = frames - frames.mean(dim=1, keepdim=True)
    if preemphasis:
        prev = torch.cat([frames[:, :1], frames[:, :-1]], dim=1)
        frames = frames - preemphasis * prev
    window = torch.hann_window(win, periodic=False, dtype=torch.float32).pow(0.85)
    frames = frames * window
    n_fft = 1 << max(0, math.ceil(math.log2(win)))
    spectrum = torch.fft.rfft(frames, n=n_fft).abs().pow(2.0)  # (F, n_fft/2 + 1)
    banks = mel_banks(num_mel_bins, n_fft // 2, float(sample_rate), low_freq, high_freq)
    energies = spectrum @ banks.T
    eps = torch.finfo(torch.float32).eps
    return torch.clamp(energies, min=eps).log()
