"""fold-depthwise: depthwise kxk + pointwise 1x1 fused into one standard Conv2d."""
import numpy as np
import pytest

from snnc.ir import Graph, verify
from snnc.ir.interpret import conv2d
from snnc.passes import FoldBatchNorm, FoldDepthwise

from .helpers import SEEDS, assert_equivalent, check_pass


def is_depthwise(node):
    return node.op == "Conv2d" and node.attrs["groups"] > 1 and \
        node.attrs["groups"] == node.attrs["in_channels"]


@pytest.mark.parametrize("seed", SEEDS)
def test_random_graphs(seed):
    g, result, x, trace = check_pass(FoldDepthwise(), seed)
    out = result.graph
    fused = [n.name for n in g if is_depthwise(n) and n.name not in out.nodes]
    for dw in fused:
        pw = g.out_edges(dw)[0].dst
        assert out[pw].attrs["groups"] == 1 and out[pw].attrs["kernel"] == g[dw].attrs["kernel"]
    for n in out:
        if is_depthwise(n):
            assert any(note.startswith(f"kept {n.name}: ") for note in result.notes)
    assert result.changed == bool(fused) and len(out) == len(g) - len(fused)
    assert_equivalent(g, out, x, trace)  # the fused conv keeps the pointwise conv's name and value


