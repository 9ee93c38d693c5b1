"""Invalid genomes kept beside the message they must produce (``file:line:col: message``)."""
import pytest

from snnc.errors import GenomeSyntaxError, SnncError
from snnc.genome import make_block, make_spec, parse, parse_file

H = 'snnc-genome 1\nname "x"\nT 4\ninput 3x8x8\nclasses 10\n'  # lines 1-5
G = H + "stage s1 graph nodes=4 channels=8 {\n"  # line 6; the body starts on line 7

CASES = [
    # --- lexical and syntax errors (lark), in plain words
    ("", "1:1: empty genome; a genome starts with 'snnc-genome 1'"),
    ("# only a comment\n\n", "1:1: empty genome"),
    ('snnc-genome 1\nname "x\n', "2:6: unterminated string; a string ends with '\"' on the same line"),
    ('snnc-genome 1\nname "a\\qb"\n', "2:8: unknown escape '\\q' in a string"),
    (G + "  0 -> -> 1\n}\n", "7:8: unexpected '->'; expected an integer node id"),
    (G + "  0 -> 1 @\n}\n", "7:11: unexpected end of line; expected an integer delay"),
    (G + "  0 -> 1 2\n}\n", "7:10: unexpected '2'; expected a name, '@', '}' or end of line"),
    (G + "  0 -> 1\n", "8:1: unexpected end of file; expected an integer node id, a name, 'back' or "
                       "'}'; the '{' at 6:35 is never closed"),
    (H + "stage s1 node channels=4 $\n",
     "6:26: unexpected character '$'; expected a name, '{' or end of line"),
    ("snnc-genome 1\x00\n", "1:14: unexpected character '\\x00' (U+0000)"),
    (H + "stage s1 node channels=4 " + "{\n" * 500, "7:1: unexpected '{'; expected an integer node id"),
    (H + "stage s1 node channels=" + "9" * 5000 + "\n", "6:24: number 99999999999999999999... is too long"),
    # --- header statements
    ('name "x"\n', "1:1: a genome starts with 'snnc-genome 1', not 'name'"),
    ("snnc-genome 2\nname 'new syntax' %\n",
     "1:13: genome format version 2 is newer than this snnc supports (1)"),
    (H.replace("T 4", "T 0"), "3:3: T must be an integer >= 1, got 0"),
    (H.replace("T 4", "T 4.5"), "3:3: T must be an integer >= 1, got 4.5"),
    (H.replace("input 3x8x8", "input 3x0x8"), "4:7: input must be a shape like 3x32x32 or 784, got 3x0x8"),
    (H.replace("classes 10\n", ""), "1:1: missing header statement 'classes', e.g. 'classes 10'"),
    (H + "T 5\n", "6:1: 'T' is given twice"),
    (H + "encoding spikes\n", "6:10: encoding must be one of direct, rate, got 'spikes'"),
    (H + "frobnicate 3\n", "6:1: unknown statement 'frobnicate'; expected one of snnc-genome, name,"),
    (H + "stage s1 node channels=4\nT 3\n", "7:1: header statement 'T' must come before the first "
                                           "block (stage s1 at 6:1)"),
    # --- neurons and surrogates
    (H + "neuron lif tau=2 leak=0.5\n", "6:18: neuron lif: tau and leak are alternative "
                                        "parameterisations; give one of: tau [decay_input] | leak | "
                                        "beta [alpha]"),
    (H + "neuron lif tau=0.5\n", "6:16: neuron lif: tau must be a number > 1, got 0.5"),
    (H + "neuron alif tau=0.2\n", "write leak=..."),
    (H + "neuron lif alpha=0.5\n", "6:8: neuron lif: missing parameter 'beta' (alpha needs it)"),
    (H + "neuron lif taus=2\n", "6:12: unknown attribute 'taus' for neuron 'lif'; expected one of "
                                "tau, decay_input, leak, beta, alpha, v_th"),
    (H + "neuron hodgkin\n", "6:8: unknown neuron 'hodgkin'; expected one of lif, if, alif, plif, relu"),
    (H + "surrogate atan beta=2\n", "6:16: unknown attribute 'beta' for surrogate 'atan'; expected "
                                    "one of alpha"),
    # --- blocks and attributes
    (H + "stage s1 node chanels=4\n", "6:15: unknown attribute 'chanels' for 'stage'; expected one "
                                      "of channels, stride, kernel, conv, spiking, nodes, dropout"),
    (H + "stage s1 node nodes=4 channels=3\n", "6:15: attribute 'nodes' does not apply to 'stage node'"),
    (H + "stage s1 node\n", "6:1: stage s1: missing attribute 'channels' (an integer >= 1)"),
    (H + "stage s1 blob channels=4\n", "6:10: unknown form 'blob' for 'stage'; expected one of "
                                       "node, graph"),
    (H + "stage node channels=3\n", "6:1: stage needs a name before its form"),
    (H + "stage s1 node channels=4 channels=5\n", "6:26: attribute 'channels' is given twice"),
    (H + "stage s1 node channels=4 stride=3\n", "6:33: stage s1: stride must be one of 1, 2, got 3"),
    (H + "stage s1 node channels=4 kernel=4\n", "6:33: stage s1: kernel must be an odd integer >= 1"),
    (H + "stage s1 node channels=4 dropout=1\n", "6:34: stage s1: dropout must be a number in [0, 1)"),
    (H + "stage s1 node channels=2.0\n", "6:24: stage s1: channels must be an integer >= 1, got 2.0"),
    (H + "stage true node channels=4\n", "6:7: a block name must be a name"),
    (H + "stage s1 node channels=4\nstage s1 node channels=4\n",
     "7:7: block name 's1' is already used by an earlier stage"),
    (H + "classifier\nstage s1 node channels=4\n",
     "7:1: the classifier must be the last block; stage s1 comes after it"),
    (H + "layer l1 cell=c9 level=0\n", "6:15: layer l1: cell=c9 names no earlier cell block"),
    (H + "skeleton s snasnet cell=c1\n", "6:12: unexpected word 'snasnet'; skeleton is written "
                                         "'skeleton FORM key=value ...'"),
    # --- edges and bodies
    (G + "  2 -> 1\n}\n", "7:3: stage s1: forward edge 2 -> 1 must go from a lower to a higher node "
                          "id; write `back 2 -> 1 @1` for a backward connection"),
    (G + "  back 1 -> 2 @1\n}\n", "7:3: stage s1: backward edge 1 -> 2 must go from a later"),
    (G + "  back 2 -> 1\n}\n", "7:13: stage s1: backward edge 2 -> 1 needs a delay >= 1"),
    (G + "  0 -> 9\n}\n", "7:8: stage s1: node 9 is out of range 0..3"),
    (G + "  0 -> 1 @-1\n}\n", "7:11: stage s1: edge 0 -> 1: delay must be an integer >= 0, got -1"),
    (G + "  0 -> 1\n  0 -> 1\n}\n", "8:3: stage s1: duplicate edge 0 -> 1"),
    (G + "  0 -> 1 conv3x3\n}\n", "7:10: stage s1: edge 0 -> 1: edges here carry no operation"),
    (G + "  neuron lif\n  neuron if\n}\n", "8:3: stage s1: neuron is given twice"),
    (G + "  stage x\n}\n", "7:3: unknown statement 'stage' in a block body"),
    (H + "stage s1 node channels=4 {\n  0 -> 1\n}\n", "7:3: stage s1: 'stage node' takes no edges"),
    (H + "cell c1 snasnet channels=8 {\n  0 -> 1 conv9x9\n}\n",
     "7:10: cell c1: edge 0 -> 1 needs an operation, one of zero, skip, conv1x1, conv3x3, avgpool3x3"),
    (H + "cell c1 dhs channels=8 {\n  -3 -> 1 skip\n}\n", "7:3: cell c1: node -3 is out of range -2..2"),
    (H + "resnet r depth=19 channels=8 {\n  2 -> 7\n}\n",
     "7:3: resnet r: edge 2 -> 7: resnet edges are backward connections; write `back 2 -> 7 @1`"),
]


