"""netx export (snnc.backends.netx): the chain, the integer formats, the file, refusals, CLI.

No Lava here: the integer model (:func:`run_fixed`) is checked against the reference interpreter;
``tests/backends/lava/test_netx_lava.py`` checks lava-dl's loader and Lava against the integer
model.
"""
from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from snnc.backends.netx import (NetxError, export_netx, quantize_input, read_netx, readout_values,
                                run_fixed, to_netx)
from snnc.backends.netx.fixed import A_IN_MAX, BIAS_MAX, VTH_MAX, WEIGHT_MAX
from snnc.cli import cli
from snnc.ir import Graph, verify
from snnc.ir.interpret import run as ir_run

from .netx_graphs import conv_chain, mlp_delay, pixels

pytest.importorskip("h5py")


def _check_equal(graph, x, T):
    res = to_netx(graph, exact=True)
    assert res.exact
    trace = ir_run(graph, x, T)
    fixed = run_fixed(res.layers, quantize_input(x, res.input_scale), T)
    for la in res.layers[:-1]:
        ref = trace.outputs[la.name]
        assert 0.05 < ref.mean() < 0.8, f"{la.name} fires at {ref.mean():.2f}: a weak test"
        np.testing.assert_array_equal(fixed.spikes[la.name], ref, err_msg=la.name)
    ro = res.layers[-1]
    assert ro.layer.readout
    np.testing.assert_array_equal(readout_values(ro, fixed.v[ro.name]), np.cumsum(trace.output, 0))
    return res


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_integer_model_equals_interpreter_on_exact_conv_chain(seed):
    g = conv_chain(seed)
    res = _check_equal(g, pixels((2, 8, 8), seed=seed), 5)
    kinds = [(la.kind, la.layer.synapse.stride, la.layer.synapse.padding) for la in res.layers]
    # AvgPool 2/2 folded into c2: kernel 6, stride 2, padding 2
    assert kinds == [("conv", 1, 1), ("conv", 2, 2), ("dense", 1, 0)]
    assert res.layers[1].weight.shape == (6, 4, 6, 6)
    assert res.layers[1].layer.synapse.nodes == ("pool", "c2")


def test_integer_model_equals_interpreter_with_delay_and_vote():
    g = mlp_delay(0)
    res = _check_equal(g, pixels((12,), B=4), 6)
    assert [la.layer.synapse.delay for la in res.layers] == [0, 2, 0]
    assert res.layers[-1].layer.synapse.nodes == ("fc3", "vote")


def test_rounded_export_respects_loihi_ranges():
    g = conv_chain(3, dyadic=False)
    res = to_netx(g)
    assert not res.exact
    for la in res.layers:
        assert np.abs(la.weight).max() <= WEIGHT_MAX and la.vth <= VTH_MAX
        assert la.bias is None or np.abs(la.bias).max() <= BIAS_MAX
        assert la.errors["weight"] <= 0.5 and la.errors["bias"] <= 0.5
        assert la.errors["threshold"] == 0  # the scale keeps vThMant exact
    # the scale is as large as the ranges allow: one of them is (nearly) reached in every block
    for la, in_max in zip(res.layers, (255, 1, 1)):
        fan_in = np.abs(la.weight).reshape(la.weight.shape[0], -1).sum(axis=1).max() * in_max
        reached = [np.abs(la.weight).max() / WEIGHT_MAX, fan_in / A_IN_MAX,
                   la.vth / VTH_MAX if not la.layer.readout else 0,
                   0 if la.bias is None else np.abs(la.bias).max() / BIAS_MAX]
        assert max(reached) > 0.98, (la.name, reached)
    with pytest.raises(NetxError, match=r"block 'l1': no power-of-two scale"):
        to_netx(g, exact=True)


def test_rounded_export_agrees_with_interpreter_mostly():
    g = conv_chain(4, dyadic=False)
    x = pixels((2, 8, 8), B=8, seed=4)
    res = to_netx(g)
    trace = ir_run(g, x, 5)
    fixed = run_fixed(res.layers, quantize_input(x, res.input_scale), 5)
    agree = np.mean(fixed.spikes["l1"] == trace.outputs["l1"])
    assert agree > 0.97, agree


