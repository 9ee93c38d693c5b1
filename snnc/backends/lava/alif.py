"""The adaptive-threshold LIF (ALIF, SpikeDHS eq. 5-8) in Lava's float neuron arithmetic.

Lava (lava-nc 0.10.0) has no adaptive-threshold neuron, so snnc brings its own process
(:mod:`.alif_process`: ``ALIFReset`` and its floating-point ``PyLoihiProcessModel``). Its step is
:func:`alif_step`, one numpy function that the process model calls and that any other model
simulating ALIF neurons (a whole-network process model, the tests' emulator) calls too, so every
simulation of an ALIF layer runs the same arithmetic. Importing this module does not import lava.

Per step, in the order of Lava's float LIF (``lava.proc.lif.models``) and with its shifted
potential ``v = V - v_reset`` (:mod:`.mapping`)::

    if reset:  u = v = a = 0                      (once per period, before integrating)
    u = u (1 - du) + a_in
    v = v (1 - dv) + u + bias
    s = v > vth + adapt a                         (SpikeDHS eq. 6-7: A[t] = v_th + adapt a[t])
    v = 0 where s                                 (hard reset)
    a = rho a + s                                 (eq. 8: a[t+1] = rho a[t] + S[t])

so ``a`` after step ``t`` is the increment of step ``t + 1``, as in the reference interpreter
(``a[0] = 0``, spikes before ``t`` count). Soft reset is refused by :func:`.mapping.map_alif`.
"""
from __future__ import annotations

import numpy as np


def alif_step(u, v, a, a_in, *, du, dv, bias, vth, rho, adapt, reset=False):
    """One float ALIF step (module docstring); returns new ``(u, v, a, s)``, ``s`` as 0/1 floats.

    Args:
        u, v, a: current, shifted membrane potential and threshold increment, any one shape
            (e.g. Lava's ``(W, H, C)``), float64.
        a_in: synaptic input of this step (same shape).
        du, dv: current and voltage decays in ``[0, 1]`` (``du = 1``, ``dv = 1 - beta`` here).
        bias: constant input (``bias_mant``), broadcastable.
        vth: base threshold in the shifted potential (``v_th - v_reset``).
        rho: decay per step of ``a`` (SpikeDHS's tau_a); adapt: threshold rise per unit of ``a``
            (SpikeDHS eq. 7's beta), membrane units.
        reset: zero ``u``, ``v`` and ``a`` before integrating (``ALIFReset``'s period reset).
    """
    if reset:
        u, v, a = np.zeros_like(u), np.zeros_like(v), np.zeros_like(a)
    u = u * (1 - du) + a_in
    v = v * (1 - dv) + u + bias
    s = v > vth + adapt * a
    v = np.where(s, 0.0, v)
    s = s.astype(np.float64)
    a = rho * a + s
    return u, v, a, s
