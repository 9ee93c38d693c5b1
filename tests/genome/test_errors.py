"""Invalid genomes kept beside the message they must produce (file:line:col and what was expected)."""
import pytest

from snnc.errors import GenomeSyntaxError
from snnc.genome import parse

H = 'snnc-genome 1\nname "x"\nT 4\ninput 3x8x8\nclasses 10\n'  # 5 lines
G = H + "stage s1 graph nodes=4 channels=8 {\n"  # line 6; body from line 7

CASES = [
    ("", "1:1: empty genome"),
    ('name "x"\n', "1:1: a genome starts with 'snnc-genome 1'"),
    ("snnc-genome 2\n", "1:13: genome format version 2 is newer than this snnc supports (1)"),
    ('snnc-genome 1\nname "x\n', "2:6: unexpected character '\"'"),
    (H.replace("T 4", "T 0"), "3:3: T: T must be >= 1"),
    (H.replace("T 4", "T four"), "3:3: T: T must be an integer, got 'four'"),
    (H.replace("input 3x8x8", "input 3x0x8"), "4:7: input must be CxHxW or F"),
    (H.replace("classes 10\n", ""), "missing header statement 'classes'"),
    (H + "T 5\n", "6:1: 'T' given twice"),
    (H + "frobnicate 3\n", "6:1: unknown statement 'frobnicate'"),
    (H + "neuron lif tau=2 leak=0.5\n", "6:8: neuron 'lif': use one of the parameterisations"),
    (H + "neuron lif tau=0.5\n", "6:12: neuron lif: tau must be >= 1.0, got 0.5"),
    (H + "neuron lif taus=2\n", "6:12: unknown parameter 'taus' for neuron 'lif'"),
    (H + "neuron hodgkin\n", "6:8: unknown neuron 'hodgkin'; expected one of lif, if, alif, plif, relu"),
    (H + "surrogate atan beta=2\n", "6:16: unknown parameter 'beta' for surrogate 'atan'"),
    (H + "stage s1 node chanels=4\n", "6:15: unknown attribute 'chanels' for 'stage' node; expected "
                                      "one of channels"),
    (H + "stage s1 node\n", "6:1: stage s1: missing attribute 'channels'"),
    (H + "stage s1 blob channels=4\n", "6:10: stage: unknown form 'blob'; expected one of node, graph"),
    (H + "stage s1 node channels=4 channels=5\n", "6:26: attribute 'channels' given twice"),
    (H + "stage s1 node channels=4 conv=fancy\n", "6:26: stage s1: conv must be one of standard, separable"),
    (H + "stage s1 node channels=4\nstage s1 node channels=4\n", "7:1: block name 's1' is already used"),
    (H + "classifier\nstage s1 node channels=4\n", "7:1: the classifier must be the last block"),
    (G + "  0 -> -> 1\n}\n", "7:8: unexpected '->'; expected an integer node id"),
    (G + "  2 -> 1\n}\n", "7:3: stage s1: forward edge 2 -> 1 must go from a lower to a higher node id; "
                          "write 'back 2 -> 1 @1'"),
    (G + "  back 1 -> 2 @1\n}\n", "7:3: stage s1: backward edge 1 -> 2 must go from a later"),
    (G + "  back 2 -> 1\n}\n", "7:3: stage s1: backward edge 2 -> 1 needs a delay >= 1"),
    (G + "  0 -> 9\n}\n", "7:3: stage s1: node id 9 out of range 0..3"),
    (G + "  0 -> 1\n  0 -> 1\n}\n", "8:3: stage s1: duplicate edge 0 -> 1"),
    (G + "  0 -> 1 conv3x3\n}\n", "7:3: stage s1: edges here carry no operation, got 'conv3x3'"),
    (G + "  0 -> 1 @-1\n}\n", "7:11: unexpected '-1'; expected a non-negative integer delay"),
    (G + "  0 -> 1\n", "unexpected end of file"),
    (H + "stage s1 node channels=4 {\n  0 -> 1\n}\n", "7:3: stage s1: edges are not allowed here"),
    (H + "cell c1 snasnet channels=8 {\n  0 -> 1 conv9x9\n}\n",
     "7:3: cell c1: unknown operation 'conv9x9'; expected one of zero, skip, conv1x1, conv3x3, avgpool3x3"),
    (H + "cell c1 snasnet channels=8 {\n  0 -> 1\n}\n", "7:3: cell c1: edge 0 -> 1 needs an operation"),
    ("snnc-genome 1\x00\n", "1:14: NUL character"),
]


@pytest.mark.parametrize("text,expected", CASES, ids=[c[1][:40] for c in CASES])
def test_invalid_genome_message(text, expected):
    with pytest.raises(GenomeSyntaxError) as info:
        parse(text, filename="g.genome")
    msg = str(info.value)
    assert msg.startswith("g.genome:"), msg
    assert expected in msg, msg


def test_error_shows_source_line_and_caret():
    with pytest.raises(GenomeSyntaxError) as info:
        parse(H + "stage s1 node chanels=4\n", filename="g.genome")
    lines = str(info.value).splitlines()
    assert lines[1].strip() == "stage s1 node chanels=4"
    assert lines[2].index("^") == lines[1].index("chanels")
    assert (info.value.line, info.value.column) == (6, 15)