@pytest.mark.parametrize("text,expected", CASES, ids=[f"{i:02d}" for i in range(len(CASES))])
def test_invalid_genome_message(text, expected):
    with pytest.raises(GenomeSyntaxError) as info:
        parse(text, filename="g.genome")
    first = str(info.value).splitlines()[0]
    assert first.startswith("g.genome:"), first
    assert expected in first, first
    if expected[:1].isdigit():  # "line:col: ..." matches the exception's fields
        line, col = expected.split(":")[:2]
        assert (info.value.line, info.value.column) == (int(line), int(col))


def test_error_shows_source_line_and_caret():
    with pytest.raises(GenomeSyntaxError) as info:
        parse(H + "stage s1 node chanels=4\n", filename="g.genome")
    head, src, caret = str(info.value).splitlines()
    assert head.startswith("g.genome:6:15: unknown attribute 'chanels'")
    assert src.strip() == "stage s1 node chanels=4"
    assert caret.index("^") == src.index("chanels")


def test_bytes_and_files(tmp_path):
    with pytest.raises(GenomeSyntaxError, match=r"g.genome:2:7: not UTF-8 text \(byte 0xff\)"):
        parse(b'snnc-genome 1\nname "\xff"\n', filename="g.genome")
    path = tmp_path / "bad.genome"
    path.write_text(H + "T 5\n", encoding="utf-8")
    with pytest.raises(GenomeSyntaxError, match=rf"^{path}:6:1: 'T' is given twice"):
        parse_file(path)
    with pytest.raises(SnncError, match="cannot read genome"):
        parse_file(tmp_path / "missing.genome")
    with pytest.raises(GenomeSyntaxError, match="a genome is text"):
        parse(None)


def test_constructors_raise_genome_errors():
    with pytest.raises(GenomeSyntaxError, match=r"<make_block>:0:0: stage s1: channels must be an "
                                                r"integer >= 1, got 0"):
        make_block("stage", "s1", "node", channels=0)
    with pytest.raises(GenomeSyntaxError, match="unknown surrogate 'hat'"):
        make_spec("hat", "surrogate")