def test_file_holds_every_field(tmp_path):
    g = conv_chain(0)
    path = tmp_path / "m.net"
    res = export_netx(g, path, exact=True)
    d = read_netx(path)
    types = [la["type"] for la in d["layers"]]
    assert types == ["input", "conv", "conv", "flatten", "dense"]
    lay = d["layers"]
    np.testing.assert_array_equal(lay[0]["shape"], [2, 8, 8])
    c1, c2, fl, fc = lay[1], lay[2], lay[3], lay[4]
    np.testing.assert_array_equal(c1["shape"], [4, 8, 8])
    np.testing.assert_array_equal(c1["weight"], res.layers[0].weight)
    np.testing.assert_array_equal(c1["bias"], res.layers[0].bias)
    assert c1["inChannels"] == 2 and c1["outChannels"] == 4 and c1["groups"] == 1
    np.testing.assert_array_equal(c1["kernelSize"], [3, 3])
    np.testing.assert_array_equal(c1["stride"], [1, 1])
    np.testing.assert_array_equal(c1["padding"], [1, 1])
    np.testing.assert_array_equal(c1["dilation"], [1, 1])
    np.testing.assert_array_equal(c2["shape"], [6, 4, 4])
    np.testing.assert_array_equal(c2["stride"], [2, 2])
    np.testing.assert_array_equal(c2["kernelSize"], [6, 6])
    np.testing.assert_array_equal(fl["shape"], [96])
    np.testing.assert_array_equal(fc["shape"], [3])
    assert fc["inFeatures"] == 96 and fc["outFeatures"] == 3
    np.testing.assert_array_equal(fc["weight"], res.layers[2].weight)
    assert "delay" not in fc
    s1 = res.layers[0].scale
    assert c1["neuron"] == {"type": "CUBA", "iDecay": 4096, "vDecay": 2048,
                            "vThMant": int(0.5 * s1), "refDelay": 1, "gradedSpike": False}
    assert c2["neuron"]["vDecay"] == 1024  # beta 0.75
    assert fc["neuron"]["vDecay"] == 0 and fc["neuron"]["vThMant"] == VTH_MAX
    assert d["simulation"] == {"Ts": 1, "tSample": 5}
    meta = d["snnc"]
    assert meta["names"] == ["l1", "l2", "fc"] and meta["T"] == 5 and meta["classes"] == 3
    assert meta["input_scale"] == 255 and meta["input_message_bits"] == 8
    assert meta["exact"] and meta["readout"]
    assert meta["scales"] == [la.scale for la in res.layers]
    # the first block reads x_int = round(255 x): its weights carry 1/255, its scale 255 2^k
    assert s1 / 255 == 2 ** round(np.log2(s1 / 255))


def test_delay_is_written_per_synapse(tmp_path):
    path = tmp_path / "m.net"
    export_netx(mlp_delay(0), path)
    lay = read_netx(path)["layers"]
    assert [la["type"] for la in lay] == ["input", "dense", "dense", "dense"]
    assert "delay" not in lay[1] and "delay" not in lay[3]
    np.testing.assert_array_equal(lay[2]["delay"], np.full((8, 10), 2))


def _graph(edges, nodes, T=3):
    g = Graph({"name": "bad", "T": T})
    for name, op, attrs, params in nodes:
        g.add_node(name, op, attrs, params)
    for e in edges:
        g.add_edge(*e[:2], **(e[2] if len(e) > 2 else {}))
    return verify(g)


def _conv(name, c=2, bias=True):
    p = {"weight": np.full((c, c, 1, 1), 0.5)}
    if bias:
        p["bias"] = np.full(c, 0.25)
    return (name, "Conv2d", {"in_channels": c, "out_channels": c, "kernel": 1, "bias": bias}, p)


def _lif(name, **a):
    return (name, "LIF", {"beta": 0.5, **a}, None)


_IN = ("in", "Input", {"shape": (2, 4, 4)}, None)
_OUT = ("out", "Output", {}, None)
_FLAT = ("flat", "Flatten", {}, None)


