"""Do the training-free scores rank trained accuracy? (SNASNet section 5, Fig. 4.)

Samples ``--candidates`` SNASNet cells (space ``snasnet-bw`` by default, candidate ``i`` drawn from
seed ``derive_seed(11, seed, i)`` as ``snnc search snasnet`` draws them; a genome drawn twice is kept
once), builds each at a small width in the SNASNet skeleton, scores it at initialisation with HD,
SAHD (SNASNet eq. 4-9) and the E-score (BCNAS-SNN eq. 9-15) on one real training mini-batch
(:func:`snnc.search.proxies.score_graph`, the search's settings: batch statistics, dropout off),
then trains the same initial weights briefly (:func:`snnc.runtime.train.train`) and measures the
test accuracy. Reports Kendall's tau (``scipy.stats.kendalltau``, tau-b) between accuracy and each
score over the candidates whose score is finite, prints JSON (one row per candidate + the taus) and
writes a scatter plot (accuracy vs each score).

The paper trains every cell for 300 epochs on CIFAR; this trains for ``--epochs`` on
``--limit-train`` images, so the accuracies it ranks against are early-training accuracies.

Both scoring protocols of :mod:`snnc.search.proxies` are measured (``--protocols paper,code``):
the paper's (SNASNet eq. 5 and 9, BatchNorm over T x B, one batch) and the authors' code's (its
kernel averaged over the hooked calls, per-step BatchNorm, two batches); score keys carry a
``_code`` suffix for the latter. Kendall's tau (with its p-value) is also reported between each
score and the number of spiking layers, the confound a summed kernel carries. Weights start as
PyTorch initialises them (the authors' initialisation: default Conv2d/Linear init). ``--rows FILE``
appends each finished candidate as a JSON line and skips candidates already there, so a long run
that is stopped continues where it stopped.

    .venv/bin/python bench/proxy_correlation.py [--candidates 24] [--epochs 5] [--dataset digits]
        [--limit-train N] [--channels 8] [--T 4] [--protocols paper,code] [--rows rows.jsonl]
        [--plot proxy_correlation.png]

Digits (1437 train / 360 test, 1x8x8) trains a candidate for 5 epochs in ~10 s on one core;
MNIST at 28x28 takes ~70-130 s per candidate for one epoch on 3000 images at C = 8.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau

from snnc.frontend import lower
from snnc.ir.ops import OPS
from snnc.runtime.data import load_dataset
from snnc.runtime.loader import derive_seed
from snnc.runtime.train import TrainConfig, train
from snnc.search.cells import cell_genome, sample_cell
from snnc.search.proxies import score_graph

SCORES = ("hd", "sahd", "escore")
_KERNELS = ("hd", "sahd")
_SAMPLE = 11  # the search's candidate stream tag (snnc.search.snasnet)


def sample_cells(space: str, count: int, seed: int):
    """``count`` distinct cells of ``space`` (``snasnet-bw`` or ``snasnet-fw``) in search order."""
    backward = space == "snasnet-bw"
    cells, seen, i = [], set(), 0
    while len(cells) < count and i < 100 * count:
        cell = sample_cell(np.random.default_rng(derive_seed(_SAMPLE, seed, i) % 2**31), backward)
        i += 1
        if cell.code not in seen:
            seen.add(cell.code)
            cells.append(cell)
    return cells


def score_batch(dataset: str, batch: int, seed: int):
    """One normalised training mini-batch ``(x [B, C, H, W] float32, labels [B])``."""
    ds = load_dataset(dataset)
    idx = np.sort(np.random.default_rng(seed).permutation(len(ds.train_y))[:batch])
    mean = np.asarray(ds.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(ds.std, dtype=np.float32)[:, None, None]
    x = ((ds.train_x[idx] - mean) / std).astype(np.float32)
    return torch.from_numpy(x), ds.train_y[idx], ds


def score_keys(protocols: list[str]) -> list[str]:
    """Row keys of the scores: the paper protocol's plain names, then ``<kernel>_code``."""
    keys = list(SCORES) if "paper" in protocols else []
    return keys + [f"{k}_code" for k in _KERNELS if "code" in protocols]


def taus(rows: list[dict], keys: list[str], against: str = "test_acc") -> dict[str, dict]:
    """Kendall's tau-b between ``against`` and each score, over rows with a finite score."""
    out = {}
    for k in keys:
        pairs = [(r[against], r[k]) for r in rows if r.get(k) is not None
                 and math.isfinite(r[k])]
        if len(pairs) < 3:
            out[k] = {"tau": None, "p": None, "n": len(pairs)}
            continue
        res = kendalltau([a for a, _ in pairs], [s for _, s in pairs])
        out[k] = {"tau": None if math.isnan(res.statistic) else round(float(res.statistic), 4),
                  "p": None if math.isnan(res.pvalue) else round(float(res.pvalue), 4),
                  "n": len(pairs)}
    return out


