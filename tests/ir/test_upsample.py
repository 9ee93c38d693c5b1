"""The Upsample op (nearest, integer scale; BCNAS-SNN eq. 6's interpolation): interpreter semantics,
shape inference, attribute checks, zero MACs, and its energy accounting (spikes stay spikes)."""
import numpy as np
import pytest

from snnc.backends.energy import count_layers, node_kinds
from snnc.errors import GraphError
from snnc.ir import Graph, run, summarize, verify

from .graphs import backward_net, sample_input


def _up(shape, scale) -> Graph:
    g = Graph({"T": 2})
    g.add_node("in", "Input", {"shape": shape})
    g.add_node("up", "Upsample", {"scale": scale})
    g.add_node("out", "Output")
    g.add_edge("in", "up")
    g.add_edge("up", "out")
    return g


@pytest.mark.parametrize("scale", [1, 2, 3])
def test_nearest_semantics(scale):
    x = np.random.default_rng(scale).normal(size=(2, 3, 2, 4))
    y = run(_up((3, 2, 4), scale), x).output  # [T, B, C, H, W]
    assert y.shape == (2, 2, 3, 2 * scale, 4 * scale)
    for b in range(2):
        for c in range(3):
            want = np.kron(x[b, c], np.ones((scale, scale)))  # each pixel a scale x scale square
            np.testing.assert_array_equal(y[0, b, c], want)
            np.testing.assert_array_equal(y[1, b, c], want)


def test_shape_and_attribute_errors():
    with pytest.raises(GraphError, match=r"'up' \(Upsample\).*\(C, H, W\)"):
        verify(_up((6,), 2))
    with pytest.raises(GraphError, match="scale must be an integer >= 1"):
        verify(_up((1, 2, 2), 0))
    with pytest.raises(GraphError, match="attribute 'scale' must be int"):
        verify(_up((1, 2, 2), 1.5))
    with pytest.raises(GraphError, match="missing attribute 'scale'"):
        g = _up((1, 2, 2), 2)
        del g["up"].attrs["scale"]
        verify(g)


def test_no_macs_and_no_params():
    s = summarize(backward_net())
    row = next(r for r in s.layers if r.name == "bc.up")
    assert (row.shape, row.params, row.macs) == ((6, 8, 8), 0, 0)
    assert s.edges_by_kind["backward"] == 1


def test_backward_connection_in_hand_made_graph_changes_the_target():
    g = verify(backward_net())
    x = sample_input(g)
    tr = run(g, x)
    for name in ("a.lif", "b.lif"):
        assert 0.05 < tr.outputs[name].mean() < 0.6, name
    # delay 1: at t = 0 the chain reads silent spikes, so it adds BN(conv(0)), the BN shift
    p = g["bc.bn"].params
    shift = p["bias"] - p["running_mean"] * p["weight"] / np.sqrt(p["running_var"] + 1e-5)
    np.testing.assert_allclose(tr.outputs["bc.bn"][0], np.broadcast_to(
        shift[None, :, None, None], tr.outputs["bc.bn"][0].shape), atol=1e-12)
    np.testing.assert_array_equal(tr.outputs["bc.up"][1:], np.repeat(np.repeat(
        tr.outputs["b.lif"][:-1], 2, axis=-2), 2, axis=-1))
    assert not np.array_equal(run(verify(_without_feedback(g)), x).outputs["a.lif"],
                              tr.outputs["a.lif"])


def _without_feedback(g: Graph) -> Graph:
    g = g.copy()
    g.remove_edge(next(e for e in g.in_edges("a.lif") if e.src == "bc.bn"))
    for name in ("bc.bn", "bc.conv", "bc.up"):
        g.remove_node_and_edges(name)
    return g


def test_energy_counts_the_connection_on_spikes():
    g = verify(backward_net())
    kinds = node_kinds(g)
    assert kinds["bc.up"] == "spikes"
    layers = {layer.name: layer for layer in count_layers(g)}
    assert "bc.up" not in layers  # no MACs: not a synaptic layer
    conv = layers["bc.conv"]
    assert conv.input == "spikes" and conv.sources == ("b.lif",)
    assert conv.macs == 4 * 8 * 8 * 6  # 1x1 conv at the upsampled resolution
