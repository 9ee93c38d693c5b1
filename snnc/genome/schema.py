"""What genome statements mean, as data: one table per header statement, neuron model, surrogate
gradient and block kind. A new genome family is a new entry here, not a grammar rule.

A :class:`Param` is one typed attribute (``channels=192``) with its default and range; a
:class:`SpecKind` is a neuron model or surrogate (``lif tau=3``); a :class:`BlockKind` is a block
keyword (``stage``) with its forms (``node``, ``graph``), attributes and edge rules. The checks that
apply these tables live in :mod:`snnc.genome.validate`; the printer reads the same tables, so the
attribute order and defaults of the canonical text are defined here and only here.

Attribute types: ``int``, ``float`` (an int is accepted and stored as float), ``bool``
(``true``/``false``), ``name`` (an identifier such as ``separable`` or a block name), ``text`` (any
string, always quoted), ``shape`` (``3x32x32`` or ``784``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: Default of a parameter that must be given.
REQUIRED: Any = _Required()
#: The genome format version this snnc reads and writes.
FORMAT_VERSION = 1
TYPES = ("int", "float", "bool", "name", "text", "shape")


@dataclass(frozen=True)
class Param:
    """One attribute: its type, default (or ``REQUIRED``) and allowed values.

    ``lo``/``hi`` bound numbers (exclusive when ``lo_open``/``hi_open``); ``choices`` lists the
    allowed values; ``odd`` asks for an odd integer; ``ref`` (``name`` params) says the value names an
    earlier block of that kind (``layer l4 cell=c3``); ``hint`` follows the "must be" of errors.
    """

    name: str
    type: str
    default: Any = REQUIRED
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    choices: tuple = ()
    odd: bool = False
    ref: str | None = None
    doc: str = ""
    hint: str = ""  # appended to "must be ..." errors

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def describe(self) -> str:
        """What a valid value is, completing "must be ...": ``an integer >= 1``."""
        noun = {"int": "an integer", "float": "a number", "bool": "true or false",
                "name": "a name", "text": "a quoted string",
                "shape": "a shape like 3x32x32 or 784"}[self.type]
        if self.choices:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.odd:
            noun = "an odd integer"
        if self.lo is not None and self.hi is not None:
            return (f"{noun} in {'(' if self.lo_open else '['}{_num(self.lo)}, "
                    f"{_num(self.hi)}{')' if self.hi_open else ']'}")
        if self.lo is not None:
            return f"{noun} {'>' if self.lo_open else '>='} {_num(self.lo)}"
        if self.hi is not None:
            return f"{noun} {'<' if self.hi_open else '<='} {_num(self.hi)}"
        return noun


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(x)


@dataclass(frozen=True)
class SpecKind:
    """A neuron model or surrogate gradient: ``lif tau=3 decay_input=false``.

    ``forms`` are mutually exclusive parameterisations (groups of keys); the first is used when none
    of their keys is given, and each group's first key is always printed so that the user's
    parameterisation survives the round trip. Keys outside every group always apply. ``shown`` keys
    are printed even at their default.
    """

    name: str
    params: tuple[Param, ...]
    forms: tuple[tuple[str, ...], ...] = ()
    shown: tuple[str, ...] = ()
    doc: str = ""

    def param(self, key: str) -> Param | None:
        return next((p for p in self.params if p.name == key), None)


@dataclass(frozen=True)
class EdgeRules:
    """Which edges a block body may hold (``src -> dst @delay op``, ``back src -> dst @d op``).

    Ids run over ``[min_src, block[nodes])`` for sources and ``[0, block[nodes])`` for destinations
    (``nodes=None``: no upper bound). Forward edges go from a lower to a higher id, backward edges from
    a higher or the same id to a lower one with delay >= 1. ``ops=None``: edges carry no operation;
    otherwise every edge names one of ``ops``. ``markers``: words an edge may carry in the
    operation's place besides ``ops`` (a supernet construct: the ResNet family's ``choice``, an
    optional backward connection; a SpikeDHS cell's ``mix``, a weighted mix of all ``ops``).
    ``what`` is how messages call an id.
    """

    nodes: str | None = "nodes"
    min_src: int = 0
    forward: bool = True
    backward: bool = True
    forward_delays: bool = True
    ops: tuple[str, ...] | None = None
    markers: tuple[str, ...] = ()
    what: str = "node"


@dataclass(frozen=True)
class Form:
    """One form of a block kind (``stage s3 graph``); ``name=None`` for kinds without a form word.

    ``exclude`` lists the kind's attributes that do not apply to this form; ``defaults`` overrides
    defaults; ``edges`` is ``None`` when the body holds no edges.
    """

    name: str | None = None
    exclude: tuple[str, ...] = ()
    defaults: tuple[tuple[str, Any], ...] = ()
    edges: EdgeRules | None = None
    doc: str = ""


@dataclass(frozen=True)
class BlockKind:
    """A block keyword: ``KEYWORD [NAME] [FORM] key=value ... [{ edges, neuron, surrogate }]``.

    ``naming`` is ``required``, ``optional`` (then the kind has no forms) or ``none``. ``single``: at
    most one such block; ``last``: it must be the last block. Bodies may always override the neuron
    and surrogate of the block.
    """

    keyword: str
    params: tuple[Param, ...]
    forms: tuple[Form, ...] = (Form(),)
    naming: str = "required"
    single: bool = False
    last: bool = False
    doc: str = ""

    def form(self, name: str | None) -> Form | None:
        return next((f for f in self.forms if f.name == name), None)

    @property
    def has_forms(self) -> bool:
        return self.forms[0].name is not None

    def params_for(self, form: Form) -> tuple[Param, ...]:
        """The attributes of ``form`` in table order, with the form's defaults."""
        over = dict(form.defaults)
        return tuple(replace(p, default=over[p.name]) if p.name in over else p
                     for p in self.params if p.name not in form.exclude)


