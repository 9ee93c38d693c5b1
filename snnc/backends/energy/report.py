"""Per-layer energy reports (STTS Appendix C, eqs. C.1 and C.2), counted for a named target.

Two **energy targets** (:data:`ENERGY_TARGETS`) say which graph is counted and how:

* ``paper`` — the network as the papers count it (STTS Appendix C, Table 5): the graph of the IR
  target ``energy`` (separable convolutions stay depthwise + pointwise), the first layer once
  (eq. C.2 as printed: ``E_MAC * FLOPs^1``), accumulates ``rate * T * MACs`` (eq. C.1).
* ``lava`` — what the Lava backend deploys: the graph of the IR target ``lava`` (every fold, so
  separable convolutions are dense k x k convolutions), the first layer every step (the host
  computes it at every step), and accumulates counted as **synaptic events** (:mod:`.events`):
  an AC is one spike reaching one synapse of the effective layer (a pooling, upsampling or
  flatten chain between the spikes and a layer folded into its synapses, as the Lava backend
  folds it), padding excluded, counted exactly from per-element spike counts
  (:attr:`.rates.Rates.counts`). A pooling folded into the layers after it has its own row with
  ``count_as = "folded"`` and nothing counted (``folded_into`` names those layers).

Either way the **ANN equivalent** is the architecture as a conventional network, counted on the
unfolded (``energy``) graph: ``E_MAC * sum(MACs per step)``, one pass, no ``T``.

For each synaptic layer (:func:`~.count.count_layers`), per sample (one inference of ``T`` steps):

* input ``"spikes"``: ``SOP = rate * T * MACs`` (eq. C.1; synaptic events for ``lava``),
  energy ``E_AC * SOP``;
* input ``"input"`` (the analog first layer): ``E_MAC * MACs`` with ``first_layer="once"`` (the
  ``paper`` target: eq. C.2 as printed, ``E_MAC * FLOPs^1``, no ``T``; direct encoding feeds the
  same image at every step, so the layer's output can be computed once and reused, as the torch
  backend does for a static stem), or ``E_MAC * T * MACs`` with ``first_layer="per_step"`` (the
  ``lava`` target: the host computes the currents the first layer injects at every step);
* input ``"analog"`` (a non-spiking ReLU neuron's activations: the ANN layers of a hybrid
  network, SpikeDHS section 4.4) or ``"dense"`` (any other non-binary input): ``E_MAC * T *
  MACs``. The totals keep the analog layers' share apart (``layers_analog``,
  ``energy_analog_pj``): what the hybrid's ANN units cost.

``ann_over_snn`` is the ANN equivalent's energy divided by the SNN's.

The JSON form (:meth:`EnergyReport.to_dict`, schema ``"snnc-energy/4"``: ``layers[].input`` may
be ``"analog"``, and ``totals`` has ``layers_analog`` and ``energy_analog_pj``; ``/3`` added
``counting.ac``, ``counting.ac_rule`` and ``layers[].folded_into``) is documented in README.md,
"Energy report JSON"; keys and meanings only ever change under a new schema name.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from ...ir.graph import Graph
from ...ir.ops import OPS
from .count import ANALOG, INPUT, SPIKES, count_layers, event_rates, input_rate, node_kinds
from .events import count_events, effective_layers
from .rates import Rates, rates_from_trace
from .tables import EnergyError, EnergyTable, get_table

SCHEMA = "snnc-energy/4"
FIRST_LAYER = ("per_step", "once")
#: Column order of :meth:`EnergyReport.to_csv` (and keys of each ``layers`` row in the JSON).
LAYER_KEYS = ("name", "op", "shape", "params", "macs_per_step", "synapses_per_step", "input",
              "sources", "input_rate", "count_as", "macs", "sops", "energy_pj", "share",
              "folded_into")
#: ``counting.ac`` values: how an AC layer's operations are counted.
AC_RATE = "rate_x_T_x_macs"
AC_EVENTS = "synaptic_events"
_RULES = {
    AC_RATE: "AC = input spike rate x T x the layer's MACs (STTS eq. C.1): the rate carried "
             "unchanged through pooling, flatten and concat; padding taps counted",
    AC_EVENTS: "AC = one synaptic event: a spike reaching one synapse of the effective layer "
               "(pooling/upsampling/flatten chains folded into the next layer's synapses), "
               "padding excluded; counted exactly per element",
}


@dataclass(frozen=True)
class EnergyTarget:
    """How one energy target counts: the IR target whose graph is counted
    (:mod:`snnc.passes.targets`), the first-layer rule, and how an AC layer's operations are
    counted: ``ac`` is :data:`AC_RATE` (the papers' eq. C.1) or :data:`AC_EVENTS` (:mod:`.events`)."""

    name: str
    ir_target: str
    first_layer: str
    ac: str
    description: str
    depthwise_events: bool = False  # see count.carries_events


#: Every energy target by name (module docstring).
ENERGY_TARGETS: dict[str, EnergyTarget] = {t.name: t for t in (
    EnergyTarget("paper", "energy", "once", AC_RATE,
                 "as the papers count (STTS Appendix C): separable convs unfolded, first layer "
                 "once (eq. C.2), SOP = rate * T * MACs (eq. C.1), a pointwise conv at the rate "
                 "of the spikes entering its depthwise conv", depthwise_events=True),
    EnergyTarget("lava", "lava", "per_step", AC_EVENTS,
                 "what the Lava backend deploys: folded dense convs, first layer every step, "
                 "SOP = synaptic events (each spike times its effective fan-out, pooling folded "
                 "into the next layer, padding excluded)"),
)}


def get_energy_target(name: str) -> EnergyTarget:
    """The energy target ``name``; EnergyError for an unknown one (the message lists them)."""
    try:
        return ENERGY_TARGETS[name]
    except KeyError:
        raise EnergyError(f"unknown energy target {name!r}; known: "
                          f"{', '.join(ENERGY_TARGETS)}") from None


__all__ = ["SCHEMA", "FIRST_LAYER", "LAYER_KEYS", "AC_RATE", "AC_EVENTS", "ENERGY_TARGETS",
           "EnergyTarget",
           "get_energy_target", "LayerEnergy", "EnergyReport", "build_report",
           "rates_from_trace", "Rates"]


@dataclass
class LayerEnergy:
    """One layer's row; counts and energy are per sample (``T`` steps).

    Attributes:
        input: ``"spikes"``, ``"input"``, ``"analog"`` (a ReLU neuron's output: MACs) or
            ``"dense"`` (see :mod:`.count`).
        sources: where the input comes from (traced through event-preserving ops).
        input_rate: spikes per input element per step (summed over in-edges; for ``lava``, over
            the effective layer's ``(source neuron, path delay)`` inputs); None unless
            ``input == "spikes"``.
        count_as: ``"AC"``, ``"MAC"``, or ``"folded"`` (``lava``: a pooling whose events are
            counted in the layers ``folded_into``; nothing counted here).
        macs: MAC operations counted (0 for AC layers).
        sops: synaptic operations counted (0 for MAC layers).
        synapses_per_step: connections per sample, padding excluded (``lava`` counts SOPs on
            these).
        energy_pj: energy in pJ; share: fraction of the network's total.
    """

    name: str
    op: str
    shape: tuple[int, ...]
    params: int
    macs_per_step: int
    input: str
    sources: tuple[str, ...]
    input_rate: float | None
    count_as: str
    macs: float
    sops: float
    energy_pj: float
    share: float = 0.0
    synapses_per_step: int = 0
    folded_into: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"name": self.name, "op": self.op, "shape": list(self.shape), "params": self.params,
                "macs_per_step": self.macs_per_step, "synapses_per_step": self.synapses_per_step,
                "input": self.input,
                "sources": list(self.sources), "input_rate": self.input_rate,
                "count_as": self.count_as, "macs": self.macs, "sops": self.sops,
                "energy_pj": self.energy_pj, "share": self.share,
                "folded_into": list(self.folded_into)}


