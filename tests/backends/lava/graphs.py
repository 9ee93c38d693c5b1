"""Deploy-style graphs for the Lava backend tests, calibrated to fire at 5-40 %.

Each builder returns a verified graph with seeded float weights; :func:`calibrate` then moves
every neuron's threshold (in topological order) so that it fires at about 20 % of its steps on
a calibration batch. :func:`min_margin` is the smallest ``|H - v_th|`` over all neurons and steps:
Lava computes in a different order (and its Conv in float32), so an exact spike comparison is
only meaningful where no membrane value sits within rounding of its threshold.
"""
from __future__ import annotations

import numpy as np

from snnc.ir import Graph, verify
from snnc.ir.interpret import Interpreter

CHW = (2, 8, 8)


def _conv(g, rng, name, cin, cout, k, *, bias=True, gain=1.5, **attrs):
    w = rng.normal(0, gain / np.sqrt(cin // attrs.get("groups", 1) * k * k),
                   (cout, cin // attrs.get("groups", 1), k, k))
    p = {"weight": w}
    if bias:
        p["bias"] = rng.normal(0, 0.1, cout)
    g.add_node(name, "Conv2d", {"in_channels": cin, "out_channels": cout, "kernel": k,
                                "bias": bias, **attrs}, p)


def _linear(g, rng, name, fin, fout, *, bias=True, gain=1.5):
    p = {"weight": rng.normal(0, gain / np.sqrt(fin), (fout, fin))}
    if bias:
        p["bias"] = rng.normal(0, 0.1, fout)
    g.add_node(name, "Linear", {"in_features": fin, "out_features": fout, "bias": bias}, p)


def _lif(g, name, beta=0.5, **attrs):
    g.add_node(name, "LIF", {"beta": beta, "v_th": 0.5, **attrs})


def _chain(g, *names, delay=0):
    for a, b in zip(names, names[1:]):
        g.add_edge(a, b, delay=delay)


def conv_chain(seed=0) -> Graph:
    """Input (2,8,8) -> Conv(+b) -> LIF -> Conv(+b, stride 2) -> LIF -> GAP -> Linear -> Output."""
    rng = np.random.default_rng(seed)
    g = Graph({"name": "conv-chain", "T": 4})
    g.add_node("in", "Input", {"shape": CHW})
    _conv(g, rng, "c1", 2, 4, 3, padding=1)
    _lif(g, "l1", beta=0.6)
    _conv(g, rng, "c2", 4, 6, 3, padding=1, stride=2)
    _lif(g, "l2", beta=0.8)
    g.add_node("gap", "GlobalAvgPool")
    _linear(g, rng, "fc", 6, 3)
    g.add_node("out", "Output")
    _chain(g, "in", "c1", "l1", "c2", "l2", "gap", "fc", "out")
    return verify(g)


def skip_delays(seed=0) -> Graph:
    """Forward delays and skip paths of different depth merging into one LIF ``l3``:

    in -> c1 -> l1 -> c2 -> l2 -> c3 -> l3, plus l1 -> sk (1x1 conv) -@1-> l3,
    l1 -@2-> pool (AvgPool 3/1/1) -> l3, l2 -@1-> c2b -> l2b -> ... and in -> c0 -@1-> l2 (a second
    input path, one layer deeper); l3 -> GAP -> Linear -> Output.
    """
    rng = np.random.default_rng(seed)
    g = Graph({"name": "skip-delays", "T": 5})
    g.add_node("in", "Input", {"shape": CHW})
    _conv(g, rng, "c1", 2, 4, 3, padding=1)
    _lif(g, "l1", beta=0.7)
    _conv(g, rng, "c2", 4, 4, 3, padding=1)
    _lif(g, "l2", beta=0.5)
    _conv(g, rng, "c3", 4, 4, 3, padding=1, bias=False)
    _lif(g, "l3", beta=0.9, alpha=0.8)
    _conv(g, rng, "sk", 4, 4, 1)
    g.add_node("pool", "AvgPool2d", {"kernel": 3, "stride": 1, "padding": 1})
    _conv(g, rng, "c0", 2, 4, 3, padding=1, gain=0.5)
    g.add_node("gap", "GlobalAvgPool")
    _linear(g, rng, "fc", 4, 3)
    g.add_node("out", "Output")
    _chain(g, "in", "c1", "l1", "c2", "l2", "c3", "l3", "gap", "fc", "out")
    g.add_edge("l1", "sk")
    g.add_edge("sk", "l3", delay=1)
    g.add_edge("l1", "pool", delay=2)
    g.add_edge("pool", "l3")
    g.add_edge("in", "c0")
    g.add_edge("c0", "l2", delay=1)
    return verify(g)


def mlp(seed=0) -> Graph:
    """Input (12,) -> Linear -> LIF -> Linear -> LIF (v_rest, v_reset != 0) -> Linear -> Output."""
    rng = np.random.default_rng(seed)
    g = Graph({"name": "mlp", "T": 6})
    g.add_node("in", "Input", {"shape": (12,)})
    _linear(g, rng, "fc1", 12, 16)
    _lif(g, "l1", beta=0.75)
    _linear(g, rng, "fc2", 16, 10)
    _lif(g, "l2", beta=0.9, alpha=0.5, v_reset=-0.2, v_rest=0.1)
    _linear(g, rng, "fc3", 10, 4)
    g.add_node("out", "Output")
    _chain(g, "in", "fc1", "l1", "fc2", "l2", "fc3", "out")
    return verify(g)


def recurrent(seed=0) -> Graph:
    """A balanceable backward cycle: l1 -> c2 -> l2 -> cb -@2 (backward)-> l1 (2 hops, delay 2),
    and a direct backward edge l2 -@1-> l1 (a port connection in Lava); l2 -> Flatten -> Linear
    -> Vote(2) -> Output."""
    rng = np.random.default_rng(seed)
    g = Graph({"name": "recurrent", "T": 5})
    g.add_node("in", "Input", {"shape": CHW})
    _conv(g, rng, "c1", 2, 3, 3, padding=1)
    _lif(g, "l1", beta=0.8)
    _conv(g, rng, "c2", 3, 3, 3, padding=1)
    _lif(g, "l2", beta=0.6)
    _conv(g, rng, "cb", 3, 3, 1, gain=0.8)
    g.add_node("flat", "Flatten")
    _linear(g, rng, "fc", 3 * 8 * 8, 4)
    g.add_node("vote", "Vote", {"classes": 2})
    g.add_node("out", "Output")
    _chain(g, "in", "c1", "l1", "c2", "l2", "flat", "fc", "vote", "out")
    g.add_edge("l2", "cb")
    g.add_edge("cb", "l1", delay=2, kind="backward")
    g.add_edge("l2", "l1", delay=1, kind="backward")
    return verify(g)


def mixed(seed=0) -> Graph:
    """Pooling, Concat, BatchNorm, Scale and a vector neuron between spiking layers:
    l1 -> AvgPool2 -> Conv(pad 1) -> BN -> cat:0, l1 -> AvgPool2 -> cat:1 -> l2 (4,4,4... );
    l2 -> Flatten -> Linear -> Scale -> l3 (vector) -> Linear -> Vote -> l4 -> Output."""
    rng = np.random.default_rng(seed)
    g = Graph({"name": "mixed", "T": 4})
    g.add_node("in", "Input", {"shape": CHW})
    _conv(g, rng, "c1", 2, 3, 3, padding=1)
    _lif(g, "l1", beta=0.5)
    g.add_node("p1", "AvgPool2d", {"kernel": 2})
    _conv(g, rng, "c2", 3, 3, 3, padding=1, groups=3)
    p = {"weight": rng.uniform(0.5, 1.5, 3), "bias": rng.normal(0, 0.1, 3),
         "running_mean": rng.normal(0, 0.1, 3), "running_var": rng.uniform(0.5, 1.5, 3)}
    g.add_node("bn", "BatchNorm2d", {"num_features": 3}, p)
    g.add_node("p2", "AvgPool2d", {"kernel": 2})
    g.add_node("cat", "Concat")
    _lif(g, "l2", beta=0.7)
    g.add_node("flat", "Flatten")
    _linear(g, rng, "fc1", 6 * 4 * 4, 10)
    g.add_node("sc", "Scale", {"scale": 0.5})
    _lif(g, "l3", beta=0.6)
    _linear(g, rng, "fc2", 10, 8)
    g.add_node("vote", "Vote", {"classes": 4})
    _lif(g, "l4", beta=1.0)
    g.add_node("out", "Output")
    _chain(g, "in", "c1", "l1", "p1", "c2", "bn")
    g.add_edge("bn", "cat", port=0)
    g.add_edge("l1", "p2")
    g.add_edge("p2", "cat", port=1)
    _chain(g, "cat", "l2", "flat", "fc1", "sc", "l3", "fc2", "vote", "l4", "out")
    return verify(g)


BUILDERS = {"conv_chain": conv_chain, "skip_delays": skip_delays, "mlp": mlp,
            "recurrent": recurrent, "mixed": mixed}


def sample(graph: Graph, batch: int = 3, seed: int = 0) -> np.ndarray:
    """A direct-encoded batch ``[B, *input_shape]`` in [0, 1)."""
    return np.random.default_rng(seed).uniform(0.0, 1.0, (batch,) + tuple(graph.input_node.shape))


class _Membranes(Interpreter):
    """Records ``H`` (before the reset) of every neuron; for an ALIF, ``H - adapt a``, so that
    ``|H - v_th|`` is its distance to its threshold too."""

    def op_alif(self, node, inp, t):
        a = node.attrs
        v = self.state[node.name].get("v")
        if v is None:
            v = np.full_like(inp, a["v_rest"])
        inc = self.state[node.name].get("a")
        inc = np.zeros_like(inp) if inc is None else inc
        h = a["v_rest"] + a["beta"] * (v - a["v_rest"]) + a["alpha"] * inp
        self.h.setdefault(node.name, []).append(h - a["adapt"] * inc)
        return super().op_alif(node, inp, t)

    def op_lif(self, node, inp, t):
        a = node.attrs
        v = self.state[node.name].get("v")
        if v is None:
            v = np.full_like(inp, a["v_rest"])
        h = a["v_rest"] + a["beta"] * (v - a["v_rest"]) + a["alpha"] * inp
        self.h.setdefault(node.name, []).append(h)
        return super().op_lif(node, inp, t)

    def run(self, x, T=None):
        self.h = {}
        return super().run(x, T)


def membranes(graph: Graph, x) -> tuple[dict, dict]:
    """``(trace.outputs, H)``: every node's output and every neuron's ``H`` ``[T, B, ...]``."""
    it = _Membranes(graph)
    trace = it.run(x)
    return trace.outputs, {k: np.stack(v) for k, v in it.h.items()}


def min_margin(graph: Graph, x) -> float:
    _, h = membranes(graph, x)
    return float(min(np.abs(v - graph[k].attrs["v_th"]).min() for k, v in h.items()))


def calibrate(graph: Graph, x, rate: float = 0.2) -> Graph:
    """Set each neuron's ``v_th`` (in topological order) so it fires at about ``rate`` on ``x``:
    bisection on the threshold, thresholds kept >= v_reset and away from observed ``H``."""
    for name in graph.topological_order():
        node = graph[name]
        if node.op not in ("LIF", "ALIF"):
            continue
        lo, hi = node.attrs["v_reset"], node.attrs["v_reset"] + 8.0
        for _ in range(40):
            node.attrs["v_th"] = (lo + hi) / 2
            outs, _ = membranes(graph, x)
            if outs[name].mean() > rate:
                lo = node.attrs["v_th"]
            else:
                hi = node.attrs["v_th"]
        node.attrs["v_th"] = float(round((lo + hi) / 2, 6))
    return graph


def quick_calibrate(graph: Graph, x, rate: float = 0.2) -> Graph:
    """:func:`calibrate` in one interpreter run per neuron (for large graphs): each ``v_th`` (in
    topological order, hard reset) the ``1 - rate`` quantile of its ``H`` with the thresholds
    before it set; rates come out near ``rate``, not at it."""
    for name in graph.topological_order():
        node = graph[name]
        if node.op not in ("LIF", "ALIF"):
            continue
        node.attrs["reset"] = "hard"
        _, h = membranes(graph, x)
        th = float(np.quantile(h[name], 1.0 - rate))
        node.attrs["v_th"] = round(max(th, node.attrs["v_reset"]) + 1e-4, 6)
    return graph


def as_alif(graph: Graph, names=None, rho: float = 0.55, adapt: float = 0.37) -> Graph:
    """``graph`` with its LIF nodes ``names`` (default all) made ALIF (SpikeDHS eq. 5-8), in place."""
    for n in list(graph.nodes_of("LIF")):
        if names is None or n.name in names:
            n.op = "ALIF"
            n.attrs = {**n.attrs, "rho": rho, "adapt": adapt}
    return verify(graph)


def build(name: str, seed: int = 0, alif=None) -> tuple[Graph, np.ndarray]:
    """A calibrated graph and a fresh test batch (3 samples) with margin > 1e-6; ``alif``: LIF
    names to make ALIF first (``"all"``: every one)."""
    g = BUILDERS[name](seed)
    if alif is not None:
        as_alif(g, None if alif == "all" else alif)
    calibrate(g, sample(g, batch=8, seed=100 + seed))
    return g, safe_input(g, name)


def safe_input(g: Graph, what: str = "the graph") -> np.ndarray:
    """The first of 20 seeded test batches (3 samples) with margin > 1e-6."""
    for s in range(20):
        x = sample(g, batch=3, seed=s)
        if min_margin(g, x) > 1e-6:
            return x
    raise AssertionError(f"no test input with a safe margin for {what}")
