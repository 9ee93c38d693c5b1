"""The consumer's proof: lava-dl's own ``netx.hdf5.Network`` loads snnc's netx files, and Lava's
fixed-point models reproduce our spikes (the reference interpreter's, for an exactly
representable network; the integer model's, bit for bit, for a rounded one).

Each test starts Lava once (a few OS processes per block, about 15 s on 2 cores). lava-dl 0.6.0
is installed by ``make setup`` (``--no-deps``); without it these tests skip, saying so.
"""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from snnc.backends.netx import export_netx, quantize_input, readout_values, run_fixed
from snnc.ir.interpret import run as ir_run

from ..netx_graphs import conv_chain, mlp_delay, pixels

pytestmark = pytest.mark.slow

def _have_lava_dl() -> bool:
    try:
        return importlib.util.find_spec("lava.lib.dl.netx") is not None
    except ImportError:  # lava itself is missing
        return False


if not _have_lava_dl():  # pragma: no cover - CI installs it
    pytest.skip("lava-dl is not installed (make setup installs lava-dl==0.6.0 with --no-deps)",
                allow_module_level=True)


def _run(graph, x, T, tmp_path, **kw):
    from snnc.backends.lava.netx_run import run_netx
    path = tmp_path / "m.net"
    res = export_netx(graph, path, **kw)
    x_int = quantize_input(x, res.input_scale)
    ro = len(res.layers) - 1
    got = run_netx(path, x_int, T, input_message_bits=res.input_message_bits, record_v=(ro,))
    return res, got, run_fixed(res.layers, x_int, T)


def test_lava_dl_runs_exact_conv_chain_with_reference_spikes(tmp_path):
    g, T = conv_chain(0), 5
    x = pixels((2, 8, 8), B=2)
    res, got, fixed = _run(g, x, T, tmp_path, exact=True)
    assert got.blocks == 3 and "Conv" in got.table and "Dense" in got.table
    trace = ir_run(g, x, T)
    for i, la in enumerate(res.layers[:-1]):
        assert got.spikes[i].sum() > 0, la.name
        np.testing.assert_array_equal(got.spikes[i], trace.outputs[la.name], err_msg=la.name)
    ro = res.layers[-1]
    np.testing.assert_array_equal(got.v[2], fixed.v[ro.name])
    np.testing.assert_array_equal(readout_values(ro, got.v[2]), np.cumsum(trace.output, 0))


def test_lava_dl_runs_rounded_dense_chain_with_delay_bit_exact(tmp_path):
    g, T = mlp_delay(1, dyadic=False), 6
    x = pixels((12,), B=2)
    res, got, fixed = _run(g, x, T, tmp_path)
    assert not res.exact and "True" in got.table  # the delayed block shows delay=True
    for i, la in enumerate(res.layers[:-1]):
        assert got.spikes[i].sum() > 0, la.name
        np.testing.assert_array_equal(got.spikes[i], fixed.spikes[la.name], err_msg=la.name)
    np.testing.assert_array_equal(got.v[2], fixed.v[res.layers[-1].name])
