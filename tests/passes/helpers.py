"""Shared checks for pass tests: random cases, purity snapshots, interpreter equivalence.

``case(seed)`` is cached for the session: tests must not modify the graph or trace it returns
(passes never do; :func:`check_pass` asserts it).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from snnc.ir import Graph, run, verify
from snnc.ir.interpret import Trace
from snnc.ir.ops import NEURON_OPS, SPIKING_NEURON_OPS
from snnc.testing.random_graph import random_graph, random_input

SEEDS = range(40)
RTOL = ATOL = 1e-9


@lru_cache(maxsize=None)
def case(seed: int) -> tuple[Graph, np.ndarray, Trace]:
    """Random graph ``seed`` with every neuron model (LIF, ALIF, PLIF, ReLU), a random input
    sequence for it (batch 2) and its reference trace."""
    g = random_graph(seed, neurons=NEURON_OPS)
    x = random_input(g, seed=10_000 + seed, batch=2)
    return g, x, run(g, x)


def snapshot(g: Graph):
    """Everything about a graph, params as bytes, for exact before/after comparisons; the record
    of passes run (``meta["passes"]``, ``meta["passes_changed"]``) is history, not the graph."""
    nodes = [(n.name, n.op, repr(n.attrs), n.shape, n.loc, repr(n.meta),
              [(k, v.dtype.str, v.shape, v.tobytes()) for k, v in n.params.items()]) for n in g]
    meta = {k: v for k, v in g.meta.items() if k not in ("passes", "passes_changed")}
    return repr(meta), nodes, list(g.edges)


def assert_equivalent(before: Graph, after: Graph, x: np.ndarray, trace: Trace | None = None, *,
                      same: dict[str, str] | None = None, v_scale: dict[str, float] | None = None):
    """``after`` computes what ``before`` does on ``x``.

    The Output agrees (allclose); every spiking neuron (LIF, ALIF, PLIF; a PLIF may have become a
    LIF) present in both emits exactly the same spikes and has membrane potentials
    ``v_before * v_scale.get(name, 1)`` (allclose); every other node of ``after`` named in
    ``same`` (after-name -> before-name; default: every node present in both that is not a
    spiking neuron) has the value of that ``before`` node (allclose).
    """
    tb = trace if trace is not None else run(before, x)
    ta = run(after, x)
    np.testing.assert_allclose(ta.output, tb.output, rtol=RTOL, atol=ATOL, err_msg="Output")
    v_scale = v_scale or {}
    lifs = [n.name for n in after.nodes_of(*SPIKING_NEURON_OPS) if n.name in before.nodes]
    for name in lifs:
        assert before[name].op == after[name].op or (before[name].op, after[name].op) == (
            "PLIF", "LIF")
        np.testing.assert_array_equal(ta.outputs[name], tb.outputs[name],
                                      err_msg=f"spikes of {name}")
        np.testing.assert_allclose(ta.v[name], tb.v[name] * v_scale.get(name, 1.0), rtol=RTOL,
                                   atol=ATOL, err_msg=f"membrane of {name}")
    if same is None:
        same = {n: n for n in after.nodes
                if n in before.nodes and after[n].op not in SPIKING_NEURON_OPS}
    for a, b in same.items():
        np.testing.assert_allclose(ta.outputs[a], tb.outputs[b], rtol=RTOL, atol=ATOL,
                                   err_msg=f"value of {a} (was {b})")


def check_pass(p, seed: int):
    """Run pass ``p`` on random case ``seed``: pure, result verifies, ``changed`` is honest.
    Returns ``(before, result, x, trace)``."""
    g, x, trace = case(seed)
    snap = snapshot(g)
    result = p(g)
    assert snapshot(g) == snap, f"{p.name} modified its input graph"
    assert result.graph is not g
    verify(result.graph)
    if not result.changed:
        assert snapshot(result.graph) == snap, f"{p.name} changed the graph but said it did not"
        assert not [n for n in result.notes if not n.startswith("kept")]
    return g, result, x, trace


def lif_count(g: Graph) -> int:
    """Number of spiking neuron nodes."""
    return len(g.nodes_of(*SPIKING_NEURON_OPS))


def v_scale(before: Graph, after: Graph) -> dict[str, float]:
    """fold-scale's membrane factor of every spiking neuron in both: ``V' = V / s`` exactly as
    ``v_th' = v_th / s``."""
    return {n.name: after[n.name].attrs["v_th"] / n.attrs["v_th"]
            for n in before.nodes_of(*SPIKING_NEURON_OPS) if n.name in after.nodes}
