"""drop-training: Dropout removed, edges reconnected with delays added, semantics unchanged."""
import numpy as np
import pytest

from snnc.ir import Edge, Graph, run, verify
from snnc.passes import DropTraining

from .helpers import SEEDS, assert_equivalent, check_pass, snapshot


@pytest.mark.parametrize("seed", SEEDS)
def test_random_graphs(seed):
    g, result, x, trace = check_pass(DropTraining(), seed)
    out = result.graph
    assert not out.nodes_of("Dropout")
    n_drop = len(g.nodes_of("Dropout"))
    assert result.changed == bool(n_drop)
    assert len(out) == len(g) - n_drop + len(out.nodes_of("Scale")) - len(g.nodes_of("Scale"))
    assert_equivalent(g, out, x, trace)


def vec_graph():
    g = Graph({"T": 6})
    g.add_node("in", "Input", {"shape": (3,)})
    g.add_node("fc", "Linear", {"in_features": 3, "out_features": 3},
               {"weight": np.eye(3) * 1.3, "bias": np.full(3, 0.1)})
    g.add_node("a", "LIF", {"beta": 0.8, "v_th": 0.7})
    g.add_node("drop", "Dropout", {"p": 0.3})
    g.add_node("b", "LIF", {"beta": 0.5, "v_th": 0.4, "reset": "soft"})
    g.add_node("cat", "Concat")
    g.add_node("out", "Output")
    return g


def test_delays_add_kinds_combine_ports_kept():
    g = vec_graph()
    g.add_edge("in", "fc")
    g.add_edge("fc", "a")
    g.add_edge("a", "drop", delay=1)
    g.add_edge("b", "drop", delay=2, kind="backward")
    g.add_edge("drop", "b", delay=1)
    g.add_edge("drop", "cat", port=1, delay=2)
    g.add_edge("fc", "cat", port=0)
    g.add_edge("cat", "out")
    verify(g)
    res = DropTraining()(g)
    assert set(res.graph.edges) == {
        *[e for e in g.edges if "drop" not in (e.src, e.dst)],
        # a -> drop @1, then drop -> b @1 / drop -> cat:1 @2
        Edge("a", "b", 0, 2, "forward"),
        Edge("a", "cat", 1, 3, "forward"),
        # b -> drop @2 (backward) feeds b @3 and cat:1 @4, backward either way
        Edge("b", "b", 0, 3, "backward"),
        Edge("b", "cat", 1, 4, "backward"),
    }
    assert res.notes == ["removed 1 training-only node (drop)"]
    x = np.random.default_rng(0).normal(0.5, 1.0, (6, 2, 3))
    assert_equivalent(g, res.graph, x)
    assert run(res.graph, x).outputs["b"].any()


def test_duplicate_paths_become_identity_scale():
    """in -> drop @0 -> lif @1 and in -> lif @1 would both be in -> lif @1: kept as Scale(1)."""
    g = Graph({"T": 5})
    g.add_node("in", "Input", {"shape": (4,)})
    g.add_node("drop", "Dropout")
    g.add_node("lif", "LIF", {"beta": 0.9, "v_th": 1.1})
    g.add_node("out", "Output")
    g.add_edge("in", "drop")
    g.add_edge("in", "lif", delay=1)
    g.add_edge("drop", "lif", delay=1)
    g.add_edge("lif", "out")
    verify(g)
    res = DropTraining()(g)
    assert res.changed
    node = res.graph["drop"]
    assert (node.op, node.attrs) == ("Scale", {"scale": 1.0})
    assert "replaced drop by an identity Scale" in res.notes[0]
    assert "duplicate edge in -> lif @1" in res.notes[0]
    assert_equivalent(g, verify(res.graph), np.random.default_rng(1).normal(0.4, 1, (5, 3, 4)))


def test_self_loop_becomes_identity_scale():
    g = Graph({"T": 5})
    g.add_node("in", "Input", {"shape": (2,)})
    g.add_node("drop", "Dropout")
    g.add_node("out", "Output")
    g.add_edge("in", "drop")
    g.add_edge("drop", "drop", delay=1, kind="backward")
    g.add_edge("drop", "out")
    verify(g)
    res = DropTraining()(g)
    assert res.graph["drop"].op == "Scale" and "feeds itself" in res.notes[0]
    assert_equivalent(g, verify(res.graph), np.random.default_rng(2).normal(size=(5, 1, 2)))


def test_no_dropout_no_change():
    g = vec_graph()
    g.remove_node("drop")
    g.remove_node("cat")
    for a, b in [("in", "fc"), ("fc", "a"), ("a", "b"), ("b", "out")]:
        g.add_edge(a, b)
    verify(g)
    snap = snapshot(g)
    res = DropTraining()(g)
    assert not res.changed and res.notes == [] and snapshot(res.graph) == snap
