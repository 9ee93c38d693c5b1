"""Loihi 2's fixed-point LIF (snnc.ir.loihi) against hand-computed steps, against lava-nc's own
fixed-point code (called in-process, no Lava runtime), and as the LoihiLIF op of the reference
interpreter."""
from __future__ import annotations

import numpy as np
import pytest

from snnc.ir import Graph, run, verify
from snnc.ir.loihi import (lava_weights, loihi_lif_step_fixed, round_current, split_weights,
                           wrap24)

def step(u, v, a_in, du=4095, dv=0, vth=100, bias=0):
    return loihi_lif_step_fixed(np.array([u]), np.array([v]), np.array([a_in]), du, dv, vth,
                                bias)


def test_no_current_decay_and_threshold_shift():
    # du = 4095 (+1 offset) leaves nothing of u: u = a_in << 6
    u, v, s = step(12345, 0, 3, du=4095, dv=4095, vth=100)
    assert u[0] == 3 * 64 and v[0] == 192 and not s[0]
    # v > vth << 6 is strict: 100 << 6 = 6400
    u, v, s = step(0, 6400 - 64, 1, dv=0, vth=100)
    assert v[0] == 6400 and not s[0]
    u, v, s = step(0, 6400, 1, dv=0, vth=100)
    assert s[0] and v[0] == 0  # reset to 0


def test_decay_truncates_toward_zero():
    # dv = 2048: v * 2048 / 4096; -3 -> -1 (toward zero), not -2 (floor)
    _, v, _ = step(0, -3, 0, dv=2048)
    assert v[0] == -1
    _, v, _ = step(0, 3, 0, dv=2048)
    assert v[0] == 1
    # du < 4095 keeps part of u: 1000 * (4096 - 2049) >> 12 = 499 (truncated), then + a_in << 6
    u, _, _ = step(1000, 0, 0, du=2048, dv=4095)
    assert u[0] == (1000 * 2047) >> 12


def test_voltage_saturates_and_current_wraps():
    top = 2 ** 23 - 1
    _, v, s = step(0, top - 10, 1000, dv=0, vth=131071)  # 131071 << 6 = 2^23 - 64
    assert s[0] and v[0] == 0
    _, v, s = step(0, -(2 ** 23 - 100), -1000, dv=0)
    assert v[0] == -top and not s[0]  # clipped at -(2^23 - 1)
    # u: (2^17) << 6 = 2^23 > 2^23 - 1 ... Lava wraps values above 2^23 only
    assert wrap24(np.array([2 ** 23]))[0] == 2 ** 23
    assert wrap24(np.array([2 ** 23 + 5]))[0] == -(2 ** 23) + 5
    assert wrap24(np.array([-(2 ** 23)]))[0] == 2 ** 23
    u, _, _ = step(0, 0, 2 ** 17 + 1, dv=4095)
    assert u[0] == (2 ** 17 + 1) * 64 - 2 ** 24


def test_bias_adds_to_v():
    # bias_mant << bias_exp in v units: 5 << 6 equals an a_in of 5
    _, v1, _ = step(0, 0, 0, dv=4095, bias=5 << 6)
    _, v2, _ = step(0, 0, 5, dv=4095)
    assert v1[0] == v2[0] == 320


def test_round_current_half_up():
    assert list(round_current(np.array([-1.5, -0.5, 0.49, 0.5, 2.5]))) == [-1, 0, 0, 1, 3]


def test_split_and_lava_weights():
    m, e = split_weights(np.array([[-128 * 8, 8], [127 * 8, 0]]))
    assert e == 3 and m.min() == -128 and m.max() == 127
    m, e = split_weights(np.array([3, 4]))
    assert e == 0 and list(m) == [3, 4]
    assert split_weights(np.array([0.5])) is None  # not an integer
    assert split_weights(np.array([1, 256])) is None  # 1 needs e = 0, 256 needs e >= 2
    w, x = lava_weights(np.array([-128, 127]), 0)
    assert list(w) == [-256, 254] and x == -1  # mixed signs: doubled, the sum shifted back
    w, x = lava_weights(np.array([-128, 0]), 2)
    assert list(w) == [-128, 0] and x == 2  # one sign: Lava keeps 8 bits of magnitude


# ---------------------------------------------------------------------------- against Lava's code
def _lava_lif():
    pytest.importorskip("lava")
    from snnc.backends.lava import compat
    compat.install()
    from lava.proc.lif.models import PyLifModelBitAcc
    return PyLifModelBitAcc


