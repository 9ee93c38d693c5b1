"""Compile-time benchmark: parse + lower + verify + deploy passes, no weights I/O.

Workload: examples/tanet-tiny.genome, TANet-Tiny (STTS Table 1) with two 32-node Barabasi-Albert
stages (M = 8, 192 edges each, Bernoulli(0.05) synaptic delays). Prints one JSON object with the
median and min of each phase over --repeat runs (first run discarded as warm-up). Target: < 100 ms.

    .venv/bin/python bench/compile_time.py [--repeat 20] [--genome FILE] [--passes deploy|none|LIST]

At full TANet-Tiny width the deploy pipeline's time is dominated by materialising the folded
weights: fold-depthwise turns each 384-channel separable conv into a standard one, 42M float64
weights in all (STTS section 4.2 replaces separable convs by equivalent standard ones for
inference).
"""
import argparse
import json
import statistics
import time
from pathlib import Path

from snnc.compiler import compile_genome

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--genome", default=str(ROOT / "examples" / "tanet-tiny.genome"))
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--passes", default="deploy", help="pipeline to time (deploy, none, a list)")
    args = ap.parse_args()
    text = Path(args.genome).read_text()
    compile_genome(text, passes=args.passes)  # warm-up: imports, lark grammar build
    totals, phases = [], {}
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        result = compile_genome(text, passes=args.passes)
        totals.append((time.perf_counter() - t0) * 1e3)
        for k, v in result.timings_ms.items():
            phases.setdefault(k, []).append(v)
    g = result.graph
    print(json.dumps({
        "benchmark": "compile_time", "genome": Path(args.genome).name, "passes": args.passes,
        "repeat": args.repeat, "params_after": g.num_params(),
        "nodes_after_deploy": len(g), "edges_after_deploy": len(g.edges),
        "total_ms_median": round(statistics.median(totals), 2), "total_ms_min": round(min(totals), 2),
        "phases_ms_median": {k: round(statistics.median(v), 2) for k, v in phases.items()},
        "target_ms": 100,
    }, indent=2))


if __name__ == "__main__":
    main()
