"""SNASNet cells and macro skeleton (Kim et al., SNASNet section 4.3 and 5.1) -> IR.

**The cell** (``cell c1 snasnet channels=C nodes=4 { ... }``, NAS-Bench-201 style): nodes
``0 .. N-1`` hold feature maps ``[C, H, W]``; node 0 is the cell input, node ``N-1`` the cell
output. Each edge carries one operation of ``{zero, skip, conv1x1, conv3x3, avgpool3x3}``, and a
node's value is the sum of what its edges bring (section 4.3)::

    v_0[t] = x[t]                + sum_{back j -> 0} op_j0(v_j)[t - d]
    v_i[t] = sum_{k -> i} op_ki(v_k)[t] + sum_{back j -> i} op_ji(v_j)[t - d]      (d = 1)

A backward connection ``back j -> i @1 op`` adds "the transformed node feature of the l-th layer at
timestep t-1 to the node of the l'-th layer at timestep t" (section 4.3): the operation runs on
``v_j`` at every step (a spiking op's neuron integrates ``v_j[t]`` at step ``t``) and its result
reaches node ``i`` one step later, as in the authors' code (``last_x`` buffers, REFERENCE-NOTES).
In the IR the operation's last node feeds node ``i`` over an edge with delay ``d`` and kind
``backward``; every cycle of the cell therefore contains a delayed edge (docs/ARCHITECTURE.md).

Operations, as the authors' code builds them (REFERENCE-NOTES, SNASNet): ``conv1x1``/``conv3x3``
are LIF -> Conv (no bias, "same" padding) -> BN, the spiking neuron first, so ``skip`` and
``avgpool3x3`` carry real values; ``avgpool3x3`` is AvgPool(3, stride 1, padding 1) with the zero
padding counted in the mean (``nn.AvgPool2d``'s default, the IR ``AvgPool2d``'s semantics); ``zero``
adds nothing and makes no IR node. Each node is a ``Scale`` of 1 (a sum node) named
``{p}.n{i}``; operations are ``{p}.f{i}_{j}.{lif,conv,bn,pool}`` (forward) and
``{p}.b{j}_{i}.*`` (backward, ``_d{d}`` appended for a delay other than 1).

Nodes that cannot reach node ``N-1`` or be reached from node 0 (over forward and backward
edges alike) are pruned with the operations on their edges, as the authors' sampler prunes its
candidates. Section 5.1 keeps its search space to a forward or a backward connection per node
pair; the IR has no such limit, so a cell with both lowers (the 4x4 codec,
:mod:`snnc.genome.snasnet_code`, refuses them).

A cell block that a later block names (``skeleton snasnet cell=c1``) is a definition only;
otherwise it is applied in place to the previous block's output, which must have ``C`` channels.

**The skeleton** (``skeleton snasnet cell=c1 hidden=1024 dropout=0.5 vote=10 pool=2 order=paper``,
section 5.1 and Fig. 5) ends the graph::

    stem.conv 3x3 (no bias) -> stem.bn                     direct coding: the image every step
    -> cell1 (C)                                           the cell at width C
    -> red.conv 3x3 C->2C -> red.bn -> red.lif -> red.pool AvgPool(2)   (order=paper)
       red.bn0 -> red.lif -> red.conv -> red.bn -> red.pool              (order=code)
    -> cell2 (2C)                                          the same cell at width 2C
    [-> last.bn -> last.lif]                               (order=code only)
    -> head.pool AvgPool(pool) -> head.flatten -> head.dropout (p)
    -> head.fc1 Linear(2C*H'*W' -> hidden, no bias) -> head.lif       (hidden > 0)
    -> head.fc Linear(-> classes * vote) -> head.vote Vote -> output    (vote > 0)

Section 5.1 describes the reduction cell as ``Conv(C, 2C)-BN(2C)-LIF`` followed by ``AvgPool(2)``
and the vectorize block as ``AvgPool(2)``; the authors' code puts ``BN -> LIF`` before the reduction
conv and before the last pool instead (``order=code``; its CIFAR-10 run used ``pool=4``). The stem
(conv 3x3 + BN), the bias-free convolutions and hidden layer, and the voting layer's population
(``classes * vote`` units averaged in groups: 100 for CIFAR-10, 500 for CIFAR-100) follow the
authors' code. Shapes: ``[3, H, W] -> [classes]``; ``H`` and ``W`` must be divisible by ``2 *
pool``.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..genome.ast import Block, Edge
from ..genome.cells import live_nodes
from ..ir.graph import BACKWARD, FORWARD
from .builder import Builder, fail

#: Convolution operations: name -> kernel size.
CONV_OPS = {"conv1x1": 1, "conv3x3": 3}
#: Every SNASNet cell operation (SNASNet section 4.3, the set O).
CELL_OPS = ("zero", "skip", "conv1x1", "conv3x3", "avgpool3x3")


@dataclass(frozen=True)
class CellSpec:
    """A checked, pruned SNASNet cell.

    Attributes:
        channels: ``C`` of the block (the skeleton uses ``C`` and ``2C``).
        nodes: ``N``; node 0 is the input, node ``N - 1`` the output.
        live: the nodes kept after pruning, ascending (always holds 0 and ``N - 1``).
        edges: the edges between live nodes without ``zero`` operations, in genome order.
        pruned: the nodes removed because they cannot reach ``N - 1`` or be reached from 0.
    """

    channels: int
    nodes: int
    live: tuple[int, ...]
    edges: tuple[Edge, ...]
    pruned: tuple[int, ...]

    @classmethod
    def of(cls, block: Block) -> "CellSpec":
        """Check ``block`` (a ``cell`` of form ``snasnet``) and prune it.

        Raises:
            LoweringError: another form, bad channels/nodes, an unknown operation, an edge out of
                range or in the wrong direction, or no path from node 0 to node ``N - 1``.
        """
        if block.form != "snasnet":
            raise fail(block, f"cell form {block.form!r} is not lowered yet (the frontend lowers "
                              f"snasnet cells)")
        channels, n = block.get("channels"), block.get("nodes", 4)
        for key, value in (("channels", channels), ("nodes", n)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise fail(block, f"{key} must be an integer >= 1, got {value!r}")
        if n < 2:
            raise fail(block, f"a cell needs an input and an output node, got nodes={n}")
        for e in block.edges:
            _check_edge(block, e, n)
        edges = tuple(e for e in block.edges if e.op != "zero")
        live = live_nodes(n, edges)
        if not {0, n - 1} <= live:
            raise fail(block, f"no path from node 0 (the cell input) to node {n - 1} (the cell "
                              f"output); the cell would output nothing")
        kept = tuple(e for e in edges if e.src in live and e.dst in live)
        return cls(channels, n, tuple(sorted(live)), kept,
                   tuple(i for i in range(n) if i not in live))


def _check_edge(block: Block, e: Edge, n: int) -> None:
    label = f"{'back ' if e.backward else ''}{e.src} -> {e.dst}"
    if e.op not in CELL_OPS:
        raise fail(block, f"edge {label}: operation {e.op!r} is not one of {', '.join(CELL_OPS)}",
                   e.loc)
    if not (0 <= e.src < n and 0 <= e.dst < n):
        raise fail(block, f"edge {label}: node out of range 0..{n - 1}", e.loc)
    if e.backward and (e.src < e.dst or not isinstance(e.delay, int) or e.delay < 1):
        raise fail(block, f"edge {label}: a backward connection goes from a node to itself or "
                          f"an earlier node with delay >= 1", e.loc)
    if not e.backward and (e.src >= e.dst or e.delay != 0):
        raise fail(block, f"edge {label}: a forward connection goes from a lower to a higher "
                          f"node without delay", e.loc)


def cell_blocks_used(b: Builder) -> set[str]:
    """Names of the cell blocks that some block refers to (``skeleton ... cell=c1``)."""
    return {blk.get("cell") for blk in b.genome.blocks if blk.kind != "cell" and blk.get("cell")}


def lower_cell(b: Builder, block: Block, name: str) -> None:
    """A cell block: checked; applied at the cursor unless a later block refers to it.

    Applied in place it maps ``[C, H, W] -> [C, H, W]`` and moves the cursor to node ``N - 1``.

    Raises:
        LoweringError: see :meth:`CellSpec.of`; applied in place, an input that is not
            ``[C, H, W]``.
    """
    spec = CellSpec.of(block)
    if name in cell_blocks_used(b):
        return
    if len(b.shape) != 3 or b.shape[0] != spec.channels:
        raise fail(block, f"the cell maps [{spec.channels}, H, W] to itself but its input has "
                          f"shape {b.shape}; refer to it from a skeleton or match the channels")
    b.exit = emit_cell(b, block, spec, name, spec.channels, b.exit)


def emit_cell(b: Builder, block: Block, spec: CellSpec, prefix: str, channels: int,
              source: str) -> str:
    """Add one instance of the cell at width ``channels`` reading ``source`` into node 0; returns
    the name of the output node ``{prefix}.n{N-1}``. See the module docstring for the names."""
    loc = block.loc
    node = {i: b.node(f"{prefix}.n{i}", "Scale", {"scale": 1.0}, loc=loc) for i in spec.live}
    b.edge(source, node[0])
    for e in spec.edges:
        tag = f"{prefix}.{'b' if e.backward else 'f'}{e.src}_{e.dst}"
        if e.backward and e.delay != 1:
            tag += f"_d{e.delay}"
        first, last = _operation(b, block, e, tag, channels)
        if first is None:  # skip: the node's value itself
            first = last = node[e.src]
        else:
            b.edge(node[e.src], first)
        b.edge(last, node[e.dst], e.delay, BACKWARD if e.backward else FORWARD)
    return node[spec.nodes - 1]


def _operation(b: Builder, block: Block, e: Edge, tag: str,
               c: int) -> tuple[str | None, str | None]:
    """The nodes of one edge operation ``[c, H, W] -> [c, H, W]``: (first, last), or
    ``(None, None)`` for ``skip``."""
    loc = e.loc or block.loc
    if e.op == "skip":
        return None, None
    if e.op == "avgpool3x3":
        pool = b.node(f"{tag}.pool", "AvgPool2d", {"kernel": 3, "stride": 1, "padding": 1},
                      loc=loc)
        return pool, pool
    k = CONV_OPS[e.op]
    names = (b.lif(f"{tag}.lif", block, loc),
             b.conv(f"{tag}.conv", c, c, k, bias=False, loc=loc),
             b.batchnorm(f"{tag}.bn", c, loc=loc))
    b.chain(*names)
    return names[0], names[-1]


def lower_skeleton(b: Builder, block: Block, name: str) -> None:
    """The SNASNet macro network around the cell the block names (module docstring); ends the
    graph with the ``output`` node. ``[C_in, H, W] -> [classes]``.

    Raises:
        LoweringError: another form, a missing or non-SNASNet cell, an input that is not an
            image, a resolution not divisible by ``2 * pool``, or bad attributes.
    """
    if block.form != "snasnet":
        raise fail(block, f"skeleton form {block.form!r} is not lowered yet; expected snasnet")
    cell_name = block.get("cell")
    cell = next((c for c in b.genome.blocks if c.kind == "cell" and c.name == cell_name), None)
    if cell is None:
        raise fail(block, f"cell {cell_name!r} is not a cell block of this genome")
    spec = CellSpec.of(cell)
    hidden, vote = block.get("hidden", 1024), block.get("vote", 10)
    dropout, pool = float(block.get("dropout", 0.5)), block.get("pool", 2)
    order = block.get("order", "paper")
    for key, value in (("hidden", hidden), ("vote", vote)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise fail(block, f"{key} must be an integer >= 0, got {value!r}")
    if not isinstance(pool, int) or isinstance(pool, bool) or pool < 1:
        raise fail(block, f"pool must be an integer >= 1, got {pool!r}")
    if not 0 <= dropout < 1:
        raise fail(block, f"dropout must be in [0, 1), got {dropout}")
    if order not in ("paper", "code"):
        raise fail(block, f"order must be paper or code, got {order!r}")
    if len(b.shape) != 3:
        raise fail(block, f"the skeleton needs a (C, H, W) input, got shape {b.shape}")
    c_in, h, w = b.shape
    if h % (2 * pool) or w % (2 * pool):
        raise fail(block, f"input resolution {h}x{w} is not divisible by 2 * pool = {2 * pool} "
                          f"(reduction AvgPool(2), then AvgPool({pool}))")
    c, loc = spec.channels, block.loc

    def lif(n):
        return b.lif(n, block)

    stem = [b.conv("stem.conv", c_in, c, 3, bias=False, loc=loc), b.batchnorm("stem.bn", c, loc)]
    b.edge(b.exit, stem[0])
    b.chain(*stem)
    x = emit_cell(b, cell, spec, "cell1", c, stem[-1])
    conv = ("red.conv", c, 2 * c, 3)
    if order == "paper":
        red = [b.conv(*conv, bias=False, loc=loc), b.batchnorm("red.bn", 2 * c, loc),
               lif("red.lif")]
    else:
        red = [b.batchnorm("red.bn0", c, loc), lif("red.lif"), b.conv(*conv, bias=False, loc=loc),
               b.batchnorm("red.bn", 2 * c, loc)]
    red.append(b.node("red.pool", "AvgPool2d", {"kernel": 2}, loc=loc))
    b.chain(x, *red)
    x = emit_cell(b, cell, spec, "cell2", 2 * c, red[-1])
    head = [b.batchnorm("last.bn", 2 * c, loc), lif("last.lif")] if order == "code" else []
    head.append(b.node("head.pool", "AvgPool2d", {"kernel": pool}, loc=loc))
    head.append(b.node("head.flatten", "Flatten", loc=loc))
    features = 2 * c * (h // (2 * pool)) * (w // (2 * pool))
    if dropout > 0:
        head.append(b.node("head.dropout", "Dropout", {"p": dropout}, loc=loc))
    if hidden:
        head.append(b.node("head.fc1", "Linear", {"in_features": features, "out_features": hidden,
                                                  "bias": False},
                           b.linear_params("head.fc1", features, hidden, False, loc), loc))
        head.append(lif("head.lif"))
        features = hidden
    classes = b.genome.classes
    head.append(b.linear("head.fc", features, classes * vote if vote else classes, loc=loc))
    if vote:
        head.append(b.node("head.vote", "Vote", {"classes": classes}, loc=loc))
    head.append(b.node("output", "Output", loc=loc))
    b.chain(x, *head)
    b.exit, b.shape = "output", (classes,)
