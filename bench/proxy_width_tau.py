"""Can a search score at reduced width? Kendall's tau between SAHD (and HD) scores of the same
SNASNet cells built at reduced widths (C = 16, 32) and at the paper's width (C = 128).

Cells are drawn as ``bench/proxy_correlation.py`` and ``snnc search snasnet`` draw them (space
``snasnet-bw``, candidate ``i`` from seed ``derive_seed(11, seed, i)``, duplicates dropped); each is
built in the paper's skeleton (hidden 1024, voting 10 per class) at every width, with weights from
``--seed``, and scored with the search's settings (:func:`snnc.search.proxies.score_graph`: batch
statistics, dropout off) on one real mini-batch of ``--batch`` training images at ``--T`` steps
(the paper: 256 and 5). Cells are scored one after another at every width, so ``--budget`` (seconds)
can stop the run between cells with complete rows.

    .venv/bin/python bench/proxy_width_tau.py [--cells 16] [--widths 16,32,128]
        [--dataset mnist] [--batch 256] [--T 5] [--budget 600]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np
import torch
from scipy.stats import kendalltau

from snnc.frontend import lower
from snnc.runtime.loader import derive_seed
from snnc.search.cells import cell_genome
from snnc.search.proxies import score_graph

from proxy_correlation import sample_cells, score_batch  # bench/ is the script's own folder

KINDS = ("sahd", "hd")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="snasnet-bw", choices=("snasnet-bw", "snasnet-fw"))
    ap.add_argument("--cells", type=int, default=16)
    ap.add_argument("--widths", default="16,32,128", help="the last one is the reference")
    ap.add_argument("--dataset", default="mnist")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--T", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--budget", type=float, default=600.0,
                    help="start no new cell after this many seconds")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    widths = [int(w) for w in args.widths.split(",")]
    ref = widths[-1]
    t_start = time.perf_counter()
    x, labels, ds = score_batch(args.dataset, args.batch, derive_seed(12, args.seed))
    rows = []
    for cell in sample_cells(args.space, args.cells, args.seed):
        if time.perf_counter() - t_start > args.budget:
            break
        row = {"code": cell.code}
        for w in widths:
            genome = cell_genome(cell, channels=w, T=args.T, input_shape=tuple(ds.input_shape),
                                 classes=ds.classes)
            graph = lower(genome, seed=args.seed)
            t0 = time.perf_counter()
            scores = score_graph(graph, [(x, labels)], kinds=KINDS, classes=ds.classes)
            row[f"seconds_C{w}"] = round(time.perf_counter() - t0, 2)
            for k in KINDS:
                row[f"{k}_C{w}"] = scores[k] if math.isfinite(scores[k]) else None
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    taus = {}
    for k in KINDS:
        for w in widths[:-1]:
            pairs = [(r[f"{k}_C{w}"], r[f"{k}_C{ref}"]) for r in rows
                     if r[f"{k}_C{w}"] is not None and r[f"{k}_C{ref}"] is not None]
            res = kendalltau(*zip(*pairs)) if len(pairs) >= 3 else None
            taus[f"{k}_C{w}_vs_C{ref}"] = {
                "tau": None if res is None or math.isnan(res.statistic)
                else round(float(res.statistic), 4),
                "p": None if res is None or math.isnan(res.pvalue) else float(f"{res.pvalue:.3g}"),
                "n": len(pairs)}
    seconds = {f"C{w}": round(float(np.median([r[f"seconds_C{w}"] for r in rows])), 2)
               for w in widths} if rows else {}
    print(json.dumps({"benchmark": "proxy_width_tau", "space": args.space,
                      "dataset": args.dataset, "input": "x".join(map(str, ds.input_shape)),
                      "batch": args.batch, "T": args.T, "seed": args.seed,
                      "threads": args.threads, "cells": len(rows), "widths": widths,
                      "kendall_tau": taus, "median_seconds_per_score": seconds,
                      "seconds": round(time.perf_counter() - t_start, 1), "rows": rows},
                     indent=2))


if __name__ == "__main__":
    main()
