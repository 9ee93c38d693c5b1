"""A deploy graph as the chain of layers a lava-dl ``netx`` network describes (float, no file).

netx (lava-dl 0.6.0, ``lava/lib/dl/netx/hdf5.py``) builds a *sequence* of blocks: each block is
one synapse (``conv`` or ``dense``) feeding one population of CUBA neurons, and reads the block
before it (a ``flatten`` entry between a 3-D and a 1-D block). So a graph exports when it is a
chain::

    Input -> [synapse ops] -> LIF -> [synapse ops] -> LIF -> ... -> [synapse ops] -> Output

where each run of synapse ops between two neurons is *linear plus a constant* and becomes one
netx synapse:

* a neuron with a 3-D output gets a ``conv`` synapse: one Conv2d (any stride, padding, groups),
  optionally preceded by AvgPool2d with ``kernel == stride`` and no padding (folded into the
  kernel: a pooled conv is the conv with kernel ``k * p``, stride ``s * p``, padding ``pad * p``,
  weights spread over each ``p x p`` block and divided by ``p * p``), with Scale anywhere;
* a neuron with a 1-D output gets a ``dense`` synapse: any run of Linear, Conv2d, AvgPool2d,
  GlobalAvgPool, Flatten, Upsample, Scale, BatchNorm2d and Vote, composed into one matrix by
  applying the run to the unit vectors (:func:`_dense`), input flattened channel-first as netx's
  ``flatten`` does;
* the ops after the last neuron (e.g. GlobalAvgPool -> Linear, or Linear -> Vote) become the
  **readout**: a last ``dense`` block whose neurons integrate without leak and never fire, so
  its membrane potential after step ``t`` is the sum of the outputs up to ``t``
  (:mod:`.fixed`).

A delayed edge inside a dense run becomes netx's per-synapse ``delay`` (Lava's ``DelayDense``:
same steps as the IR's delay), provided no op with a bias comes after it in the run (the IR
adds a bias only once the delayed value has arrived; netx adds it at the neuron from step 0).
Everything else is refused before anything is written, by node name and reason
(:data:`SYNAPSE_OPS`, :func:`extract_chain`): a node with several inputs or several readers
(skips, STTS random graphs, concat), backward connections, delays on convolutional layers,
neurons other than LIF (ALIF, PLIF before ``freeze-plif``, ReLU), and neurons fed directly by
neurons.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...errors import NetxError
from ...ir.choices import UNRESOLVED
from ...ir.graph import BACKWARD, Graph
from ...ir.loihi import DEPLOY_ONLY
from ...ir.interpret import Interpreter
from ...ir.verify import verify
from ...optable import OpTable


def _error(table: OpTable, name: str, op: str, reason: str) -> NetxError:
    return NetxError(f"node {name!r} ({op}): netx cannot express it: {reason}", node=name, op=op,
                     backend=table.backend, rule="netx ops")


#: IR op -> its role in a netx chain (``"input"``, ``"neuron"``, ``"synapse"``, ``"output"``), or
#: the reason netx has no place for it. ``tests/backends/test_op_coverage.py`` walks it.
SYNAPSE_OPS = OpTable("netx export", error=_error)
SYNAPSE_OPS["Input"] = "input"
SYNAPSE_OPS["Output"] = "output"
SYNAPSE_OPS["LIF"] = "neuron"
SYNAPSE_OPS.register("Conv2d", "Linear", "AvgPool2d", "GlobalAvgPool", "Flatten", "Upsample",
                     "Scale", "BatchNorm2d", "Vote")("synapse")
SYNAPSE_OPS.refuse("netx's CUBA neuron has a fixed threshold; the adaptive threshold has no "
                   "netx parameter", "ALIF")
SYNAPSE_OPS.refuse("run the 'deploy' pipeline first: freeze-plif turns a trained PLIF into a LIF",
                   "PLIF")
SYNAPSE_OPS.refuse("netx blocks end in spiking (CUBA) or sigma-delta neurons; an analog ReLU "
                   "layer has neither", "ReLU")
SYNAPSE_OPS.refuse("run the 'deploy' pipeline first, it removes Dropout", "Dropout")
SYNAPSE_OPS.refuse("netx 0.6.0 does not implement its 'concat' layer (NotImplementedError in "
                   "hdf5.Network)", "Concat")
SYNAPSE_OPS.refuse(UNRESOLVED, "Choice", "WeightedMix")
SYNAPSE_OPS.refuse(f"{DEPLOY_ONLY}; export the float deploy graph (netx chooses its own "
                   f"integer scales)", "LoihiLIF")


@dataclass(frozen=True)
class Synapse:
    """One netx synapse in float64, IR orientation.

    ``kind`` ``"conv"``: ``weight [O, I/groups, k, k]`` (cross-correlation, as PyTorch and the
    IR), ``stride``, ``padding``, ``groups``; ``"dense"``: ``weight [out, in]`` over the input
    flattened channel-first. ``bias`` ``[O]`` / ``[out]`` or None; ``delay`` (steps, dense only);
    ``nodes``: the IR nodes folded into it, first to last."""

    kind: str
    weight: np.ndarray
    bias: np.ndarray | None
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    nodes: tuple[str, ...]
    stride: int = 1
    padding: int = 0
    groups: int = 1
    delay: int = 0


@dataclass(frozen=True)
class Layer:
    """One netx block: ``synapse`` into ``neuron`` (an IR LIF node) or, when ``neuron`` is None,
    the non-firing readout. ``name`` is the neuron's (or the readout's last node's) IR name."""

    name: str
    synapse: Synapse
    neuron: object | None = None

    @property
    def readout(self) -> bool:
        return self.neuron is None


