"""Fuzz snnc with mutated shipped genomes and damaged artifacts; print the outcome counts as JSON.

    python bench/fuzz.py --genomes 3000 --artifacts 1000 --seed 0 --seconds 30

Each genome mutant goes through parse + compile (target lava for the 4-channel seeds, train for
full-size presets); each artifact mutant through load + read_extra. Outcomes: ``ok`` (compiled or
loaded), ``clean`` (an SnncError), ``traceback`` (any other exception, a bug), ``hang`` (over
``--seconds``). The first tracebacks and hangs go to stderr.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from snnc.compiler import compile_genome
from snnc.ir.artifact import load, read_extra, save
from snnc.testing import fuzz


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--genomes", type=int, default=3000)
    ap.add_argument("--artifacts", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=30.0, help="time limit per input")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    seeds = fuzz.seed_genomes()
    names = sorted(seeds)
    genomes = fuzz.Tally()
    t0 = time.perf_counter()
    for i in range(args.genomes):
        name = names[int(rng.integers(len(names)))]
        text = fuzz.mutate_genome(seeds[name], rng)
        target = "lava" if name.endswith("@4") else "train"
        genomes.add(*fuzz.run(lambda: compile_genome(text, target=target, filename=name),
                              args.seconds, f"genome #{i} from {name}"))
    t_genomes = time.perf_counter() - t0
    artifacts = fuzz.Tally()
    with tempfile.TemporaryDirectory() as tmp:
        good = Path(tmp) / "good.snnir"
        save(compile_genome(seeds["interop.genome"], target="train").graph, good,
             extra={"config": {"dataset": "digits"},
                    "preprocess": {"encoding": "direct", "T": 3, "mean": [0.5], "std": [0.2]}})
        blob, bad = good.read_bytes(), Path(tmp) / "bad.snnir"
        t0 = time.perf_counter()
        for i in range(args.artifacts):
            bad.write_bytes(fuzz.mutate_artifact(blob, rng))
            artifacts.add(*fuzz.run(lambda: (load(bad), read_extra(bad)), args.seconds,
                                    f"artifact #{i}"))
        t_artifacts = time.perf_counter() - t0
    for line in genomes.failures + artifacts.failures:
        print(line, file=sys.stderr)
    print(json.dumps({"seed": args.seed, "seconds_per_input": args.seconds,
                      "genomes": {**genomes.counts(), "wall_s": round(t_genomes, 1)},
                      "artifacts": {**artifacts.counts(), "wall_s": round(t_artifacts, 1)}}))


if __name__ == "__main__":
    main()
