"""quantize-loihi: scales and integer formats against hand values, the record it leaves in the
graph and the artifact, its refusals, and the quantised graph's behaviour against the float one."""
from __future__ import annotations

import numpy as np
import pytest

from snnc.errors import PassError
from snnc.ir import Graph, run, verify
from snnc.ir.artifact import load, save
from snnc.passes.loihi_fixed import QuantizeLoihi
from snnc.passes.manager import run_pipeline
from snnc.passes.targets import prepare
from tests.backends.lava import graphs


def _mlp() -> Graph:
    """in (2,) -> fc1 -> l1 (3,) -> fc2 -> l2 (3,) -> fc3 -> out, plus direct links
    l1 -@1-> l2 (forward) and l2 -@1-> l1 (backward)."""
    g = Graph({"name": "hand", "T": 4})
    g.add_node("in", "Input", {"shape": (2,)})
    g.add_node("fc1", "Linear", {"in_features": 2, "out_features": 3},
               {"weight": np.array([[1.0, 0.5], [-0.25, 2.0], [0.3, 0.3]]),
                "bias": np.array([0.1, 0.0, -0.2])})
    g.add_node("l1", "LIF", {"beta": 0.75, "alpha": 0.5, "v_th": 1.0})
    g.add_node("fc2", "Linear", {"in_features": 3, "out_features": 3, "bias": False},
               {"weight": np.array([[0.1, -0.2, 0.05], [0.0, 0.01, 0.3], [-0.3, 0.2, 0.1]])})
    g.add_node("l2", "LIF", {"beta": 0.9, "alpha": 1.0, "v_th": 0.3})
    g.add_node("fc3", "Linear", {"in_features": 3, "out_features": 2},
               {"weight": np.ones((2, 3)), "bias": np.zeros(2)})
    g.add_node("out", "Output")
    for a, b in [("in", "fc1"), ("fc1", "l1"), ("l1", "fc2"), ("fc2", "l2"), ("l2", "fc3"),
                 ("fc3", "out")]:
        g.add_edge(a, b)
    g.add_edge("l1", "l2", delay=1)
    g.add_edge("l2", "l1", delay=1, kind="backward")
    return verify(g)


def test_hand_values():
    res = QuantizeLoihi()(_mlp())
    q = verify(res.graph)
    # no weighted op feeds both, so each neuron is its own group: k = 2^floor(log2(alpha *
    # 4096 / v_th)): l1 2^floor(log2(2048)) = 2048, l2 2^floor(log2(13653.3)) = 8192
    l1, l2 = q["l1"], q["l2"]
    assert l1.op == l2.op == "LoihiLIF"
    assert l1.attrs == {"du": 4095, "dv": 1024, "vth": 4096, "scale": 4096.0}
    assert l2.attrs == {"du": 4095, "dv": 410, "vth": 2458, "scale": 8192.0}  # 409.6, 2457.6
    # the host layer is scaled, not quantised
    np.testing.assert_array_equal(q["fc1"].params["weight"], 2048 * _mlp()["fc1"].params["weight"])
    np.testing.assert_array_equal(q["fc1"].params["bias"], 2048 * _mlp()["fc1"].params["bias"])
    # fc2 (into l2): k W = 2457.6 at most -> exponent 5 (76.8), mantissas round(k W / 32)
    w = q["fc2"].params["weight"]
    m = np.rint(8192 * _mlp()["fc2"].params["weight"] / 32)
    np.testing.assert_array_equal(w, m * 32)
    meta = q.meta["loihi"]
    assert meta["synapses"]["fc2"]["exponent"] == 5 and meta["synapses"]["fc1"]["host"]
    assert meta["groups"] == [{"neurons": ["l1"], "k": 2048.0}, {"neurons": ["l2"], "k": 8192.0}]
    # the head after the last neuron stays float
    np.testing.assert_array_equal(q["fc3"].params["weight"], np.ones((2, 3)))
    # direct links became Scale nodes of the target's k, carrying the delay
    into = {e.dst: q[e.src].attrs["scale"] for e in q.edges if q[e.src].op == "Scale"}
    assert into == {"l2": 8192.0, "l1": 2048.0}
    back = [e for e in q.edges if e.kind == "backward"]
    assert len(back) == 1 and back[0].src == "l2" and back[0].delay == 1
    # approximations are said: beta 0.9 and v_th 0.3 of l2, fc2's weights
    notes = "\n".join(res.notes)
    assert "l2: beta=0.9 -> 0.899902" in notes and "l2: v_th=0.3 -> 0.300049" in notes
    assert "fc2: weights to 8-bit mantissa x 2^5" in notes
    assert "l1: beta" not in notes  # 0.75 is exact


