"""The frontend: a parsed genome -> a verified spiking dataflow IR graph.

:func:`lower` walks the genome's blocks in order; each block kind is lowered by its family's module
(:data:`LOWERERS`): ``stage`` by :mod:`~snnc.frontend.stages` (STTS / TANet, eq. 6-10), ``resnet``
by :mod:`~snnc.frontend.resnet` (ResNet-18/19 with BCNAS-SNN backward connections, eq. 6),
``classifier`` by :mod:`~snnc.frontend.classifier`, ``cell snasnet`` and ``skeleton`` by
:mod:`~snnc.frontend.cell` (SNASNet section 4.3, 5.1), ``cell dhs``, ``layer`` and ``stem`` by
:mod:`~snnc.frontend.dhs` (SpikeDHS-CLA), as is ``trellis`` (SpikeDHS's layer-level supernet).
Blocks are chained: each reads the previous block's exit
(the first reads the ``input`` node), and the classifier or the skeleton, which must come last, ends
the graph with the ``output`` node (a SpikeDHS network ends with its own head after the last layer).

Example::

    >>> g = lower(parse(text), seed=0)
    >>> interpret(g, x)          # x [B, C, H, W] -> [T, B, classes]
"""
from __future__ import annotations

from typing import Callable

from .. import genome as genome_pkg
from ..errors import GraphError, LimitError, LoweringError
from ..genome import sizes
from ..genome.ast import Block, Genome
from ..ir.graph import Graph
from ..ir.ops import OPS
from ..ir.verify import verify
from ..limits import Limits, resolve
from . import cell, dhs
from .builder import Builder, fail
from .classifier import lower_classifier
from .resnet import lower_resnet
from .stages import lower_stage

#: ``"kind form"`` (looked up first) or ``"kind"`` -> ``lowerer(builder, block, name)``; a block
#: matching neither is "not lowered yet". Forms of one kind (``cell dhs``, ``cell snasnet``) may
#: belong to different families.
LOWERERS: dict[str, Callable[[Builder, Block, str], None]] = {
    "stage": lower_stage,
    "resnet": lower_resnet,
    "classifier": lower_classifier,
    "cell snasnet": cell.lower_cell,
    "skeleton": cell.lower_skeleton,
    "cell dhs": dhs.lower_cell,
    "layer": dhs.lower_layer,
    "stem": dhs.lower_stem,
    "trellis": dhs.lower_trellis,
}
#: Names of unnamed blocks: ``s1, s2, ...`` for the n-th stage, ``head`` for the classifier.
DEFAULT_PREFIX = {"stage": "s", "classifier": "head"}

__all__ = ["check_genome", "lower", "verify_lowered", "LOWERERS"]


