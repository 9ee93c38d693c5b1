"""What the genome language means: statement kinds, block kinds and forms, attributes with types and
defaults, neuron models and surrogates. Data, not code: a new genome family is a new entry here.

Each attribute is ``Attr(type, default)``; ``REQUIRED`` marks one without a default. Types: ``int``,
``float``, ``bool``, ``str`` (with ``choices``), ``shape``. Blocks store every attribute that applies
to their form, in table order, defaults filled in, so equal meaning means equal dataclasses.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

REQUIRED = object()


@dataclass(frozen=True)
class Attr:
    type: str
    default: Any = REQUIRED
    choices: tuple = ()
    lo: float | None = None  # inclusive lower bound for numbers
    hi: float | None = None  # inclusive upper bound
    forms: tuple = ()  # forms this attribute applies to (empty: all)
    form_default: dict = field(default_factory=dict)  # per-form default overriding ``default``

    def default_for(self, form):
        return self.form_default.get(form, self.default)


@dataclass(frozen=True)
class BlockKind:
    attrs: dict
    forms: tuple = ()  # allowed forms; empty = the block takes no form word
    name_required: bool = True
    edges: tuple = ()  # forms whose body may hold edges
    edge_ops: dict = field(default_factory=dict)  # form -> allowed ops on edges (None: no ops)
    doc: str = ""


_COMMON_NEURON = {
    "v_th": Attr("float", 1.0),
    "v_reset": Attr("float", 0.0),
    "v_rest": Attr("float", 0.0),
    "reset": Attr("str", "hard", choices=("hard", "soft")),
    "detach_reset": Attr("bool", False),
}

#: Neuron models. ``lif`` has three parameterisations (exactly one used): SpikingJelly ``tau``
#: (with ``decay_input``), the leak-factor form ``leak`` (``v = leak * v + I``; BCNAS, SpikeDHS),
#: or the canonical ``beta``/``alpha`` of DESIGN.md.
NEURONS = {
    "lif": {"tau": Attr("float", 2.0, lo=1.0), "decay_input": Attr("bool", True),
            "leak": Attr("float", REQUIRED, lo=0.0, hi=1.0),
            "beta": Attr("float", REQUIRED, lo=0.0, hi=1.0), "alpha": Attr("float", 1.0),
            **_COMMON_NEURON},
    "if": dict(_COMMON_NEURON),
    # SpikeDHS eq. 5-8: u = leak u (1 - y) + I; threshold A = v_th + beta_a * a; a = rho a + y.
    "alif": {"leak": Attr("float", 0.2, lo=0.0, hi=1.0), "rho": Attr("float", 0.9, lo=0.0, hi=1.0),
             "beta_a": Attr("float", 1.8), **_COMMON_NEURON},
    # Parametric LIF: tau is the initial value of a trainable time constant.
    "plif": {"tau": Attr("float", 2.0, lo=1.0), "decay_input": Attr("bool", True), **_COMMON_NEURON},
    "relu": {},
}
#: Mutually exclusive parameter groups of a neuron model; the first is the default.
PARAMETERISATIONS = {"lif": (("tau", "decay_input"), ("leak",), ("beta", "alpha"))}

SURROGATES = {
    "atan": {"alpha": Attr("float", 2.0, lo=0.0)},        # STTS eq. B.1
    "triangle": {"gamma": Attr("float", 1.0, lo=0.0)},    # BCNAS-SNN eq. 5
    "dspike": {"b": Attr("float", 3.0, lo=0.0)},          # SpikeDHS eq. 11
    "sigmoid": {"alpha": Attr("float", 4.0, lo=0.0)},
    "rectangle": {"width": Attr("float", 1.0, lo=0.0)},
}

SNASNET_OPS = ("zero", "skip", "conv1x1", "conv3x3", "avgpool3x3")
DHS_OPS = ("snn_b3", "snn_b5", "skip")

BLOCKS = {
    "stage": BlockKind(
        doc="STTS stage: one spiking-convolution node, or a graph of nodes (SN -> conv -> BN).",
        forms=("node", "graph"), edges=("graph",), edge_ops={"graph": None},
        attrs={
            "nodes": Attr("int", REQUIRED, lo=1, hi=4096, forms=("graph",)),
            "channels": Attr("int", REQUIRED, lo=1),
            "stride": Attr("int", 1, lo=1, hi=8, form_default={"graph": 2}),
            "kernel": Attr("int", 3, choices=(1, 3, 5, 7)),
            "conv": Attr("str", "standard", choices=("standard", "separable")),
            "spiking": Attr("bool", True),
            "dropout": Attr("float", 0.0, lo=0.0, hi=0.99),
        }),
    "classifier": BlockKind(
        doc="Classifier (STTS section 5.1): [SN -> 1x1 conv -> BN] -> SN -> GAP -> dropout -> FC "
            "[-> voting].", name_required=False,
        attrs={
            "channels": Attr("int", 0, lo=0),
            "pool": Attr("str", "gap", choices=("gap",)),
            "dropout": Attr("float", 0.0, lo=0.0, hi=0.99),
            "vote": Attr("int", 0, lo=0),
        }),
    "cell": BlockKind(
        doc="Cell of operations on edges: SNASNet (forward and backward ops) or SpikeDHS.",
        forms=("snasnet", "dhs"), edges=("snasnet", "dhs"),
        edge_ops={"snasnet": SNASNET_OPS, "dhs": DHS_OPS},
        attrs={
            "nodes": Attr("int", 4, lo=1, hi=64, form_default={"dhs": 3}),
            "channels": Attr("int", REQUIRED, lo=1),
        }),
    "skeleton": BlockKind(
        doc="Macro skeleton around cells (SNASNet section 5.1).", forms=("snasnet",),
        name_required=False,
        attrs={
            "stem": Attr("int", 128, lo=1),
            "cell": Attr("str", REQUIRED),
            "hidden": Attr("int", 1024, lo=1),
            "dropout": Attr("float", 0.5, lo=0.0, hi=0.99),
            "vote": Attr("int", 10, lo=0),
        }),
    "resnet": BlockKind(
        doc="ResNet backbone; backward edges connect LIF-layer ports (BCNAS-SNN eq. 6).",
        edges=("",), edge_ops={"": None},
        attrs={
            "depth": Attr("int", REQUIRED, choices=(18, 19)),
            "channels": Attr("int", 64, lo=1),
        }),
    "layer": BlockKind(
        doc="One layer of a SpikeDHS network: which cell at which resolution level, with "
            "per-layer neuron/surrogate overrides (DGS, TPS, HNS).",
        attrs={
            "cell": Attr("str", REQUIRED),
            "level": Attr("int", REQUIRED, lo=0, hi=3),
        }),
}

#: Header statements in canonical order: keyword -> (attribute type, required, default).
HEADER = {
    "snnc-genome": ("int", True, None),
    "name": ("str", True, None),
    "provenance": ("str", False, None),
    "T": ("int", True, None),
    "input": ("shape", True, None),
    "classes": ("int", True, None),
    "encoding": ("str", False, "direct"),
    "neuron": ("spec", False, None),
    "surrogate": ("spec", False, None),
}
ENCODINGS = ("direct", "rate")
FORMAT_VERSION = 1
DEFAULT_NEURON = ("lif", {"tau": 2.0})
DEFAULT_SURROGATE = ("atan", {})
