"""The Lava coverage table (snnc.backends.lava.coverage) on every zoo preset and example genome at
small width, the SpikeDHS variants (ALIF/IF layers, a hybrid ReLU layer, the trellis supernet),
and refusals by name; planning only, Lava is never started. Plus one preset-family network with
Concat, AvgPool and synaptic delays emulated against the interpreter."""
from pathlib import Path

import numpy as np
import pytest

from snnc import zoo
from snnc.backends.lava import LavaMappingError, plan
from snnc.backends.lava.coverage import HOST, MAPS, REFUSED, coverage, coverage_of
from snnc.frontend import lower
from snnc.genome import parse
from snnc.ir import run, verify
from snnc.passes.targets import prepare
from snnc.zoo.small import reduced

from .emulator import emulate
from .graphs import build, quick_calibrate

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
GENOMES = [f"zoo:{n}" for n in zoo.names()] + [f"examples:{p.name}"
                                                for p in sorted(EXAMPLES.glob("*.genome"))]


def _genome(key):
    kind, name = key.split(":")
    if kind == "zoo":
        return reduced(zoo.load(name))
    return reduced(parse((EXAMPLES / name).read_text()))


@pytest.mark.parametrize("key", GENOMES)
def test_every_op_of_every_preset_maps(key):
    """No preset or example produces an op the backend refuses; where the graph as a whole is
    refused, it is by the planner's timing rules (a cycle with more hops than delay), and the
    verdict is the planner's own message."""
    g, _ = prepare(verify(lower(_genome(key), seed=0)), "lava")
    cov = coverage(g)
    assert [r.node for r in cov.nodes] == g.topological_order()
    assert not cov.refused(), cov.refused()
    assert {r.status for r in cov.nodes} <= {MAPS, HOST}
    try:
        p = plan(g)
    except LavaMappingError as exc:
        assert not cov.maps and cov.refusal == str(exc) and exc.rule == "lava cycles"
        assert cov.refused_node == exc.node
        return
    assert cov.maps and cov.planned
    assert (cov.neurons, cov.synapses, cov.injectors) == (
        len(p.neurons), sum(not s.direct for s in p.synapses), len(p.fed))
    folded = {v for s in p.synapses for v in s.via}
    for r in cov.nodes:
        if r.node in folded:
            assert r.status == MAPS and r.how.startswith("folded into"), r
        if g[r.node].op == "LIF":
            assert r.how.startswith("LIFReset"), r


def _dhs(blocks):
    text = (EXAMPLES / "spikedhs-small.genome").read_text()
    for layer, body in blocks.items():
        line = next(ln for ln in text.splitlines() if ln.startswith(f"layer {layer} "))
        text = text.replace(line, f"{line} {{\n  {body}\n}}")
    return verify(lower(reduced(parse(text)), seed=0))


def test_alif_and_if_layers_map():
    cov = coverage_of(_dhs({"l2": "neuron alif leak=0.2 v_th=0.5 rho=0.2",
                            "l3": "neuron if v_th=0.5"}))
    assert cov.maps and cov.planned
    how = {r.node: r.how for r in cov.nodes}
    alif = [n for n, r in how.items() if n.startswith("l2.") and r.startswith("ALIFReset")]
    ifs = [n for n, r in how.items() if n.startswith("l3.") and r == "LIFReset as IF (dv = 0)"]
    assert alif and ifs


def test_hybrid_relu_layer_refused_by_name():
    g = _dhs({"l2": "neuron relu"})
    cov = coverage_of(g)
    relus = [n.name for n in g.nodes_of("ReLU")]
    assert relus and not cov.maps and not cov.planned
    assert sorted(r.node for r in cov.refused()) == sorted(relus)  # every one, not the first
    assert cov.refused_node == relus[0] and f"neuron {relus[0]!r}: op ReLU" in cov.refusal
    assert all("non-spiking" in r.how for r in cov.refused())
    with pytest.raises(LavaMappingError, match=rf"neuron '{relus[0]}': op ReLU"):
        plan(prepare(g, "lava")[0])


def test_trellis_supernet_refused_by_its_choice_nodes():
    text = ('snnc-genome 1\nname "t"\nT 2\ninput 1x8x8\nclasses 4\nneuron lif leak=0.2 v_th=0.5\n'
            'cell c dhs channels=2 nodes=2 {\n  -2 -> 0 mix\n  -1 -> 0 mix\n  -1 -> 1 mix\n'
            '  0 -> 1 mix\n}\ntrellis t cell=c layers=2 levels=2\n')
    g = verify(lower(parse(text), seed=0))
    cov = coverage_of(g)
    mixes = {n.name for n in g.nodes_of("WeightedMix")}
    assert not cov.maps and {r.node for r in cov.refused()} == mixes
    assert "resolve-choices" in cov.refusal


def test_graph_level_refusal_keeps_op_rows():
    """A soft reset and a PLIF in one graph: both neurons refused in their rows."""
    g, _ = build("conv_chain")
    g["l1"].attrs["reset"] = "soft"
    g["l2"].op = "PLIF"
    g["l2"].attrs = {**g["l2"].attrs, "decay_input": False}
    cov = coverage(verify(g))
    assert {r.node: r.status for r in cov.refused()} == {"l1": REFUSED, "l2": REFUSED}
    assert "reset='soft'" in cov.refusal and "freeze-plif" in {
        r.node: r.how for r in cov.nodes}["l2"]
    assert {r.node: r.how for r in cov.nodes}["c2"] == "folds into synapse weights (graph not planned)"


def test_spikedhs_example_with_concat_pooling_and_delays_emulated():
    """examples/spikedhs-digits.genome at small width (Concat, AvgPool, synaptic delays of the
    cell's -2 inputs), thresholds set for about 20 % firing: the emulated Lava plan equals the
    interpreter spike for spike."""
    g, _ = prepare(verify(lower(_genome("examples:spikedhs-digits.genome"), seed=0)), "lava")
    assert {"Concat", "AvgPool2d"} <= {n.op for n in g}
    x = np.random.default_rng(0).uniform(0, 1, (2, 1, 8, 8))
    quick_calibrate(g, x)
    ref = run(g, x).outputs
    p = plan(g)
    assert any(s.extra or s.delay for s in p.synapses)
    got = emulate(p, x)
    for k in p.neurons:
        assert 0.1 <= ref[k].mean() <= 0.3, (k, ref[k].mean())
        np.testing.assert_array_equal(got[k], ref[k], err_msg=k)


def test_resnet_bc_with_covering_delays_maps_its_upsampling():
    """ResNet-18-BC at small width with backward delays 3 and 10 (each cycle's hops covered):
    planned, and its Upsample row is one Sparse synapse, not host work."""
    text = zoo.get("resnet18-bc").text.replace("back 3 -> 1 @1", "back 3 -> 1 @3")
    text = text.replace("back 8 -> 0 @1", "back 8 -> 0 @10")
    cov = coverage_of(verify(lower(reduced(parse(text)), seed=0)))
    assert cov.maps and cov.planned
    (up,) = [r for r in cov.nodes if r.op == "Upsample"]
    assert (up.status, up.how, up.detail) == (MAPS, "folded into Sparse synapses", "1 Sparse")
