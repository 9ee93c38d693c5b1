"""The op catalogue: one small class per op, one registry (:data:`OPS`).

Each op declares its attributes (name -> (type, default or REQUIRED)), the params it expects and
their shapes, how it computes its output shape from its input shapes, and its multiply-accumulate
count per time step. Semantics (what the op computes) live in :mod:`snnc.ir.interpret`, the
reference interpreter; backends implement the same semantics and are tested against it.

Shapes are per sample: ``(C, H, W)`` for feature maps, ``(F,)`` for vectors.

Neuron ops (kind ``"neuron"``), per neuron, ``t = 0 .. T-1``, ``X[t]`` the summed input. Every
spiking neuron shares the canonical charge and reset of DESIGN.md and differs only in its input
gain or threshold; ``V[-1] = v_rest``, ``a[-1] = 0``, ``S[-1] = 0``::

    LIF   (canonical, DESIGN.md; IF is beta = 1)
          H[t] = v_rest + beta (V[t-1] - v_rest) + alpha X[t]
          S[t] = H[t] > v_th
          V[t] = v_reset where S[t] else H[t]   (hard)  |  H[t] - v_th S[t]   (soft)
    ALIF  (SpikeDHS section 3.1.3, eq. 5-8: rho is its tau_a, adapt its beta)
          H[t] as LIF
          a[t] = rho a[t-1] + S[t-1]            (eq. 8: spikes before t raise the threshold)
          A[t] = v_th + adapt a[t]              (eq. 7)
          S[t] = H[t] > A[t]                    (eq. 6)
          V[t] = v_reset where S[t] else H[t]   (hard)  |  H[t] - A[t] S[t]   (soft)
    PLIF  (Fang et al. 2021, parametric LIF: beta trains, the IR holds its current value)
          H[t] = v_rest + beta (V[t-1] - v_rest) + g X[t],
          g = alpha (1 - beta) if decay_input else alpha;   S, V as LIF
    ReLU  (non-spiking unit of hybrid networks, SpikeDHS HNS)
          out[t] = max(0, X[t])                 (stateless)

``spiking`` ops emit binary spikes (LIF, ALIF, PLIF); ReLU is a neuron (it is the activation of a
hybrid network's layer and is counted among the neurons) whose output is analog, so the synapses it
feeds cost MACs, not accumulates. The surrogate gradient attributes are training-only.
"""
from __future__ import annotations

from typing import Any, ClassVar

from ..errors import GraphError

REQUIRED = object()  # marker: attribute has no default

#: Neuron reset modes of the canonical neuron (DESIGN.md).
RESETS = ("hard", "soft")
#: Surrogate gradient functions a neuron node may name (training-only).
SURROGATES = ("atan", "triangle", "dspike", "sigmoid", "rectangle")


def _int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


_CHECK = {int: _int, float: _num, bool: lambda x: isinstance(x, bool), str: lambda x: isinstance(x, str),
          tuple: lambda x: isinstance(x, (tuple, list)) and all(_int(v) for v in x)}


class Op:
    """Base of every op definition. Subclasses set the class variables and override
    :meth:`infer_shape`, :meth:`param_shapes` and :meth:`macs` where they differ."""

    name: ClassVar[str]
    kind: ClassVar[str]  # io | synapse | norm | neuron | pool | shape | training | merge
    attrs: ClassVar[dict[str, tuple[type, Any]]] = {}
    stateful: ClassVar[bool] = False
    spiking: ClassVar[bool] = False  # emits binary spikes
    multi_port: ClassVar[bool] = False  # inputs distinguished by port (else summed)
    doc: ClassVar[str] = ""

    @classmethod
    def check_attrs(cls, node) -> None:
        """Fill defaults into ``node.attrs`` in place and raise GraphError on missing/mistyped
        or unknown attributes."""
        for key in node.attrs:
            if key not in cls.attrs:
                raise GraphError(f"node {node.name!r} ({cls.name}): unknown attribute {key!r}; "
                                 f"expected one of {', '.join(cls.attrs) or 'none'}",
                                 node=node.name, rule="known attributes")
        for key, (typ, default) in cls.attrs.items():
            if key not in node.attrs:
                if default is REQUIRED:
                    raise GraphError(f"node {node.name!r} ({cls.name}): missing attribute {key!r}",
                                     node=node.name, rule="required attributes")
                node.attrs[key] = default
            elif not _CHECK[typ](node.attrs[key]):
                raise GraphError(f"node {node.name!r} ({cls.name}): attribute {key!r} must be "
                                 f"{typ.__name__}, got {node.attrs[key]!r}", node=node.name,
                                 rule="attribute types")
            if typ is float and node.attrs[key] is not None:
                node.attrs[key] = float(node.attrs[key])
            if typ is tuple:
                node.attrs[key] = tuple(int(v) for v in node.attrs[key])

    @classmethod
    def param_shapes(cls, attrs: dict) -> dict[str, tuple[int, ...]]:
        """Expected shape of every param; all are required (bias only when the op says bias=True)."""
        return {}

    @classmethod
    def infer_shape(cls, node, inputs: list[tuple[int, tuple[int, ...]]]) -> tuple[int, ...]:
        """Output shape from ``[(port, shape), ...]`` of the in-edges. Default: inputs are summed,
        so they must agree, and the output has their shape."""
        return _same(node, inputs)

    @classmethod
    def macs(cls, attrs: dict, in_shape: tuple[int, ...] | None, out_shape: tuple[int, ...]) -> int:
        """Multiply-accumulate operations per sample per time step (0 for ops without synapses)."""
        return 0