@dataclass(frozen=True)
class Header:
    """A header statement ``KEYWORD value`` setting ``Genome.<field>``; ``param=None`` marks the
    neuron/surrogate statements, which take ``KIND key=value ...``."""

    keyword: str
    field: str
    param: Param | None
    required: bool
    doc: str = ""


def _f(name, default=REQUIRED, **kw) -> Param:
    return Param(name, "float", default, **kw)


def _i(name, default=REQUIRED, **kw) -> Param:
    return Param(name, "int", default, **kw)


# ----------------------------------------------------------------------------- neurons
_ALWAYS = (
    _f("v_th", 1.0, doc="firing threshold"),
    _f("v_reset", 0.0, doc="potential after a spike (hard reset)"),
    _f("v_rest", 0.0, doc="resting potential the leak decays towards"),
    Param("reset", "name", "hard", choices=("hard", "soft"),
          doc="hard: V = v_reset after a spike; soft: V = H - v_th"),
    Param("detach_reset", "bool", False, doc="no gradient through the reset"),
)
_LEAK_FORMS = (
    _f("tau", 2.0, lo=1, lo_open=True, doc="SpikingJelly time constant (steps): beta = 1 - 1/tau",
       hint="; for the leak-factor form v = leak * v + I (SpikeDHS's tau = 0.2) write leak=..."),
    Param("decay_input", "bool", True, doc="alpha = 1/tau (true) or 1 (false)"),
    _f("leak", lo=0, hi=1, doc="leak-factor form v = leak * v + I (BCNAS, SpikeDHS's 'tau')"),
    _f("beta", lo=0, hi=1, doc="canonical decay of docs/ARCHITECTURE.md"),
    _f("alpha", 1.0, lo=0, lo_open=True, doc="canonical input gain; needs beta"),
)
_LEAK_GROUPS = (("tau", "decay_input"), ("leak",), ("beta", "alpha"))

NEURONS: dict[str, SpecKind] = {k.name: k for k in (
    SpecKind("lif", _LEAK_FORMS + _ALWAYS, _LEAK_GROUPS,
             doc="leaky integrate-and-fire: H = v_rest + beta (V - v_rest) + alpha X"),
    SpecKind("if", tuple(p for p in _ALWAYS if p.name != "v_rest"),
             doc="integrate-and-fire: beta = alpha = 1"),
    SpecKind("alif", _LEAK_FORMS + (
        _f("rho", 0.2, lo=0, hi=1, doc="decay of the threshold increment a = rho a + S "
                                        "(SpikeDHS eq. 8, tau_a = 0.2)"),
        _f("adapt", 1.8, lo=0, doc="threshold A = v_th + adapt * a (SpikeDHS eq. 7's beta; value "
                                    "from Bellec et al. 2018, LSNN)")) + _ALWAYS, _LEAK_GROUPS,
             doc="adaptive-threshold LIF (SpikeDHS section 3.1.3)"),
    SpecKind("plif", _LEAK_FORMS[:2] + _ALWAYS, (("tau", "decay_input"),),
             doc="parametric LIF (Fang et al. 2021): tau is the initial value of a trainable leak"),
    SpecKind("relu", (), doc="non-spiking ReLU unit (hybrid search, SpikeDHS HNS)"),
)}

