"""STTS sampling speed: one TANet-Tiny genome (two 32-node BA stages, Bernoulli delays), including
building the validated genome and its canonical text. Target: < 5 ms (the paper quotes < 0.1 s).

    .venv/bin/python bench/stts_sample.py [--preset tanet-tiny] [--repeat 200]
"""
import argparse
import json
import statistics
import time

from snnc.genome import to_text
from snnc.search.stts import sample_stts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tanet-tiny")
    ap.add_argument("--repeat", type=int, default=200)
    args = ap.parse_args()
    to_text(sample_stts(args.preset, 0))  # warm-up
    times = []
    for seed in range(args.repeat):
        t0 = time.perf_counter()
        to_text(sample_stts(args.preset, seed))
        times.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({"benchmark": "stts_sample", "preset": args.preset, "repeat": args.repeat,
                      "ms_median": round(statistics.median(times), 3),
                      "ms_p90": round(sorted(times)[int(0.9 * len(times))], 3),
                      "target_ms": 5}, indent=2))


if __name__ == "__main__":
    main()
