"""Exact synaptic events: the ``lava`` energy target's accumulates (README, "Energy report JSON").

**An AC is one synaptic event**: one spike reaching one synapse of the *effective layer*, padding
excluded. The effective layer of a synaptic layer (Conv2d, Linear, AvgPool2d, GlobalAvgPool) is
the layer composed with every weightless op between it and the spiking neurons that drive it
(AvgPool2d, GlobalAvgPool, Upsample, Flatten, Dropout, Scale, Vote, Concat, summed in-edges), as
the Lava backend folds such chains into one synapse operator per source neuron and path delay
(``backends/lava/synapses.py``). A synapse is a structural connection (source neuron element,
path delay, output element); a weight that happens to be zero is still a synapse, a padding tap
is none. Two paths from one source with the same total delay (a pooled branch beside a direct
one) share their synapses, paths of different delays are separate delay lines. So

``ACs = sum over spikes (source s, step t, element i) and delays D with t + D < T of
fan_out(s, D, i)``, ``fan_out`` = the number of the layer's output elements that element ``i``
of ``s`` reaches along paths of total delay ``D``.

Counted per element, because the fan-out depends on the position (a 3x3 conv's corner pixel
reaches 4 outputs of 9 with padding 1; through a 2x2 average pool every input pixel reaches the
next conv's 3x3 window of pooled pixels). A pooling whose every weightless path ends in spike-fed
Conv2d/Linear/pooling layers is *folded* into them (its own row counts nothing; its events are
counted there); one that also feeds anything else (a neuron, the Output) is computed, and counted
as a layer of its own, once.

The reach of one source element through these ops is a box (one interval per axis, each a
function of that axis' source coordinate: every op here acts on channels, rows and columns
separately), so the fan-outs are computed with interval arithmetic, the union over paths by
inclusion-exclusion. numpy only.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from ...ir.graph import Graph
from .count import ENERGY_OPS, SPIKES
from .tables import EnergyError

#: Most distinct paths (of one source and delay into one layer) counted by inclusion-exclusion.
MAX_PATHS = 12


@dataclass(frozen=True)
class Box:
    """Per source element, the elements of the current node it reaches: ``lo[a]..hi[a]``
    (inclusive) on axis ``a`` (channel, row, column), arrays indexed by the source's own
    coordinate on that axis; empty where ``lo > hi``. A 1-D node is ``(F, 1, 1)``.
    ``collapsed``: a Flatten of a map has mixed the axes; only emptiness is kept (``[0, 0]``
    per non-empty axis), which is all a Linear after it needs."""

    lo: tuple[np.ndarray, np.ndarray, np.ndarray]
    hi: tuple[np.ndarray, np.ndarray, np.ndarray]
    collapsed: bool = False

    def key(self) -> bytes:
        return bytes([self.collapsed]) + b"".join(a.tobytes() + b"|" for a in self.lo + self.hi)


def identity(shape) -> Box:
    """The box of a source of ``shape`` (``(C, H, W)`` or ``(F,)``): each element reaches itself."""
    dims = tuple(shape) if len(shape) == 3 else (int(shape[0]), 1, 1)
    axes = tuple(np.arange(n, dtype=np.int64) for n in dims)
    return Box(axes, axes)


def _empty_to(lo, hi, new_lo, new_hi):
    empty = lo > hi
    return np.where(empty, 0, new_lo), np.where(empty, -1, new_hi)


def _window(lo, hi, kernel, stride, padding, n_out):
    """Outputs whose window ``[y s - p, y s - p + k - 1]`` meets input rows ``[lo, hi]``."""
    first = np.maximum(0, -(-(lo + padding - kernel + 1) // stride))
    last = np.minimum(n_out - 1, (hi + padding) // stride)
    return _empty_to(lo, hi, first, last)


def _nonempty(lo, hi):
    return _empty_to(lo, hi, np.zeros_like(lo), np.zeros_like(hi))


def _axes(box: Box, ch, y, x) -> Box:
    lo, hi = zip(*(f(box.lo[a], box.hi[a]) for a, f in enumerate((ch, y, x))))
    return Box(tuple(lo), tuple(hi), box.collapsed)


def _same(lo, hi):
    return lo, hi


def through(node, box: Box, in_shape, port: int = 0, offsets: dict[int, int] | None = None) -> Box:
    """``box`` at the input of ``node`` (a weightless op or a synaptic layer) mapped to its
    output (layers: to the output elements the effective synapses reach)."""
    op, a = node.op, node.attrs
    if op in ("Dropout", "Scale", "Output"):
        return box
    if op in ("AvgPool2d", "Conv2d"):
        win_y = lambda lo, hi: _window(lo, hi, a["kernel"], a["stride"], a["padding"],  # noqa: E731
                                       node.shape[1])
        win_x = lambda lo, hi: _window(lo, hi, a["kernel"], a["stride"], a["padding"],  # noqa: E731
                                       node.shape[2])
        ch = _same
        if op == "Conv2d":
            cin, cout = a["in_channels"] // a["groups"], a["out_channels"] // a["groups"]
            ch = lambda lo, hi: _empty_to(lo, hi, lo // cin * cout,  # noqa: E731
                                          (hi // cin + 1) * cout - 1)
        return _axes(box, ch, win_y, win_x)
    if op == "GlobalAvgPool":
        return _axes(box, _same, _nonempty, _nonempty)
    if op == "Linear":
        n = a["out_features"]
        return _axes(box, lambda lo, hi: _empty_to(lo, hi, np.zeros_like(lo),
                                                   np.full_like(hi, n - 1)),
                     _nonempty, _nonempty)
    if op == "Upsample":
        s = a["scale"]
        up = lambda lo, hi: _empty_to(lo, hi, lo * s, hi * s + s - 1)  # noqa: E731
        return _axes(box, _same, up, up)
    if op == "Flatten":
        if box.collapsed or len(in_shape) == 1 or in_shape[1] * in_shape[2] == 1:
            return box  # C-major order of (C, 1, 1) is the channel index
        b = _axes(box, _nonempty, _nonempty, _nonempty)
        return Box(b.lo, b.hi, True)
    if box.collapsed:  # after a Flatten only emptiness matters (module docstring)
        return box
    if op == "Vote":
        g = in_shape[0] // a["classes"]
        return _axes(box, lambda lo, hi: _empty_to(lo, hi, lo // g, hi // g), _same, _same)
    if op == "Concat":
        off = (offsets or {}).get(port, 0)
        return _axes(box, lambda lo, hi: _empty_to(lo, hi, lo + off, hi + off), _same, _same)
    raise EnergyError(f"node {node.name!r} ({op}): no event rule in the energy count")


def union_size(boxes: list[Box], where: str = "") -> np.ndarray:
    """``[C, H, W]`` (source axes): the number of elements in the union of ``boxes`` for every
    source element, by inclusion-exclusion over at most :data:`MAX_PATHS` distinct boxes.

    Raises:
        EnergyError: more distinct paths than :data:`MAX_PATHS` (``where`` names them).
    """
    unique = list({b.key(): b for b in boxes}.values())
    if len(unique) > MAX_PATHS:
        raise EnergyError(f"{where}: {len(unique)} distinct weightless paths of one source and "
                          f"delay; the exact event count handles at most {MAX_PATHS}")
    shape = tuple(len(x) for x in unique[0].lo)
    total = np.zeros(shape, dtype=np.int64)
    for r in range(1, len(unique) + 1):
        for subset in combinations(unique, r):
            lens = [np.maximum(np.min([b.hi[a] for b in subset], axis=0)
                               - np.max([b.lo[a] for b in subset], axis=0) + 1, 0)
                    for a in range(3)]
            term = lens[0][:, None, None] * lens[1][None, :, None] * lens[2][None, None, :]
            total += term if r % 2 else -term
    return total


@dataclass(frozen=True)
class EffectiveLayer:
    """One spike-fed synaptic layer as the events see it.

    Attributes:
        name: the layer's node.
        fan_out: ``(source, delay) -> array`` of the source's shape: the effective synapses each
            source element reaches along paths of that total delay (module docstring).
        folded_into: for a pooling folded into the layers after it, those layers (it then counts
            no events itself and ``fan_out`` is empty).
    """

    name: str
    fan_out: dict[tuple[str, int], np.ndarray]
    folded_into: tuple[str, ...] = ()


def _synaptic(node) -> bool:
    return ENERGY_OPS.lookup(node).synapses is not None


def folded_pools(graph: Graph, layer_kinds: dict[str, str]) -> dict[str, tuple[str, ...]]:
    """Spike-fed poolings folded into the layers after them: pooling -> those layers. A pooling
    is folded when every path through weightless non-synaptic ops ends in a synaptic layer whose
    input is spikes (``layer_kinds``: layer -> its input kind)."""
    folded = {}
    for name, kind in layer_kinds.items():
        node = graph.nodes[name]
        if kind != SPIKES or ENERGY_OPS.lookup(node).role != "carrier":
            continue
        ends, seen, stack, ok = set(), set(), [e.dst for e in graph.out_edges(name)], True
        while stack:
            m = stack.pop()
            if m in seen:
                continue
            seen.add(m)
            mnode = graph.nodes[m]
            if ENERGY_OPS.lookup(mnode).role == "carrier" and not _synaptic(mnode):
                stack.extend(e.dst for e in graph.out_edges(m))
            else:
                ends.add(m)
                ok = ok and _synaptic(mnode) and layer_kinds.get(m) == SPIKES
        if ok and ends:
            folded[name] = tuple(sorted(ends))
    return folded


def effective_layers(graph: Graph, kinds: dict[str, str], layer_kinds: dict[str, str],
                     T: int) -> dict[str, EffectiveLayer]:
    """The effective layer of every spike-fed synaptic layer, for paths of total delay < ``T``.

    Args:
        graph: a verified graph.
        kinds: every node's output kind (:func:`.count.node_kinds`).
        layer_kinds: synaptic layer -> its input kind (:class:`.count.LayerCount.input`).
        T: time steps (a path of delay >= T delivers nothing).
    Raises:
        EnergyError: an op without an event rule, or too many paths (:func:`union_size`).
    """
    order = graph.topological_order()
    carrier = {n for n in order if ENERGY_OPS.lookup(graph.nodes[n]).role == "carrier"}
    wanted = {n for n, k in layer_kinds.items() if k == SPIKES}
    folded = folded_pools(graph, layer_kinds)
    at: dict[tuple[str, int], dict[str, list[Box]]] = {}
    ends: dict[str, dict[tuple[str, int], list[Box]]] = {n: {} for n in wanted}
    offsets = {}
    for n in order:
        if graph.nodes[n].op == "Concat":
            shapes = {e.port: graph.nodes[e.src].shape[0] for e in graph.in_edges(n)}
            offsets[n] = {p: int(sum(shapes[q] for q in shapes if q < p)) for p in shapes}
    for D in range(T):
        for n in order:
            if n not in carrier and n not in wanted:
                continue
            node = graph.nodes[n]
            out: dict[str, list[Box]] = {}
            for e in graph.in_edges(n):
                d0 = D - e.delay
                if d0 < 0:
                    continue
                src = graph.nodes[e.src]
                if e.src in carrier:
                    incoming = at.get((e.src, d0), {})
                elif kinds[e.src] == SPIKES and d0 == 0:
                    incoming = {e.src: [identity(src.shape)]}
                else:
                    continue
                for s, boxes in incoming.items():
                    out.setdefault(s, []).extend(
                        through(node, b, tuple(src.shape), e.port, offsets.get(n)) for b in boxes)
            out = {s: list({b.key(): b for b in bs}.values()) for s, bs in out.items()}
            if n in carrier:
                at[(n, D)] = out
            if n in wanted and n not in folded:
                for s, bs in out.items():
                    ends[n].setdefault((s, D), []).extend(bs)
    layers = {}
    for n in wanted:
        fan = {}
        for (s, D), boxes in ends[n].items():
            size = union_size(boxes, f"layer {n!r}, source {s!r}, delay {D}")
            fan[(s, D)] = size.reshape(graph.nodes[s].shape)
        layers[n] = EffectiveLayer(n, fan, folded.get(n, ()))
    return layers


def count_events(layer: EffectiveLayer, counts: dict[str, np.ndarray], T: int,
                 samples: int) -> tuple[float, float]:
    """``(ACs, input rate)`` per sample of one effective layer.

    Args:
        counts: source -> ``[T, *shape]`` spikes per element and step, summed over ``samples``
            (:attr:`.rates.Rates.counts`).
    Returns:
        the synaptic events per sample, and the spikes entering the layer per source element
        per step summed over its ``(source, delay)`` inputs (delays applied).
    Raises:
        EnergyError: a source without per-element counts.
    """
    events = rate = 0.0
    for (s, D), fan in layer.fan_out.items():
        if s not in counts:
            raise EnergyError(f"layer {layer.name!r}: no per-element spike counts of node {s!r}; "
                              f"the lava target counts synaptic events exactly and needs them "
                              f"(rates_from_trace records them)")
        seen = np.asarray(counts[s][:T - D], dtype=np.float64).sum(axis=0)
        events += float(np.sum(seen * fan))
        rate += float(seen.sum()) / (T * seen.size)
    n = max(samples, 1)
    return events / n, rate / n
