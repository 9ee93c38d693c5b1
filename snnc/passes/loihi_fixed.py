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

and per weighted op ``W`` fed by spikes, the weights of the synapse Lava will build from it,
``k f W``, become ``m 2^e`` with ``m`` an 8-bit signed mantissa in ``[-128, 127]`` and the least
``e >= 0`` that fits the largest weight (the per-synapse exponent), its bias
``round(k f_out b)``. ``f`` is the product of the weightless linear ops ("carriers": AvgPool2d
``1/k^2``, GlobalAvgPool ``1/(H W)``, Scale ``s``, Vote ``1/g``; Flatten, Concat, Upsample, Dropout
1) on its paths from the source neurons to the targets (``f_out``: after ``W``); the graph keeps
``W = m 2^e / f``, so that composing them again gives the integers (exactly for power-of-two
factors, to the last float bit otherwise, which Lava's build and LoihiLIF's rounding absorb).
A direct neuron -> neuron connection gets a Scale ``k`` (``k f`` must then be an 8-bit integer
times ``2^e``). A weighted op fed only by the Input is host work (the first layer on analog
pixels): scaled by ``k``, not quantised; the host sends ``floor(k X + 1/2)`` (LoihiLIF's
rounding). What is not exact (``beta`` not a multiple of 1/4096, thresholds, weights and biases
rounded, weights rounded to zero) is written in the pass notes and in ``graph.meta["loihi"]``,
which records every choice (groups, ``k``, per-neuron ``dv``/``vth``/``s``, per-synapse exponent,
factor and error); the artifact carries it.

Refused by node name (:class:`~snnc.errors.PassError`): neurons other than LIF, soft reset,
``v_rest``/``v_reset`` other than 0, ``v_th <= 0`` or ``alpha <= 0``; between neurons any op that
is neither weighted nor a carrier (an unfolded BatchNorm: a per-channel affine map), two
weighted ops in a row, a weighted op whose paths carry different factors or that also feeds the
host head, the Input feeding a neuron without weights, and spikes reaching a neuron without
weights through a factor that is no 8-bit integer times ``2^e`` in ``a_in`` units: their
integer weights would not be exact. Lava's build refuses, by synapse, weights that the planner
merges from several paths (one source, one delay) into more than an 8-bit mantissa.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..errors import PassError
from ..ir.graph import Graph
from ..ir.loihi import MANT_MAX, MANT_MIN, MAX_DECAY, MAX_VTH, split_weights
from ..ir.ops import NEURON_OPS
from .base import Pass, plural

#: Weightless linear ops between neurons, each scaling every path through it by one factor
#: (:func:`carrier_factor`), so that the weighted op's rounding can absorb it.
CARRIERS = ("Flatten", "Dropout", "Concat", "Scale", "AvgPool2d", "GlobalAvgPool", "Upsample",
            "Vote")
#: Ops whose weights become synapse weights.
WEIGHTED = ("Conv2d", "Linear")
#: lava-nc's fixed-point models, whose arithmetic the quantised graph has.
FORMAT = "lava-nc 0.10.0 fixed_pt (Loihi 2)"


def carrier_factor(graph: Graph, node) -> float:
    """The scalar a carrier multiplies every path through it by: ``scale`` (Scale), ``1/k^2``
    (AvgPool2d: each output is a mean of ``k^2`` inputs), ``1/(H W)`` (GlobalAvgPool), ``1/g``
    (Vote over groups of ``g``), 1 (the others: they move values, never scale them)."""
    if node.op == "Scale":
        return float(node.attrs["scale"])
    if node.op == "AvgPool2d":
        return 1.0 / node.attrs["kernel"] ** 2
    if node.op == "GlobalAvgPool":
        _, h, w = graph[graph.in_edges(node.name)[0].src].shape
        return 1.0 / (h * w)
    if node.op == "Vote":  # the mean of each class's group of units
        return node.attrs["classes"] / graph[graph.in_edges(node.name)[0].src].shape[0]
    return 1.0


def _norm(f: float) -> float:
    """A product of factors, rounded so that equal products in another order compare equal."""
    return float(f"{f:.12g}")


