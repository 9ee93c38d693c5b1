"""snnc.testing.random_graph: deterministic, valid, varied, and its neurons spike."""
import numpy as np
import pytest

from snnc.ir import verify
from snnc.testing.random_graph import firing_rates, random_graph, random_input

from tests.passes.helpers import SEEDS, case, snapshot


def test_deterministic():
    assert snapshot(random_graph(7)) == snapshot(random_graph(7))
    assert snapshot(random_graph(7)) != snapshot(random_graph(8))
    g = case(7)[0]
    assert np.array_equal(random_input(g, seed=3), random_input(g, seed=3))


@pytest.mark.parametrize("seed", range(100))
def test_valid_and_small(seed):
    g = random_graph(seed, max_nodes=30)
    verify(g)
    assert len(g) <= 30
    c, h, w = g.input_node.shape
    assert 2 <= c <= 3 and 5 <= h <= 8 and 5 <= w <= 8
    assert g.output_node.shape == (g.meta["classes"],) and 3 <= g.meta["T"] <= 6
    assert all(p.dtype == np.float64 for n in g for p in n.params.values())


def test_max_nodes_too_small():
    with pytest.raises(ValueError, match="max_nodes=10 is too small"):
        random_graph(0, max_nodes=10)


def test_features_appear():
    graphs = [case(s)[0] for s in SEEDS]
    ops = {n.op for g in graphs for n in g}
    assert ops >= {"Input", "Output", "Conv2d", "BatchNorm2d", "LIF", "Scale", "AvgPool2d",
                   "GlobalAvgPool", "Flatten", "Dropout", "Linear", "Vote"}
    edges = [e for g in graphs for e in g.edges]
    assert {e.delay for e in edges} == {0, 1, 2}
    assert sum(e.kind == "backward" for e in edges) >= 10
    assert sum(bool(g.strongly_connected_components()) for g in graphs) >= 10
    convs = [n for g in graphs for n in g.nodes_of("Conv2d")]
    assert any(n.attrs["groups"] == n.attrs["in_channels"] > 1 for n in convs)  # depthwise
    assert any(1 < n.attrs["groups"] < n.attrs["in_channels"] for n in convs)   # grouped
    assert {n.attrs["bias"] for n in convs} == {True, False}
    lifs = [n.attrs for g in graphs for n in g.nodes_of("LIF")]
    assert {a["reset"] for a in lifs} == {"hard", "soft"}
    assert any(a["v_rest"] != 0 for a in lifs) and any(a["v_reset"] != 0 for a in lifs)
    assert any(a["beta"] == 1.0 for a in lifs) and any(a["alpha"] < 1 for a in lifs)
    bns = [n.params for g in graphs for n in g.nodes_of("BatchNorm2d")]
    assert all(not np.allclose(p["running_var"], 1) and not np.allclose(p["running_mean"], 0)
               for p in bns)
    assert sum(len(g.reaching(g.output_node.name)) < len(g) for g in graphs) >= 5  # dead nodes
    scales = [(g, n) for g in graphs for n in g.nodes_of("Scale")]
    assert all(n.attrs["scale"] == 1 / len(g.in_edges(n.name)) for g, n in scales)
    assert any(all(g[s].op == "LIF" for s in g.successors(n.name)) for g, n in scales)


def test_options_switch_features_off():
    for seed in range(20):
        g = random_graph(seed, delays=False, backward=False, separable=False, dropout=False,
                         dead=False, vote=False)
        assert all(e.delay == 0 for e in g.edges)
        assert not g.strongly_connected_components()
        assert not g.nodes_of("Dropout") and not g.nodes_of("Vote")
        assert g.reaching(g.output_node.name) == set(g.nodes)
        assert not any(n.attrs["groups"] == n.attrs["in_channels"] > 1
                       for n in g.nodes_of("Conv2d"))
        g = random_graph(seed, delays=False)
        assert all(e.delay == (1 if e.kind == "backward" else 0) for e in g.edges)


def test_neurons_spike():
    rates = np.array([r for s in SEEDS for r in firing_rates(case(s)[0], case(s)[1]).values()])
    in_range = ((rates >= 0.05) & (rates <= 0.5)).mean()
    assert in_range >= 0.9, in_range
    assert 0.1 <= rates.mean() <= 0.35
    assert (rates == 0).mean() <= 0.03


def test_every_neuron_model_appears_and_spikes():
    from snnc.ir.ops import NEURON_OPS, SPIKING_NEURON_OPS

    graphs = [case(s)[0] for s in SEEDS]  # the pass tests' graphs: every neuron model
    ops = [n.op for g in graphs for n in g if n.op in NEURON_OPS]
    assert all(ops.count(op) >= 20 for op in NEURON_OPS), {op: ops.count(op) for op in NEURON_OPS}
    plifs = [n.attrs for g in graphs for n in g.nodes_of("PLIF")]
    assert {a["decay_input"] for a in plifs} == {True, False}
    alifs = [n.attrs for g in graphs for n in g.nodes_of("ALIF")]
    assert all(a["adapt"] > 0 for a in alifs) and {a["reset"] for a in alifs} == {"hard", "soft"}
    rates = {op: [] for op in SPIKING_NEURON_OPS}
    for s in SEEDS[:15]:
        g, x, _ = case(s)
        for name, r in firing_rates(g, x).items():
            rates[g[name].op].append(r)
    for op, rs in rates.items():
        assert np.mean([0.02 <= r <= 0.6 for r in rs]) >= 0.8, (op, rs)


def test_default_graphs_have_lif_only_and_bad_neurons_are_refused():
    assert {n.op for s in range(10) for n in random_graph(s)} & {"ALIF", "PLIF", "ReLU"} == set()
    with pytest.raises(ValueError, match="neurons must be"):
        random_graph(0, neurons=("LIF", "Conv2d"))
    with pytest.raises(ValueError, match="neurons must be"):
        random_graph(0, neurons=())
