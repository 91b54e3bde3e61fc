"""Where the shared test assets (real media, parity fixtures) live.

They sit beside the project (``../shared`` from the repository root); ``INTERNVIDEO_SHARED`` overrides.
"""

from __future__ import annotations

import os
from pathlib import Path


def shared_dir() -> Path | None:
    """Return the shared assets folder, or ``None`` when it is not present."""
    env = os.environ.get("INTERNVIDEO_SHARED")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    # src/internvideo/_paths.py -> repository root is parents[2]; shared/ is beside it.
    candidates.append(here.parents[3] / "shared")
    candidates.append(Path.cwd().parent / "shared")
    for c in candidates:
        if c.is_dir():
            return c
    return None
