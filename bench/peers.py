"""snnc against SpikingJelly, snnTorch and the ANN floor: training throughput, peak memory, inference.

The same network in every system (the one of ``bench/torch_train_throughput.py``)::

    Input (3, 32, 32) -> conv3x3(3->64)-BN -> LIF -> conv3x3(64->128)-BN -> LIF -> avgpool 2
      -> conv3x3(128->128)-BN -> LIF -> conv3x3(128->128)-BN -> LIF -> GAP -> Linear(128->10)

LIF tau = 2 (``H = V/2 + X/2``), threshold 1, hard reset to 0, detached reset, atan surrogate
(alpha = 2); direct encoding, T = 4; one training step = forward, cross-entropy on the time-mean
output, backward, SGD (momentum 0.9, weight decay 1e-4); random data.

Systems (each in its own fresh process, so peak RSS is per system):

* ``snnc`` — the IR graph compiled by ``snnc.backends.torch.compile`` (its default execution).
* ``spikingjelly`` — SpikingJelly 2 ``activation_based``, multi-step mode (T folded into the
  batch for conv/BN, ``LIFNode`` multi-step).
* ``snntorch`` — snnTorch ``Leaky`` stepped over T (the whole network once per step), reset to
  zero, ``threshold = 2`` (snnTorch has no input gain: ``H' = V'/2 + X`` is ``2 H``, so the spikes
  are those of ``H > 1``), reset detached as snnTorch always does.
* ``ann`` — the ANN floor: the same convolutions with ReLU instead of LIF, T folded into the batch.

Method. For each batch size, ``--rounds`` rounds; each round runs every system once, one after the
other (A, B, C, D, A, B, ...), each run = ``--warmup`` untimed steps then ``--steps`` timed steps,
then ``--infer`` timed inference forwards (eval mode, no gradient). For every timed step the run
records the CPU time the rest of the machine used meanwhile (``/proc/stat`` busy time minus this
process's ``/proc/self/stat`` time, in clock ticks), as a fraction of the machine's capacity over
the step; a round in which any timed step of any system saw other processes above ``--max-other``
(default 5 %) is dropped. Over the clean rounds: ms per step (min / median of every timed step),
images/s (from the median), peak RSS of the process (``ru_maxrss``; on CUDA, the caching
allocator's peak), inference ms (median), and the paired ratios snnc/peer of each clean round's
median step time (min and median over rounds; below 1 means snnc is faster), of the CPU time the
process itself used per step (all its threads; less sensitive to a busy machine than wall time,
though not immune), and of peak memory. Also printed: the median of the timed steps that were
clean by themselves, from every round (a weaker filter for a machine that is rarely quiet).

    .venv/bin/python bench/peers.py [--batch 32 64] [--rounds 5] [--warmup 2] [--steps 5]
        [--threads 2] [--device cpu|cuda|auto] [--systems snnc,spikingjelly,snntorch,ann]
        [--max-other 0.05] [--json]
    .venv/bin/python bench/peers.py --from-json peers.json [--max-other 0.05]   # table again

SpikingJelly and snnTorch are optional: install them with ``make setup`` (the ``interop-test``
extra and the Makefile's ``--no-deps`` line); a system whose library is missing is reported and
left out.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

SYSTEMS = ("snnc", "spikingjelly", "snntorch", "ann")
PEERS = ("spikingjelly", "snntorch", "ann")


# ----------------------------------------------------------------------------- CPU accounting
def _machine_busy_ticks() -> int:
    """Busy clock ticks of the whole machine since boot (``/proc/stat``: all but idle and iowait)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return user + nice + system + irq + softirq + steal


