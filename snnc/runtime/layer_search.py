"""What the per-layer searches of SpikeDHS (DGS, section 4.2; TPS, section 4.3) run on during
``snnc train``: the layers of a SpikeDHS genome, their neurons and local weights in the compiled
graph, the hooks the training loop calls, and the output genome with the searched values.

A **layer** is ``stem`` (the stem neuron ``stem.lif``) or a ``layer`` block's name ``lN`` (its cell
nodes' neurons ``lN.n{j}.lif``); one value per layer, as the genome's overrides hold one neuron
and one surrogate per layer (``layer l5 cell=c level=2 { neuron lif leak=0.3 ... \\n surrogate
dspike b=3.4 }``, ``stem { ... }``). Its **local weights** (DGS's ``w`` in ``I = w x``, eq. 18)
are the Conv2d / Linear nodes from which a path without another neuron leads to its neurons (the
stem conv; a cell's operation convs and 1x1 projections).

Every search is a :class:`LayerSearch`: the training loop (:func:`snnc.runtime.train.train`) calls
``after_step`` after every optimizer step, ``end_epoch`` after every epoch's training, saves
``state_dict()`` in the checkpoint and restores it on resume, and calls ``finish`` before it
writes the trained model. :func:`searched_genome` writes the values into the genome that the run
folder keeps as ``searched.genome``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, Callable, Iterable, Iterator

from ..errors import RunError
from ..genome.ast import Block, Genome, Spec
from ..genome.build import make_block, make_spec
from ..ir.graph import Graph

__all__ = ["Bar", "Context", "LayerSearch", "family", "layer_neurons", "local_weights",
           "neuron_modules", "rounded", "search_overrides", "search_plot", "searched_genome",
           "select_layers", "spikedhs_layers", "winner", "write_search_files"]

#: Ops whose node ends a layer's local weights (another neuron's output is the layer's input).
NEURON_OPS = ("LIF", "ALIF", "PLIF", "ReLU")
#: Digits kept of a searched value, so that the module, the checkpoint and the genome text hold
#: the same number (``3.0 + 2 * 0.2`` is ``3.4000000000000004`` otherwise).
DIGITS = 6


def rounded(x: float) -> float:
    """``x`` rounded to :data:`DIGITS` decimals (``-0.0`` as ``0.0``)."""
    return round(float(x), DIGITS) + 0.0


def family(genome: Genome) -> str:
    """The genome family's name, for messages: ``SpikeDHS``, ``STTS``, ``ResNet``, ``SNASNet``."""
    kinds = {b.kind for b in genome.blocks}
    if "layer" in kinds:
        return "SpikeDHS"
    if "resnet" in kinds:
        return "ResNet (BCNAS-SNN)"
    if "skeleton" in kinds or any(b.kind == "cell" and b.form == "snasnet" for b in genome.blocks):
        return "SNASNet"
    if "stage" in kinds:
        return "STTS"
    return "unknown"


def spikedhs_layers(genome: Genome, what: str) -> list[str]:
    """``["stem", "l1", ...]``: the searchable layers of a SpikeDHS genome, in network order.

    Raises:
        RunError: the genome is not a SpikeDHS genome (names its family and ``what`` refuses it).
    """
    names = [b.name for b in genome.blocks if b.kind == "layer"]
    if not names:
        raise RunError(f"{what} searches SpikeDHS genomes (layer blocks); {genome.name!r} is a "
                       f"{family(genome)} genome")
    return ["stem", *names]


def select_layers(spec: str, genome: Genome, what: str) -> list[str]:
    """The layers ``spec`` names (``"all"`` or ``"stem,l1,l5"``), in network order.

    Raises:
        RunError: not a SpikeDHS genome, or a name that is not one of its layers (lists them).
    """
    layers = spikedhs_layers(genome, what)
    if spec == "all":
        return layers
    asked = spec.split(",")
    unknown = [n for n in asked if n not in layers]
    if unknown:
        raise RunError(f"{what}: {', '.join(map(repr, unknown))} is not a layer of "
                       f"{genome.name!r}; its layers are {', '.join(layers)} (or all)")
    if len(set(asked)) != len(asked):
        raise RunError(f"{what}: a layer is named twice in {spec!r}")
    return [n for n in layers if n in asked]


def layer_neurons(graph: Graph, layer: str) -> list[str]:
    """The spiking neuron nodes of ``layer`` (``stem.lif``; ``lN.n{j}.lif``), in node order.

    Raises:
        RunError: the layer has none (e.g. HNS made it a ReLU layer).
    """
    pattern = re.compile(r"stem\.lif" if layer == "stem" else re.escape(layer) + r"\.n\d+\.lif")
    found = [n for n in graph.nodes if pattern.fullmatch(n) and graph[n].op in NEURON_OPS]
    spiking = [n for n in found if graph[n].op != "ReLU"]
    if not spiking:
        raise RunError(f"layer {layer!r} has no spiking neuron to search "
                       f"({'a ReLU layer' if found else 'no neuron nodes'})")
    return spiking


