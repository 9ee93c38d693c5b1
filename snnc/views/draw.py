"""Drawings of architectures, in the style of the papers' figures (matplotlib).

Every connection pattern is drawn as an **arc diagram**: nodes on a line in forward
(topological) order, forward edges as arcs above the line, backward edges as arcs below it.

* forward edges without delay: grey, solid; with a synaptic delay ``d >= 1``: dashed and
  coloured by ``d`` (STTS Fig. A.5 marks delayed edges the same way);
* backward edges (SNASNet Fig. 6, BCNAS-SNN Fig. 2: value at ``t - d`` fed into an earlier node):
  red, below the line;
* an edge's operation (``conv3x3``, ``skip``, ...) is written on its arc (SNASNet Fig. 6).

:func:`draw_genome` draws a genome: a strip with every block in order (the macro network), then
one panel per block that has edges (an STTS stage graph with its source and sink, a cell with
its operations, a ResNet's LIF-layer ports with their backward connections).
:func:`draw_graph` draws a compiled IR graph node by node (what a ``.snnir`` file holds).
The output format follows the file suffix (``.svg``, ``.png``, ``.pdf``); files are written
atomically.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..atomic import atomic_write_bytes
from ..errors import SnncError
from ..genome.ast import Block, Genome
from ..ir.graph import Graph
from ..optional import require

#: Colours of delayed edges by delay (1, 2, 3+), of backward edges and of node kinds.
DELAY_COLOURS = ("#e67e22", "#8e44ad", "#16a085")
BACKWARD_COLOUR = "#c0392b"
FORWARD_COLOUR = "#7f8c8d"
NODE_COLOURS = {"neuron": "#f5b041", "synapse": "#5dade2", "io": "#d5d8dc", "source": "#d5d8dc",
                "other": "#abebc6", "cell": "#f5b041"}
FORMATS = (".svg", ".png", ".pdf")


@dataclass(frozen=True)
class Arc:
    """One edge of an arc diagram between node positions ``src`` and ``dst``."""

    src: int
    dst: int
    delay: int = 0
    backward: bool = False
    label: str | None = None


@dataclass(frozen=True)
class Panel:
    """One arc diagram: node labels and kinds (keys of :data:`NODE_COLOURS`), and the arcs."""

    title: str
    labels: tuple[str, ...]
    kinds: tuple[str, ...]
    arcs: tuple[Arc, ...]


def _pyplot():
    matplotlib = require("matplotlib", feature="drawing", extra="plot")
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt
    return plt


def _check_suffix(path: Path) -> None:
    if path.suffix.lower() not in FORMATS:
        raise SnncError(f"{path}: cannot draw to {path.suffix or 'a file without suffix'!r}; "
                        f"use one of {', '.join(FORMATS)}")


# ------------------------------------------------------------------ genome -> panels
def _block_title(block: Block) -> str:
    bits = [block.kind] + [x for x in (block.name, block.form) if x]
    attrs = [f"{k}={v}" for k, v in block.attrs if k in ("channels", "nodes", "stride", "depth",
                                                          "level", "cell")]
    return " ".join(bits) + (f"  ({', '.join(attrs)})" if attrs else "")


_SHORT = {"channels": "C={}", "nodes": "N={}", "stride": "/{}", "depth": "depth {}",
          "level": "level {}", "cell": "cell {}"}


def _strip_label(block: Block) -> str:
    """Two short lines for the macro strip: ``stage s2 graph`` / ``C=32 N=4 /2``."""
    head = " ".join([block.kind] + [x for x in (block.name, block.form) if x])
    bits = [_SHORT[k].format(v) for k, v in block.attrs
            if k in _SHORT and v not in (0, None) and not (k == "stride" and v == 1)]
    return head + ("\n" + " ".join(bits) if bits else "")


def _stage_panel(block: Block) -> Panel:
    """STTS stage graph: source, nodes 0..N-1, sink. Nodes without forward in-edges read the
    source (the previous stage), nodes without forward out-edges feed the sink (STTS eq. 10)."""
    n = int(block["nodes"])
    fwd = [e for e in block.edges if not e.backward]
    has_in = {e.dst for e in fwd}
    has_out = {e.src for e in fwd}
    arcs = [Arc(0, i + 1) for i in range(n) if i not in has_in]
    arcs += [Arc(e.src + 1, e.dst + 1, e.delay, e.backward, e.op) for e in block.edges]
    arcs += [Arc(i + 1, n + 1) for i in range(n) if i not in has_out]
    labels = ("source",) + tuple(str(i) for i in range(n)) + ("sink",)
    kinds = ("source",) + ("neuron",) * n + ("source",)
    return Panel(_block_title(block), labels, kinds, tuple(arcs))


def _cell_panel(block: Block) -> Panel:
    """A cell: node ids as written; negative ids (SpikeDHS: the two previous cells' outputs)
    come first."""
    ids = sorted({e.src for e in block.edges} | {e.dst for e in block.edges}
                 | set(range(int(block.get("nodes") or 0))))
    pos = {i: k for k, i in enumerate(ids)}
    labels = tuple({-2: "c(k-2)", -1: "c(k-1)"}.get(i, str(i)) for i in ids)
    kinds = tuple("source" if i < 0 else "cell" for i in ids)
    arcs = tuple(Arc(pos[e.src], pos[e.dst], e.delay, e.backward, e.op) for e in block.edges)
    return Panel(_block_title(block), labels, kinds, arcs)


def _ports_panel(block: Block) -> Panel:
    """A ResNet: all its LIF layers (ports) in forward order, labelled with their node names'
    block part (``s2.b1.lif1``), chained, with the backward connections between them
    (BCNAS-SNN eq. 6)."""
    from ..genome.resnet import port_names

    top = max([max(e.src, e.dst) for e in block.edges], default=0)
    try:
        names = [p.split(".", 1)[1] for p in port_names("r", int(block["depth"]))]
    except KeyError:  # a depth the frontend refuses: show the ports the edges name
        names = [f"LIF {i}" for i in range(top + 1)]
    n = max(len(names), top + 1)
    names += [f"LIF {i}" for i in range(len(names), n)]
    arcs = [Arc(i, i + 1) for i in range(n - 1)]
    arcs += [Arc(e.src, e.dst, e.delay, e.backward, e.op) for e in block.edges]
    labels = tuple(f"{i}\n{label}" for i, label in enumerate(names))
    return Panel(_block_title(block) + f"  ({n} LIF-layer ports)", labels, ("neuron",) * n,
                 tuple(arcs))


def genome_panels(genome: Genome) -> tuple[list[str], list[Panel]]:
    """The macro strip (one label per block, input and output included) and one panel per
    block that has edges."""
    shape = "x".join(str(d) for d in genome.input_shape)
    strip = [f"input\n{shape}"]
    panels = []
    for block in genome.blocks:
        strip.append(_strip_label(block))
        if not block.edges and block.kind != "stage":
            continue
        if block.kind == "stage":
            if block.form == "graph":
                panels.append(_stage_panel(block))
        elif block.kind == "resnet":
            panels.append(_ports_panel(block))
        else:
            panels.append(_cell_panel(block))
    strip.append(f"output\n{genome.classes} classes T={genome.T}")
    return strip, panels


# ------------------------------------------------------------------ graph -> panel
def graph_panel(graph: Graph) -> Panel:
    """Every node of an IR graph in a forward topological order (zero-delay forward edges),
    every edge with its delay and kind."""
    import networkx as nx

    from ..ir.ops import OPS

    names = list(graph.nodes)
    g = nx.DiGraph()
    g.add_nodes_from(names)
    g.add_edges_from((e.src, e.dst) for e in graph.edges if e.kind != "backward")
    try:  # forward order over every forward edge, delayed ones included
        order = list(nx.lexicographical_topological_sort(g, key=names.index))
    except nx.NetworkXUnfeasible:  # a forward-kind cycle (through a delay)
        order = graph.topological_order()
    pos = {name: k for k, name in enumerate(order)}
    kinds = []
    for name in order:
        kind = OPS[graph[name].op].kind if graph[name].op in OPS else "other"
        kinds.append(kind if kind in NODE_COLOURS else "other")
    labels = tuple(f"{name}\n{graph[name].op}" for name in order)
    arcs = tuple(Arc(pos[e.src], pos[e.dst], e.delay, e.kind == "backward") for e in graph.edges)
    title = f"{graph.meta.get('name') or 'graph'}: {len(order)} nodes, {len(arcs)} edges"
    return Panel(title, labels, tuple(kinds), arcs)


# ------------------------------------------------------------------ rendering
def _arc_colour(arc: Arc) -> str:
    if arc.backward:
        return BACKWARD_COLOUR
    if arc.delay:
        return DELAY_COLOURS[min(arc.delay, len(DELAY_COLOURS)) - 1]
    return FORWARD_COLOUR


#: Bend of every arc (matplotlib ``arc3`` rad): an arc over ``L`` node spacings rises
#: ``RAD * L / 2`` (the apex of the quadratic Bezier), in data units since the aspect is equal.
RAD = 0.45


def _draw_panel(ax, panel: Panel, rotate: bool) -> None:
    from matplotlib.patches import FancyArrowPatch

    n = len(panel.labels)
    small = n <= 12
    for arc in panel.arcs:
        a, b = arc.src, arc.dst
        colour = _arc_colour(arc)
        if a == b:  # a node's backward edge onto itself: a small loop below it
            ax.add_patch(FancyArrowPatch((a - 0.2, -0.1), (a + 0.2, -0.1),
                                         connectionstyle="arc3,rad=1.5", arrowstyle="-|>",
                                         mutation_scale=8, color=colour, lw=1.2))
            apex = -0.45
        else:
            up = not arc.backward  # forward arcs above the line, backward ones below
            rad = -RAD if (b > a) == up else RAD
            ax.add_patch(FancyArrowPatch((a, 0), (b, 0), connectionstyle=f"arc3,rad={rad}",
                                         arrowstyle="-|>", mutation_scale=8, color=colour,
                                         lw=1.4 if small or arc.delay or arc.backward
                                         else 0.7, alpha=0.9,
                                         zorder=2 if arc.delay or arc.backward else 1,
                                         linestyle="--" if arc.delay and up else "-",
                                         shrinkA=6, shrinkB=6))
            apex = (1 if up else -1) * RAD * abs(b - a) / 2
        text = arc.label or ""
        if arc.delay and (arc.backward or small):
            text = f"{text} @{arc.delay}".strip()
        if text:
            ax.text((a + b) / 2, apex, text, ha="center", va="center", fontsize=7, color=colour,
                    bbox=dict(boxstyle="round,pad=0.15", fc="white", ec="none", alpha=0.85))
    for i, (label, kind) in enumerate(zip(panel.labels, panel.kinds)):
        ax.scatter([i], [0], s=260 if small else 60, c=NODE_COLOURS[kind], zorder=3,
                   edgecolors="#34495e", marker="s" if kind == "synapse" else "o")
        ax.text(i, 0 if small else -0.3, label if small or rotate else label.split("\n")[0],
                ha="center", va="center" if small else "top", fontsize=7 if small else 5,
                rotation=90 if rotate else 0, zorder=4)
    xlim, ylim = _limits(panel, rotate)
    ax.set_aspect("equal")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_title(panel.title, fontsize=10, loc="left")
    ax.axis("off")


def _limits(panel: Panel, rotate: bool) -> tuple[tuple[float, float], tuple[float, float]]:
    """x and y limits of a panel in data units (node spacing 1): the highest arc above the
    line, the deepest below it, and room for the labels (rotated ones hang lower)."""
    up = max([RAD * abs(a.dst - a.src) / 2 for a in panel.arcs if not a.backward], default=0)
    down = max([RAD * abs(a.dst - a.src) / 2 for a in panel.arcs if a.backward], default=0)
    return ((-0.8, len(panel.labels) - 0.2),
            (-max(down, 0.5) - (2.3 if rotate else 0.5), max(up, 0.5) + 0.3))


def _extent(panel: Panel, rotate: bool) -> tuple[float, float]:
    """Width and height of a panel in data units, from :func:`_limits`."""
    (x0, x1), (y0, y1) = _limits(panel, rotate)
    return x1 - x0, y1 - y0


def _legend(fig, panels: list[Panel]) -> None:
    from matplotlib.lines import Line2D
    arcs = [a for p in panels for a in p.arcs]
    items = [Line2D([], [], color=FORWARD_COLOUR, label="forward, no delay")]
    for d in sorted({min(a.delay, 3) for a in arcs if a.delay and not a.backward}):
        items.append(Line2D([], [], color=DELAY_COLOURS[d - 1], linestyle="--",
                            label=f"forward, synaptic delay {d}{'+' if d == 3 else ''}"))
    if any(a.backward for a in arcs):
        items.append(Line2D([], [], color=BACKWARD_COLOUR, label="backward (reads t - d)"))
    fig.legend(handles=items, loc="lower center", ncol=len(items), fontsize=8, frameon=False)


def _save(fig, path: Path) -> Path:
    import io
    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lower().lstrip("."), bbox_inches="tight", dpi=150)
    return atomic_write_bytes(path, buf.getvalue())


def draw_genome(genome: Genome, path: str | Path) -> Path:
    """Draw ``genome`` (macro strip + one arc diagram per block with edges) to ``path``.

    Raises:
        SnncError: an unsupported file suffix.
    """
    path = Path(path)
    _check_suffix(path)
    plt = _pyplot()
    strip, panels = genome_panels(genome)
    extents = [_extent(p, False) for p in panels]
    fig_w = min(max([8.0, 1.7 * len(strip)] + [0.4 * w for w, _ in extents]), 30.0)
    heights = [1.0] + [fig_w * h / w for w, h in extents]  # inches, at equal aspect
    fig, axes = plt.subplots(len(heights), 1, figsize=(fig_w, sum(heights) + 0.8),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    ax = axes[0][0]
    for i, label in enumerate(strip):
        ax.text(i, 0, label, ha="center", va="center", fontsize=8,
                bbox=dict(boxstyle="round,pad=0.4", fc="#eaf2f8", ec="#2e86c1"))
        if i:
            ax.annotate("", (i - 0.42, 0), (i - 0.58, 0),
                        arrowprops=dict(arrowstyle="-|>", color="#2e86c1"))
    ax.set_xlim(-0.6, len(strip) - 0.4)
    ax.set_ylim(-0.6, 0.6)
    ax.set_title(f"{genome.name}", fontsize=12, loc="left")
    ax.axis("off")
    for panel, row in zip(panels, axes[1:]):
        _draw_panel(row[0], panel, rotate=False)
    _legend(fig, panels)
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)


def draw_graph(graph: Graph, path: str | Path) -> Path:
    """Draw a compiled IR graph (every node and edge) as one arc diagram to ``path``.

    Raises:
        SnncError: an unsupported file suffix; GraphError: a zero-delay cycle.
    """
    path = Path(path)
    _check_suffix(path)
    plt = _pyplot()
    panel = graph_panel(graph)
    w, h = _extent(panel, True)
    fig_w = min(max(8.0, 0.45 * w), 40.0)
    fig, ax = plt.subplots(figsize=(fig_w, fig_w * h / w + 0.8))
    _draw_panel(ax, panel, rotate=True)
    _legend(fig, [panel])
    try:
        return _save(fig, path)
    finally:
        plt.close(fig)
