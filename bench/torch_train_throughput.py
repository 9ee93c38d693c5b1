"""Training-throughput benchmark of the torch backend (multi-step execution, fused LIF BPTT).

Workload: a 4-conv-layer spiking CNN built by hand as an IR graph, compiled with
``snnc.backends.torch.compile``::

    Input (3, 32, 32) -> conv3x3(3->64)-BN -> LIF -> conv3x3(64->128)-BN -> LIF -> avgpool 2
      -> conv3x3(128->128)-BN -> LIF -> conv3x3(128->128)-BN -> LIF -> GAP -> Linear(128->10)
      -> Output

LIF: SpikingJelly-style tau = 2 (beta = alpha = 0.5), v_th 1, hard reset, detached reset, atan
surrogate alpha = 2 (STTS appendix B). Direct encoding, T = 4, batch 32, random data; one training
step = forward, cross-entropy on the time-mean output, backward, SGD (momentum 0.9, wd 1e-4).
A few warm-up steps, then timed steps. Prints one JSON object: images/s, ms per step, minor page
faults per step and peak RSS (``resource.getrusage``, MiB) and, on CUDA, the caching allocator's
peak. ``--compare-step`` also
times the same network run step by step (``mode="step"``), the execution a model with backward
edges everywhere would get.

    .venv/bin/python bench/torch_train_throughput.py [--batch 32] [--T 4] [--steps 10]
        [--warmup 3] [--threads N] [--device cpu|cuda|auto] [--compare-step]
"""
import argparse
import json
import platform
import resource
import sys
import time

import numpy as np
import torch

from snnc.backends.torch import compile, resolve_device
from snnc.ir import Graph, verify

LIF = {"beta": 0.5, "alpha": 0.5, "v_th": 1.0, "reset": "hard", "detach_reset": True,
       "surrogate": "atan", "surrogate_arg": 2.0}


def build_graph(T: int = 4, classes: int = 10, seed: int = 0) -> Graph:
    """The benchmark network as an IR graph (Kaiming-normal conv weights, fresh BatchNorm)."""
    rng = np.random.default_rng(seed)
    g = Graph({"name": "bench-4conv", "T": T, "classes": classes, "encoding": "direct"})
    g.add_node("in", "Input", {"shape": (3, 32, 32)})
    chain = ["in"]

    def conv_bn_lif(name: str, cin: int, cout: int) -> None:
        w = rng.normal(0, np.sqrt(2.0 / (cin * 9)), (cout, cin, 3, 3))
        g.add_node(f"{name}.conv", "Conv2d", {"in_channels": cin, "out_channels": cout, "kernel": 3,
                                              "padding": 1, "bias": False}, {"weight": w})
        g.add_node(f"{name}.bn", "BatchNorm2d", {"num_features": cout},
                   {"weight": np.ones(cout), "bias": np.zeros(cout),
                    "running_mean": np.zeros(cout), "running_var": np.ones(cout)})
        g.add_node(f"{name}.lif", "LIF", dict(LIF))
        chain.extend([f"{name}.conv", f"{name}.bn", f"{name}.lif"])

    conv_bn_lif("l1", 3, 64)
    conv_bn_lif("l2", 64, 128)
    g.add_node("pool", "AvgPool2d", {"kernel": 2})
    chain.append("pool")
    conv_bn_lif("l3", 128, 128)
    conv_bn_lif("l4", 128, 128)
    g.add_node("gap", "GlobalAvgPool")
    g.add_node("fc", "Linear", {"in_features": 128, "out_features": classes},
               {"weight": rng.normal(0, 1 / np.sqrt(128), (classes, 128)),
                "bias": np.zeros(classes)})
    g.add_node("out", "Output")
    chain.extend(["gap", "fc", "out"])
    for a, b in zip(chain, chain[1:]):
        g.add_edge(a, b)
    return verify(g)


def time_training(graph: Graph, mode: str, args) -> dict:
    device = resolve_device(args.device)
    model = compile(graph, mode=mode, device=device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, 3, 32, 32, generator=gen).to(device)
    y = torch.randint(0, 10, (args.batch,), generator=gen).to(device)

    def step() -> float:
        out = model(x, T=args.T)  # [T, B, classes]
        loss = torch.nn.functional.cross_entropy(out.mean(0), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()  # synchronises on CUDA

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0
    total = sum(times)
    result = {"mode": mode, "images_per_s": round(args.batch * args.steps / total, 2),
              "ms_per_step_mean": round(1e3 * total / args.steps, 2),
              "ms_per_step_min": round(1e3 * min(times), 2),
              "page_faults_per_step": round(faults / args.steps)}
    if device.type == "cuda":
        mib = 2**20
        result["cuda_peak_allocated_mib"] = round(torch.cuda.max_memory_allocated(device) / mib, 1)
        result["cuda_peak_reserved_mib"] = round(torch.cuda.max_memory_reserved(device) / mib, 1)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--T", type=int, default=4)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: default)")
    ap.add_argument("--device", default="cpu", help="cpu, cuda[:N] or auto (CUDA when usable)")
    ap.add_argument("--compare-step", action="store_true",
                    help="also time mode='step' (every node step by step)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    graph = build_graph(args.T)
    runs = [time_training(graph, "multi", args)]
    rss_multi = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB -> MiB on Linux
    if args.compare_step:
        runs.append(time_training(graph, "step", args))
    print(json.dumps({
        "benchmark": "torch_train_throughput", "network": "4conv-64-128 (IR, hand-built)",
        "input": [3, 32, 32], "T": args.T, "batch": args.batch, "steps": args.steps,
        "warmup": args.warmup, "device": args.device, "dtype": str(torch.get_default_dtype()),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "python": platform.python_version(), "params": graph.num_params(),
        "runs": runs, "peak_rss_mib_after_multi": round(rss_multi, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "torch_cpu_allocator_stats": None,  # torch keeps no CPU allocator statistics
        "argv": sys.argv[1:],
    }, indent=2))


if __name__ == "__main__":
    main()
