"""Hypothesis property: any random valid graph (every neuron model) survives every pass and the
deploy pipeline with identical interpreter output (seeds drawn by hypothesis, derandomized so CI
is reproducible)."""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from snnc.ir import verify
from snnc.ir.ops import NEURON_OPS
from snnc.testing.random_graph import random_graph, random_input
from snnc.passes import PASSES, run_pipeline
from tests.passes.helpers import assert_equivalent, snapshot, v_scale


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(1000, 10**6), pass_name=st.sampled_from(
           sorted(n for n, p in PASSES.items() if p.preserves_semantics) + ["deploy"]),
       batch=st.integers(1, 3))
def test_every_pass_preserves_semantics(seed, pass_name, batch):
    g = random_graph(seed, max_nodes=40, neurons=NEURON_OPS)
    before = snapshot(g)
    out, _ = run_pipeline(g, pass_name)
    assert snapshot(g) == before  # pure: the input graph is untouched
    verify(out)
    assert_equivalent(g, out, random_input(g, seed=seed + 1, batch=batch), same={},
                      v_scale=v_scale(g, out))
