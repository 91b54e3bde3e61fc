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


class JobInterrupted(KeyboardInterrupt):
    """A long job stopped by Ctrl-C that keeps what it had finished: running it again continues.

    ``out`` is the job's output folder and ``kept`` the number of videos whose results are in it; the
    message says so (e.g. ``80 files committed to idx are kept``). It is a ``KeyboardInterrupt``, so
    code that stops on Ctrl-C still does.
    """

    def __init__(self, out: object, kept: int, what: str) -> None:
        self.out = str(out)
        self.kept = kept
        super().__init__(f"{what} to {self.out} are kept")
