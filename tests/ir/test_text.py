"""The IR text round trip: ``parse_ir(dump(g, params="values"))`` equals ``g`` for every op,
every preset, the example graphs and random graphs; syntax errors point at ``line:col``."""
import re

import numpy as np
import pytest
from tests.ir.graphs import EXAMPLES

from snnc import zoo
from snnc.compiler import compile_genome
from snnc.errors import IRSyntaxError
from snnc.ir import Graph, verify
from snnc.ir.dump import dump
from snnc.ir.graph import BACKWARD, graph_differences, graphs_equal
from snnc.ir.ops import NEURON_OPS, OPS
from snnc.testing.random_graph import random_graph
from snnc.ir.text import parse_ir, parse_ir_file


def round_trip(g: Graph) -> Graph:
    """Parse the values dump of ``g``; assert it equals ``g`` and dumps to the same text."""
    text = dump(g, params="values")
    back = parse_ir(text)
    assert graph_differences(g, back) == []
    assert dump(back, params="values") == text
    return back


# ----------------------------------------------------------------------------- one graph per op
def _rng():
    return np.random.default_rng(7)


def _wrap(op: str, in_shape, attrs=None, params=None, **more) -> Graph:
    """in -> op -> out, the op node named ``x`` (at genome location 3:5)."""
    g = Graph({"name": f"op-{op}", "T": 3, "classes": 2})
    g.add_node("in", "Input", {"shape": tuple(in_shape)}, loc="1:1")
    g.add_node("x", op, attrs or {}, params or {}, loc="3:5")
    g.add_node("out", "Output")
    g.add_edge("in", "x", **more)
    g.add_edge("x", "out")
    return g


def _conv():
    r = _rng()
    return _wrap("Conv2d", (4, 5, 5), {"in_channels": 4, "out_channels": 6, "kernel": 3,
                                       "stride": 2, "padding": 1, "groups": 2, "bias": True},
                 {"weight": r.normal(size=(6, 2, 3, 3)), "bias": r.normal(size=6)})


def _linear():
    r = _rng()
    bias = np.array([0.1, -0.0, 1 / 3, -2.0, 5e-324, 1.7976931348623157e308])
    return _wrap("Linear", (3,), {"in_features": 3, "out_features": 6},
                 {"weight": r.normal(size=(6, 3)).astype(np.float32), "bias": bias})


def _batchnorm():
    r = _rng()
    p = {k: r.uniform(0.5, 1.5, 3).astype(np.float16)
         for k in ("weight", "bias", "running_mean", "running_var")}
    return _wrap("BatchNorm2d", (3, 2, 2), {"num_features": 3, "eps": 1e-3}, p, delay=2)


def _neuron(op, **attrs):
    def build():
        g = _wrap(op, (2, 3, 3), {"beta": 0.7, "v_th": 0.4, "reset": "soft", **attrs})
        g.add_edge("x", "x", delay=1, kind=BACKWARD)  # a recurrent self-connection
        return g
    return build


def _concat():
    g = Graph({"T": 2})
    g.add_node("in", "Input", {"shape": (2, 4, 4)})
    g.add_node("x", "Concat")
    g.add_node("out", "Output")
    g.add_edge("in", "x", port=1, delay=1)
    g.add_edge("in", "x", port=0)
    g.add_edge("x", "out")
    return g


def _choice(op, attrs, params=None):
    def build():
        g = Graph({"T": 2})
        g.add_node("in", "Input", {"shape": (3,)})
        g.add_node("x", op, attrs, params or {})
        g.add_node("out", "Output")
        g.add_edge("in", "x", port=1, delay=2)
        g.add_edge("in", "x", port=0)
        g.add_edge("x", "out")
        return g
    return build


OP_CASES = {
    "Input": lambda: _wrap("ReLU", (5,)),
    "Output": lambda: _wrap("Dropout", (2, 1, 1)),
    "Conv2d": _conv,
    "Linear": _linear,
    "BatchNorm2d": _batchnorm,
    "LIF": _neuron("LIF", v_reset=-0.1, surrogate="sigmoid", surrogate_arg=4.0),
    "ALIF": _neuron("ALIF", rho=0.3, adapt=0.05, detach_reset=True),
    "PLIF": _neuron("PLIF", decay_input=True, alpha=0.5),
    "LoihiLIF": lambda: _wrap("LoihiLIF", (2, 3, 3), {"du": 4000, "dv": 1024, "vth": 300,
                                                      "scale": 512.0}),
    "ReLU": lambda: _wrap("ReLU", (2, 3, 3), port=0),
    "Scale": lambda: _wrap("Scale", (4,), {"scale": 1 / 3}),
    "AvgPool2d": lambda: _wrap("AvgPool2d", (2, 5, 5), {"kernel": 3, "stride": 2, "padding": 1}),
    "GlobalAvgPool": lambda: _wrap("GlobalAvgPool", (3, 2, 2)),
    "Flatten": lambda: _wrap("Flatten", (2, 3, 3)),
    "Upsample": lambda: _wrap("Upsample", (2, 2, 2), {"scale": 3}),
    "Dropout": lambda: _wrap("Dropout", (4,), {"p": 0.25}),
    "Vote": lambda: _wrap("Vote", (6,), {"classes": 2}),
    "Concat": _concat,
    "Choice": _choice("Choice", {"k": 2, "optional": True}),
    "WeightedMix": _choice("WeightedMix", {"k": 2}, {"alpha": np.array([0.25, -1.5])}),
}