@dataclass(frozen=True)
class Chain:
    """The graph as netx blocks: ``input_shape`` (IR ``C,H,W`` or ``F``) and ``layers`` in order."""

    input_shape: tuple[int, ...]
    layers: list[Layer] = field(default_factory=list)
    graph_name: str = ""


def extract_chain(graph: Graph) -> Chain:
    """Cut a deploy graph into netx blocks (module docstring).

    Raises:
        NetxError: the first node (in data-flow order) netx cannot express, by name, with the
            reason: an op refused by :data:`SYNAPSE_OPS`, a node with several inputs or readers,
            a backward connection, a delay netx cannot carry, a neuron fed by a neuron or not a
            hard-reset LIF, or a synapse run that is no single conv.
        GraphError: the graph does not verify.
    """
    graph = verify(graph)
    for name in graph.topological_order():  # ops netx has no place for, before any topology
        SYNAPSE_OPS.lookup(graph[name])
    for e in graph.edges:
        if e.kind == BACKWARD:
            raise NetxError(f"edge {e.src} -> {e.dst} is a backward connection (delay {e.delay}): "
                            f"netx describes a feed-forward chain of blocks", node=e.dst,
                            rule="netx chain")
    node = graph.input_node
    runs: list[tuple[list, object | None]] = []  # (synapse nodes with their in-edge, neuron)
    current: list = []
    while True:
        outs = graph.out_edges(node.name)
        if len(outs) != 1:
            readers = ", ".join(sorted(e.dst for e in outs))
            raise NetxError(f"node {node.name!r} ({node.op}) has {len(outs)} out-edges (to "
                            f"{readers or 'nothing'}): "
                            f"netx blocks form a chain, each read by the next block only",
                            node=node.name, op=node.op, rule="netx chain")
        edge = outs[0]
        nxt = graph[edge.dst]
        ins = graph.in_edges(nxt.name)
        if len(ins) != 1:
            srcs = ", ".join(sorted({e.src for e in ins}))
            raise NetxError(f"node {nxt.name!r} ({nxt.op}) sums {len(ins)} inputs ({srcs}): netx "
                            f"blocks form a chain, each reading the block before it",
                            node=nxt.name, op=nxt.op, rule="netx chain")
        role = SYNAPSE_OPS.lookup(nxt)
        if role == "neuron":
            if not current:
                raise NetxError(f"neuron {nxt.name!r} is fed by {node.name!r} ({node.op}) without a "
                                f"synapse: every netx block starts with a conv or dense synapse",
                                node=nxt.name, op=nxt.op, rule="netx chain")
            current.append((None, edge))  # the edge into the neuron (its delay counts)
            runs.append((current, nxt))
            current = []
        elif role == "output":
            if current:
                current.append((None, edge))
                runs.append((current, None))
            break
        else:
            current.append((nxt, edge))
        node = nxt
    chain = Chain(tuple(graph.input_node.shape), [], str(graph.meta.get("name", "")))
    in_shape = tuple(graph.input_node.shape)
    for run, neuron in runs:
        ops = [n for n, _ in run if n is not None]
        out_shape = tuple(neuron.shape) if neuron is not None else tuple(ops[-1].shape)
        syn = (_conv(graph, ops, run, in_shape) if len(out_shape) == 3
               else _dense(graph, ops, run, in_shape))
        name = neuron.name if neuron is not None else ops[-1].name
        chain.layers.append(Layer(name, syn, neuron))
        in_shape = out_shape
    if not chain.layers:
        raise NetxError("the graph has no layer between its Input and Output", rule="netx chain")
    return chain


def _delays(run) -> list[tuple[int, int]]:
    """``[(position in run, delay)]`` of the run's delayed edges (position of the edge's target)."""
    return [(i, e.delay) for i, (_, e) in enumerate(run) if e.delay]


