"""ALIF (SpikeDHS eq. 5-8) on the Lava backend: snnc's ALIFReset step against the reference
interpreter, planned networks with ALIF layers emulated (no Lava), and one tiny real Lava run.
IF (beta = alpha = 1) maps to Lava's LIF with dv = 0: emulated and run in the same network."""
import numpy as np
import pytest

from snnc.backends.lava import LavaMappingError, plan
from snnc.backends.lava.alif import alif_step
from snnc.backends.lava.mapping import LavaALIF, map_neuron
from snnc.ir import Graph, run, verify

from .emulator import emulate
from .graphs import BUILDERS, build, calibrate, membranes, safe_input, sample


def _one_alif(attrs, shape=(5,)):
    g = Graph({"T": 12})
    g.add_node("in", "Input", {"shape": shape})
    g.add_node("n", "ALIF", {"beta": 0.8, "alpha": 1.0, "v_th": 0.4, **attrs})
    g.add_node("out", "Output")
    g.add_edge("in", "n")
    g.add_edge("n", "out")
    return verify(g)


@pytest.mark.parametrize("attrs", [{"rho": 0.5, "adapt": 0.7},
                                   {"rho": 0.9, "adapt": 0.2, "v_reset": -0.3, "v_rest": 0.1,
                                    "alpha": 0.5},
                                   {"rho": 0.0, "adapt": 0.0}])
def test_step_equals_interpreter(attrs):
    """alif_step, driven as the process model drives it (shifted potential, bias and initial
    potential from the mapping, reset at the first step), reproduces the interpreter's spikes."""
    g = _one_alif(attrs)
    x = np.random.default_rng(0).uniform(-0.2, 1.2, (12, 4, 5))
    ref = run(g, x).outputs["n"]
    n = map_neuron(g["n"])
    assert isinstance(n, LavaALIF) and (n.rho, n.adapt) == (attrs["rho"], attrs["adapt"])
    u = v = a = np.zeros((4, 5))
    got = []
    for t in range(12):
        cur = n.alpha * x[t] + n.bias + ((1.0 - n.dv) * n.v_init if t == 0 else 0.0)
        u, v, a, s = alif_step(u, v, a, cur, du=n.du, dv=n.dv, bias=0.0, vth=n.vth, rho=n.rho,
                               adapt=n.adapt, reset=t == 0)
        got.append(s)
    got = np.stack(got)
    assert 0.05 < ref.mean() < 0.9
    np.testing.assert_array_equal(got, ref)
    if attrs["adapt"]:  # the adaptive threshold changed something: a LIF would fire more
        lif = g.copy()
        lif["n"].op = "LIF"
        lif["n"].attrs = {k: v for k, v in lif["n"].attrs.items() if k not in ("rho", "adapt")}
        assert run(verify(lif), x).outputs["n"].sum() > ref.sum()


def test_step_resets_all_state():
    u, v, a, s = alif_step(np.ones(3), np.ones(3), np.ones(3), np.zeros(3), du=1.0, dv=0.5,
                           bias=0.0, vth=0.5, rho=0.5, adapt=1.0, reset=True)
    assert not s.any() and not v.any() and not a.any() and not u.any()


@pytest.mark.parametrize("name", list(BUILDERS))
def test_emulated_alif_networks_equal_interpreter(name):
    """Every test network with all its neurons ALIF: planned like LIF (latencies, quiet windows,
    cyclic resets), emulated with the ALIF step, equal to the interpreter spike for spike."""
    g, x = build(name, seed=1, alif="all")  # seed 0 puts a mixed ALIF within 1e-6 of threshold
    p = plan(g)
    assert all(isinstance(n, LavaALIF) for n in p.neurons.values())
    outs, _ = membranes(g, x)
    got = emulate(p, x)
    for k in p.neurons:
        assert 0.05 <= outs[k].mean() <= 0.4, (k, outs[k].mean())
        np.testing.assert_array_equal(got[k], outs[k], err_msg=k)


def test_if_neuron_maps_to_lif_without_leak():
    """IF (genome ``if``: beta = alpha = 1) is Lava's LIF with dv = 0 (no leak)."""
    g, _ = build("skip_delays")
    for n in g.nodes_of("LIF"):
        n.attrs.update(beta=1.0, alpha=1.0)
    calibrate(g, sample(g, batch=8, seed=100))
    x = safe_input(g)
    p = plan(g)
    assert {n.dv for n in p.neurons.values()} == {0.0}
    ref = run(g, x).outputs
    got = emulate(p, x)
    for k in p.neurons:
        np.testing.assert_array_equal(got[k], ref[k], err_msg=k)


def test_alif_soft_reset_refused_by_name():
    g, _ = build("conv_chain", alif=["l2"])
    g["l2"].attrs["reset"] = "soft"
    with pytest.raises(LavaMappingError, match="neuron 'l2': reset='soft'"):
        plan(g)


@pytest.mark.slow
def test_lava_runs_alif_and_if_layers():
    """One tiny Lava run: an MLP with an IF layer and an ALIF layer (with v_rest, v_reset != 0),
    every spike equal to the interpreter's."""
    from snnc.backends.lava import simulate

    g, _ = build("mlp", alif=["l2"])
    g["l1"].attrs.update(beta=1.0, alpha=1.0)
    calibrate(g, sample(g, batch=8, seed=100))
    x = safe_input(g)
    outs, _ = membranes(g, x)
    res = simulate(g, x)
    for k in ("l1", "l2"):
        assert 0.05 <= outs[k].mean() <= 0.4
        np.testing.assert_array_equal(res.spikes[k], outs[k], err_msg=k)
    np.testing.assert_allclose(res.output, outs["out"], rtol=1e-9, atol=1e-9)