SURROGATES: dict[str, SpecKind] = {k.name: k for k in (
    SpecKind("atan", (_f("alpha", 2.0, lo=0, lo_open=True),), shown=("alpha",),
             doc="STTS eq. B.1"),
    SpecKind("triangle", (_f("gamma", 1.0, lo=0, lo_open=True),), shown=("gamma",),
             doc="BCNAS-SNN, TET"),
    SpecKind("dspike", (_f("b", 3.0, lo=0, lo_open=True),), shown=("b",), doc="SpikeDHS DGS"),
    SpecKind("sigmoid", (_f("alpha", 4.0, lo=0, lo_open=True),), shown=("alpha",),
             doc="SpikingJelly"),
    SpecKind("rectangle", (_f("width", 1.0, lo=0, lo_open=True),), shown=("width",),
             doc="STBP (Wu et al. 2018)"),
)}

SPECS = {"neuron": NEURONS, "surrogate": SURROGATES}
DEFAULT_NEURON = ("lif", (("tau", 2.0),))
DEFAULT_SURROGATE = ("atan", (("alpha", 2.0),))

# ----------------------------------------------------------------------------- header
HEADERS: dict[str, Header] = {h.keyword: h for h in (
    Header("snnc-genome", "version", _i("snnc-genome", lo=1), True, "format version, first"),
    Header("name", "name", Param("name", "text"), True),
    Header("provenance", "provenance", Param("provenance", "text", None), False,
           "generator and seed, free text; never part of the meaning"),
    Header("T", "T", _i("T", lo=1), True, "time steps"),
    Header("input", "input_shape", Param("input", "shape"), True, "per sample: CxHxW or F"),
    Header("classes", "classes", _i("classes", lo=1), True),
    Header("encoding", "encoding", Param("encoding", "name", "direct", choices=("direct", "rate")),
           False, "direct: the analog input every step; rate: Bernoulli spikes"),
    Header("neuron", "neuron", None, False, "default neuron, 'lif tau=2' when absent"),
    Header("surrogate", "surrogate", None, False, "default surrogate, 'atan alpha=2' when absent"),
)}

# ----------------------------------------------------------------------------- blocks
SNASNET_OPS = ("zero", "skip", "conv1x1", "conv3x3", "avgpool3x3")
DHS_OPS = ("skip", "snn_b3", "snn_b5")
#: A SpikeDHS edge that mixes every DHS_OPS candidate (a supernet edge, SpikeDHS eq. 13-16).
DHS_MIX = "mix"
_DROPOUT = _f("dropout", 0.0, lo=0, hi=1, hi_open=True, doc="dropout probability")

