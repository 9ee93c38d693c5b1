"""snnc.backends.torch.allocator: importing the backend keeps freed memory in the process (no page
faults when a step's large tensors come back), and SNNC_MALLOC=default opts out."""
import os
import subprocess
import sys

import pytest

from snnc.backends.torch import allocator

PROBE = """
import resource, torch
import snnc.backends.torch as b
def touch():
    t = torch.empty(64 * 2**20 // 4)  # 64 MiB, above glibc's largest mmap threshold
    t.fill_(1.0)
    del t
for _ in range(4):  # where the first blocks land varies; the steady state is what a step sees
    touch()
faults = []
for _ in range(4):
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    touch()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
print(bool(b.allocator._applied), min(faults))
"""

glibc_only = pytest.mark.skipif(allocator._glibc() is None, reason="needs Linux with glibc")


def faults(env_value):
    env = dict(os.environ)
    env.pop(allocator.ENV, None)
    if env_value is not None:
        env[allocator.ENV] = env_value
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    return out[0] == "True", int(out[1])


@glibc_only
def test_freed_blocks_are_reused_without_page_faults():
    kept, n = faults(None)
    assert kept and n < 1000  # 64 MiB is 16384 pages: reused, not faulted in again
    kept, n = faults("default")
    assert not kept and n > 15000  # glibc's default: a fresh mapping, every page faulted in


def test_idempotent_and_reports_state():
    assert allocator.keep_freed_memory() is allocator.keep_freed_memory()
    assert allocator.keep_freed_memory() == (allocator._glibc() is not None)
