"""The SNASNet authors' 4x4 cell encoding <-> genome cell blocks and whole genomes.

The authors' code (REFERENCE-NOTES, SNASNet; its ``--cnt_mat`` option) writes a 4-node cell as a
4x4 operation matrix, four rows of four digits: ``0302 0030 3003 0000``. Entry ``[i][j]`` is the
operation on the connection from node ``i`` to node ``j``:

* ``0`` zero (no connection), ``1`` skip, ``2`` conv1x1, ``3`` conv3x3, ``4`` avgpool3x3
  (SNASNet section 4.3, the set O, in this order);
* above the diagonal (``i < j``) a forward connection ``i -> j``; below it (``i > j``) a backward
  connection: node ``i``'s value, through the operation, reaches node ``j`` one time step later
  (``back i -> j @1 op``); the diagonal is zero.

Section 5.1 allows a node pair a forward or a backward connection, not both, so a code with both
``[i][j]`` and ``[j][i]`` non-zero is refused. Example (the authors' CIFAR-100 cell)::

    >>> cell_from_code("0302 0030 3003 0000").edges
    (Edge(0, 1, op='conv3x3'), Edge(0, 3, op='conv1x1'), Edge(1, 2, op='conv3x3'),
     Edge(2, 3, op='conv3x3'), Edge(2, 0, 1, True, 'conv3x3'))

Pure functions; faults raise :class:`~snnc.errors.GenomeSyntaxError` pointing at the offending
character of the code (``<snasnet-code>:1:COL``), or naming the edge of a block that has no code.
"""
from __future__ import annotations

import re
from typing import Sequence

from ..errors import GenomeSyntaxError
from .ast import Block, Edge, Genome
from .build import make_block, make_genome, make_spec
from .schema import SNASNET_OPS

#: Digit -> operation, in the order of SNASNet section 4.3.
OPS = SNASNET_OPS
#: The authors' cells use 4 nodes (NAS-Bench-201).
NODES = 4
#: The SNASNet neuron (section 5.1: tau_m = 4/3, SpikingJelly LIF with detached hard reset):
#: beta = 1 - 1/tau = 0.25, alpha = 1/tau = 0.75.
NEURON = {"beta": 0.25, "alpha": 0.75, "detach_reset": True}
_WHERE = "<snasnet-code>"

Matrix = tuple[tuple[int, ...], ...]


def _error(message: str, text: str, column: int = 0) -> GenomeSyntaxError:
    return GenomeSyntaxError(message, 1, column, text, filename=_WHERE)


def parse_code(code: str | Sequence[str]) -> Matrix:
    """``"0302 0030 3003 0000"`` (or its four rows as a list) -> the 4x4 matrix of op digits.

    Raises:
        GenomeSyntaxError: not four rows of four digits, a digit above 4, a non-zero diagonal
            entry, or a node pair with both a forward and a backward connection.
    """
    text = code if isinstance(code, str) else " ".join(str(r) for r in code)
    found = list(re.finditer(r"\S+", text))
    rows, starts = [m.group() for m in found], [m.start() + 1 for m in found]
    if len(rows) != NODES:
        raise _error(f"a SNASNet cell code is {NODES} rows of {NODES} digits separated by spaces, "
                     f"like '0302 0030 3003 0000'; got {len(rows)} row(s)", text, 1)
    matrix = []
    for i, (row, start) in enumerate(zip(rows, starts)):
        for k, ch in enumerate(row):
            if not ch.isdigit() or int(ch) >= len(OPS):
                raise _error(f"row {i}: {ch!r} is not an operation digit 0-{len(OPS) - 1} "
                             f"({', '.join(f'{d} {op}' for d, op in enumerate(OPS))})",
                             text, start + k)
        if len(row) != NODES:
            raise _error(f"row {i} {row!r} has {len(row)} digits; each row has {NODES}", text,
                         start)
        if row[i] != "0":
            raise _error(f"row {i}: entry [{i}][{i}] is {row[i]}; a node has no connection to "
                         f"itself (the diagonal is 0)", text, start + i)
        matrix.append(tuple(int(ch) for ch in row))
    for i in range(NODES):
        for j in range(i + 1, NODES):
            if matrix[i][j] and matrix[j][i]:
                raise _error(f"nodes {i} and {j} have both a forward ([{i}][{j}] = {matrix[i][j]}) "
                             f"and a backward ([{j}][{i}] = {matrix[j][i]}) connection; SNASNet "
                             f"section 5.1 allows one of them", text, starts[j] + i)
    return tuple(matrix)


