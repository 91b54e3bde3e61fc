"""internvideo.runtime: freed tensor memory is reused instead of being page-faulted in anew; idle OpenMP
threads stop spinning soon after a parallel region."""

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
for _ in range(20):
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
    # tuned: once the heap has settled (2 to 9 rounds here, depending on what was allocated before),
    # the same memory is reused
    assert max(tuned["faults"][-5:]) < pages // 50


# ------------------------------------------------------------------------------------------ OpenMP

SPIN_PROBE = r"""
import json, os, time
from internvideo.runtime import tune_openmp
applied = tune_openmp()
import torch
torch.set_num_threads(2)
x = torch.randn(2048, 2048)
burnt = []
for _ in range(9):
    x @ x  # a parallel region; afterwards the second thread idles in OpenMP's wait
    c0 = time.process_time()
    time.sleep(0.1)  # the main thread sleeps: what the process burns now is the idle thread's spinning
    burnt.append(time.process_time() - c0)
# other processes on the machine move both ways: a thread of ours running adds CPU, another program
# taking the core away from the spinning thread removes some; min and max bound the spin
print(json.dumps({"applied": applied, "spin_min_ms": 1000 * min(burnt), "spin_max_ms": 1000 * max(burnt),
                  "env": os.environ.get("GOMP_SPINCOUNT")}))
"""


def _spin(env: dict[str, str]) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")} | env
    out = subprocess.run(
        [sys.executable, "-c", SPIN_PROBE], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(
    len(os.sched_getaffinity(0)) < 2, reason="needs 2 cores (OpenMP throttles its spin otherwise)"
)
def test_idle_openmp_threads_stop_spinning_soon() -> None:
    tuned, default = _spin({"INTERNVIDEO_TUNE_OPENMP": "1"}), _spin({"INTERNVIDEO_TUNE_OPENMP": "0"})
    assert tuned["applied"] is True and tuned["env"] == "10000"
    assert default["applied"] is False and default["env"] is None
    # GNU OpenMP's default keeps the idle thread busy for milliseconds after each parallel region (its
    # longest window: a busy machine can preempt the spinning thread in some); tuned, even the window
    # with least other activity would show a long spin
    assert default["spin_max_ms"] > 2.0, default
    assert tuned["spin_min_ms"] < default["spin_max_ms"] / 3, (tuned, default)


def test_tune_openmp_leaves_user_settings_and_loaded_torch_alone() -> None:
    assert _spin({"OMP_WAIT_POLICY": "active"})["applied"] is False
    user = _spin({"GOMP_SPINCOUNT": "5"})
    assert user["applied"] is False and user["env"] == "5"
    import torch  # noqa: F401 - loaded in this process: too late to change the runtime

    from internvideo.runtime import tune_openmp

    assert tune_openmp() is False


def test_the_command_starts_without_torch() -> None:
    code = "import sys, internvideo, internvideo.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