@dataclass
class EnergyReport:
    """What :func:`build_report` found: per-layer rows, totals and the ANN equivalent (all per
    sample, energies in pJ)."""

    model: str
    T: int
    table: EnergyTable
    layers: list[LayerEnergy]
    first_layer: str = "per_step"
    encoding: str = "direct"
    passes: str | None = None
    spike_rates: dict[str, float] = field(default_factory=dict)
    rates_backend: str = ""
    samples: int = 0
    dataset: str | None = None
    target: str | None = None
    ann_macs: int | None = None
    ann_counted_on: str = "the counted graph"
    ac: str = AC_RATE

    @property
    def ac_rule(self) -> str:
        """One sentence: how this report counted an AC (shown under the CLI table)."""
        return _RULES[self.ac]

    @property
    def totals(self) -> dict:
        """``macs_per_step`` (all layers), ``macs`` and ``sops`` counted, ``energy_mac_pj``,
        ``energy_ac_pj``, ``energy_pj``, layer counts ``layers_mac``/``layers_ac``, and the MAC
        layers fed by non-spiking neurons (a hybrid network's ANN part): ``layers_analog`` and
        their energy ``energy_analog_pj`` (included in ``energy_mac_pj``)."""
        mac = [r for r in self.layers if r.count_as == "MAC"]
        ac = [r for r in self.layers if r.count_as == "AC"]
        analog = [r for r in mac if r.input == ANALOG]
        e_mac = sum(r.energy_pj for r in mac)
        e_ac = sum(r.energy_pj for r in ac)
        return {"macs_per_step": sum(r.macs_per_step for r in self.layers),
                "macs": sum(r.macs for r in self.layers), "sops": sum(r.sops for r in self.layers),
                "energy_mac_pj": e_mac, "energy_ac_pj": e_ac, "energy_pj": e_mac + e_ac,
                "layers_mac": len(mac), "layers_ac": len(ac), "layers_analog": len(analog),
                "energy_analog_pj": sum(r.energy_pj for r in analog)}

    @property
    def energy_pj(self) -> float:
        return self.totals["energy_pj"]

    @property
    def ann(self) -> dict:
        """``macs`` (one pass; of the unfolded graph when ``ann_macs`` was given), ``energy_pj =
        E_MAC * macs``, ``ann_over_snn`` (None when the SNN costs nothing), ``counted_on``."""
        macs = (self.ann_macs if self.ann_macs is not None
                else sum(r.macs_per_step for r in self.layers))
        energy = self.table.e_mac_pj * macs
        snn = self.energy_pj
        return {"macs": macs, "energy_pj": energy, "ann_over_snn": energy / snn if snn else None,
                "counted_on": self.ann_counted_on}

    def to_dict(self) -> dict:
        """The ``snnc-energy/4`` JSON object (README.md, "Energy report JSON")."""
        return {"schema": SCHEMA, "model": self.model, "T": self.T, "table": self.table.to_dict(),
                "counting": {"target": self.target, "first_layer": self.first_layer,
                             "encoding": self.encoding, "passes": self.passes, "ac": self.ac,
                             "ac_rule": self.ac_rule},
                "layers": [r.to_dict() for r in self.layers], "totals": self.totals,
                "ann": self.ann, "spike_rates": dict(self.spike_rates),
                "rates_from": {"backend": self.rates_backend, "samples": self.samples,
                               "dataset": self.dataset}}

    def to_csv(self) -> str:
        """One header line (:data:`LAYER_KEYS`) and one line per layer; ``shape`` as ``4x8x8``,
        ``sources`` and ``folded_into`` joined by ``;``, an empty ``input_rate`` for layers
        without one."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(LAYER_KEYS)
        for r in self.layers:
            d = r.to_dict()
            d["shape"] = "x".join(map(str, r.shape))
            d["sources"] = ";".join(r.sources)
            d["folded_into"] = ";".join(r.folded_into)
            d["input_rate"] = "" if r.input_rate is None else r.input_rate
            w.writerow([d[k] for k in LAYER_KEYS])
        return buf.getvalue()


def build_report(graph: Graph, rates: Rates, table: str | EnergyTable | None = None, *,
                 first_layer: str | None = None, encoding: str | None = None,
                 model: str | None = None, dataset: str | None = None,
                 passes: str | None = None, target: str | None = None,
                 ann_graph: Graph | None = None) -> EnergyReport:
    """The energy of ``graph`` with firing rates ``rates`` (STTS eqs. C.1, C.2; module docstring).

    Args:
        graph: the graph whose layers are counted (verified in place).
        rates: measured per-step rates of at least every spiking node (and of the Input with rate
            encoding), e.g. :func:`rates_from_trace` of a backend run; ``rates.T`` is ``T``.
        table: technology table (name, JSON path or :class:`EnergyTable`; default 45nm-fp32).
        first_layer: ``"per_step"`` (``T * MACs``) or ``"once"`` (eq. C.2 as printed); default
            the target's rule, else ``"per_step"``.
        encoding: ``"direct"`` or ``"rate"`` (default ``graph.meta["encoding"]``, else direct).
        model, dataset, passes: labels recorded in the report.
        target: an energy target (:data:`ENERGY_TARGETS`): its first-layer rule and how AC
            layers are counted (``lava``: synaptic events, from ``rates.counts``). ``graph``
            must already be its IR target's graph (:func:`snnc.runtime.energy_run.energy_report`
            does that). None: MACs, per step.
        ann_graph: the graph the ANN equivalent is counted on (the unfolded architecture);
            default ``graph``.
    Raises:
        EnergyError: bad ``first_layer``/``encoding``/table/target, a spiking source without
            a rate, or (``lava``) without per-element counts.
        GraphError: the graph is invalid.
    """
    tgt = get_energy_target(target) if target is not None else None
    if first_layer is None:
        first_layer = tgt.first_layer if tgt else "per_step"
    if first_layer not in FIRST_LAYER:
        raise EnergyError(f"first_layer must be one of {FIRST_LAYER}, got {first_layer!r}")
    enc = encoding or str(graph.meta.get("encoding", "direct"))
    if enc not in ("direct", "rate"):
        raise EnergyError(f"unknown input encoding {enc!r}; known: direct, rate")
    tab = get_table(table)
    T = int(rates.T)
    dw = bool(tgt and tgt.depthwise_events)
    layers = count_layers(graph, enc, depthwise_events=dw)
    needs_rates = any(layer.input == SPIKES for layer in layers)
    ac = tgt.ac if tgt else AC_RATE
    er, eff = {}, {}
    if needs_rates and ac == AC_EVENTS:
        eff = effective_layers(graph, node_kinds(graph, enc),
                               {layer.name: layer.input for layer in layers}, T)
    elif needs_rates:
        er = event_rates(graph, {n: rates.per_step(n) for n in rates.sums}, T, enc,
                         depthwise_events=dw)
    rows = []
    for layer in layers:
        folded: tuple[str, ...] = ()
        if layer.input == SPIKES and ac == AC_EVENTS:
            e = eff[layer.name]
            sops, rate = count_events(e, rates.counts, T, rates.samples)
            macs, folded = 0.0, e.folded_into
            count_as = "folded" if folded else "AC"
            rate = None if folded else rate
            energy = tab.e_ac_pj * sops
        elif layer.input == SPIKES:
            rate = input_rate(layer, er, T)
            sops, macs, count_as = rate * T * layer.macs, 0.0, "AC"
            energy = tab.e_ac_pj * sops
        else:
            rate, sops, count_as = None, 0.0, "MAC"
            steps = 1 if (layer.input == INPUT and first_layer == "once") else T
            macs = float(steps * layer.macs)
            energy = tab.e_mac_pj * macs
        rows.append(LayerEnergy(layer.name, layer.op, layer.shape, layer.params, layer.macs,
                                layer.input, layer.sources, rate, count_as, macs, sops, energy,
                                synapses_per_step=layer.synapses, folded_into=folded))
    total = sum(r.energy_pj for r in rows)
    for r in rows:
        r.share = r.energy_pj / total if total else 0.0
    spike_rates = {n.name: rates.mean(n.name) for n in graph
                   if OPS[n.op].spiking and n.name in rates}
    ann_macs, counted_on = None, "the counted graph"
    if ann_graph is not None:  # the caller's unfolded architecture (the counted graph for paper)
        ann_macs = (sum(r.macs_per_step for r in rows) if ann_graph is graph
                    else sum(layer.macs for layer in count_layers(ann_graph, enc)))
        counted_on = "the unfolded graph (IR target energy)"
    return EnergyReport(model or str(graph.meta.get("name") or "model"), T, tab, rows,
                        first_layer, enc, passes, spike_rates, rates.backend, rates.samples,
                        dataset, target, ann_macs, counted_on, ac)

