"""What lowered graphs compute, checked with the reference interpreter (STTS eq. 6-10)."""
from __future__ import annotations

import numpy as np
import pytest

from snnc.ir import BACKWARD, interpret, run, verify

from .genomes import HEADER, lowered, random_stage_text


def test_demo_output_shape_is_T_B_classes():
    g = lowered()
    x = np.random.default_rng(0).normal(size=(2, 3, 8, 8))
    y = interpret(g, x)
    assert y.shape == (3, 2, 4) and np.all(np.isfinite(y))


def test_one_neuron_network_spikes_when_expected():
    """x = 0.6 through an identity 1x1 conv, LIF beta 0.5: H = 0.6, 0.9, 1.05 (spike), 0.6."""
    text = HEADER.format(name="one", T=4, input="1x1x1", classes=1).replace("tau=3", "tau=2") + """\
stage s1 node channels=1 kernel=1 spiking=false
classifier head channels=0 vote=0
"""
    g = lowered(text)
    assert g["head.lif"].attrs["beta"] == 0.5 and g["head.lif"].attrs["alpha"] == 1.0
    g["s1.conv"].params.update(weight=np.ones((1, 1, 1, 1)), bias=np.zeros(1))
    g["head.fc"].params.update(weight=np.full((1, 1), 2.0), bias=np.full(1, 0.5))
    y = interpret(g, np.full((1, 1, 1, 1), 0.6))
    np.testing.assert_allclose(y[:, 0, 0], [0.5, 0.5, 2.5, 0.5])


def test_graph_stage_delays_backward_edge_and_sink_mean():
    """A linear (spiking=false, 1x1, 1 channel) stage, so eq. 8-10 can be written out:
    S0 = f0(X); S1 = f1(S0 + S2[t-1]); S2 = f2(S0[t-1] + S1[t-2]); S3 = f3(X); out = (S2 + S3) / 2
    with f_j the node's conv-BN affine map."""
    text = HEADER.format(name="lin", T=6, input="1x2x2", classes=2) + """\
stage s1 graph nodes=4 channels=1 kernel=1 stride=1 spiking=false {
  0 -> 1
  0 -> 2 @1
  1 -> 2 @2
  back 2 -> 1 @1
}
classifier head channels=0 vote=0
"""
    g = lowered(text, seed=5)
    for j in range(4):
        g[f"s1.n{j}.bn"].params.update(running_mean=np.full(1, 0.1 * j),
                                       weight=np.full(1, 1.0 + j), bias=np.full(1, -0.2))

    def f(j, z):
        c, bn = g[f"s1.n{j}.conv"].params, g[f"s1.n{j}.bn"].params
        y = c["weight"].item() * z + c["bias"].item()
        return (y - bn["running_mean"].item()) / np.sqrt(bn["running_var"].item() + 1e-5) \
            * bn["weight"].item() + bn["bias"].item()

    x = np.random.default_rng(1).normal(size=(3, 1, 2, 2))
    T, S = 6, np.zeros((4, 6 + 2) + x.shape)  # S[j, t + 2]: two steps of zero history
    for t in range(T):
        S[0, t + 2] = f(0, x)
        S[3, t + 2] = f(3, x)
        S[1, t + 2] = f(1, S[0, t + 2] + S[2, t + 1])
        S[2, t + 2] = f(2, S[0, t + 1] + S[1, t])
    trace = run(g, x)
    np.testing.assert_allclose(trace.outputs["s1.sink"], (S[2, 2:] + S[3, 2:]) / 2, atol=1e-12)
    assert trace.output.shape == (6, 3, 2)


def test_32_node_stage_with_about_100_edges_lowers_and_verifies():
    stage, n_edges = random_stage_text(nodes=32, m=4, back=4)
    assert n_edges >= 100
    text = HEADER.format(name="big", T=2, input="2x4x4", classes=3) + stage + \
        "classifier head channels=8 vote=0\n"
    g = verify(lowered(text))
    scn = [n for n in g.nodes if n.startswith("s1.n") and n.endswith(".bn")]
    assert len(scn) == 32
    stage_edges = [e for e in g.edges if e.src.endswith(".bn") and e.dst.endswith(".lif")
                   and e.src.startswith("s1.n") and e.dst.startswith("s1.n")]
    assert len(stage_edges) == n_edges
    assert sum(e.kind == BACKWARD for e in stage_edges) == stage.count("back ") >= 3
    assert any(e.delay == 1 and e.kind != BACKWARD for e in stage_edges)
    assert g.strongly_connected_components()  # the backward edges close cycles
    y = interpret(g, np.random.default_rng(0).normal(size=(1, 2, 4, 4)))
    assert y.shape == (2, 1, 3)


@pytest.mark.parametrize("seed", [0, 1])
def test_lowering_is_deterministic_structure(seed):
    a, b = lowered(seed=seed), lowered(seed=seed)
    assert list(a.nodes) == list(b.nodes) and a.edges == b.edges
