"""Neuron specs -> the canonical spiking neuron of DESIGN.md.

``H = v_rest + beta (V - v_rest) + alpha X``;  ``S = H > v_th``;  hard or soft reset.
"""
from __future__ import annotations

from .ast import Spec


def canonical_neuron(spec: Spec) -> dict:
    """The canonical parameters of ``spec`` as a dict: model, beta, alpha, v_th, v_reset, v_rest,
    reset, detach_reset (plus the model's extra parameters, e.g. ALIF's rho and beta_a).

    - ``lif tau=τ``: SpikingJelly, ``beta = 1 - 1/τ``; ``alpha = 1/τ`` if ``decay_input`` else 1
      (STTS, SNASNet);
    - ``lif leak=λ``: leak-factor form ``v = λ v + I`` (BCNAS-SNN, SpikeDHS eq. 3): beta = λ, alpha = 1;
    - ``lif beta=β alpha=α``: as given;
    - ``if``: beta = 1, alpha = 1;  ``alif``: beta = leak, alpha = 1 (SpikeDHS eq. 5-8);
    - ``plif``: as ``lif tau`` (the initial value of the trainable leak);  ``relu``: non-spiking.
    """
    p = spec.as_dict()
    out = {"model": spec.kind}
    if spec.kind in ("lif", "plif"):
        if "tau" in p:
            out["beta"] = 1.0 - 1.0 / p["tau"]
            out["alpha"] = 1.0 / p["tau"] if p["decay_input"] else 1.0
        elif "leak" in p:
            out["beta"], out["alpha"] = float(p["leak"]), 1.0
        else:
            out["beta"], out["alpha"] = float(p["beta"]), float(p["alpha"])
    elif spec.kind == "if":
        out["beta"], out["alpha"] = 1.0, 1.0
    elif spec.kind == "alif":
        out["beta"], out["alpha"] = float(p["leak"]), 1.0
        out["rho"], out["beta_a"] = float(p["rho"]), float(p["beta_a"])
    else:  # relu: no membrane
        return out
    for k in ("v_th", "v_reset", "v_rest", "reset", "detach_reset"):
        out[k] = p[k]
    return out
