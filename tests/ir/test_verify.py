"""The verifier names the node and the rule for every invariant of docs/ARCHITECTURE.md."""
import numpy as np
import pytest

from snnc.errors import GraphError
from snnc.ir import Graph, verify


def chain(*specs, shape=(2, 4, 4)):
    """Input -> specs... -> Output, each spec (name, op, attrs, params)."""
    g = Graph({"T": 2})
    g.add_node("in", "Input", {"shape": shape})
    prev = "in"
    for name, op, attrs, params in specs:
        g.add_node(name, op, attrs, params)
        g.add_edge(prev, name)
        prev = name
    g.add_node("out", "Output")
    g.add_edge(prev, "out")
    return g


def lif(name="lif"):
    return (name, "LIF", {"beta": 0.5}, {})


def conv(name="conv", cin=2, cout=2, k=3, groups=1, **kw):
    return (name, "Conv2d", {"in_channels": cin, "out_channels": cout, "kernel": k,
                             "padding": k // 2, "groups": groups, **kw},
            {"weight": np.zeros((cout, cin // groups, k, k))})


def expect(g, rule, node=None, text=""):
    with pytest.raises(GraphError) as info:
        verify(g)
    assert info.value.rule == rule, str(info.value)
    if node is not None:
        assert info.value.node == node
        assert repr(node) in str(info.value) or node in str(info.value)
    assert text in str(info.value)
    return info.value


def test_valid_chain_infers_shapes():
    g = verify(chain(lif(), conv(cout=4), ("gap", "GlobalAvgPool", {}, {})))
    assert g["conv"].shape == (4, 4, 4)
    assert g["gap"].shape == (4,)
    assert g["out"].shape == (4,)


def test_needs_exactly_one_input_and_output():
    g = chain(lif())
    g.add_node("out2", "Output")
    g.add_edge("lif", "out2")
    expect(g, "one Output", text="out, out2")
    g2 = Graph()
    g2.add_node("out", "Output")
    expect(g2, "one Input")


def test_zero_delay_cycle_is_named():
    g = chain(lif("a"), lif("b"))
    g.add_edge("b", "a")
    err = expect(g, "cycles need delay", text="a -> b -> a")
    assert "delay >= 1" in str(err)


def test_delayed_cycle_is_fine():
    g = chain(lif("a"), lif("b"))
    g.add_edge("b", "a", delay=1, kind="backward")
    verify(g)


def test_backward_edge_needs_delay():
    g = chain(lif("a"), lif("b"))
    g.add_edge("a", "b", kind="backward")
    expect(g, "backward edges are delayed", node="b")


def test_shape_mismatch_names_node():
    g = chain(lif(), conv(cin=3))
    expect(g, "shapes agree", node="conv", text="input has 2 channels, in_channels is 3")


def test_summed_inputs_must_agree():
    g = chain(lif("a"), conv(cout=4), lif("b"))
    g.add_edge("a", "b")
    expect(g, "shapes agree", node="b", text="different shapes")


def test_param_shape_checked():
    g = chain(lif(), conv())
    g["conv"].params["weight"] = np.zeros((2, 2, 1, 1))
    expect(g, "params", node="conv", text="expected (2, 2, 3, 3)")


def test_missing_and_unknown_attrs():
    g = chain(("c", "Conv2d", {"in_channels": 2, "out_channels": 2}, {}))
    expect(g, "required attributes", node="c", text="'kernel'")
    g = chain(("l", "LIF", {"beta": 0.5, "tau": 2.0}, {}))
    expect(g, "known attributes", node="l", text="'tau'")


def test_unknown_op():
    g = chain(("x", "Frobnicate", {}, {}))
    expect(g, "known ops", node="x")


def test_port_only_on_concat():
    g = chain(lif("a"), lif("b"))
    g.add_edge("a", "b", port=1)
    expect(g, "ports", node="b")


def test_concat_ports_and_shapes():
    g = Graph()
    g.add_node("in", "Input", {"shape": (2, 4, 4)})
    g.add_node("cat", "Concat")
    g.add_node("out", "Output")
    g.add_edge("in", "cat", port=0)
    g.add_edge("in", "cat", port=1, delay=1)
    g.add_edge("cat", "out")
    assert verify(g)["cat"].shape == (4, 4, 4)


def test_unreachable_node_has_no_shape():
    g = chain(lif("a"))
    g.add_node("island", "LIF", {"beta": 0.5})
    g.add_edge("island", "island", delay=1)
    g.add_edge("island", "out")
    expect(g, "reachable from Input", node="island")


def test_editing_api_refuses_unsafe_edits():
    g = chain(lif("a"))
    with pytest.raises(GraphError, match="still connected"):
        g.remove_node("a")
    with pytest.raises(GraphError, match="already used"):
        g.add_node("a", "LIF")
    with pytest.raises(GraphError, match="unknown node"):
        g.add_edge("a", "nope")
    with pytest.raises(GraphError, match="duplicate"):
        g.add_edge("in", "a")
