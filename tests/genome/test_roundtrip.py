"""Canonical printing over every schema entry: parse(to_text(g)) == g, the text is a fixed point,
ids identify meaning. Loops over the schema tables, so a new entry is tested when it is added."""
import dataclasses

import pytest

from snnc.genome import (Edge, canonical_neuron, genome_id, make_block, make_genome, make_spec,
                         parse, schema as S, to_text)

from .examples import FAMILIES, STTS

BASE = make_genome("base", 4, (3, 32, 32), 10)


def other_value(p: S.Param):
    """A valid value of ``p`` different from its default (the default itself when there is none)."""
    if p.choices:
        return next((c for c in p.choices if c != p.default), p.choices[0])
    if p.type == "bool":
        return not p.default if isinstance(p.default, bool) else True
    if p.type in ("int", "float"):
        lo = p.lo if p.lo is not None else (p.hi - 5 if p.hi is not None else 0)
        hi = p.hi if p.hi is not None else lo + 10
        v = (lo + hi) / 2 if p.type == "float" else int(lo) + 1
        v = v + 1 if p.odd and v % 2 == 0 else v
        return v if v != p.default else (v + hi) / 2 if p.type == "float" else v + 2
    return {"name": "c1", "text": 'a "q" \\ \n', "shape": (2, 3)}[p.type]


def round_trips(g):
    text = to_text(g)
    assert parse(text) == g
    assert to_text(parse(text)) == text
    return text


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_examples_round_trip(family):
    g = parse(FAMILIES[family])
    text = round_trips(g)
    assert genome_id(parse(text)) == genome_id(g)


def _applicable(sk: S.SpecKind, form: tuple) -> list:
    """Keys of ``sk`` that apply in parameterisation ``form``."""
    grouped = {k for g in sk.forms for k in g}
    return [p.name for p in sk.params if p.name not in grouped or p.name in form]


SPEC_CASES = [(role, kind, form, key) for role, table in S.SPECS.items()
              for kind, sk in table.items() for form in (sk.forms or ((),))
              for key in [None] + _applicable(sk, form)]


@pytest.mark.parametrize("role,kind,form,key", SPEC_CASES)
def test_every_spec_parameter_round_trips(role, kind, form, key):
    sk = S.SPECS[role][kind]
    params = {k: other_value(sk.param(k)) for k in form if sk.param(k).required or k == form[0]}
    if key is not None:
        params[key] = other_value(sk.param(key))
    spec = make_spec(kind, role, **params)
    g = dataclasses.replace(BASE, **{role: spec})
    text = round_trips(g)
    if form:  # the parameterisation chosen survives, spelled by its first key
        line = next(x for x in text.splitlines() if x.startswith(role + " "))
        assert f" {form[0]}=" in line


def test_every_spec_kind_is_unique_across_tables():
    assert not set(S.NEURONS) & set(S.SURROGATES)


BLOCK_CASES = [(kind, f.name, key) for kind, bk in S.BLOCKS.items() for f in bk.forms
               for key in [None] + [p.name for p in bk.params_for(f)]]


def _block(kind, form, **attrs):
    bk = S.BLOCKS[kind]
    f = bk.form(form)
    req = {p.name: other_value(p) for p in bk.params_for(f) if p.required}
    name = "b1" if bk.naming != "none" else None
    edges = []
    if f.edges and (f.edges.forward or f.edges.backward):
        op = f.edges.ops[0] if f.edges.ops else None
        edges = ([Edge(0, 1, 0, False, op)] if f.edges.forward else []) + \
                ([Edge(1, 0, 1, True, op)] if f.edges.backward else [])
    return make_block(kind, name, form, edges=edges, **{**req, "nodes": 2, **attrs}
                      if any(p.name == "nodes" for p in bk.params_for(f)) else {**req, **attrs})


@pytest.mark.parametrize("kind,form,key", BLOCK_CASES)
def test_every_block_attribute_round_trips(kind, form, key):
    p = next((p for p in S.BLOCKS[kind].params if p.name == key), None)
    extra = {key: other_value(p)} if p is not None and not p.ref and key != "nodes" else {}
    block = _block(kind, form, **extra)
    cell = _block("cell", "snasnet")
    cell = dataclasses.replace(cell, name="c1")
    blocks = (cell, block) if any(q.ref for q in S.BLOCKS[kind].params) else (block,)
    g = dataclasses.replace(BASE, blocks=blocks)
    round_trips(g)
    with_overrides = dataclasses.replace(block, neuron=make_spec("if"),
                                         surrogate=make_spec("dspike", b=4))
    round_trips(dataclasses.replace(g, blocks=blocks[:-1] + (with_overrides,)))


def test_header_statements_round_trip():
    for prov in (None, "", 'seed=3 "quoted" back\\slash\nnewline\x00\ud800'):
        for enc in ("direct", "rate"):
            round_trips(dataclasses.replace(BASE, provenance=prov, encoding=enc,
                                            input_shape=(784,)))


