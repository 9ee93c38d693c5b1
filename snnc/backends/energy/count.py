"""Synaptic operations per layer: MACs from shapes, and whether a layer's input is spikes.

A **layer** is every node whose op has synapses by :meth:`snnc.ir.ops.Op.macs` (Conv2d, Linear,
AvgPool2d, GlobalAvgPool): ``macs`` is multiply-accumulates per sample per time step.

What a layer's input carries decides how its operations are counted (STTS Appendix C):

* ``"spikes"`` — every in-edge carries binary events: the output of a spiking op (LIF), possibly
  through **event-preserving** ops (:data:`EVENT_PRESERVING`: Flatten, Dropout, Concat, Scale,
  AvgPool2d, GlobalAvgPool, Vote, Upsample and the implicit sum of in-edges; nearest upsampling
  copies each event to ``scale**2`` pixels, so the events per element are unchanged). These ops
  hold no weights and map 0 to 0, so a silent neuron costs nothing downstream and a constant
  factor (Scale, a pooling mean) folds into the next layer's weights, as the Lava backend does.
  Counted as accumulates:
  ``SOP = rate * T * MACs`` (eq. C.1), where ``rate`` is the **event rate** of the layer's input:
  spikes per input element per step, summed over in-edges (a sum of two spike trains costs the ACs
  of both, by linearity) with each edge's delay applied, and carried unchanged through the
  event-preserving ops (Concat: the size-weighted mean of its ports).
  That is the ``paper`` energy target's formula; the ``lava`` target counts the same layers'
  accumulates as exact synaptic events instead (:mod:`.events`: each spike times the fan-out of
  its effective layer, the weightless chain folded into the layer's synapses).
* ``"input"`` — the analog network Input (direct encoding), possibly through event-preserving ops:
  the first layer, counted as MACs (eq. C.2's ``E_MAC * FLOPs^1``). With rate encoding
  (``encoding="rate"``) the Input emits spikes and is treated as a spiking source instead.
* ``"analog"`` — the real-valued output of a non-spiking neuron (ReLU: the ANN units of a hybrid
  network, SpikeDHS section 4.4, HNS), possibly through event-preserving ops: a synapse must
  multiply by its value, so, like the first layer (eq. C.2), it costs MACs, at every step
  (``T * MACs``: in a hybrid network the ReLU's input comes from spiking layers and changes every
  step). Kept apart from ``"dense"`` so that a report says which MACs the hybrid's ANN layers
  cost.
* ``"dense"`` — anything else: a Conv2d, Linear or BatchNorm2d output (non-binary, and BatchNorm's
  offset makes zeros non-zero), or a mix of kinds. Counted as MACs at every step, ``T * MACs``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from ...ir.choices import UNRESOLVED
from ...ir.graph import Graph
from ...ir.loihi import DEPLOY_ONLY
from ...ir.ops import OPS
from ...ir.verify import verify
from ...optable import OpTable
from .tables import EnergyError

SPIKES, INPUT, DENSE, ANALOG = "spikes", "input", "dense", "analog"


def _axis_taps(size: int, out: int, kernel: int, stride: int, padding: int) -> int:
    """Kernel taps that land inside the input along one axis, summed over the ``out`` outputs."""
    return sum(sum(1 for k in range(kernel) if 0 <= o * stride - padding + k < size)
               for o in range(out))


def _window_synapses(channels_per_output: int, a: dict, in_shape, out_shape) -> int:
    _, h, w = in_shape
    o, ho, wo = out_shape
    taps = (_axis_taps(h, ho, a["kernel"], a["stride"], a["padding"])
            * _axis_taps(w, wo, a["kernel"], a["stride"], a["padding"]))
    return o * channels_per_output * taps


@dataclass(frozen=True)
class EnergyOp:
    """How the energy count sees one op: ``role`` is ``"spiking"`` (emits binary spikes),
    ``"analog"`` (a non-spiking neuron: real-valued activations), ``"carrier"`` (no weights,
    0 -> 0: passes events on unchanged in sparsity), ``"dense"`` (its output is non-binary),
    ``"input"`` or ``"output"``; ``synapses(attrs, in_shape,
    out_shape)`` counts a layer's connections per sample without padding (None: not a layer)."""

    role: str
    synapses: Callable | None = None