def _conv(graph: Graph, ops, run, in_shape) -> Synapse:
    """The single netx conv synapse of ``ops`` (module docstring), or NetxError."""
    for i, d in _delays(run):
        tgt = run[i][0].name if run[i][0] is not None else "its neuron"
        raise NetxError(f"edge into {tgt!r} has a synaptic delay of {d} steps: netx carries delays "
                        f"on dense blocks only, and this run of ops ({', '.join(n.name for n in ops)})"
                        f" is a conv block", node=ops[0].name, rule="netx delay")
    convs = [n for n in ops if n.op == "Conv2d"]
    if len(convs) != 1:
        raise NetxError(f"nodes {', '.join(n.name for n in ops)} between two neurons hold "
                        f"{len(convs)} Conv2d: a netx conv block has exactly one convolution",
                        node=ops[0].name, rule="netx conv")
    conv = convs[0]
    a = conv.attrs
    gain, pool, bias_ops = 1.0, 1, []
    for n in ops:
        before = ops.index(n) < ops.index(conv)
        if n.op == "Scale":
            gain *= n.attrs["scale"]
            if not before:
                bias_ops.append(n)
        elif n.op == "AvgPool2d" and before:
            p = n.attrs
            if p["kernel"] != p["stride"] or p["padding"]:
                raise NetxError(f"node {n.name!r} (AvgPool2d kernel {p['kernel']}, stride "
                                f"{p['stride']}, padding {p['padding']}): netx has no pooling "
                                f"layer; only pooling with kernel == stride and no padding before "
                                f"a convolution folds into it", node=n.name, op=n.op,
                                rule="netx conv")
            pool *= p["kernel"]
        elif n is not conv:
            where = "before" if before else "after"
            raise NetxError(f"node {n.name!r} ({n.op}) {where} convolution {conv.name!r}: a netx conv "
                            f"block is one convolution (optionally after kernel == stride "
                            f"average pooling)", node=n.name, op=n.op, rule="netx conv")
    w = np.asarray(conv.params["weight"], np.float64) * gain
    if pool > 1:  # spread each tap over a pool x pool block, averaged
        w = np.repeat(np.repeat(w, pool, axis=2), pool, axis=3) / (pool * pool)
    bias = conv.params.get("bias")
    if bias is not None:
        bias = np.asarray(bias, np.float64) * np.prod([n.attrs["scale"] for n in bias_ops])
    syn = Synapse("conv", w, bias, tuple(in_shape), tuple(ops[-1].shape),
                  tuple(n.name for n in ops), stride=a["stride"] * pool,
                  padding=a["padding"] * pool, groups=a["groups"])
    _check_conv(graph, ops, syn)
    return syn


def _check_conv(graph, ops, syn: Synapse) -> None:
    """The folded conv must compute what the ops compute (guards the pooling fold's edge
    cases): compare both on a seeded random input, float64."""
    from ...ir.interpret import conv2d
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2,) + syn.in_shape)
    want = _apply(graph, ops, x)
    got = conv2d(x, syn.weight, syn.bias, syn.stride, syn.padding, syn.groups)
    if got.shape != want.shape or not np.allclose(got, want, rtol=1e-9, atol=1e-9):
        raise NetxError(f"nodes {', '.join(n.name for n in ops)} do not fold into one "
                        f"convolution (shape {want.shape[1:]} from the ops, {got.shape[1:]} "
                        f"folded)", node=ops[0].name, rule="netx conv")


def _apply(graph, ops, x: np.ndarray) -> np.ndarray:
    """Run ``ops`` (a chain of stateless nodes) on ``x [B, *in]`` with the reference
    interpreter's op methods."""
    interp = Interpreter.__new__(Interpreter)  # only op_<name> methods are used (stateless ops)
    interp.graph = graph
    for n in ops:
        x = interp.run_node(n, x, 0)
    return x


def _dense(graph: Graph, ops, run, in_shape) -> Synapse:
    """One dense synapse: the affine map of ``ops`` as a matrix over the flattened input."""
    if not ops:
        raise NetxError("an empty synapse run", rule="netx chain")  # pragma: no cover
    delays = _delays(run)
    delay = sum(d for _, d in delays)
    if delays:
        first = min(i for i, _ in delays)
        biased = [n for n in ops[first:] if n.op in ("Conv2d", "Linear", "BatchNorm2d")
                  and ("bias" in n.params or n.op == "BatchNorm2d")]
        if biased:
            raise NetxError(f"node {biased[0].name!r} ({biased[0].op}) adds a bias after a delayed "
                            f"edge: the IR adds it only once the delayed input arrives, netx's "
                            f"neuron bias acts from step 0", node=biased[0].name,
                            rule="netx delay")
        if delay > 62:
            raise NetxError(f"the synapse run {', '.join(n.name for n in ops)} delays by {delay} "
                            f"steps; netx and Lava's DelayDense carry at most 62",
                            node=ops[0].name, rule="netx delay")
    n_in = int(np.prod(in_shape))
    zero = _apply(graph, ops, np.zeros((1,) + tuple(in_shape)))
    bias = zero.reshape(-1)
    cols = []
    for start in range(0, n_in, 512):  # unit vectors in batches: bounded memory
        k = min(512, n_in - start)
        basis = np.zeros((k, n_in))
        basis[np.arange(k), start + np.arange(k)] = 1.0
        out = _apply(graph, ops, basis.reshape((k,) + tuple(in_shape))).reshape(k, -1)
        cols.append(out - bias)
    weight = np.concatenate(cols, axis=0).T
    has_bias = bool(np.any(bias != 0))
    return Synapse("dense", weight, bias if has_bias else None, tuple(in_shape),
                   tuple(zero.shape[1:]), tuple(n.name for n in ops), delay=delay)