def _own_ticks() -> int:
    """utime + stime of this process (every thread), in clock ticks (``/proc/self/stat``)."""
    with open("/proc/self/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])  # fields 14 and 15 of proc(5)


class OtherCpu:
    """CPU time used by other processes over an interval, as a fraction of machine capacity."""

    def __init__(self):
        self.hz = os.sysconf("SC_CLK_TCK")
        self.cpus = os.cpu_count() or 1

    def start(self):
        return _machine_busy_ticks(), _own_ticks(), time.perf_counter()

    def fraction(self, mark) -> float:
        busy0, own0, t0 = mark
        busy, own, t = _machine_busy_ticks(), _own_ticks(), time.perf_counter()
        other = max(0, (busy - busy0) - (own - own0)) / self.hz
        return other / max(1e-9, (t - t0) * self.cpus)


# ----------------------------------------------------------------------------- the networks
LIF = {"beta": 0.5, "alpha": 0.5, "v_th": 1.0, "reset": "hard", "detach_reset": True,
       "surrogate": "atan", "surrogate_arg": 2.0}
WIDTHS = ((3, 64), (64, 128), "pool", (128, 128), (128, 128))


def build(system: str, T: int, device):
    """``(model, run)``: ``run(x [B, 3, 32, 32]) -> logits [T, B, 10]`` (or ``[B, 10]``), plus a
    reset hook for stateful peers. Raises ImportError when the system's library is missing."""
    import torch
    from torch import nn

    if system == "snnc":
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from torch_train_throughput import build_graph

        from snnc.backends.torch import compile

        model = compile(build_graph(T), device=device)
        return model, lambda x: model(x, T=T).mean(0), None

    def convs(act):
        layers = []
        for w in WIDTHS:
            if w == "pool":
                layers.append(nn.AvgPool2d(2))
            else:
                layers += [nn.Conv2d(w[0], w[1], 3, padding=1, bias=False), nn.BatchNorm2d(w[1]),
                           act()]
        return layers + [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10)]

    if system == "ann":
        model = nn.Sequential(*convs(lambda: nn.ReLU(inplace=True))).to(device)

        def run(x):
            xs = x.unsqueeze(0).expand(T, *x.shape).flatten(0, 1)  # T folded into the batch
            return model(xs).unflatten(0, (T, x.shape[0])).mean(0)
        return model, run, None

    if system == "spikingjelly":
        from spikingjelly.activation_based import functional, layer, neuron, surrogate

        mods = []
        for w in WIDTHS:
            if w == "pool":
                mods.append(layer.AvgPool2d(2))
            else:
                mods += [layer.Conv2d(w[0], w[1], 3, padding=1, bias=False),
                         layer.BatchNorm2d(w[1]),
                         neuron.LIFNode(tau=2.0, v_threshold=1.0, v_reset=0.0, detach_reset=True,
                                        surrogate_function=surrogate.ATan(alpha=2.0))]
        mods += [layer.AdaptiveAvgPool2d(1), layer.Flatten(), layer.Linear(128, 10)]
        model = nn.Sequential(*mods).to(device)
        functional.set_step_mode(model, "m")

        def run(x):
            return model(x.unsqueeze(0).repeat(T, 1, 1, 1, 1)).mean(0)
        return model, run, lambda: functional.reset_net(model)

    if system == "snntorch":
        import snntorch as snn
        from snntorch import surrogate as ssur

        grad = ssur.atan(alpha=2.0)
        model = nn.Sequential(*convs(lambda: snn.Leaky(beta=0.5, threshold=2.0, spike_grad=grad,
                                                       reset_mechanism="zero", init_hidden=True)))
        model = model.to(device)

        def run(x):
            outs = [model(x) for _ in range(T)]  # the whole network once per step
            return torch.stack(outs).mean(0)

        def reset():
            for m in model.modules():
                if isinstance(m, snn.Leaky):
                    m.reset_mem()
        return model, run, reset

    raise ValueError(f"unknown system {system!r}; known: {', '.join(SYSTEMS)}")


