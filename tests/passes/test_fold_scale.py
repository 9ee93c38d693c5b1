"""fold-scale: a Scale feeding only spiking neurons (LIF, ALIF, PLIF) becomes a threshold (or
input gain) change."""
import numpy as np
import pytest

from snnc.errors import PassError
from snnc.ir import Graph, run, verify
from snnc.passes import FoldScale

from .helpers import SEEDS, assert_equivalent, check_pass


def v_scales(before: Graph, after: Graph, mode: str) -> dict[str, float]:
    """Membrane factor of each LIF fed by a Scale that the pass removed (1/s in threshold mode)."""
    out = {}
    for sc in before.nodes_of("Scale"):
        if sc.name not in after.nodes and mode == "threshold":
            for lif in before.successors(sc.name):
                out[lif] = 1.0 / sc.attrs["scale"]
    return out


@pytest.mark.parametrize("mode", ["threshold", "input"])
@pytest.mark.parametrize("seed", SEEDS)
def test_random_graphs(seed, mode):
    g, result, x, trace = check_pass(FoldScale(mode=mode), seed)
    out = result.graph
    removed = [sc.name for sc in g.nodes_of("Scale") if sc.name not in out.nodes]
    assert result.changed == bool(removed)
    for sc in out.nodes_of("Scale"):
        if out.out_edges(sc.name):
            assert any(n.startswith(f"kept {sc.name}: ") for n in result.notes)
    for name in removed:
        s = g[name].attrs["scale"]
        for lif in g.successors(name):
            a, b = g[lif].attrs, out[lif].attrs
            if mode == "threshold":
                assert (b["v_th"], b["v_reset"], b["v_rest"], b["alpha"]) == \
                    (a["v_th"] / s, a["v_reset"] / s, a["v_rest"] / s, a["alpha"])
                if g[lif].op == "ALIF":
                    assert b["adapt"] == a["adapt"] / s
            else:
                assert (b["v_th"], b["alpha"]) == (a["v_th"], a["alpha"] * s)
    assert_equivalent(g, out, x, trace, v_scale=v_scales(g, out, mode))


def sink_graph(reset="hard", scale=0.5, extra=None):
    """Two Linear branches averaged by a Scale (delays on its in- and out-edges) into two LIFs."""
    rng = np.random.default_rng(11)
    g = Graph({"T": 8})
    g.add_node("in", "Input", {"shape": (4,)})
    for k in (1, 2):
        g.add_node(f"fc{k}", "Linear", {"in_features": 4, "out_features": 4},
                   {"weight": rng.normal(0, 0.8, (4, 4)), "bias": rng.normal(0, 0.2, 4)})
        g.add_edge("in", f"fc{k}")
    g.add_node("sink", "Scale", {"scale": scale})
    g.add_node("a", "LIF", {"beta": 0.8, "alpha": 0.7, "v_th": 0.3, "v_reset": -0.05,
                            "v_rest": 0.02, "reset": reset})
    g.add_node("b", "LIF", {"beta": 1.0, "v_th": 0.45, "v_reset": 0.1, "reset": reset})
    g.add_node("out", "Output")
    g.add_edge("fc1", "sink", delay=1)
    g.add_edge("fc2", "sink", delay=0)
    g.add_edge("sink", "a", delay=0)
    g.add_edge("sink", "b", delay=2)
    g.add_edge("sink", "b", delay=0)
    g.add_edge("a", "out")
    g.add_edge("b", "out", delay=1)
    if extra:
        extra(g)
    return verify(g)


@pytest.mark.parametrize("reset", ["hard", "soft"])
def test_delays_on_scale_edges_threshold_mode(reset):
    g = sink_graph(reset)
    res = FoldScale()(g)
    assert res.notes == ["folded 1 Scale node into the thresholds (v_th / s) of 2 neuron nodes"]
    out = verify(res.graph)
    assert "sink" not in out.nodes
    assert sorted(str(e) for e in out.in_edges("a")) == ["fc1 -> a @1", "fc2 -> a"]
    assert sorted(str(e) for e in out.in_edges("b")) == ["fc1 -> b @1", "fc1 -> b @3",
                                                         "fc2 -> b", "fc2 -> b @2"]
    assert out["a"].attrs["v_th"] == 0.3 / 0.5 and out["a"].attrs["v_rest"] == 0.02 / 0.5
    assert out["b"].attrs["v_reset"] == 0.1 / 0.5
    x = np.random.default_rng(0).normal(0.3, 1.0, (8, 3, 4))
    assert_equivalent(g, out, x, v_scale={"a": 2.0, "b": 2.0})
    spikes = run(out, x).outputs
    assert 0 < spikes["a"].mean() < 1 and 0 < spikes["b"].mean() < 1


