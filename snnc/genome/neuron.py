"""Neuron specs -> the canonical spiking neuron of docs/ARCHITECTURE.md::

    H[t] = v_rest + beta * (V[t-1] - v_rest) + alpha * X[t]
    S[t] = H[t] > v_th
    V[t] = v_reset where S[t] else H[t]   (hard)   |   H[t] - v_th * S[t]   (soft)

The AST keeps the user's parameterisation (``lif tau=3``); this is the one place that turns it into
``beta`` and ``alpha``.
"""
from __future__ import annotations

from typing import Any

from ..errors import GenomeSyntaxError
from .ast import Spec

#: Keys of every canonical neuron dict, in order (models add theirs after these).
CANONICAL_KEYS = ("model", "beta", "alpha", "v_th", "v_reset", "v_rest", "reset", "detach_reset")


def canonical_neuron(spec: Spec) -> dict[str, Any]:
    """The canonical parameters of a neuron spec as a dict with :data:`CANONICAL_KEYS`.

    - ``lif tau=τ`` (SpikingJelly; STTS, SNASNet): ``beta = 1 - 1/τ``, ``alpha = 1/τ`` when
      ``decay_input`` (the default) else 1. ``lif tau=3 decay_input=false`` -> beta 2/3, alpha 1.
    - ``lif leak=λ`` (``v = λ v + I``; BCNAS-SNN, SpikeDHS eq. 3): ``beta = λ``, ``alpha = 1``.
    - ``lif beta=β [alpha=α]``: as given, ``alpha`` 1 when omitted. A bare ``lif`` is ``lif tau=2``,
      i.e. beta = alpha = 0.5.
    - ``if``: ``beta = alpha = 1``, ``v_rest = 0``.
    - ``alif``: its leak as for ``lif``, plus ``rho`` and ``adapt`` (threshold ``v_th + adapt * a``,
      ``a = rho * a + S``; SpikeDHS eq. 5-8).
    - ``plif``: as ``lif tau``; beta is the initial value of a trainable leak.
    - ``relu``: ``{"model": "relu"}`` with every other key ``None`` (no membrane).

    Example: ``canonical_neuron(parse(...).neuron)`` for ``neuron lif tau=2`` is
    ``{"model": "lif", "beta": 0.5, "alpha": 0.5, "v_th": 1.0, "v_reset": 0.0, "v_rest": 0.0,
    "reset": "hard", "detach_reset": False}``.

    Raises:
        GenomeSyntaxError: a model the schema does not know (only possible for hand-built specs).
    """
    p = spec.as_dict()
    out: dict[str, Any] = dict.fromkeys(CANONICAL_KEYS)
    out["model"] = spec.kind
    if spec.kind == "relu":
        return out
    if spec.kind == "if":
        beta, alpha = 1.0, 1.0
    elif spec.kind in ("lif", "alif", "plif"):
        if "tau" in p:
            tau = float(p["tau"])
            beta, alpha = 1.0 - 1.0 / tau, (1.0 / tau if p.get("decay_input", True) else 1.0)
        elif "leak" in p:
            beta, alpha = float(p["leak"]), 1.0
        else:
            beta, alpha = float(p["beta"]), float(p.get("alpha", 1.0))
    else:
        loc = spec.loc
        raise GenomeSyntaxError(f"unknown neuron model {spec.kind!r}", loc.line if loc else 0,
                                loc.column if loc else 0)
    out.update(beta=beta, alpha=alpha, v_th=float(p.get("v_th", 1.0)),
               v_reset=float(p.get("v_reset", 0.0)), v_rest=float(p.get("v_rest", 0.0)),
               reset=p.get("reset", "hard"), detach_reset=bool(p.get("detach_reset", False)))
    if spec.kind == "alif":
        out.update(rho=float(p["rho"]), adapt=float(p["adapt"]))
    return out
