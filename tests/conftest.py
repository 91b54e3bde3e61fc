"""Shared pytest fixtures: locate ../shared (media, parity fixtures) and skip with a reason when absent."""

from __future__ import annotations

from pathlib import Path

import pytest

from internvideo._paths import shared_dir


@pytest.fixture(scope="session")
def shared() -> Path:
    d = shared_dir()
    if d is None:
        pytest.skip("shared assets folder not found (set INTERNVIDEO_SHARED or place it at ../shared)")
    return d


@pytest.fixture(scope="session")
def media_dir(shared: Path) -> Path:
    d = shared / "media"
    if not (d / "test.mp4").exists():
        pytest.skip(f"real media not found under {d}")
    return d


@pytest.fixture(scope="session")
def fixtures_dir(shared: Path) -> Path:
    d = shared / "fixtures" / "internvideo2"
    if not d.is_dir():
        pytest.skip(f"parity fixtures not found under {d}")
    return d
