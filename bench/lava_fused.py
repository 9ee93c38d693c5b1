"""Lava simulation speed and footprint, whole-network fused process model against one Lava process
per neuron and synapse (``snnc lava --processes fused|layer``). Three parts, JSON on stdout:

``presets``  every zoo preset shrunk to channels 4 (hidden 16, vote 2) with 1x8x8 inputs and T = 2
             (as ``tests/zoo/test_presets_small.py`` shrinks them), deploy-prepared for Lava, run
             on ``--images`` random images: OS processes Lava started, peak memory of the whole
             process tree (sum of RSS, and of PSS, which counts pages shared after fork once),
             seconds; or the planner's refusal. ``--modes`` picks the mappings (default fused).
``stage``    a TANet-like stage: tanet-tiny's stem and its first graph stage (32 nodes, BA
             topology and delays of the preset) at 16 channels and stride 1 on 2x16x16 inputs,
             T = 4, thresholds set for about ``--rate`` firing (untrained weights): Lava steps per
             second per mapping, modes interleaved (fused, layer, fused...)
             over ``--repeats`` rounds of ``--images`` images each, after one warm-up image.
``demo``     a trained run folder (default out/demo/run, ``make demo``'s), ``snnc lava RUN --samples N``
             per mapping, interleaved: seconds per image, accuracy, agreement, equal layers.

Every figure carries the machine load (``os.getloadavg``) at its start and end: the machine may be
shared, so compare modes within one round.

    .venv/bin/python bench/lava_fused.py presets [--images 2] [--modes fused layer]
    .venv/bin/python bench/lava_fused.py stage [--images 2] [--repeats 2] [--modes fused layer]
    .venv/bin/python bench/lava_fused.py demo [--run out/demo/run] [--samples 100]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import threading
import time
from pathlib import Path

import numpy as np

from snnc.zoo.small import reduced


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()]


def _tree_memory(pid: int) -> tuple[int, int]:
    """Sum of RSS and of PSS (bytes) over ``pid`` and all its descendants."""
    import psutil
    try:
        procs = [psutil.Process(pid)]
        procs += procs[0].children(recursive=True)
    except psutil.Error:
        return 0, 0
    rss = pss = 0
    for p in procs:
        try:
            full = p.memory_full_info()
            rss += full.rss
            pss += getattr(full, "pss", full.rss)
        except psutil.Error:
            pass
    return rss, pss


class PeakMemory:
    """Samples the process tree's memory every ``every`` seconds in a thread; peaks in MiB."""

    def __init__(self, every: float = 0.2):
        self.every, self.rss, self.pss = every, 0, 0
        self._stop = threading.Event()

    def _loop(self):
        while not self._stop.is_set():
            rss, pss = _tree_memory(os.getpid())
            self.rss, self.pss = max(self.rss, rss), max(self.pss, pss)
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def mib(self) -> dict:
        return {"peak_rss_mib": round(self.rss / 2**20), "peak_pss_mib": round(self.pss / 2**20)}


# ------------------------------------------------------------------------------------ presets
def _deploy_graph(genome, timing="ir"):
    from snnc.frontend import lower
    from snnc.ir import verify
    from snnc.passes.hop_timing import apply_timing
    from snnc.passes.targets import prepare
    graph, _ = prepare(apply_timing(verify(lower(genome, seed=0)), timing), "lava")
    return graph


def _simulate(graph, x, mode):
    """Build, run ``x`` once, close; the numbers of one mapping."""
    from snnc.backends.lava import build
    out = {"mode": mode, "load_before": _load()}
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        with build(graph, processes=mode) as net:
            res = net.run(x)
            kids = len(net._children)
            plan = net.plan
        seconds = time.perf_counter() - t0
    out.update(os_processes=kids, seconds=round(seconds, 2), **mem.mib(),
               lava_steps=res.timing["steps"], load_after=_load())
    out["layer_processes"] = (len(plan.neurons) + sum(not s.direct for s in plan.synapses)
                              + len(plan.fed))
    return out, res


