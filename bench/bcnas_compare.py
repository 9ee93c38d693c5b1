"""A searched BCNAS-SNN architecture beside its backbone without backward connections.

Retrains the genome a BCNAS search wrote (``best.genome``, or any ResNet genome with ``back``
connections) and the same genome with its backward connections removed, from scratch, for
``--seeds`` seeds each, with the paper's recipe (BCNAS-SNN sections 3.3 and 5.1: AdamW lr 0.01,
weight decay 0.02, cosine schedule, TET loss), and reports each run's test accuracy and the mean
and standard deviation of each arm (the paper's Table 3 compares SNNs and BC-SNNs this way, mean of
3 seeds). Runs are interleaved (backbone, searched, backbone, ...) so that machine noise hits both
arms alike. Prints a table, then one JSON object.

    .venv/bin/python bench/bcnas_compare.py out/bcnas/best.genome --data fashion-mnist \\
        [--seeds 3] [--epochs 3] [--limit-train 10000] [--threads 1]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from snnc.genome import parse_file, to_text
from snnc.runtime.train import TrainConfig, train
from snnc.search.bcnas_space import Architecture, from_genome


def backbone_of(genome):
    """The genome without its backward connections (the empty architecture of its space)."""
    blocks = tuple(dataclasses.replace(b, edges=()) if b.kind == "resnet" else b
                   for b in genome.blocks)
    return dataclasses.replace(genome, blocks=blocks, name=f"{genome.name}-backbone")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("genome", help="the searched genome (e.g. OUT/best.genome)")
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--limit-train", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    searched = parse_file(args.genome)
    arch = from_genome(searched)
    plain = backbone_of(searched)
    assert from_genome(plain) == Architecture(())
    arms = {"backbone": plain, "searched": searched}
    runs: dict[str, list[dict]] = {k: [] for k in arms}
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for name, genome in arms.items():
                path = Path(tmp) / f"{name}.genome"
                path.write_text(to_text(genome))
                cfg = TrainConfig(dataset=args.data, epochs=args.epochs,
                                  batch_size=args.batch_size, optimizer="adamw", lr=0.01,
                                  weight_decay=0.02, schedule="cosine", loss="tet",
                                  tet_lambda=0.0, limit_train=args.limit_train,
                                  threads=args.threads, seed=seed)
                res = train(path, cfg, Path(tmp) / f"{name}-{seed}", progress=False)
                row = {"seed": seed, "test_acc": round(float(res.test_acc), 4),
                       "seconds": round(res.seconds, 1)}
                runs[name].append(row)
                print(json.dumps({"arm": name, **row}), file=sys.stderr, flush=True)
    summary = {}
    for name, rows in runs.items():
        accs = [r["test_acc"] for r in rows]
        summary[name] = {"mean": round(statistics.mean(accs), 4),
                         "std": round(statistics.stdev(accs), 4) if len(accs) > 1 else 0.0,
                         "runs": rows}
    print(f"{'arm':<10} {'mean test acc':>14} {'std':>7}  connections")
    for name in arms:
        s = summary[name]
        conns = "none" if name == "backbone" else ", ".join(f"{j} -> {i}"
                                                              for j, i in arch.connections)
        print(f"{name:<10} {100 * s['mean']:>13.2f}% {100 * s['std']:>6.2f}%  {conns}")
    print(json.dumps({"benchmark": "bcnas_compare", "genome": args.genome, "data": args.data,
                      "seeds": args.seeds, "epochs": args.epochs,
                      "limit_train": args.limit_train,
                      "connections": [list(c) for c in arch.connections], **summary,
                      "seconds": round(time.perf_counter() - t_start, 1)}, indent=2))


if __name__ == "__main__":
    main()
