"""The graph under construction, shared by every genome family's lowering.

A :class:`Builder` holds the :class:`~snnc.ir.Graph` being built, the seeded generator that
initialises weights (:mod:`snnc.frontend.init`, drawn in node-creation order), and the **cursor**:
the node whose output the next block reads (``exit``) with its per-sample shape ``(C, H, W)`` or
``(F,)``. Family modules add nodes through its small helpers, which set each node's ``loc`` to the
genome construct that produced it so that verifier errors point back at the genome line.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import genome as genome_pkg
from ..errors import LimitError, LoweringError
from ..genome.ast import Block, Genome, Loc, Spec
from ..ir.graph import FORWARD, Graph
from ..limits import Limits
from ..ir.ops import OPS, SURROGATES
from . import init

#: The one parameter of each surrogate gradient, stored as the neuron's ``surrogate_arg``.
SURROGATE_ARG = {"atan": "alpha", "triangle": "gamma", "dspike": "b", "sigmoid": "alpha",
                 "rectangle": "width"}
#: Genome neuron model -> IR op (IF is the canonical LIF with beta = 1).
NEURON_OP = {"lif": "LIF", "if": "LIF", "alif": "ALIF", "plif": "PLIF", "relu": "ReLU"}


def where(loc: Loc | None) -> str:
    """``"line 12:3"`` for a known genome position, ``"<genome>"`` otherwise."""
    return f"line {loc}" if loc is not None else "<genome>"


def block_label(block: Block) -> str:
    """``"stage s3"`` / ``"classifier head"`` / ``"cell"``: how errors name a block."""
    return f"{block.kind} {block.name}" if block.name else block.kind


def fail(block: Block, message: str, loc: Loc | None = None) -> LoweringError:
    """A LoweringError ``"line 12:1: stage s3: <message>"`` (raise it)."""
    return LoweringError(f"{where(loc or block.loc)}: {block_label(block)}: {message}")


class Builder:
    """Builds one graph from one genome; see the module docstring.

    Args:
        genome: the genome being lowered (its ``T``, ``classes``, neuron/surrogate defaults).
        seed: seed of ``numpy.random.default_rng`` for the weight initialisation.
        limits: resource limits (:class:`snnc.limits.Limits`) on parameters, nodes, edges and
            name lengths, checked before each node is added and before its weights are drawn
            (``LimitError`` at the genome position of the node).
        dry: draw no weights: parameters are read-only zero views of the right shape that take no
            memory (to measure a genome against the limits without building it).
    """

    def __init__(self, genome: Genome, seed: int = 0, limits: Limits | None = None,
                 dry: bool = False):
        self.genome = genome
        self.rng = np.random.default_rng(seed)
        self.limits = limits if limits is not None else Limits()
        self.dry = dry
        self.num_params = 0
        self.graph = Graph()
        self.exit: str | None = None
        self.shape: tuple[int, ...] = tuple(genome.input_shape)
        #: What a family's lowering carries from one block to the next, under the family's key
        #: (``"dhs"``: the SpikeDHS cells and the two previous layers' outputs).
        self.state: dict[str, Any] = {}

    # ----------------------------------------------------------------- nodes and edges
    def node(self, name: str, op: str, attrs: dict[str, Any] | None = None,
             params: dict[str, np.ndarray] | None = None, loc: Loc | None = None) -> str:
        """Add a node (``loc`` recorded as ``"line:col"``) and return its name."""
        self.check("nodes", len(self.graph.nodes) + 1, "the number of IR nodes", loc)
        self.check("name", len(name), f"the length of IR node name {name[:40]!r}...", loc)
        self.graph.add_node(name, op, attrs, params, loc=str(loc) if loc is not None else None)
        return name

    def edge(self, src: str, dst: str, delay: int = 0, kind: str = FORWARD) -> None:
        """Add ``src -> dst @delay`` (STTS eq. 8: ``dst`` reads ``src[t - delay]``)."""
        if self.limits.edges is not None and len(self.graph.edges) >= self.limits.edges:
            node = self.graph.nodes.get(dst)
            self.check("edges", len(self.graph.edges) + 1, "the number of IR edges",
                       node.loc if node is not None else None)
        self.graph.add_edge(src, dst, delay=int(delay), kind=kind)

    def check(self, limit: str, value: int, what: str, loc: "Loc | str | None") -> None:
        """Raise LimitError when ``value`` is over ``limit``, located at ``loc``."""
        if not self.limits.exceeded(limit, value):
            return
        line = col = 0
        if loc is not None:
            line, _, col = str(loc).partition(":")
            line, col = int(line), int(col or 0)
        raise LimitError(self.limits.message(limit, value, what), line, col, limit=limit,
                         value=value)

    def reserve(self, count: int, what: str, loc: Loc | None) -> None:
        """Count ``count`` parameters of the node ``what`` about to be drawn; over the limit,
        LimitError before anything is allocated."""
        self.num_params += count
        self.check("params", self.num_params, f"{what}: the parameter count so far", loc)

    def _draw(self, make, shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
        if self.dry:
            return {k: np.broadcast_to(np.float64(0.0), shape) for k, shape in shapes.items()}
        return make()

    def chain(self, *names: str) -> None:
        """Zero-delay forward edges ``a -> b -> c ...``."""
        for a, b in zip(names, names[1:]):
            self.edge(a, b)

    # ----------------------------------------------------------------- layers
    def conv(self, name: str, in_channels: int, out_channels: int, kernel: int, *, stride: int = 1,
             groups: int = 1, bias: bool = True, loc: Loc | None = None) -> str:
        """``Conv2d`` with "same" padding ``kernel // 2``: ``[C_in, H, W] -> [C_out, H/stride,
        W/stride]``, PyTorch-default initialised."""
        attrs = {"in_channels": in_channels, "out_channels": out_channels, "kernel": kernel,
                 "stride": stride, "padding": kernel // 2, "groups": groups, "bias": bias}
        shapes = {"weight": (out_channels, in_channels // max(groups, 1), kernel, kernel)}
        if bias:
            shapes["bias"] = (out_channels,)
        self.reserve(sum(int(np.prod(s, dtype=object)) for s in shapes.values()), name, loc)
        params = self._draw(lambda: init.conv2d_params(self.rng, in_channels, out_channels,
                                                       kernel, groups, bias), shapes)
        return self.node(name, "Conv2d", attrs, params, loc)

    def batchnorm(self, name: str, channels: int, loc: Loc | None = None) -> str:
        """``BatchNorm2d`` over ``channels`` in its initial state (identity up to ``eps``)."""
        self.reserve(4 * channels, name, loc)
        shapes = {k: (channels,) for k in ("weight", "bias", "running_mean", "running_var")}
        return self.node(name, "BatchNorm2d", {"num_features": channels},
                         self._draw(lambda: init.batchnorm_params(channels), shapes), loc)

    def linear(self, name: str, in_features: int, out_features: int,
               loc: Loc | None = None) -> str:
        """``Linear`` ``[F_in] -> [F_out]`` with bias, PyTorch-default initialised."""
        return self.node(name, "Linear", {"in_features": in_features,
                                          "out_features": out_features, "bias": True},
                         self.linear_params(name, in_features, out_features, True, loc), loc)

    def linear_params(self, name: str, in_features: int, out_features: int, bias: bool,
                      loc: Loc | None) -> dict[str, np.ndarray]:
        """``weight [O, I]`` (and ``bias [O]``), counted against the limits before drawing."""
        shapes = {"weight": (out_features, in_features)}
        if bias:
            shapes["bias"] = (out_features,)
        self.reserve(out_features * in_features + (out_features if bias else 0), name, loc)
        return self._draw(lambda: init.linear_params(self.rng, in_features, out_features, bias),
                          shapes)

    def neuron(self, name: str, block: Block, loc: Loc | None = None) -> str:
        """The block's neuron (its override, else the genome default) as a node of its op
        (:data:`NEURON_OP`: LIF for ``lif``/``if``, ALIF, PLIF or ReLU)."""
        op, attrs = self.neuron_op(block)
        return self.node(name, op, attrs, loc=loc or block.loc)

    #: The spiking-conv-node helpers' historical name; every neuron model goes through it.
    lif = neuron

    def neuron_op(self, block: Block) -> tuple[str, dict[str, Any]]:
        """``(op, attrs)`` of ``block``'s neuron: the op of its model and the attributes of
        ``canonical_neuron(block.neuron or genome.neuron)`` that the op has, plus ``surrogate``
        and its one parameter ``surrogate_arg`` from ``block.surrogate`` (else the genome's);
        ReLU has no attributes (no membrane, no surrogate). ``plif tau=τ`` keeps the tied gain of
        Fang et al.: ``decay_input`` (default true) becomes the op's ``decay_input`` with
        ``alpha = 1``, so the gain ``1 - beta`` follows the trained leak.

        Raises:
            LoweringError: a neuron model the IR has no op for, or an unknown surrogate.
        """
        spec = block.neuron or self.genome.neuron
        canon = dict(genome_pkg.canonical_neuron(spec))
        model = canon.pop("model", spec.kind)
        op = NEURON_OP.get(model)
        if op is None:
            raise fail(block, f"neuron model {model!r} has no IR op (known: "
                              f"{', '.join(NEURON_OP)})", spec.loc)
        if op == "ReLU":
            return op, {}
        if op == "PLIF":
            canon["decay_input"] = bool(spec.as_dict().get("decay_input", True))
            if canon["decay_input"]:
                canon["alpha"] = 1.0
        attrs: dict[str, Any] = {}
        for key, value in canon.items():
            if value is None or key not in OPS[op].attrs:
                continue
            attrs[key] = value if isinstance(value, (bool, str)) else float(value)
        attrs.update(self.surrogate_attrs(block))
        return op, attrs

    def neuron_attrs(self, block: Block) -> dict[str, Any]:
        """The attributes of :meth:`neuron_op` (for callers that know the op)."""
        return self.neuron_op(block)[1]

    def surrogate_attrs(self, block: Block) -> dict[str, Any]:
        """``{"surrogate": kind, "surrogate_arg": value}`` of the block's surrogate."""
        spec: Spec = block.surrogate or self.genome.surrogate
        if spec.kind not in SURROGATES:
            raise fail(block, f"unknown surrogate {spec.kind!r}; expected one of "
                              f"{', '.join(SURROGATES)}", spec.loc)
        value = spec.get(SURROGATE_ARG.get(spec.kind, ""))
        if value is None and spec.params:
            value = spec.params[0][1]
        out: dict[str, Any] = {"surrogate": spec.kind}
        if value is not None:
            out["surrogate_arg"] = float(value)
        return out
