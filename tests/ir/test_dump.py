"""The text dump: one deterministic line per node, inputs with delays, ports and backward marks."""
import numpy as np
from tests.ir.graphs import EXAMPLES, conv_net, mlp, recurrent_net

from snnc.ir import Graph, verify
from snnc.ir.artifact import load, save
from snnc.ir.dump import dump, fmt_value


def line_of(text, name):
    (line,) = [x for x in text.splitlines() if x.startswith(f"%{name} = ")]
    return line


def test_header_and_one_line_per_node_in_topological_order():
    g = verify(recurrent_net())
    lines = dump(g).splitlines()
    assert lines[0] == ('# graph "recurrent-net" T=5 classes=3 genome_id="test-recurrent-net" '
                        'passes=[] stages={a: {delay: None}, b: [1, 2.5, True]}')
    assert lines[1] == "# 12 nodes, 14 edges (forward 13, backward 1; delayed 3), 195 params"
    assert [x.split(" = ")[0][1:] for x in lines[2:]] == g.topological_order()


def test_conv_line():
    text = dump(verify(conv_net()))
    assert line_of(text, "c2.conv") == (
        "%c2.conv = Conv2d[in_channels=4, out_channels=6, kernel=3, stride=2, padding=1, groups=2, "
        "bias=True](%c2.pool) : (6, 2, 2)  params weight[6,2,3,3] bias[6]  @4:1")
    assert line_of(text, "in") == "%in = Input[shape=(2, 8, 8)]() : (2, 8, 8)  @1:1"
    assert line_of(text, "head.flat") == "%head.flat = Flatten(%c2.lif) : (24,)"


def test_delays_ports_and_backward_edges():
    text = dump(verify(recurrent_net()))
    assert line_of(text, "a.lif").endswith("](%a.conv, %b.lif@1(back)) : (4, 6, 6)")
    assert line_of(text, "cat") == "%cat = Concat(%b.lif:0, %a.lif@2:1) : (8, 6, 6)"
    assert line_of(text, "fc_late").startswith("%fc_late = Linear[in_features=8, out_features=3, "
                                                "bias=False](%gap@1) : (3,)")
    assert line_of(text, "sink") == "%sink = Scale[scale=0.5](%fc, %fc_late) : (3,)"


def test_defaults_can_be_hidden_and_dtypes_shown():
    text = dump(verify(mlp()), defaults=False)
    assert line_of(text, "lif1") == "%lif1 = LIF[beta=0.8, v_th=0.5](%fc1) : (10,)"
    assert "params weight[10,6]:float32 bias[10]:float32" in line_of(text, "fc1")


def test_deterministic_and_unchanged_by_save_load(tmp_path):
    for build in EXAMPLES.values():
        g = verify(build())
        assert dump(g) == dump(g.copy()) == dump(verify(build()))
        assert dump(load(save(g, tmp_path / "g.snnir"))) == dump(g)


def test_broken_graphs_still_dump():
    g = conv_net()  # unverified: no shapes yet
    assert line_of(dump(g), "c1.lif").endswith(" : ?")
    g = Graph({"name": "loop"})
    g.add_node("a", "Scale", {"scale": 1.0})
    g.add_node("b", "Frobnicate", {"w": np.float64(2.0)})
    g.add_edge("a", "b")
    g.add_edge("b", "a")
    lines = dump(g).splitlines()
    assert lines[2].startswith("# warning: zero-delay cycle a -> b -> a")
    assert lines[3:] == ["%a = Scale[scale=1.0](%b) : ?", "%b = Frobnicate[w=2.0](%a) : ?"]


def test_fmt_value():
    assert fmt_value((3,)) == "(3,)" and fmt_value(()) == "()"
    assert fmt_value('say "hi"') == '"say \\"hi\\""'
    assert fmt_value(1e-05) == "1e-05" and fmt_value(None) == "None"
