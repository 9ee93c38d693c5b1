"""Loihi 2 resource estimate (``snnc lava --resources``) of the zoo presets at reduced width and of
any given models: one JSON line per model and delay mode (neurons, synapses, synaptic memory,
cores, chips, whether it fits, seconds), then a Markdown table of them.

Reduced width is the zoo tests' reduction (``snnc.zoo.small.reduced``: channels 4, hidden 16,
digits' 1x8x8 input, T = 2), compiled with seed 0 (untrained weights: the counts depend on shapes
and on which weights are zero, not on their values). A preset the Lava backend refuses is listed
with the refusal; one refused for a recurrent loop shorter than its synaptic hops is estimated
again in hardware timing (the ``hop-timing`` pass, as ``snnc train --timing hardware`` trains it).

    .venv/bin/python bench/lava_resources.py [MODEL ...] [--delays relay synaptic] [--no-zoo]
"""
import argparse
import json
import time

from snnc import zoo  # noqa: E402
from snnc.backends.lava import plan  # noqa: E402
from snnc.backends.lava.resources import estimate  # noqa: E402
from snnc.errors import SnncError  # noqa: E402
from snnc.frontend import lower  # noqa: E402
from snnc.ir import verify  # noqa: E402
from snnc.passes.hop_timing import apply_timing  # noqa: E402
from snnc.passes.targets import prepare  # noqa: E402
from snnc.runtime.evaluate import load_trained  # noqa: E402
from snnc.zoo.small import reduced  # noqa: E402


def graphs(models, with_zoo):
    for m in models:
        yield m, lambda m=m: load_trained(m)[0]
    if with_zoo:
        for name in zoo.names():
            yield f"{name} (small)", lambda name=name: verify(lower(reduced(zoo.load(name)),
                                                                    seed=0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*", help="run folders, .snnir or genome files")
    ap.add_argument("--delays", nargs="+", default=["relay", "synaptic"],
                    choices=["relay", "synaptic"])
    ap.add_argument("--no-zoo", action="store_true", help="only the given models")
    args = ap.parse_args()
    rows = []
    for label, make in graphs(args.models, not args.no_zoo):
        t0 = time.perf_counter()
        try:
            p = plan(prepare(make(), "lava")[0])
        except SnncError as exc:
            msg = str(exc)
            rows.append({"model": label, "refused": msg if len(msg) <= 200 else msg[:199] + "…"})
            print(json.dumps(rows[-1]), flush=True)
            if "cannot be balanced" not in msg:
                continue
            label = f"{label}, hardware timing"
            p = plan(prepare(apply_timing(make(), "hardware"), "lava")[0])
        for delays in args.delays:
            r = estimate(p, delays=delays, model=label)
            t = r.totals
            rows.append({"model": label, "delays": delays, "neurons": t["neurons"],
                         "relay_neurons": t["delay_neurons"], "synapses": t["synapses"],
                         "memory_kib": round(t["memory_bits"] / 8192, 1), "cores": r.cores,
                         "cores_shared": r.cores_shared, "chips": r.chips, "fits": r.fits,
                         "verdict": r.verdict(), "seconds": round(time.perf_counter() - t0, 2)})
            print(json.dumps(rows[-1]), flush=True)
    print("\n| model | delays | neurons (relays) | synapses | memory KiB | cores (shared) | chips |"
          " verdict |\n|---|---|---|---|---|---|---|---|")
    for r in rows:
        if "refused" in r:
            print(f"| {r['model']} | | | | | | | refused: {r['refused']} |")
        else:
            print(f"| {r['model']} | {r['delays']} | {r['neurons']:,} ({r['relay_neurons']:,}) | "
                  f"{r['synapses']:,} | {r['memory_kib']:,} | {r['cores']} ({r['cores_shared']}) "
                  f"| {r['chips']} | {r['verdict']} |")


if __name__ == "__main__":
    main()
