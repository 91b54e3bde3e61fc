"""internvideo: InternVideo / InternVideo2 video foundation models on plain PyTorch.

The public API is re-exported here: ``create_model``, ``list_models``, ``load_checkpoint``,
``save_pretrained`` / ``from_pretrained`` and the video I/O helpers (``probe``, ``load_video``,
``VideoReader``), which are imported lazily so ``import internvideo`` stays light.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

from .errors import CheckpointError, ConfigError, InternVideoError, VideoReadError
from .models import (
    create_model,
    from_pretrained,
    get_pretrained_cfg,
    list_models,
    load_checkpoint,
    save_pretrained,
)

_LAZY = {
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
    "create_model",
    "from_pretrained",
    "get_pretrained_cfg",
    "list_models",
    "load_checkpoint",
    "save_pretrained",
    *_LAZY,
]
