"""The SNASNet 4x4 cell code: decoding the authors' published cells, round trips, and the errors
bad codes give (with the column of the offending character)."""
from __future__ import annotations

import numpy as np
import pytest

from snnc.errors import GenomeSyntaxError
from snnc.genome import Edge, make_block, parse, to_text
from snnc.genome.snasnet_code import (cell_from_code, code_from_cell, code_from_genome,
                                      edges_of, format_code, genome_from_code, parse_code)

CIFAR100 = "0302 0030 3003 0000"  # REFERENCE-NOTES / the authors' README
CIFAR10 = "0303 0030 2002 0200"


def random_codes(n: int, seed: int = 0) -> list[str]:
    """Codes drawn as the authors' backward sampler draws them (REFERENCE-NOTES): each pair i < j
    gets a forward op at [i][j] or a backward op at [j][i] with probability 1/2, ops uniform over
    0..4, redrawn until [0][3] is not zero."""
    rng = np.random.default_rng(seed)
    out = []
    while len(out) < n:
        m = np.zeros((4, 4), dtype=int)
        for i in range(4):
            for j in range(i + 1, 4):
                if rng.integers(2):
                    m[i, j] = rng.integers(5)
                else:
                    m[j, i] = rng.integers(5)
        if m[0, 3]:  # the sampler redraws until input and output are connected directly
            out.append(format_code(tuple(tuple(int(v) for v in r) for r in m)))
    return out


def test_cifar100_cell_decodes_to_the_published_connections():
    cell = cell_from_code(CIFAR100, "c1", 128)
    assert (cell.kind, cell.name, cell.form, cell["channels"], cell["nodes"]) == \
        ("cell", "c1", "snasnet", 128, 4)
    assert cell.edges == (Edge(0, 1, op="conv3x3"), Edge(0, 3, op="conv1x1"),
                          Edge(1, 2, op="conv3x3"), Edge(2, 3, op="conv3x3"),
                          Edge(2, 0, 1, True, "conv3x3"))


def test_cifar10_cell_has_two_backward_1x1_convolutions():
    cell = cell_from_code(CIFAR10)
    back = [e for e in cell.edges if e.backward]
    assert back == [Edge(2, 0, 1, True, "conv1x1"), Edge(3, 1, 1, True, "conv1x1")]
    assert [e.op for e in cell.edges if not e.backward] == \
        ["conv3x3", "conv3x3", "conv3x3", "conv1x1"]  # 0->1, 0->3, 1->2, 2->3


def test_every_op_digit_and_both_triangles():
    m = ((0, 1, 2, 0), (0, 0, 0, 4), (0, 0, 0, 0), (3, 0, 0, 0))
    assert edges_of(m) == (Edge(0, 1, op="skip"), Edge(0, 2, op="conv1x1"),
                           Edge(1, 3, op="avgpool3x3"), Edge(3, 0, 1, True, "conv3x3"))
    assert format_code(m) == "0120 0004 0000 3000"


@pytest.mark.parametrize("code", [CIFAR100, CIFAR10] + random_codes(30))
def test_round_trip_code_cell_text(code):
    assert format_code(parse_code(code)) == code
    cell = cell_from_code(code)
    assert code_from_cell(cell) == code
    g = genome_from_code(code, name="rt", classes=10, channels=16)
    assert parse(to_text(g)) == g and code_from_genome(parse(to_text(g))) == code


def test_rows_as_a_list_and_extra_whitespace():
    assert parse_code(["0302", "0030", "3003", "0000"]) == parse_code(CIFAR100)
    assert parse_code("  0302\t0030\n3003  0000 ") == parse_code(CIFAR100)


def test_zero_edges_encode_as_zero():
    cell = make_block("cell", "c", "snasnet", channels=4,
                      edges=[(0, 3, 0, False, "skip"), (0, 1, 0, False, "zero")])
    assert code_from_cell(cell) == "0001 0000 0000 0000"


def test_genome_uses_the_paper_neuron_and_skeleton_settings():
    g = genome_from_code(CIFAR100, name="bw", classes=100, channels=128, vote=5)
    assert (g.T, g.input_shape, g.classes) == (5, (3, 32, 32), 100)
    assert g.neuron.as_dict()["beta"] == 0.25 and g.neuron.as_dict()["alpha"] == 0.75
    assert g.neuron.as_dict()["detach_reset"] is True and g.surrogate.kind == "atan"
    skel = g.blocks[1]
    assert (skel["cell"], skel["hidden"], skel["dropout"], skel["vote"], skel["pool"],
            skel["order"]) == ("c1", 1024, 0.5, 5, 2, "paper")


@pytest.mark.parametrize("code, message, column", [
    ("0302 0030 3003", "4 rows of 4 digits separated by spaces", 1),
    ("0302 0030 3003 0000 0000", "got 5 row(s)", 1),
    ("", "got 0 row(s)", 1),
    ("0302 0030 3503 0000", "row 2: '5' is not an operation digit 0-4", 12),
    ("03a2 0030 3003 0000", "row 0: 'a' is not an operation digit", 3),
    ("0302 0030 3003 00000", "row 3 '00000' has 5 digits", 16),
    ("0302 030 3003 0000", "row 1 '030' has 3 digits", 6),
    ("1302 0030 3003 0000", "entry [0][0] is 1", 1),
    ("0302 0030 3013 0000", "entry [2][2] is 1", 13),
    ("0302 2030 3003 0000", "nodes 0 and 1 have both a forward", 6),
    ("0302 0030 3003 0040", "nodes 2 and 3 have both a forward", 18),
])
def test_bad_codes_point_at_the_fault(code, message, column):
    with pytest.raises(GenomeSyntaxError) as info:
        parse_code(code)
    err = info.value
    assert message in err.message and err.column == column, str(err)
    assert str(err).startswith(f"<snasnet-code>:1:{column}: ")


@pytest.mark.parametrize("edges, nodes, message", [
    ([(0, 3, 0, False, "skip"), (3, 1, 2, True, "skip")], 4, "delay 1 only"),
    ([(0, 3, 0, False, "skip"), (2, 2, 1, True, "skip")], 4, "delay 1 only"),
    ([(0, 1, 0, False, "skip"), (1, 0, 1, True, "skip")], 4, "both a forward"),
    ([(0, 2, 0, False, "skip")], 3, "nodes=4"),
])
def test_cells_without_a_code(edges, nodes, message):
    cell = make_block("cell", "c9", "snasnet", channels=4, nodes=nodes, edges=edges)
    with pytest.raises(GenomeSyntaxError, match=message) as info:
        code_from_cell(cell)
    assert "cell c9" in str(info.value)


def test_genome_without_a_snasnet_cell():
    g = parse(to_text(genome_from_code(CIFAR10, name="x", classes=10, channels=8)))
    other = type(g)(**{**g.__dict__, "blocks": ()})
    with pytest.raises(GenomeSyntaxError, match="expected one SNASNet cell, found 0"):
        code_from_genome(other)
