"""Fixed point on Lava: a quantize-loihi graph planned with integer host currents, built with
Lava's fixed_pt models, equal spike for spike to the reference interpreter's integer model; what
cannot be exact is refused by name."""
from __future__ import annotations

import numpy as np
import pytest

from snnc.backends.lava import LavaMappingError, build, plan, simulate
from snnc.ir import Graph, run, verify
from snnc.passes.loihi_fixed import QuantizeLoihi

from . import graphs


def _links() -> Graph:
    """in -> c1 -> l1 -> c2 -> l2, a direct link l1 -@1-> l2 and a delayed one l1 -@2-> cat:1;
    l2 -> cat:0 -> c3 (1x1) -> l3 -> GAP -> fc -> out. Lava: forward delays, a Scale synapse
    with extra delay, Concat before a weighted op."""
    rng = np.random.default_rng(3)
    g = Graph({"name": "links", "T": 5})
    g.add_node("in", "Input", {"shape": graphs.CHW})
    graphs._conv(g, rng, "c1", 2, 4, 3, padding=1)
    graphs._lif(g, "l1", beta=0.7)
    graphs._conv(g, rng, "c2", 4, 4, 3, padding=1)
    graphs._lif(g, "l2", beta=0.9, alpha=0.8)
    g.add_node("cat", "Concat")
    graphs._conv(g, rng, "c3", 8, 4, 1)
    graphs._lif(g, "l3", beta=0.5)
    g.add_node("gap", "GlobalAvgPool")
    graphs._linear(g, rng, "fc", 4, 3)
    g.add_node("out", "Output")
    graphs._chain(g, "in", "c1", "l1", "c2", "l2")
    g.add_edge("l1", "l2", delay=1)
    g.add_edge("l2", "cat", port=0)
    g.add_edge("l1", "cat", port=1, delay=2)
    graphs._chain(g, "cat", "c3", "l3", "gap", "fc", "out")
    return verify(g)


def _recurrent_hops() -> Graph:
    """graphs.recurrent without its direct backward edge: the cycle l1 -> c2 -> l2 -> cb -@2-> l1
    has 2 hops and delay 2."""
    g = graphs.recurrent(0)
    g.remove_edge(next(e for e in g.in_edges("l1") if e.src == "l2"))
    return verify(g)


def _mixed_folded() -> Graph:
    """graphs.mixed prepared for Lava (its BatchNorm folded): pooling before a conv, a pooled
    identity into a Concat, Linear -> Scale and Linear -> Vote into neurons; the quantised
    synapses absorb each pooling, scale and vote factor."""
    from snnc.passes.targets import prepare
    return prepare(graphs.mixed(0), "lava")[0]


def _quantised(g: Graph) -> Graph:
    graphs.calibrate(g, graphs.sample(g, batch=8, seed=100))
    return QuantizeLoihi()(g).graph


def test_plan_is_fixed_with_integer_host_currents():
    q = _quantised(graphs.conv_chain())
    p = plan(q)
    assert p.fixed and all(n.fixed and isinstance(n.vth, int) for n in p.neurons.values())
    cur = p.host_currents(np.broadcast_to(graphs.sample(q, 2), (q.meta["T"], 2) + graphs.CHW))
    assert cur and all(np.array_equal(c, np.rint(c)) for c in cur.values())
    assert all(np.array_equal(b, np.rint(b)) for b in p.bias_mant.values())


def test_mixed_neurons_refused():
    q = QuantizeLoihi()(graphs.conv_chain()).graph
    q["l2"].op, q["l2"].attrs = "LIF", {"beta": 0.5}
    with pytest.raises(LavaMappingError, match="mixes float and fixed-point LoihiLIF"):
        plan(verify(q))


def test_port_connection_cannot_carry_a_scaled_link():
    """A unit identity on a cycle is a port connection in float (no hop); in fixed point the
    link weighs k, so it is a synapse and the cycle l1 -> l2 -@1-> l1 has too many hops."""
    q = QuantizeLoihi()(graphs.recurrent(0)).graph
    with pytest.raises(LavaMappingError, match="cannot be balanced.*synapse hop"):
        plan(q)


def test_inexact_weights_refused_by_name():
    pytest.importorskip("lava")
    from snnc.backends.lava import compat
    compat.install()
    from snnc.backends.lava.fixed import conv_weights, synapse_weights
    w, x = synapse_weights(np.array([[64.0, -128.0], [0.0, 8.0]]), "a -> b")
    assert x == -1 and np.array_equal(w, np.array([[128, -256], [0, 16]]))  # mixed: doubled
    w, x = synapse_weights(np.array([512.0, 0.0, 8.0]), "a -> b")
    assert x == 3 and np.array_equal(w, np.array([64, 0, 1]))
    with pytest.raises(LavaMappingError, match="synapse a -> b .*more than an 8-bit mantissa"):
        synapse_weights(np.array([1.0, 256.0]), "a -> b")  # e.g. a skip merged into a conv
    with pytest.raises(LavaMappingError, match="not integers"):
        synapse_weights(np.array([0.5]), "a -> b")
    with pytest.raises(LavaMappingError, match="weight exponent 3.*Conv ignores weight_exp"):
        conv_weights(np.full((1, 1, 3, 3), 8.0 * 100), "l1 -> l2")
    assert conv_weights(np.full((1, 1, 1, 1), -7.0), "l1 -> l2").tolist() == [[[[-7.0]]]]


def test_conv_process_refused_before_running():
    q = QuantizeLoihi()(graphs.conv_chain()).graph
    assert q.meta["loihi"]["synapses"]["c2"]["exponent"] > 0
    with pytest.raises(LavaMappingError, match="l1 -> l2.*Conv ignores weight_exp"):
        build(q, conv="conv")


@pytest.mark.slow
@pytest.mark.parametrize("make", [_links, _recurrent_hops, _mixed_folded],
                         ids=["links", "recurrent_hops", "mixed"])
def test_fixed_point_lava_equals_integer_reference(make):
    q = _quantised(make())
    x = graphs.sample(q, batch=2, seed=7)
    ref = run(q, x)
    res = simulate(q, x)
    assert set(res.spikes) == {n.name for n in q.nodes_of("LoihiLIF")}
    for name, s in res.spikes.items():
        assert s.mean() > 0.02, name
        np.testing.assert_array_equal(s, ref.outputs[name], err_msg=name)
    np.testing.assert_allclose(res.output, ref.output, rtol=1e-12, atol=1e-12)


@pytest.mark.slow
def test_conv_process_with_exponent_zero():
    """lava-nc's fixed-point Conv uses its integer weights as they are: exact when every
    exponent is 0 (a small max_vth keeps the weights within the 8-bit mantissa)."""
    g = graphs.conv_chain()
    graphs.calibrate(g, graphs.sample(g, batch=8, seed=100))
    q = QuantizeLoihi(max_vth=64)(g).graph
    assert q.meta["loihi"]["synapses"]["c2"]["exponent"] == 0
    x = graphs.sample(q, batch=2, seed=7)
    ref = run(q, x)
    res = simulate(q, x, conv="conv")
    for name, s in res.spikes.items():
        assert s.mean() > 0.02, name
        np.testing.assert_array_equal(s, ref.outputs[name], err_msg=name)
