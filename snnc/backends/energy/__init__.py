"""The energy backend: synaptic operations and energy per layer (docs/ARCHITECTURE.md,
"Backends and op tables").

* :mod:`.tables` — technology tables (``E_MAC``, ``E_AC`` in pJ, cited; default 45 nm fp32,
  Horowitz 2014), user tables from JSON.
* :mod:`.count` — synaptic layers, MACs per step from shapes, whether a layer's input is spikes.
* :mod:`.rates` — per-node firing rates (and per-element spike counts) from any backend's
  recorded outputs.
* :mod:`.events` — exact synaptic events through effective layers (the ``lava`` target's ACs).
* :mod:`.report` — the energy targets (``paper``, ``lava``), :func:`build_report` ->
  :class:`EnergyReport` (STTS eqs. C.1, C.2), JSON (``snnc-energy/4``) and CSV.

Needs numpy only: rates are measured by a backend run elsewhere (``snnc.runtime.energy_run``).
"""
from .count import ANALOG, EVENT_PRESERVING, LayerCount, count_layers, event_rates, node_kinds
from .rates import Rates, rates_from_trace
from .events import EffectiveLayer, effective_layers
from .report import (AC_EVENTS, AC_RATE, ENERGY_TARGETS, FIRST_LAYER, LAYER_KEYS, SCHEMA,
                     EnergyReport, EnergyTarget, LayerEnergy, build_report, get_energy_target)
from .tables import DEFAULT_TABLE, TABLES, EnergyError, EnergyTable, get_table, load_table_file

__all__ = ["ANALOG", "EVENT_PRESERVING", "LayerCount", "count_layers", "event_rates", "node_kinds", "Rates",
           "rates_from_trace", "FIRST_LAYER", "LAYER_KEYS", "SCHEMA", "EnergyReport",
           "LayerEnergy", "build_report", "DEFAULT_TABLE", "TABLES", "EnergyError", "EnergyTable",
           "get_table", "load_table_file", "AC_EVENTS", "AC_RATE", "EffectiveLayer",
           "effective_layers", "ENERGY_TARGETS", "EnergyTarget", "get_energy_target"]
