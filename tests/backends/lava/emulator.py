"""A numpy model of the Lava network a :class:`~snnc.backends.lava.planning.LavaPlan` describes.

It follows Lava's semantics step by step, garbage included (lava-nc 0.10.0, measured): the
whole batch runs as one long Lava run of ``steps`` steps per sample; a synapse process delivers
``op(s_u[k - 1 - extra])`` at step k, a port connection ``s_u[k]``; ``LIFReset`` zeroes ``v``
at its period step (after receiving, before integrating); injectors feed the host current only
inside the neuron's IR window; ``bias_mant`` is always on; for cyclic plans every in-flight
value from the previous sample is dropped (the backend zeroes the synapse buffers); ALIF layers
step with :func:`snnc.backends.lava.alif.alif_step` (their ``a`` zeroed with ``v``). So tests can
check the latency/reset scheme on many random graphs without starting Lava.
"""
from __future__ import annotations

import numpy as np

from snnc.backends.lava.alif import alif_step
from snnc.backends.lava.mapping import LavaALIF
from snnc.backends.lava.simulate import as_sequence


def emulate(plan, x, full: bool = False) -> dict[str, np.ndarray]:
    """Spikes ``[T, B, *shape]`` per neuron, read from each neuron's IR window; ``full``: every
    Lava step of the run instead, garbage steps included, ``[B * steps, *shape]``."""
    x = as_sequence(plan.graph, x, plan.T)
    T, B, N = plan.T, x.shape[1], plan.steps
    cur = plan.host_currents(x)
    names = list(plan.neurons)
    K = B * N
    hist = {n: np.zeros((K,) + plan.neurons[n].shape) for n in names}
    v = {n: np.zeros(plan.neurons[n].shape) for n in names}
    adapt = {n: np.zeros(plan.neurons[n].shape) for n in names}  # ALIF's threshold increment
    direct = [s for s in plan.synapses if s.direct]
    hops = [s for s in plan.synapses if not s.direct]
    # neurons in an order where port connections (same step) go forward
    order, placed = [], set()
    while len(order) < len(names):
        for n in names:
            if n not in placed and all(s.src in placed or s.src == n
                                       for s in direct if s.dst == n):
                order.append(n)
                placed.add(n)
    for k in range(K):
        b, local = divmod(k, N)
        for j in order:
            n = plan.neurons[j]
            a = np.zeros(n.shape)
            for s in hops:
                if s.dst != j:
                    continue
                ks = k - 1 - s.extra
                if ks < 0 or (plan.cyclic and ks < b * N):
                    continue
                a += s.op.apply(hist[s.src][ks][None])[0]
            for s in direct:
                if s.dst == j:
                    a += hist[s.src][k]
            L = plan.latency[j]
            if j in cur and L <= local < L + T:
                a += cur[j][local - L, b]
            if isinstance(n, LavaALIF):
                _, v[j], adapt[j], s_ = alif_step(
                    np.zeros(n.shape), v[j], adapt[j], a, du=n.du, dv=n.dv,
                    bias=plan.bias_mant.get(j, 0.0), vth=n.vth, rho=n.rho, adapt=n.adapt,
                    reset=local == plan.reset_step[j])
                hist[j][k] = s_
                continue
            if local == plan.reset_step[j]:
                v[j] = np.zeros(n.shape)
            v[j] = (1.0 - n.dv) * v[j] + a + plan.bias_mant.get(j, 0.0)
            s_ = v[j] > n.vth
            v[j] = np.where(s_, 0.0, v[j])
            hist[j][k] = s_
    if full:
        return {j: h.astype(np.float64) for j, h in hist.items()}
    out = {}
    for j in names:
        L = plan.latency[j]
        h = hist[j].reshape((B, N) + plan.neurons[j].shape)
        out[j] = np.moveaxis(h[:, L:L + T], 1, 0).astype(np.float64)
    return out
