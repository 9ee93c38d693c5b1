"""Random supernets: :func:`~snnc.testing.random_graph.random_graph` with choice points inserted.

:func:`random_supernet` takes a random graph (delays, backward edges, cycles) and, at ``choices``
in-edges ``s -@d-> y`` of distinct single-port nodes ``y``, inserts a choice node ``c``::

    s -@d-> c:0,   z_j -@d_j-> c:j (j = 1..k-1),   c -> y

``c`` is a ``Choice`` (optional where ``y`` has another forward input, so ``-1`` leaves it fed) or a
``WeightedMix`` with random ``alpha``. Each alternative ``z_j`` is a node of ``s``'s shape, read
directly or through a fresh ``Scale`` that feeds nothing else (so an unselected port leaves work
that the torch backend must skip); an edge that would close a zero-delay cycle gets a delay >= 1
and kind ``backward``. Alternatives downstream of ``y`` (at any delay) are drawn only where ``y``
has another forward input, else selecting one would cut ``y`` off from the Input (which
``resolve-choices`` refuses). Port 0 keeps the original edge, so the all-zero assignment is the
original graph. :func:`random_assignment` draws an assignment for a supernet.
"""
from __future__ import annotations

import numpy as np
import networkx as nx

from ..ir.graph import BACKWARD, FORWARD, Graph
from ..ir.ops import CHOICE_OPS, op_def
from ..ir.verify import verify
from .random_graph import random_graph


def random_supernet(seed: int, *, choices: int = 4, mixes: bool = True, **graph_kw) -> Graph:
    """A random supernet (module docstring), the same for the same arguments.

    Args:
        seed: seeds the base graph and every insertion.
        choices: how many choice nodes to insert (fewer if the graph has fewer candidate edges).
        mixes: also insert WeightedMix nodes (else Choice only).
        **graph_kw: passed to :func:`random_graph` (``neurons``, ``max_nodes``, ...).
    Returns:
        A verified graph with choice nodes named ``choice0``, ``choice1``, ...
    """
    g = random_graph(seed, **graph_kw)
    r = np.random.default_rng([seed, 11])
    used: set[str] = set()
    for i in range(choices):
        cands = [n.name for n in g if n.op not in ("Input", *CHOICE_OPS) and n.name not in used
                 and not op_def(n).multi_port and g.in_edges(n.name)]
        if not cands:
            break
        y = str(r.choice(cands))
        used.add(y)
        ins = g.in_edges(y)
        back = [e for e in ins if e.kind == BACKWARD]
        e = back[int(r.integers(len(back)))] if back and r.random() < 0.5 else \
            ins[int(r.integers(len(ins)))]
        shape = g[e.src].shape
        pool = [n.name for n in g if n.shape == shape and n.op not in ("Output", *CHOICE_OPS)
                and n.name != e.src]
        alts = [str(z) for z in r.choice(pool, size=min(len(pool), int(r.integers(0, 3))),
                                         replace=False)] if pool else []
        name = f"choice{i}"
        zero = g.to_networkx(zero_delay_only=True)
        ahead = nx.descendants(zero, y) | {y}  # a zero-delay edge from these would close a cycle
        # y must keep a forward input from the Input whatever is selected: ports read from nodes
        # downstream of y (at any delay), and -1, only where it has another forward in-edge
        others = any(x.kind == FORWARD for x in ins if x != e)
        if not others:
            down = g.reachable_from(y)
            alts = [z for z in alts if z not in down]
        k = 1 + len(alts)
        if alts and mixes and r.random() < 0.4:
            g.add_node(name, "WeightedMix", {"k": k}, {"alpha": r.normal(0, 1, k)})
        else:
            g.add_node(name, "Choice", {"k": k, "optional": bool(others and r.random() < 0.6)})
        g.remove_edge(e)
        g.add_edge(e.src, name, 0, e.delay, e.kind)
        for j, z in enumerate(alts, start=1):
            if r.random() < 0.5:
                scale = g.add_node(f"{name}.alt{j}", "Scale", {"scale": float(r.uniform(0.5, 1.5))})
                g.add_edge(z, scale.name, 0, 0 if z not in ahead else 1,
                           FORWARD if z not in ahead else BACKWARD)
                z, delay, kind = scale.name, int(r.integers(0, 2)), FORWARD
            elif z in ahead:
                delay, kind = int(r.integers(1, 3)), BACKWARD
            else:
                delay, kind = int(r.integers(0, 2)), FORWARD
            g.add_edge(z, name, j, delay, kind)
        g.add_edge(name, y)
        verify(g)
    return g


def random_assignment(graph: Graph, rng: np.random.Generator, *, mixes: float = 0.5
                      ) -> dict[str, int]:
    """A uniform port for every Choice (``-1`` among them where it is optional) and, with
    probability ``mixes``, for each WeightedMix (the others keep mixing)."""
    out: dict[str, int] = {}
    for node in graph.nodes_of(*CHOICE_OPS):
        k = node.attrs["k"]
        if node.op == "Choice":
            ports = list(range(k)) + ([-1] if node.attrs.get("optional") else [])
            out[node.name] = int(rng.choice(ports))
        elif rng.random() < mixes:
            out[node.name] = int(rng.integers(k))
    return out
