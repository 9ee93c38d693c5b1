"""The classifier block: SN -> [1x1 conv-BN-SN] -> GAP -> [dropout] -> FC -> [vote] -> Output."""
from __future__ import annotations

import dataclasses

import pytest

from snnc.errors import LoweringError
from snnc.frontend import lower

from .genomes import DEMO, HEADER, genome, lowered, with_block


def _chain_from(g, name):
    out = [name]
    while g.out_edges(out[-1]):
        (e,) = g.out_edges(out[-1])
        out.append(e.dst)
    return out


def test_vote_classifier_chain():
    g = lowered()
    assert _chain_from(g, "head.lif") == ["head.lif", "head.conv", "head.bn", "head.lif2",
                                          "head.pool", "head.dropout", "head.fc", "head.vote",
                                          "output"]
    conv = g["head.conv"].attrs
    assert (conv["in_channels"], conv["out_channels"], conv["kernel"], conv["padding"]) == (8, 16, 1, 0)
    assert g["head.pool"].op == "GlobalAvgPool" and g["head.dropout"].attrs["p"] == pytest.approx(0.2)
    fc = g["head.fc"].attrs
    assert (fc["in_features"], fc["out_features"]) == (16, 4 * 3)
    assert g["head.vote"].attrs["classes"] == 4 and g["output"].shape == (4,)


def test_plain_classifier_without_conv_or_dropout():
    text = DEMO.replace("classifier head channels=16 dropout=0.2 vote=3",
                        "classifier head channels=0 dropout=0 vote=0")
    g = lowered(text)
    assert _chain_from(g, "head.lif") == ["head.lif", "head.pool", "head.fc", "output"]
    assert g["head.fc"].attrs["in_features"] == 8 and g["head.fc"].attrs["out_features"] == 4


def test_graph_meta():
    text = DEMO.replace('name "demo"', 'name "demo"\nprovenance "stts ba seed=15"')
    from snnc.genome import genome_id, parse
    g = lower(parse(text), seed=7)
    assert (g.meta["name"], g.meta["T"], g.meta["classes"]) == ("demo", 3, 4)
    assert g.meta["encoding"] == "direct" and g.meta["input_shape"] == (3, 8, 8)
    assert g.meta["init_seed"] == 7 and g.meta["genome_id"] == genome_id(parse(text))
    assert g.meta["provenance"] == "stts ba seed=15"


def test_missing_classifier_is_an_error():
    g = genome()
    g = dataclasses.replace(g, blocks=g.blocks[:-1])
    with pytest.raises(LoweringError, match="no classifier"):
        lower(g)


def test_block_after_classifier_is_an_error():
    g = genome()
    g = dataclasses.replace(g, blocks=g.blocks + (g.blocks[1],))
    with pytest.raises(LoweringError, match="line 9:1: stage s2: comes after the classifier"):
        lower(g)


def test_unknown_pool_is_an_error():
    g = with_block(genome(), 3, attrs={"pool": "max"})
    with pytest.raises(LoweringError, match="line 19:1: classifier head: pool 'max'"):
        lower(g)


def test_vector_input_classifier_only():
    text = HEADER.format(name="mlp", T=2, input="5", classes=3) + \
        "classifier head channels=0 vote=2\n"
    g = lowered(text)
    assert _chain_from(g, "input") == ["input", "head.lif", "head.fc", "head.vote", "output"]
    assert g["head.fc"].attrs["in_features"] == 5


def test_hidden_layer():
    text = DEMO.replace("classifier head channels=16 dropout=0.2 vote=3",
                        "classifier head dropout=0.2 hidden=6")
    g = lowered(text)
    assert _chain_from(g, "head.lif") == ["head.lif", "head.pool", "head.dropout", "head.hidden",
                                          "head.hidden_lif", "head.fc", "output"]
    assert (g["head.hidden"].attrs["in_features"], g["head.hidden"].attrs["out_features"]) == (8, 6)
    assert g["head.hidden_lif"].op == "LIF" and g["head.fc"].attrs["in_features"] == 6
