"""Lava (Loihi 2 simulation, floating point) throughput on the main job's network: an STTS
``mnist-small`` genome (seed 2: a 16-channel encoding layer, a 4-node 32-channel graph stage with
synaptic delays, GAP + Linear head), deploy-folded, T = 4, simulating ``--images`` images on one
running network, for each way of mapping convolutions (unrolled ``Sparse`` synapses, Lava's
``Conv`` process). Weights are the initial ones (the firing rates are printed): every synapse
process computes its full matrix-vector product or convolution at every step, so the time per
Lava step does not depend on how many neurons fire. One Lava process per neuron and synapse
(``processes="layer"``); the whole-network process is measured by ``bench/lava_fused.py``.

    .venv/bin/python bench/lava_throughput.py [--images 20] [--conv sparse conv]
"""
import argparse
import json
import time

import numpy as np

from snnc.backends.lava import build
from snnc.compiler import compile_genome
from snnc.genome import to_text
from snnc.ir import run
from snnc.search.stts import sample_stts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=20)
    ap.add_argument("--conv", nargs="+", default=["sparse", "conv"], choices=["sparse", "conv"])
    args = ap.parse_args()
    graph = compile_genome(to_text(sample_stts("mnist-small", 2))).graph
    x = np.random.default_rng(0).uniform(0, 1, (args.images,) + tuple(graph.input_node.shape))
    rates = {k: float(v.mean()) for k, v in run(graph, x[:4]).outputs.items()
             if graph[k].op == "LIF"}
    results = []
    for conv in args.conv:
        t0 = time.perf_counter()
        with build(graph, conv=conv, processes="layer") as net:  # fused: bench/lava_fused.py
            net.run(x[:1])  # starts the runtime (compile) and warms every process up
            t1 = time.perf_counter()
            net.run(x)
            t2 = time.perf_counter()
            steps = net.plan.steps
        results.append({"conv": conv, "setup_s": round(t1 - t0, 2),
                        "s_per_image": round((t2 - t1) / args.images, 4),
                        "ms_per_step": round((t2 - t1) / args.images / steps * 1e3, 2),
                        "steps_per_image": steps,
                        "lava_processes": len(net.lif) + len(net.conns) + len(net.sources)
                        + len(net.sinks)})
    print(json.dumps({"benchmark": "lava_throughput", "images": args.images, "T": graph.meta["T"],
                      "firing_rates": rates, "results": results}, indent=2))


if __name__ == "__main__":
    main()
