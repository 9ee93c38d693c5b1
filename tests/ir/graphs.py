"""Hand-built example graphs for IR tests (reusable by pass and backend tests).

Each builder returns an unverified :class:`Graph` with seeded random weights, scaled so that the
neurons fire on :func:`sample_input`. ``EXAMPLES`` maps a name to every builder, so a test can
loop over all of them. :func:`assert_graphs_equal` compares two graphs exactly, types included
(:func:`assert_same` does it for plain values).
"""
from __future__ import annotations

import numpy as np

from snnc.ir import Graph


def _conv(rng, name, g, cin, cout, k, dtype, groups=1, bias=False, **attrs):
    w = rng.normal(0, 2.0 / np.sqrt(cin // groups * k * k), (cout, cin // groups, k, k))
    params = {"weight": w.astype(dtype)}
    if bias:
        params["bias"] = rng.normal(0, 0.1, cout).astype(dtype)
    return g.add_node(name, "Conv2d", {"in_channels": cin, "out_channels": cout, "kernel": k,
                                       "groups": groups, "bias": bias, **attrs}, params)


def _linear(rng, name, g, fin, fout, dtype, bias=True):
    params = {"weight": rng.normal(0, 2.0 / np.sqrt(fin), (fout, fin)).astype(dtype)}
    if bias:
        params["bias"] = rng.normal(0, 0.1, fout).astype(dtype)
    return g.add_node(name, "Linear", {"in_features": fin, "out_features": fout, "bias": bias},
                      params)


def _bn(rng, name, g, c, dtype):
    p = {"weight": rng.uniform(0.5, 1.5, c), "bias": rng.normal(0, 0.1, c),
         "running_mean": rng.normal(0, 0.1, c), "running_var": rng.uniform(0.5, 1.5, c)}
    return g.add_node(name, "BatchNorm2d", {"num_features": c, "eps": 1e-5},
                      {k: v.astype(dtype) for k, v in p.items()})


def _chain(g, *names):
    for a, b in zip(names, names[1:]):
        g.add_edge(a, b)


def conv_net(seed: int = 0, dtype=np.float64) -> Graph:
    """Input (2,8,8) -> Conv -> BN -> LIF -> AvgPool -> grouped strided Conv(+bias) -> LIF(soft)
    -> Flatten -> Dropout -> Linear -> IF -> Vote(2) -> Output. Feed-forward, no delays."""
    rng = np.random.default_rng(seed)
    g = Graph({"name": "conv-net", "T": 4, "classes": 2, "genome_id": "test-conv-net",
               "encoding": "direct", "input_shape": (2, 8, 8)})
    g.add_node("in", "Input", {"shape": (2, 8, 8)}, loc="1:1")
    _conv(rng, "c1.conv", g, 2, 4, 3, dtype, padding=1).loc = "3:1"
    _bn(rng, "c1.bn", g, 4, dtype)
    g.add_node("c1.lif", "LIF", {"beta": 0.5, "alpha": 1.0, "v_th": 0.5})
    g.add_node("c2.pool", "AvgPool2d", {"kernel": 2})
    _conv(rng, "c2.conv", g, 4, 6, 3, dtype, groups=2, bias=True, stride=2, padding=1).loc = "4:1"
    g.add_node("c2.lif", "LIF", {"beta": 0.75, "v_th": 0.4, "reset": "soft",
                                 "surrogate": "sigmoid"})
    g.add_node("head.flat", "Flatten")
    g.add_node("head.drop", "Dropout", {"p": 0.2})
    _linear(rng, "head.fc", g, 24, 8, dtype)
    g.add_node("head.lif", "LIF", {"beta": 1.0, "v_th": 0.3})
    g.add_node("head.vote", "Vote", {"classes": 2})
    g.add_node("out", "Output")
    _chain(g, "in", "c1.conv", "c1.bn", "c1.lif", "c2.pool", "c2.conv", "c2.lif", "head.flat",
           "head.drop", "head.fc", "head.lif", "head.vote", "out")
    return g


def recurrent_net(seed: int = 0, dtype=np.float64) -> Graph:
    """Input (3,6,6) -> a.conv -> a.lif -> b.conv -> b.bn -> b.lif, with a backward edge
    b.lif -> a.lif @1, Concat(b.lif, a.lif @2) -> GAP -> two Linears (one read @1) -> Scale(0.5)
    sink -> Output. Exercises delays, a backward edge, ports and summed inputs."""
    rng = np.random.default_rng(seed)
    g = Graph({"name": "recurrent-net", "T": 5, "classes": 3, "genome_id": "test-recurrent-net",
               "passes": [], "stages": {"a": {"delay": None}, "b": [1, 2.5, True]}})
    g.add_node("in", "Input", {"shape": (3, 6, 6)})
    _conv(rng, "a.conv", g, 3, 4, 3, dtype, padding=1)
    g.add_node("a.lif", "LIF", {"beta": 0.6, "v_th": 0.5, "v_reset": -0.1})
    _conv(rng, "b.conv", g, 4, 4, 1, dtype, bias=True)
    _bn(rng, "b.bn", g, 4, dtype)
    g.add_node("b.lif", "LIF", {"beta": 0.9, "alpha": 0.5, "v_th": 0.3, "reset": "soft"})
    g.add_node("cat", "Concat")
    g.add_node("gap", "GlobalAvgPool")
    _linear(rng, "fc", g, 8, 3, dtype)
    _linear(rng, "fc_late", g, 8, 3, dtype, bias=False)
    g.add_node("sink", "Scale", {"scale": 0.5})
    g.add_node("out", "Output")
    _chain(g, "in", "a.conv", "a.lif", "b.conv", "b.bn", "b.lif")
    g.add_edge("b.lif", "a.lif", delay=1, kind="backward")
    g.add_edge("b.lif", "cat", port=0)
    g.add_edge("a.lif", "cat", port=1, delay=2)
    _chain(g, "cat", "gap", "fc", "sink", "out")
    g.add_edge("gap", "fc_late", delay=1)
    g.add_edge("fc_late", "sink")
    return g


def mlp(seed: int = 0, dtype=np.float32) -> Graph:
    """Input (6,) -> Linear -> LIF -> Linear -> LIF -> Output, float32 params by default."""
    rng = np.random.default_rng(seed)
    g = Graph({"name": "mlp", "T": 3, "classes": 4})
    g.add_node("in", "Input", {"shape": (6,)})
    _linear(rng, "fc1", g, 6, 10, dtype)
    g.add_node("lif1", "LIF", {"beta": 0.8, "v_th": 0.5})
    _linear(rng, "fc2", g, 10, 4, dtype)
    g.add_node("lif2", "LIF", {"beta": 0.8, "v_th": 0.5})
    g.add_node("out", "Output")
    _chain(g, "in", "fc1", "lif1", "fc2", "lif2", "out")
    return g


def backward_net(seed: int = 0, dtype=np.float64) -> Graph:
    """Input (2,8,8) -> a.conv -> a.bn -> a.lif (4,8,8) -> b.conv stride 2 -> b.lif (6,4,4) -> GAP
    -> Linear -> Output, with a global backward connection (BCNAS-SNN eq. 6) b.lif -@1-> bc.up
    (nearest x2) -> bc.conv 1x1 -> bc.bn -> a.lif."""
    rng = np.random.default_rng(seed)
    g = Graph({"name": "backward-net", "T": 4, "classes": 3})
    g.add_node("in", "Input", {"shape": (2, 8, 8)})
    _conv(rng, "a.conv", g, 2, 4, 3, dtype, padding=1)
    _bn(rng, "a.bn", g, 4, dtype)
    g.add_node("a.lif", "LIF", {"beta": 0.5, "v_th": 0.6})
    _conv(rng, "b.conv", g, 4, 6, 3, dtype, stride=2, padding=1)
    g.add_node("b.lif", "LIF", {"beta": 0.5, "v_th": 0.5})
    g.add_node("bc.up", "Upsample", {"scale": 2})
    _conv(rng, "bc.conv", g, 6, 4, 1, dtype)
    _bn(rng, "bc.bn", g, 4, dtype)
    g.add_node("gap", "GlobalAvgPool")
    _linear(rng, "fc", g, 6, 3, dtype)
    g.add_node("out", "Output")
    _chain(g, "in", "a.conv", "a.bn", "a.lif", "b.conv", "b.lif", "gap", "fc", "out")
    g.add_edge("b.lif", "bc.up", delay=1, kind="backward")
    _chain(g, "bc.up", "bc.conv", "bc.bn", "a.lif")
    return g


def add_backward_connection(g: Graph, seed: int = 0) -> Graph | None:
    """A copy of verified ``g`` with one global backward connection (BCNAS-SNN eq. 6) from a LIF
    node ``j`` to a LIF node ``i`` of ``k`` times its resolution (k >= 2): ``j -@1-> Upsample(k)
    -> 1x1 Conv2d -> BatchNorm2d -> i``; None when ``g`` has no such pair. Weights are small so that
    the connection nudges the target's firing rather than silencing or saturating it."""
    rng = np.random.default_rng(seed)
    lifs = [n for n in g if n.op == "LIF" and len(n.shape) == 3]
    pairs = [(j, i) for j in lifs for i in lifs
             if i.shape[1] % j.shape[1] == 0 and i.shape[1] // j.shape[1] >= 2
             and i.shape[2] == j.shape[2] * (i.shape[1] // j.shape[1])]
    if not pairs:
        return None
    j, i = pairs[int(rng.integers(len(pairs)))]
    g = g.copy()
    k = i.shape[1] // j.shape[1]
    g.add_node("bcx.up", "Upsample", {"scale": k})
    _conv(rng, "bcx.conv", g, j.shape[0], i.shape[0], 1, np.float64)
    g["bcx.conv"].params["weight"] = 0.3 * g["bcx.conv"].params["weight"]
    _bn(rng, "bcx.bn", g, i.shape[0], np.float64)
    g.add_edge(j.name, "bcx.up", delay=1, kind="backward")
    _chain(g, "bcx.up", "bcx.conv", "bcx.bn", i.name)
    return g


def neuron_zoo(seed: int = 0, dtype=np.float64) -> Graph:
    """Every neuron model: Input (2,6,6) -> conv -> ALIF (soft reset) -> conv -> PLIF (tied gain)
    with a backward edge PLIF -> ALIF @1; the second conv's analog output also feeds a ReLU, which
    feeds a PLIF (free gain) @1; PLIF, ReLU and PLIF -> GAP -> Linear -> IF -> Output."""
    rng = np.random.default_rng(seed)
    g = Graph({"name": "neuron-zoo", "T": 5, "classes": 3})
    g.add_node("in", "Input", {"shape": (2, 6, 6)})
    _conv(rng, "a.conv", g, 2, 4, 3, dtype, padding=1)
    g.add_node("a.alif", "ALIF", {"beta": 0.5, "v_th": 0.8, "rho": 0.3, "adapt": 0.4,
                                  "reset": "soft", "surrogate": "dspike", "surrogate_arg": 3.0})
    _conv(rng, "b.conv", g, 4, 4, 1, dtype, bias=True)
    g.add_node("b.plif", "PLIF", {"beta": 0.6, "v_th": 0.3, "decay_input": True,
                                  "v_reset": -0.05})
    g.add_node("c.relu", "ReLU")
    g.add_node("c.plif", "PLIF", {"beta": 0.9, "alpha": 0.7, "v_th": 0.5,
                                  "surrogate": "triangle", "surrogate_arg": 1.0})
    g.add_node("gap", "GlobalAvgPool")
    _linear(rng, "fc", g, 4, 3, dtype)
    g.add_node("head.if", "LIF", {"beta": 1.0, "v_th": 0.3})
    g.add_node("out", "Output")
    _chain(g, "in", "a.conv", "a.alif", "b.conv", "b.plif", "gap", "fc", "head.if", "out")
    g.add_edge("b.plif", "a.alif", delay=1, kind="backward")
    g.add_edge("b.conv", "c.relu")
    g.add_edge("c.relu", "c.plif", delay=1)
    g.add_edge("c.relu", "gap")
    g.add_edge("c.plif", "gap")
    return g


EXAMPLES = {"conv_net": conv_net, "recurrent_net": recurrent_net, "mlp": mlp,
            "backward_net": backward_net, "neuron_zoo": neuron_zoo}


def sample_input(graph: Graph, batch: int = 2, seed: int = 0) -> np.ndarray:
    """A direct-encoded batch ``[B, *input_shape]`` in [0, 2) (the graph must be verified)."""
    shape = tuple(graph.input_node.attrs["shape"])
    return np.random.default_rng(seed).uniform(0.0, 2.0, (batch,) + shape)


def assert_same(a, b, where: str = "value") -> None:
    """Equal values of the same types, recursively (nan equals nan)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} {a!r} != {type(b).__name__} {b!r}"
    if isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and a != a:
        assert b != b, f"{where}: nan != {b!r}"
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def assert_graphs_equal(a: Graph, b: Graph) -> None:
    """Exact equality: meta, node order, names, ops, attrs and shapes (types too), locs, params
    (dtype, shape, bits) and edges in order. ``node.meta`` is not compared."""
    assert_same(a.meta, b.meta, "meta")
    assert list(a.nodes) == list(b.nodes)
    for x, y in zip(a, b):
        assert (x.op, x.loc) == (y.op, y.loc), x.name
        assert_same(x.attrs, y.attrs, f"{x.name}.attrs")
        assert_same(x.shape, y.shape, f"{x.name}.shape")
        assert list(x.params) == list(y.params), x.name
        for k, p in x.params.items():
            q = y.params[k]
            assert p.dtype == q.dtype and p.shape == q.shape, f"{x.name}.{k}"
            assert p.tobytes() == q.tobytes(), f"{x.name}.{k} differs"
    assert a.edges == b.edges
