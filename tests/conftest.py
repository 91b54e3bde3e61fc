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


@pytest.fixture()
def hub_server(tmp_path: Path):
    """A real HTTP server on 127.0.0.1 that answers model-hub file requests from ``tmp_path/'hub'``.

    Yields ``(endpoint_url, root)``; put files at ``root/owner/name/file``.
    """
    import hashlib
    import http.server
    import threading

    root = tmp_path / "hub"
    root.mkdir()
    commit = "0123456789abcdef0123456789abcdef01234567"

    class Handler(http.server.BaseHTTPRequestHandler):
        def _locate(self) -> Path | None:
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) < 5 or parts[2] != "resolve":
                return None
            f = root / parts[0] / parts[1] / "/".join(parts[4:])
            return f if f.is_file() else None

        def _head(self) -> Path | None:
            f = self._locate()
            if f is None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            data = f.read_bytes()
            self.send_response(200)
            self.send_header("X-Repo-Commit", commit)
            self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            return f

        def do_HEAD(self) -> None:  # noqa: N802
            self._head()

        def do_GET(self) -> None:  # noqa: N802
            f = self._head()
            if f is not None:
                self.wfile.write(f.read_bytes())

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()
