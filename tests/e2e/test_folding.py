"""The example genome (two 32-node STTS stages) folded for deployment computes what it did before."""
import dataclasses
from pathlib import Path

import numpy as np

from snnc.compiler import compile_genome
from snnc.genome import parse
from snnc.ir import run

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tanet-tiny.genome"


def narrow(genome, divisor=24):
    """The same topology with channels divided (the interpreter is float64 numpy, and slow)."""
    return dataclasses.replace(genome, blocks=tuple(
        dataclasses.replace(b, attrs=tuple((k, max(2, v // divisor) if k == "channels" and v else v)
                                           for k, v in b.attrs)) for b in genome.blocks))


def test_deploy_folded_example_is_interpretation_equal():
    genome = narrow(parse(EXAMPLE.read_text()))
    plain = compile_genome(genome, passes="none", seed=3).graph
    folded = compile_genome(genome, passes="deploy", seed=3).graph
    assert len(folded) < len(plain)
    assert not folded.nodes_of("BatchNorm2d", "Dropout", "Scale")
    assert sum(e.delay for e in folded.edges) == sum(e.delay for e in plain.edges)
    x = np.random.default_rng(0).normal(size=(3,) + genome.input_shape)
    a, b = run(plain, x), run(folded, x)
    rates = []
    for n in folded.nodes_of("LIF"):
        assert np.array_equal(a.outputs[n.name], b.outputs[n.name]), n.name
        rates.append(a.outputs[n.name].mean())
    assert max(rates) > 0  # not a vacuous comparison: some neurons fire
    assert np.allclose(a.output, b.output, rtol=1e-9, atol=1e-9)


def test_compile_is_deterministic_per_seed():
    text = EXAMPLE.read_text()
    g1 = compile_genome(narrow(parse(text)), passes="deploy", seed=5).graph
    g2 = compile_genome(narrow(parse(text)), passes="deploy", seed=5).graph
    for n in g1:
        for k, v in n.params.items():
            assert np.array_equal(v, g2[n.name].params[k])
