"""SNASNet search speed: seconds per scored candidate with the fast scorer
(:mod:`snnc.search.fastscore`) and the reference scorer (:func:`snnc.search.proxies.score_graph`),
Kendall's tau between their SAHD scores on the same candidates, and the extrapolated wall time of
a whole search.

The candidates are those ``snnc search snasnet`` scores: ``--draws`` draws from ``--space``
(candidate ``i`` from ``derive_seed(11, seed, i)``), duplicates dropped (a genome drawn twice is
scored once); ``--candidates`` of the distinct ones are timed, spread evenly over the list, so
the sample has the mix of cells the search meets. Each is lowered and scored exactly as the search
scores it (:func:`snnc.search.snasnet.score_candidate`, one process, ``--threads`` torch threads)
on real training images (``--dataset``, ``--batch`` of them, ``--T`` steps). The reference scorer
runs on the first ``--reference`` of them (it is several times slower). ``extrapolated_search_s``
is ``distinct draws x mean fast seconds / --processes`` (the search's workers score independent
candidates; the machine must have that many free cores); ``extrapolated_search_cpu_s`` uses the
process CPU time instead, what the search needs on a quiet machine. ``cpu_s`` is process CPU
time: where it is far below the wall time, other processes shared the machine.

    .venv/bin/python bench/snasnet_search_speed.py [--candidates 120] [--reference 40]
        [--draws 5000] [--channels 32] [--dataset mnist] [--processes 2]
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

import numpy as np
import torch
from scipy.stats import kendalltau

from snnc.search.snasnet import SearchConfig, _draw, score_candidate, search_batches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="snasnet-bw")
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--draws", type=int, default=5000, help="candidates the search draws")
    ap.add_argument("--candidates", type=int, default=120, help="distinct candidates timed")
    ap.add_argument("--reference", type=int, default=40,
                    help="of them, scored by the reference scorer too (tau)")
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--T", type=int, default=5)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"],
                    help="where candidates are scored")
    ap.add_argument("--processes", type=int, default=2, help="scoring processes to extrapolate to")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    base = dict(space=args.space, dataset=args.dataset, candidates=args.draws,
                channels=args.channels, T=args.T, batch_size=args.batch, seed=args.seed,
                threads=args.threads)
    fast_cfg = SearchConfig(**base, scorer="fast")
    ref_cfg = SearchConfig(**base, scorer="reference")
    batches, classes, shape = search_batches(fast_cfg)
    drawn, _ = _draw(fast_cfg, shape, classes)
    n = min(args.candidates, len(drawn))
    picked = [drawn[round(k * (len(drawn) - 1) / max(1, n - 1))] for k in range(n)]
    rows = []
    t_start = time.perf_counter()
    for k, (pos, cand) in enumerate(picked):
        text = cand.text
        c0 = time.process_time()
        scores, secs = score_candidate(text, fast_cfg, batches, classes, args.device)
        row = {"position": pos, "cell": cand.description, "fast_s": round(secs, 3),
               "fast_cpu_s": round(time.process_time() - c0, 3), "fast_sahd": scores["sahd"]}
        if k < args.reference:
            c0 = time.process_time()
            ref, rsecs = score_candidate(text, ref_cfg, batches, classes, args.device)
            row.update(reference_s=round(rsecs, 3),
                       reference_cpu_s=round(time.process_time() - c0, 3),
                       reference_sahd=ref["sahd"])
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    fast = [r["fast_s"] for r in rows]
    paired = [(r["fast_sahd"], r["reference_sahd"]) for r in rows if "reference_sahd" in r
              and math.isfinite(r["fast_sahd"]) and math.isfinite(r["reference_sahd"])]
    tau = kendalltau(*zip(*paired)) if len(paired) >= 3 else None
    mean_fast = statistics.fmean(fast)
    ref_rows = [r for r in rows if "reference_s" in r]
    print(json.dumps({
        "benchmark": "snasnet_search_speed", "space": args.space, "dataset": args.dataset,
        "channels": args.channels, "T": args.T, "batch": args.batch, "threads": args.threads,
        "torch": torch.__version__, "draws": args.draws, "distinct": len(drawn),
        "timed": len(rows),
        "fast_s_per_candidate": {"mean": round(mean_fast, 3),
                                 "median": round(statistics.median(fast), 3),
                                 "max": round(max(fast), 3)},
        "fast_cpu_s_mean": round(statistics.fmean(r["fast_cpu_s"] for r in rows), 3),
        "reference_s_per_candidate_mean": round(statistics.fmean(
            r["reference_s"] for r in ref_rows), 3) if ref_rows else None,
        "reference_cpu_s_mean": round(statistics.fmean(
            r["reference_cpu_s"] for r in ref_rows), 3) if ref_rows else None,
        "speedup_on_reference_subset": round(
            sum(r["reference_s"] for r in ref_rows) / sum(r["fast_s"] for r in ref_rows), 2)
        if ref_rows else None,
        "kendall_tau_fast_vs_reference": None if tau is None else
        {"tau": round(float(tau.statistic), 4), "n": len(paired),
         "max_rel_diff": float(np.max([abs(a - b) / abs(b) for a, b in paired]))},
        "processes": args.processes,
        "extrapolated_search_s": round(len(drawn) * mean_fast / args.processes, 1),
        # what a quiet machine gives: CPU time is what a candidate needs of a core
        "extrapolated_search_cpu_s": round(len(drawn) * statistics.fmean(
            r["fast_cpu_s"] for r in rows) / args.processes, 1),
        "seconds": round(time.perf_counter() - t_start, 1), "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
