"""Typed errors. Every message names the file (or object) and says what to do."""

from __future__ import annotations


class InternVideoError(Exception):
    """Base class of every error this package raises on purpose."""


class VideoReadError(InternVideoError):
    """A video (or audio) file could not be read.

    ``reason`` is a short machine-friendly tag: ``missing``, ``empty``, ``not_a_video``,
    ``truncated``, ``no_video_stream``, ``no_audio_stream``, ``decode_failed``, ``timeout``.
    """

    def __init__(self, path: object, reason: str, detail: str = "") -> None:
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        msg = f"cannot read video {self.path!r}: {reason}"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)


class CheckpointError(InternVideoError):
    """A checkpoint does not match the model (missing / unexpected / mis-shaped keys) or cannot be read."""


class ConfigError(InternVideoError, ValueError):
    """An invalid model, data or training configuration."""
