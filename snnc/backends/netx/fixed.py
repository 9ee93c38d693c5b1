"""netx blocks in Loihi 2's integer formats, and a numpy model of how Lava runs them (bit-exact).

**Neuron.** netx's neurons are CUBA (``lava.lib.dl.netx.hdf5.Network.get_neuron_params``): Lava's
fixed-point ``LIF``/``LIFReset`` with ``du = iDecay - 1``, ``dv = vDecay``, ``vth = vThMant``,
``bias_mant = bias``, ``bias_exp = 6``. Per step (``lava/proc/lif/models.py``,
``AbstractPyLifModelFixed``; ``>>`` truncates the magnitude, 24-bit states)::

    u = sgn(u (4096 - du - 1)) (|u (4096 - du - 1)| >> 12) + (a_in << 6)   (wraps at 2^23)
    v = sgn(v (4096 - dv)) (|v (4096 - dv)| >> 12) + u + (bias << 6)        (clipped to +-(2^23-1))
    s = v > (vth << 6);   v[s] = 0

The canonical LIF (``H = v_rest + beta (V - v_rest) + alpha X``, ``S = H > v_th``, hard reset to
``v_reset``) maps onto it with ``iDecay = 4096`` (``u = a_in << 6``: the current forgets its past,
the IR neuron has no synaptic current), ``vDecay = round(4096 (1 - beta))`` and a per-layer
**scale** ``s`` (integer units per unit of membrane potential): with ``V' = V - v_reset`` the
membrane is ``v = 64 s V'``, so

    weight = round(alpha s q w),   bias = round(alpha s b),   vThMant = round(s (v_th - v_reset))

where ``q`` is the value of one input unit (1 for spikes; ``1 / input_scale`` for the first
block's graded input, ``x_int = round(x input_scale)``). This needs ``v_rest == v_reset`` (netx
neurons start and reset at 0) and a hard reset; ``beta`` must lie in ``[1/4096, 1]`` (12-bit
``vDecay <= 4095``). The choice of ``s`` (:func:`choose_scale`): the largest power of two (or,
for the first block, ``input_scale`` times a power of two) under which every weight, bias and
threshold above is an integer, if one fits Loihi 2's ranges (then the mapping is **exact**: the
integer model equals the reference interpreter wherever the decay's truncation drops no bit, e.g.
``beta = 1/2`` for up to 6 steps without a spike); otherwise the largest scale within the
ranges -- 8-bit signed weights (``|w| <= 127``),
13-bit signed bias mantissas (``|bias| <= 4095``), 17-bit unsigned thresholds (``vThMant <=
131071``) and a worst-case input ``|a_in| < 2^17`` (so ``a_in << 6`` never wraps the 24-bit
current), lowered to the nearest scale that keeps the threshold an integer (one threshold shifts
every neuron of the block alike; weight roundings scatter) -- and the weights and biases are
rounded; :class:`FixedLayer.errors` reports by how much.
``exact=True`` refuses instead of rounding.

**Synapses.** netx's ``dense`` blocks hand their integer weights to ``optimize_weight_bits``
(mantissa and ``weight_exp`` chosen so that Lava's ``Dense`` computes ``sum w s`` exactly for
``|w| <= 254``); its ``conv`` blocks pass them to Lava's ``Conv``, whose fixed-point model uses
them as they are (and clamps sums to 24 bits). So ``a_in = sum w x`` exactly, in integers.

**Readout.** The ops after the last neuron (the classifier) become a dense block of neurons with
``vDecay = 0`` (no leak) and ``vThMant = 131071``: ``v`` after step ``t`` is ``64 s sum_{t'<=t}
y[t']`` of the IR's outputs ``y`` (up to rounding), so the class is its argmax at the last step
(the IR's mean over time). It fires only if ``v`` reaches the 24-bit clip.

**Timing.** Each netx block is one synaptic hop: on Lava, block ``k`` (1-based) computes the
IR's step ``t`` at Lava step ``t + k + 1`` (the input source sends frame ``t`` at step ``t + 1``);
:func:`run_fixed` computes in IR time, which is what those Lava steps hold.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ...errors import NetxError
from ...ir.interpret import conv2d
from ...ir.loihi import (ACT_SHIFT, DECAY_UNITY, MANT_MAX, MAX_BIAS_MANT, MAX_VTH, STATE_BITS,
                         loihi_lif_step_fixed)
from .chain import Chain, Layer

# Loihi 2's formats, as ir.loihi (the one place for them) states them
STATE_SHIFT = ACT_SHIFT     # a_in, bias and vth are shifted left by 6 bits (MSB alignment)
STATE_MAX = 1 << (STATE_BITS - 1)  # u and v are 24-bit signed
WEIGHT_MAX = MANT_MAX       # 8-bit signed weight mantissa
BIAS_MAX = MAX_BIAS_MANT    # 13-bit signed bias mantissa
VTH_MAX = MAX_VTH           # 17-bit unsigned threshold mantissa
A_IN_MAX = (1 << (STATE_BITS - 1 - ACT_SHIFT)) - 1  # a_in << 6 stays inside the 24-bit current
MAX_DELAY = 62              # netx's DelayDense max_delay
READOUT_VTH = VTH_MAX


@dataclass(frozen=True)
class FixedLayer:
    """One netx block in integers (module docstring).

    ``weight`` int64 (conv ``[O, I/groups, k, k]`` cross-correlation, dense ``[out, in]``),
    ``bias`` int64 or None, ``i_decay`` (4096), ``v_decay`` (0..4095), ``vth`` (``vThMant``),
    ``scale`` (integer units of ``v / 64`` per unit of membrane potential), ``input_quantum``
    (value of one unit of this block's input), ``exact`` (no parameter was rounded), ``errors``
    (largest rounding error of each parameter, in its integer units, and the relative error of
    the leak)."""

    layer: Layer
    weight: np.ndarray
    bias: np.ndarray | None
    i_decay: int
    v_decay: int
    vth: int
    scale: float
    input_quantum: float
    exact: bool
    errors: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.layer.synapse.kind

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def shape(self) -> tuple[int, ...]:
        return self.layer.synapse.out_shape


def _neuron_params(layer: Layer) -> tuple[float, float, float]:
    """``(beta, alpha, v_th - v_reset)`` of a LIF block, or NetxError naming the neuron."""
    node = layer.neuron
    if node.op != "LIF":
        raise NetxError(f"neuron {node.name!r} ({node.op}): netx blocks use CUBA (LIF) neurons",
                        node=node.name, op=node.op, rule="netx neuron")
    a = node.attrs
    where = f"neuron {node.name!r}"
    if a["reset"] != "hard":
        raise NetxError(f"{where}: reset={a['reset']!r}; netx's CUBA neuron sets v to 0 on a spike "
                        f"(only reset='hard' maps)", node=node.name, op=node.op, rule="netx neuron")
    if a["v_rest"] != a["v_reset"]:
        raise NetxError(f"{where}: v_rest={a['v_rest']} differs from v_reset={a['v_reset']}; netx "
                        f"neurons start and reset at the same potential (0)", node=node.name,
                        op=node.op, rule="netx neuron")
    beta, alpha, vth = float(a["beta"]), float(a["alpha"]), float(a["v_th"] - a["v_reset"])
    if beta < 1.0 / DECAY_UNITY:
        raise NetxError(f"{where}: beta={beta} is below 1/4096; Loihi's 12-bit vDecay keeps at "
                        f"least 1/4096 of v per step", node=node.name, op=node.op,
                        rule="netx neuron")
    if vth < 0:
        raise NetxError(f"{where}: v_th - v_reset = {vth} < 0; netx's vThMant is unsigned",
                        node=node.name, op=node.op, rule="netx neuron")
    return beta, alpha, vth


def _integral(values: np.ndarray, tol: float = 1e-9) -> bool:
    return bool(np.all(np.abs(values - np.round(values)) <= tol * np.maximum(1.0, np.abs(values))))


def choose_scale(w: np.ndarray, b: np.ndarray | None, vth: float | None, in_max: float, *,
                 name: str, exact: bool = False, multiplier: float = 1.0) -> tuple[float, bool]:
    """``(scale, exact)`` for a block with effective weights ``w`` (``alpha q w``), bias ``b``
    (``alpha b``), threshold ``vth`` (None for the readout) and largest input magnitude
    ``in_max`` (module docstring). Exact scales tried: ``2^e`` and ``multiplier 2^e`` (the first
    block's ``input_scale``, which makes ``w / input_scale`` integral again).

    Raises:
        NetxError: no scale fits the ranges (e.g. a threshold of 0 with non-zero weights is
            fine, all-zero weights are not), or ``exact`` and no power of two makes every
            parameter an integer.
    """
    wf = np.abs(w).reshape(w.shape[0], -1)
    bounds = []
    if wf.max() > 0:
        bounds += [WEIGHT_MAX / wf.max(), A_IN_MAX / (wf.sum(axis=1).max() * max(in_max, 1e-300))]
    if b is not None and np.abs(b).max() > 0:
        bounds.append(BIAS_MAX / np.abs(b).max())
    if vth is not None and vth > 0:
        bounds.append(VTH_MAX / vth)
    if not bounds:
        raise NetxError(f"block {name!r}: all weights, biases and the threshold are zero; there is "
                        f"nothing to scale", node=name, rule="netx scale")
    top = min(bounds)
    vals = [w.ravel()] + ([b.ravel()] if b is not None else []) + \
        ([np.array([vth])] if vth is not None else [])
    allv = np.concatenate(vals)
    # x 2^e integral implies x 2^(e+1) integral: if the largest scale m 2^e within the ranges
    # does not make every value an integer, no smaller one of that form does
    for m in sorted({1.0, float(multiplier)}, reverse=True):
        e = math.floor(math.log2(top / m))
        if _integral(allv * (m * 2.0 ** e)):
            return m * 2.0 ** e, True
    if exact:
        raise NetxError(f"block {name!r}: no power-of-two scale up to {top:g} makes every "
                        f"weight, bias and threshold an integer within Loihi 2's ranges (8-bit "
                        f"weights, 13-bit bias, 17-bit threshold); export without exact to round "
                        f"them", node=name, rule="netx scale")
    if vth is not None and vth * top >= 1:
        # the threshold is one number for the whole block: a rounding of it shifts every
        # neuron's firing the same way, while weight roundings scatter; keep it exact
        return math.floor(vth * top) / vth, False
    return top, False


def quantize(chain: Chain, *, input_scale: float = 255.0, input_max: float = 1.0,
             exact: bool = False) -> list[FixedLayer]:
    """Integer parameters of every block of ``chain`` (module docstring).

    Args:
        input_scale: integer units per unit of the network input (``x_int = round(x
            input_scale)``); 1 for spike inputs.
        input_max: largest ``|x|`` of the network input (1 for spikes and intensities in [0, 1]).
        exact: refuse (NetxError) instead of rounding any parameter.
    Raises:
        NetxError: a neuron netx cannot express, a block whose parameters do not fit, a delay
            over 62 steps, or (``exact``) a parameter that would be rounded; each names the
            block.
    """
    if not input_scale > 0:
        raise NetxError(f"input_scale must be > 0, got {input_scale}", rule="netx input")
    out = []
    q, in_max = 1.0 / input_scale, input_max * input_scale
    for layer in chain.layers:
        syn = layer.synapse
        if layer.readout:
            beta, alpha, vth = 1.0, 1.0, None
        else:
            beta, alpha, vth = _neuron_params(layer)
        w = alpha * q * syn.weight
        b = None if syn.bias is None else alpha * syn.bias
        s, is_exact = choose_scale(w, b, vth, in_max, name=layer.name, exact=exact,
                                   multiplier=1.0 / q)
        wi = np.round(w * s).astype(np.int64)
        if syn.kind == "dense" and not wi.any():
            raise NetxError(f"block {layer.name!r}: every weight is 0 in 8 bits (scale {s:g}); "
                            f"netx's optimize_weight_bits cannot take an all-zero dense matrix",
                            node=layer.name, rule="netx scale")
        bi = None if b is None else np.round(b * s).astype(np.int64)
        dv_f = DECAY_UNITY * (1.0 - beta)
        dv = int(round(dv_f))
        if exact and abs(dv - dv_f) > 1e-9:
            raise NetxError(f"neuron {layer.name!r}: beta={beta} is not a multiple of 1/4096 (vDecay "
                            f"{dv_f:.4f}); export without exact to round it", node=layer.name,
                            rule="netx scale")
        if syn.delay > MAX_DELAY:  # pragma: no cover - chain.extract_chain refuses first
            raise NetxError(f"block {layer.name!r}: delay {syn.delay} > {MAX_DELAY}", node=layer.name)
        vth_i = READOUT_VTH if vth is None else int(round(vth * s))
        errors = {"weight": float(np.abs(w * s - wi).max()) if wi.size else 0.0,
                  "bias": 0.0 if bi is None else float(np.abs(b * s - bi).max()),
                  "threshold": 0.0 if vth is None else abs(vth * s - vth_i),
                  "leak": abs(dv - dv_f) / DECAY_UNITY}
        rounded = is_exact and errors["leak"] == 0
        out.append(FixedLayer(layer, wi, bi, DECAY_UNITY, 0 if layer.readout else dv, vth_i, s,
                              q, rounded, errors))
        q, in_max = 1.0, 1.0  # later blocks read binary spikes
    return out


def quantize_input(x: np.ndarray, input_scale: float) -> np.ndarray:
    """``round(x * input_scale)`` as int64: the graded values the first block reads."""
    return np.round(np.asarray(x, np.float64) * input_scale).astype(np.int64)


def _synapse(layer: FixedLayer, x: np.ndarray) -> np.ndarray:
    """``a_in`` of ``layer`` for input ``x [B, *in]`` (integers, exact)."""
    syn = layer.layer.synapse
    if syn.kind == "conv":
        # float64 holds every integer sum exactly here (|sum| < 2^53)
        a = conv2d(x.astype(np.float64), layer.weight.astype(np.float64), None, syn.stride,
                   syn.padding, syn.groups)
        a = np.round(a).astype(np.int64)
        return np.clip(a, -STATE_MAX, STATE_MAX - 1)  # Lava's Conv clamps to 24 bits
    return x.reshape(x.shape[0], -1).astype(np.int64) @ layer.weight.T


@dataclass
class FixedTrace:
    """What :func:`run_fixed` computed, in IR time: ``spikes[name]`` ``[T, B, *shape]`` (0/1) of
    every neuron block, ``v[name]`` ``[T, B, *shape]`` (int64, after reset) of every block,
    the readout's included."""

    spikes: dict[str, np.ndarray]
    v: dict[str, np.ndarray]


def run_fixed(layers: list[FixedLayer], x_int: np.ndarray, T: int) -> FixedTrace:
    """The integer model of the netx network on Lava's fixed-point models (module docstring).

    Args:
        layers: from :func:`quantize`.
        x_int: ``[B, *input_shape]`` (the same frame at every step) or ``[T, B, *input_shape]``,
            integers (:func:`quantize_input`).
    """
    x_int = np.asarray(x_int, np.int64)
    in_shape = layers[0].layer.synapse.in_shape
    if x_int.shape[1:] == tuple(in_shape):
        x_int = np.broadcast_to(x_int, (T,) + x_int.shape)
    B = x_int.shape[1]
    state = {}
    for layer in layers:
        shape = (B,) + tuple(layer.shape)
        state[layer.name] = (np.zeros(shape, np.int64), np.zeros(shape, np.int64))
    delays = {layer.name: layer.layer.synapse.delay for layer in layers}
    spikes = {la.name: np.zeros((T, B) + tuple(la.shape)) for la in layers if not la.layer.readout}
    vs = {la.name: np.zeros((T, B) + tuple(la.shape), np.int64) for la in layers}
    for t in range(T):
        for i, layer in enumerate(layers):
            d = delays[layer.name]
            if i == 0:
                src = x_int[t - d] if t - d >= 0 else np.zeros_like(x_int[0])
            else:
                p = layers[i - 1]
                src = spikes[p.name][t - d].astype(np.int64) if t - d >= 0 else \
                    np.zeros((B,) + tuple(p.shape), np.int64)
            a = _synapse(layer, src).reshape((B,) + tuple(layer.shape))
            u, v = state[layer.name]
            bias = 0 if layer.bias is None else _bias(layer, B)
            # netx's iDecay is Lava's du + 1 (a current decay factor of 4096 - iDecay)
            u, v, s = loihi_lif_step_fixed(u, v, a, du=layer.i_decay - 1, dv=layer.v_decay,
                                           vth=layer.vth, bias=bias)
            state[layer.name] = (u, v)
            vs[layer.name][t] = v
            if not layer.layer.readout:
                spikes[layer.name][t] = s
    return FixedTrace(spikes, vs)


def _bias(layer: FixedLayer, B: int) -> np.ndarray:
    b = layer.bias << STATE_SHIFT
    if len(layer.shape) == 3:
        b = b.reshape(-1, 1, 1)
    return np.broadcast_to(b, (B,) + tuple(layer.shape))


def readout_values(layer: FixedLayer, v: np.ndarray) -> np.ndarray:
    """The readout's potential ``v`` (``[T, B, F]``) in the IR's units: ``v / (64 scale)``, the
    running sum of the IR's outputs."""
    return np.asarray(v, np.float64) / (2 ** STATE_SHIFT * layer.scale)
