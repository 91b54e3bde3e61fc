"""internvideo: InternVideo / InternVideo2 video foundation models on plain PyTorch."""

from __future__ import annotations

__version__ = "0.1.0"
