"""Genomes the frontend refuses, with messages that name the block and the genome line."""
from __future__ import annotations

import dataclasses

import pytest

from snnc.errors import GraphError, LoweringError
from snnc.frontend import lower, verify_lowered
from snnc.genome import make_spec
from snnc.genome.ast import Block, Edge, Loc

from .genomes import EXAMPLE, HEADER, genome, insert_block, lowered, with_block

S3 = 2  # index of the graph stage in DEMO (line 10)


def _edges(*edges):
    return {"edges": tuple(dataclasses.replace(e, loc=Loc(11, 3)) for e in edges)}


@pytest.mark.parametrize("kind", ["resnet", "layer"])
def test_unlowered_block_kinds_name_block_and_line(kind, monkeypatch):
    """A block kind without a lowerer (every kind has one today) is named with its line."""
    from snnc.frontend import LOWERERS
    monkeypatch.delitem(LOWERERS, kind)
    g = insert_block(genome(), 2, Block(kind, "c1", loc=Loc(12, 1)))
    with pytest.raises(LoweringError, match=rf"line 12:1: {kind} c1: block kind '{kind}' is not "
                                            r"lowered yet"):
        lower(g)


def test_stride_must_divide_resolution():
    text = HEADER.format(name="odd", T=2, input="1x5x5", classes=2) + \
        "stage s1 node channels=2 stride=2\nclassifier head channels=0 vote=0\n"
    with pytest.raises(LoweringError, match=r"line 8:1: stage s1: stride 2 does not divide .* 5x5"):
        lowered(text)


@pytest.mark.parametrize("edges, message", [
    ((Edge(3, 1),), "a forward edge goes from a lower to a higher node"),
    ((Edge(2, 2),), "a forward edge goes from a lower to a higher node"),
    ((Edge(1, 3, 0, True),), "a backward edge goes from a node to itself or an earlier node"),
    ((Edge(3, 1, 0, True),), "with delay >= 1"),
    ((Edge(0, 6),), r"node out of range 0..5"),
    ((Edge(-1, 2),), r"node out of range 0..5"),
    ((Edge(0, 1), Edge(0, 1)), "is listed twice"),
    ((Edge(0, 1, 0, False, "conv3x3"),), "stage edges carry no operation"),
])
def test_bad_stage_edges(edges, message):
    g = with_block(genome(), S3, **_edges(*edges))
    with pytest.raises(LoweringError, match=rf"line 11:3: stage s3: edge .*{message}"):
        lower(g)


def test_backward_edge_into_an_input_node_needs_matching_shape():
    g = with_block(genome(), S3, **_edges(Edge(0, 1), Edge(4, 0, 1, True)))
    with pytest.raises(LoweringError, match=r"enters input node 0, .* \(4, 8, 8\), .* \(8, 4, 4\)"):
        lower(g)
    # with stride 1 and equal widths the same edge is fine: a cycle through the input node
    ok = with_block(g, S3, attrs={"stride": 1, "channels": 4})
    assert lower(ok)["s3.n0.lif"].shape == (4, 8, 8)


@pytest.mark.parametrize("attrs, message", [
    ({"kernel": 2}, "kernel must be an odd integer"),
    ({"channels": 0}, "channels must be an integer >= 1"),
    ({"conv": "dilated"}, "conv must be standard or separable"),
    ({"nodes": 0}, "nodes must be an integer >= 1"),
    ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
])
def test_bad_stage_attributes(attrs, message):
    with pytest.raises(LoweringError, match=rf"line 10:1: stage s3: {message}"):
        lower(with_block(genome(), S3, attrs=attrs))


def test_duplicate_block_names():
    g = with_block(genome(), 1, name="s1")
    with pytest.raises(LoweringError, match="line 9:1: stage s1: block name 's1' is already used"):
        lower(g)


def test_if_neuron_is_a_lif_with_beta_one():
    g = lower(dataclasses.replace(genome(), neuron=make_spec("if", v_th=0.5, reset="soft")))
    a = g["s2.lif"].attrs
    assert (a["beta"], a["alpha"], a["v_th"], a["reset"]) == (1.0, 1.0, 0.5, "soft")


def test_verifier_errors_carry_the_genome_line():
    g = lowered()
    g["s3.n2.pw"].attrs["in_channels"] = 5
    with pytest.raises(GraphError, match=r"^line 10:1: node 's3.n2.pw' \(Conv2d\): input has 8 "
                                         r"channels, in_channels is 5") as exc:
        verify_lowered(g)
    assert exc.value.node == "s3.n2.pw" and exc.value.rule == "shapes agree"


def test_example_backward_edge_into_an_input_node_is_refused():
    with pytest.raises(LoweringError, match=r"^line 13:3: stage s3: backward edge 9 -> 3 enters "
                                            r"input node 3"):
        lowered(EXAMPLE)