@pytest.mark.parametrize("reset", ["hard", "soft"])
def test_input_mode(reset):
    g = sink_graph(reset, scale=1 / 3)
    res = FoldScale(mode="input")(g)
    out = verify(res.graph)
    assert res.notes == ["folded 1 Scale node into the input gains (alpha * s) of 2 neuron nodes"]
    assert out["a"].attrs["alpha"] == 0.7 / 3 and out["a"].attrs["v_th"] == 0.3
    assert_equivalent(g, out, np.random.default_rng(1).normal(0.3, 1.0, (8, 3, 4)))


def _as_alif_and_plif(g):
    g["a"].op = "ALIF"
    g["a"].attrs.update(rho=0.5, adapt=0.2)
    g["b"].op = "PLIF"
    g["b"].attrs.update(beta=0.6, alpha=2.0, decay_input=True)


@pytest.mark.parametrize("mode", ["threshold", "input"])
@pytest.mark.parametrize("reset", ["hard", "soft"])
def test_alif_and_plif(reset, mode):
    """ALIF's adaptive threshold scales with v_th (adapt / s); PLIF's tied gain with alpha."""
    g = sink_graph(reset, scale=0.5, extra=_as_alif_and_plif)
    out = verify(FoldScale(mode=mode)(g).graph)
    assert "sink" not in out.nodes and (out["a"].op, out["b"].op) == ("ALIF", "PLIF")
    if mode == "threshold":
        assert out["a"].attrs["adapt"] == 0.4 and out["a"].attrs["v_th"] == 0.6
    else:
        assert out["a"].attrs["adapt"] == 0.2 and out["b"].attrs["alpha"] == 1.0
    x = np.random.default_rng(2).normal(0.3, 1.0, (8, 3, 4))
    scale = {"a": 2.0, "b": 2.0} if mode == "threshold" else {}
    assert_equivalent(g, out, x, v_scale=scale)
    spikes = run(g, x).outputs
    assert 0 < spikes["a"].mean() < 1 and 0 < spikes["b"].mean() < 1


def test_relu_consumer_is_kept():
    def relu(g):
        g["b"].op, g["b"].attrs = "ReLU", {}

    res = FoldScale()(sink_graph(extra=relu))
    assert not res.changed
    assert res.notes == ["kept sink: it feeds b (ReLU), not only spiking neurons"]


def test_backward_edge_kind_propagates():
    def loop(g):
        g.add_edge("a", "sink", delay=1, kind="backward")
    res = FoldScale()(sink_graph(extra=loop))
    edges = {str(e) for e in res.graph.edges}
    assert {"a -> a @1 (backward)", "a -> b @3 (backward)", "a -> b @1 (backward)"} <= edges
    assert_equivalent(sink_graph(extra=loop), verify(res.graph),
                      np.random.default_rng(2).normal(0.3, 1.0, (8, 2, 4)),
                      v_scale={"a": 2, "b": 2})


def _to_output(g):
    g.add_edge("sink", "out")


def _other_input(g):
    g.add_edge("fc1", "a", delay=2)


@pytest.mark.parametrize("kw, why", [
    ({"scale": -0.5}, "kept sink: scale -0.5 is not positive"),
    ({"extra": _to_output}, "kept sink: it feeds out (Output), not only spiking neurons"),
    ({"extra": _other_input}, "kept sink: a also receives input from fc1"),
])
def test_blocked(kw, why):
    res = FoldScale()(sink_graph(**kw))
    assert not res.changed and res.notes == [why]


def test_duplicate_bypass_is_blocked():
    """fc1 -> sink @1 -> b @2 and fc1 -> sink @3 -> b @0 would be the same edge fc1 -> b @3."""
    def dup(g):
        g.add_edge("fc1", "sink", delay=3)
    res = FoldScale()(sink_graph(extra=dup))
    assert not res.changed and res.notes == ["kept sink: bypassing 'sink' would duplicate edge "
                                             "fc1 -> b @3"]


def test_bad_mode():
    with pytest.raises(PassError, match="option mode='volts' must be one of 'threshold', 'input'"):
        FoldScale(mode="volts")
