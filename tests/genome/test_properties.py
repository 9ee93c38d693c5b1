"""Property tests: random genomes round-trip through the canonical text; mutated or arbitrary texts
only ever raise GenomeSyntaxError (and never hang: each example has a deadline)."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnc.errors import GenomeSyntaxError
from snnc.genome import genome_id, parse, to_text

from .examples import FAMILIES
from .strategies import genomes

FAST = dict(derandomize=True, suppress_health_check=[HealthCheck.too_slow])


@settings(max_examples=200, deadline=None, **FAST)
@given(genomes())
def test_random_genomes_round_trip_and_print_stably(g):
    text = to_text(g)
    back = parse(text, limits="off")  # any valid value round-trips, within the limits or not
    assert back == g
    assert to_text(back) == text
    assert genome_id(back) == genome_id(g)


SOURCES = list(FAMILIES.values()) + [to_text(parse(t)) for t in FAMILIES.values()]
PIECES = ["->", "@", "@-1", "back", "{", "}", "{\n", "=", "\n", " ", "#", '"', '\\', "x", "-1",
          "1e9", "1e999", "9" * 5000, "\x00", "\t", "\r", "stage", "neuron", "lif", "-", ".",
          "é", "\ud800", "\ufeff", "true", "snnc-genome 2\n", "{" * 200]


@st.composite
def mutated(draw):
    """A valid text with 1-4 random insertions, deletions or replacements of chars or tokens."""
    text = draw(st.sampled_from(SOURCES))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = min(len(text), i + draw(st.integers(1, 12)))
        piece = draw(st.sampled_from(PIECES) | st.text(max_size=3))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        text = {"insert": text[:i] + piece + text[i:], "delete": text[:i] + text[j:],
                "replace": text[:i] + piece + text[j:]}[op]
    return text


def _only_genome_errors(text, filename="m.genome"):
    try:
        g = parse(text, filename=filename)
    except GenomeSyntaxError as exc:
        assert str(exc).startswith(f"{filename}:{exc.line}:{exc.column}: ")
        assert exc.line >= 1 and exc.column >= 1
    else:  # whatever parses is a genome the printer and parser agree on
        assert parse(to_text(g)) == g


@settings(max_examples=500, deadline=1000, **FAST)
@given(mutated())
def test_mutated_texts_only_raise_genome_syntax_error(text):
    _only_genome_errors(text)


@settings(max_examples=200, deadline=1000, **FAST)
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_arbitrary_text_or_bytes_only_raise_genome_syntax_error(data):
    _only_genome_errors(data)
