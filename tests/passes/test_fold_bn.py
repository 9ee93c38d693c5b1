"""fold-bn: BatchNorm folded into the preceding Conv2d/Linear; the rest left alone, with notes."""
import numpy as np
import pytest

from snnc.ir import Graph, verify
from snnc.ir.interpret import Interpreter, conv2d
from snnc.passes import FoldBatchNorm

from .helpers import SEEDS, assert_equivalent, check_pass


@pytest.mark.parametrize("seed", SEEDS)
def test_random_graphs(seed):
    g, result, x, trace = check_pass(FoldBatchNorm(), seed)
    out = result.graph
    same = {n: n for n in out.nodes if n in g.nodes and out[n].op != "LIF"}
    folded = [bn.name for bn in g.nodes_of("BatchNorm2d") if bn.name not in out.nodes]
    for bn in folded:
        conv = g.in_edges(bn)[0].src
        same[conv] = bn  # the conv now carries the BatchNorm's value
        assert out[conv].attrs["bias"] is True
        assert {e.dst for e in out.out_edges(conv)} == {e.dst for e in g.out_edges(bn)}
    kept = [bn.name for bn in out.nodes_of("BatchNorm2d")]
    assert result.changed == bool(folded)
    assert len(out) == len(g) - len(folded)
    for bn in kept:  # every BatchNorm left has a note saying why
        assert any(n.startswith(f"kept {bn}: ") for n in result.notes), (bn, result.notes)
    if folded:
        assert result.notes[0] == f"folded {len(folded)} BatchNorm2d into Conv2d"
    assert_equivalent(g, out, x, trace, same=same)


def bn_params(rng, c, dtype=np.float64):
    p = {"weight": rng.uniform(0.5, 2, c), "bias": rng.normal(0, 1, c),
         "running_mean": rng.normal(0, 1, c), "running_var": rng.uniform(0.1, 3, c)}
    return {k: v.astype(dtype) for k, v in p.items()}


def conv_bn(bias: bool, dtype=np.float64, groups=1, extra_reader=False, delay=0):
    rng = np.random.default_rng(5)
    g = Graph({"T": 3})
    g.add_node("in", "Input", {"shape": (4, 6, 5)})
    params = {"weight": rng.normal(0, 1, (6, 4 // groups, 3, 3)).astype(dtype)}
    if bias:
        params["bias"] = rng.normal(0, 1, 6).astype(dtype)
    g.add_node("conv", "Conv2d", {"in_channels": 4, "out_channels": 6, "kernel": 3, "stride": 2,
                                  "padding": 1, "groups": groups, "bias": bias}, params)
    g.add_node("bn", "BatchNorm2d", {"num_features": 6, "eps": 1e-3}, bn_params(rng, 6, dtype))
    g.add_node("lif", "LIF", {"beta": 0.7, "v_th": 0.5})
    g.add_node("out", "Output")
    g.add_edge("in", "conv")
    g.add_edge("conv", "bn", delay=delay)
    g.add_edge("bn", "lif")
    g.add_edge("bn", "out", delay=1)
    g.add_edge("lif", "out")
    if extra_reader:
        g.add_node("other", "LIF", {"beta": 0.5})
        g.add_edge("conv", "other")
        g.add_edge("other", "out")
    return verify(g)


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("groups", [1, 2])
def test_fold_math(bias, groups):
    g = conv_bn(bias, groups=groups)
    res = FoldBatchNorm()(g)
    assert res.notes == ["folded 1 BatchNorm2d into Conv2d"]
    out = verify(res.graph)
    assert "bn" not in out.nodes
    conv = out["conv"]
    assert conv.attrs["bias"] is True and set(conv.params) == {"weight", "bias"}
    assert [str(e) for e in out.out_edges("conv")] == ["conv -> lif", "conv -> out @1"]
    x = np.random.default_rng(1).normal(size=(3, 4, 6, 5))
    c, bn = g["conv"], g["bn"]
    expected = Interpreter(g).op_batchnorm2d(bn, conv2d(x, c.params["weight"], c.params.get("bias"),
                                                      2, 1, groups), 0)
    got = conv2d(x, conv.params["weight"], conv.params["bias"], 2, 1, groups)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    # by hand for one output channel
    p = bn.params
    s = p["weight"][2] / np.sqrt(p["running_var"][2] + 1e-3)
    np.testing.assert_allclose(conv.params["weight"][2], c.params["weight"][2] * s)
    b0 = c.params["bias"][2] if bias else 0.0
    np.testing.assert_allclose(conv.params["bias"][2],
                               (b0 - p["running_mean"][2]) * s + p["bias"][2])
    assert_equivalent(g, out, np.random.default_rng(2).normal(size=(3, 2, 4, 6, 5)),
                      same={"conv": "bn", "lif": "lif"})


def test_float32_stays_float32():
    g = conv_bn(True, dtype=np.float32)
    conv = verify(FoldBatchNorm()(g).graph)["conv"]
    assert conv.params["weight"].dtype == np.float32 and conv.params["bias"].dtype == np.float32


def test_linear_batchnorm():
    rng = np.random.default_rng(3)
    g = Graph({"T": 4})
    g.add_node("in", "Input", {"shape": (5,)})
    g.add_node("fc", "Linear", {"in_features": 5, "out_features": 3, "bias": False},
               {"weight": rng.normal(size=(3, 5))})
    g.add_node("bn", "BatchNorm2d", {"num_features": 3}, bn_params(rng, 3))
    g.add_node("out", "Output")
    for a, b in [("in", "fc"), ("fc", "bn"), ("bn", "out")]:
        g.add_edge(a, b)
    verify(g)
    res = FoldBatchNorm()(g)
    assert res.notes == ["folded 1 BatchNorm2d into Linear"]
    assert res.graph["fc"].attrs["bias"] is True
    assert_equivalent(g, verify(res.graph), rng.normal(size=(4, 2, 5)), same={"fc": "bn"})


@pytest.mark.parametrize("kw, why", [
    ({"extra_reader": True}, "kept bn: conv also feeds other"),
    ({"delay": 1}, "kept bn: its input edge from conv has delay 1"),
])
def test_blocked(kw, why):
    g = conv_bn(True, **kw)
    res = FoldBatchNorm()(g)
    assert not res.changed and res.notes == [why]
    assert "bn" in res.graph.nodes


def test_blocked_by_other_inputs_and_ops():
    g = conv_bn(True)
    g.add_edge("lif", "bn", delay=1, kind="backward")  # LIF spikes (6 ch, 3x3) into the BN too
    g.add_node("bn2", "BatchNorm2d", {"num_features": 6}, bn_params(np.random.default_rng(0), 6))
    g.add_edge("lif", "bn2")
    g.add_edge("bn2", "out")
    verify(g)
    res = FoldBatchNorm()(g)
    assert res.notes == ["kept bn: it has 2 in-edges, not one",
                         "kept bn2: its input lif is a LIF, not a Conv2d or Linear"]
    assert not res.changed