@pytest.mark.parametrize("op", list(OPS))
def test_every_op_round_trips(op):
    assert op in OP_CASES, f"no round-trip case for op {op}: add one to OP_CASES"
    g = verify(OP_CASES[op]())
    assert op in {n.op for n in g}
    back = round_trip(g)
    verify(back)
    assert graph_differences(g, verify(back)) == []  # verify has nothing left to fill in


def test_non_finite_param_values_round_trip_unverified():
    g = _linear()  # verify refuses non-finite params; the text form does not
    g["x"].params["bias"] = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1.0])
    back = round_trip(g)
    assert np.signbit(back["x"].params["bias"][3])


def test_int_bool_and_empty_params_round_trip():
    g = Graph({"T": 2})  # not valid IR (params are floats), but the text form keeps them
    g.add_node("a", "Scale", {"scale": 1.0},
               {"m": np.array([True, False]), "i": np.array([[1, -2]], dtype=np.int16),
                "e": np.zeros((0, 3)), "s": np.array(2.5, dtype=np.float32)})
    back = round_trip(g)
    assert back["a"].params["s"].shape == () and back["a"].params["i"].dtype == np.int16


def test_shapes_only_gives_zero_params_of_the_declared_dtype():
    g = verify(_linear())
    back = parse_ir(dump(g))
    assert graph_differences(g, back, params="shapes") == []
    assert not graphs_equal(g, back)
    w = back["x"].params["weight"]
    assert w.dtype == np.float32 and w.shape == (6, 3) and not w.any()


# ----------------------------------------------------------------------------- whole graphs
@pytest.mark.parametrize("name", list(EXAMPLES))
def test_example_graphs_round_trip(name):
    g = verify(EXAMPLES[name]())
    round_trip(g)
    round_trip(EXAMPLES[name]())  # unverified: no shapes, defaults not filled in


@pytest.mark.parametrize("seed", range(12))
def test_random_graphs_round_trip(seed):
    g = random_graph(seed, neurons=NEURON_OPS)
    back = round_trip(g)
    assert back.topological_order() == g.topological_order()


def _shrink(genome: str) -> str:
    """The same architecture with 1/32 of the channels (at least 4), so values stay few."""
    return re.sub(r"\b(channels|hidden)=(\d+)",
                  lambda m: f"{m.group(1)}={max(4, int(m.group(2)) // 32)}", genome)


@pytest.mark.parametrize("name", zoo.names())
def test_every_preset_round_trips(name):
    text = zoo.get(name).text
    g = compile_genome(text, passes="none").graph
    shapes = dump(g)
    back = parse_ir(shapes)
    assert graph_differences(g, back, params="shapes") == []
    assert dump(back) == shapes
    round_trip(compile_genome(_shrink(text), passes="none").graph)


def test_odd_names_keys_strings_and_values():
    g = Graph({"name": 'say "hi"\n', "weird key": 1, "True": "x", "inf": float("inf"),
               "nested": {"a b": [None, True, (), (1,), -0.0, float("nan")], 3: "three"},
               "np": np.float32(0.5), "uni": "\u00e9\u2603\x01\U0001f600"})
    g.add_node("in put", "Input", {"shape": (2,)}, loc="file.genome:3:1")
    g.add_node("x:y@z", "Scale", {"scale": -2.5e-300})
    g.add_node("out", "Output")
    g.add_edge("in put", "x:y@z", delay=3)
    g.add_edge("x:y@z", "out")
    text = dump(g, params="values")
    assert '%"in put"' in text and '%"in put"@3' in text and '@"file.genome:3:1"' in text
    back = round_trip(g)
    assert back.meta["np"] == 0.5 and type(back.meta["np"]) is float


def test_a_graph_with_a_zero_delay_cycle_round_trips_in_insertion_order():
    g = Graph()
    g.add_node("a", "Scale", {"scale": 1.0})
    g.add_node("b", "Scale", {"scale": 2.0})
    g.add_edge("a", "b")
    g.add_edge("b", "a")
    assert "# warning: zero-delay cycle" in dump(g)
    assert list(round_trip(g).nodes) == ["a", "b"]


def test_graph_differences_name_what_differs():
    g = verify(EXAMPLES["recurrent_net"]())
    h = g.copy(copy_params=True)
    h.meta["T"] = 5.0
    h["a.lif"].attrs["beta"] = 0.5
    h["fc"].params["bias"] = h["fc"].params["bias"] + 1e-9
    h.remove_edge(h.in_edges("a.lif")[1])
    h.add_edge("b.lif", "a.lif", delay=2, kind=BACKWARD)
    diffs = graph_differences(g, h)
    assert diffs[0] == "meta['T']: 5 (int) != 5.0 (float)"
    assert "node 'a.lif': attrs['beta']: 0.6 != 0.5" in diffs
    assert any(d.startswith("node 'fc': param 'bias': values differ (3 of 3") for d in diffs)
    assert "edge only in the first graph: b.lif -> a.lif @1 (backward)" in diffs
    assert "edge only in the second graph: b.lif -> a.lif @2 (backward)" in diffs
    h.meta["T"] = 5
    h["a.lif"].attrs["beta"] = 0.6
    assert len(graph_differences(g, h, rtol=1e-6)) == 2  # the edges
    assert graphs_equal(g, g.copy())


