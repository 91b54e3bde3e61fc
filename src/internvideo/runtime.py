"""Process-wide settings for running models on the CPU, applied by the ``internvideo`` command.

A library should not change its host process behind its back, so nothing here runs on import; the CLI,
which owns its process, calls :func:`tune_malloc` at start, and programs may call it too.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform

logger = logging.getLogger(__name__)

__all__ = ["tune_malloc"]

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 << 20
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD
_applied: bool | None = None


def tune_malloc() -> bool:
    """Let glibc keep freed tensor memory for reuse instead of unmapping it; True when applied.

    By default glibc serves allocations above a threshold (128 KiB, raised on the fly up to 32 MiB) with
    fresh ``mmap`` calls and unmaps them on ``free``; the activations of a model batch are such
    allocations, so every batch page-faults its working memory in again, and the threshold moves with
    whatever else the process allocates. Measured on 2 cores with the default model: ~37,000 page faults
    and +25-100 % time per batch of 16 clips when that happens, none once the thresholds are fixed at
    256 MiB (mmap) and 512 MiB (trim). The cost is that up to that much freed memory stays with the
    process. Only on Linux with glibc; set ``INTERNVIDEO_TUNE_MALLOC=0`` to leave malloc alone. Idempotent.
    """
    global _applied
    if _applied is not None:
        return _applied
    _applied = False
    if os.environ.get("INTERNVIDEO_TUNE_MALLOC", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
        ok = libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok
    except (OSError, AttributeError):  # pragma: no cover - no usable libc
        return False
    _applied = ok
    logger.debug("glibc malloc thresholds %s", "set" if ok else "not accepted")
    return ok