def bench_presets(args) -> dict:
    from snnc import zoo
    from snnc.backends.lava import fused_process  # noqa: F401 - imports lava before any timing
    from snnc.errors import SnncError
    rows = []
    for name in args.presets or zoo.names():
        row = {"preset": name}
        from snnc.backends.lava import plan
        try:
            graph = _deploy_graph(reduced(zoo.load(name)))
            p = plan(graph)
        except SnncError as exc:
            row["refused"] = str(exc).splitlines()[0]
            rows.append(row)
            print(json.dumps(row), flush=True)
            if "cannot be balanced" not in row["refused"]:
                continue
            # a loop shorter than its synaptic hops: deploy it as hardware timing trains it
            row = {"preset": f"{name}, hardware timing"}
            graph = _deploy_graph(reduced(zoo.load(name)), timing="hardware")
            p = plan(graph)
        row.update(lif=len(p.neurons), synapse_processes=sum(not s.direct for s in p.synapses),
                   injectors=len(p.fed), lava_steps_per_image=p.steps)
        x = np.random.default_rng(0).uniform(0, 1, (args.images,) + tuple(graph.input_node.shape))
        spikes = {}
        for mode in args.modes:
            r, res = _simulate(graph, x, mode)
            row[mode] = r
            spikes[mode] = res.spikes
        if len(spikes) == 2:
            a, b = spikes.values()
            row["spikes_equal"] = all(np.array_equal(a[k], b[k]) for k in a)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return {"part": "presets", "images": args.images, "rows": rows}


# ------------------------------------------------------------------------------------ stage
def stage_graph(channels=16, size=16, T=4):
    """tanet-tiny's stem + first 32-node graph stage, ``channels`` wide, stride 1, on
    ``2 x size x size`` inputs; head: GAP -> Linear (no hidden layer, no vote)."""
    from snnc import zoo
    g = zoo.load("tanet-tiny")
    blocks = []
    for block in g.blocks:
        if block.kind == "stage" and block.name == "s4":
            continue
        attrs = dict(block.attrs)
        if "channels" in attrs:
            attrs["channels"] = channels if block.kind == "stage" else 0
        if block.kind == "stage" and "stride" in attrs:
            attrs["stride"] = 1
        if "dropout" in attrs:
            attrs["dropout"] = 0.0
        if "vote" in attrs:
            attrs["vote"] = 0
        blocks.append(dataclasses.replace(block, attrs=tuple(attrs.items())))
    genome = dataclasses.replace(g, blocks=tuple(blocks), input_shape=(2, size, size), T=T,
                                 name="tanet-stage")
    return _deploy_graph(genome)


def calibrate(graph, x, rate: float):
    """Set every LIF's ``v_th`` (topological order, upstream ones already set) to the
    ``1 - rate`` quantile of its membrane potential ``H`` on ``x``, so that untrained weights fire
    at about ``rate`` (the fused model's work grows with the spikes; near-silent layers would
    flatter it)."""
    from snnc.ir.interpret import Interpreter

    class Membranes(Interpreter):
        def op_lif(self, node, inp, t):
            a = node.attrs
            v = self.state[node.name].get("v")
            v = np.full_like(inp, a["v_rest"]) if v is None else v
            self.h.setdefault(node.name, []).append(
                a["v_rest"] + a["beta"] * (v - a["v_rest"]) + a["alpha"] * inp)
            return super().op_lif(node, inp, t)

    for name in graph.topological_order():
        node = graph[name]
        if node.op != "LIF":
            continue
        it = Membranes(graph, check=False)
        it.h = {}
        it.run(x)
        h = np.stack(it.h[name])
        node.attrs["v_th"] = float(max(np.quantile(h, 1.0 - rate), node.attrs["v_reset"] + 1e-3))
    return graph


