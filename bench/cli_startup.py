"""CLI start-up benchmark: whole `snnc` processes against a bare `python -c "import click"`.

Each case runs as a fresh process (``subprocess.run``, wall time by ``time.perf_counter``), the
cases interleaved round by round so that machine noise hits them alike; the first round is a
discarded warm-up (file cache). Prints a table of medians, minima and the ratio of each median to
the baseline's, then the same as one JSON object. The snnc processes run this checkout's package
(``PYTHONPATH`` set to the repository root) with the interpreter running this script.

Goals: ``snnc --help`` within 5x of the baseline (no torch, lava or onnx at start-up); ``show`` and
``compile --target train`` of a preset genome within 10x. ``compile`` for the default ``lava``
target is timed too, without a goal: its fold-depthwise pass writes the dense convolutions Lava
needs (53M float64 weights, 425 MB, for TANet-Tiny), which is compile work, not start-up.

    .venv/bin/python bench/cli_startup.py [--runs 15] [--genome snnc/zoo/tanet-tiny.genome]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cases(genome: str) -> list[tuple[str, list[str], float | None]]:
    """(name, argv, goal as a multiple of the baseline's median)."""
    py = sys.executable
    snnc = [py, "-m", "snnc.cli"]
    return [
        ("python -c 'import click'", [py, "-c", "import click"], None),
        ("snnc --help", snnc + ["--help"], 5.0),
        ("snnc show GENOME --no-layers", snnc + ["show", genome, "--no-layers"], 10.0),
        ("snnc compile GENOME --target train --emit none",
         snnc + ["compile", genome, "--target", "train", "--emit", "none"], 10.0),
        ("snnc compile GENOME --emit none (lava)",
         snnc + ["compile", genome, "--emit", "none"], None),
    ]


def run_once(argv: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}):\n{proc.stderr}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=15, help="timed runs of each case")
    ap.add_argument("--genome", default="snnc/zoo/tanet-tiny.genome",
                    help="genome that show and compile read (relative to the repository root)")
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("SNNC_DEBUG", None)
    # Time what a user's machine does: byte code cached after the first run (the warm-up round
    # writes it), not every module compiled from source at every start.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    todo = cases(args.genome)
    times: dict[str, list[float]] = {name: [] for name, _, _ in todo}
    for round_ in range(args.runs + 1):
        for name, argv, _ in todo:
            t = run_once(argv, env)
            if round_:
                times[name].append(t)
    base = statistics.median(times[todo[0][0]])
    rows = []
    for name, _, goal in todo:
        med = statistics.median(times[name])
        rows.append({"case": name, "median_s": round(med, 4), "min_s": round(min(times[name]), 4),
                     "ratio": round(med / base, 2), "goal_ratio": goal,
                     "ok": None if goal is None else med / base <= goal})
    width = max(len(r["case"]) for r in rows)
    print(f"{'case':<{width}}  {'median s':>9}  {'min s':>7}  {'ratio':>6}  goal")
    for r in rows:
        goal = "" if r["goal_ratio"] is None else (f"<= {r['goal_ratio']:g}x "
                                                   + ("ok" if r["ok"] else "MISSED"))
        print(f"{r['case']:<{width}}  {r['median_s']:>9.3f}  {r['min_s']:>7.3f}  "
              f"{r['ratio']:>5.1f}x  {goal}")
    print(json.dumps({"benchmark": "cli_startup", "runs": args.runs, "genome": args.genome,
                      "python": sys.version.split()[0], "cases": rows}, indent=2))


if __name__ == "__main__":
    main()
