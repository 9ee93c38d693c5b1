"""graph_to_dict / graph_from_dict: exact round trips through JSON text, faults named."""
import json
import re

import numpy as np
import pytest
from tests.ir.graphs import EXAMPLES, assert_graphs_equal, assert_same, conv_net, mlp, sample_input

from snnc.errors import ArtifactError
from snnc.ir import Graph, interpret, verify
from snnc.ir.serialize import (from_json_value, graph_arrays, graph_from_dict, graph_to_dict,
                               to_json_value)


def through_json(graph):
    """Data as it comes back from a file: JSON text, strict (no NaN literals); arrays copied."""
    text = json.dumps(graph_to_dict(graph), allow_nan=False)
    arrays = {k: v.copy() for k, v in graph_arrays(graph).items()}
    return graph_from_dict(json.loads(text), arrays)


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_round_trip_is_exact_and_computes_the_same(name):
    g = verify(EXAMPLES[name]())
    back = through_json(g)
    assert_graphs_equal(g, back)
    x = sample_input(g)
    assert np.array_equal(interpret(g, x), interpret(back, x))


def test_unverified_graph_round_trips_too():
    g = conv_net()  # shapes not inferred, defaults not filled
    back = through_json(g)
    assert_graphs_equal(g, back)
    assert back["c1.conv"].shape is None


def test_data_layout():
    g = verify(mlp())
    d = graph_to_dict(g)
    assert [n["name"] for n in d["nodes"]] == list(g.nodes)
    fc1 = d["nodes"][1]
    assert fc1["params"]["weight"] == {"key": "fc1/weight", "dtype": "float32", "shape": [10, 6]}
    assert d["nodes"][0]["attrs"] == {"shape": {"$tuple": [6]}} and d["nodes"][0]["shape"] == [6]
    assert d["edges"][0] == {"src": "in", "dst": "fc1", "port": 0, "delay": 0, "kind": "forward"}
    assert set(graph_arrays(g)) == {"fc1/weight", "fc1/bias", "fc2/weight", "fc2/bias"}


VALUES = [1, 1.0, -0.0, 1e-300, 0.1, True, False, None, "s", (), (1, 2), [(3,), [4.5]], {},
          {"$tuple": [1]}, {"a": {"b": (None, "x")}}, float("inf"), float("-inf"), [{"$x": 1}]]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_values_round_trip_with_their_types(value):
    data = json.loads(json.dumps(to_json_value(value), allow_nan=False))
    assert_same(value, from_json_value(data))


def test_nan_and_numpy_scalars():
    back = from_json_value(json.loads(json.dumps(to_json_value(
        [float("nan"), np.float64(0.25), np.int64(3), np.bool_(True), np.str_("s")]))))
    assert back[0] != back[0]
    assert back[1:] == [0.25, 3, True, "s"]
    assert [type(v) for v in back[1:]] == [float, int, bool, str]


@pytest.mark.parametrize("meta, where", [
    ({"x": [1, object()]}, "meta['x'][1]"),
    ({"x": {1: "a"}}, "meta['x']"),
    ({"arr": np.zeros(2)}, "meta['arr']"),
])
def test_unserialisable_meta_is_named(meta, where):
    g = conv_net()
    g.meta.update(meta)
    with pytest.raises(ArtifactError, match=re.escape(where)):
        graph_to_dict(g)


def test_non_float_param_is_refused():
    g = conv_net()
    g["c1.conv"].params["weight"] = g["c1.conv"].params["weight"].astype(np.int64)
    with pytest.raises(ArtifactError, match="'c1.conv'.*'weight'.*int64"):
        graph_to_dict(g)


def faulty(change):
    g = verify(conv_net())
    d = json.loads(json.dumps(graph_to_dict(g)))
    arrays = dict(graph_arrays(g))
    change(d, arrays)
    return d, arrays


@pytest.mark.parametrize("change, message", [
    (lambda d, a: a.pop("head.fc/bias"), "'head.fc/bias' is missing"),
    (lambda d, a: a.update(stray=np.zeros(1)), "not referenced by any node: stray"),
    (lambda d, a: a.update({"head.fc/bias": np.zeros(3)}), "recorded as float64\\[8\\]"),
    (lambda d, a: a.update({"head.fc/bias": np.zeros(8, np.float32)}), "float32\\[8\\]"),
    (lambda d, a: a.update({"head.fc/bias": np.zeros(8, np.int32)}), "not a float array"),
    (lambda d, a: d["nodes"][1].pop("op"), "nodes\\[1\\]: missing field 'op'"),
    (lambda d, a: d["edges"][0].update(delay=True), "edges\\[0\\]: field 'delay'"),
    (lambda d, a: d["nodes"][2].update(name="c1.conv"), "already used"),
    (lambda d, a: d["edges"][0].update(dst="nowhere"), "unknown node 'nowhere'"),
    (lambda d, a: d["meta"].update(x={"$what": 1}), "unknown tagged value '\\$what'"),
    (lambda d, a: d.pop("edges"), "missing field 'edges'"),
    (lambda d, a: d["nodes"][0].update(shape=[2, 8.0, 8]), "must be a list of integers"),
    (lambda d, a: d["nodes"][3].update(attrs={"$tuple": []}), "'c1.lif' attrs: expected a mapping"),
])
def test_graph_from_dict_names_the_fault(change, message):
    d, arrays = faulty(change)
    with pytest.raises(ArtifactError, match=message):
        graph_from_dict(d, arrays)


def test_colliding_param_keys_are_refused():
    g = Graph()
    g.add_node("a/b", "Scale", {"scale": 1.0}, {"c": np.zeros(1)})
    g.add_node("a", "Scale", {"scale": 1.0}, {"b/c": np.zeros(1)})
    with pytest.raises(ArtifactError, match="'a/b/c' is used twice"):
        graph_arrays(g)


def test_empty_graph():
    g = Graph()
    assert_graphs_equal(g, through_json(g))