def test_canonical_text_of_the_stts_example():
    text = to_text(parse(STTS))
    assert text == """snnc-genome 1
name "tanet-tiny-demo"
provenance "stts model=ba m=8 p=0.05 seed=3"
T 4
input 3x32x32
classes 10
neuron lif tau=3 decay_input=false
surrogate atan alpha=2

stage s1 node channels=96 spiking=false
stage s2 node channels=96
stage s3 graph channels=192 conv=separable nodes=32 {
  0 -> 4
  0 -> 7 @1
  1 -> 4 @2
  back 9 -> 3 @1
  neuron lif tau=2
}
classifier head channels=1280 dropout=0.2
"""


def test_comments_spacing_order_and_defaults_do_not_change_meaning():
    noisy = STTS.replace(" -> ", "->").replace("vote=0", "vote=0   ").replace(
        "  0 -> 4\n", "").replace("  1 -> 4 @2\n", "  1 -> 4 @2\n  0 -> 4\n\n# note\n")
    assert parse(noisy) == parse(STTS)
    assert genome_id(parse(noisy)) == genome_id(parse(STTS))
    assert parse(STTS.replace("\n", "\r\n")) == parse(STTS)


def test_id_changes_with_meaning():
    a, b = parse(STTS), parse(STTS.replace("0 -> 7 @1", "0 -> 7 @2"))
    assert genome_id(a) != genome_id(b) and len(genome_id(a)) == 64


def test_attributes_are_complete_typed_and_in_schema_order():
    g = parse(STTS)
    s1, s3 = g.blocks[0], g.blocks[2]
    assert [k for k, _ in s1.attrs] == ["channels", "stride", "kernel", "conv", "spiking",
                                        "dropout"]
    assert s3["stride"] == 2 and s3["nodes"] == 32 and s3["kernel"] == 3
    assert isinstance(g.blocks[3]["dropout"], float) and g.blocks[3]["vote"] == 0
    assert g.neuron.params == (("tau", 3.0), ("decay_input", False), ("v_th", 1.0),
                               ("v_reset", 0.0), ("v_rest", 0.0), ("reset", "hard"),
                               ("detach_reset", False))
    assert isinstance(g.neuron.get("tau"), float)


def test_edges_sorted_forward_first_and_located():
    g = parse(STTS)
    edges = g.blocks[2].edges
    assert edges == tuple(sorted(edges, key=Edge.sort_key))
    assert [e.backward for e in edges] == [False, False, False, True]
    assert str(edges[-1].loc) == "18:3" and str(g.blocks[2].loc) == "14:1"


@pytest.mark.parametrize("text,beta,alpha", [
    ("lif", 0.5, 0.5),
    ("lif tau=2", 0.5, 0.5),
    ("lif tau=3 decay_input=false", 2 / 3, 1.0),
    ("lif leak=0.2", 0.2, 1.0),
    ("lif beta=0.25 alpha=0.75", 0.25, 0.75),
    ("lif beta=0.9", 0.9, 1.0),
    ("if", 1.0, 1.0),
    ("plif tau=4", 0.75, 0.25),
    ("alif leak=0.2", 0.2, 1.0),
])
def test_canonical_neuron(text, beta, alpha):
    g = parse(STTS.replace("neuron lif tau=3 decay_input=false v_th=1 reset=hard", "neuron " + text))
    c = canonical_neuron(g.neuron)
    assert c["model"] == text.split()[0]
    assert c["beta"] == pytest.approx(beta) and c["alpha"] == pytest.approx(alpha)
    assert (c["v_th"], c["v_reset"], c["v_rest"], c["reset"], c["detach_reset"]) == \
        (1.0, 0.0, 0.0, "hard", False)


def test_canonical_neuron_extras():
    assert canonical_neuron(make_spec("alif", leak=0.2, rho=0.3))["rho"] == 0.3
    relu = canonical_neuron(make_spec("relu"))
    assert relu["model"] == "relu" and relu["beta"] is None


def test_make_helpers_fill_and_check():
    b = make_block("stage", "s3", "graph", nodes=3, channels=8,
                   edges=[(1, 2), Edge(0, 1, 1), (2, 0, 1, True)])
    assert [(e.src, e.dst) for e in b.edges] == [(0, 1), (1, 2), (2, 0)]
    assert b["stride"] == 2
    assert make_spec("atan") == make_spec("atan", "surrogate", alpha=2)
    np = pytest.importorskip("numpy")
    b2 = make_block("stage", "s3", "graph", nodes=np.int64(3), channels=8,
                    edges=[Edge(np.int64(0), np.int64(1), np.int64(1))])
    assert type(b2.edges[0].src) is int and type(b2["nodes"]) is int
