"""Genome -> canonical text, and the genome id (sha256 of that text).

The canonical form: header statements in the fixed order ``snnc-genome, name, provenance, T,
input, classes, encoding, neuron, surrogate`` (provenance only when set, encoding only when not
``direct``; neuron and surrogate always), a blank line, then the blocks in order. Attributes follow
schema order with defaults left out (required ones always written); neuron and surrogate write the
key that selects their parameterisation (``tau``, ``leak``, ``beta``) and their ``shown`` keys even at
the default. Edges are sorted by ``Edge.sort_key`` (forward first), one per line, indented two spaces,
followed by the block's ``neuron``/``surrogate`` overrides. The text ends with a newline. So
``parse(to_text(g)) == g`` and ``to_text(parse(t))`` is a fixed point.

    >>> print(to_text(g))                                     # doctest: +SKIP
    snnc-genome 1
    name "demo"
    T 4
    input 3x32x32
    classes 10
    neuron lif tau=3 decay_input=false
    surrogate atan alpha=2

    stage s1 node channels=96 spiking=false
    stage s3 graph channels=192 conv=separable nodes=8 {
      0 -> 4
      0 -> 7 @1
      back 7 -> 3 @1
      neuron lif tau=2
    }
    classifier head channels=1280 dropout=0.2
"""
from __future__ import annotations

import hashlib

from . import schema as S
from .ast import Block, Edge, Genome, Spec
from .lexical import fmt_value, is_name, quote


def _attr(key: str, value, param: S.Param | None) -> str:
    return f"{key}={fmt_value(value, param.type if param else None)}"


def spec_text(role: str, spec: Spec) -> str:
    """``neuron lif tau=3 decay_input=false`` / ``surrogate atan alpha=2``."""
    sk = S.SPECS[role].get(spec.kind)
    parts = [role, fmt_value(spec.kind)]
    if sk is None:  # not in the schema (hand-built): write everything; parse will object
        return " ".join(parts + [_attr(k, v, None) for k, v in spec.params])
    present = {k for k, _ in spec.params}
    shown = set(sk.shown) | {next((k for k in g if k in present), g[0]) for g in sk.forms}
    for k, v in spec.params:
        p = sk.param(k)
        if p is None or k in shown or p.required or v != p.default:
            parts.append(_attr(k, v, p))
    return " ".join(parts)


def edge_text(e: Edge) -> str:
    """``back 9 -> 3 @1 conv3x3``."""
    s = f"{'back ' if e.backward else ''}{e.src} -> {e.dst}"
    if e.delay:
        s += f" @{e.delay}"
    if e.op is not None:
        s += f" {e.op}"
    return s


def block_text(b: Block) -> list[str]:
    """The lines of one block."""
    bk = S.BLOCKS.get(b.kind)
    form = bk.form(b.form) if bk else None
    params = {p.name: p for p in bk.params_for(form)} if form else {}
    head = [b.kind] + [w if is_name(w) else quote(str(w)) for w in (b.name, b.form)
                       if w is not None]
    for k, v in b.attrs:
        p = params.get(k)
        if p is None or p.required or v != p.default:
            head.append(_attr(k, v, p))
    body = [edge_text(e) for e in sorted(b.edges, key=Edge.sort_key)]
    body += [spec_text(role, s) for role, s in (("neuron", b.neuron), ("surrogate", b.surrogate))
             if s is not None]
    if not body:
        return [" ".join(head)]
    return [" ".join(head) + " {"] + ["  " + line for line in body] + ["}"]


def to_text(g: Genome) -> str:
    """The canonical text of ``g`` (see the module docstring); ends with a newline."""
    lines = [f"snnc-genome {g.version}", f"name {quote(g.name)}"]
    if g.provenance is not None:
        lines.append(f"provenance {quote(g.provenance)}")
    lines += [f"T {g.T}", f"input {fmt_value(tuple(g.input_shape))}", f"classes {g.classes}"]
    if g.encoding != "direct":
        lines.append(f"encoding {fmt_value(g.encoding)}")
    lines += [spec_text("neuron", g.neuron), spec_text("surrogate", g.surrogate)]
    if g.blocks:
        lines.append("")
    for b in g.blocks:
        lines += block_text(b)
    return "\n".join(lines) + "\n"


def genome_id(g: Genome) -> str:
    """sha256 hex digest of ``to_text(g)``: the architecture's identity for caching.

    Two genomes have the same id exactly when they mean the same thing (comments, spacing, attribute
    order, defaults written or not and edge order do not count; provenance does, as it is recorded
    in the text)."""
    return hashlib.sha256(to_text(g).encode("utf-8", "surrogatepass")).hexdigest()
