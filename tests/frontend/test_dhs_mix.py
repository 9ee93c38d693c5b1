"""Mixed edges of SpikeDHS cells (``-2 -> 0 mix``): a supernet edge that mixes every candidate
operation (skip, snn_b3, snn_b5) with a WeightedMix before the node's neuron (SpikeDHS eq. 16):
syntax and printing, the lowered structure, what one selected candidate computes (against the
plain genome with that operation), torch against the interpreter."""
from __future__ import annotations

import re

import numpy as np
import pytest

from snnc.errors import GenomeSyntaxError
from snnc.frontend import lower
from snnc.genome import parse, to_text
from snnc.genome.schema import DHS_OPS
from snnc.ir import run, verify
from snnc.passes import resolve_choices

from .test_dhs import lively, small_text

#: Two mixed edges: from s0 (width 3C in the first layer, so its skip is a 1x1 conv-BN) and from
#: node 1 (width C: an identity skip, the neuron's spikes straight into the mix).
MIXED = {"-2 -> 0 snn_b3": "-2 -> 0 mix", "1 -> 2 skip": "1 -> 2 mix"}
BRANCH = re.compile(r"^(l\d+\.n\d+\.(?:s0|s1|n\d+))\.(skip|snn_b3|snn_b5)\.(conv|bn)$")


def text_with(edges: dict[str, str], **kw) -> str:
    text = small_text(**kw)
    for old, new in edges.items():
        assert old in text
        text = text.replace(old, new)
    return text


def supernet(seed: int = 0, **kw):
    return verify(lower(parse(text_with(MIXED, **kw)), seed=seed))


def test_mix_parses_and_prints_back():
    genome = parse(text_with(MIXED))
    text = to_text(genome)
    assert "  -2 -> 0 mix\n" in text and "  1 -> 2 mix\n" in text
    assert parse(text) == genome
    with pytest.raises(GenomeSyntaxError, match="one of skip, snn_b3, snn_b5, mix; got 'mixx'"):
        parse(text_with({"-2 -> 0 snn_b3": "-2 -> 0 mixx"}))


def test_one_weighted_mix_per_mixed_edge_over_the_candidates():
    g = supernet()
    mixes = g.nodes_of("WeightedMix")
    assert sorted(m.name for m in mixes) == sorted(
        f"l{i}.{e}.mix" for i in range(1, 9) for e in ("n0.s0", "n2.n1"))
    for m in mixes:
        assert m.attrs == {"k": 3}
        assert np.array_equal(m.params["alpha"], np.zeros(3))  # uniform weights
        layer, node = m.name.split(".")[:2]
        assert [(e.dst, e.port) for e in g.out_edges(m.name)] == [(f"{layer}.{node}.lif", 0)]
        ins = sorted((e.port, e.src) for e in g.in_edges(m.name))
        assert [p for p, _ in ins] == [0, 1, 2]
        prefix = m.name[:-len(".mix")]
        for (port, src), op in zip(ins, DHS_OPS):
            if op == "skip" and prefix.endswith(".n1"):  # same width: the identity
                assert src == f"{layer}.n1.lif"
                continue
            assert src == f"{prefix}.{op}.bn"
            (conv,) = [e.src for e in g.in_edges(src)]
            assert conv == f"{prefix}.{op}.conv"
            assert g[conv].attrs["kernel"] == (1 if op == "skip" else 3)
    # a node fed by a mixed edge fires with one surrogate: the candidates' temperatures differ
    assert g["l1.n0.lif"].attrs["surrogate_arg"] == 3.0  # the genome's dspike b=3 (rule 3)


def _plain_with_supernet_weights(sup, p: int):
    """The plain genome whose mixed edges carry candidate ``p``, lowered, with the supernet's
    weights: its own lowering draws other weights (the supernet draws every candidate first)."""
    plain = verify(lower(parse(text_with({old: old.rsplit(" ", 1)[0] + " " + DHS_OPS[p]
                                          for old in MIXED})), seed=0))
    names = {}
    for n in sup:
        m = BRANCH.match(n.name)
        if m is None:
            names[n.name] = n.name
        elif m.group(2) == DHS_OPS[p]:
            names[f"{m.group(1)}.{m.group(3)}"] = n.name
    for n in plain:
        assert n.op == sup[names[n.name]].op, n.name
        n.params.update({k: v.copy() for k, v in sup[names[n.name]].params.items()})
    return plain


@pytest.mark.parametrize("p", [0, 1, 2])
def test_selected_candidate_equals_the_plain_genome(p):
    sup = lively(supernet(seed=1), seed=2)
    assignment = {m.name: p for m in sup.nodes_of("WeightedMix")}
    x = np.random.default_rng(3).normal(0.5, 1.0, (2, 3, 16, 16))
    got = run(sup, x, assignment=assignment)
    plain = _plain_with_supernet_weights(sup, p)
    want = run(plain, x)
    assert np.array_equal(got.output, want.output)
    for n in plain.nodes_of("LIF"):
        assert np.array_equal(got.outputs[n.name], want.outputs[n.name]), n.name
    assert 0 < want.outputs["l8.n2.lif"].mean() < 1  # the compared network really fires
    resolved = resolve_choices(sup, assignment)
    assert not resolved.nodes_of("WeightedMix")
    assert np.array_equal(run(resolved, x).output, got.output)


def test_torch_mixing_matches_interpreter_float64():
    torch = pytest.importorskip("torch")
    from snnc.backends.torch import compile as compile_torch

    g = lively(supernet(seed=4), seed=5)
    rng = np.random.default_rng(6)
    for m in g.nodes_of("WeightedMix"):
        m.params["alpha"] = rng.normal(0, 1, 3)
    x = rng.normal(0.5, 1.0, (2, 3, 16, 16))
    trace = run(g, x)  # no assignment: every mix mixes
    module = compile_torch(g, dtype=torch.float64).eval()
    with torch.no_grad(), module.probing():
        y = module(torch.as_tensor(x))
    for node in g:
        got, want = module.records[node.name].numpy(), trace.outputs[node.name]
        if node.op == "LIF":
            assert np.array_equal(got, want), f"{node.name}: spikes differ"
        else:
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, err_msg=node.name)
    np.testing.assert_allclose(y.numpy(), trace.output, rtol=1e-9, atol=1e-9)
    mixed = trace.outputs["l3.n2.n1.mix"]  # mixes spikes with currents: not binary
    assert not np.isin(mixed, (0.0, 1.0)).all()


def test_draw_labels_the_mixed_edge(tmp_path):
    pytest.importorskip("matplotlib")
    from snnc.views.draw import draw_genome, genome_panels

    genome = parse(text_with(MIXED))
    _, (cell,) = genome_panels(genome)
    assert [a.label for a in cell.arcs].count("mix") == 2
    assert b"<svg" in draw_genome(genome, tmp_path / "c.svg").read_bytes()[:2000]
