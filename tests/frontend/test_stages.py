"""Structure of lowered STTS stages (eq. 6-10): names, edges, delays, kinds, strides, channels."""
from __future__ import annotations

import pytest

from snnc.ir import BACKWARD, FORWARD, Edge

from .genomes import DEMO, EXAMPLE, HEADER, lowered


def _in(g, name):
    return sorted((e.src, e.delay, e.kind) for e in g.in_edges(name))


def test_node_stages_chain_from_input():
    g = lowered()
    # encoding layer: spiking=false, no LIF, reads the analog input
    assert "s1.lif" not in g
    assert _in(g, "s1.conv") == [("input", 0, FORWARD)]
    assert _in(g, "s1.bn") == [("s1.conv", 0, FORWARD)]
    # SN -> conv -> BN, stride 1, 4 -> 4 channels
    assert _in(g, "s2.lif") == [("s1.bn", 0, FORWARD)]
    assert _in(g, "s2.conv") == [("s2.lif", 0, FORWARD)]
    assert _in(g, "s2.bn") == [("s2.conv", 0, FORWARD)]
    conv = g["s2.conv"].attrs
    assert (conv["in_channels"], conv["out_channels"], conv["stride"], conv["padding"],
            conv["bias"]) == (4, 4, 1, 1, True)
    assert g["s1.conv"].attrs["in_channels"] == 3 and g["s1.bn"].shape == (4, 8, 8)


def test_graph_stage_nodes_edges_delays_and_kinds():
    g = lowered()
    for j in range(6):
        for part in ("lif", "dw", "pw", "bn"):
            assert f"s3.n{j}.{part}" in g
        assert f"s3.n{j}.conv" not in g
    # eq. 9: source fan-out to every input node (0 and the isolated 5), nothing else from s2.bn
    assert sorted(e.dst for e in g.out_edges("s2.bn")) == ["s3.n0.lif", "s3.n5.lif"]
    # eq. 8: genome edges go BN -> LIF with the genome delay; `back` edges are backward
    assert _in(g, "s3.n1.lif") == [("s3.n0.bn", 0, FORWARD), ("s3.n4.bn", 1, BACKWARD)]
    assert _in(g, "s3.n3.lif") == [("s3.n0.bn", 1, FORWARD), ("s3.n1.bn", 0, FORWARD)]
    assert _in(g, "s3.n4.lif") == [("s3.n2.bn", 1, FORWARD)]
    # eq. 10: output nodes 3, 4, 5 feed the sink, scaled by 1/3
    assert _in(g, "s3.sink") == [(f"s3.n{i}.bn", 0, FORWARD) for i in (3, 4, 5)]
    assert g["s3.sink"].op == "Scale" and g["s3.sink"].attrs["scale"] == pytest.approx(1 / 3)
    assert g.out_edges("s3.sink") == [Edge("s3.sink", "head.lif")]


def test_graph_stage_stride_and_channel_placement():
    g = lowered()
    for j in range(6):
        dw, pw = g[f"s3.n{j}.dw"].attrs, g[f"s3.n{j}.pw"].attrs
        cin = 4 if j in (0, 5) else 8
        assert (dw["in_channels"], dw["out_channels"], dw["groups"]) == (cin, cin, cin)
        assert dw["stride"] == (2 if j in (0, 5) else 1) and dw["kernel"] == 3
        assert dw["padding"] == 1 and dw["bias"] and pw["bias"]
        assert (pw["in_channels"], pw["out_channels"], pw["kernel"]) == (cin, 8, 1)
        assert g[f"s3.n{j}.bn"].shape == (8, 4, 4)
    assert g["s3.sink"].shape == (8, 4, 4)


def test_neuron_and_surrogate_overrides():
    text = DEMO.replace("  neuron lif tau=2\n", "  neuron lif tau=2\n  surrogate sigmoid alpha=4\n")
    g = lowered(text)
    s2, s3 = g["s2.lif"].attrs, g["s3.n3.lif"].attrs
    assert s2["beta"] == pytest.approx(2 / 3) and s2["alpha"] == 1.0   # tau 3, decay_input false
    assert (s2["surrogate"], s2["surrogate_arg"]) == ("atan", 2.0)
    assert s2["v_th"] == 1.0 and s2["reset"] == "hard" and s2["v_reset"] == 0.0
    assert s3["beta"] == pytest.approx(0.5)                               # per-block override
    assert (s3["surrogate"], s3["surrogate_arg"]) == ("sigmoid", 4.0)
    assert g["head.lif"].attrs["beta"] == pytest.approx(2 / 3)           # genome default again


def test_standard_conv_dropout_and_default_graph_stride():
    text = HEADER.format(name="std", T=2, input="2x8x8", classes=3) + """\
stage s1 graph nodes=2 channels=6 kernel=5 dropout=0.1 {
  0 -> 1 @2
}
classifier head channels=0 vote=0
"""
    g = lowered(text)
    assert [n for n in g.nodes if n.startswith("s1.n0.")] == [
        "s1.n0.lif", "s1.n0.dropout", "s1.n0.conv", "s1.n0.bn"]
    c0, c1 = g["s1.n0.conv"].attrs, g["s1.n1.conv"].attrs
    assert (c0["in_channels"], c0["stride"], c0["kernel"], c0["padding"]) == (2, 2, 5, 2)
    assert (c1["in_channels"], c1["stride"]) == (6, 1)
    assert g["s1.n0.dropout"].attrs["p"] == pytest.approx(0.1)
    assert _in(g, "s1.n1.lif") == [("s1.n0.bn", 2, FORWARD)]
    assert _in(g, "s1.sink") == [("s1.n1.bn", 0, FORWARD)] and g["s1.sink"].attrs["scale"] == 1.0
    assert g["s1.sink"].shape == (6, 4, 4)


def test_stages_are_chained_sink_to_source():
    text = HEADER.format(name="two", T=2, input="1x8x8", classes=2) + """\
stage a graph nodes=2 channels=4 {
}
stage b graph nodes=1 channels=8 {
}
classifier head channels=0 vote=0
"""
    g = lowered(text)
    assert sorted(e.dst for e in g.out_edges("a.sink")) == ["b.n0.lif"]
    assert g["a.sink"].attrs["scale"] == 0.5 and g["b.sink"].shape == (8, 2, 2)
    assert g["b.n0.conv"].attrs["in_channels"] == 4


def test_locations_point_at_the_genome_lines():
    g = lowered()
    assert g["s1.conv"].loc == "8:1"
    assert g["s3.n2.lif"].loc == "10:1" and g["s3.sink"].loc == "10:1"
    assert g["head.fc"].loc == "19:1" and g["output"].loc == "19:1"
    assert g["input"].loc is None


def test_tanet_example_with_many_isolated_nodes():
    g = lowered(EXAMPLE.replace("  0 -> 4\n", "  0 -> 3\n  0 -> 4\n"))
    fan_out = {e.dst for e in g.out_edges("s2.bn")}
    # every node but 3, 4 and 7 is an input node; every node but 0 is an output node
    assert fan_out == {f"s3.n{j}.lif" for j in range(32) if j not in (3, 4, 7)}
    assert g["s3.sink"].attrs["scale"] == pytest.approx(1 / 31)
    assert _in(g, "s3.n3.lif") == [("s3.n0.bn", 0, FORWARD), ("s3.n9.bn", 1, BACKWARD)]
    assert g["s3.sink"].shape == (192, 16, 16) and g["head.fc"].attrs["in_features"] == 1280
    assert g["s3.n0.dw"].attrs["stride"] == 2 and g["s3.n3.dw"].attrs["stride"] == 1
