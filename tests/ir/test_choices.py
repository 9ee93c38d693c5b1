"""Choice and WeightedMix (the supernet ops): hand-computed values in the interpreter, the
verifier's port rules, and assignments checked by node name."""
import numpy as np
import pytest

from snnc.errors import AssignmentError, GraphError
from snnc.ir import Graph, run, verify
from snnc.ir.choices import check_assignment, skipped_under


def supernet(optional: bool = False) -> Graph:
    """in -> a = 2x, b = -x; c = Choice(a, b@1); m = WeightedMix(c, in) with softmax weights
    (1/4, 3/4); out = m."""
    g = Graph({"T": 3})
    g.add_node("in", "Input", {"shape": (3,)})
    g.add_node("a", "Scale", {"scale": 2.0})
    g.add_node("b", "Scale", {"scale": -1.0})
    g.add_node("c", "Choice", {"k": 2, "optional": optional})
    g.add_node("m", "WeightedMix", {"k": 2}, {"alpha": np.array([0.0, np.log(3.0)])})
    g.add_node("out", "Output")
    g.add_edge("in", "a")
    g.add_edge("in", "b")
    g.add_edge("a", "c", port=0)
    g.add_edge("b", "c", port=1, delay=1)
    g.add_edge("c", "m", port=0)
    g.add_edge("in", "m", port=1)
    g.add_edge("m", "out")
    return g


X = np.array([[0.0, 1.0, 2.0], [3.0, -4.0, 0.5]])


def test_choice_and_mix_by_hand():
    y = run(supernet(), X, assignment={"c": 0}).output  # 0.25 * 2x + 0.75 x
    np.testing.assert_allclose(y, np.broadcast_to(1.25 * X, (3, 2, 3)), rtol=1e-15)
    y = run(supernet(), X, assignment={"c": 1}).output  # b is delayed: 0.75 x at t = 0
    np.testing.assert_allclose(y[0], 0.75 * X, rtol=1e-15)
    np.testing.assert_allclose(y[1:], np.broadcast_to(0.5 * X, (2, 2, 3)), rtol=1e-15)


def test_assigned_mix_passes_its_port_through_and_nothing_is_zero():
    y = run(supernet(), X, assignment={"c": 1, "m": 0}).output
    assert np.array_equal(y[0], np.zeros_like(X)) and np.array_equal(y[1], -X)
    y = run(supernet(optional=True), X, assignment={"c": -1, "m": 0}).output
    assert not y.any()


@pytest.mark.parametrize("assignment, match", [
    ({}, r"no entry for Choice node\(s\) 'c'"),
    ({"c": 2}, r"choice node 'c' \(Choice\): port 2 is out of range; allowed: 0..1$"),
    ({"c": -1}, r"port -1 is out of range; allowed: 0..1$"),
    ({"c": 0, "m": 5}, r"'m' \(WeightedMix\): port 5 is out of range"),
    ({"c": 0, "cc": 0}, r"names 'cc', which is not a node of the graph; did you mean 'c'\?"),
    ({"c": 0, "a": 0}, r"node 'a' \(Scale\), which is not a choice point"),
    ({"c": "0"}, r"'c' \(Choice\): the assigned port must be an integer"),
    ({"c": True}, r"must be an integer, got True"),
])
def test_bad_assignments_name_the_node(assignment, match):
    with pytest.raises(AssignmentError, match=match):
        run(supernet(), X, assignment=assignment)


def test_numpy_ports_are_accepted():
    g = verify(supernet(optional=True))
    assert check_assignment(g, {"c": np.int64(-1)}) == {"c": -1}


def test_ports_must_be_0_to_k_minus_1_without_gaps():
    g = supernet()
    g["c"].attrs["k"] = 3
    with pytest.raises(GraphError, match=r"'c' \(Choice\): k=3 alternatives need in-edges on "
                                         r"ports 0..2 without gaps; port\(s\) \[2\] have none"):
        verify(g)
    g = supernet()
    g.add_edge("in", "c", port=2)
    with pytest.raises(GraphError, match=r"ports \[2\] are outside 0..1"):
        verify(g)
    g = supernet()
    g["m"].attrs["k"] = 0
    with pytest.raises(GraphError, match=r"attribute 'k' must be in \[1, inf\]"):
        verify(g)
    g = supernet()
    g["m"].params["alpha"] = np.zeros(3)
    with pytest.raises(GraphError, match=r"param 'alpha' has shape \(3,\), expected \(2,\)"):
        verify(g)


def test_alternatives_must_share_one_shape():
    g = supernet()
    g.add_node("lin", "Linear", {"in_features": 3, "out_features": 4},
               {"weight": np.zeros((4, 3)), "bias": np.zeros(4)})
    g.add_edge("in", "lin")
    g.remove_edge(g.in_edges("c")[1])
    g.add_edge("lin", "c", port=1)
    with pytest.raises(GraphError, match=r"'c' \(Choice\): summed inputs have different shapes"):
        verify(g)


def test_skipped_nodes_feed_only_unselected_ports():
    g = verify(supernet())
    assert skipped_under(g, {"c": 0}) == {"b"}
    assert skipped_under(g, {"c": 1}) == {"a"}
    assert skipped_under(g, {"c": 1, "m": 1}) == {"a", "b", "c"}
