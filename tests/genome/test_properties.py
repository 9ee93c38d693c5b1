"""Property tests: random genomes round-trip; mutated genome texts only raise GenomeSyntaxError."""
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnc.errors import GenomeSyntaxError
from snnc.genome import Edge, Genome, make_block, make_spec, parse, to_text
from tests.genome.examples import FAMILIES

names = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True).filter(
    lambda s: s not in ("true", "false", "back"))
floats = st.floats(min_value=0.0, max_value=10.0, allow_nan=False, allow_infinity=False)


@st.composite
def neurons(draw):
    form = draw(st.sampled_from(["tau", "leak", "explicit", "if"]))
    common = {"v_th": draw(st.floats(0.1, 4.0)), "reset": draw(st.sampled_from(["hard", "soft"])),
              "detach_reset": draw(st.booleans())}
    if form == "tau":
        return make_spec("lif", tau=draw(st.floats(1.0, 20.0)), decay_input=draw(st.booleans()),
                         **common)
    if form == "leak":
        return make_spec("lif", leak=draw(st.floats(0.0, 1.0)), **common)
    if form == "explicit":
        return make_spec("lif", beta=draw(st.floats(0.0, 1.0)), alpha=draw(floats), **common)
    return make_spec("if", **common)


@st.composite
def graph_stage(draw, name):
    n = draw(st.integers(1, 12))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    fwd = draw(st.lists(st.sampled_from(pairs), unique=True, max_size=30)) if pairs else []
    edges = [Edge(i, j, draw(st.integers(0, 3))) for i, j in fwd]
    back = draw(st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=4,
                         unique=True))
    edges += [Edge(max(i, j), min(i, j), draw(st.integers(1, 3)), True) for i, j in back]
    edges = list({(e.src, e.dst, e.delay, e.backward): e for e in edges}.values())
    return make_block("stage", name, "graph", nodes=n, channels=draw(st.integers(1, 512)),
                      stride=draw(st.integers(1, 2)), conv=draw(st.sampled_from(["standard", "separable"])),
                      dropout=draw(st.floats(0.0, 0.9)), edges=edges,
                      neuron=draw(st.none() | neurons()))


@st.composite
def genomes(draw):
    blocks = []
    for i in range(draw(st.integers(0, 4))):
        if draw(st.booleans()):
            blocks.append(make_block("stage", f"s{i}", "node", channels=draw(st.integers(1, 256)),
                                     spiking=draw(st.booleans()), kernel=draw(st.sampled_from([1, 3, 5]))))
        else:
            blocks.append(draw(graph_stage(f"s{i}")))
    if draw(st.booleans()):
        blocks.append(make_block("classifier", None, None, channels=draw(st.integers(0, 2048)),
                                 vote=draw(st.integers(0, 10)), dropout=draw(st.floats(0.0, 0.9))))
    text_chars = st.text(alphabet=string.printable + "é→λ", max_size=30)
    return Genome(name=draw(text_chars), T=draw(st.integers(1, 64)),
                  input_shape=tuple(draw(st.lists(st.integers(1, 64), min_size=1, max_size=3))),
                  classes=draw(st.integers(1, 1000)), neuron=draw(neurons()),
                  surrogate=make_spec(draw(st.sampled_from(["atan", "triangle", "dspike"])), "surrogate"),
                  blocks=tuple(blocks), encoding=draw(st.sampled_from(["direct", "rate"])),
                  provenance=draw(st.none() | text_chars))


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(genomes())
def test_random_genomes_round_trip(g):
    text = to_text(g)
    back = parse(text)
    assert back == g
    assert to_text(back) == text


SOURCES = list(FAMILIES.values())
tokens = st.sampled_from(["->", "@", "back", "{", "}", "=", "\n", " ", "#", '"', "x", "-1", "1e9",
                          "99999999999999999999", "\x00", "\t", "stage", "-", ".", "é"])


@st.composite
def mutated(draw):
    text = draw(st.sampled_from(SOURCES))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        op = draw(st.sampled_from(["insert", "delete", "replace"]))
        piece = draw(tokens | st.text(max_size=3))
        j = min(len(text), i + draw(st.integers(1, 8)))
        text = (text[:i] + piece + text[i:] if op == "insert" else
                text[:i] + text[j:] if op == "delete" else text[:i] + piece + text[j:])
    return text


@settings(max_examples=400, deadline=2000, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_texts_only_raise_genome_syntax_error(text):
    try:
        g = parse(text, filename="m.genome")
    except GenomeSyntaxError as exc:
        assert str(exc).startswith("m.genome:")
        assert exc.line >= 1 and exc.column >= 1
    else:
        assert parse(to_text(g)) == g