def _op_table() -> OpTable:
    t = OpTable("energy")
    t["Input"], t["Output"] = EnergyOp("input"), EnergyOp("dense")
    for op in ("LIF", "ALIF", "PLIF"):
        t[op] = EnergyOp("spiking")
    t["BatchNorm2d"] = EnergyOp("dense")  # BN's offset makes zeros non-zero
    t["ReLU"] = EnergyOp("analog")  # a hybrid network's ANN unit: its readers multiply
    for op in ("Flatten", "Dropout", "Concat", "Scale", "Vote", "Upsample"):
        t[op] = EnergyOp("carrier")
    t["Conv2d"] = EnergyOp("dense", lambda a, i, o: _window_synapses(
        a["in_channels"] // a["groups"], a, i, o))
    t["Linear"] = EnergyOp("dense", lambda a, i, o: a["in_features"] * a["out_features"])
    t["AvgPool2d"] = EnergyOp("carrier", lambda a, i, o: _window_synapses(1, a, i, o))
    t["GlobalAvgPool"] = EnergyOp("carrier", lambda a, i, o: int(np.prod(i)))
    t.refuse(UNRESOLVED, "Choice", "WeightedMix")  # which path would be counted is the question
    t.refuse(f"{DEPLOY_ONLY}; count the float deploy graph instead", "LoihiLIF")
    return t


#: The energy backend's op table (one entry per op of the catalogue; the op-coverage test checks).
ENERGY_OPS = _op_table()
#: Ops that carry events unchanged in sparsity: no weights, 0 -> 0 (see the module docstring).
EVENT_PRESERVING = tuple(op for op, e in ENERGY_OPS.items()
                         if isinstance(e, EnergyOp) and e.role == "carrier")


def synapse_count(op: str, attrs: dict, in_shape, out_shape) -> int:
    """Synapses per sample of a layer (:data:`ENERGY_OPS`); equals its MACs without padding.

    Raises:
        EnergyError: an op with MACs but no synapse rule (named).
    """
    entry = ENERGY_OPS.get(op)
    if not isinstance(entry, EnergyOp) or entry.synapses is None:
        raise EnergyError(f"the energy count has no synapse rule for op {op}")
    return int(entry.synapses(attrs, tuple(in_shape), tuple(out_shape)))


@dataclass(frozen=True)
class LayerCount:
    """One synaptic layer.

    Attributes:
        name, op: the node.
        shape: output shape per sample.
        params: number of parameters.
        macs: multiply-accumulates per sample per time step (``OPS[op].macs``).
        synapses: connections per sample, padding taps excluded (:func:`synapse_count`): the
            accumulates one step of all-ones input costs on a chip.
        input: ``"spikes"``, ``"input"`` or ``"dense"`` (module docstring).
        inputs: ``(source node, delay)`` of each in-edge.
        sources: the nodes the input comes from, traced back through event-preserving ops (the
            spiking layers whose rate drives an AC layer; the Input; the dense producers).
    """

    name: str
    op: str
    shape: tuple[int, ...]
    params: int
    macs: int
    input: str
    inputs: tuple[tuple[str, int], ...]
    sources: tuple[str, ...]
    synapses: int = 0


def carries_events(node, depthwise_events: bool = False) -> bool:
    """True if ``node`` passes its input's events on unchanged in sparsity: an op of
    :data:`EVENT_PRESERVING`, or, with ``depthwise_events`` (the ``paper`` energy target), a
    depthwise Conv2d: STTS counts every layer after the first as accumulates at the rate of the
    spikes that drive it (Appendix C, Table 5), so the pointwise conv of a separable pair counts
    ACs at the rate of the spikes entering the depthwise conv (the depthwise conv's bias makes its
    output non-binary; the paper's count ignores that, and so does this target)."""
    if ENERGY_OPS.lookup(node).role == "carrier":
        return True
    a = node.attrs
    return (depthwise_events and node.op == "Conv2d" and a["groups"] > 1
            and a["groups"] == a["in_channels"])


def _combine(kinds) -> str | None:
    known = {k for k in kinds if k is not None}
    if not known:
        return None
    return known.pop() if len(known) == 1 else DENSE


def node_kinds(graph: Graph, encoding: str | None = None, *,
               depthwise_events: bool = False) -> dict[str, str]:
    """What every node's output carries: ``"spikes"``, ``"input"`` (the analog Input, unchanged in
    sparsity), ``"analog"`` (a non-spiking neuron's activations) or ``"dense"``.

    Spiking ops (LIF, ALIF, PLIF) are ``"spikes"``; the Input is ``"spikes"`` for
    ``encoding="rate"`` and ``"input"`` otherwise (default: ``graph.meta["encoding"]``, else
    direct); the non-spiking ReLU neuron is ``"analog"``; an event-preserving op takes the kind its
    in-edges agree on (``"dense"`` if they disagree); every other op is ``"dense"``.
    Solved as a fixed point, so cycles through delayed edges are handled.
    """
    enc = encoding or str(graph.meta.get("encoding", "direct"))
    order = graph.topological_order()
    kinds: dict[str, str | None] = {}
    for name in order:
        node = graph.nodes[name]
        role = ENERGY_OPS.lookup(node).role
        if role == "input":
            kinds[name] = SPIKES if enc == "rate" else INPUT
        elif role == "spiking":
            kinds[name] = SPIKES
        elif role == "analog":
            kinds[name] = ANALOG
        elif carries_events(node, depthwise_events):
            kinds[name] = None  # not known yet
        else:
            kinds[name] = DENSE
    changed = True
    while changed:
        changed = False
        for name in order:
            if not carries_events(graph.nodes[name], depthwise_events):
                continue
            k = _combine(kinds[e.src] for e in graph.in_edges(name))
            if k != kinds[name]:
                kinds[name], changed = k, True
    return {k: (v if v is not None else DENSE) for k, v in kinds.items()}


def _sources(graph: Graph, name: str, index: dict[str, int],
             depthwise_events: bool = False) -> tuple[str, ...]:
    found, seen, stack = set(), set(), [e.src for e in graph.in_edges(name)]
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if carries_events(graph.nodes[n], depthwise_events):
            stack.extend(e.src for e in graph.in_edges(n))
        else:
            found.add(n)
    return tuple(sorted(found, key=index.__getitem__))


def count_layers(graph: Graph, encoding: str | None = None, *,
                 depthwise_events: bool = False) -> list[LayerCount]:
    """Every synaptic layer of ``graph`` (verified in place first), in topological order.
    ``depthwise_events``: see :func:`carries_events`.

    Raises:
        GraphError: the graph is invalid.
    """
    verify(graph)
    kinds = node_kinds(graph, encoding, depthwise_events=depthwise_events)
    order = graph.topological_order()
    index = {n: i for i, n in enumerate(order)}
    layers = []
    for name in order:
        node = graph.nodes[name]
        opd = OPS[node.op]
        ins = graph.in_edges(name)
        in_shape = None if not ins or opd.multi_port else tuple(graph.nodes[ins[0].src].shape)
        macs = int(opd.macs(node.attrs, in_shape, tuple(node.shape)))
        if macs <= 0:
            continue
        syn = synapse_count(node.op, node.attrs, in_shape, node.shape) if in_shape else macs
        layers.append(LayerCount(
            name, node.op, tuple(node.shape), int(sum(p.size for p in node.params.values())),
            macs, _combine(kinds[e.src] for e in ins) or DENSE,
            tuple((e.src, e.delay) for e in ins), _sources(graph, name, index, depthwise_events), syn))
    return layers


def event_rates(graph: Graph, per_step: Mapping[str, np.ndarray], T: int,
                encoding: str | None = None, *,
                depthwise_events: bool = False) -> dict[str, np.ndarray]:
    """Events per element per step, ``[T]``, of every node whose kind is ``"spikes"``.

    Spiking nodes (and a rate-encoded Input) take their measured ``per_step`` rate; an
    event-preserving node takes the sum over its in-edges of the source's events ``d`` steps
    earlier (zero before the start), Concat the size-weighted mean of its ports — computed step by
    step in the graph's order, like the interpreter, so delayed cycles are exact.

    Raises:
        EnergyError: a spiking node without a measured rate, or a rate of the wrong length.
    """
    kinds = node_kinds(graph, encoding, depthwise_events=depthwise_events)
    order = [n for n in graph.topological_order() if kinds[n] == SPIKES]
    er = {n: np.zeros(T) for n in order}
    for n in order:
        if not carries_events(graph.nodes[n], depthwise_events):
            if n not in per_step:
                raise EnergyError(f"no measured firing rate for spiking node {n!r}; record its "
                                  f"output (probes) when measuring rates")
            r = np.asarray(per_step[n], dtype=np.float64)
            if r.shape != (T,):
                raise EnergyError(f"rate of node {n!r} has shape {r.shape}; expected ({T},)")
            er[n][:] = r
    preserving = [n for n in order if carries_events(graph.nodes[n], depthwise_events)]
    for t in range(T):
        for n in preserving:
            ports: dict[int, float] = {}
            sizes: dict[int, int] = {}
            for e in graph.in_edges(n):
                v = er[e.src][t - e.delay] if t - e.delay >= 0 else 0.0
                ports[e.port] = ports.get(e.port, 0.0) + v
                sizes[e.port] = int(np.prod(graph.nodes[e.src].shape))
            if graph.nodes[n].op == "Concat":
                er[n][t] = sum(ports[p] * sizes[p] for p in ports) / sum(sizes.values())
            else:
                er[n][t] = ports.get(0, 0.0)
    return er


def input_rate(layer: LayerCount, er: Mapping[str, np.ndarray], T: int) -> float:
    """Mean event rate of a ``"spikes"`` layer's input over ``T`` steps: the sum over in-edges of
    the source's event rate, shifted by the edge's delay (spikes per input element per step)."""
    total = 0.0
    for src, delay in layer.inputs:
        if delay < T:
            total += float(np.sum(er[src][:T - delay]))
    return total / T
