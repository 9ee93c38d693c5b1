"""Compile-time benchmark: parse + lower + verify + deploy passes, no weights I/O.

Workload: examples/tanet-tiny.genome, TANet-Tiny (STTS Table 1) with two 32-node Barabasi-Albert
stages (M = 8, 192 edges each, Bernoulli(0.05) synaptic delays). Prints one JSON object with the
median and min of each phase over --repeat runs (first run discarded as warm-up). Target: < 100 ms.

    .venv/bin/python bench/compile_time.py [--repeat 20] [--genome FILE]
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
    args = ap.parse_args()
    text = Path(args.genome).read_text()
    compile_genome(text, passes="deploy")  # warm-up: imports, lark grammar build
    totals, phases = [], {}
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        result = compile_genome(text, passes="deploy")
        totals.append((time.perf_counter() - t0) * 1e3)
        for k, v in result.timings_ms.items():
            phases.setdefault(k, []).append(v)
    g = result.graph
    print(json.dumps({
        "benchmark": "compile_time", "genome": Path(args.genome).name, "repeat": args.repeat,
        "nodes_after_deploy": len(g), "edges_after_deploy": len(g.edges),
        "total_ms_median": round(statistics.median(totals), 2), "total_ms_min": round(min(totals), 2),
        "phases_ms_median": {k: round(statistics.median(v), 2) for k, v in phases.items()},
        "target_ms": 100,
    }, indent=2))


if __name__ == "__main__":
    main()
