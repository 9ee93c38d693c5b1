"""A seeded mutator of genomes and ``.snnir`` artifacts, and a runner that sorts outcomes.

The seeds are the shipped genomes (``snnc/zoo/*.genome``, ``examples/*.genome``), also shrunk to
4 channels so that a mutant that still compiles does so in milliseconds. A genome mutation is one
or more of: byte flips, insertions and deletions; line deletion, duplication and swaps; a token
replaced by another token of the file or by a hostile value (huge, negative, non-finite, 400
digits); a lone CR. Artifact mutations damage zip members (flipped bytes, truncation, dropped
members) or edit ``graph.json``/``extra.json`` with the checksums recomputed, so that the fault
reaches the checks behind them.

:func:`run` sorts each input into ``ok``, ``clean`` (an :class:`~snnc.errors.SnncError`),
``traceback`` (any other exception: a bug) or ``hang`` (over the per-input time limit, measured
with ``SIGALRM``; main thread, POSIX only).
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import json
import re
import signal
import traceback
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import SnncError

ROOT = Path(__file__).resolve().parents[2]
HOSTILE = ("0", "-1", "1" + "0" * 30, "9" * 400, "1e308", "-1e308", "nan", "inf", "1e-320",
           "100000", "65537", "3x100000x100000", "0x0", '""', '"' + "a" * 300 + '"',
           "a" * 70_000, "@", "{", "}", "->", "back", "true", "\\u0000", "1000000", "2147483648")
_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|[A-Za-z_][\w-]*|-?\d[\w.+-]*|->|\S')


def seed_genomes() -> dict[str, str]:
    """name -> text of every shipped genome, plus a copy shrunk to 4 channels (``name@4``)."""
    out = {}
    for path in sorted(glob.glob(str(ROOT / "snnc/zoo/*.genome"))
                       + glob.glob(str(ROOT / "examples/*.genome"))):
        text = Path(path).read_text(encoding="utf-8")
        name = Path(path).name
        out[name] = text
        small = re.sub(r"\b(channels|hidden)=\d+", r"\1=4", text)
        out[name + "@4"] = re.sub(r"\binput\s+\d+x(\d+)x(\d+)", r"input 3x\1x\2", small)
    return out


def mutate_genome(text: str, rng: np.random.Generator) -> str:
    """One to three random mutations of ``text``."""
    for _ in range(int(rng.integers(1, 4))):
        text = _MUTATIONS[int(rng.integers(len(_MUTATIONS)))](text, rng)
    return text


def _byte(text: str, rng) -> str:
    data = bytearray(text.encode("utf-8"))
    if not data:
        return text
    i = int(rng.integers(len(data)))
    op = int(rng.integers(3))
    if op == 0:
        data[i] ^= 1 << int(rng.integers(8))
    elif op == 1:
        data.insert(i, int(rng.integers(256)))
    else:
        del data[i]
    return data.decode("utf-8", "replace")


def _lines(text: str, rng) -> str:
    lines = text.split("\n")
    i, j = (int(x) for x in rng.integers(len(lines), size=2))
    op = int(rng.integers(3))
    if op == 0:
        del lines[i]
    elif op == 1:
        lines.insert(i, lines[j])
    else:
        lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def _token(text: str, rng) -> str:
    toks = list(_TOKEN.finditer(text))
    if not toks:
        return text
    m = toks[int(rng.integers(len(toks)))]
    if rng.random() < 0.5:
        new = HOSTILE[int(rng.integers(len(HOSTILE)))]
    else:
        new = toks[int(rng.integers(len(toks)))].group()
    return text[:m.start()] + new + text[m.end():]


def _number(text: str, rng) -> str:
    nums = list(re.finditer(r"(?<![\w.])\d+(?:\.\d+)?(?![\w.])", text))
    if not nums:
        return text
    m = nums[int(rng.integers(len(nums)))]
    new = str(int(float(m.group()) * 10 ** int(rng.integers(1, 9)))) if rng.random() < 0.7 else \
        HOSTILE[int(rng.integers(len(HOSTILE)))]
    return text[:m.start()] + new + text[m.end():]


def _cr(text: str, rng) -> str:
    i = text.find("\n", int(rng.integers(max(len(text), 1))))
    return text if i < 0 else text[:i] + "\r" + text[i + 1:]


_MUTATIONS: tuple[Callable[[str, np.random.Generator], str], ...] = (
    _byte, _lines, _token, _token, _number, _number, _cr)


# ----------------------------------------------------------------------------- artifacts
def mutate_artifact(blob: bytes, rng: np.random.Generator) -> bytes:
    """A damaged copy of a ``.snnir`` archive's bytes."""
    op = int(rng.integers(5))
    if op == 0:  # flipped bytes anywhere
        data = bytearray(blob)
        for i in rng.integers(len(data), size=int(rng.integers(1, 8))):
            data[int(i)] ^= 0xFF
        return bytes(data)
    if op == 1:  # truncated
        return blob[:int(rng.integers(len(blob)))]
    with zipfile.ZipFile(io.BytesIO(blob)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    if op == 2 and len(members) > 1:  # a member dropped
        members.pop(sorted(members)[int(rng.integers(len(members)))])
        return _zip(members, fix=False)
    name = "graph.json" if op == 3 or "extra.json" not in members else "extra.json"
    data = json.loads(members[name])
    _edit_json(data, rng)
    members[name] = json.dumps(data).encode()
    return _zip(members, fix=True)


def _edit_json(data, rng) -> None:
    """Replace one value somewhere in ``data`` by a hostile one."""
    values = [None, 0, -5, "3", 1.5, -1.0, 10 ** 9, 10 ** 400, {"$float": "nan"},
              {"$float": "inf"}, [], {}, "x" * 1000, True, [[[[[[[[1]]]]]]]],
              {"$tuple": [0, -1]}, {"$unknown": 1}]
    path = []
    node = data
    while isinstance(node, (dict, list)) and node and rng.random() < 0.85:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        k = keys[int(rng.integers(len(keys)))]
        path.append((node, k))
        node = node[k]
    if path:
        parent, k = path[-1]
        parent[k] = values[int(rng.integers(len(values)))]


def _zip(members: dict[str, bytes], fix: bool) -> bytes:
    if fix and "manifest.json" in members:
        man = json.loads(members["manifest.json"])
        man["members"] = {k: {"sha256": hashlib.sha256(v).hexdigest(), "size": len(v)}
                          for k, v in members.items() if k != "manifest.json"}
        members["manifest.json"] = json.dumps(man).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


# ----------------------------------------------------------------------------- running
class Hang(Exception):
    """Raised by the alarm when an input runs over its time limit."""


@dataclass
class Tally:
    """Outcome counts, plus the first few tracebacks and hangs for the report."""

    inputs: int = 0
    ok: int = 0
    clean: int = 0
    traceback: int = 0
    hang: int = 0
    failures: list[str] = field(default_factory=list)

    def add(self, outcome: str, detail: str = "") -> None:
        self.inputs += 1
        setattr(self, outcome, getattr(self, outcome) + 1)
        if outcome in ("traceback", "hang") and len(self.failures) < 20:
            self.failures.append(f"{outcome}: {detail}")

    def counts(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("inputs", "clean", "ok", "traceback", "hang")}


@contextlib.contextmanager
def time_limit(seconds: float):
    def alarm(signum, frame):
        raise Hang(f"over {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run(fn: Callable[[], object], seconds: float, label: str = "") -> tuple[str, str]:
    """``(outcome, detail)`` of ``fn()`` under a time limit (see the module docstring)."""
    try:
        with time_limit(seconds):
            fn()
    except Hang:
        return "hang", label
    except SnncError:
        return "clean", ""
    except Exception:  # noqa: BLE001 - sorting every other exception is the point
        return "traceback", f"{label}\n{traceback.format_exc(limit=-4)}"
    return "ok", ""
