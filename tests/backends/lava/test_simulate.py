"""Lava (lava-nc 0.10.0, Loihi2SimCfg floating point) against the reference interpreter:
every neuron's spike train must be equal, layer by layer, on several random inputs."""
import numpy as np
import pytest

from snnc.backends.lava import LavaMappingError, build, plan, simulate
from snnc.ir import run, verify
from snnc.testing.random_graph import random_graph, random_input
from snnc.passes import run_pipeline

from .graphs import BUILDERS, build as build_graph, membranes, min_margin

pytestmark = pytest.mark.slow


def _assert_same(res, outs, graph):
    for k in plan(graph).neurons:
        if k in res.spikes:
            np.testing.assert_array_equal(res.spikes[k], outs[k], err_msg=k)
    np.testing.assert_allclose(res.output, outs[graph.output_node.name], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", list(BUILDERS))
def test_lava_spikes_equal_interpreter(name):
    g, x = build_graph(name)
    outs, _ = membranes(g, x)
    res = simulate(g, x)
    assert set(res.spikes) == {n.name for n in g.nodes_of("LIF")}
    for k, s in res.spikes.items():
        assert s.shape == outs[k].shape and 0.05 <= s.mean() <= 0.4
    _assert_same(res, outs, g)
    assert res.timing["samples"] == x.shape[0]


@pytest.mark.parametrize("name", ["skip_delays", "recurrent"])
def test_conv_processes_and_unrolled_synapses_agree(name):
    """Both ways of mapping convolutions (Lava's Conv process, unrolled Sparse synapses) give the
    reference spikes on forward delays, skip paths of different depth and a backward cycle."""
    g, x = build_graph(name)
    outs, _ = membranes(g, x)
    _assert_same(simulate(g, x, conv="conv"), outs, g)
    _assert_same(simulate(g, x, conv="sparse"), outs, g)


def test_delay_lines_are_shared_identity_hops():
    """Extra synaptic delays become taps of one identity delay line per source neuron (no
    DelayDense/DelaySparse, which rebuild their matrices every step)."""
    g, x = build_graph("skip_delays")
    with build(g, processes="layer") as net:
        extras = {(s.src, s.extra) for s in net.plan.synapses if s.extra}
        assert extras, "the graph must need extra delays"
        longest = {}
        for src, e in extras:
            longest[src] = max(longest.get(src, 0), e)
        assert set(net._taps) == {(src, k) for src, e in longest.items()
                                  for k in range(1, e + 1)}
        names = {type(p).__name__ for p in net.conns}
        assert not names & {"DelayDense", "DelaySparse"}
        _assert_same(net.run(x), membranes(g, x)[0], g)


def test_long_delay_line_builds_without_recursion(monkeypatch):
    """With the delay-line limit raised, a 1501-hop line is built in a loop (it hit Python's
    recursion limit); only built, not run: 1501 processes would fork."""
    from snnc.backends.lava import planning

    monkeypatch.setattr(planning, "MAX_DELAY_LINE", 5000, raising=False)
    g, _ = build_graph("skip_delays")
    (e,) = [e for e in g.edges if e.src == "sk"]
    g.remove_edge(e)
    g.add_edge("sk", "l3", delay=1500)
    net = build(g, processes="layer")
    try:
        assert max(k for src, k in net._taps if src == "l1") == 1501
        assert all((src, k - 1) in net._taps for src, k in net._taps if k > 1)
    finally:
        net.close()


def test_network_reused_across_batches_and_sequences():
    g, x = build_graph("skip_delays")
    seq = np.random.default_rng(5).uniform(0, 1, (g.meta["T"],) + x.shape)  # [T, B, C, H, W]
    if min_margin(g, seq) < 1e-6:
        pytest.skip("no safe margin for this sequence")
    with build(g) as net:
        first = net.run(x)
        second = net.run(seq)  # a new batch on the same running network
    _assert_same(first, membranes(g, x)[0], g)
    _assert_same(second, membranes(g, seq)[0], g)


def test_record_subset_keeps_head_inputs():
    g, x = build_graph("mixed")
    res = simulate(g, x, record=["l2"])
    assert set(res.spikes) == {"l2", "l4"}  # l4 feeds the Output on the host
    _assert_same(res, membranes(g, x)[0], g)


def test_deploy_pipeline_graph():
    """tests/ir/graphs.conv_net (BatchNorm, Dropout, pooling, grouped strided conv, Vote) after
    the deploy pipeline, with hard resets."""
    from tests.ir.graphs import conv_net, sample_input
    g = verify(conv_net())
    for n in g.nodes_of("LIF"):
        n.attrs["reset"] = "hard"
    g, _ = run_pipeline(g, "deploy")
    x = sample_input(g, batch=3, seed=1)
    assert min_margin(g, x) > 1e-6
    res = simulate(g, x)
    _assert_same(res, run(g, x).outputs, g)


@pytest.mark.parametrize("seed", [3, 11])
def test_random_graphs(seed):
    """A cyclic (3) and an acyclic (11) random TANet-like graph with delays and skips."""
    g = random_graph(seed)
    for n in g.nodes_of("LIF"):
        n.attrs["reset"] = "hard"
        n.attrs["v_reset"] = min(n.attrs["v_reset"], n.attrs["v_th"])
    x = random_input(g, seed=1, batch=2)
    assert min_margin(g, x) > 1e-9
    _assert_same(simulate(g, x), run(g, x).outputs, g)


def test_refusal_comes_before_lava_starts():
    g, x = build_graph("conv_chain")
    g["l2"].attrs["reset"] = "soft"
    with pytest.raises(LavaMappingError, match="reset='soft'"):
        simulate(g, x)


def test_disconnected_parts_direct_input_and_one_step():
    """Two neuron groups with no synapse between them (Lava needs them tied into one network),
    one of them fed by the Input directly, joined by a Concat on the host; T = 1 and T = 3."""
    from snnc.ir import Graph
    from .graphs import _lif, _linear, calibrate, sample
    rng = np.random.default_rng(0)
    g = Graph({"T": 3})
    g.add_node("in", "Input", {"shape": (6,)})
    _linear(g, rng, "fa", 6, 5)
    _lif(g, "la")
    _lif(g, "lb", beta=0.9)
    g.add_node("cat", "Concat")
    g.add_node("out", "Output")
    for a, b in (("in", "fa"), ("fa", "la"), ("in", "lb"), ("cat", "out")):
        g.add_edge(a, b)
    g.add_edge("la", "cat", port=0)
    g.add_edge("lb", "cat", port=1)
    calibrate(verify(g), sample(g, 8, 3))
    x = sample(g, 3, 0)
    for T in (1, 3):
        res = simulate(g, x, T)
        ref = run(g, x, T)
        assert res.output.shape == (T, 3, 11)
        _assert_same(res, ref.outputs, g)


def test_closed_network_refuses_to_run():
    g, x = build_graph("mlp")
    net = build(g)
    net.close()
    with pytest.raises(RuntimeError, match="closed"):
        net.run(x)