@pytest.mark.parametrize("nodes, edges, match", [
    # a skip: l2 sums two inputs
    ([_IN, _conv("c1"), _lif("l1"), _conv("c2"), _lif("l2"), _FLAT, _OUT],
     [("in", "c1"), ("c1", "l1"), ("l1", "c2"), ("c2", "l2"), ("l1", "l2"), ("l2", "flat"),
      ("flat", "out")], r"node 'l1' \(LIF\) has 2 out-edges \(to c2, l2\): netx blocks form a "
                        r"chain"),
    # two edges (delays 0 and 1) between the same nodes
    ([_IN, _conv("c1"), _lif("l1"), _conv("c2"), _lif("l2"), _FLAT, _OUT],
     [("in", "c1"), ("c1", "l1"), ("l1", "c2"), ("l1", "c2", {"delay": 1}), ("c2", "l2"),
      ("l2", "flat"), ("flat", "out")], r"node 'l1' \(LIF\) has 2 out-edges \(to c2, c2\)"),
    # a backward connection
    ([_IN, _conv("c1"), _lif("l1"), _conv("c2"), _FLAT, _OUT],
     [("in", "c1"), ("c1", "l1"), ("l1", "c2"), ("c2", "l1", {"delay": 1, "kind": "backward"}),
      ("l1", "flat"), ("flat", "out")], r"edge c2 -> l1 is a backward connection"),
    # a delay on a conv block
    ([_IN, _conv("c1"), _lif("l1"), _conv("c2"), _lif("l2"), _FLAT, _OUT],
     [("in", "c1"), ("c1", "l1"), ("l1", "c2", {"delay": 1}), ("c2", "l2"), ("l2", "flat"),
      ("flat", "out")], r"edge into 'c2' has a synaptic delay of 1 steps.*conv block"),
    # soft reset, v_rest != v_reset, beta = 0
    ([_IN, _conv("c1"), _lif("l1", reset="soft"), _FLAT, _OUT],
     [("in", "c1"), ("c1", "l1"), ("l1", "flat"), ("flat", "out")],
     r"neuron 'l1': reset='soft'"),
    ([_IN, _conv("c1"), _lif("l1", v_rest=0.1), _FLAT, _OUT],
     [("in", "c1"), ("c1", "l1"), ("l1", "flat"), ("flat", "out")],
     r"neuron 'l1': v_rest=0.1 differs from v_reset=0.0"),
    ([_IN, _conv("c1"), _lif("l1", beta=0.0), _FLAT, _OUT],
     [("in", "c1"), ("c1", "l1"), ("l1", "flat"), ("flat", "out")],
     r"neuron 'l1': beta=0.0 is below 1/4096"),
    # ALIF (the op table's refusal)
    ([_IN, _conv("c1"), ("l1", "ALIF", {"beta": 0.5}, None), _FLAT, _OUT],
     [("in", "c1"), ("c1", "l1"), ("l1", "flat"), ("flat", "out")],
     r"node 'l1' \(ALIF\): netx cannot express it: netx's CUBA neuron has a fixed threshold"),
    # two convolutions between neurons
    ([_IN, _conv("c1"), _lif("l1"), _conv("c2"), _conv("c3"), _lif("l2"), _FLAT, _OUT],
     [("in", "c1"), ("c1", "l1"), ("l1", "c2"), ("c2", "c3"), ("c3", "l2"), ("l2", "flat"),
      ("flat", "out")], r"nodes c2, c3 between two neurons hold 2 Conv2d"),
    # pooling that does not fold
    ([_IN, _conv("c1"), _lif("l1"), ("p", "AvgPool2d", {"kernel": 3, "stride": 1, "padding": 1},
                                     None), _conv("c2"), _lif("l2"), _FLAT, _OUT],
     [("in", "c1"), ("c1", "l1"), ("l1", "p"), ("p", "c2"), ("c2", "l2"), ("l2", "flat"),
      ("flat", "out")], r"node 'p' \(AvgPool2d kernel 3, stride 1, padding 1\): netx has no "
                        r"pooling layer"),
    # a neuron fed by a neuron
    ([_IN, _conv("c1"), _lif("l1"), _lif("l2"), _FLAT, _OUT],
     [("in", "c1"), ("c1", "l1"), ("l1", "l2"), ("l2", "flat"), ("flat", "out")],
     r"neuron 'l2' is fed by 'l1' \(LIF\) without a synapse"),
])
def test_refused_by_node_name_and_nothing_written(tmp_path, nodes, edges, match):
    g = _graph(edges, nodes)
    path = tmp_path / "bad.net"
    with pytest.raises(NetxError, match=match):
        export_netx(g, path, target="train")  # the graph as built: no pass may hide the fault
    assert not path.exists() and list(tmp_path.iterdir()) == []


def test_bias_after_a_delay_is_refused():
    g = mlp_delay(0)
    g.nodes["fc2"].attrs["bias"] = True
    g.nodes["fc2"].params["bias"] = np.full(8, 0.25)
    with pytest.raises(NetxError, match=r"node 'fc2' \(Linear\) adds a bias after a delayed edge"):
        to_netx(verify(g))


def test_stts_demo_style_graph_is_refused_by_name():
    from snnc.compiler import compile_file
    g = compile_file("examples/interop.genome", target="netx").graph
    with pytest.raises(NetxError, match=r"edge s2.n3.pw -> s2.n1.lif is a backward connection"):
        to_netx(g)


def test_cli_export_netx(tmp_path):
    out = tmp_path / "m.net"
    r = CliRunner().invoke(cli, ["export", "netx", "examples/netx-mnist.genome", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "head.fc: readout 10" in r.output and f"wrote {out}: 4 blocks, T=4" in r.output
    d = read_netx(out)
    assert [la["type"] for la in d["layers"]] == ["input", "conv", "conv", "conv", "flatten",
                                                  "dense"]
    assert d["snnc"]["names"] == ["s2.lif", "s3.lif", "head.lif", "head.fc"]
    bad = tmp_path / "bad.net"
    r = CliRunner().invoke(cli, ["export", "netx", "examples/interop.genome", "-o", str(bad)])
    assert r.exit_code == 1 and "backward connection" in r.output and not bad.exists()
    r = CliRunner().invoke(cli, ["export", "netx", "examples/netx-mnist.genome", "-o", str(bad),
                                 "--exact"])
    assert r.exit_code == 1 and "no power-of-two scale" in r.output and not bad.exists()


def test_all_zero_dense_block_is_refused():
    g = mlp_delay(0)
    g.nodes["fc2"].params["weight"] = np.zeros((8, 10))
    with pytest.raises(NetxError, match=r"block 'l2': every weight is 0 in 8 bits"):
        to_netx(verify(g))


def test_read_netx_names_a_bad_file(tmp_path):
    bad = tmp_path / "x.net"
    bad.write_text("not hdf5")
    with pytest.raises(NetxError, match=r"x.net: cannot be read as an HDF5 netx file"):
        read_netx(bad)
