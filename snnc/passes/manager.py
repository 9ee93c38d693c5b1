"""Running passes: the registry, named pipelines, pipeline specs and the :class:`PassManager`.

The ``deploy`` pipeline and why its order is what it is::

    drop-training   first: a Dropout between a conv and its BatchNorm, between a depthwise and a
                    pointwise conv, or between a sink Scale and a neuron hides the pattern the
                    folding passes look for.
    freeze-plif     a trained PLIF is a LIF with its learned leak (Lava and NIR know LIF only);
                    before fold-scale, which then sees plain LIF neurons.
    remove-dead     before folding: a dead reader of a conv (or of a Scale) is "another consumer"
                    and would block fold-bn (fold-scale). Folding never makes a node dead (every
                    rewrite keeps each surviving node's paths to the Output), so it is not needed
                    again at the end.
    fold-bn         before fold-depthwise: a BatchNorm between the depthwise and the pointwise conv
                    follows the depthwise conv and folds into it, which makes the pair adjacent; one
                    after the pointwise conv folds into that. Fusing first would gain nothing, and a
                    BatchNorm that fold-bn leaves (its conv has other readers) still has them after
                    fusing, so fold-bn is not needed again.
    fold-depthwise
    fold-scale      independent of the conv folds; last so that it sees the final neurons.

Running ``deploy`` twice changes nothing the second time (tested).

Spec syntax for :func:`parse_pipeline` (``snnc compile --passes ...``): a pipeline name
(``deploy``, ``none``) or comma-separated pass or pipeline names, each pass with optional options
in braces: ``"drop-training,fold-scale{mode=input}"``. ``resolve-choices{assignment=a:0;b:-1}`` turns a
supernet into one candidate; it is in no pipeline, since only the caller knows the assignment.
``hop-timing`` (hardware timing: backward edges delayed by the steps a chip's synaptic hops add)
changes what a graph computes; it is in no pipeline either: training with ``--timing hardware``
runs it before the graph is compiled, so the trained model carries it.
"""
from __future__ import annotations

import difflib
import time
from dataclasses import dataclass, field, fields
from typing import Callable, Sequence

from ..errors import PassError, SnncError
from ..ir.graph import Graph
from ..ir.verify import verify
from .base import Pass, PassResult
from .dead_code import RemoveDead
from .drop_training import DropTraining
from .fold_bn import FoldBatchNorm
from .fold_depthwise import FoldDepthwise
from .fold_scale import FoldScale
from .freeze_plif import FreezePLIF
from .hop_timing import HopTiming
from .loihi_fixed import QuantizeLoihi
from .resolve_choices import ResolveChoices

#: Every pass by name.
PASSES: dict[str, type[Pass]] = {p.name: p for p in (
    DropTraining, FreezePLIF, RemoveDead, FoldBatchNorm, FoldDepthwise, FoldScale,
    ResolveChoices, QuantizeLoihi, HopTiming)}

#: Named pipelines: name -> pass names in order (see the module docstring for the order).
PIPELINES: dict[str, list[str]] = {
    "deploy": ["drop-training", "freeze-plif", "remove-dead", "fold-bn", "fold-depthwise",
               "fold-scale"],
    "none": [],
}


@dataclass
class PassRecord:
    """What one pass did: its spec (``name``), whether it ``changed`` the graph, its ``notes``,
    the node and edge counts before and after, and its run time in ms (verification excluded)."""

    name: str
    changed: bool
    notes: list[str] = field(default_factory=list)
    nodes_before: int = 0
    nodes_after: int = 0
    edges_before: int = 0
    edges_after: int = 0
    ms: float = 0.0

    def __str__(self) -> str:
        head = (f"{self.name}: {'changed' if self.changed else 'unchanged'}, "
                f"{self.nodes_before} -> {self.nodes_after} nodes, {self.ms:.1f} ms")
        return "\n".join([head] + [f"  {n}" for n in self.notes])


Hook = Callable[[PassRecord, Graph], None]


