"""remove-dead: nodes with no path to the Output go; everything else computes the same."""
import numpy as np
import pytest

from snnc.ir import Graph, verify
from snnc.passes import RemoveDead

from .helpers import SEEDS, assert_equivalent, check_pass


@pytest.mark.parametrize("seed", SEEDS)
def test_random_graphs(seed):
    g, result, x, trace = check_pass(RemoveDead(), seed)
    out = result.graph
    live = g.reaching(g.output_node.name)
    assert set(out.nodes) == live | {g.input_node.name}
    assert list(out.nodes) == [n for n in g.nodes if n in out.nodes]  # order kept
    assert result.changed == (len(out) < len(g))
    assert all(out.output_node.name in out.reachable_from(n) for n in out.nodes)
    assert_equivalent(g, out, x, trace)


def test_dead_cycle_and_live_feedback():
    g = Graph({"T": 5})
    g.add_node("in", "Input", {"shape": (3,)})
    g.add_node("a", "LIF", {"beta": 0.9, "v_th": 0.5})
    g.add_node("fb", "LIF", {"beta": 0.9})   # reaches the Output only through a backward edge
    g.add_node("d1", "LIF", {"beta": 0.5})   # d1 <-> d2: a dead cycle fed by a live node
    g.add_node("d2", "Scale", {"scale": 2.0})
    g.add_node("out", "Output")
    g.add_edge("in", "a")
    g.add_edge("a", "out")
    g.add_edge("a", "fb")
    g.add_edge("fb", "a", delay=1, kind="backward")
    g.add_edge("a", "d1", delay=2)
    g.add_edge("d1", "d2")
    g.add_edge("d2", "d1", delay=1, kind="backward")
    verify(g)
    res = RemoveDead()(g)
    assert res.notes == ["removed 2 dead nodes (d1, d2)"]
    assert list(res.graph.nodes) == ["in", "a", "fb", "out"]
    assert_equivalent(g, verify(res.graph), np.random.default_rng(0).normal(0.5, 1, (5, 2, 3)))


def test_nothing_dead():
    g = Graph({"T": 2})
    g.add_node("in", "Input", {"shape": (2,)})
    g.add_node("out", "Output")
    g.add_edge("in", "out", delay=1)
    res = RemoveDead()(verify(g))
    assert not res.changed and res.notes == [] and list(res.graph.nodes) == ["in", "out"]