BLOCKS: dict[str, BlockKind] = {k.keyword: k for k in (
    BlockKind("stage", (
        _i("channels", lo=1, doc="output channels"),
        _i("stride", 1, choices=(1, 2), doc="node: its conv; graph: the input nodes' convs"),
        _i("kernel", 3, lo=1, odd=True),
        Param("conv", "name", "standard", choices=("standard", "separable"),
              doc="separable: depthwise kxk then pointwise 1x1 (STTS)"),
        Param("spiking", "bool", True, doc="false: no neuron before the conv (encoding layer)"),
        _i("nodes", lo=1, doc="spiking convolution nodes of a graph stage"),
        _DROPOUT,
    ), (Form("node", exclude=("nodes",), doc="one spiking convolution node: SN -> conv -> BN"),
        Form("graph", defaults=(("stride", 2),), edges=EdgeRules(),
             doc="a graph of nodes (STTS section 4.1); edges may carry synaptic delays")),
        doc="STTS stage"),
    BlockKind("classifier", (
        _i("channels", 0, lo=0, doc="0: no 1x1 conv-BN-SN before the pool"),
        Param("pool", "name", "gap", choices=("gap",)),
        _DROPOUT,
        _i("hidden", 0, lo=0, doc="width of a hidden Linear-SN layer before the output layer "
                                   "(ResNet-19's 256-d FC); 0: none"),
        _i("vote", 0, lo=0, doc="voting population per class; 0: a plain Linear"),
    ), naming="optional", single=True, last=True, doc="STTS section 5.1 head"),
    BlockKind("cell", (
        _i("channels", lo=1),
        _i("nodes", 4, lo=1),
        Param("mixing", "name", "membrane", choices=("membrane", "spike"),
              doc="where a 'mix' edge mixes its candidates: membrane (SpikeDHS eq. 16, the "
                  "paper's) or spike (eq. 14, each candidate fires; the authors' search code)"),
        Param("candidates", "text", " ".join(DHS_OPS),
              doc="the operations a 'mix' edge mixes, in port order (a subset of "
                  + ", ".join(DHS_OPS) + ")"),
    ), (Form("snasnet", exclude=("mixing", "candidates"),
             edges=EdgeRules(forward_delays=False, ops=SNASNET_OPS),
             doc="SNASNet cell: an operation per edge; backward edges read the previous step"),
        Form("dhs", defaults=(("nodes", 3),),
             edges=EdgeRules(min_src=-2, backward=False, forward_delays=False, ops=DHS_OPS,
                             markers=(DHS_MIX,)),
             doc="SpikeDHS cell: sources -2 and -1 are the two previous cells' outputs; "
                 "an edge's 'mix' mixes all its operations (a supernet)")),
        doc="a cell of operations on edges"),
    BlockKind("skeleton", (
        Param("cell", "name", ref="cell", doc="the cell block used at widths C and 2C, C = its "
                                               "channels"),
        _i("hidden", 1024, lo=0, doc="hidden Linear-SN width before the output layer"),
        Param("dropout", "float", 0.5, lo=0, hi=1, hi_open=True),
        _i("vote", 10, lo=0, doc="voting population per class"),
        _i("pool", 2, lo=1, doc="kernel of the average pool before the classifier (SNASNet "
                                "section 5.1: 2; the authors' CIFAR-10 run: 4)"),
        Param("order", "name", "paper", choices=("paper", "code"),
              doc="paper: reduction Conv-BN-LIF-AvgPool(2) (SNASNet section 5.1); code: the "
                  "authors' code, BN-LIF-Conv-BN-AvgPool(2) and BN-LIF before the last pool"),
    ), (Form("snasnet", doc="SNASNet macro network: stem, cell, reduction, cell, head"),),
        naming="none", doc="a fixed macro network around a cell"),
    BlockKind("resnet", (
        _i("depth", lo=1),
        _i("channels", lo=1, doc="width of the first stage"),
    ), (Form(edges=EdgeRules(nodes=None, forward=False, markers=("choice",), what="port")),),
        doc="ResNet with global backward connections between LIF layers (BCNAS-SNN); ports are "
            "LIF-layer indices; `back j -> i @1 choice` makes a connection optional (a supernet)"),
    BlockKind("layer", (
        Param("cell", "name", ref="cell"),
        _i("level", lo=0, hi=3, doc="resolution level: 1/4, 1/8, 1/16, 1/32"),
    ), doc="one layer of a SpikeDHS network, with per-layer neuron/surrogate overrides"),
    BlockKind("stem", (), naming="none", single=True,
              doc="the neuron/surrogate of a SpikeDHS network's stem, set apart from the "
                  "genome's (what DGS and TPS emit): `stem { surrogate dspike b=3.4 }`; before "
                  "the first layer"),
    BlockKind("trellis", (
        Param("cell", "name", ref="cell"),
        _i("layers", lo=1, doc="layers L of the trellis"),
        _i("levels", 3, lo=1, hi=4, doc="resolution levels 0 .. levels-1 each layer may take"),
    ), doc="a SpikeDHS layer-level supernet (section 4.1.2): every layer at every level, "
            "mixed by weights beta over the previous layer's neighbouring levels"),
)}

#: Words a name cannot be (they read as booleans).
RESERVED = ("true", "false")
#: Every statement keyword, for messages.
STATEMENTS = tuple(HEADERS) + tuple(BLOCKS)
