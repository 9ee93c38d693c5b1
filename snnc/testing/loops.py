"""Random layered networks with long recurrent loops, for the hardware-timing tests.

:func:`~snnc.testing.random_graph.random_graph`'s backward edges mostly close one-hop loops (a
neuron feeding itself), which hardware timing leaves alone. These graphs close loops over several
layers with little delay, so most of them need the ``hop-timing`` pass::

    in -> fc0 -> l0 -> fc1 -> l1 -> ... -> l{n-1} -> head -> Output
    plus forward skips   l_a -> sk{a}_{b} -@0..1-> l_b   (b > a + 1)
    and backward edges   l_j -> bk{j}_{i} -@1..2 (backward)-> l_i   (i <= j)

Every weight is a seeded Linear layer; the feature width is 6.
"""
from __future__ import annotations

import numpy as np

from ..ir.graph import BACKWARD, Graph
from ..ir.verify import verify

WIDTH = 6


def random_loops(seed: int, *, neurons: tuple[str, ...] = ("LIF",), layers: int | None = None,
                 T: int = 6) -> Graph:
    """A verified random layered graph (module docstring) over ``T`` steps, input ``[WIDTH]``,
    4 classes; each neuron op drawn uniformly from ``neurons``; LIFs with a hard reset and
    random leak and threshold; ``layers`` neuron layers (default 3..6)."""
    rng = np.random.default_rng(seed)
    n = int(layers or rng.integers(3, 7))
    g = Graph({"name": f"loops-{seed}", "T": T, "classes": 4})
    g.add_node("in", "Input", {"shape": (WIDTH,)})

    def linear(name: str, fout: int = WIDTH, gain: float = 1.6) -> str:
        g.add_node(name, "Linear", {"in_features": WIDTH, "out_features": fout},
                   {"weight": rng.normal(0, gain / np.sqrt(WIDTH), (fout, WIDTH)),
                    "bias": rng.normal(0, 0.1, fout)})
        return name

    prev = "in"
    for k in range(n):
        op = str(neurons[int(rng.integers(len(neurons)))])
        attrs = {} if op == "ReLU" else {"beta": float(rng.uniform(0.3, 0.9)),
                                         "v_th": float(rng.uniform(0.3, 0.7))}
        g.add_node(f"l{k}", op, attrs)
        g.add_edge(linear(f"fc{k}"), f"l{k}")
        g.add_edge(prev, f"fc{k}")
        prev = f"l{k}"
    for a in range(n):
        for b in range(a + 2, n):
            if rng.random() < 0.3:
                g.add_edge(f"l{a}", linear(f"sk{a}_{b}", gain=0.8))
                g.add_edge(f"sk{a}_{b}", f"l{b}", delay=int(rng.integers(0, 2)))
    loops = 0
    for j in range(n):
        for i in range(j + 1):
            if rng.random() < (0.25 if i < j else 0.1) or (loops == 0 and (i, j) == (0, n - 1)):
                g.add_edge(f"l{j}", linear(f"bk{j}_{i}", gain=0.8))
                g.add_edge(f"bk{j}_{i}", f"l{i}", delay=int(rng.integers(1, 3)), kind=BACKWARD)
                loops += 1
    g.add_edge(prev, linear("head", fout=4))
    g.add_node("out", "Output")
    g.add_edge("head", "out")
    return verify(g)
