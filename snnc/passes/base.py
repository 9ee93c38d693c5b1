"""What a pass is: a named, frozen dataclass whose fields are its options (xDSL ``ModulePass``).

A pass is **pure**: ``result = pass_(graph)`` copies ``graph`` (:meth:`Graph.copy`), edits the copy
and returns it in a :class:`PassResult`; the input graph, its params included, is never touched. It
expects a verified graph (shapes inferred, attribute defaults filled) and leaves a graph that
verifies and computes the same Output, and the same spikes in every neuron that survives, as the
reference interpreter defines them (``snnc.ir.interpret``); each pass's docstring says what it
changes and what else it guarantees. :class:`~snnc.passes.manager.PassManager` runs a list of
passes and verifies between them.

Writing a pass::

    @dataclass(frozen=True)
    class FoldSomething(Pass):
        \"\"\"What it expects, what it changes, what it guarantees.\"\"\"
        name: ClassVar[str] = "fold-something"
        aggressive: bool = False          # an option: `fold-something{aggressive=true}`

        def apply(self, graph, notes):    # graph: a private copy; edit it in place
            ...
            notes.append("folded 3 things")
            return True                   # changed?
"""
from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any, ClassVar

from ..errors import PassError
from ..ir.graph import BACKWARD, FORWARD, Edge, Graph
from ..ir.verify import verify


@dataclass
class PassResult:
    """What one pass returns: the new ``graph``, whether it ``changed`` anything, and ``notes``
    for people (``"folded 64 BatchNorm2d into Conv2d"``, ``"kept s3.bn: ..."``)."""

    graph: Graph
    changed: bool
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Pass:
    """Base of every pass. Subclasses set ``name`` and implement :meth:`apply`."""

    name: ClassVar[str] = ""
    #: False for a pass that changes what the graph computes on purpose (``hop-timing``).
    preserves_semantics: ClassVar[bool] = True

    def __call__(self, graph: Graph) -> PassResult:
        """Run on a copy of ``graph`` (never on ``graph`` itself) and return the result."""
        work = graph.copy()
        if any(n.shape is None for n in work):  # not verified yet: fill shapes and defaults
            verify(work)
        notes: list[str] = []
        changed = bool(self.apply(work, notes))
        return PassResult(work, changed, notes)

    def apply(self, graph: Graph, notes: list[str]) -> bool:
        """Rewrite ``graph`` (a private copy) in place, append notes, return whether it changed."""
        raise NotImplementedError(f"pass {self.name!r} does not implement apply()")

    # ------------------------------------------------------------------ options
    @classmethod
    def option_defaults(cls) -> dict[str, Any]:
        """Option name -> default value."""
        return {f.name: f.default for f in fields(cls) if f.default is not MISSING}

    def options(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def __str__(self) -> str:
        """The pipeline-spec form, options that differ from their default in braces:
        ``fold-scale{mode=input}``; :func:`~snnc.passes.manager.parse_pipeline` reads it back."""
        defaults = self.option_defaults()
        opts = [f"{k}={_fmt(v)}" for k, v in self.options().items() if defaults.get(k) != v]
        return self.name + ("{" + " ".join(opts) + "}" if opts else "")


def _fmt(v: Any) -> str:
    return str(v).lower() if isinstance(v, bool) else str(v)


def check_choice(pass_name: str, option: str, value: Any, choices: tuple) -> None:
    """Raise PassError unless ``value`` is one of ``choices`` (for ``__post_init__``)."""
    if value not in choices:
        raise PassError(f"pass {pass_name}: option {option}={value!r} must be one of "
                        f"{', '.join(map(repr, choices))}")


def bypass_edges(graph: Graph, name: str) -> tuple[list[Edge], str | None]:
    """The edges that replace node ``name`` if it passes its summed input straight on.

    Each in-edge ``a -> name`` (delay d1) and out-edge ``name -> b:port`` (delay d2) become one edge
    ``a -> b:port`` with delay ``d1 + d2``, backward if either was (so still delayed >= 1). Returns
    ``(edges, None)``, or ``([], reason)`` when that is impossible: a self-loop on ``name`` (an
    infinite sum), or two paths that would become the same edge or an edge already in the graph
    (an edge has no weight, so the sum ``2 x`` cannot be written).
    """
    ins, outs = graph.in_edges(name), graph.out_edges(name)
    if any(e.src == name for e in ins):
        return [], f"{name!r} feeds itself"
    new: list[Edge] = []
    seen = set(e for e in graph.edges if name not in (e.src, e.dst))
    for i in ins:
        for o in outs:
            kind = BACKWARD if BACKWARD in (i.kind, o.kind) else FORWARD
            edge = Edge(i.src, o.dst, o.port, i.delay + o.delay, kind)
            if edge in seen:
                return [], f"bypassing {name!r} would duplicate edge {edge}"
            seen.add(edge)
            new.append(edge)
    return new, None


def replace_by_edges(graph: Graph, name: str, edges: list[Edge]) -> None:
    """Remove node ``name`` with its edges and add ``edges`` (from :func:`bypass_edges`)."""
    graph.remove_node_and_edges(name)
    for e in edges:
        graph.add_edge(e.src, e.dst, e.port, e.delay, e.kind)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")
