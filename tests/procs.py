"""Process-tree helpers for kill-the-parent tests (Linux ``/proc``; no psutil)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, ppid) of ``pid``, or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1])


def descendants(pid: int) -> set[int]:
    """Every live process below ``pid``."""
    children: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _stat(int(d))
            if st:
                children.setdefault(st[1], []).append(int(d))
    out, stack = set(), [pid]
    while stack:
        for c in children.get(stack.pop(), []):
            if c not in out:
                out.add(c)
                stack.append(c)
    return out


def alive(pids) -> set[int]:
    """Those of ``pids`` that still run (zombies count as gone: they hold no memory)."""
    return {p for p in pids if (st := _stat(p)) is not None and st[0] not in "ZX"}


def kill_parent_and_wait(code: str, sig: int, ready: str, *, min_children: int,
                         timeout: float = 120.0, grace: float = 10.0, env=None,
                         group: bool = False):
    """Run ``python -c code``, wait until it prints ``ready`` and has at least ``min_children``
    descendants, send it ``sig``, and return ``(descendants seen, those alive after grace
    seconds, stderr)``. ``group``: the child leads a new process group and ``sig`` goes to the
    whole group, as a terminal's Ctrl-C does. Output goes through files, not pipes: children
    left alive would hold a pipe open forever. Survivors are SIGKILLed before returning."""
    with tempfile.TemporaryDirectory() as tmp:
        out_path, err_path = Path(tmp, "out"), Path(tmp, "err")
        with open(out_path, "w") as out, open(err_path, "w") as err:
            proc = subprocess.Popen([sys.executable, "-c", code], stdout=out, stderr=err,
                                    stdin=subprocess.DEVNULL, env=env,
                                    start_new_session=group, cwd=Path(__file__).parents[1])
        kids: set[int] = set()
        try:
            deadline = time.monotonic() + timeout
            while ready not in out_path.read_text():
                if proc.poll() is not None:
                    raise AssertionError(f"child ended early: {err_path.read_text()[-3000:]}")
                if time.monotonic() > deadline:
                    raise AssertionError("child never got ready")
                kids |= descendants(proc.pid)
                time.sleep(0.1)
            while len(kids) < min_children and time.monotonic() < deadline:
                kids |= descendants(proc.pid)
                time.sleep(0.1)
            kids |= descendants(proc.pid)
            if group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                Path(err_path).open("a").write("\n(parent did not end)\n")
            end = time.monotonic() + grace
            left = alive(kids)
            while left and time.monotonic() < end:
                time.sleep(0.1)
                left = alive(kids)
            return kids, left, err_path.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for p in alive(kids | descendants(proc.pid)):
                try:
                    os.kill(p, signal.SIGKILL)
                except OSError:
                    pass
