"""Energy per target: the paper's count reproduces STTS Table 5 on TANet-Tiny; synapses exclude
padding exactly (brute force); the IR target table feeds the count and refuses a wrong graph."""
import numpy as np
import pytest

from snnc.backends.energy import ENERGY_TARGETS, count_layers
from snnc.backends.energy.count import synapse_count
from snnc.compiler import TARGETS, compile_file, prepare
from snnc.errors import EnergyError, PassError
from snnc.ir.graph import Graph


def test_tanet_tiny_paper_count_matches_stts_table5():
    """STTS Table 5: TANet-Tiny (ANN) 735M multiplications; the SNN's first layer 3M."""
    g = compile_file("snnc/zoo/tanet-tiny.genome", target=ENERGY_TARGETS["paper"].ir_target).graph
    layers = count_layers(g, depthwise_events=True)
    ann = sum(layer.macs for layer in layers)
    assert abs(ann / 735e6 - 1) < 0.02, ann
    first = layers[0]
    assert first.input == "input" and round(first.macs / 1e6) == 3
    # every later layer is an AC layer, as the paper counts (Appendix C)
    assert {layer.input for layer in layers[1:]} == {"spikes"}
    # the folded (Lava) graph has about 7x the MACs: what the ANN row must not be counted on
    folded = prepare(g, "lava")[0]
    assert sum(layer.macs for layer in count_layers(folded)) > 5 * ann


def _conv_graph(size, kernel, stride, padding, groups=1, cin=2, cout=4, op="Conv2d"):
    g = Graph()
    g.add_node("in", "Input", {"shape": (cin, size, size)})
    if op == "Conv2d":
        g.add_node("c", "Conv2d", {"in_channels": cin, "out_channels": cout, "kernel": kernel,
                                   "stride": stride, "padding": padding, "groups": groups},
                   {"weight": np.zeros((cout, cin // groups, kernel, kernel))})
    else:
        g.add_node("c", "AvgPool2d", {"kernel": kernel, "stride": stride, "padding": padding})
    g.add_node("out", "Output")
    g.add_edge("in", "c")
    g.add_edge("c", "out")
    return g


@pytest.mark.parametrize("size, kernel, stride, padding, groups, op", [
    (5, 3, 1, 1, 1, "Conv2d"), (4, 3, 2, 1, 2, "Conv2d"), (3, 3, 1, 2, 1, "Conv2d"),
    (6, 1, 1, 0, 1, "Conv2d"), (5, 3, 2, 1, 1, "AvgPool2d"), (7, 2, 2, 0, 1, "AvgPool2d")])
def test_synapses_exclude_padding_brute_force(size, kernel, stride, padding, groups, op):
    g = _conv_graph(size, kernel, stride, padding, groups, op=op)
    from snnc.ir import verify
    verify(g)
    node = g["c"]
    cin, h, w = g["in"].shape
    o, ho, wo = node.shape
    per_out = cin // groups if op == "Conv2d" else 1
    brute = 0
    for y in range(ho):
        for x in range(wo):
            for i in range(kernel):
                for j in range(kernel):
                    yy, xx = y * stride - padding + i, x * stride - padding + j
                    brute += (0 <= yy < h and 0 <= xx < w)
    brute *= o * per_out
    got = synapse_count(op, node.attrs, g["in"].shape, node.shape)
    assert got == brute
    assert got <= node_macs(node, g) and (padding > 0) == (got < node_macs(node, g))


def node_macs(node, g):
    from snnc.ir.ops import OPS
    return OPS[node.op].macs(node.attrs, g["in"].shape, node.shape)


def test_unknown_synapse_rule_and_target():
    with pytest.raises(EnergyError, match="no synapse rule for op Vote"):
        synapse_count("Vote", {}, (4,), (2,))
    from snnc.backends.energy import get_energy_target
    with pytest.raises(EnergyError, match="paper, lava"):
        get_energy_target("chip")


def test_target_table_refuses_a_folded_graph_for_energy():
    g = compile_file("examples/tanet-tiny.genome", target="lava").graph
    assert "fold-depthwise" in g.meta["passes_changed"]
    with pytest.raises(PassError, match="fold-depthwise"):
        prepare(g, "energy")
    again, records = prepare(g, "lava")  # nothing folded twice
    assert records == []
    assert again.meta["passes"] == g.meta["passes"]


def test_cli_names_every_target():
    from snnc.cli import TARGET_NAMES
    assert tuple(TARGETS) == TARGET_NAMES
    with pytest.raises(PassError,
                       match="known targets: train, energy, lava, lava-fixed, nir, onnx, netx"):
        prepare(compile_file("examples/interop.genome", target="train").graph, "loihi")
