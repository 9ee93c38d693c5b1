"""Genome abstract syntax: frozen dataclasses that compare by meaning, never by source position.

A genome is a header (format version, name, time steps ``T``, input shape, classes, default neuron
and surrogate, input encoding, provenance) followed by an ordered list of **blocks**. A block is a
keyword (``stage``, ``classifier``, and for later families ``cell``, ``resnet``, ``layer``), an
optional name and form (``stage s3 graph``), attributes (``channels=192``), and an optional body of
edges (``0 -> 5``, ``0 -> 7 @1``, ``back 9 -> 3 @1``, ``0 -> 1 conv3x3``) and per-block ``neuron`` /
``surrogate`` overrides. Which keywords, forms and attributes exist, with their types and defaults,
is data in :mod:`snnc.genome.schema`; the grammar itself is generic so that new genome families add
schema entries, not grammar rules.

Attributes are stored complete and in schema order (defaults filled in by the parser and by
:func:`snnc.genome.schema.make_block`), so two genomes with the same meaning are equal and
``parse(print(g)) == g``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

#: A scalar attribute value. Shapes (``3x32x32``) are tuples of ints.
Value = Union[bool, int, float, str, tuple]


@dataclass(frozen=True)
class Loc:
    """1-based source position of a genome construct (for error messages that point at the text)."""

    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.line}:{self.column}"


@dataclass(frozen=True)
class Spec:
    """A neuron model or surrogate gradient with its parameters, e.g. ``lif tau=3 decay_input=false``.

    ``params`` holds ``(key, value)`` pairs in schema order, complete with defaults.
    """

    kind: str
    params: tuple[tuple[str, Value], ...] = ()
    loc: Loc | None = field(default=None, compare=False, repr=False)

    def get(self, key: str, default: Value | None = None) -> Value | None:
        for k, v in self.params:
            if k == key:
                return v
        return default

    def as_dict(self) -> dict[str, Value]:
        return dict(self.params)


@dataclass(frozen=True)
class Edge:
    """One connection of a block's graph.

    ``src -> dst @delay`` reads ``src``'s output ``delay`` time steps late (STTS eq. 8). A backward
    edge (``back j -> i @d``, d >= 1) goes from a later node to an earlier or the same node.
    ``op`` names the operation on the edge for cell families (SNASNet ``conv3x3``), ``None`` for
    STTS stages whose operations live in the nodes. Node indices may be negative where a family
    uses them for inputs from earlier cells (SpikeDHS ``-2``, ``-1``).
    """

    src: int
    dst: int
    delay: int = 0
    backward: bool = False
    op: str | None = None
    loc: Loc | None = field(default=None, compare=False, repr=False)

    def sort_key(self) -> tuple:
        return (self.backward, self.src, self.dst, self.delay, self.op or "")


@dataclass(frozen=True)
class Block:
    """One architecture block: ``stage s3 graph nodes=32 channels=192 stride=2 { 0 -> 4 ... }``."""

    kind: str
    name: str | None = None
    form: str | None = None
    attrs: tuple[tuple[str, Value], ...] = ()
    edges: tuple[Edge, ...] = ()
    neuron: Spec | None = None
    surrogate: Spec | None = None
    loc: Loc | None = field(default=None, compare=False, repr=False)

    def get(self, key: str, default: Value | None = None) -> Value | None:
        for k, v in self.attrs:
            if k == key:
                return v
        return default

    def __getitem__(self, key: str) -> Value:
        for k, v in self.attrs:
            if k == key:
                return v
        raise KeyError(f"block {self.kind} {self.name or ''} has no attribute {key!r}")


@dataclass(frozen=True)
class Genome:
    """A whole architecture. ``input_shape`` is per sample, ``(C, H, W)`` or ``(F,)``."""

    name: str
    T: int
    input_shape: tuple[int, ...]
    classes: int
    neuron: Spec
    surrogate: Spec
    blocks: tuple[Block, ...] = ()
    encoding: str = "direct"
    provenance: str | None = None
    version: int = 1
