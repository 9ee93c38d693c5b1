"""Genome -> canonical text, and the genome id (sha256 of that text).

Canonical form: header statements in a fixed order, blocks in order, attributes in schema order with
defaults left out (required ones always written), edges sorted (forward first) one per line, block
overrides after the edges, floats in their shortest round-trip form. ``parse(to_text(g)) == g`` and
``to_text(parse(t))`` is a fixed point.
"""
from __future__ import annotations

import hashlib
import re

from . import schema as S
from .ast import Block, Edge, Genome, Spec


def fmt(value) -> str:
    """One attribute value in genome syntax."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        r = repr(value)
        return r[:-2] if r.endswith(".0") else r
    if isinstance(value, int):
        return str(value)
    if isinstance(value, tuple):
        return "x".join(str(v) for v in value)
    if _bare(value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") \
        .replace("\t", "\\t") + '"'


def _bare(s: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", s)) and s not in ("true", "false", "back")


def _quote(s: str) -> str:
    """A string statement value, always quoted (``name "x"``)."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") \
        .replace("\t", "\\t") + '"'


def spec_text(keyword: str, spec: Spec, table: dict) -> str:
    """``neuron lif tau=3 decay_input=false``: the first key of the chosen parameterisation is always
    written (so the parameterisation survives the round trip), other keys only when not default."""
    attrs = table[spec.kind]
    leads = {g[0] for g in S.PARAMETERISATIONS.get(spec.kind, ())}
    parts = [keyword, spec.kind]
    for k, v in spec.params:
        a = attrs[k]
        if k in leads or a.default is S.REQUIRED or v != a.default:
            parts.append(f"{k}={fmt(v)}")
    return " ".join(parts)


def edge_text(e: Edge) -> str:
    s = f"{'back ' if e.backward else ''}{e.src} -> {e.dst}"
    if e.delay:
        s += f" @{e.delay}"
    if e.op:
        s += f" {e.op}"
    return s


def block_text(b: Block) -> list[str]:
    kind = S.BLOCKS[b.kind]
    head = [b.kind] + [w for w in (b.name, b.form) if w is not None]
    for k, v in b.attrs:
        a = kind.attrs[k]
        d = a.default_for(b.form)
        if d is S.REQUIRED or v != d:
            head.append(f"{k}={fmt(v)}")
    body = [edge_text(e) for e in sorted(b.edges, key=Edge.sort_key)]
    if b.neuron is not None:
        body.append(spec_text("neuron", b.neuron, S.NEURONS))
    if b.surrogate is not None:
        body.append(spec_text("surrogate", b.surrogate, S.SURROGATES))
    if not body:
        return [" ".join(head)]
    return [" ".join(head) + " {"] + ["  " + line for line in body] + ["}"]


def to_text(g: Genome) -> str:
    """The canonical text of ``g`` (ends with a newline)."""
    lines = [f"snnc-genome {g.version}", f"name {_quote(g.name)}"]
    if g.provenance is not None:
        lines.append(f"provenance {_quote(g.provenance)}")
    lines += [f"T {g.T}", f"input {fmt(tuple(g.input_shape))}", f"classes {g.classes}"]
    if g.encoding != "direct":
        lines.append(f"encoding {g.encoding}")
    lines.append(spec_text("neuron", g.neuron, S.NEURONS))
    lines.append(spec_text("surrogate", g.surrogate, S.SURROGATES))
    for b in g.blocks:
        lines += block_text(b)
    return "\n".join(lines) + "\n"


def genome_id(g: Genome) -> str:
    """sha256 hex digest of the canonical text: the architecture's identity for caching."""
    return hashlib.sha256(to_text(g).encode("utf-8")).hexdigest()
