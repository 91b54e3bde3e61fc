"""internvideo.runtime.tune_malloc: freed tensor memory is reused instead of being page-faulted in anew."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc malloc only"
)

PROBE = r"""
import json, resource, torch
from internvideo.runtime import tune_malloc
applied = tune_malloc()
faults = []
for _ in range(12):
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    x = torch.empty(48 << 20, dtype=torch.uint8)  # 48 MiB: above glibc's largest dynamic mmap threshold
    x.fill_(1)
    del x
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
print(json.dumps({"applied": applied, "faults": faults}))
"""


def _probe(tune: str) -> dict:
    env = {**os.environ, "INTERNVIDEO_TUNE_MALLOC": tune}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_freed_tensor_memory_is_reused() -> None:
    pages = (48 << 20) // 4096
    tuned, default = _probe("1"), _probe("0")
    assert tuned["applied"] is True and default["applied"] is False
    # glibc's default: every 48 MiB tensor is a fresh mmap, all of its pages fault in again
    assert min(default["faults"][1:]) > pages // 2
    # tuned: once the heap has grown to fit (two or three rounds), the same memory is reused
    assert max(tuned["faults"][4:]) < pages // 50