def sep_graph(C=2, mult=2, O=3, dw_bias=True, pw_bias=True, groups=None, pw_kernel=1,  # noqa: E741
              delay=0, bn_between=False, stride=2, cycle=False, seed=0):
    rng = np.random.default_rng(seed)
    g = Graph({"T": 3})
    groups = groups or C
    J = C * mult
    g.add_node("in", "Input", {"shape": (C, 5, 6)})
    p = {"weight": rng.normal(size=(J, C // groups, 3, 3))}
    if dw_bias:
        p["bias"] = rng.normal(size=J)
    g.add_node("dw", "Conv2d", {"in_channels": C, "out_channels": J, "kernel": 3, "padding": 1,
                                "stride": stride, "groups": groups, "bias": dw_bias}, p)
    p = {"weight": rng.normal(size=(O, J, pw_kernel, pw_kernel))}
    if pw_bias:
        p["bias"] = rng.normal(size=O)
    g.add_node("pw", "Conv2d", {"in_channels": J, "out_channels": O, "kernel": pw_kernel,
                                "padding": pw_kernel // 2, "bias": pw_bias}, p)
    g.add_node("lif", "LIF", {"beta": 0.6, "v_th": 0.3})
    g.add_node("out", "Output")
    g.add_edge("in", "dw", delay=1)
    if bn_between:
        g.add_node("bn", "BatchNorm2d", {"num_features": J},
                   {"weight": rng.uniform(0.5, 2, J), "bias": rng.normal(size=J),
                    "running_mean": rng.normal(size=J), "running_var": rng.uniform(0.5, 2, J)})
        g.add_edge("dw", "bn")
        g.add_edge("bn", "pw")
    else:
        g.add_edge("dw", "pw", delay=delay)
    g.add_edge("pw", "lif")
    g.add_edge("lif", "out")
    if cycle:
        g.add_edge("lif", "dw", delay=2, kind="backward")
    return verify(g)


@pytest.mark.parametrize("dw_bias, pw_bias", [(True, True), (False, True), (True, False),
                                              (False, False)])
def test_known_example(dw_bias, pw_bias):
    g = sep_graph(dw_bias=dw_bias, pw_bias=pw_bias)
    res = FoldDepthwise()(g)
    assert res.notes == ["fused 1 depthwise-separable conv into standard Conv2d (dw+pw)"]
    out = verify(res.graph)
    assert "dw" not in out.nodes
    f = out["pw"]
    assert {k: f.attrs[k] for k in ("in_channels", "out_channels", "kernel", "stride", "padding",
                                    "groups", "bias")} == \
        {"in_channels": 2, "out_channels": 3, "kernel": 3, "stride": 2, "padding": 1, "groups": 1,
         "bias": dw_bias or pw_bias}
    assert [str(e) for e in out.in_edges("pw")] == ["in -> pw @1"]
    dw, pw = g["dw"].params, g["pw"].params
    mult = 2
    for o in range(3):  # W[o, c] = sum_m pw[o, c*mult+m] * dw[c*mult+m, 0]
        for c in range(2):
            want = sum(pw["weight"][o, c * mult + m, 0, 0] * dw["weight"][c * mult + m, 0]
                       for m in range(mult))
            np.testing.assert_allclose(f.params["weight"][o, c], want, rtol=1e-12)
    if dw_bias or pw_bias:
        want = (pw["weight"][:, :, 0, 0] @ dw["bias"] if dw_bias else 0) + \
            (pw["bias"] if pw_bias else 0)
        np.testing.assert_allclose(f.params["bias"], want, rtol=1e-12)
    x = np.random.default_rng(3).normal(size=(4, 2, 5, 6))
    two = conv2d(conv2d(x, dw["weight"], dw.get("bias"), 2, 1, 2), pw["weight"], pw.get("bias"))
    np.testing.assert_allclose(conv2d(x, f.params["weight"], f.params.get("bias"), 2, 1), two,
                               rtol=1e-12, atol=1e-12)
    assert_equivalent(g, out, np.random.default_rng(4).normal(size=(3, 2, 2, 5, 6)))


def test_cycle_into_depthwise_is_rewired():
    g = sep_graph(C=3, mult=1, O=3, stride=1, cycle=True)
    res = FoldDepthwise()(g)
    assert sorted(str(e) for e in res.graph.in_edges("pw")) == ["in -> pw @1",
                                                                "lif -> pw @2 (backward)"]
    assert_equivalent(g, verify(res.graph), np.random.default_rng(5).normal(size=(3, 2, 3, 5, 6)))


def test_grouped_only_with_option():
    g = sep_graph(C=4, mult=1, O=3, groups=2)
    res = FoldDepthwise()(g)
    assert not res.changed and res.notes == []
    res = FoldDepthwise(grouped=True)(g)
    assert res.changed and str(FoldDepthwise(grouped=True)) == "fold-depthwise{grouped=true}"
    assert_equivalent(g, verify(res.graph), np.random.default_rng(6).normal(size=(3, 2, 4, 5, 6)))


@pytest.mark.parametrize("kw, why", [
    ({"delay": 1}, "kept dw: its edge into pw has delay 1"),
    ({"pw_kernel": 3}, "kept dw: its consumer pw (Conv2d) is not a pointwise 1x1 Conv2d"),
    ({"bn_between": True}, "kept dw: its consumer bn (BatchNorm2d) is not a pointwise 1x1 Conv2d"),
])
def test_blocked(kw, why):
    res = FoldDepthwise()(sep_graph(**kw))
    assert not res.changed and res.notes == [why]


def test_blocked_by_fanout_and_other_inputs():
    g = sep_graph()
    g.add_node("tap", "LIF", {"beta": 0.5})
    g.add_edge("dw", "tap")
    g.add_edge("tap", "pw", delay=1)
    verify(g)
    assert FoldDepthwise()(g).notes == ["kept dw: it has 2 out-edges, not one"]
    g.remove_node_and_edges("tap")
    g.add_node("tap", "LIF", {"beta": 0.5})
    g.add_edge("in", "tap")
    g.add_node("pool", "AvgPool2d", {"kernel": 3, "stride": 2, "padding": 1})
    g.add_edge("tap", "pool")
    g.add_node("c", "Conv2d", {"in_channels": 2, "out_channels": 4, "kernel": 1},
               {"weight": np.ones((4, 2, 1, 1))})
    g.add_edge("pool", "c")
    g.add_edge("c", "pw")
    verify(g)
    assert FoldDepthwise()(g).notes == ["kept dw: pw has other inputs"]


def test_batchnorm_between_folds_first():
    """fold-bn folds a BatchNorm between dw and pw into dw; then fold-depthwise fuses the pair."""
    g = sep_graph(bn_between=True)
    r1 = FoldBatchNorm()(g)
    r2 = FoldDepthwise()(verify(r1.graph))
    assert r1.changed and r2.changed
    out = verify(r2.graph)
    assert [n.op for n in out] == ["Input", "Conv2d", "LIF", "Output"]
    assert_equivalent(g, out, np.random.default_rng(7).normal(size=(3, 2, 2, 5, 6)))
