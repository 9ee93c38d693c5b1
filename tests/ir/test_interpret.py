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


# ------------------------------------------------------------------ neuron models
def neuron_graph(op, attrs, F=3, T=8):
    g = Graph({"T": T})
    g.add_node("in", "Input", {"shape": (F,)})
    g.add_node("n", op, attrs)
    g.add_node("out", "Output")
    g.add_edge("in", "n")
    g.add_edge("n", "out")
    return g


def reference_alif(x, tau, v_th, tau_a, beta_a):
    """SpikeDHS eq. 5-8 as printed (hard reset to 0, the leak gated by the last spike):
    u^t = tau u^{t-1} (1 - y^{t-1}) + I^t;  a^t = tau_a a^{t-1} + y^{t-1};
    A^t = V_th + beta a^t;  y^t = H(u^t - A^t)."""
    u = np.zeros(x.shape[1:])
    y = np.zeros(x.shape[1:])
    a = np.zeros(x.shape[1:])
    spikes, thresholds = [], []
    for xt in x:
        u = tau * u * (1 - y) + xt
        a = tau_a * a + y
        A = v_th + beta_a * a
        y = (u > A).astype(float)
        spikes.append(y)
        thresholds.append(A)
    return np.array(spikes), np.array(thresholds)


def test_alif_is_spikedhs_eq_5_to_8():
    x = np.random.default_rng(1).uniform(0, 1.5, size=(12, 4, 3))
    attrs = {"beta": 0.2, "v_th": 0.5, "rho": 0.2, "adapt": 1.8}  # SpikeDHS defaults
    tr = run(neuron_graph("ALIF", attrs, T=12), x)
    s, A = reference_alif(x, 0.2, 0.5, 0.2, 1.8)
    assert np.array_equal(tr.output, s)
    assert 0.1 < s.mean() < 0.9
    # the threshold rises after spikes: a neuron spiking at t and t-1 sees A > v_th
    assert (A[1:][s[:-1] > 0] > 0.5).all()
    # the variation range of the threshold is [V_th, V_th + beta / (1 - tau_a)] (SpikeDHS 3.1.3)
    assert A.min() >= 0.5 and A.max() <= 0.5 + 1.8 / 0.8


def test_alif_soft_reset_subtracts_the_adaptive_threshold_and_adapt_zero_is_lif():
    x = np.random.default_rng(2).normal(0.6, 0.8, size=(10, 4, 3))
    base = {"beta": 0.7, "alpha": 0.9, "v_th": 0.4, "v_reset": -0.1, "v_rest": 0.05}
    for reset in ("hard", "soft"):
        lif = run(neuron_graph("LIF", {**base, "reset": reset}, T=10), x)
        alif = run(neuron_graph("ALIF", {**base, "reset": reset, "adapt": 0.0, "rho": 0.5}, T=10),
                   x)
        assert np.array_equal(lif.output, alif.output)
        assert np.array_equal(lif.v["n"], alif.v["n"])
    # by hand, soft reset: IF, v_th 1, adapt 1, rho 0.5, input 1.5 then 0.9
    g = neuron_graph("ALIF", {"beta": 1.0, "v_th": 1.0, "adapt": 1.0, "rho": 0.5,
                              "reset": "soft"}, F=1, T=3)
    tr = run(g, np.array([[[1.5]], [[0.9]], [[0.9]]]))
    # t0: H 1.5 > A 1 -> V 0.5, a 1; t1: H 1.4, A 2 -> no, V 1.4, a 0.5; t2: H 2.3 > A 1.5 -> 0.8
    assert tr.output[:, 0, 0].tolist() == [1.0, 0.0, 1.0]
    assert np.allclose(tr.v["n"][:, 0, 0], [0.5, 1.4, 0.8])


def test_plif_gain_and_relu():
    x = np.random.default_rng(3).normal(0.5, 1.0, size=(8, 4, 3))
    lif = run(neuron_graph("LIF", {"beta": 0.75, "alpha": 0.25, "v_th": 0.3}), x)
    tied = run(neuron_graph("PLIF", {"beta": 0.75, "v_th": 0.3, "decay_input": True}), x)
    free = run(neuron_graph("PLIF", {"beta": 0.75, "alpha": 0.25, "v_th": 0.3}), x)
    for tr in (tied, free):  # 1 - 0.75 == 0.25 exactly
        assert np.array_equal(tr.output, lif.output) and np.array_equal(tr.v["n"], lif.v["n"])
    relu = run(neuron_graph("ReLU", {}), x)
    assert np.array_equal(relu.output, np.maximum(x, 0)) and "n" not in relu.v


@pytest.mark.parametrize("op, attrs, rule", [
    ("ALIF", {"beta": 0.5, "rho": 1.5}, "rho"),
    ("ALIF", {"beta": 0.5, "adapt": -1.0}, "adapt"),
    ("PLIF", {"beta": 1.2}, "beta"),
    ("ReLU", {"beta": 0.5}, "unknown attribute 'beta'"),
])
def test_neuron_attribute_errors(op, attrs, rule):
    from snnc.errors import GraphError
    from snnc.ir import verify

    with pytest.raises(GraphError, match=rf"node 'n' \({op}\).*{rule}"):
        verify(neuron_graph(op, attrs))
