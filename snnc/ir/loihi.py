"""Loihi 2's fixed-point LIF arithmetic, in one function both the reference interpreter and any
Lava process model of our own call (numpy only).

lava-nc 0.10.0's bit-accurate LIF (``lava.proc.lif.models.AbstractPyLifModelFixed`` and its
``PyLifModelBitAcc`` / ``PyLifResetModelBitAcc``, read from the installed source), per step, all
integers::

    u = sgn(x) (|x| >> 12),  x = u (4096 - (du + 1))        (current decay, truncated toward 0)
    u = wrap24(u + (a_in << 6))                              (24-bit current: wraps around)
    v = sgn(y) (|y| >> 12),  y = v (4096 - dv)               (voltage decay, truncated toward 0)
    v = clip(v + u + (bias_mant << bias_exp), -(2^23 - 1), 2^23 - 1)
    s = v > (vth << 6);   v[s] = 0

``du + 1`` but ``dv + 0``: Lava's ``ds_offset = 1`` and ``dm_offset = 0`` (a 12-bit ``du`` of
4095 removes the current entirely, so ``u = a_in << 6`` every step). ``wrap24`` is Lava's:
``x > 2^23 -> x - 2^24``, then ``<= -2^23 -> x + 2^24`` (of the unwrapped value). ``a_in`` is the
sum over every connection into the neuron (Lava's in-port adds them); a Dense/Sparse connection
sends ``(W s) << weight_exp`` (``>> -weight_exp`` when negative, an arithmetic shift), its
weights clipped to 8 bits (:func:`lava_weights`).
"""
from __future__ import annotations

import numpy as np

#: Why a backend other than the reference interpreter and Lava refuses a LoihiLIF node (each table
#: adds what to do instead).
DEPLOY_ONLY = ("a deployment artefact of the quantize-loihi pass (Loihi 2's integer arithmetic, "
               "which the reference interpreter and the Lava backend compute)")
#: Bits of the state variables ``u`` and ``v``.
STATE_BITS = 24
#: ``a_in`` and ``vth`` are shifted left by this many bits to align them with the state.
ACT_SHIFT = 6
#: Decays are 12-bit fractions of 4096.
DECAY_SHIFT = 12
DECAY_UNITY = 1 << DECAY_SHIFT
#: Largest ``du``/``dv`` (12-bit unsigned) and ``vth`` (17-bit unsigned) Lava's LIF accepts.
MAX_DECAY = DECAY_UNITY - 1
MAX_VTH = (1 << 17) - 1
#: ``bias_mant`` is a signed 13-bit integer.
MAX_BIAS_MANT = (1 << 12) - 1
#: Signed weight mantissa bits (Loihi 2 synapses: 8-bit weights with a per-process exponent).
WEIGHT_BITS = 8
MANT_MIN, MANT_MAX = -(1 << (WEIGHT_BITS - 1)), (1 << (WEIGHT_BITS - 1)) - 1
_HALF = 1 << (STATE_BITS - 1)


def _decay(x: np.ndarray, factor: int) -> np.ndarray:
    """``sgn(x) (|x| factor >> 12)``: Lava's decay, truncated toward zero."""
    p = x.astype(np.int64) * int(factor)
    return np.sign(p) * (np.abs(p) >> DECAY_SHIFT)


def wrap24(x: np.ndarray) -> np.ndarray:
    """Lava's 24-bit wrap-around of the current ``u`` (see the module docstring)."""
    w = np.where(x > _HALF, x - 2 * _HALF, x)
    return np.where(w <= -_HALF, x + 2 * _HALF, w)


def loihi_lif_step_fixed(u: np.ndarray, v: np.ndarray, a_in: np.ndarray, du: int, dv: int,
                         vth: int, bias: np.ndarray | int = 0):
    """One step of Loihi 2's fixed-point LIF (module docstring), elementwise on int64 arrays.

    Args:
        u, v: current and voltage after the previous step (int64, any shape; 0 at the start).
        a_in: the summed synaptic input of this step (integers, same shape).
        du, dv: 12-bit decays in ``[0, 4095]``; vth: threshold in ``[0, 2^17 - 1]``;
        bias: the effective bias ``bias_mant << bias_exp`` in voltage units (added every step).
    Returns:
        ``(u, v, s)``: new current, new voltage (0 where it spiked), spikes (bool).
    """
    a_in = np.asarray(a_in, dtype=np.int64)
    u = wrap24(_decay(u, DECAY_UNITY - (int(du) + 1)) + (a_in << ACT_SHIFT))
    v = _decay(v, DECAY_UNITY - int(dv)) + u + np.asarray(bias, dtype=np.int64)
    v = np.clip(v, -_HALF + 1, _HALF - 1)
    s = v > (int(vth) << ACT_SHIFT)
    return u, np.where(s, 0, v), s


def round_current(x: np.ndarray) -> np.ndarray:
    """A host current in ``a_in`` units as the integer the host sends: ``floor(x + 1/2)`` (round
    half up, so that adding an integer synaptic input before rounding changes nothing)."""
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5).astype(np.int64)


def split_weights(w: np.ndarray) -> tuple[np.ndarray, int] | None:
    """Integer weights ``w`` (in ``a_in`` units) as ``(mantissa, exponent)``, ``w = m 2^e``, with
    ``m`` in ``[-128, 127]`` and the least ``e >= 0``; None where no exponent makes every weight
    exact (not integers, or a spread wider than 8 bits)."""
    w = np.asarray(w, dtype=np.float64)
    if not np.all(np.isfinite(w)) or np.any(w != np.rint(w)):
        return None
    wi = w.astype(np.int64)
    for e in range(0, 40):
        if np.all(wi % (1 << e) == 0):
            m = wi >> e
            if m.size == 0 or (m.min() >= MANT_MIN and m.max() <= MANT_MAX):
                return m, e
        else:
            return None
    return None  # pragma: no cover - weights beyond 2^47


def lava_weights(mantissa: np.ndarray, exponent: int) -> tuple[np.ndarray, int]:
    """Weights and ``weight_exp`` for a lava-nc 0.10 fixed-point ``Dense``/``Sparse`` that
    computes ``sum(m s) 2^e`` exactly.

    Lava's ``clip_weights``/``truncate_weights`` (8 bits) treat a matrix by its sign mode: a
    mixed-sign one is clipped to ``[-256, 255]`` and loses its lowest bit, so its mantissa goes in
    doubled (even, in ``[-256, 254]``) with ``weight_exp = e - 1`` (the accumulated sum is even,
    and the right shift by one for ``e = 0`` is exact); a single-sign one is clipped to
    ``[0, 255]`` (or its negation) and kept whole, so ``m`` goes in as it is with ``e``."""
    m = np.asarray(mantissa, dtype=np.int64)
    if m.size and m.min() < 0 < m.max():
        return m * 2, int(exponent) - 1
    return m, int(exponent)
