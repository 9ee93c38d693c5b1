"""Neuron models in genomes -> IR neuron ops: the header default and per-block overrides of every
stage and classifier block, with the canonical parameters of each model."""
from __future__ import annotations

import numpy as np
import pytest

from snnc.ir import run
from snnc.ir.ops import NEURON_OPS

from .genomes import HEADER, lowered

BODY = """\
stage s1 node channels=4 stride=1 spiking=false
stage s2 node channels=4 {{
  {s2}
}}
stage s3 graph nodes=3 channels=4 stride=2 {{
  0 -> 1
  1 -> 2 @1
  back 2 -> 1 @1
  {s3}
}}
classifier head channels=8 vote=0 {{
  {head}
}}
"""


def text(default: str, s2: str = "", s3: str = "", head: str = "") -> str:
    head_text = HEADER.format(name="neurons", T=3, input="2x8x8", classes=3)
    head_text = head_text.replace("neuron lif tau=3 decay_input=false v_th=1 reset=hard",
                                  f"neuron {default}")
    return head_text + BODY.format(s2=s2, s3=s3, head=head)


def neurons(g):
    return {n.name: n for n in g if n.op in NEURON_OPS}


def test_header_default_alif():
    g = lowered(text("alif leak=0.2 v_th=0.5 rho=0.3 adapt=0.9"))
    ns = neurons(g)
    assert set(ns) == {"s2.lif", "s3.n0.lif", "s3.n1.lif", "s3.n2.lif", "head.lif", "head.lif2"}
    for n in ns.values():
        assert n.op == "ALIF"
        a = n.attrs
        assert (a["beta"], a["alpha"], a["v_th"], a["rho"], a["adapt"]) == (0.2, 1.0, 0.5, 0.3, 0.9)
        assert (a["reset"], a["surrogate"], a["surrogate_arg"]) == ("hard", "atan", 2.0)


def test_alif_defaults_are_spikedhs_values():
    a = neurons(lowered(text("alif leak=0.2 v_th=0.5")))["s2.lif"].attrs
    assert (a["rho"], a["adapt"]) == (0.2, 1.8)  # tau_a = 0.2 (SpikeDHS 3.1.3), LSNN's beta


def test_per_block_overrides():
    g = lowered(text("lif tau=2", s2="neuron plif tau=4", s3="neuron relu",
                     head="neuron if v_th=0.5\n  surrogate triangle gamma=0.5"))
    ns = neurons(g)
    assert {k: n.op for k, n in ns.items()} == {
        "s2.lif": "PLIF", "s3.n0.lif": "ReLU", "s3.n1.lif": "ReLU", "s3.n2.lif": "ReLU",
        "head.lif": "LIF", "head.lif2": "LIF"}
    assert ns["s3.n1.lif"].attrs == {}  # no membrane, no surrogate
    head = ns["head.lif"].attrs
    assert (head["beta"], head["alpha"], head["v_th"]) == (1.0, 1.0, 0.5)  # IF: beta = 1
    assert (head["surrogate"], head["surrogate_arg"]) == ("triangle", 0.5)


@pytest.mark.parametrize("spec, beta, alpha, decay_input", [
    ("plif tau=4", 0.75, 1.0, True),                     # Fang et al.: gain 1/tau = 1 - beta
    ("plif tau=4 decay_input=false", 0.75, 1.0, False),
])
def test_plif_keeps_the_tied_gain(spec, beta, alpha, decay_input):
    a = neurons(lowered(text(spec)))["s2.lif"].attrs
    assert (a["beta"], a["alpha"], a["decay_input"]) == (beta, alpha, decay_input)


def test_plif_gain_equals_the_lif_of_the_same_tau():
    """At initialisation ``plif tau`` computes what ``lif tau`` does (gain 1/tau)."""
    x = np.random.default_rng(0).normal(0.5, 1.0, (2, 2, 8, 8))
    a = run(lowered(text("plif tau=2")), x)
    b = run(lowered(text("lif tau=2")), x)
    for name in ("s2.lif", "s3.n1.lif", "head.lif"):
        np.testing.assert_array_equal(a.outputs[name], b.outputs[name])
    assert 0 < a.outputs["s2.lif"].mean() < 1


@pytest.mark.parametrize("default", ["lif tau=2", "if", "alif tau=2 adapt=0.3", "plif tau=2",
                                     "relu"])
def test_every_model_lowers_and_runs(default):
    g = lowered(text(default))
    tr = run(g, np.random.default_rng(1).normal(0.5, 1.0, (2, 2, 8, 8)))
    assert tr.output.shape == (3, 2, 3) and np.isfinite(tr.output).all()
    spiking = [n for n in neurons(g).values() if n.op != "ReLU"]
    for n in spiking:
        assert set(np.unique(tr.outputs[n.name])) <= {0.0, 1.0}
    if default == "relu":
        assert not spiking and (tr.outputs["s2.lif"] >= 0).all()
        assert len(np.unique(tr.outputs["s2.lif"])) > 2  # analog
