"""``scan_videos``: what a folder scan finds, how paths are resolved, what is left out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from internvideo.errors import ConfigError
from internvideo.index import scan_videos


def _touch(p: Path) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(b"x")
    return p


def test_scan_finds_videos_recursively_skips_hidden_and_other_files(tmp_path: Path) -> None:
    a = _touch(tmp_path / "a.mp4")
    b = _touch(tmp_path / "sub" / "deeper" / "B.MKV")  # extensions are matched case-insensitively
    _touch(tmp_path / "notes.txt")
    _touch(tmp_path / ".hidden.mp4")
    _touch(tmp_path / ".cache" / "c.mp4")
    _touch(tmp_path / "sub" / ".git" / "d.webm")
    assert scan_videos([tmp_path]) == sorted([a.resolve(), b.resolve()])


def test_scan_named_files_are_kept_whatever_their_name_and_deduplicated(tmp_path: Path) -> None:
    odd = _touch(tmp_path / "clip.bin")
    v = _touch(tmp_path / "v.mp4")
    got = scan_videos([odd, v, tmp_path, tmp_path / "." / "v.mp4"])
    assert got == sorted([odd.resolve(), v.resolve()])


def test_scan_resolves_file_links_and_does_not_follow_folder_links(tmp_path: Path) -> None:
    real = _touch(tmp_path / "store" / "real.mp4")
    lib = tmp_path / "lib"
    lib.mkdir()
    os.symlink(real, lib / "alias.mp4")
    os.symlink(tmp_path / "store", lib / "store_link")  # a folder link: not walked into
    os.symlink(lib, lib / "loop")  # a loop: the scan still ends
    assert scan_videos([lib]) == [real.resolve()]
    # the folder named through a link is resolved once and its files get real paths
    assert scan_videos([lib / "store_link"]) == [real.resolve()]
    assert scan_videos([lib / "store_link" / "real.mp4"]) == [real.resolve()]


def test_scan_excludes_a_folder_but_not_its_namesakes(tmp_path: Path) -> None:
    keep = _touch(tmp_path / "index_old" / "k.mp4")
    _touch(tmp_path / "index" / "inside.mp4")
    assert scan_videos([tmp_path], exclude=[tmp_path / "index"]) == [keep.resolve()]


def test_scan_skips_pipes_named_or_found(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A FIFO named like a video would block the decoder that opens it: it is never listed."""
    v = _touch(tmp_path / "v.mp4")
    fifo = tmp_path / "live.mp4"
    os.mkfifo(fifo)
    assert scan_videos([tmp_path]) == [v.resolve()]
    assert scan_videos([fifo, v]) == [v.resolve()]
    assert "not a regular file" in caplog.text


def test_scan_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file or folder"):
        scan_videos([tmp_path / "nope"])