def _fail(node, msg: str, rule: str = "shapes agree"):
    raise GraphError(f"node {node.name!r} ({node.op}): {msg}", node=node.name, rule=rule)


def _same(node, inputs) -> tuple[int, ...]:
    if not inputs:
        _fail(node, "has no inputs", rule="inputs")
    shapes = {tuple(s) for _, s in inputs}
    if len(shapes) != 1:
        _fail(node, f"summed inputs have different shapes {sorted(shapes)}")
    return tuple(inputs[0][1])


def _chw(node, shape) -> tuple[int, int, int]:
    if len(shape) != 3:
        _fail(node, f"expects a (C, H, W) input, got {shape}")
    return shape


def _conv_out(node, size: int, kernel: int, stride: int, padding: int) -> int:
    out = (size + 2 * padding - kernel) // stride + 1
    if out < 1:
        _fail(node, f"kernel {kernel} with padding {padding} does not fit input size {size}")
    return out


class Input(Op):
    name, kind = "Input", "io"
    attrs = {"shape": (tuple, REQUIRED)}
    doc = "Network input; out[t] = x[t] (direct encoding repeats the sample at every step)."

    @classmethod
    def infer_shape(cls, node, inputs):
        if inputs:
            _fail(node, "Input takes no in-edges", rule="io")
        return tuple(node.attrs["shape"])


class Output(Op):
    name, kind = "Output", "io"
    doc = "Network output; out[t] = sum of inputs (per-class scores at step t)."


