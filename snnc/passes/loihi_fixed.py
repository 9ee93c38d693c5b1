"""``quantize-loihi``: a deploy graph in Loihi 2's integer formats (lava-nc 0.10.0 ``fixed_pt``).

Loihi 2 runs no floating point: synapses carry 8-bit signed weight mantissas with one exponent
per synapse process, neurons hold 24-bit ``u``/``v``, decay by 12-bit ``du``/``dv`` and compare
with an integer threshold (:mod:`snnc.ir.loihi` has the arithmetic, read from Lava's source).
This pass turns every LIF of a ``lava``-target graph into a :class:`~snnc.ir.ops.LoihiLIF` and
every synapse into it into integers, so that the reference interpreter computes exactly what
Lava's fixed-point models compute (tested spike for spike).

Scales. A neuron's input ``a_in`` is an integer in units of ``1/k`` of the float input current
``X``: ``a_in = k X``. All synapses into one neuron share its ``k``, and a weighted op (Conv2d or
Linear) that feeds several neurons gives them one ``k``, so ``k`` is chosen per *group* of
neurons joined by shared synapses: the largest power of two with ``k v_th / alpha <= max_vth``
for every neuron of the group (``alpha`` folds into the weights; a power of two keeps an
identity synapse, weight ``k``, exact). Then, per neuron ``j`` (``s_j = k / alpha_j``, the
``a_in`` units per unit of its membrane potential)::

    du = 4095 (the current lasts one step, as the canonical neuron has none)
    dv = round(4096 (1 - beta)),   vth = round(s_j v_th)

and per weighted op ``W`` fed by spikes, its weights ``k W`` become ``m 2^e`` with ``m`` an 8-bit
signed mantissa in ``[-128, 127]`` and the least ``e >= 0`` that fits the largest weight (the
per-synapse exponent), its bias ``round(k b)``. A direct neuron -> neuron connection gets a Scale
``k`` (weight ``k = 1 2^log2 k``). A weighted op fed only by the Input is host work (the first
layer on analog pixels): scaled by ``k``, not quantised; the host sends ``floor(k X + 1/2)``
(LoihiLIF's rounding). What is not exact (``beta`` not a multiple of 1/4096, thresholds,
weights and biases rounded, weights rounded to zero) is written in the pass notes and in
``graph.meta["loihi"]``, which records every choice (groups, ``k``, per-neuron ``dv``/``vth``/
``s``, per-synapse exponent and error); the artifact carries it.

Refused by node name (:class:`~snnc.errors.PassError`): neurons other than LIF, soft reset,
``v_rest``/``v_reset`` other than 0, ``v_th <= 0`` or ``alpha <= 0``, and between neurons any op
other than Conv2d/Linear with Flatten/Concat/Dropout around them (e.g. an AvgPool2d or a Scale
between neurons, two weighted ops in a row, the Input feeding a neuron without weights, a
weighted op feeding both neurons and the host head): their composed integer weights would not
be exact.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import PassError
from ..ir.graph import Graph
from ..ir.loihi import MANT_MAX, MANT_MIN, MAX_DECAY, MAX_VTH
from ..ir.ops import NEURON_OPS
from .base import Pass, plural

#: Ops that pass values on unchanged between a weighted op and a neuron.
CARRIERS = ("Flatten", "Dropout", "Concat")
#: Ops whose weights become synapse weights.
WEIGHTED = ("Conv2d", "Linear")
#: lava-nc's fixed-point models, whose arithmetic the quantised graph has.
FORMAT = "lava-nc 0.10.0 fixed_pt (Loihi 2)"


def _refuse(name: str, op: str, why: str) -> PassError:
    return PassError(f"quantize-loihi: node {name!r} ({op}): {why}")


def quantize_weights(w: np.ndarray) -> tuple[np.ndarray, int]:
    """``w`` (in ``a_in`` units) as ``(m, e)``: ``m = clip(round(w / 2^e), -128, 127)`` with the
    least ``e >= 0`` for which the largest ``|w|`` fits the 8-bit mantissa."""
    e = 0
    while np.max(np.abs(np.rint(w / 2.0 ** e)), initial=0.0) > MANT_MAX and e < 60:
        e += 1
    m = np.clip(np.rint(w / 2.0 ** e), MANT_MIN, MANT_MAX)
    return m, e


@dataclass(frozen=True)
class QuantizeLoihi(Pass):
    """LIF -> LoihiLIF and synapses to Loihi 2's integer formats (module docstring).

    Expects: a verified ``lava``-target graph (BatchNorm, depthwise convolutions and Scales
    folded; Dropout dropped).
    Guarantees: the reference interpreter's spikes of the result are those of Lava's fixed-point
    models on the same input (bit-exact); its float behaviour stays close to the input graph's
    (the errors are the notes' approximations). ``max_vth`` bounds every integer threshold
    (``<= 2^17 - 1``): larger gives finer thresholds and host currents, smaller more headroom
    before ``v`` saturates at ``2^17`` ``a_in`` units.
    """

    name: ClassVar[str] = "quantize-loihi"
    max_vth: int = 4096

    def __post_init__(self):
        if not 1 <= self.max_vth <= MAX_VTH:
            raise PassError(f"pass {self.name}: option max_vth={self.max_vth} must be in "
                            f"[1, {MAX_VTH}] (Loihi's 17-bit threshold)")

    # ------------------------------------------------------------------ structure
    def _walk_back(self, graph: Graph, start: str):
        """Sources of ``start``'s input through carriers: ``(weighted, neuron_edges, inputs)``:
        weighted op names, edges leaving a LIF, and whether the Input is reached."""
        weighted, edges, seen, stack = set(), [], {start}, [start]
        while stack:
            for e in graph.in_edges(stack.pop()):
                src = graph[e.src]
                if src.op == "LIF":
                    edges.append(e)
                elif src.op in WEIGHTED:
                    weighted.add(src.name)
                elif src.op in CARRIERS:
                    if src.name not in seen:
                        seen.add(src.name)
                        stack.append(src.name)
                elif src.op == "Input":
                    raise _refuse(start, graph[start].op,
                                  "the Input reaches it without a Conv2d/Linear; Loihi's synapses "
                                  "carry spikes, and quantize-loihi keeps the host's work to "
                                  "weighted layers")
                else:
                    raise _refuse(src.name, src.op,
                                  "between neurons, quantize-loihi maps only Conv2d/Linear "
                                  f"synapses (with {'/'.join(CARRIERS)} around them): the "
                                  "integer weights of a composition with it would not be exact")
        return weighted, edges

    def _walk_forward(self, graph: Graph, start: str, what: str) -> set[str]:
        """LIFs that ``start``'s output reaches through carriers; refuses any other reader."""
        found, seen, stack = set(), {start}, [start]
        while stack:
            for e in graph.out_edges(stack.pop()):
                dst = graph[e.dst]
                if dst.op == "LIF":
                    found.add(dst.name)
                elif dst.op in CARRIERS:
                    if dst.name not in seen:
                        seen.add(dst.name)
                        stack.append(dst.name)
                else:
                    raise _refuse(dst.name, dst.op, f"it reads {what}, which also feeds neurons; "
                                  f"quantize-loihi scales a synapse for the neurons it feeds, "
                                  f"so it must feed nothing else")
        return found

    def _weighted_sources(self, graph: Graph, name: str) -> tuple[bool, bool]:
        """Whether weighted op ``name`` reads spikes (a LIF) and/or the Input, through carriers."""
        spikes = host = False
        seen, stack = {name}, [name]
        while stack:
            for e in graph.in_edges(stack.pop()):
                src = graph[e.src]
                if src.op == "LIF":
                    spikes = True
                elif src.op == "Input":
                    host = True
                elif src.op in CARRIERS:
                    if src.name not in seen:
                        seen.add(src.name)
                        stack.append(src.name)
                else:
                    raise _refuse(src.name, src.op,
                                  f"it feeds the synapse {name!r}; quantize-loihi maps only one "
                                  f"Conv2d/Linear between neurons (with "
                                  f"{'/'.join(CARRIERS)} around it)")
        return spikes, host

    # ------------------------------------------------------------------ the pass
    def apply(self, graph: Graph, notes: list[str]) -> bool:
        lifs = [n for n in graph if n.op == "LIF"]
        for n in graph:
            if n.op in NEURON_OPS and n.op != "LIF":
                raise _refuse(n.name, n.op, "Loihi's fixed-point LIF has a constant threshold and "
                              "binary spikes; quantize-loihi maps LIF neurons only")
        if not lifs:
            return False
        for n in lifs:
            a = n.attrs
            if a["reset"] != "hard":
                raise _refuse(n.name, n.op, "reset='soft': Loihi's LIF sets v to 0 on a spike")
            if a["v_rest"] != 0.0 or a["v_reset"] != 0.0:
                raise _refuse(n.name, n.op, f"v_rest={a['v_rest']:g}, v_reset={a['v_reset']:g}: "
                              f"quantize-loihi needs both 0 (Loihi resets v to 0 and starts there)")
            if a["v_th"] <= 0.0 or a["alpha"] <= 0.0:
                raise _refuse(n.name, n.op, f"v_th={a['v_th']:g}, alpha={a['alpha']:g}: both must "
                              f"be > 0 for an unsigned integer threshold")

        # the synapses into each neuron, and the groups of neurons that share one
        synapses: dict[str, set[str]] = {}  # weighted op -> neurons it feeds
        links: dict[tuple, set[str]] = {}  # LIF edge without weights -> neurons it feeds
        parent = {n.name: n.name for n in lifs}

        def find(x):
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for n in lifs:
            weighted, edges = self._walk_back(graph, n.name)
            for w in weighted:
                if w not in synapses:
                    synapses[w] = self._walk_forward(graph, w, f"the synapse {w!r}")
            for e in edges:
                key = (e.src, e.dst, e.port, e.delay, e.kind)
                if key not in links:
                    reached = {e.dst} if e.dst == n.name else self._walk_forward(
                        graph, e.dst, f"neuron {e.src!r}'s spikes")
                    links[key] = reached
        sources = {w: self._weighted_sources(graph, w) for w in synapses}
        for reached in list(synapses.values()) + list(links.values()):
            first, *rest = sorted(reached)
            for other in rest:
                parent[find(other)] = find(first)
        groups: dict[str, list[str]] = {}
        for n in lifs:
            groups.setdefault(find(n.name), []).append(n.name)

        k_of: dict[str, float] = {}
        record_groups = []
        for members in groups.values():
            bound = min(graph[j].attrs["alpha"] * self.max_vth / graph[j].attrs["v_th"]
                        for j in members)
            k = 2.0 ** math.floor(math.log2(bound))
            for j in members:
                k_of[j] = k
            record_groups.append({"neurons": members, "k": k})

        approx: list[str] = []
        rec_neurons = {}
        for n in lifs:
            a, k = n.attrs, k_of[n.name]
            s = k / a["alpha"]
            dv = int(min(max(round(4096 * (1.0 - a["beta"])), 0), MAX_DECAY))
            vth = int(round(s * a["v_th"]))
            if vth > MAX_VTH:  # pragma: no cover - max_vth <= MAX_VTH bounds it
                raise _refuse(n.name, n.op, f"threshold {vth} exceeds Loihi's 17 bits")
            beta_q, vth_q = 1.0 - dv / 4096, vth / s
            if beta_q != a["beta"]:
                approx.append(f"{n.name}: beta={a['beta']:g} -> {beta_q:.6g} (dv={dv}/4096)")
            if abs(vth_q - a["v_th"]) > 1e-12 * a["v_th"]:
                approx.append(f"{n.name}: v_th={a['v_th']:g} -> {vth_q:.6g} (vth={vth})")
            rec_neurons[n.name] = {"k": k, "scale": s, "du": 4095, "dv": dv, "vth": vth,
                                   "beta": a["beta"], "beta_q": beta_q, "v_th": a["v_th"],
                                   "v_th_q": vth_q}
            n.op, n.attrs, n.params = "LoihiLIF", {"du": 4095, "dv": dv, "vth": vth,
                                                    "scale": s}, {}

        rec_syn = {}
        for w, reached in synapses.items():
            node = graph[w]
            k = k_of[next(iter(reached))]
            spikes, _ = sources[w]
            weight = k * np.asarray(node.params["weight"], np.float64)
            info = {"k": k, "neurons": sorted(reached), "host": not spikes}
            if spikes:
                m, e = quantize_weights(weight)
                q = m * 2.0 ** e
                top = float(np.abs(weight).max()) or 1.0
                err = float(np.abs(q - weight).max())
                zeroed = int(np.count_nonzero((q == 0) & (weight != 0)))
                info.update(exponent=e, max_error=err / top, zeroed=zeroed)
                approx.append(f"{w}: weights to 8-bit mantissa x 2^{e}, max error "
                              f"{err / top:.2%} of max |w|"
                              + (f", {plural(zeroed, 'weight')} rounded to 0" if zeroed else ""))
                node.params["weight"] = q
                if "bias" in node.params:
                    b = k * np.asarray(node.params["bias"], np.float64)
                    bq = np.rint(b)
                    info["bias_max_error"] = float(np.abs(bq - b).max(initial=0.0))
                    if np.any(bq != b):
                        approx.append(f"{w}: bias rounded to integer a_in units (max error "
                                      f"{info['bias_max_error']:.3g} of 1)")
                    node.params["bias"] = bq
            else:
                node.params["weight"] = weight
                if "bias" in node.params:
                    node.params["bias"] = k * np.asarray(node.params["bias"], np.float64)
            rec_syn[w] = info

        rec_links = []
        for (src, dst, port, delay, kind), reached in links.items():
            k = k_of[next(iter(reached))]
            name = f"{src}.loihi.{dst}.{port}.{delay}"
            graph.remove_edge(next(e for e in graph.in_edges(dst)
                                   if (e.src, e.port, e.delay, e.kind) == (src, port, delay, kind)))
            graph.add_node(name, "Scale", {"scale": k})
            graph.add_edge(src, name, 0, delay, kind)
            graph.add_edge(name, dst, port, 0)
            rec_links.append({"scale": name, "src": src, "dst": dst, "k": k})

        graph.meta["loihi"] = {"format": FORMAT, "max_vth": self.max_vth,
                               "groups": record_groups, "neurons": rec_neurons,
                               "synapses": rec_syn, "links": rec_links,
                               "approximations": approx}
        notes.append(f"{plural(len(lifs), 'LIF')} -> LoihiLIF in {plural(len(groups), 'group')}, "
                     f"{plural(len(rec_syn), 'synapse')} and {plural(len(rec_links), 'direct link')}"
                     f" in a_in units (max_vth={self.max_vth})")
        notes.extend(f"approximated: {a}" for a in approx)
        return True
