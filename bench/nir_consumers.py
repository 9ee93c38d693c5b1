"""Which NIR consumers reproduce snnc's spikes, feature by feature.

For each feature a tiny network (Input -> Linear or Conv2d -> LIF -> ... -> LIF -> Output) is
exported with :func:`snnc.backends.nir.to_nir` (dt = 1e-4), written and read back with nir 1.0.8,
loaded by every consumer that is installed, stepped T = 6 times (batch of one, float32) and
compared with ``snnc.ir.run``. Prints one JSON object per (feature, consumer) line and a table::

    .venv/bin/python bench/nir_consumers.py [--json]

Verdicts: ``equal`` (all output spikes equal), ``different (k of n)``, or ``refused: <error>``.
A consumer that is not installed is reported as ``not installed``.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import warnings

import numpy as np

from snnc.backends.nir import to_nir
from snnc.ir import Graph, run, verify

T = 6


def _net(feature: str) -> Graph:
    """Conv2d -> LIF -> [pool | scale] -> Flatten -> Linear -> LIF, or a Linear chain with a
    delay / IF / recurrent synapse; LIF beta 0.5, alpha 0.5 (r = 1) unless the feature says."""
    rng = np.random.default_rng(0)
    g = Graph({"T": T, "classes": 4, "name": feature})
    lif = {"beta": 0.5, "alpha": 0.5, "v_th": 0.3}
    if feature in ("IF", "delay", "cycle (Delay node)", "cycle (implicit)"):
        g.add_node("in", "Input", {"shape": (6,)})
        g.add_node("fc1", "Linear", {"in_features": 6, "out_features": 4},
                   {"weight": rng.normal(0, 1.5, (4, 6)), "bias": np.zeros(4)})
        first = {"beta": 1.0, "alpha": 1.0, "v_th": 0.3} if feature == "IF" else lif
        g.add_node("lif1", "LIF", first)
        g.add_node("fc2", "Linear", {"in_features": 4, "out_features": 4},
                   {"weight": rng.normal(0, 1.5, (4, 4)), "bias": np.zeros(4)})
        g.add_edge("in", "fc1")
        g.add_edge("fc1", "lif1")
        g.add_edge("lif1", "fc2", delay=2 if feature == "delay" else 0)
        if feature.startswith("cycle"):
            g.add_node("rec", "Linear", {"in_features": 4, "out_features": 4},
                       {"weight": rng.normal(0, 1.0, (4, 4)), "bias": np.zeros(4)})
            g.add_edge("lif1", "rec")
            g.add_edge("rec", "lif1", delay=1, kind="backward")
        last = "fc2"
    else:
        g.add_node("in", "Input", {"shape": (1, 4, 4)})
        g.add_node("conv", "Conv2d", {"in_channels": 1, "out_channels": 2, "kernel": 3,
                                      "padding": 1, "bias": True},
                   {"weight": rng.normal(0, 1.5, (2, 1, 3, 3)), "bias": np.zeros(2)})
        first = dict(lif, **({"alpha": 1.0} if feature == "LIF alpha=1" else {}),
                     **({"v_reset": -0.2} if feature == "v_reset != 0" else {}))
        g.add_node("lif1", "LIF", first)
        g.add_edge("in", "conv")
        g.add_edge("conv", "lif1")
        prev = "lif1"
        if feature == "AvgPool2d":
            g.add_node("pool", "AvgPool2d", {"kernel": 2})
            g.add_edge(prev, "pool")
            prev = "pool"
        if feature == "Scale":
            g.add_node("scale", "Scale", {"scale": 2.0})
            g.add_edge(prev, "scale")
            prev = "scale"
        g.add_node("flat", "Flatten")
        g.add_edge(prev, "flat")
        n = 8 if feature == "AvgPool2d" else 32
        g.add_node("fc", "Linear", {"in_features": n, "out_features": 4},
                   {"weight": rng.normal(0, 1.0, (4, n)), "bias": np.zeros(4)})
        g.add_edge("flat", "fc")
        last = "fc"
    g.add_node("lif2", "LIF", lif)
    g.add_node("out", "Output")
    g.add_edge(last, "lif2")
    g.add_edge("lif2", "out")
    return verify(g)


FEATURES = ("LIF r=1 + Conv2d/Flatten/Affine", "LIF alpha=1", "v_reset != 0", "IF", "AvgPool2d",
            "Scale", "delay", "cycle (Delay node)", "cycle (implicit)")


def _consumers():
    """name -> (version, loader(nir_graph) -> torch module), for those installed."""
    out = {}
    with contextlib.suppress(ImportError):
        import snntorch
        from snntorch.import_nir import import_from_nir
        out["snntorch"] = (snntorch.__version__, import_from_nir)
    with contextlib.suppress(ImportError):
        import norse
        import norse.torch
        out["norse"] = (norse.__version__ if hasattr(norse, "__version__") else "?",
                        lambda ng: norse.torch.from_nir(ng, dt=float(ng.metadata["dt"])))
    with contextlib.suppress(ImportError):
        from spikingjelly.activation_based import nir_exchange
        from importlib.metadata import version
        out["spikingjelly"] = (version("spikingjelly"), lambda ng: nir_exchange.import_from_nir(
            ng, dt=float(ng.metadata["dt"])))
    with contextlib.suppress(ImportError):
        import rockpool
        from rockpool.nn.modules import from_nir
        out["rockpool"] = (rockpool.__version__, from_nir)
    return out


def _step(module, xs):
    import torch

    state, outs = None, []
    with torch.no_grad():
        for xt in xs:
            res = module(torch.as_tensor(xt)) if state is None else module(torch.as_tensor(xt), state)
            out, state = res if isinstance(res, tuple) else (res, None)
            outs.append(out.numpy())
    return np.stack(outs)


def main() -> None:
    import nir

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="JSON lines only")
    args = ap.parse_args()
    logging.disable(logging.CRITICAL)
    warnings.filterwarnings("ignore")
    consumers = _consumers()
    rows = []
    for feature in FEATURES:
        g = _net(feature)
        ng = to_nir(g, implicit_cycle_delay=feature == "cycle (implicit)")
        buf = io.BytesIO()
        nir.write(buf, ng)
        shape = tuple(g.input_node.shape)
        x = np.random.default_rng(1).uniform(0, 1, (1,) + shape)
        ref = run(g, x).output
        xs = np.broadcast_to(x, (T,) + x.shape).astype(np.float32)
        for name in ("snntorch", "norse", "spikingjelly", "rockpool"):
            if name not in consumers:
                rows.append({"feature": feature, "consumer": name, "verdict": "not installed"})
                continue
            ver, load = consumers[name]
            buf.seek(0)
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    out = _step(load(nir.read(buf)), xs).reshape(ref.shape)
                bad = int((out != ref).sum())
                verdict = "equal" if not bad else f"different ({bad} of {ref.size})"
            except Exception as exc:  # a consumer's own refusal, whatever its type
                verdict = f"refused: {type(exc).__name__}: {str(exc).splitlines()[0][:90]}"
            rows.append({"feature": feature, "consumer": f"{name} {ver}", "verdict": verdict,
                         "reference_spikes": int(ref.sum())})
    for r in rows:
        print(json.dumps(r))
    if not args.json:
        print()
        for r in rows:
            print(f"{r['feature']:32s} {r['consumer']:20s} {r['verdict']}")


if __name__ == "__main__":
    main()
