"""internvideo: InternVideo / InternVideo2 video foundation models on plain PyTorch.

The public API is re-exported here: ``create_model``, ``list_models``, ``load_checkpoint``,
``save_pretrained`` / ``from_pretrained`` and the video I/O helpers (``probe``, ``load_video``,
``VideoReader``), all imported on first use so ``import internvideo`` stays light (it does not load torch).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

from .errors import CheckpointError, ConfigError, InternVideoError, VideoReadError

# loaded on first use: importing the package (and starting the ``internvideo`` command) does not load
# torch, so the command can configure the process before torch's OpenMP runtime starts
_LAZY = {
    "create_model": "internvideo.models",
    "from_pretrained": "internvideo.models",
    "get_pretrained_cfg": "internvideo.models",
    "list_models": "internvideo.models",
    "load_checkpoint": "internvideo.models",
    "save_pretrained": "internvideo.models",
    "probe": "internvideo.data.video",
    "load_video": "internvideo.data.video",
    "VideoReader": "internvideo.data.video",
    "load_audio": "internvideo.data.audio",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'internvideo' has no attribute {name!r}")


__all__ = [
    "CheckpointError",
    "ConfigError",
    "InternVideoError",
    "VideoReadError",
    "__version__",
    *_LAZY,
]


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