def test_integer_semantics_by_hand():
    """The quantised graph's first neuron, one step by hand: a_in = floor(k X + 1/2)."""
    q = QuantizeLoihi()(_mlp()).graph
    x = np.array([[0.2, 0.1]])
    tr = run(q, x, T=1)
    X = np.array([1.0 * 0.2 + 0.5 * 0.1 + 0.1, -0.25 * 0.2 + 2.0 * 0.1, 0.3 * 0.3 - 0.2])
    a_in = np.floor(2048 * X + 0.5)
    np.testing.assert_array_equal(tr.v["l1"][0, 0], np.where(a_in * 64 > 4096 * 64, 0,
                                                             a_in * 64))


def test_record_survives_the_artifact(tmp_path):
    q = QuantizeLoihi(max_vth=1000)(_mlp()).graph
    save(q, tmp_path / "q.snnir")
    back = load(tmp_path / "q.snnir")
    assert back.meta["loihi"] == q.meta["loihi"]
    assert back["l2"].attrs == q["l2"].attrs and back.meta["loihi"]["max_vth"] == 1000
    x = np.random.default_rng(0).normal(0.5, 1.0, (4, 3, 2))
    np.testing.assert_array_equal(run(back, x).output, run(q, x).output)


def test_target_and_pipeline_spec():
    g, recs = prepare(graphs.conv_chain(), "lava-fixed")
    assert [r.name for r in recs][-1] == "quantize-loihi"
    assert g.meta["passes"][-1] == "quantize-loihi"
    g2 = run_pipeline(graphs.conv_chain(), "quantize-loihi{max_vth=512}")[0]
    assert max(n.attrs["vth"] for n in g2.nodes_of("LoihiLIF")) <= 512
    with pytest.raises(PassError, match="max_vth"):
        QuantizeLoihi(max_vth=1 << 17)


def _refusal(mutate, match):
    g = _mlp()
    mutate(g)
    with pytest.raises(PassError, match=match):
        QuantizeLoihi()(verify(g))


def test_refusals_name_the_node():
    _refusal(lambda g: g["l2"].attrs.update(reset="soft"), "'l2'.*reset='soft'")
    _refusal(lambda g: g["l1"].attrs.update(v_reset=-0.1), "'l1'.*v_rest=0, v_reset=-0.1")
    _refusal(lambda g: g["l1"].__setattr__("op", "ALIF") or g["l1"].attrs.update(adapt=0.1),
             "'l1' \\(ALIF\\)")
    with pytest.raises(PassError, match="'bn' \\(BatchNorm2d\\).*between neurons"):
        QuantizeLoihi()(graphs.mixed())  # an unfolded BatchNorm between l1 and l2
    # l1 -@2-> AvgPool 3x3 -> l3: spikes times 1/9 without weights, not an integer in a_in units
    with pytest.raises(PassError, match="'l1''s spikes reach 'l3' through carriers of factor "
                                        "0.111111"):
        QuantizeLoihi()(graphs.skip_delays())


def test_refuses_synapse_feeding_the_head():
    g = _mlp()
    g.add_edge("fc2", "fc3")  # fc2 feeds l2 and the host head
    with pytest.raises(PassError, match="'fc3'.*also feeds neurons"):
        QuantizeLoihi()(verify(g))


@pytest.mark.parametrize("name", ["conv_chain", "recurrent_hops", "mixed"])
def test_close_to_the_float_graph(name):
    """The integer reference's spikes agree with the float graph's on nearly every element (the
    differences are the 8-bit weights and rounded thresholds)."""
    if name == "recurrent_hops":
        g = graphs.recurrent(0)
        g.remove_edge(next(e for e in g.in_edges("l1") if e.src == "l2"))
        g = verify(g)
    elif name == "mixed":  # pooling, Scale and Vote factors absorbed by the weights
        g = prepare(graphs.mixed(0), "lava")[0]
    else:
        g = graphs.BUILDERS[name](0)
    graphs.calibrate(g, graphs.sample(g, batch=8, seed=100))
    q = QuantizeLoihi()(g).graph
    x = graphs.sample(g, batch=16, seed=1)
    ref, fx = run(g, x), run(q, x)
    for n in g.nodes_of("LIF"):
        a, b = ref.outputs[n.name], fx.outputs[n.name]
        assert a.mean() > 0.02
        assert np.mean(a != b) < 0.03, (n.name, np.mean(a != b))
