"""Facts about cell genomes (SNASNet) that several layers need: which cell nodes are live."""
from __future__ import annotations


def live_nodes(n: int, edges) -> set[int]:
    """Nodes reachable from 0 and reaching ``n - 1`` over all (non-zero) edges, forward and
    backward (the authors' pruning; also what :func:`snnc.search.cells.prune` keeps)."""
    succ: dict[int, set[int]] = {i: set() for i in range(n)}
    pred: dict[int, set[int]] = {i: set() for i in range(n)}
    for e in edges:
        succ[e.src].add(e.dst)
        pred[e.dst].add(e.src)
    return _closure(0, succ) & _closure(n - 1, pred)


def _closure(start: int, nbrs: dict[int, set[int]]) -> set[int]:
    seen, todo = {start}, [start]
    while todo:
        for j in nbrs[todo.pop()]:
            if j not in seen:
                seen.add(j)
                todo.append(j)
    return seen
