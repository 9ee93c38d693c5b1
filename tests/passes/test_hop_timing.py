"""hop-timing: backward edges delayed by exactly the steps synaptic hops add (hardware timing)."""
import numpy as np
import pytest

from snnc.errors import PassError
from snnc.ir import BACKWARD, Graph, verify
from snnc.ir.hops import HOP, hop_latency, neuron_links, neurons_of
from snnc.ir.ops import NEURON_OPS
from snnc.passes import TIMINGS, HopTiming, apply_timing, run_pipeline
from snnc.runtime.config import TIMINGS as CONFIG_TIMINGS
from snnc.testing.loops import random_loops
from snnc.testing.random_graph import random_graph

from .helpers import snapshot


def _loop(delay: int, hops: int = 2) -> Graph:
    """in -> fc0 -> l1 -> fc1 -> l2 [-> fc2 -> l3] -> fcb -@delay (backward)-> l1: a loop of
    ``hops`` synapse hops; l_last -> Output."""
    rng = np.random.default_rng(0)
    g = Graph({"T": 4})
    g.add_node("in", "Input", {"shape": (3,)})

    def fc(name):
        g.add_node(name, "Linear", {"in_features": 3, "out_features": 3},
                   {"weight": rng.normal(size=(3, 3)), "bias": np.zeros(3)})

    fc("fc0")
    g.add_edge("in", "fc0")
    prev = "fc0"
    for i in range(1, hops + 1):
        g.add_node(f"l{i}", "LIF", {"beta": 0.5})
        g.add_edge(prev, f"l{i}")
        if i < hops:
            fc(f"fc{i}")
            g.add_edge(f"l{i}", f"fc{i}")
            prev = f"fc{i}"
    fc("fcb")
    g.add_node("out", "Output")
    g.add_edge(f"l{hops}", "fcb")
    g.add_edge(f"l{hops}", "out")
    g.add_edge("fcb", "l1", delay=delay, kind=BACKWARD)
    return verify(g)


def _backward(g):
    return [e for e in g.edges if e.kind == BACKWARD]


@pytest.mark.parametrize("hops, delay, want", [(2, 1, 2), (3, 1, 3), (3, 2, 3), (2, 2, 2),
                                               (2, 5, 5)])
def test_loop_gets_one_step_per_hop(hops, delay, want):
    g = _loop(delay, hops)
    before = snapshot(g)
    res = HopTiming()(g)
    assert snapshot(g) == before  # pure
    assert [e.delay for e in _backward(res.graph)] == [want]
    assert res.changed == (want != delay)
    if res.changed:
        assert res.graph.meta["hop_timing"] == [["fcb", "l1", 0, delay, want]]
        assert any(f"from @{delay} to @{want}" in n for n in res.notes)
    # everything else is untouched, edge order included
    assert [(e.src, e.dst, e.port, e.kind) for e in res.graph.edges] == [
        (e.src, e.dst, e.port, e.kind) for e in g.edges]
    assert [e.delay for e in res.graph.edges if e.kind != BACKWARD] == [
        e.delay for e in g.edges if e.kind != BACKWARD]


def test_idempotent_and_recorded_by_the_manager():
    out, records = run_pipeline(_loop(1), "hop-timing")
    assert records[0].changed and out.meta["passes"] == ["hop-timing"]
    again, records = run_pipeline(out, "hop-timing")
    assert not records[0].changed
    assert snapshot(again) == snapshot(out)


def test_apply_timing():
    g = _loop(1)
    assert apply_timing(g, "ir") is g
    assert _backward(apply_timing(g, "hardware"))[0].delay == 2
    assert TIMINGS == CONFIG_TIMINGS
    with pytest.raises(PassError, match="timing must be one of ir, hardware"):
        apply_timing(g, "chip")


def _constraints_hold(g):
    """Every link keeps the IR's timing at the forward latencies; returns them."""
    neurons = neurons_of(g)
    links = neuron_links(g, neurons)
    L = hop_latency(neurons, [k for k in links if not k.backward])
    for k in links:
        assert k.delay >= L[k.src] - L[k.dst] + HOP, k
    return L


def _random(kind, seed):
    if kind == "loops":
        return random_loops(seed, neurons=NEURON_OPS)
    return random_graph(seed, max_nodes=40, neurons=NEURON_OPS)


@pytest.mark.parametrize("kind", ["loops", "stages"])
@pytest.mark.parametrize("seed", range(20))
def test_random_graphs_least_delays(kind, seed):
    """Random graphs with every neuron model (layered networks with long loops; TANet-like
    stages): after the pass every link through a backward edge meets the latency constraint,
    the forward latencies are unchanged, only backward edges grew, and each raised edge is
    raised the least (one step less breaks a link)."""
    g = _random(kind, seed)
    res = HopTiming()(g)
    out = verify(res.graph)
    L = _constraints_hold(out)
    neurons = neurons_of(g)
    assert L == hop_latency(neurons, [k for k in neuron_links(g, neurons) if not k.backward])
    grown = {}
    for a, b in zip(g.edges, out.edges):
        assert (a.src, a.dst, a.port, a.kind) == (b.src, b.dst, b.port, b.kind)
        assert b.delay >= a.delay and (b.delay == a.delay or a.kind == BACKWARD)
        if b.delay > a.delay:
            grown[b] = a
    assert res.changed == bool(grown)
    for e in grown:  # least: each raised edge carries a link that one step less would break
        tight = [k for k in neuron_links(out, neurons) if k.backward and k.backward[-1] == e
                 and k.delay == L[k.src] - L[k.dst] + HOP]
        assert tight, e
    assert not HopTiming()(out).changed


def test_random_graphs_need_it():
    """The random layered graphs exercise the pass: most of their loops are short of delay."""
    assert sum(HopTiming()(random_loops(s, neurons=NEURON_OPS)).changed for s in range(20)) >= 15


def test_forward_loop_short_of_delay_is_refused():
    g = _loop(1)
    e = _backward(g)[0]
    g.remove_edge(e)
    g.add_edge(e.src, e.dst, delay=1)  # the same loop, closed by a forward edge
    with pytest.raises(PassError, match=r"loop .*l1.* has fewer delay steps than synaptic hops "
                                        r"and no backward edge"):
        HopTiming()(verify(g))


def test_neuron_free_cycle_is_refused():
    g = _loop(1)
    g.add_node("echo", "Scale", {"scale": 0.5})
    g.add_edge("fc0", "echo")
    g.add_edge("echo", "echo", delay=1, kind=BACKWARD)
    g.add_edge("echo", "l1")
    with pytest.raises(PassError, match="cycle echo -> echo has no neuron on it"):
        HopTiming()(verify(g))
