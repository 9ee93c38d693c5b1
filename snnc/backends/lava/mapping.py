"""The canonical LIF neuron (docs/ARCHITECTURE.md) as a Lava ``LIF`` process (lava-nc 0.10.0, floating point).

Lava's float LIF (``lava.proc.lif.models.PyLifModelFloat``), per step::

    u = u * (1 - du) + a_in
    v = v * (1 - dv) + u + bias_mant
    s = v > vth;  v[s] = 0

The canonical neuron::

    H[t] = v_rest + beta (V[t-1] - v_rest) + alpha X[t];   S = H > v_th
    V[t] = v_reset where S else H   (hard reset);   V[-1] = v_rest

Mapping (hard reset): ``du = 1`` (``u = a_in``, no current decay), ``dv = 1 - beta``, the input
gain ``alpha`` multiplies every incoming weight and host current, and the membrane is shifted by
``v_reset`` so that Lava's reset to 0 is the reset to ``v_reset``: with ``v = V - v_reset``::

    v[t] = beta v[t-1] + alpha X[t] + (1 - beta) (v_rest - v_reset)
    vth  = v_th - v_reset,   v[-1] = v_rest - v_reset

so ``v_rest`` and ``v_reset`` become a constant bias and an initial potential (both zero in the
usual case). Refused, by name: soft reset (Lava LIF only resets to a fixed potential), ``beta``
outside ``[0, 1]`` (Loihi's ``dv`` is a decay in ``[0, 1]``); and :mod:`.planning` refuses
``v_th < v_reset`` (``vth < 0``: the neuron fires at ``v = 0``) where a neuron must stay silent
before its input arrives. ``surrogate``,
``surrogate_arg`` and ``detach_reset`` are training-only and ignored.

IF (the genome's ``if``) is the LIF with ``beta = alpha = 1``: ``dv = 0``, no leak.

ALIF (SpikeDHS eq. 5-8) has no Lava process: it maps to :class:`LavaALIF`, run by snnc's own
``ALIFReset`` process (:mod:`.alif`): the same charge and shift as above, plus the threshold
increment ``a`` (``A[t] = v_th + adapt a[t]``, ``a[t] = rho a[t-1] + S[t-1]``), so in Lava's
shifted potential the threshold is ``vth + adapt a`` with ``vth = v_th - v_reset``.

The other neuron ops are refused by name (:data:`.optable.RULES`): ReLU (analog, not spiking)
and PLIF (the deploy pipeline's ``freeze-plif`` pass turns a trained PLIF into the LIF with its
learned leak first).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from ...errors import LavaMappingError


@dataclass(frozen=True)
class LavaLIF:
    """Parameters of one Lava ``LIF`` process for IR neuron ``name`` (see the module docstring).

    ``alpha`` scales every incoming weight and host current; ``bias`` is the constant part of
    ``bias_mant`` (from ``v_rest``/``v_reset``), on from the neuron's first step; ``v_init`` is
    the potential the neuron starts from (``V[-1] - v_reset``)."""

    name: str
    shape: tuple[int, ...]
    du: float
    dv: float
    vth: float
    alpha: float
    bias: float
    v_init: float
    v_reset: float  # add to Lava's v to get the IR membrane potential V
    #: Loihi's integer LIF (a LoihiLIF node): ``du``/``dv``/``vth`` are its 12/12/17-bit integers,
    #: weights and host currents are in ``a_in`` units (``alpha = 1``), run with ``fixed_pt``
    fixed: bool = False

    @property
    def lava_shape(self) -> tuple[int, ...]:
        """Lava's layout: ``(W, H, C)`` for a feature map ``(C, H, W)``, else unchanged."""
        return tuple(reversed(self.shape)) if len(self.shape) == 3 else tuple(self.shape)


def map_lif(node) -> LavaLIF:
    """Lava LIF parameters for a verified LIF ``node``, or the integer ones of a ``LoihiLIF``
    (``quantize-loihi``: weights already in ``a_in`` units, no bias, no initial potential).

    Raises:
        LavaMappingError: soft reset or ``beta`` outside ``[0, 1]``.
    """
    a = node.attrs
    if node.op == "LoihiLIF":
        return LavaLIF(name=node.name, shape=tuple(node.shape), du=a["du"], dv=a["dv"],
                       vth=a["vth"], alpha=1.0, bias=0.0, v_init=0.0, v_reset=0.0, fixed=True)
    where = f"neuron {node.name!r}"
    if a["reset"] != "hard":
        raise LavaMappingError(
            f"{where}: reset={a['reset']!r} cannot be expressed by Lava's LIF (nor snnc's ALIF "
            f"process), which sets v to 0 on a spike (only reset='hard' maps)", node=node.name,
            rule="lava LIF reset")
    beta = float(a["beta"])
    if not 0.0 <= beta <= 1.0:
        raise LavaMappingError(f"{where}: beta={beta} is outside [0, 1]; Lava's dv = 1 - beta is a "
                               f"decay in [0, 1]", node=node.name, rule="lava LIF decay")
    v_reset, v_rest, v_th = float(a["v_reset"]), float(a["v_rest"]), float(a["v_th"])
    return LavaLIF(name=node.name, shape=tuple(node.shape), du=1.0, dv=1.0 - beta,
                   vth=v_th - v_reset, alpha=float(a["alpha"]),
                   bias=(1.0 - beta) * (v_rest - v_reset), v_init=v_rest - v_reset,
                   v_reset=v_reset)


@dataclass(frozen=True)
class LavaALIF(LavaLIF):
    """Parameters of one ``ALIFReset`` process (:mod:`.alif`): those of :class:`LavaLIF` plus
    ``rho`` (decay per step of the threshold increment) and ``adapt`` (threshold rise per unit of
    increment, membrane units); SpikeDHS eq. 7-8."""

    rho: float = 0.2
    adapt: float = 1.8


def map_alif(node) -> LavaALIF:
    """``ALIFReset`` parameters for a verified ALIF ``node`` (module docstring).

    Raises:
        LavaMappingError: soft reset or ``beta`` outside ``[0, 1]`` (as :func:`map_lif`).
    """
    base = map_lif(node)
    return LavaALIF(**{f.name: getattr(base, f.name) for f in fields(LavaLIF)},
                    rho=float(node.attrs["rho"]), adapt=float(node.attrs["adapt"]))


#: Neuron op -> its mapping function (the neuron ops the Lava backend runs).
NEURON_MAPS = {"LIF": map_lif, "ALIF": map_alif, "LoihiLIF": map_lif}


def map_neuron(node) -> LavaLIF:
    """The Lava parameters of a LIF, ALIF or LoihiLIF ``node`` (:data:`NEURON_MAPS`).

    Raises:
        LavaMappingError: what :func:`map_lif` / :func:`map_alif` refuse.
    """
    return NEURON_MAPS[node.op](node)