def local_weights(graph: Graph, neurons: Iterable[str]) -> list[str]:
    """The Conv2d / Linear nodes from which a path that crosses no neuron (and not the input)
    leads to one of ``neurons``, in node order: the ``w`` of ``I = w x`` (SpikeDHS eq. 18)."""
    seen, todo, found = set(), list(neurons), set()
    while todo:
        for e in graph.in_edges(todo.pop()):
            src = graph[e.src]
            if e.src in seen or src.op in NEURON_OPS or src.op == "Input":
                continue
            seen.add(e.src)
            if src.op in ("Conv2d", "Linear"):
                found.add(e.src)
            todo.append(e.src)
    return [n for n in graph.nodes if n in found]


@dataclass
class Context:
    """What a search needs from the training loop at the end of an epoch.

    Attributes:
        epoch: the epoch just trained (0-based).
        lr: the training optimizer's current learning rate.
        batches: ``batches(epoch)`` -> an endless iterator of ``(x, y)`` training batches ready
            for the module (``x`` as ``module(x, T=T)`` takes it), the same for the same epoch.
        loss: ``loss(out [T, B, classes], y [B]) -> scalar``, the training loss.
        T: time steps.
        progress: show progress (rich, terminals only).
    """

    epoch: int
    lr: float
    batches: Callable[[int], Iterator[tuple[Any, Any]]]
    loss: Callable[[Any, Any], Any]
    T: int
    progress: bool = False


class LayerSearch:
    """A per-layer search run inside the training loop (see the module docstring).

    Attributes:
        name: ``"dgs"`` or ``"tps"`` (its key in the checkpoint's ``search`` entry).
        layers: the searched layers, in network order.
        trace: one row per decision (``{"epoch", "iteration", "layer", "value", "weights"}``),
            the history the run folder's ``search.json`` and ``search.png`` show.
    """

    name = "search"

    def __init__(self, layers: list[str]):
        self.layers = list(layers)
        self.trace: list[dict[str, Any]] = []

    def values(self) -> dict[str, Any]:
        """Layer -> its current searched value (a number, or a ``[tau, tau_a]`` pair)."""
        raise NotImplementedError

    def after_step(self, epoch: int, iteration: int) -> None:
        """After the optimizer step of training iteration ``iteration`` (0-based, counted over
        all epochs) in ``epoch``."""

    def end_epoch(self, ctx: Context) -> None:
        """After the training iterations of ``ctx.epoch``, before its evaluation."""

    def finish(self) -> None:
        """Leave the module a plain network with the searched values (before ``to_ir``)."""

    def state_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def load_state_dict(self, state: dict[str, Any]) -> None:
        raise NotImplementedError

    def genome_overrides(self) -> dict[str, dict[str, Any]]:
        """Layer -> ``{"surrogate": {key: value}}`` and/or ``{"neuron": {key: value}}``: the
        parameters to write into the layer's overrides."""
        raise NotImplementedError


# ---------------------------------------------------------------------- genome
def _merge(base: Spec, role: str, changes: dict[str, Any]) -> Spec:
    params = {**base.as_dict(), **changes}
    return make_spec(base.kind, role, **params)


def searched_genome(genome: Genome, overrides: dict[str, dict[str, dict[str, Any]]],
                    provenance: str | None = None) -> Genome:
    """``genome`` with the searched parameters written into its overrides.

    Args:
        genome: a SpikeDHS genome.
        overrides: layer -> role (``"neuron"`` / ``"surrogate"``) -> ``{param: value}``; each
            role's spec is the layer's own override or else the genome's (for the stem: the
            ``stem`` block's, else the genome's) with those parameters replaced. A ``"kind"``
            entry replaces the spec's kind (a surrogate that was the genome's atan can become
            Dspike).
        provenance: appended to the genome's provenance line (kept otherwise).
    Returns:
        The new genome (``stem`` block added before the first layer when the stem changes and
        there is none).
    Raises:
        GenomeSyntaxError: a value outside the schema's range (cannot happen for clamped values).
    """
    blocks = list(genome.blocks)
    stem_at = next((i for i, b in enumerate(blocks) if b.kind == "stem"), None)
    for layer, roles in overrides.items():
        if layer == "stem":
            if stem_at is None:
                stem_at = next(i for i, b in enumerate(blocks) if b.kind == "layer")
                blocks.insert(stem_at, make_block("stem"))
            i = stem_at
        else:
            i = next(k for k, b in enumerate(blocks) if b.kind == "layer" and b.name == layer)
        block: Block = blocks[i]
        for role, changes in roles.items():
            changes = dict(changes)
            base = getattr(block, role) or getattr(genome, role)
            kind = changes.pop("kind", base.kind)
            if kind != base.kind:
                base = Spec(kind, ())
            block = replace(block, **{role: _merge(base, role, changes)})
        blocks[i] = block
    prov = genome.provenance
    if provenance:
        prov = f"{prov}; {provenance}" if prov else provenance
    return replace(genome, blocks=tuple(blocks), provenance=prov)