def test_matches_lava_fixed_lif_code():
    """Random states and inputs through lava-nc's own AbstractPyLifModelFixed arithmetic."""
    cls = _lava_lif()
    rng = np.random.default_rng(0)
    n = 4000
    for du, dv, vth in [(4095, 2048, 4096), (0, 0, 10), (1234, 3000, 131071), (4095, 1, 1)]:
        m = object.__new__(cls)  # the model's arithmetic without a runtime
        m.ds_offset, m.dm_offset = 1, 0
        m.uv_bitwidth, m.max_uv_val = 24, 2 ** 23
        m.decay_shift, m.decay_unity, m.vth_shift, m.act_shift = 12, 4096, 6, 6
        m.du, m.dv, m.vth = du, dv, vth
        m.bias_mant = rng.integers(-4096, 4096, n).astype(np.int16)
        m.bias_exp = np.full(n, 3, dtype=np.int16)
        u = rng.integers(-2 ** 23 + 1, 2 ** 23, n).astype(np.int32)
        v = rng.integers(-2 ** 23 + 1, 2 ** 23, n).astype(np.int32)
        a_in = rng.integers(-2 ** 17, 2 ** 17, n).astype(np.int32)
        m.u, m.v = u.copy(), v.copy()
        m.scale_bias()
        m.scale_threshold()
        m.subthr_dynamics(activation_in=a_in.copy())
        s_lava = m.spiking_activation()
        m.reset_voltage(spike_vector=s_lava)
        uu, vv, ss = loihi_lif_step_fixed(u.astype(np.int64), v.astype(np.int64), a_in, du, dv,
                                          vth, m.bias_mant.astype(np.int64) << 3)
        assert np.array_equal(uu, m.u) and np.array_equal(vv, m.v) and np.array_equal(ss, s_lava)


def test_lava_weights_exact_through_lava_weight_code():
    """Doubled mantissas survive lava-nc's clip_weights/truncate_weights, and ``weight_exp``
    shifts give ``sum(m s) 2^e`` exactly."""
    pytest.importorskip("lava")
    from snnc.backends.lava import compat
    compat.install()
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights
    rng = np.random.default_rng(1)
    for e in (0, 1, 4):
        for lo, hi in ((-128, 128), (0, 128), (-128, 1)):
            m = rng.integers(lo, hi, (5, 40))
            w, x = lava_weights(m, e)
            mode = determine_sign_mode(w)
            w2 = truncate_weights(clip_weights(w, mode, num_bits=8), mode, 8)
            s = rng.integers(0, 2, 40)
            acc = w2.dot(s)
            got = np.left_shift(acc, x) if x > 0 else np.right_shift(acc, -x)
            assert np.array_equal(got, (m @ s) * 2 ** e)


# ---------------------------------------------------------------------------- the op
def test_interpreter_op_hand_steps():
    g = Graph({"T": 4})
    g.add_node("in", "Input", {"shape": (2,)})
    g.add_node("n", "LoihiLIF", {"dv": 1024, "vth": 10})
    g.add_node("out", "Output")
    g.add_edge("in", "n")
    g.add_edge("n", "out")
    verify(g)
    x = np.array([[[4.5, -0.6]], [[4.4, 0.0]], [[4.0, 0.0]], [[0.0, 0.0]]])  # [T, B=1, 2]
    tr = run(g, x)
    # a_in: 5, 4, 4, 0 (half up); v: 320, 240+256=496, 372+256=628 > 640? no; 471
    v = [320]
    v.append((320 * 3072 >> 12) + 256)
    v.append((v[-1] * 3072 >> 12) + 256)
    v.append(v[-1] * 3072 >> 12)
    assert list(tr.v["n"][:, 0, 0]) == v
    assert tr.outputs["n"][:, 0, 0].sum() == 0
    # second neuron: a_in = round(-0.6) = -1 -> v = -64, then decays toward 0 by truncation
    assert list(tr.v["n"][:, 0, 1]) == [-64, -48, -36, -27]
    g["n"].attrs["vth"] = 7  # 448: fires at the second step (496 > 448)
    tr = run(g, x)
    assert list(tr.outputs["n"][:, 0, 0]) == [0, 1, 0, 0]
    assert tr.v["n"][1, 0, 0] == 0 and tr.v["n"][2, 0, 0] == 256