class Conv2d(Op):
    name, kind = "Conv2d", "synapse"
    attrs = {"in_channels": (int, REQUIRED), "out_channels": (int, REQUIRED),
             "kernel": (int, REQUIRED), "stride": (int, 1), "padding": (int, 0),
             "groups": (int, 1), "bias": (bool, False)}
    doc = "2-D cross-correlation (PyTorch convention), weight [O, I/groups, k, k], bias [O]."

    @classmethod
    def param_shapes(cls, a):
        shapes = {"weight": (a["out_channels"], a["in_channels"] // max(a["groups"], 1),
                             a["kernel"], a["kernel"])}
        if a["bias"]:
            shapes["bias"] = (a["out_channels"],)
        return shapes

    @classmethod
    def infer_shape(cls, node, inputs):
        c, h, w = _chw(node, _same(node, inputs))
        a = node.attrs
        if c != a["in_channels"]:
            _fail(node, f"input has {c} channels, in_channels is {a['in_channels']}")
        g = a["groups"]
        if g < 1 or a["in_channels"] % g or a["out_channels"] % g:
            _fail(node, f"groups={g} must divide in_channels and out_channels", rule="attributes")
        if a["kernel"] < 1 or a["stride"] < 1 or a["padding"] < 0:
            _fail(node, "kernel and stride must be >= 1 and padding >= 0", rule="attributes")
        return (a["out_channels"], _conv_out(node, h, a["kernel"], a["stride"], a["padding"]),
                _conv_out(node, w, a["kernel"], a["stride"], a["padding"]))

    @classmethod
    def macs(cls, a, in_shape, out_shape):
        o, h, w = out_shape
        return o * h * w * (a["in_channels"] // a["groups"]) * a["kernel"] ** 2


class Linear(Op):
    name, kind = "Linear", "synapse"
    attrs = {"in_features": (int, REQUIRED), "out_features": (int, REQUIRED), "bias": (bool, True)}
    doc = "Fully connected layer y = W x + b, weight [O, I], bias [O]."

    @classmethod
    def param_shapes(cls, a):
        shapes = {"weight": (a["out_features"], a["in_features"])}
        if a["bias"]:
            shapes["bias"] = (a["out_features"],)
        return shapes

    @classmethod
    def infer_shape(cls, node, inputs):
        s = _same(node, inputs)
        if s != (node.attrs["in_features"],):
            _fail(node, f"expects ({node.attrs['in_features']},) input, got {s}")
        return (node.attrs["out_features"],)

    @classmethod
    def macs(cls, a, in_shape, out_shape):
        return a["in_features"] * a["out_features"]


class BatchNorm2d(Op):
    name, kind = "BatchNorm2d", "norm"
    attrs = {"num_features": (int, REQUIRED), "eps": (float, 1e-5), "momentum": (float, 0.1)}
    doc = ("Inference-mode batch norm per channel: (x - running_mean) / sqrt(running_var + eps) "
           "* weight + bias.")

    @classmethod
    def param_shapes(cls, a):
        c = (a["num_features"],)
        return {"weight": c, "bias": c, "running_mean": c, "running_var": c}

    @classmethod
    def infer_shape(cls, node, inputs):
        s = _same(node, inputs)
        if len(s) not in (1, 3) or s[0] != node.attrs["num_features"]:
            _fail(node, f"expects {node.attrs['num_features']} channels, got input {s}")
        return s


class LIF(Op):
    name, kind = "LIF", "neuron"
    stateful, spiking = True, True
    attrs = {"beta": (float, REQUIRED), "alpha": (float, 1.0), "v_th": (float, 1.0),
             "v_reset": (float, 0.0), "v_rest": (float, 0.0), "reset": (str, "hard"),
             "detach_reset": (bool, False), "surrogate": (str, "atan"),
             "surrogate_arg": (float, 2.0)}
    doc = ("Canonical spiking neuron (DESIGN.md): H = v_rest + beta (V - v_rest) + alpha X; "
           "S = H > v_th; V = v_reset where S else H (hard) or H - v_th S (soft).")

    @classmethod
    def infer_shape(cls, node, inputs):
        a = node.attrs
        if a["reset"] not in RESETS:
            _fail(node, f"reset must be one of {RESETS}, got {a['reset']!r}", rule="attributes")
        if a["surrogate"] not in SURROGATES:
            _fail(node, f"surrogate must be one of {SURROGATES}, got {a['surrogate']!r}",
                  rule="attributes")
        return _same(node, inputs)


class ALIF(LIF):
    name = "ALIF"
    attrs = {**LIF.attrs, "rho": (float, 0.2), "adapt": (float, 1.8)}
    doc = ("Adaptive-threshold LIF (SpikeDHS eq. 5-8): H as LIF; a[t] = rho a[t-1] + S[t-1]; "
           "A = v_th + adapt a; S = H > A; V = v_reset where S else H (hard) or H - A S (soft).")

    @classmethod
    def infer_shape(cls, node, inputs):
        a = node.attrs
        if not 0.0 <= a["rho"] <= 1.0:
            _fail(node, f"rho (decay of the threshold increment) must be in [0, 1], got "
                        f"{a['rho']}", rule="attributes")
        if a["adapt"] < 0.0:
            _fail(node, f"adapt (threshold increment per spike) must be >= 0, got {a['adapt']}",
                  rule="attributes")
        return super().infer_shape(node, inputs)


class PLIF(LIF):
    name = "PLIF"
    attrs = {**LIF.attrs, "decay_input": (bool, False)}
    doc = ("Parametric LIF (Fang et al. 2021): LIF whose leak beta trains; input gain "
           "alpha (1 - beta) with decay_input, else alpha.")

    @classmethod
    def infer_shape(cls, node, inputs):
        if not 0.0 <= node.attrs["beta"] <= 1.0:
            _fail(node, f"beta (the trainable leak) must be in [0, 1], got {node.attrs['beta']}",
                  rule="attributes")
        return super().infer_shape(node, inputs)


class ReLU(Op):
    name, kind = "ReLU", "neuron"
    doc = "Non-spiking neuron of hybrid networks (SpikeDHS HNS): out = max(0, X), stateless."


class Scale(Op):
    name, kind = "Scale", "merge"
    attrs = {"scale": (float, REQUIRED)}
    doc = "out = scale * (sum of inputs); the STTS sink mean over |T| output nodes (eq. 10)."


class AvgPool2d(Op):
    name, kind = "AvgPool2d", "pool"
    attrs = {"kernel": (int, REQUIRED), "stride": (int, 0), "padding": (int, 0)}
    doc = "Average pooling; stride 0 means stride = kernel; zero padding counted in the mean."

    @classmethod
    def check_attrs(cls, node):
        super().check_attrs(node)
        if node.attrs["stride"] == 0:
            node.attrs["stride"] = node.attrs["kernel"]

    @classmethod
    def infer_shape(cls, node, inputs):
        c, h, w = _chw(node, _same(node, inputs))
        a = node.attrs
        return (c, _conv_out(node, h, a["kernel"], a["stride"], a["padding"]),
                _conv_out(node, w, a["kernel"], a["stride"], a["padding"]))

    @classmethod
    def macs(cls, a, in_shape, out_shape):
        c, h, w = out_shape
        return c * h * w * a["kernel"] ** 2


class GlobalAvgPool(Op):
    name, kind = "GlobalAvgPool", "pool"
    doc = "Mean over H and W: (C, H, W) -> (C,)."

    @classmethod
    def infer_shape(cls, node, inputs):
        c, _, _ = _chw(node, _same(node, inputs))
        return (c,)

    @classmethod
    def macs(cls, a, in_shape, out_shape):
        return in_shape[0] * in_shape[1] * in_shape[2] if in_shape else 0


class Flatten(Op):
    name, kind = "Flatten", "shape"
    doc = "(C, H, W) -> (C*H*W,) in C-major order."

    @classmethod
    def infer_shape(cls, node, inputs):
        s = _same(node, inputs)
        n = 1
        for d in s:
            n *= d
        return (n,)


class Upsample(Op):
    name, kind = "Upsample", "shape"
    attrs = {"scale": (int, REQUIRED)}
    doc = ("Nearest-neighbour upsampling by an integer factor: (C, H, W) -> (C, scale*H, scale*W), "
           "out[c, y, x] = in[c, y // scale, x // scale]; no weights, 0 MACs. The interpolation "
           "of BCNAS-SNN's global backward connections (eq. 6's gamma).")

    @classmethod
    def infer_shape(cls, node, inputs):
        c, h, w = _chw(node, _same(node, inputs))
        s = node.attrs["scale"]
        if s < 1:
            _fail(node, f"scale must be an integer >= 1, got {s}", rule="attributes")
        return (c, h * s, w * s)


class Dropout(Op):
    name, kind = "Dropout", "training"
    attrs = {"p": (float, 0.5)}
    doc = "Identity at inference (the interpreter's semantics); drops units with probability p in training."


class Vote(Op):
    name, kind = "Vote", "pool"
    attrs = {"classes": (int, REQUIRED)}
    doc = ("Voting layer (SNASNet): (P,) -> (classes,), the mean of each class's P/classes "
           "consecutive units.")

    @classmethod
    def infer_shape(cls, node, inputs):
        s = _same(node, inputs)
        k = node.attrs["classes"]
        if len(s) != 1 or k < 1 or s[0] % k:
            _fail(node, f"population {s} is not a multiple of classes={k}")
        return (k,)


class Concat(Op):
    name, kind = "Concat", "merge"
    multi_port = True
    doc = ("Concatenation along channels (axis 0 per sample) of its ports 0..n-1 in order; "
           "several edges into one port are summed first.")

    @classmethod
    def infer_shape(cls, node, inputs):
        if not inputs:
            _fail(node, "has no inputs", rule="inputs")
        by_port: dict[int, set] = {}
        for p, s in inputs:
            by_port.setdefault(p, set()).add(tuple(s))
        ports = sorted(by_port)
        if ports != list(range(len(ports))):
            _fail(node, f"ports {ports} must be 0..{len(ports) - 1} without gaps", rule="ports")
        shapes = []
        for p in ports:
            if len(by_port[p]) != 1:
                _fail(node, f"port {p} sums inputs of different shapes {sorted(by_port[p])}")
            shapes.append(next(iter(by_port[p])))
        rest = {s[1:] for s in shapes}
        if len(rest) != 1:
            _fail(node, f"inputs differ beyond the channel axis: {shapes}")
        return (sum(s[0] for s in shapes),) + shapes[0][1:]


#: The registry: op name -> definition, grouped by kind in declaration order.
OPS: dict[str, type[Op]] = {op.name: op for op in (
    Input, Output, Conv2d, Linear, BatchNorm2d, LIF, ALIF, PLIF, ReLU, Scale, AvgPool2d,
    GlobalAvgPool, Flatten, Upsample, Dropout, Vote, Concat)}

NEURON_OPS = tuple(n for n, o in OPS.items() if o.kind == "neuron")
#: Neuron ops that emit binary spikes and have a membrane potential (the canonical neuron's family).
SPIKING_NEURON_OPS = tuple(n for n in NEURON_OPS if OPS[n].spiking)
SYNAPSE_OPS = tuple(n for n, o in OPS.items() if o.kind == "synapse")
TRAINING_ONLY_OPS = tuple(n for n, o in OPS.items() if o.kind == "training")


def op_def(node) -> type[Op]:
    try:
        return OPS[node.op]
    except KeyError:
        raise GraphError(f"node {node.name!r}: unknown op {node.op!r}; known ops: "
                         f"{', '.join(OPS)}", node=node.name, rule="known ops") from None