def bench_stage(args) -> dict:
    from snnc.backends.lava import build, plan
    graph = stage_graph(args.channels, args.size)
    x = np.random.default_rng(0).uniform(0, 1, (args.images,) + tuple(graph.input_node.shape))
    calibrate(graph, x, args.rate)
    p = plan(graph)
    info = {"part": "stage", "channels": args.channels, "size": args.size,
            "lif": len(p.neurons), "synapse_processes": sum(not s.direct for s in p.synapses),
            "injectors": len(p.fed), "lava_steps_per_image": p.steps, "images": args.images,
            "rounds": []}
    nets = {}
    try:
        for mode in args.modes:  # built and warmed up once each: steps/s of a running network
            t0 = time.perf_counter()
            nets[mode] = build(graph, processes=mode)
            nets[mode].run(x[:1])
            info[f"{mode}_setup_s"] = round(time.perf_counter() - t0, 2)
            info[f"{mode}_os_processes"] = len(nets[mode]._children)
        for r in range(args.repeats):
            row = {}
            for mode in args.modes:
                load = _load()
                t0 = time.perf_counter()
                res = nets[mode].run(x)
                dt = time.perf_counter() - t0
                row[mode] = {"steps_per_s": round(args.images * p.steps / dt, 2),
                             "s_per_image": round(dt / args.images, 3), "load_before": load,
                             "load_after": _load()}
                row[mode]["_spikes"] = res.spikes
            if len(args.modes) == 2:
                a, b = (row[m].pop("_spikes") for m in args.modes)
                row["spikes_equal"] = all(np.array_equal(a[k], b[k]) for k in a)
                row["speedup"] = round(row[args.modes[0]]["steps_per_s"]
                                       / row[args.modes[1]]["steps_per_s"], 1)
            else:
                row[args.modes[0]].pop("_spikes")
            info["rounds"].append(row)
            print(json.dumps(row), flush=True)
        rates = [float(v.mean()) for v in res.spikes.values()]
        info["firing_rate"] = {"mean": round(float(np.mean(rates)), 3),
                               "min": round(min(rates), 3), "max": round(max(rates), 3)}
    finally:
        for net in nets.values():
            net.close()
    return info


# ------------------------------------------------------------------------------------ demo
def bench_demo(args) -> dict:
    from snnc.runtime.lava_check import lava_check
    rows = []
    for r in range(args.repeats):
        for mode in args.modes:
            load = _load()
            with PeakMemory() as mem:
                rep = lava_check(args.run, samples=args.samples, processes=mode)
            row = {"round": r, "mode": mode, "s_per_image": round(rep.seconds_per_image, 4),
                   "lava_accuracy": rep.lava_accuracy,
                   "prediction_agreement": rep.prediction_agreement,
                   "layers_equal": f"{rep.layers_equal}/{len(rep.layers)}", **mem.mib(),
                   "load_before": load, "load_after": _load()}
            rows.append(row)
            print(json.dumps(row), flush=True)
    return {"part": "demo", "run": str(args.run), "samples": args.samples, "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("part", choices=["presets", "stage", "demo"])
    ap.add_argument("--images", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--modes", nargs="+", default=None, choices=["fused", "layer"])
    ap.add_argument("--presets", nargs="*", help="presets part: these presets only")
    ap.add_argument("--channels", type=int, default=16)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--rate", type=float, default=0.15, help="stage part: target firing rate")
    ap.add_argument("--run", type=Path, default=Path("out/demo/run"))
    ap.add_argument("--samples", type=int, default=100)
    args = ap.parse_args()
    if args.modes is None:
        args.modes = ["fused"] if args.part == "presets" else ["fused", "layer"]
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    out = {"presets": bench_presets, "stage": bench_stage, "demo": bench_demo}[args.part](args)
    out.update(benchmark="lava_fused", wall_s=round(time.perf_counter() - t0, 1), cpus=os.cpu_count())
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
