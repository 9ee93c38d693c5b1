"""The ``lava`` energy target counts synaptic events exactly: every AC layer's SOPs equal a brute
force that takes each spike of an interpreter run and counts the synapses of the effective layer
it reaches (one-hot through the weightless ops between the spikes and the layer, simulated step
by step with all-positive structural weights, padding taps contributing nothing)."""
from __future__ import annotations

import numpy as np
import pytest

from snnc.backends.energy import build_report, rates_from_trace
from snnc.backends.energy.rates import Rates
from snnc.errors import EnergyError
from snnc.ir import Graph, run, verify
from snnc.ir.interpret import avg_pool2d, conv2d
from snnc.passes.targets import prepare
from snnc.testing.random_graph import random_graph, random_input

WEIGHTLESS = {"AvgPool2d", "GlobalAvgPool", "Flatten", "Dropout", "Concat", "Scale", "Vote",
              "Upsample"}
SPIKING = {"LIF", "ALIF", "PLIF"}


def _structural(node, ports: dict[int, np.ndarray], in_shapes: dict[int, tuple]) -> np.ndarray:
    """``node`` applied to ``[N, ...]`` non-negative inputs with every weight 1 (no bias)."""
    a, op = node.attrs, node.op
    if op == "Concat":
        n = next(iter(ports.values())).shape[0]
        return np.concatenate([ports.get(p, np.zeros((n,) + in_shapes[p]))
                               for p in sorted(in_shapes)], axis=1)
    x = ports[0]
    if op == "Conv2d":
        w = np.ones((a["out_channels"], a["in_channels"] // a["groups"], a["kernel"], a["kernel"]))
        return conv2d(x, w, None, a["stride"], a["padding"], a["groups"])
    if op == "Linear":
        return np.repeat(x.sum(axis=1, keepdims=True), a["out_features"], axis=1)
    if op == "AvgPool2d":
        return avg_pool2d(x, a["kernel"], a["stride"], a["padding"])
    if op == "GlobalAvgPool":
        return x.mean(axis=(2, 3))
    if op == "Flatten":
        return x.reshape(x.shape[0], -1)
    if op == "Vote":
        return x.reshape(x.shape[0], a["classes"], -1).mean(axis=2)
    if op == "Upsample":
        return x.repeat(a["scale"], axis=2).repeat(a["scale"], axis=3)
    assert op in ("Dropout", "Scale"), op
    return x


def brute_force_sops(graph: Graph, outputs: dict, layer: str, T: int, samples: int) -> float:
    """Synaptic events per sample of ``layer``: for every spike of every spiking source, the
    (arrival step, output element) pairs of ``layer`` it reaches within the run."""
    up, stack = set(), [e.src for e in graph.in_edges(layer)]
    while stack:  # the weightless nodes on paths into the layer
        n = stack.pop()
        if n in up or graph[n].op not in WEIGHTLESS:
            continue
        up.add(n)
        stack.extend(e.src for e in graph.in_edges(n))
    sources = {e.src for n in up | {layer} for e in graph.in_edges(n) if e.src not in up}
    order = [n for n in graph.topological_order() if n in up or n == layer]
    total = 0.0
    for s in sources:
        assert graph[s].op in SPIKING, (layer, s)  # a spike-fed layer's sources all spike
        shape = tuple(graph[s].shape)
        size = int(np.prod(shape))
        onehot = np.eye(size).reshape((size,) + shape)
        out: dict[tuple[str, int], np.ndarray] = {}
        reach = np.zeros((T, size))  # reach[a, i]: synapses element i reaches at delay a
        for t in range(T):
            for n in order:
                ports, shapes = {}, {}
                for e in graph.in_edges(n):
                    shapes[e.port] = tuple(graph[e.src].shape)
                    v = None
                    if e.src == s and t == e.delay:
                        v = onehot
                    elif e.src in up and t - e.delay >= 0:
                        v = out.get((e.src, t - e.delay))
                    if v is not None:
                        ports[e.port] = ports.get(e.port, 0) + v
                if not ports or (graph[n].op != "Concat" and 0 not in ports):
                    continue
                y = _structural(graph[n], ports, shapes)
                if n in up:
                    out[(n, t)] = y
                if n == layer:
                    reach[t] = (y.reshape(size, -1) > 0).sum(axis=1)
        cum = np.cumsum(reach, axis=0)  # a spike at step t reaches delays 0 .. T-1-t
        spikes = np.asarray(outputs[s])
        for t, _b, *idx in np.argwhere(spikes > 0):  # event by event
            total += spikes[(t, _b, *idx)] * cum[T - 1 - t, np.ravel_multi_index(idx, shape)]
    return total / samples


def _check_every_layer(g: Graph, x: np.ndarray):
    g = prepare(g, "lava")[0]
    trace = run(g, x)
    T, B = trace.output.shape[0], trace.output.shape[1]
    rep = build_report(g, rates_from_trace(g, trace.outputs, backend="interpreter"),
                       target="lava", encoding="direct")  # analog input every step
    checked = 0
    for r in rep.layers:
        if r.input != "spikes":
            assert r.count_as == "MAC"
            continue
        want = brute_force_sops(g, trace.outputs, r.name, T, B)
        if r.count_as == "folded":
            assert r.sops == 0 and r.folded_into and r.input_rate is None
            for d in r.folded_into:  # every path ends in a spike-fed synaptic layer
                assert next(x for x in rep.layers if x.name == d).input == "spikes"
        else:
            assert r.count_as == "AC"
            assert r.sops == pytest.approx(want, rel=1e-12, abs=1e-9), r.name
            checked += want > 0
    assert rep.to_dict()["counting"]["ac"] == "synaptic_events"
    return rep, checked


@pytest.mark.parametrize("seed", range(8))
def test_random_graph_events_equal_brute_force(seed):
    g = random_graph(seed, max_nodes=40)
    rep, checked = _check_every_layer(g, random_input(g, seed=seed))
    assert checked >= 1


def _small_preset(name):
    from snnc import zoo
    from snnc.frontend import lower

    from tests.zoo.test_presets_small import reduced
    return verify(lower(reduced(zoo.load(name)), seed=0))


@pytest.mark.parametrize("name", ["tanet-tiny", "snasnet-bw-cifar10"])
def test_small_presets_events_equal_brute_force(name):
    g = _small_preset(name)
    for node in g:  # untrained deep layers barely fire: a low threshold makes every layer count
        if node.op == "LIF":
            node.attrs["v_th"] = 0.03  # the TANet LIF charges by X / tau (STTS eq. 1)
    x = np.random.default_rng(1).normal(0.5, 1.5, (3, 1, 8, 8))
    rep, checked = _check_every_layer(g, x)
    assert checked >= max(10, 0.9 * sum(r.count_as == "AC" for r in rep.layers))


def _pool_net(pool: str, padding: int = 1, tail: str = "Conv2d") -> Graph:
    """in -> lif -> pool -> (Conv 3x3 pad ``padding`` | Flatten -> Linear) -> out, 2x4x4."""
    g = Graph({"name": "pool", "T": 2, "classes": 3})
    g.add_node("in", "Input", {"shape": (2, 4, 4)})
    g.add_node("lif", "LIF", {"beta": 0.5, "v_th": 0.5})
    if pool == "GlobalAvgPool":
        g.add_node("pool", "GlobalAvgPool")
    else:
        g.add_node("pool", "AvgPool2d", {"kernel": 2})
    prev = "pool"
    if tail == "Conv2d":
        g.add_node("c", "Conv2d", {"in_channels": 2, "out_channels": 3, "kernel": 3,
                                   "padding": padding}, {"weight": np.ones((3, 2, 3, 3))})
        g.add_node("gap", "GlobalAvgPool")
        g.add_edge("c", "gap")
        last = "gap"
    else:
        if pool != "GlobalAvgPool":
            g.add_node("flat", "Flatten")
            g.add_edge("pool", "flat")
            prev = "flat"
        n = 2 if pool == "GlobalAvgPool" else 8
        g.add_node("c", "Linear", {"in_features": n, "out_features": 3},
                   {"weight": np.ones((3, n)), "bias": np.zeros(3)})
        last = "c"
    g.add_node("out", "Output")
    for a, b in [("in", "lif"), ("lif", "pool"), (prev, "c"), (last, "out")]:
        g.add_edge(a, b)
    return verify(g)


def _all_spikes(g: Graph, T: int = 2, samples: int = 1) -> Rates:
    shape = tuple(g["lif"].shape)
    ones = np.ones((T, samples) + shape)
    return rates_from_trace(g, {"lif": ones}, backend="hand")


@pytest.mark.parametrize("pool, tail, per_spike", [
    # GAP -> Linear(2 -> 3): every spike reaches the 3 outputs (the rate-times-MACs count
    # carries the rate through the pool and sees 2 x 3 synapses: 16x fewer ACs)
    ("GlobalAvgPool", "Linear", 3),
    # AvgPool 2 -> Flatten -> Linear(8 -> 3): 3 each
    ("AvgPool2d", "Linear", 3),
    # AvgPool 2 on 4x4 -> 2x2 -> conv 3x3 pad 1 -> 3x2x2: every pooled pixel of a 2x2 map
    # reaches all 4 output pixels of each of the 3 channels: 12 per spike
    ("AvgPool2d", "Conv2d", 12),
])
def test_hand_counted_fan_out_through_pooling(pool, tail, per_spike):
    g = _pool_net(pool, tail=tail)
    rep = build_report(g, _all_spikes(g), target="lava")
    r = {x.name: x for x in rep.layers}
    spikes = 2 * 2 * 4 * 4  # T x channels x pixels, every neuron every step
    assert r["c"].sops == spikes * per_spike and r["c"].count_as == "AC"
    assert r["pool"].count_as == "folded" and r["pool"].folded_into == ("c",)
    assert r["pool"].sops == r["pool"].energy_pj == 0
    assert r["c"].input_rate == pytest.approx(1.0)
    paper = {x.name: x for x in build_report(g, _all_spikes(g)).layers}
    assert paper["c"].sops == 2 * paper["c"].macs_per_step  # rate 1 x T x MACs, pool in a row
    assert paper["pool"].count_as == "AC" and paper["pool"].sops > 0


def test_padding_taps_are_no_events():
    """A 3x3 conv with padding 1 on a 1x4x4 spike map: a corner spike reaches 4 outputs, a
    centre spike 9. The paper's rate x T x MACs counts 9 taps for every spike (2.25x here); the
    layer-mean rate x synapses counted 100/16 = 6.25."""
    g = Graph({"name": "pad", "T": 1, "classes": 16})
    g.add_node("in", "Input", {"shape": (1, 4, 4)})
    g.add_node("lif", "LIF", {"beta": 0.5})
    g.add_node("c", "Conv2d", {"in_channels": 1, "out_channels": 1, "kernel": 3, "padding": 1},
               {"weight": np.ones((1, 1, 3, 3))})
    g.add_node("flat", "Flatten")
    g.add_node("out", "Output")
    for a, b in [("in", "lif"), ("lif", "c"), ("c", "flat"), ("flat", "out")]:
        g.add_edge(a, b)
    verify(g)
    for pixel, reach in [((0, 0), 4), ((1, 2), 9), ((3, 1), 6)]:
        spikes = np.zeros((1, 1, 1, 4, 4))
        spikes[(0, 0, 0) + pixel] = 1
        rates = rates_from_trace(g, {"lif": spikes})
        assert build_report(g, rates, target="lava").layers[0].sops == reach
        assert build_report(g, rates, target="paper").layers[0].sops == 9


def test_pool_feeding_a_neuron_is_its_own_layer():
    g = _pool_net("AvgPool2d")
    g.add_node("lif2", "LIF", {"beta": 0.5})
    g.add_node("c2", "Linear", {"in_features": 8, "out_features": 3},
               {"weight": np.ones((3, 8)), "bias": np.zeros(3)})
    g.add_node("flat2", "Flatten")
    for a, b in [("pool", "lif2"), ("lif2", "flat2"), ("flat2", "c2"), ("c2", "out")]:
        g.add_edge(a, b)
    verify(g)
    ones = np.ones((2, 1, 2, 2, 2))
    rates = rates_from_trace(g, {"lif": np.ones((2, 1, 2, 4, 4)), "lif2": ones})
    r = {x.name: x for x in build_report(g, rates, target="lava").layers}
    # the pool is computed for lif2: a layer of its own (each spike reaches 1 pooled pixel) ...
    assert r["pool"].count_as == "AC" and r["pool"].sops == 2 * 32 and not r["pool"].folded_into
    # ... and the conv still takes the spikes through its folded synapses
    assert r["c"].sops == 2 * 32 * 12
    assert r["gap"].input == "dense"  # after the conv

def test_delayed_paths_are_separate_synapses_and_same_delay_paths_merge():
    """lif -> c directly and lif -> pool(k=1) -> c: the same delay shares the synapses (each
    spike reaches c's 1x1 fan-out once); with delay 1 on one path they are two delay lines, and
    the spikes of the last step cannot use the delayed one."""
    def net(delay):
        g = Graph({"name": "d", "T": 3, "classes": 2})
        g.add_node("in", "Input", {"shape": (1, 2, 2)})
        g.add_node("lif", "LIF", {"beta": 0.5})
        g.add_node("pool", "AvgPool2d", {"kernel": 1})
        g.add_node("c", "Conv2d", {"in_channels": 1, "out_channels": 2, "kernel": 1},
                   {"weight": np.ones((2, 1, 1, 1))})
        g.add_node("gap", "GlobalAvgPool")
        g.add_node("out", "Output")
        for a, b in [("in", "lif"), ("lif", "pool"), ("c", "gap"), ("gap", "out")]:
            g.add_edge(a, b)
        g.add_edge("lif", "c")
        g.add_edge("pool", "c", delay=delay)
        return verify(g)

    for delay, per_step_reach in [(0, [2, 2, 2]), (1, [4, 4, 2])]:
        g = net(delay)
        rates = rates_from_trace(g, {"lif": np.ones((3, 1, 1, 2, 2))})
        r = {x.name: x for x in build_report(g, rates, target="lava").layers}
        assert r["c"].sops == 4 * sum(per_step_reach), delay


def test_lava_target_needs_per_element_counts():
    g = _pool_net("GlobalAvgPool", tail="Linear")
    no_counts = Rates(2, 1, {"lif": np.ones(2)}, "hand")
    with pytest.raises(EnergyError, match="per-element spike counts of node 'lif'"):
        build_report(g, no_counts, target="lava")
    assert build_report(g, no_counts, target="paper").layers  # the paper's rate formula


def test_upsample_concat_padded_pool_vote_equal_brute_force():
    """The weightless ops random graphs lack (Upsample, Concat, a padded strided pool, Vote,
    GlobalAvgPool before a Concat) between spikes and layers, checked against the brute force."""
    rng = np.random.default_rng(3)
    g = Graph({"name": "mix", "T": 3, "classes": 2})
    g.add_node("in", "Input", {"shape": (2, 6, 6)})
    g.add_node("lif", "LIF", {"beta": 0.5, "v_th": 0.3})
    g.add_node("down", "AvgPool2d", {"kernel": 3, "stride": 2, "padding": 1})
    g.add_node("up", "Upsample", {"scale": 2})
    g.add_node("cat", "Concat")
    g.add_node("c", "Conv2d", {"in_channels": 4, "out_channels": 3, "kernel": 3, "padding": 1,
                               "stride": 2}, {"weight": rng.normal(0, 1, (3, 4, 3, 3))})
    g.add_node("lif2", "LIF", {"beta": 0.5, "v_th": 0.3})
    g.add_node("gap", "GlobalAvgPool")
    g.add_node("gap2", "GlobalAvgPool")
    g.add_node("cat2", "Concat")
    g.add_node("vote", "Vote", {"classes": 1})
    g.add_node("flat", "Flatten")
    g.add_node("fc", "Linear", {"in_features": 5, "out_features": 2},
               {"weight": rng.normal(0, 1, (2, 5)), "bias": np.zeros(2)})
    g.add_node("fc2", "Linear", {"in_features": 1, "out_features": 2},
               {"weight": rng.normal(0, 1, (2, 1)), "bias": np.zeros(2)})
    g.add_node("out", "Output")
    for a, b in [("in", "lif"), ("lif", "down"), ("down", "up"), ("c", "lif2"), ("lif2", "gap"),
                 ("lif", "gap2"), ("fc", "out"), ("flat", "vote"), ("vote", "fc2"),
                 ("fc2", "out"), ("cat2", "fc")]:
        g.add_edge(a, b)
    g.add_edge("lif", "cat", port=0)
    g.add_edge("up", "cat", port=1, delay=1)
    g.add_edge("cat", "c")
    g.add_edge("lif", "cat", port=0, delay=2)  # a second, delayed path into port 0
    g.add_edge("gap", "cat2", port=0)
    g.add_edge("gap2", "cat2", port=1)
    g.add_edge("lif2", "flat")
    verify(g)
    x = rng.normal(0.5, 1.0, (3, 2, 2, 6, 6))
    rep, checked = _check_every_layer(g, x)
    r = {x.name: x for x in rep.layers}
    assert r["down"].count_as == "folded" and r["down"].folded_into == ("c",)
    assert checked == sum(x.count_as == "AC" for x in rep.layers) == 3  # c, fc, fc2
