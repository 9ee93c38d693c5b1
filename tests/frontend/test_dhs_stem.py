"""The SpikeDHS ``stem { neuron ... surrogate ... }`` block: the stem neuron's own overrides (what
DGS and TPS write for the stem, SpikeDHS section 4.2-4.3): round trip, lowering, errors."""
from __future__ import annotations

import pytest

from snnc.errors import GenomeSyntaxError, LoweringError
from snnc.frontend import lower
from snnc.genome import genome_id, parse, to_text

HEAD = """snnc-genome 1
name "stem"
T 2
input 1x8x8
classes 10
neuron lif leak=0.2 v_th=0.5
surrogate dspike b=3

cell c dhs channels=2 nodes=2 {
  -2 -> 0 snn_b3
  -1 -> 1 snn_b3
  0 -> 1 snn_b5
}
"""
LAYERS = "layer l1 cell=c level=0\nlayer l2 cell=c level=1\n"
STEM = "stem {\n  neuron alif leak=0.3 v_th=0.4\n  surrogate dspike b=3.4\n}\n"


def test_stem_block_round_trips_canonically():
    g = parse(HEAD + STEM + LAYERS)
    text = to_text(g)
    assert STEM in text
    assert parse(text) == g and to_text(parse(text)) == text
    # spacing, comments and defaults written out do not change the meaning
    loose = HEAD + "stem {   # the stem's own\n neuron alif leak=0.3 v_th=0.4 rho=0.2\n" \
                   "surrogate dspike b=3.4\n}\n" + LAYERS
    assert genome_id(parse(loose)) == genome_id(g)
    # an empty stem block is allowed and prints as a bare keyword
    bare = parse(HEAD + "stem\n" + LAYERS)
    assert "\nstem\n" in to_text(bare) and parse(to_text(bare)) == bare


def test_stem_overrides_reach_the_stem_neuron_only():
    g = lower(parse(HEAD + STEM + LAYERS))
    stem = g["stem.lif"]
    assert stem.op == "ALIF"
    assert (stem.attrs["beta"], stem.attrs["v_th"], stem.attrs["surrogate_arg"]) == (0.3, 0.4, 3.4)
    for name in ("head.lif", "l1.n0.lif", "l2.n0.lif"):
        a = g[name].attrs
        assert g[name].op == "LIF" and (a["beta"], a["v_th"], a["surrogate_arg"]) == (0.2, 0.5, 3.0)
    assert g["l1.n1.lif"].attrs["surrogate_arg"] == 3.0  # rule 3 (mixed b3/b5): the genome's
    # without a stem block the stem takes the genome's neuron, as before
    plain = lower(parse(HEAD + LAYERS))
    assert plain["stem.lif"].op == "LIF" and plain["stem.lif"].attrs["beta"] == 0.2
    # only the stem's attributes differ between the two graphs
    diff = [n for n in plain.nodes if plain[n].attrs != g[n].attrs]
    assert diff == ["stem.lif"]


@pytest.mark.parametrize("stem, message", [
    ("stem s {\n  neuron lif leak=0.3\n}\n", "unexpected word 's'"),
    ("stem channels=3\n", "unknown attribute 'channels'"),
    ("stem {\n  0 -> 1\n}\n", "takes no edges"),
    ("stem {\n  surrogate dspike b=0\n}\n", "b must be a number > 0"),
    ("stem {\n  neuron lif leak=1.5\n}\n", "leak must be a number in [0, 1]"),
    ("stem\nstem\n", "at most one stem"),
])
def test_stem_block_errors_name_the_line(stem, message):
    with pytest.raises(GenomeSyntaxError) as e:
        parse(HEAD + stem + LAYERS)
    assert message in str(e.value)
    assert ":" in str(e.value).split(" ")[0]  # <genome>:line:col


def test_stem_after_the_first_layer_is_refused():
    text = HEAD + "layer l1 cell=c level=0\n" + STEM + "layer l2 cell=c level=1\n"
    with pytest.raises(LoweringError, match=r"line 15:1: stem: comes after a SpikeDHS layer"):
        lower(parse(text))


def test_stem_outside_a_spikedhs_network_is_refused():
    text = ("snnc-genome 1\nname \"s\"\nT 1\ninput 1x8x8\nclasses 10\n\nstem {\n"
            "  surrogate dspike b=3\n}\nstage s1 node channels=4\nclassifier\n")
    with pytest.raises(LoweringError, match=r"line 7:1: stem: .*no layer or trellis blocks"):
        lower(parse(text))