def test_parse_ir_file_names_the_file(tmp_path):
    path = tmp_path / "net.ir"
    path.write_text(dump(verify(EXAMPLES["mlp"]()), params="values"), encoding="utf-8")
    assert graphs_equal(parse_ir_file(path), verify(EXAMPLES["mlp"]()))
    path.write_text("%in = Input() : (2,\n", encoding="utf-8")
    with pytest.raises(IRSyntaxError, match=re.escape(f"{path}:1:")):
        parse_ir_file(path)


# ----------------------------------------------------------------------------- syntax errors
GOOD = "%in = Input[shape=(2,)]() : (2,)\n%out = Output(%in) : (2,)\n"

ERRORS = [
    ("%in = Inptu[shape=(2,)]() : (2,)",
     "1:7: unknown op 'Inptu'; did you mean Input? known ops: Input, Output,"),
    (GOOD + "%x = ReLU(%inp) : (2,)", "3:11: input %inp names no node; did you mean %in?"),
    (GOOD + "%in = ReLU(%out) : (2,)", "3:1: node %in is already defined at 1:1"),
    ("%in = Input[shape=(2,)]()", "1:26: unexpected end of file; expected ':'"),
    ("%in = Input[shape=(2,)]() (2,)", "1:27: unexpected '('; expected ':'"),
    ("%in = Input[shape=(2,)]() : (2,)\n%x = ReLU(%in@-1) : (2,)", "2:15: a delay must be >= 0"),
    ("%in = Input[shape=(2,)]() : (2.5,)", "1:30: a shape dimension must be an integer, got 2.5"),
    ("%in = Input[shape=(2,), shape=(3,)]() : (2,)", "1:25: attribute 'shape' is given twice"),
    ('%in = Input[name="abc]() : (2,)', "1:18: unterminated string"),
    ('%in = Input[name="a\\qb"]() : (2,)', "1:20: unknown escape \\q"),
    ("%in = Input() : (2,) $", "1:22: unexpected character '$'"),
    ("%fc = Linear() : (2,)  params weight[2,3]:float128x",
     "1:43: unknown param dtype 'float128x'"),
    ("%fc = Linear() : (2,)  params weight[2,1]\n    weight = [1.0, 2.0, 3.0]",
     "2:14: param 'weight' of shape [2, 1] needs 2 values, got 3"),
    ("%fc = Linear() : (2,)  params weight[2]\n    weight = [1.0, 2.x]",
     "2:20: '2.x' is not a float64 value"),
    ("%fc = Linear() : (2,)  params weight[2]\n    bias = [1.0, 2.0]",
     "2:5: node %fc declares no param 'bias' (declared: weight)"),
    ("    weight = [1.0]", "1:5: param values must follow the line of the node"),
    (GOOD + '# graph "late"', "3:1: '# graph' header must be the first statement"),
    ('# graph "g" T=4 T=5', "1:17: meta key 'T' is given twice"),
    ("%in = Input() : (2,)  @3", "1:25: unexpected end of file; expected ':'"),
    ("%a = Concat(%in:x) : (2,)", "1:17: unexpected 'x'; expected a number"),
    ("%m = Scale() : (2,)  params m[2]:bool\n    m = [True, yes]",
     "2:16: 'yes' is not a bool value"),
    ("%m = Scale() : (2,)  params m[1]:int8\n    m = [300]", "2:9: a value of param 'm' does not"),
]


@pytest.mark.parametrize("text,expected", ERRORS, ids=[e[1][:30] for e in ERRORS])
def test_syntax_errors_point_at_line_and_column(text, expected):
    with pytest.raises(IRSyntaxError) as info:
        parse_ir(text, filename="net.ir")
    assert str(info.value).splitlines()[0].startswith("net.ir:" + expected), str(info.value)


def test_syntax_error_shows_the_line_and_a_caret():
    with pytest.raises(IRSyntaxError) as info:
        parse_ir(GOOD + "%x = RLU(%in) : (2,)")
    assert str(info.value) == ("<ir>:3:6: unknown op 'RLU'; did you mean ReLU? known ops: "
                               + ", ".join(OPS) + "\n    %x = RLU(%in) : (2,)\n         ^")
    e = info.value
    assert (e.line, e.column, e.filename) == (3, 6, "<ir>")


def test_comments_blank_lines_and_no_header():
    g = parse_ir("\n# a comment\n\n" + GOOD.replace("\n", "  # trailing\n", 1) + "\n\n")
    assert g.meta == {} and list(g.nodes) == ["in", "out"]
    assert parse_ir("").nodes == {} and parse_ir("# graph").meta == {}