# ---------------------------------------------------------------------- helpers for the searches
def neuron_modules(module, node: str) -> list:
    """The neuron modules computing ``node`` in a compiled module: the node's own, or every
    candidate of a TPS mixed neuron standing in for it."""
    mod = module.layer(node)
    return list(getattr(mod, "candidates", [mod]))


def winner(scores, current: int | None) -> int:
    """The index of the largest score; on a tie with the current candidate, the current one (a
    search without a signal, e.g. a silent layer whose candidates all give the same output, keeps
    its value instead of drifting to the first candidate)."""
    values = [float(s) for s in scores]
    best = max(values)
    if current is not None and values[current] == best:
        return current
    return values.index(best)


class Bar:
    """A rich progress bar on stderr (a no-op when off or not on a terminal)."""

    def __init__(self, enabled: bool, label: str, total: int):
        self.bar = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        console = Console(stderr=True)
        if not console.is_terminal:
            return
        self.bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[note]}"), console=console, transient=True)
        self.task = self.bar.add_task(label, total=total, note="")

    def __enter__(self) -> "Bar":
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()

    def advance(self, note: str = "") -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=1, note=note)


# ---------------------------------------------------------------------- run folder files
def search_overrides(searches: Iterable[LayerSearch]) -> dict[str, dict[str, dict[str, Any]]]:
    """The searches' genome overrides merged: layer -> role -> ``{param: value}``."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for search in searches:
        for layer, roles in search.genome_overrides().items():
            for role, changes in roles.items():
                out.setdefault(layer, {}).setdefault(role, {}).update(changes)
    return out


def write_search_files(run, genome: Genome, searches: list[LayerSearch]) -> None:
    """Write ``searched.genome`` (``genome`` with the searched values, which ``snnc train``
    retrains), ``search.json`` (each search's values and history) and ``search.png`` (the values
    per layer over the run; left out without matplotlib) into the run folder, in one commit."""
    import json

    from ..genome import to_text

    names = "+".join(s.name.upper() for s in searches)
    searched = searched_genome(genome, search_overrides(searches),
                               provenance=f"{names} values from snnc train")
    record = {s.name: {"values": s.values(), "trace": s.trace} for s in searches}
    files: dict[str, bytes] = {
        "searched.genome": to_text(searched).encode("utf-8"),
        "search.json": (json.dumps(record, indent=1) + "\n").encode("utf-8")}
    png = search_plot(searches)
    if png is not None:
        files["search.png"] = png
    run.commit(files)


def search_plot(searches: list[LayerSearch]) -> bytes | None:
    """A PNG of every searched value per layer over the run (DGS: ``b`` against the epoch; TPS:
    ``tau`` (and ``tau_a`` dashed) against the search iteration); None without matplotlib."""
    import io

    from ..errors import MissingDependencyError
    from ..optional import require

    try:
        matplotlib = require("matplotlib", feature="the search plot", extra="plot")
    except MissingDependencyError:
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(searches), figsize=(5 * len(searches), 3.4), squeeze=False)
    for ax, search in zip(axes[0], searches):
        x_key = "epoch" if search.name == "dgs" else "iteration"
        for layer in search.layers:
            rows = [r for r in search.trace if r["layer"] == layer]
            xs = [r[x_key] for r in rows]
            vals = [r["value"] for r in rows]
            if vals and isinstance(vals[0], list):
                line, = ax.step(xs, [v[0] for v in vals], where="post", label=layer)
                if vals[0][1] is not None:
                    ax.step(xs, [v[1] for v in vals], where="post", ls="--",
                            color=line.get_color())
            else:
                ax.step(xs, vals, where="post", label=layer)
        ax.set_xlabel("epoch" if search.name == "dgs" else "search iteration")
        ax.set_ylabel("surrogate temperature b" if search.name == "dgs"
                      else "leak factor tau (tau_a dashed)")
        ax.set_title("DGS (SpikeDHS Alg. 2)" if search.name == "dgs" else "TPS (SpikeDHS Alg. 3)")
        ax.legend(fontsize=7, ncol=2)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
