"""Canonical printing: parse(to_text(g)) == g, stable text, ids; over every schema entry."""
import dataclasses

import pytest

from snnc.genome import (Edge, canonical_neuron, genome_id, make_block, make_spec, parse, schema,
                         to_text)
from tests.genome.examples import FAMILIES, STTS


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_examples_round_trip(family):
    g = parse(FAMILIES[family])
    text = to_text(g)
    assert parse(text) == g
    assert to_text(parse(text)) == text


def test_comments_and_spacing_do_not_change_meaning():
    noisy = "# leading comment\n\n" + STTS.replace("\n", "   # trailing\n").replace(" -> ", "->")
    assert parse(noisy) == parse(STTS)
    assert genome_id(parse(noisy)) == genome_id(parse(STTS))


def test_id_changes_with_meaning():
    a = parse(STTS)
    b = parse(STTS.replace("0 -> 7 @1", "0 -> 7 @2"))
    assert genome_id(a) != genome_id(b)
    assert len(genome_id(a)) == 64


def test_defaults_are_filled_and_omitted():
    g = parse(STTS)
    s2 = g.blocks[1]
    assert s2["stride"] == 1 and s2["kernel"] == 3 and s2["conv"] == "standard"
    assert g.blocks[2]["stride"] == 2  # graph stages default to stride 2
    assert "kernel=" not in to_text(g)
    assert g.encoding == "rate" and "encoding rate" in to_text(g)


def test_edges_sorted_forward_first():
    g = parse(STTS)
    edges = g.blocks[2].edges
    assert [e.backward for e in edges] == [False, False, False, True]
    assert edges == tuple(sorted(edges, key=Edge.sort_key))
    assert (edges[1].src, edges[1].dst, edges[1].delay) == (0, 7, 1)


@pytest.mark.parametrize("kind", sorted(schema.NEURONS))
def test_every_neuron_model_round_trips(kind):
    g = dataclasses.replace(parse(STTS), neuron=make_spec(kind))
    assert parse(to_text(g)) == g


@pytest.mark.parametrize("kind", sorted(schema.SURROGATES))
def test_every_surrogate_round_trips(kind):
    g = dataclasses.replace(parse(STTS), surrogate=make_spec(kind, "surrogate"))
    assert parse(to_text(g)) == g


def _minimal_attrs(kind, form):
    out = {}
    for k, a in schema.BLOCKS[kind].attrs.items():
        if a.forms and form not in a.forms:
            continue
        if a.default_for(form) is schema.REQUIRED:
            out[k] = a.choices[0] if a.choices else {"int": max(1, int(a.lo or 1)), "str": "c1"}[a.type]
    return out


@pytest.mark.parametrize("kind,form", [(k, f) for k, b in schema.BLOCKS.items()
                                       for f in (b.forms or (None,))])
def test_every_block_kind_and_form_round_trips(kind, form):
    name = "b1" if schema.BLOCKS[kind].name_required or kind != "classifier" else None
    block = make_block(kind, name, form, **_minimal_attrs(kind, form))
    g = dataclasses.replace(parse(STTS), blocks=(block,))
    assert parse(to_text(g)) == g


@pytest.mark.parametrize("text,beta,alpha", [
    ("lif tau=2", 0.5, 0.5),
    ("lif tau=3 decay_input=false", 2 / 3, 1.0),
    ("lif leak=0.2", 0.2, 1.0),
    ("lif beta=0.25 alpha=0.75", 0.25, 0.75),
    ("if", 1.0, 1.0),
])
def test_canonical_neuron(text, beta, alpha):
    g = parse(STTS.replace("neuron lif tau=3 decay_input=false v_th=1 reset=hard", "neuron " + text))
    c = canonical_neuron(g.neuron)
    assert c["beta"] == pytest.approx(beta) and c["alpha"] == pytest.approx(alpha)
    assert (c["v_th"], c["v_reset"], c["reset"]) == (1.0, 0.0, "hard")


def test_user_parameterisation_is_kept():
    g = parse(STTS)
    assert "neuron lif tau=3 decay_input=false" in to_text(g)
