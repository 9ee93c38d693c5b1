"""freeze-plif: a PLIF becomes the LIF with its learned leak, bit for bit."""
import numpy as np
import pytest

from snnc.ir import run
from snnc.ir.ops import LIF
from snnc.passes import FreezePLIF

from .helpers import SEEDS, assert_equivalent, case, check_pass


@pytest.mark.parametrize("seed", SEEDS)
def test_random_graphs(seed):
    g, result, x, trace = check_pass(FreezePLIF(), seed)
    out = result.graph
    plifs = [n.name for n in g.nodes_of("PLIF")]
    assert result.changed == bool(plifs) and not out.nodes_of("PLIF")
    for name in plifs:
        a, b = g[name].attrs, out[name].attrs
        assert out[name].op == "LIF" and set(b) == set(LIF.attrs)
        gain = a["alpha"] * (1.0 - a["beta"]) if a["decay_input"] else a["alpha"]
        assert b["alpha"] == gain and b["beta"] == a["beta"] and b["v_th"] == a["v_th"]
    assert_equivalent(g, out, x, trace)
    tb, ta = trace, run(out, x)
    for name in plifs:  # exact, not only close
        assert np.array_equal(ta.v[name], tb.v[name])


def test_generator_has_both_plif_gains():
    modes = {n.attrs["decay_input"] for s in SEEDS for n in case(s)[0].nodes_of("PLIF")}
    assert modes == {True, False}


def test_notes():
    g = next(case(s)[0] for s in SEEDS if case(s)[0].nodes_of("PLIF"))
    n = len(g.nodes_of("PLIF"))
    res = FreezePLIF()(g)
    assert res.notes == [f"froze {n} PLIF node{'s' if n > 1 else ''} into LIF with the learned "
                         f"leak"]
    again = FreezePLIF()(res.graph)
    assert not again.changed and again.notes == []