class PassManager:
    """Runs passes in order on a graph, verifying the input and (``verify_each``) every result.

    ``hook(record, graph)``, if given, is called after every pass with its record and the graph it
    produced (``--print-after``). Example::

        >>> graph, records = PassManager(parse_pipeline("deploy")).run(g)
        >>> print(records[2])
        fold-bn: changed, 31 -> 25 nodes, 0.6 ms
          folded 6 BatchNorm2d into Conv2d
    """

    def __init__(self, passes: Sequence[Pass], verify_each: bool = True, hook: Hook | None = None):
        self.passes = list(passes)
        self.verify_each = verify_each
        self.hook = hook
        for p in self.passes:
            if not isinstance(p, Pass):
                raise PassError(f"not a pass: {p!r}; build passes with parse_pipeline() or the "
                                f"classes in PASSES")

    def run(self, graph: Graph) -> tuple[Graph, list[PassRecord]]:
        """Run every pass; return the final graph and one :class:`PassRecord` per pass.

        The result records every pass it has been through, earlier runs included, in
        ``graph.meta["passes"]`` and those that changed it in ``graph.meta["passes_changed"]``
        (what :func:`passes_run` reads; artifacts keep both).

        ``graph`` is not modified (it is verified on a copy).

        Raises:
            PassError: the input does not verify (``"input graph does not verify: ..."``), or a
                pass failed or left a graph that does not verify: ``"error in pass fold-bn after
                passes [drop-training, remove-dead]: <message>"`` (the cause is chained).
        """
        try:
            graph = verify(graph.copy())
        except SnncError as exc:
            raise PassError(f"input graph does not verify: {exc}") from exc
        records: list[PassRecord] = []
        for p in self.passes:
            done = ", ".join(r.name for r in records)
            where = f"error in pass {p} after passes [{done}]"
            start = time.perf_counter()
            try:
                result = p(graph)
                if not isinstance(result, PassResult) or not isinstance(result.graph, Graph):
                    raise PassError(f"returned {type(result).__name__}, not a PassResult")
            except Exception as exc:
                raise PassError(f"{where}: {exc}") from exc
            ms = (time.perf_counter() - start) * 1e3
            if self.verify_each:
                try:
                    verify(result.graph)
                except SnncError as exc:
                    raise PassError(f"{where}: it left an invalid graph: {exc}") from exc
            rec = PassRecord(str(p), result.changed, list(result.notes), len(graph),
                             len(result.graph), len(graph.edges), len(result.graph.edges), ms)
            records.append(rec)
            graph = result.graph
            graph.meta["passes"] = passes_run(graph) + [rec.name]
            if rec.changed:  # what a target that forbids a fold checks (targets.prepare)
                graph.meta["passes_changed"] = passes_run(graph, changed=True) + [rec.name]
            if self.hook is not None:
                self.hook(rec, graph)
        return graph, records


def passes_run(graph: Graph, *, changed: bool = False) -> list[str]:
    """The passes recorded as already run on ``graph`` (``graph.meta["passes"]``), in order;
    with ``changed``, only those that changed it (``graph.meta["passes_changed"]``)."""
    done = graph.meta.get("passes_changed" if changed else "passes") or []
    return [str(p) for p in done] if isinstance(done, (list, tuple)) else []


def parse_pipeline(spec: str | Sequence[str]) -> list[Pass]:
    """Passes from a spec: ``"deploy"``, ``"none"``, ``""`` (none), or comma-separated pass and
    pipeline names with optional options, ``"fold-bn,fold-scale{mode=input}"`` (or a list of such
    strings).

    Raises:
        PassError: an unknown name (the message lists the known passes and pipelines and suggests
            the closest), an unknown option, or an option value of the wrong type.
    """
    items = _split(spec) if isinstance(spec, str) else [s.strip() for s in spec]
    passes: list[Pass] = []
    for item in items:
        if not item:
            continue
        name, _, rest = item.partition("{")
        name = name.strip()
        if name in PIPELINES:
            if rest:
                raise PassError(f"pipeline {name!r} takes no options (got {item!r})")
            passes += [PASSES[n]() for n in PIPELINES[name]]
            continue
        if name not in PASSES:
            known = list(PASSES) + list(PIPELINES)
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise PassError(f"unknown pass {name!r}{hint} known passes: {', '.join(PASSES)}; "
                            f"pipelines: {', '.join(PIPELINES)}")
        passes.append(_build(PASSES[name], item, rest))
    return passes


def _split(spec: str) -> list[str]:
    """Split on commas outside braces."""
    items, depth, cur = [], 0, ""
    for ch in spec:
        if ch == "," and depth == 0:
            items.append(cur.strip())
            cur = ""
            continue
        depth += {"{": 1, "}": -1}.get(ch, 0)
        cur += ch
    items.append(cur.strip())
    return items


def _build(cls: type[Pass], item: str, rest: str) -> Pass:
    if not rest:
        return cls()
    if not rest.endswith("}"):
        raise PassError(f"pass spec {item!r}: options must be 'name{{key=value key=value}}'")
    types = {f.name: type(f.default) for f in fields(cls)}
    opts = {}
    for pair in rest[:-1].replace(",", " ").split():
        key, eq, value = pair.partition("=")
        if key not in types:
            known = ", ".join(types) or "none"
            raise PassError(f"pass {cls.name}: unknown option {key!r}; options: {known}")
        if not eq:
            raise PassError(f"pass {cls.name}: option {key!r} needs a value ({key}=...)")
        opts[key] = _convert(cls.name, key, value, types[key])
    return cls(**opts)


def _convert(pass_name: str, key: str, value: str, typ: type):
    try:
        if typ is bool:
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return value.lower() in ("true", "1")
        return typ(value)
    except ValueError:
        raise PassError(f"pass {pass_name}: option {key}={value!r} is not a "
                        f"{typ.__name__}") from None


def run_pipeline(graph: Graph, spec: str | Sequence[str] | Sequence[Pass] = "deploy", *,
                 verify_each: bool = True,
                 hook: Hook | None = None) -> tuple[Graph, list[PassRecord]]:
    """``PassManager(parse_pipeline(spec), ...).run(graph)``; ``spec`` may also be a list of
    :class:`Pass` objects. Returns ``(graph, records)``; raises PassError."""
    if not isinstance(spec, str) and all(isinstance(p, Pass) for p in spec):
        passes = list(spec)
    else:
        passes = parse_pipeline(spec)
    return PassManager(passes, verify_each=verify_each, hook=hook).run(graph)
