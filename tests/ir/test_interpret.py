"""The reference interpreter against hand-computed values: neuron dynamics, delays, cycles, ops."""
import numpy as np
import pytest

from snnc.ir import Graph, interpret, run
from snnc.ir.interpret import avg_pool2d, conv2d


def vec_graph(neuron_attrs, F=3, T=5):
    g = Graph({"T": T})
    g.add_node("in", "Input", {"shape": (F,)})
    g.add_node("lif", "LIF", neuron_attrs)
    g.add_node("out", "Output")
    g.add_edge("in", "lif")
    g.add_edge("lif", "out")
    return g


def reference_lif(x, beta, alpha, v_th, v_reset=0.0, v_rest=0.0, reset="hard"):
    v = np.full(x.shape[1:], v_rest)
    spikes, vs = [], []
    for xt in x:
        h = v_rest + beta * (v - v_rest) + alpha * xt
        s = (h > v_th).astype(float)
        v = np.where(s > 0, v_reset, h) if reset == "hard" else h - v_th * s
        spikes.append(s)
        vs.append(v)
    return np.array(spikes), np.array(vs)


@pytest.mark.parametrize("reset", ["hard", "soft"])
def test_lif_matches_equations(reset):
    attrs = dict(beta=0.7, alpha=0.4, v_th=0.9, v_reset=-0.1, v_rest=0.05, reset=reset)
    g = vec_graph(attrs)
    x = np.random.default_rng(0).normal(size=(5, 4, 3)) * 2
    tr = run(g, x)
    s, v = reference_lif(x, **attrs)
    assert np.array_equal(tr.output, s)
    assert np.allclose(tr.v["lif"], v, rtol=0, atol=1e-15)
    assert 0 < s.mean() < 1


def test_threshold_is_strict():
    g = vec_graph({"beta": 1.0, "alpha": 1.0, "v_th": 1.0}, F=1, T=1)
    assert interpret(g, np.array([[1.0]]))[0, 0, 0] == 0.0
    assert interpret(g, np.array([[1.0 + 1e-12]]))[0, 0, 0] == 1.0


def test_direct_encoding_repeats_input():
    g = vec_graph({"beta": 0.5, "alpha": 1.0, "v_th": 10.0}, T=4)
    tr = run(g, np.ones((2, 3)))
    # no spikes; V[t] = 0.5 V[t-1] + 1
    assert np.allclose(tr.v["lif"][:, 0, 0], [1, 1.5, 1.75, 1.875])


def test_delays_shift_in_time_and_sum():
    g = Graph({"T": 4})
    g.add_node("in", "Input", {"shape": (1,)})
    g.add_node("out", "Output")
    g.add_edge("in", "out")
    g.add_edge("in", "out", delay=2)
    x = np.arange(1, 5, dtype=float).reshape(4, 1, 1)
    assert interpret(g, x)[:, 0, 0].tolist() == [1, 2, 4, 6]


def test_backward_cycle_feeds_previous_step():
    # a: IF neuron integrating input plus its own spike from t-1 (weight 1 via a Scale node)
    g = Graph({"T": 4})
    g.add_node("in", "Input", {"shape": (1,)})
    g.add_node("a", "LIF", {"beta": 1.0, "v_th": 0.5, "reset": "soft"})
    g.add_node("w", "Scale", {"scale": 2.0})
    g.add_node("out", "Output")
    g.add_edge("in", "a")
    g.add_edge("a", "w")
    g.add_edge("w", "a", delay=1, kind="backward")
    g.add_edge("a", "out")
    x = np.array([[[0.6]], [[0.0]], [[0.0]], [[0.0]]])
    # t0: H=0.6 -> spike, V=0.1; t1: H=0.1+2 -> spike, V=1.6; t2: H=1.6+2 -> spike ...
    tr = run(g, x)
    assert tr.output[:, 0, 0].tolist() == [1, 1, 1, 1]
    assert np.allclose(tr.v["a"][:, 0, 0], [0.1, 1.6, 3.1, 4.6])


def test_conv2d_matches_loops():
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(2, 4, 5, 6)), rng.normal(size=(6, 2, 3, 3)), rng.normal(size=6)
    y = conv2d(x, w, b, stride=2, padding=1, groups=2)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    ref = np.zeros_like(y)
    for n in range(2):
        for o in range(6):
            gi = o // 3
            for i in range(y.shape[2]):
                for j in range(y.shape[3]):
                    ref[n, o, i, j] = (xp[n, 2 * gi:2 * gi + 2, 2 * i:2 * i + 3, 2 * j:2 * j + 3]
                                       * w[o]).sum() + b[o]
    assert np.allclose(y, ref, atol=1e-12)


def test_avg_pool_counts_padding():
    x = np.ones((1, 1, 3, 3))
    y = avg_pool2d(x, 3, 1, 1)
    assert y[0, 0, 0, 0] == pytest.approx(4 / 9)
    assert y[0, 0, 1, 1] == pytest.approx(1.0)


def test_vote_concat_flatten_linear():
    g = Graph({"T": 1})
    g.add_node("in", "Input", {"shape": (2, 1, 2)})
    g.add_node("cat", "Concat")
    g.add_node("flat", "Flatten")
    g.add_node("vote", "Vote", {"classes": 2})
    g.add_node("out", "Output")
    g.add_edge("in", "cat", port=0)
    g.add_edge("in", "cat", port=1)
    g.add_edge("cat", "flat")
    g.add_edge("flat", "vote")
    g.add_edge("vote", "out")
    x = np.array([[[[1.0, 2.0]], [[3.0, 4.0]]]])
    # concat -> channels [1,2],[3,4],[1,2],[3,4]; flatten -> 1 2 3 4 1 2 3 4; vote groups of 4
    assert interpret(g, x)[0, 0].tolist() == [2.5, 2.5]


def test_bad_input_shape_is_value_error():
    g = vec_graph({"beta": 0.5})
    with pytest.raises(ValueError, match="fits neither"):
        interpret(g, np.zeros((2, 4)))