# ----------------------------------------------------------------------------- one run
def worker(args) -> dict:
    """One system, one batch size, in this process: warm-up, timed steps, inference, peak memory."""
    import torch

    torch.set_num_threads(args.threads)
    # only the snnc worker imports snnc: its allocator settings (snnc.backends.torch.allocator)
    # belong to snnc, and the peers run as their users run them
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else "cpu" if args.device == "auto" else args.device)
    torch.manual_seed(0)
    model, run, reset = build(args.worker, args.T, device)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, 3, 32, 32, generator=gen).to(device)
    y = torch.randint(0, 10, (args.batch,), generator=gen).to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def step():
        if reset:
            reset()
        loss = torch.nn.functional.cross_entropy(run(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync()

    meter = OtherCpu()
    for _ in range(args.warmup):
        step()
    steps, cpu, others, faults = [], [], [], []
    for _ in range(args.steps):
        f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        mark = meter.start()
        c0, t0 = time.process_time(), time.perf_counter()
        step()
        steps.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        others.append(meter.fraction(mark))
        faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
    model.eval()
    infer = []
    with torch.no_grad():
        for i in range(args.infer + 1):
            if reset:
                reset()
            mark = meter.start()
            t0 = time.perf_counter()
            run(x)
            sync()
            if i:  # the first one warms the eval path up
                infer.append(time.perf_counter() - t0)
                others.append(meter.fraction(mark))
    out = {"system": args.worker, "batch": args.batch,
           "step_ms": [round(1e3 * s, 2) for s in steps], "cpu_ms": [round(1e3 * s, 2) for s in cpu],
           "infer_ms": [round(1e3 * s, 2) for s in infer],
           "other_cpu": [round(o, 4) for o in others], "minflt_per_step": faults,
           "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}
    alloc = sys.modules.get("snnc.backends.torch.allocator")
    out["snnc_allocator_kept"] = bool(alloc and alloc._applied)  # False in every peer's process
    if device.type == "cuda":
        out["cuda_peak_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return out


# ----------------------------------------------------------------------------- driver
def available(system: str) -> str | None:
    """None if ``system`` can run here, else why not."""
    mod = {"spikingjelly": "spikingjelly.activation_based", "snntorch": "snntorch"}.get(system)
    if mod is None:
        return None
    import importlib.util

    try:
        found = importlib.util.find_spec(mod) is not None
    except ModuleNotFoundError:
        found = False
    return None if found else f"{mod} is not installed (see the docstring)"


def spawn(system: str, batch: int, args) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", system, "--batch", str(batch),
           "--T", str(args.T), "--warmup", str(args.warmup), "--steps", str(args.steps),
           "--infer", str(args.infer), "--threads", str(args.threads), "--device", args.device]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{system} at batch {batch} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarise(runs: list[dict], systems: list[str], max_other: float) -> dict:
    """Per batch: clean rounds, per-system figures, paired ratios snnc/peer."""
    out = {}
    for batch in sorted({r["batch"] for r in runs}):
        rounds: dict[int, dict[str, dict]] = {}
        for r in runs:
            if r["batch"] == batch:
                rounds.setdefault(r["round"], {})[r["system"]] = r
        clean = [k for k, rs in rounds.items() if all(max(r["other_cpu"]) <= max_other
                                                       for r in rs.values())]
        use = clean or list(rounds)  # nothing clean: report every round, flagged
        table = {}
        for s in systems:
            rs = [rounds[k][s] for k in use if s in rounds[k]]
            if not rs:
                continue
            steps = [v for r in rs for v in r["step_ms"]]
            med = statistics.median(steps)
            mem_key = "cuda_peak_mib" if "cuda_peak_mib" in rs[0] else "peak_rss_mib"
            table[s] = {"ms_min": min(steps), "ms_median": med, "images_per_s": round(1e3 * batch / med, 1),
                        "cpu_ms_median": statistics.median(v for r in rs for v in r["cpu_ms"]),
                        "peak_mib": max(r[mem_key] for r in rs), "memory": mem_key,
                        "infer_ms_median": statistics.median(v for r in rs for v in r["infer_ms"]),
                        "minflt_per_step_median": statistics.median(
                            v for r in rs for v in r["minflt_per_step"])}
        for s in systems:  # steps that were clean themselves, from every round (a weaker filter)
            ok = [v for rs in rounds.values() if s in rs
                  for v, o in zip(rs[s]["step_ms"], rs[s]["other_cpu"]) if o <= max_other]
            if s in table:
                table[s]["clean_steps"] = len(ok)
                table[s]["clean_step_ms_median"] = statistics.median(ok) if ok else None
        ratios = {}
        for p in systems:
            if p == "snnc" or p not in table or "snnc" not in table:
                continue
            pr = [statistics.median(rounds[k]["snnc"]["step_ms"]) /
                  statistics.median(rounds[k][p]["step_ms"]) for k in use]
            pc = [statistics.median(rounds[k]["snnc"]["cpu_ms"]) /
                  statistics.median(rounds[k][p]["cpu_ms"]) for k in use]
            ratios[p] = {"time_min": round(min(pr), 3), "time_median": round(statistics.median(pr), 3),
                         "cpu_time_median": round(statistics.median(pc), 3),
                         "memory": round(table["snnc"]["peak_mib"] / table[p]["peak_mib"], 3)}
        out[str(batch)] = {"rounds": len(rounds), "clean_rounds": len(clean),
                           "dropped_rounds": len(rounds) - len(clean), "contaminated": not clean,
                           "systems": table, "snnc_over": ratios}
    return out


def print_table(summary: dict, max_other: float) -> None:
    for batch, s in summary.items():
        flag = "  (NO clean round: figures from contaminated rounds)" if s["contaminated"] else ""
        print(f"\nbatch {batch}: {s['clean_rounds']} of {s['rounds']} rounds clean "
              f"(others <= {100 * max_other:.0f} % CPU), {s['dropped_rounds']} dropped{flag}")
        print(f"{'system':<14}{'ms/step min':>12}{'median':>9}{'img/s':>8}{'CPU ms':>9}{'peak MiB':>10}"
              f"{'infer ms':>10}{'faults/step':>13}")
        for name, t in s["systems"].items():
            print(f"{name:<14}{t['ms_min']:>12.0f}{t['ms_median']:>9.0f}{t['images_per_s']:>8.1f}"
                  f"{t['cpu_ms_median']:>9.0f}{t['peak_mib']:>10.0f}{t['infer_ms_median']:>10.0f}"
                  f"{t['minflt_per_step_median']:>13.0f}")
        for p, r in s["snnc_over"].items():
            print(f"snnc/{p}: time {r['time_min']:.2f} (min) {r['time_median']:.2f} (median), "
                  f"CPU time {r['cpu_time_median']:.2f} (median), memory {r['memory']:.2f}")
        print("steps clean by themselves (any round): " + ", ".join(
            f"{n} {t['clean_step_ms_median']:.0f} ms ({t['clean_steps']})" if t["clean_steps"]
            else f"{n} none" for n, t in s["systems"].items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, nargs="+", default=[32, 64])
    ap.add_argument("--T", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--infer", type=int, default=3, help="timed inference forwards per run")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads per process")
    ap.add_argument("--device", default="cpu", help="cpu, cuda[:N] or auto (CUDA when usable)")
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--max-other", type=float, default=0.05,
                    help="drop a round where other processes used more than this CPU fraction")
    ap.add_argument("--json", action="store_true", help="print the raw runs and summary as JSON")
    ap.add_argument("--from-json", metavar="FILE",
                    help="print the table of a saved --json output again (e.g. with another --max-other)")
    ap.add_argument("--worker", choices=SYSTEMS, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            saved = json.load(f)
        systems = list(dict.fromkeys(r["system"] for r in saved["runs"]))
        print_table(summarise(saved["runs"], systems, args.max_other), args.max_other)
        return
    if args.worker:
        args.batch = args.batch[0]
        print(json.dumps(worker(args)))
        return
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            ap.error(f"--device {args.device}: torch sees no usable CUDA device")
    systems = [s for s in args.systems.split(",") if s]
    for s in systems:
        if s not in SYSTEMS:
            ap.error(f"unknown system {s!r}; known: {', '.join(SYSTEMS)}")
        why = available(s)
        if why:
            print(f"skipping {s}: {why}", file=sys.stderr)
    systems = [s for s in systems if not available(s)]
    runs = []
    for batch in args.batch:
        for k in range(args.rounds):
            for s in systems:
                r = spawn(s, batch, args)
                r["round"] = k
                runs.append(r)
                print(f"batch {batch} round {k + 1}/{args.rounds} {s}: median "
                      f"{statistics.median(r['step_ms']):.0f} ms/step, others max "
                      f"{100 * max(r['other_cpu']):.0f} % CPU", file=sys.stderr)
    summary = summarise(runs, systems, args.max_other)
    if args.json:
        import torch

        print(json.dumps({"benchmark": "peers", "argv": sys.argv[1:], "T": args.T,
                          "threads": args.threads, "device": args.device, "torch": torch.__version__,
                          "python": platform.python_version(), "cpus": os.cpu_count(),
                          "max_other": args.max_other, "summary": summary, "runs": runs}, indent=2))
    else:
        print_table(summary, args.max_other)


if __name__ == "__main__":
    main()