def lower(genome: Genome, *, seed: int = 0, limits: Limits | dict | str | None = None,
          _dry: bool = False) -> Graph:
    """Lower ``genome`` to a verified IR graph with PyTorch-default initial weights.

    Args:
        genome: a parsed genome (:func:`snnc.genome.parse`), input ``(C, H, W)`` for stages.
        seed: seed of ``numpy.random.default_rng`` for the weights (float64); the same genome and
            seed give bit-identical params.
    Returns:
        A verified :class:`Graph`: ``input`` [C, H, W] -> blocks -> ``output`` [classes], run as
        ``[T, B, C, H, W] -> [T, B, classes]``; ``meta`` holds ``name``, ``T``, ``classes``,
        ``encoding``, ``input_shape``, ``genome_id``, ``init_seed`` and ``provenance`` (if set).
    Raises:
        LoweringError: ``"line L:C: <block>: <reason>"`` for a block kind not lowered yet, a
            genome without a classifier or with blocks after it, and inconsistent blocks (see
            :func:`~snnc.frontend.stages.lower_stage`).
        GraphError: the verifier's error, prefixed with the genome line of the offending node.
        LimitError: the genome is over a resource limit of ``limits`` (see
            :func:`snnc.limits.resolve`; default: the environment's): its stated sizes, or the
            parameters, IR nodes, edges or MACs per step of the graph, all found by a first
            lowering that draws no weights (zero-memory parameter views), so before any weight is
            drawn.
        TypeError: ``genome`` is not a :class:`Genome` (e.g. unparsed text).
    """
    if not isinstance(genome, Genome):
        raise TypeError(f"lower() takes a parsed Genome (snnc.genome.parse(text)), got "
                        f"{type(genome).__name__}")
    if not isinstance(genome.classes, int) or genome.classes < 1:
        raise LoweringError(f"<genome>: classes must be an integer >= 1, got {genome.classes!r}")
    lim = resolve(limits)
    over = sizes.check(genome, lim)
    if over is not None:
        raise LimitError(over.message, *_loc_of(genome, over.at), limit=over.limit,
                         value=over.value)
    if not _dry and lim != Limits.off():
        # the whole model is measured before any weight is drawn: a model just under the
        # parameter limit would otherwise spend seconds drawing weights it then throws away
        lower(genome, seed=seed, limits=lim, _dry=True)
    b = Builder(genome, seed, lim, dry=_dry)
    b.graph.meta.update(_meta(genome, seed))
    b.exit = b.node("input", "Input", {"shape": tuple(genome.input_shape)})
    used: set[str] = set()
    counts: dict[str, int] = {}
    for block in genome.blocks:
        if b.exit == "output":
            ends = "the trellis" if any(x.kind == "trellis" for x in genome.blocks) else \
                "the classifier"
            raise fail(block, f"comes after {ends}, which must be the last block")
        lowerer = LOWERERS.get(f"{block.kind} {block.form}") or LOWERERS.get(block.kind)
        if lowerer is None:
            what = f"{block.kind} {block.form}" if block.form else block.kind
            raise fail(block, f"block kind {what!r} is not lowered yet (the frontend lowers "
                              f"{', '.join(LOWERERS)})")
        counts[block.kind] = counts.get(block.kind, 0) + 1
        name = block.name or _default_name(block.kind, counts[block.kind])
        if name in used or name in ("input", "output"):
            raise fail(block, f"block name {name!r} is already used")
        used.add(name)
        lowerer(b, block, name)
    if b.exit != "output":
        raise LoweringError("<genome>: no classifier block; a genome ends with "
                            "'classifier NAME channels=... vote=...'")
    graph = verify_lowered(b.graph)
    _check_macs(b, graph)
    return graph


def check_genome(genome: Genome, *, limits: Limits | dict | str | None = None) -> None:
    """Raise what :func:`lower` would raise for ``genome`` (LimitError, LoweringError,
    GraphError) without drawing any weight: the parameters are zero-memory views."""
    lower(genome, limits=limits, _dry=True)


def _check_macs(b: Builder, graph: Graph) -> None:
    if b.limits.macs is None:
        return
    total = 0
    for name in graph.topological_order():
        node = graph.nodes[name]
        opd = OPS[node.op]
        ins = graph.in_edges(name)
        in_shape = None if not ins or opd.multi_port else tuple(graph.nodes[ins[0].src].shape)
        total += int(opd.macs(node.attrs, in_shape, tuple(node.shape)))
        if total > b.limits.macs:
            b.check("macs", total, f"the MACs per step up to node {name!r}", node.loc)


def _loc_of(genome: Genome, at: tuple) -> tuple[int, int]:
    """(line, column) of a :class:`snnc.genome.sizes.Over` position; (0, 0) when unknown."""
    loc = None
    if at[0] == "block":
        loc = genome.blocks[at[1]].loc
    elif at[0] == "edge":
        block = genome.blocks[at[1]]
        loc = block.edges[at[2]].loc or block.loc
    return (loc.line, loc.column) if loc is not None else (0, 0)


def _default_name(kind: str, n: int) -> str:
    prefix = DEFAULT_PREFIX.get(kind, kind)
    return f"{prefix}{n}" if prefix == "s" else (prefix if n == 1 else f"{prefix}{n}")


def _meta(genome: Genome, seed: int) -> dict:
    meta = {"name": genome.name, "T": genome.T, "classes": genome.classes,
            "encoding": genome.encoding, "input_shape": tuple(genome.input_shape),
            "genome_id": genome_pkg.genome_id(genome), "init_seed": int(seed)}
    if genome.provenance:
        meta["provenance"] = genome.provenance
    return meta


def verify_lowered(graph: Graph) -> Graph:
    """``verify(graph)``; a GraphError is re-raised with the genome line of its node."""
    try:
        return verify(graph)
    except GraphError as exc:
        node = graph.nodes.get(exc.node) if exc.node else None
        if node is None or node.loc is None:
            raise
        raise GraphError(f"line {node.loc}: {exc}", node=exc.node, rule=exc.rule) from exc
