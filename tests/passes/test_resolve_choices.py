"""resolve-choices: a supernet plus an assignment becomes a plain graph that computes what the
supernet computes under that assignment (issue 11's key test), on random supernets with delays,
backward edges and every neuron model; and supernets are refused by every target but train."""
import numpy as np
import pytest
from tests.ir.test_choices import X, supernet

from snnc.errors import AssignmentError, PassError
from snnc.ir import run, verify
from snnc.ir.choices import argmax_port
from snnc.ir.ops import CHOICE_OPS, NEURON_OPS, SPIKING_NEURON_OPS
from snnc.passes import ResolveChoices, parse_pipeline, prepare, resolve_choices, run_pipeline
from snnc.testing.random_graph import random_input
from snnc.testing.supernet import random_assignment, random_supernet

SEEDS = range(14)


def with_argmax(g, assignment):
    """The assignment resolve-choices applies: every WeightedMix without an entry at its argmax."""
    full = dict(assignment)
    for n in g.nodes_of("WeightedMix"):
        full.setdefault(n.name, argmax_port(n.params["alpha"]))
    return full


@pytest.mark.parametrize("seed", SEEDS)
def test_resolved_graph_equals_supernet_under_the_assignment(seed):
    g = random_supernet(seed, neurons=NEURON_OPS)
    assert g.nodes_of(*CHOICE_OPS)
    x = random_input(g, seed=100 + seed)
    rng = np.random.default_rng(seed)
    for _ in range(3):
        a = random_assignment(g, rng)
        full = with_argmax(g, a)
        want = run(g, x, assignment=full)
        plain = resolve_choices(g, a)
        assert not plain.nodes_of(*CHOICE_OPS)
        got = run(plain, x)
        np.testing.assert_allclose(got.output, want.output, rtol=1e-12, atol=1e-12)
        for n in plain.nodes_of(*SPIKING_NEURON_OPS):
            np.testing.assert_array_equal(got.outputs[n.name], want.outputs[n.name],
                                          err_msg=f"{seed} {a} spikes of {n.name}")


def test_random_supernets_cover_the_cases():
    """Both ops, optional Choices assigned -1, delayed and backward alternatives, cycles."""
    seen = set()
    for seed in SEEDS:
        g = random_supernet(seed, neurons=NEURON_OPS)
        rng = np.random.default_rng(seed)
        for _ in range(3):
            a = random_assignment(g, rng)
            seen |= {"nothing"} if -1 in a.values() else set()
            seen |= {"alternative"} if any(p > 0 for p in a.values()) else set()
        for n in g.nodes_of(*CHOICE_OPS):
            seen.add(n.op)
            ins = g.in_edges(n.name)
            seen |= {"backward"} if any(e.kind == "backward" for e in ins) else set()
            seen |= {"delay"} if any(e.delay for e in ins) else set()
            seen |= {"cycle"} if any(n.name in c for c in g.strongly_connected_components()
                                      if len(c) > 1) else set()
    assert seen >= {"Choice", "WeightedMix", "nothing", "alternative", "backward", "delay",
                    "cycle"}, seen


def test_by_hand_and_notes():
    g = supernet(optional=True)
    plain, records = run_pipeline(g, [ResolveChoices("c:1")])
    assert set(plain.nodes) == {"in", "out"}  # m -> its argmax, port 1: the input itself
    assert plain.in_edges("out")[0].src == "in"
    notes = " ".join(records[0].notes)
    assert "c -> port 1, m -> port 1" in notes and "approximated" in notes and "m -> port 1" in notes
    assert plain.meta["passes"] == ["resolve-choices{assignment=c:1}"]
    plain = resolve_choices(g, {"c": 1, "m": 0})
    assert sorted(plain.nodes) == ["b", "in", "out"]
    np.testing.assert_array_equal(run(plain, X).output,
                                  run(g, X, assignment={"c": 1, "m": 0}).output)
    assert [str(e) for e in plain.in_edges("out")] == ["b -> out @1"]


def test_spec_round_trip():
    p, = parse_pipeline("resolve-choices{assignment=m:0;c:-1 mix=refuse}")
    assert p == ResolveChoices("m:0;c:-1", "refuse")
    assert parse_pipeline(str(p)) == [p]
    with pytest.raises(PassError, match=r"assignment item 'c' is not 'node:port'"):
        parse_pipeline("resolve-choices{assignment=c}")


def test_refusals_name_the_nodes():
    with pytest.raises(AssignmentError, match=r"no entry for Choice node\(s\) 'c'"):
        resolve_choices(supernet())
    with pytest.raises(PassError, match=r"WeightedMix node 'm' has no assignment entry and the "
                                        r"option mix=refuse"):
        resolve_choices(supernet(), {"c": 0}, mix="refuse")
    g = supernet(optional=True)
    with pytest.raises(PassError, match=r"choice node 'c' is assigned -1 \(nothing\), which would "
                                        r"leave port 0 of node 'm' \(WeightedMix\) without"):
        resolve_choices(g, {"c": -1, "m": 0})
    # unselected ports go first: m at its argmax (port 1) no longer reads c, so c's -1 is fine
    plain = resolve_choices(g, {"c": -1})
    np.testing.assert_array_equal(run(plain, X).output,
                                  run(g, X, assignment={"c": -1, "m": 1}).output)


@pytest.mark.parametrize("target", ["energy", "lava", "nir", "onnx"])
def test_targets_refuse_a_supernet(target):
    with pytest.raises(PassError, match=rf"node 'c' \(Choice\) \(and 1 more\): the {target} "
                                        rf"target .* takes no supernet: an unresolved choice "
                                        rf"point of a supernet: resolve it first with the "
                                        rf"resolve-choices pass"):
        prepare(supernet(), target)
    plain, _ = prepare(resolve_choices(supernet(), {"c": 0}), target)
    verify(plain)


def test_train_target_takes_a_supernet():
    g, _ = prepare(supernet(), "train")
    assert {n.op for n in g} >= {"Choice", "WeightedMix"}