def _snap(x: float) -> float:
    """``x`` as the integer it is up to float rounding (the composition of exact integers)."""
    r = round(x)
    return float(r) if abs(x - r) <= 1e-9 * max(1.0, abs(x)) else x


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

    Expects: a verified ``lava``-target graph (BatchNorm and depthwise convolutions folded,
    Dropout dropped).
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
    def _back(self, graph: Graph, start: str) -> list[tuple[str, object, float]]:
        """What ``start``'s input comes from through carriers: ``(kind, what, factor)`` with kind
        ``lif`` (what: the edge leaving the LIF), ``w`` (a weighted op's name) or ``input``
        (the edge leaving the Input); factor: the carriers' product along that path."""
        out, seen, stack = [], set(), [(start, 1.0)]
        while stack:
            x, f = stack.pop()
            for e in graph.in_edges(x):
                src = graph[e.src]
                if src.op == "LIF":
                    out.append(("lif", e, f))
                elif src.op in WEIGHTED:
                    out.append(("w", src.name, f))
                elif src.op == "Input":
                    out.append(("input", e, f))
                elif src.op in CARRIERS:
                    key = (src.name, _norm(f * carrier_factor(graph, src)))
                    if key not in seen:
                        seen.add(key)
                        stack.append(key)
                else:
                    raise _refuse(src.name, src.op,
                                  "between neurons, quantize-loihi maps only Conv2d/Linear "
                                  f"synapses (with {'/'.join(CARRIERS)} around them): the "
                                  "integer weights of a composition with it would not be exact")
        return out

    def _forward(self, graph: Graph, start: str, what: str) -> list[tuple[str, float]]:
        """LIFs that ``start``'s output reaches through carriers (``start`` included if it is
        one), with the carriers' product per path; refuses any other reader."""
        f0 = carrier_factor(graph, graph[start]) if graph[start].op in CARRIERS else 1.0
        found, seen, stack = [], set(), [(start, _norm(f0))]
        while stack:
            x, f = stack.pop()
            for e in graph.out_edges(x):
                dst = graph[e.dst]
                if dst.op == "LIF":
                    found.append((dst.name, f))
                elif dst.op in CARRIERS:
                    key = (dst.name, _norm(f * carrier_factor(graph, dst)))
                    if key not in seen:
                        seen.add(key)
                        stack.append(key)
                else:
                    raise _refuse(dst.name, dst.op, f"it reads {what}, which also feeds neurons; "
                                  f"quantize-loihi scales a synapse for the neurons it feeds, "
                                  f"so it must feed nothing else")
        return found

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
        synapses: dict[str, list] = {}  # weighted op -> [(neuron it feeds, carriers' factor)]
        links: dict[tuple, list] = {}  # LIF edge without weights -> [(neuron, factor)]
        parent = {n.name: n.name for n in lifs}

        def find(x):
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for n in lifs:
            for kind, what, f in self._back(graph, n.name):
                if kind == "input":
                    raise _refuse(n.name, n.op,
                                  "the Input reaches it without a Conv2d/Linear; Loihi's synapses "
                                  "carry spikes, and quantize-loihi keeps the host's work to "
                                  "weighted layers")
                if kind == "w" and what not in synapses:
                    synapses[what] = self._forward(graph, what, f"the synapse {what!r}")
                if kind == "lif":
                    e = what
                    key = (e.src, e.dst, e.port, e.delay, e.kind)
                    if key not in links:
                        links[key] = ([(e.dst, 1.0)] if e.dst == n.name else self._forward(
                            graph, e.dst, f"neuron {e.src!r}'s spikes"))
        sources = {}  # weighted op -> (reads spikes, the carriers' factor through it)
        for w, reached in synapses.items():
            back = self._back(graph, w)
            if any(kind == "w" for kind, _, _ in back):
                first = next(what for kind, what, _ in back if kind == "w")
                raise _refuse(w, graph[w].op, f"it reads the weighted op {first!r} without a "
                              f"neuron between them; quantize-loihi maps one weighted op per "
                              f"synapse")
            f_in = {f for kind, _, f in back if kind == "lif"}
            f_out = {f for _, f in reached}
            if len(f_in) > 1 or len(f_out) > 1:
                raise _refuse(w, graph[w].op, "its paths from or to neurons pass pooling/scales "
                              f"of different factors ({sorted(f_in)} in, {sorted(f_out)} out), so "
                              "no one rounding of its weights is exact on all of them")
            sources[w] = (bool(f_in), _norm(next(iter(f_in), 1.0) * next(iter(f_out))),
                          next(iter(f_out)))
        for reached in [[j for j, _ in r] for r in synapses.values()] + \
                [[j for j, _ in r] for r in links.values()]:
            first, *rest = sorted(set(reached))
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
            k = k_of[reached[0][0]]
            spikes, f, f_out = sources[w]
            weight = k * np.asarray(node.params["weight"], np.float64)
            info = {"k": k, "neurons": sorted({j for j, _ in reached}), "host": not spikes}
            if spikes:
                # the synapse Lava builds is the composition k f W: quantise that, keep W = it / f
                weight = weight * f
                m, e = quantize_weights(weight)
                q = m * 2.0 ** e
                if f != 1.0:
                    info["factor"] = f
                top = float(np.abs(weight).max()) or 1.0
                err = float(np.abs(q - weight).max())
                zeroed = int(np.count_nonzero((q == 0) & (weight != 0)))
                info.update(exponent=e, max_error=err / top, zeroed=zeroed)
                approx.append(f"{w}: weights to 8-bit mantissa x 2^{e}, max error "
                              f"{err / top:.2%} of max |w|"
                              + (f", {plural(zeroed, 'weight')} rounded to 0" if zeroed else ""))
                node.params["weight"] = q / f
                if "bias" in node.params:  # it reaches the neurons times the carriers after W
                    b = k * f_out * np.asarray(node.params["bias"], np.float64)
                    bq = np.rint(b)
                    info["bias_max_error"] = float(np.abs(bq - b).max(initial=0.0))
                    if np.any(bq != b):
                        approx.append(f"{w}: bias rounded to integer a_in units (max error "
                                      f"{info['bias_max_error']:.3g} of 1)")
                    node.params["bias"] = bq / f_out
            else:
                node.params["weight"] = weight
                if "bias" in node.params:
                    node.params["bias"] = k * np.asarray(node.params["bias"], np.float64)
            rec_syn[w] = info

        rec_links = []
        for (src, dst, port, delay, kind), reached in links.items():
            k = k_of[reached[0][0]]
            for j, f in reached:
                if split_weights(np.array([_snap(k * f)])) is None:
                    raise _refuse(dst, graph[dst].op, f"neuron {src!r}'s spikes reach {j!r} "
                                  f"through carriers of factor {f:g} without weights; in a_in "
                                  f"units that is {k * f:g}, not an integer of 8 bits times 2^e")
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
