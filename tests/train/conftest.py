"""Helpers for training tests: launch scripts in fresh interpreters or under torchrun."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = "1"
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    return env


def _run_script(script: str, args: Sequence[str], timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run ``tests/train/<script>`` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, str(HERE / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=_env(),
    )


def _run_torchrun(script: str, args: Sequence[str], nproc: int = 2, timeout: float = 120.0) -> None:
    """Run ``tests/train/<script>`` with ``torch.distributed.run`` on CPU; fail with its output on error."""
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        str(nproc),
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(free_port()),
        str(HERE / script),
        *args,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=_env())
    if proc.returncode != 0:
        pytest.fail(f"torchrun failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")


@pytest.fixture
def run_script():
    """``run_script(script, args, timeout)``: run a helper script of this folder in a fresh interpreter."""
    return _run_script


@pytest.fixture
def run_torchrun():
    """``run_torchrun(script, args, nproc, timeout)``: run a helper script under torchrun (gloo, CPU)."""
    return _run_torchrun


@pytest.fixture
def helpers_dir() -> Path:
    return HERE