def format_code(matrix: Matrix) -> str:
    """The 4x4 matrix -> ``"0302 0030 3003 0000"`` (rows separated by single spaces)."""
    return " ".join("".join(str(v) for v in row) for row in matrix)


def edges_of(matrix: Matrix) -> tuple[Edge, ...]:
    """The genome edges of a matrix: forward ``i -> j op`` for ``i < j``, backward ``back i -> j
    @1 op`` for ``i > j``; zero entries give no edge."""
    out = []
    for i, row in enumerate(matrix):
        for j, v in enumerate(row):
            if v and i != j:
                out.append(Edge(i, j, 1 if i > j else 0, i > j, OPS[v]))
    return tuple(sorted(out, key=Edge.sort_key))


def cell_from_code(code: str | Sequence[str], name: str = "c1", channels: int = 128) -> Block:
    """A ``cell NAME snasnet channels=C nodes=4 { ... }`` block from a code (see
    :func:`parse_code` for its errors)."""
    return make_block("cell", name, "snasnet", channels=channels, nodes=NODES,
                      edges=edges_of(parse_code(code)))


def code_from_cell(block: Block) -> str:
    """The code of a SNASNet cell block (``zero`` edges give ``0``).

    Raises:
        GenomeSyntaxError: not a 4-node snasnet cell, a backward connection with a delay other
            than 1 or from a node to itself, or a node pair with both a forward and a backward
            connection (the code cannot hold them).
    """
    who = f"cell {block.name}" if block.name else "cell"
    if block.kind != "cell" or block.form != "snasnet" or block.get("nodes") != NODES:
        raise GenomeSyntaxError(f"{who}: only a 'cell NAME snasnet nodes={NODES}' block has a "
                                f"SNASNet code (got {block.kind} {block.form or ''} "
                                f"nodes={block.get('nodes')})", 0, 0, filename="<code_from_cell>")
    m = [[0] * NODES for _ in range(NODES)]
    for e in block.edges:
        label = f"{'back ' if e.backward else ''}{e.src} -> {e.dst}"
        if e.backward and (e.delay != 1 or e.src == e.dst):
            raise GenomeSyntaxError(f"{who}: edge {label} @{e.delay}: the code holds backward "
                                    f"connections to an earlier node with delay 1 only", 0, 0,
                                    filename="<code_from_cell>")
        m[e.src][e.dst] = OPS.index(e.op)
    matrix = tuple(tuple(r) for r in m)
    try:
        parse_code(format_code(matrix))
    except GenomeSyntaxError as exc:
        raise GenomeSyntaxError(f"{who}: {exc.message}", 0, 0,
                                filename="<code_from_cell>") from None
    return format_code(matrix)


def genome_from_code(code: str | Sequence[str], *, name: str, classes: int, channels: int,
                     T: int = 5, input_shape: tuple[int, ...] = (3, 32, 32),
                     vote: int = 10, hidden: int = 1024, dropout: float = 0.5, pool: int = 2,
                     order: str = "paper", provenance: str | None = None) -> Genome:
    """A whole SNASNet genome: the cell of ``code`` at width ``channels`` inside the macro
    skeleton (SNASNet section 5.1), with the paper's neuron (LIF tau 4/3, threshold 1, hard reset
    with detached reset, :data:`NEURON`) and the atan surrogate (alpha 2), T = 5 by default.

    Raises:
        GenomeSyntaxError: a bad code (:func:`parse_code`) or out-of-range settings.
    """
    cell = cell_from_code(code, "c1", channels)
    skeleton = make_block("skeleton", None, "snasnet", cell="c1", hidden=hidden,
                          dropout=dropout, vote=vote, pool=pool, order=order)
    return make_genome(name, T, input_shape, classes, [cell, skeleton],
                       neuron=make_spec("lif", **NEURON), surrogate=make_spec("atan", alpha=2.0),
                       provenance=provenance)


def code_from_genome(genome: Genome) -> str:
    """The code of the cell that the genome's skeleton uses (else its only snasnet cell).

    Raises:
        GenomeSyntaxError: no such cell, or one the code cannot hold (:func:`code_from_cell`).
    """
    cells = [b for b in genome.blocks if b.kind == "cell" and b.form == "snasnet"]
    used = {b.get("cell") for b in genome.blocks if b.kind == "skeleton"}
    chosen = [b for b in cells if b.name in used] or cells
    if len(chosen) != 1:
        raise GenomeSyntaxError(f"genome {genome.name!r}: expected one SNASNet cell, found "
                                f"{len(chosen)}", 0, 0, filename="<code_from_genome>")
    return code_from_cell(chosen[0])
