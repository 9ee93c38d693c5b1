"""Training-free scoring speed: candidates scored per second at widths C = 16, 32, 128 with
SNASNet's search settings (batch 256, T = 5 as for CIFAR-100, SAHD kernel over every LIF layer and
step), on CIFAR-shaped inputs (3x32x32, standard-normal values: the time does not depend on the
pixels). Each candidate is lowered, compiled and scored exactly as ``snnc search snasnet`` scores it
(one process, ``--threads`` torch threads); ``kernel_s`` is the part spent building the kernels and
their log-determinants from the recorded spikes; ``forward_s`` is the throughput floor, one
plain forward pass of the same network (no probe, no kernel, ``torch.inference_mode``), and
``forward_share`` its share of the whole scoring time; ``module_build_s`` is the torch module's
construction (weights from the IR). ``cpu_seconds_per_candidate`` (process CPU time)
tells how much of the wall time was waiting for a busy machine.

    .venv/bin/python bench/proxy_speed.py [--widths 16,32,128] [--count 3] [--space stts-small]
"""
import argparse
import json
import statistics
import time

import numpy as np
import torch

from snnc.backends.torch import compile as compile_torch
from snnc.compiler import compile_genome
from snnc.search import proxies
from snnc.search.snasnet import SearchConfig, score_candidate
from snnc.search.spaces import make_space


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", default="16,32,128")
    ap.add_argument("--count", type=int, default=3, help="candidates per width")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--T", type=int, default=5)
    ap.add_argument("--space", default="stts-small",
                    help="stts-small, or snasnet-bw/-fw once the frontend lowers cells")
    ap.add_argument("--score", default="sahd", choices=proxies.KINDS)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"],
                    help="where candidates are scored")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    batches = [(rng.standard_normal((args.batch, 3, 32, 32)).astype(np.float32),
                rng.integers(0, 10, args.batch))]
    results = []
    for width in (int(w) for w in args.widths.split(",")):
        cfg = SearchConfig(space=args.space, dataset="cifar10", candidates=args.count,
                           score=args.score, channels=width, T=args.T, batch_size=args.batch,
                           threads=args.threads)
        space = make_space(args.space, channels=width, T=args.T, input_shape=(3, 32, 32),
                           classes=10)
        seconds, cpu, kernel, neurons, forward, build = [], [], [], [], [], []
        for seed in range(args.count):
            text = space.sample(seed).text
            c0 = time.process_time()
            _, secs = score_candidate(text, cfg, batches, 10, args.device)
            cpu.append(time.process_time() - c0)
            seconds.append(secs)
            graph = compile_genome(text, passes="none").graph
            neurons.append(sum(int(np.prod(n.shape)) for n in graph if n.op == "LIF"))
            t0 = time.perf_counter()
            module = compile_torch(graph)
            build.append(time.perf_counter() - t0)
            proxies.search_mode(module, "batch")
            x = torch.from_numpy(batches[0][0])
            with torch.inference_mode():
                t0 = time.perf_counter()
                module(x)  # the floor: the network alone, no probe, no kernel
                forward.append(time.perf_counter() - t0)
                with module.probing(ops=("LIF",)):
                    module(x)
            t0 = time.perf_counter()
            proxies.naswot_scores(module.records)
            kernel.append(time.perf_counter() - t0)
        med = statistics.median(seconds)
        results.append({"channels": width, "candidates": args.count,
                        "seconds_per_candidate": round(med, 3),
                        "candidates_per_second": round(1.0 / med, 4),
                        "cpu_seconds_per_candidate": round(statistics.median(cpu), 3),
                        "kernel_s": round(statistics.median(kernel), 3),
                        "forward_s": round(statistics.median(forward), 3),
                        "module_build_s": round(statistics.median(build), 3),
                        "forward_share": round(statistics.median(forward) / med, 3),
                        "lif_neurons_per_sample_step": int(statistics.median(neurons))})
    print(json.dumps({"benchmark": "proxy_speed", "space": args.space, "score": args.score,
                      "batch": args.batch, "T": args.T, "input": "3x32x32",
                      "threads": args.threads, "torch": torch.__version__,
                      "results": results}, indent=2))


if __name__ == "__main__":
    main()
