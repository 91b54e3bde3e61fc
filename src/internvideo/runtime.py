"""Process-wide settings for running models on the CPU, applied by the ``internvideo`` command.

A library should not change its host process behind its back, so nothing here runs on import; the CLI,
which owns its process, calls :func:`tune_openmp` and :func:`tune_malloc` at start, and programs may call
them too (:func:`tune_openmp` only before torch is imported).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import platform
import sys

logger = logging.getLogger(__name__)

__all__ = ["tune_malloc", "tune_openmp"]

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 << 20
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD
_applied: bool | None = None

# busy-wait iterations of an idle OpenMP thread before it sleeps: ~0.3 ms here instead of GNU OpenMP's
# default 300,000 (~8 ms)
GOMP_SPINCOUNT = 10_000


def _off(var: str) -> bool:
    return os.environ.get(var, "1").strip().lower() in ("0", "false", "no", "off")


def tune_openmp() -> bool:
    """Let torch's idle OpenMP threads go to sleep soon after a parallel region; True when applied.

    GNU OpenMP (torch's CPU runtime on Linux) keeps each idle thread spinning for 300,000 iterations
    (~8 ms here) after every parallel region, in case another follows at once. Within a model's forward
    pass the next one does; but when the model stops and other processes need the cores -- the decoders
    of ``internvideo index``, which take turns with the model -- the spinning threads hold the cores
    they want (measured on 2 cores: one decoder lost its core for the first ~3-8 ms of every round).
    This sets ``GOMP_SPINCOUNT`` to 10,000 (~0.3 ms), which left the model's own speed unchanged here
    (1,000 cost it ~3 %).

    It only takes effect before torch is loaded (the runtime reads it once), so it does nothing when
    torch is already imported, and it leaves an ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` the user set
    alone. ``INTERNVIDEO_TUNE_OPENMP=0`` turns it off.
    """
    if _off("INTERNVIDEO_TUNE_OPENMP"):
        return False
    if "torch" in sys.modules:
        logger.debug("torch is already loaded: OpenMP's spin count cannot be changed any more")
        return False
    if "OMP_WAIT_POLICY" in os.environ or "GOMP_SPINCOUNT" in os.environ:
        return False
    os.environ["GOMP_SPINCOUNT"] = str(GOMP_SPINCOUNT)
    return True


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
    if _off("INTERNVIDEO_TUNE_MALLOC"):
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