def plot(rows: list[dict], result_taus: dict, path: Path, title: str, keys: list[str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.8), squeeze=False)
    for ax, k in zip(axes[0], keys):
        pts = [(r[k], r["test_acc"]) for r in rows if r.get(k) is not None
               and math.isfinite(r[k])]
        if pts:
            ax.scatter([p[0] for p in pts], [100 * p[1] for p in pts], s=18)
        t = result_taus[k]["tau"]
        ax.set_title(f"{k.upper()}  (Kendall tau = {t if t is not None else 'n/a'})")
        ax.set_xlabel(f"{k} score at initialisation")
        ax.set_ylabel("test accuracy (%)")
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", default="snasnet-bw", choices=("snasnet-bw", "snasnet-fw"))
    ap.add_argument("--candidates", type=int, default=24)
    ap.add_argument("--dataset", default="digits", help="digits (1x8x8), mnist or fashion-mnist")
    ap.add_argument("--channels", type=int, default=8, help="cell width C (2C after reduction)")
    ap.add_argument("--T", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=128, help="width of the hidden Linear-LIF")
    ap.add_argument("--dropout", type=float, default=0.0)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--limit-train", type=int, default=None, help="first N training images")
    ap.add_argument("--limit-test", type=int, default=None, help="first N test images")
    ap.add_argument("--train-batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.005, help="AdamW learning rate")
    ap.add_argument("--score-batch", type=int, default=128, help="images in the scoring batch")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--protocols", default="paper,code",
                    help="scoring protocols measured: paper, code or both (comma-separated)")
    ap.add_argument("--rows", default=None, help="JSON-lines file of finished candidates")
    ap.add_argument("--plot", default="proxy_correlation.png")
    args = ap.parse_args()
    protocols = [p for p in args.protocols.split(",") if p]
    if not protocols or set(protocols) - {"paper", "code"}:
        raise SystemExit(f"--protocols takes paper and/or code, got {args.protocols!r}")
    keys = score_keys(protocols)
    torch.set_num_threads(args.threads)
    t_start = time.perf_counter()
    x, labels, ds = score_batch(args.dataset, args.score_batch, derive_seed(12, args.seed))
    # the authors' code averages two batches: the second one for the code protocol
    x2, labels2, _ = score_batch(args.dataset, args.score_batch, derive_seed(12, args.seed, 1))
    cells = sample_cells(args.space, args.candidates, args.seed)
    done = {}
    if args.rows and Path(args.rows).is_file():
        for line in Path(args.rows).read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                done[row["code"]] = row
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, cell in enumerate(cells):
            if cell.code in done:
                rows.append(done[cell.code])
                continue
            genome = cell_genome(cell, channels=args.channels, T=args.T,
                                 input_shape=tuple(ds.input_shape), classes=ds.classes,
                                 hidden=args.hidden, dropout=args.dropout)
            graph = lower(genome, seed=args.seed)
            t0 = time.perf_counter()
            scores = {}
            if "paper" in protocols:
                scores.update(score_graph(graph, [(x, labels)], kinds=SCORES,
                                          classes=ds.classes))
            if "code" in protocols:
                code = score_graph(graph, [(x, labels), (x2, labels2)], kinds=_KERNELS,
                                   classes=ds.classes, protocol="code")
                scores.update({f"{k}_code": v for k, v in code.items()})
            t1 = time.perf_counter()
            cfg = TrainConfig(dataset=args.dataset, epochs=args.epochs,
                              batch_size=args.train_batch, optimizer="adamw", lr=args.lr,
                              weight_decay=0.0, limit_train=args.limit_train,
                              limit_test=args.limit_test, threads=args.threads, seed=args.seed)
            result = train(graph, cfg, Path(tmp) / f"c{i}", progress=False)
            row = {"code": cell.code,
                   "spiking_layers": sum(1 for n in graph if OPS[n.op].spiking),
                   **{k: (round(v, 4) if math.isfinite(v) else None) for k, v in scores.items()},
                   "test_acc": round(float(result.test_acc), 4),
                   "train_loss": round(float(result.history[-1]["train_loss"]), 4),
                   "score_s": round(t1 - t0, 2), "train_s": round(result.seconds, 1)}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
            if args.rows:
                with open(args.rows, "a") as fh:
                    fh.write(json.dumps(row) + "\n")
    result_taus = taus(rows, keys)
    layer_taus = taus(rows, keys, against="spiking_layers")
    accs = [r["test_acc"] for r in rows]
    n_train = min(args.limit_train or len(ds.train_y), len(ds.train_y))
    n_test = min(args.limit_test or len(ds.test_y), len(ds.test_y))
    setup = (f"{args.space}, {len(rows)} cells, {args.dataset} {n_train} train / {n_test} test, "
             f"C={args.channels}, T={args.T}, {args.epochs} epoch(s)")
    plot(rows, result_taus, Path(args.plot), setup, keys)
    print(json.dumps({"benchmark": "proxy_correlation", "space": args.space,
                      "dataset": args.dataset, "channels": args.channels, "T": args.T,
                      "hidden": args.hidden, "epochs": args.epochs,
                      "train_images": n_train, "test_images": n_test,
                      "score_batch": args.score_batch, "lr": args.lr, "seed": args.seed,
                      "threads": args.threads, "candidates": len(rows),
                      "accuracy": {"min": min(accs), "median": float(np.median(accs)),
                                   "max": max(accs)},
                      "protocols": protocols, "kendall_tau": result_taus,
                      "kendall_tau_vs_spiking_layers": layer_taus, "plot": args.plot,
                      "seconds": round(time.perf_counter() - t_start, 1), "rows": rows},
                     indent=2))


if __name__ == "__main__":
    main()
