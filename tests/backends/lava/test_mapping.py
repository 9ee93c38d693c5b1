"""Canonical LIF -> Lava LIF parameters, and what is refused by name."""
import pytest

from snnc.backends.lava import LavaMappingError, map_lif
from snnc.ir import Graph, verify


def _lif(**attrs):
    g = Graph()
    g.add_node("in", "Input", {"shape": (3, 4, 5)})
    g.add_node("n", "LIF", {"beta": 0.75, **attrs})
    g.add_node("out", "Output")
    g.add_edge("in", "n")
    g.add_edge("n", "out")
    return verify(g)["n"]


def test_plain_lif():
    p = map_lif(_lif(alpha=0.5, v_th=0.3))
    assert (p.du, p.dv, p.vth, p.alpha, p.bias, p.v_init) == (1.0, 0.25, 0.3, 0.5, 0.0, 0.0)
    assert p.lava_shape == (5, 4, 3)


def test_reset_and_rest_potentials_become_shift_bias_and_start():
    p = map_lif(_lif(v_th=1.0, v_reset=-0.2, v_rest=0.1))
    assert p.vth == pytest.approx(1.2)
    assert p.v_init == pytest.approx(0.3)           # V[-1] - v_reset
    assert p.bias == pytest.approx(0.25 * 0.3)      # (1 - beta)(v_rest - v_reset)


def test_a_leak_outside_0_1_never_reaches_the_mapping():
    """beta = 1.5 (Lava's dv = 1 - beta < 0) is refused by the IR's attribute ranges already."""
    from snnc.errors import GraphError

    with pytest.raises(GraphError, match=r"'beta' must be in \[0.0, 1.0\], got 1.5"):
        _lif(beta=1.5)


@pytest.mark.parametrize("attrs, words", [
    ({"reset": "soft"}, "reset='soft'"),
])
def test_refusals_name_the_neuron_and_the_parameter(attrs, words):
    with pytest.raises(LavaMappingError, match="neuron 'n'") as exc:
        map_lif(_lif(**attrs))
    assert words in str(exc.value) and exc.value.node == "n"
