"""Resource limits: the largest model snnc builds before it refuses, checked before allocating.

A genome can ask for more than any machine holds (``channels=100000``, ``classes`` of 400 digits,
``nodes=1000000``); without bounds that is a ``MemoryError`` or a hang long after the mistake.
Every size is checked against these limits first, and a model over one is a
:class:`~snnc.errors.LimitError` naming the limit, the value and where the genome asked for it.

Defaults leave a margin of 10x or more over the largest preset of ``snnc zoo --counts``
(TANet-Regular: 24.9M parameters, 3.09G MACs per step, 463 IR nodes, 615 edges; SNASNet-Bw for
CIFAR-10: 5.25G MACs per step). They can be changed for one call (``limits=`` of
:func:`snnc.compiler.compile_genome`, :func:`snnc.frontend.lower`, :func:`snnc.genome.parse`) or
for a process through the environment::

    SNNC_LIMITS=off                      no limit at all
    SNNC_LIMITS=params=1e9,macs=off      per-limit overrides (a number, or off)
    SNNC_LIMIT_PARAMS=1e9                the same, one variable per limit

Names: see :data:`DEFAULTS`.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields, replace
from typing import Mapping

from .errors import SnncError

#: name -> (default, what it bounds).
DEFAULTS: dict[str, tuple[int, str]] = {
    "params": (250_000_000, "parameters of the whole model"),
    "macs": (100_000_000_000, "multiply-accumulates per sample per time step"),
    "nodes": (20_000, "IR nodes (and genome graph nodes, cell nodes, ResNet depth)"),
    "edges": (100_000, "IR edges (and genome edges)"),
    "name": (256, "characters of a block, node or model name"),
    "channels": (65_536, "channels or features of one layer"),
    "classes": (100_000, "output classes (times the voting population)"),
    "input": (16_777_216, "input elements per sample (C x H x W)"),
    "T": (100_000, "time steps"),
    "delay": (100_000, "synaptic delay of one edge, in steps"),
}
_OFF = ("off", "none", "inf", "unlimited")


@dataclass(frozen=True)
class Limits:
    """One value per name of :data:`DEFAULTS`; ``None`` means unbounded."""

    params: int | None = DEFAULTS["params"][0]
    macs: int | None = DEFAULTS["macs"][0]
    nodes: int | None = DEFAULTS["nodes"][0]
    edges: int | None = DEFAULTS["edges"][0]
    name: int | None = DEFAULTS["name"][0]
    channels: int | None = DEFAULTS["channels"][0]
    classes: int | None = DEFAULTS["classes"][0]
    input: int | None = DEFAULTS["input"][0]
    T: int | None = DEFAULTS["T"][0]
    delay: int | None = DEFAULTS["delay"][0]

    @classmethod
    def off(cls) -> "Limits":
        return cls(**{f.name: None for f in fields(cls)})

    def exceeded(self, name: str, value: int) -> bool:
        bound = getattr(self, name)
        return bound is not None and value > bound

    def message(self, name: str, value: int, what: str) -> str:
        """``"{what} is 100000, over the limit of 65536 channels (...)"``."""
        shown = _show(value)
        return (f"{what} is {shown}, over the limit of {_show(getattr(self, name))} "
                f"{DEFAULTS[name][1]}; raise it with SNNC_LIMIT_{name.upper()}=N or "
                f"SNNC_LIMITS=off (limits= in Python) if you mean it")


def _show(value: int) -> str:
    if abs(value) >= 10 ** 30:
        return f"a {len(str(abs(value)))}-digit number"
    return f"{value:,}"


def resolve(limits: "Limits | Mapping[str, int | None] | str | None" = None,
            environ: Mapping[str, str] | None = None) -> Limits:
    """The limits of one call: ``limits`` when given (a :class:`Limits`, ``"off"``, or a mapping of
    overrides on top of the environment's), else the environment's, else :data:`DEFAULTS`.

    Raises:
        SnncError: an unknown limit name or a value that is not a positive number or ``off``.
    """
    if isinstance(limits, Limits):
        return limits
    if isinstance(limits, str):
        return from_spec(limits, "limits")
    env = os.environ if environ is None else environ
    base = from_spec(env.get("SNNC_LIMITS", ""), "SNNC_LIMITS")
    over: dict[str, int | None] = {}
    for name in DEFAULTS:
        raw = env.get(f"SNNC_LIMIT_{name.upper()}")
        if raw is not None:
            over[name] = _value(raw, f"SNNC_LIMIT_{name.upper()}")
    for name, raw in (limits or {}).items():
        if name not in DEFAULTS:
            raise SnncError(f"limits: unknown limit {name!r}; known: {', '.join(DEFAULTS)}")
        over[name] = None if raw is None else _value(str(raw), f"limits[{name!r}]")
    return replace(base, **over)


def from_spec(spec: str, source: str) -> Limits:
    """``"off"``, ``""`` (defaults) or ``"params=1e9,macs=off"``."""
    spec = spec.strip()
    if spec.lower() in _OFF:
        return Limits.off()
    out = Limits()
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, eq, raw = part.partition("=")
        name = name.strip()
        if not eq or name not in DEFAULTS:
            raise SnncError(f"{source}: expected 'off' or NAME=VALUE,... with NAME one of "
                            f"{', '.join(DEFAULTS)}; got {part[:60]!r}")
        out = replace(out, **{name: _value(raw, f"{source} {name}")})
    return out


def _value(raw: str, source: str) -> int | None:
    raw = raw.strip()
    if raw.lower() in _OFF:
        return None
    try:
        v = float(raw)
    except ValueError:
        v = math.nan
    if not math.isfinite(v) or v < 1 or len(raw) > 40:
        raise SnncError(f"{source}: a limit is a number >= 1 or 'off', got {raw[:40]!r}")
    return int(v)
