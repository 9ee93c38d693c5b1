"""A small hand-built graph whose layer counts are computed by hand in the tests.

Edges (all delay 0 unless marked)::

    in -> c1 (Conv 1->2, 3x3, pad 1; MACs 288) -> lif1
    lif1 -> bn2 -> c3 (Conv 2->2, 1x1; MACs 64; input BatchNorm: dense) -> lif3
    lif1, lif3 -> pool (AvgPool 2; MACs 32; two spike edges summed) -> flat -> fc1 (8->4; MACs 32)
    fc1 -> lif2 -> scale (0.5) -> fc2 (4->3; MACs 12), and lif2 -> fc2 @1
    fc1 -> fc3 (4->3; MACs 12; input dense)
    fc2, fc3 -> out
"""
from __future__ import annotations

import numpy as np

from snnc.ir import Graph


def hand_graph(T: int = 2) -> Graph:
    rng = np.random.default_rng(0)
    g = Graph({"name": "hand", "T": T, "classes": 3, "encoding": "direct"})
    g.add_node("in", "Input", {"shape": (1, 4, 4)})
    g.add_node("c1", "Conv2d", {"in_channels": 1, "out_channels": 2, "kernel": 3, "padding": 1},
               {"weight": rng.normal(0, 1, (2, 1, 3, 3))})
    g.add_node("lif1", "LIF", {"beta": 0.5, "v_th": 0.5})
    g.add_node("bn2", "BatchNorm2d", {"num_features": 2},
               {"weight": np.ones(2), "bias": np.full(2, 0.1), "running_mean": np.zeros(2),
                "running_var": np.ones(2)})
    g.add_node("c3", "Conv2d", {"in_channels": 2, "out_channels": 2, "kernel": 1},
               {"weight": rng.normal(0, 1, (2, 2, 1, 1))})
    g.add_node("lif3", "LIF", {"beta": 0.5, "v_th": 0.5})
    g.add_node("pool", "AvgPool2d", {"kernel": 2})
    g.add_node("flat", "Flatten")
    g.add_node("fc1", "Linear", {"in_features": 8, "out_features": 4},
               {"weight": rng.normal(0, 1, (4, 8)), "bias": np.zeros(4)})
    g.add_node("lif2", "LIF", {"beta": 0.5, "v_th": 0.5})
    g.add_node("scale", "Scale", {"scale": 0.5})
    g.add_node("fc2", "Linear", {"in_features": 4, "out_features": 3},
               {"weight": rng.normal(0, 1, (3, 4)), "bias": np.zeros(3)})
    g.add_node("fc3", "Linear", {"in_features": 4, "out_features": 3},
               {"weight": rng.normal(0, 1, (3, 4)), "bias": np.zeros(3)})
    g.add_node("out", "Output")
    for a, b in [("in", "c1"), ("c1", "lif1"), ("lif1", "bn2"), ("bn2", "c3"), ("c3", "lif3"),
                 ("lif1", "pool"), ("lif3", "pool"), ("pool", "flat"), ("flat", "fc1"),
                 ("fc1", "lif2"), ("lif2", "scale"), ("scale", "fc2"), ("fc1", "fc3"),
                 ("fc2", "out"), ("fc3", "out")]:
        g.add_edge(a, b)
    g.add_edge("lif2", "fc2", delay=1)
    return g
