"""summarize: counts, parameters, neurons and MACs checked against hand-computed numbers."""
import json

import pytest
from tests.ir.graphs import conv_net, mlp, recurrent_net

from snnc.errors import GraphError
from snnc.ir.summary import summarize


def test_conv_and_linear_macs_by_hand():
    s = summarize(conv_net())
    # c1.conv: out (4, 8, 8), 2 input channels, 3x3 kernel -> 4*8*8 * 2*9
    assert s.macs["c1.conv"] == 4 * 8 * 8 * 2 * 9 == 4608
    # c2.conv: out (6, 2, 2), 4 input channels in 2 groups -> each output sees 2 channels
    assert s.macs["c2.conv"] == 6 * 2 * 2 * (4 // 2) * 9 == 432
    # head.fc: 24 -> 8
    assert s.macs["head.fc"] == 24 * 8
    # c2.pool: out (4, 4, 4), 2x2 window
    assert s.macs["c2.pool"] == 4 * 4 * 4 * 4
    assert s.macs_per_step == 4608 + 432 + 192 + 256
    assert s.macs["c1.lif"] == s.macs["c1.bn"] == 0


def test_counts_params_and_neurons():
    s = summarize(conv_net())
    assert s.num_params == (4 * 2 * 9) + 4 * 4 + (6 * 2 * 9 + 6) + (24 * 8 + 8) == 402
    assert s.num_neurons == 4 * 8 * 8 + 6 * 2 * 2 + 8
    assert s.nodes_by_op == {"Input": 1, "Output": 1, "Conv2d": 2, "Linear": 1, "BatchNorm2d": 1,
                             "LIF": 3, "AvgPool2d": 1, "Flatten": 1, "Dropout": 1, "Vote": 1}
    assert (s.input_shape, s.output_shape, s.T, s.classes) == ((2, 8, 8), (2,), 4, 2)
    assert (s.name, s.genome_id) == ("conv-net", "test-conv-net")


def test_edges_by_kind_and_delay_and_gap_macs():
    s = summarize(recurrent_net())
    assert s.edges_by_kind == {"forward": 13, "backward": 1}
    assert s.edges_by_delay == {0: 11, 1: 2, 2: 1}
    assert s.macs["gap"] == 8 * 6 * 6  # GlobalAvgPool reads its (8, 6, 6) input
    assert s.macs["cat"] == 0
    assert (s.num_nodes, s.num_edges) == (12, 14)


def test_rows_and_json():
    s = summarize(mlp())
    assert s.rows()[1] == {"name": "fc1", "op": "Linear", "shape": (10,), "params": 70, "macs": 60}
    assert [r["name"] for r in s.rows()] == ["in", "fc1", "lif1", "fc2", "lif2", "out"]
    d = json.loads(json.dumps(s.to_dict()))
    assert d["edges_by_delay"] == {"0": 5} and d["macs_per_step"] == 60 + 40
    assert d["layers"][1]["shape"] == [10] and d["num_neurons"] == 14 and d["genome_id"] is None


def test_invalid_graph_raises():
    g = mlp()
    g.add_edge("in", "lif1")
    with pytest.raises(GraphError, match="lif1"):
        summarize(g)
