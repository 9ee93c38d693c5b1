"""The op catalogue: one small class per op, one registry (:data:`OPS`).

Each op declares its attributes (name -> (type, default or REQUIRED)), the params it expects and
their shapes, how it computes its output shape from its input shapes, and its multiply-accumulate
count per time step. Semantics (what the op computes) live in :mod:`snnc.ir.interpret`, the
reference interpreter; backends implement the same semantics and are tested against it.

Shapes are per sample: ``(C, H, W)`` for feature maps, ``(F,)`` for vectors.

Each op class's docstring (``help(snnc.ir.ops.LIF)``) says what the op computes, with its
equations, what every attribute means (units, shapes, default) and which paper it comes from; a
test holds every op in :data:`OPS` to that. ``Op.doc`` is the docstring's first paragraph.

Neuron ops (kind ``"neuron"``) share the canonical charge and reset of docs/ARCHITECTURE.md and differ only
in their input gain (:class:`PLIF`) or threshold (:class:`ALIF`); :class:`ReLU` is the
non-spiking neuron of hybrid networks. ``spiking`` ops emit binary spikes (LIF, ALIF, PLIF); ReLU
is counted among the neurons (it is the activation of a hybrid network's layer) but its output is
analog, so the synapses it feeds cost MACs, not accumulates. The surrogate gradient attributes
are training-only.
"""
from __future__ import annotations

import inspect
import math
from typing import Any, ClassVar

from ..errors import GraphError

REQUIRED = object()  # marker: attribute has no default

#: Neuron reset modes of the canonical neuron (docs/ARCHITECTURE.md).
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
    kind: ClassVar[str]  # io | synapse | norm | neuron | pool | shape | training | merge | choice
    attrs: ClassVar[dict[str, tuple[type, Any]]] = {}
    #: attribute -> (lo, hi) closed bounds (None: unbounded) that :meth:`check_attrs` enforces on
    #: top of the types; every float attribute must also be finite.
    ranges: ClassVar[dict[str, tuple[float | None, float | None]]] = {}
    stateful: ClassVar[bool] = False
    spiking: ClassVar[bool] = False  # emits binary spikes
    multi_port: ClassVar[bool] = False  # inputs distinguished by port (else summed)
    doc: ClassVar[str] = ""  # one-paragraph summary, filled in from the class docstring

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        text = inspect.cleandoc(cls.__dict__.get("__doc__") or "")
        first = " ".join(text.split("\n\n")[0].split())
        cls.doc = first[:-1] if first.endswith("::") else first

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
                if not math.isfinite(node.attrs[key]):
                    raise GraphError(f"node {node.name!r} ({cls.name}): attribute {key!r} must be "
                                     f"finite, got {node.attrs[key]!r}", node=node.name,
                                     rule="attribute ranges")
            if typ is tuple:
                node.attrs[key] = tuple(int(v) for v in node.attrs[key])
            lo, hi = cls.ranges.get(key, (None, None))
            value = node.attrs[key]
            if typ is tuple:
                bad = any((lo is not None and v < lo) or (hi is not None and v > hi) for v in value)
            else:
                bad = (lo is not None and value < lo) or (hi is not None and value > hi)
            if bad:
                span = f"[{lo if lo is not None else '-inf'}, {hi if hi is not None else 'inf'}]"
                raise GraphError(f"node {node.name!r} ({cls.name}): attribute {key!r} must be in "
                                 f"{span}, got {value!r}", node=node.name, rule="attribute ranges")

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

    @classmethod
    def check_ports(cls, node, ports: set[int]) -> None:
        """Raise GraphError unless ``ports``, the ports of all of the node's in-edges, are what the
        op needs. Called by the verifier once every edge is known (:meth:`infer_shape` may see a
        cycle's inputs only in part). Default: no rule beyond ``multi_port``."""


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
    """Network input: ``out[t] = x[t]``.

    The sample ``x`` at step ``t``; with direct encoding (the image itself is the input current
    of the first layer) the same sample is repeated at every step, with sequence encoding ``x``
    is ``[T, ...]``. No in-edges; exactly one Input per graph.

    Attributes:
        shape: the shape of one sample, ``(C, H, W)`` or ``(F,)`` (elements, no batch or time
            axis); required. It is the node's output shape.
    """

    name, kind = "Input", "io"
    attrs = {"shape": (tuple, REQUIRED)}
    ranges = {"shape": (1, None)}

    @classmethod
    def infer_shape(cls, node, inputs):
        if inputs:
            _fail(node, "Input takes no in-edges", rule="io")
        return tuple(node.attrs["shape"])


class Output(Op):
    """Network output: ``out[t] = sum of inputs at t`` (the per-class scores of step ``t``).

    Backends return ``[T, B, classes]``; training averages over ``t`` (the rate decoding of all
    four papers). No attributes, no params; exactly one Output per graph.
    """

    name, kind = "Output", "io"


class Conv2d(Op):
    """2-D cross-correlation in PyTorch's convention (a synapse: weights, no state)::

        out[o, y, x] = bias[o] + sum over c in group(o), i, j of
                       weight[o, c, i, j] * in[c, stride y + i - padding, stride x + j - padding]

    with zero padding; input channels and output channels are split into ``groups`` groups
    (``groups == in_channels`` is a depthwise convolution, the "separable" convs of STTS and
    SpikeDHS). Shape ``(in_channels, H, W) -> (out_channels, H', W')`` with
    ``H' = (H + 2 padding - kernel) // stride + 1``. MACs per step: ``out_channels H' W'
    (in_channels / groups) kernel^2``; fed by spikes they are accumulates (SOPs).

    Attributes:
        in_channels: input channels ``C`` (must match the input); required.
        out_channels: output channels; required.
        kernel: square kernel size in pixels; required.
        stride: step between kernel positions in pixels (default 1).
        padding: zero rows/columns added on every side, in pixels (default 0).
        groups: number of channel groups; divides ``in_channels`` and ``out_channels``
            (default 1).
        bias: whether the ``bias`` param exists (default False; fold-bn sets it).

    Params: ``weight [out_channels, in_channels / groups, kernel, kernel]``, ``bias
    [out_channels]`` when ``bias``.
    """

    name, kind = "Conv2d", "synapse"
    attrs = {"in_channels": (int, REQUIRED), "out_channels": (int, REQUIRED),
             "kernel": (int, REQUIRED), "stride": (int, 1), "padding": (int, 0),
             "groups": (int, 1), "bias": (bool, False)}
    # padding beyond the kernel only adds zeros around zeros (and lets a crafted file ask
    # torch for a map of 1e9 x 1e9)
    ranges = {"in_channels": (1, None), "out_channels": (1, None), "kernel": (1, None),
              "stride": (1, None), "padding": (0, 4096), "groups": (1, None)}

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
    """Fully connected synapse: ``out = weight @ in + bias``, ``(in_features,) ->
    (out_features,)``; ``in_features * out_features`` MACs per step. The classifier of every
    paper's head (SNASNet, STTS, SpikeDHS) and the hidden layer before a Vote.

    Attributes:
        in_features: input length ``F`` (must match the input); required.
        out_features: output length; required.
        bias: whether the ``bias`` param exists (default True).

    Params: ``weight [out_features, in_features]``, ``bias [out_features]`` when ``bias``.
    """

    name, kind = "Linear", "synapse"
    attrs = {"in_features": (int, REQUIRED), "out_features": (int, REQUIRED), "bias": (bool, True)}
    ranges = {"in_features": (1, None), "out_features": (1, None)}

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
    """Inference-mode batch normalisation per channel (Ioffe & Szegedy 2015)::

        out[c] = (in[c] - running_mean[c]) / sqrt(running_var[c] + eps) * weight[c] + bias[c]

    on ``(C, H, W)`` or ``(C,)`` inputs. The frontends put one after the convolutions of every
    genome family; STTS section 4.1 folds it into the preceding convolution at inference (the
    ``fold-bn`` pass).

    Attributes:
        num_features: channels ``C`` (must match the input); required.
        eps: added to the variance for numerical safety (default 1e-5).
        momentum: update rate of the running statistics during training (default 0.1); no
            effect at inference.

    Params, each ``[num_features]``: ``weight`` (scale gamma), ``bias`` (shift), ``running_mean``,
    ``running_var``.
    """

    name, kind = "BatchNorm2d", "norm"
    attrs = {"num_features": (int, REQUIRED), "eps": (float, 1e-5), "momentum": (float, 0.1)}
    ranges = {"num_features": (1, None), "eps": (0.0, None), "momentum": (0.0, 1.0)}

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
    """Canonical leaky integrate-and-fire neuron (docs/ARCHITECTURE.md), elementwise, with state ``V``.

    Per neuron, ``t = 0 .. T-1``, ``X[t]`` the summed input, ``V[-1] = v_rest``::

        H[t] = v_rest + beta (V[t-1] - v_rest) + alpha X[t]     (charge)
        S[t] = H[t] > v_th                                      (fire; strict, as Lava and NIR)
        V[t] = v_reset where S[t] else H[t]                     (reset = "hard")
        V[t] = H[t] - v_th S[t]                                 (reset = "soft")

    ``out[t] = S[t]`` (binary spikes); the output shape is the input shape. All papers' LIF
    variants are this one parameterisation: STTS and SNASNet (SpikingJelly LIF with tau:
    ``beta = 1 - 1/tau, alpha = 1/tau``), BCNAS-SNN and SpikeDHS (``v = tau v + I``: ``beta = tau,
    alpha = 1``), IF (``beta = 1``).

    Attributes:
        beta: leak, the fraction of ``V - v_rest`` kept from one step to the next (per step,
            dimensionless; 1 is no leak, i.e. IF). SpikingJelly's time constant tau (STTS,
            SNASNet) is ``beta = 1 - 1/tau``; the leak-factor form ``v = tau v + I`` (BCNAS-SNN,
            SpikeDHS) is ``beta = tau``; required.
        alpha: input gain (dimensionless; ``1/tau`` for SpikingJelly's LIF, 1 for the leak-factor
            form; default 1.0).
        v_th: firing threshold, in the units of the membrane potential (those of the input
            current X; default 1.0).
        v_reset: potential after a spike with the hard reset (default 0.0).
        v_rest: resting potential the leak decays towards, and ``V[-1]`` (default 0.0).
        reset: ``"hard"`` (V jumps to v_reset) or ``"soft"`` (reset by subtraction: v_th is
            subtracted) (default "hard").
        detach_reset: training only: no gradient through S in the reset term (Zenke & Vogels
            2021, STTS appendix B); no effect on the forward pass (default False).
        surrogate: training only: the surrogate gradient of the step function, one of
            ``atan``, ``triangle``, ``dspike``, ``sigmoid``, ``rectangle``; deployment backends
            ignore it (default "atan").
        surrogate_arg: training only: the surrogate's width/sharpness parameter (alpha of atan,
            b of dspike, ...) (default 2.0).
    """

    name, kind = "LIF", "neuron"
    stateful, spiking = True, True
    attrs = {"beta": (float, REQUIRED), "alpha": (float, 1.0), "v_th": (float, 1.0),
             "v_reset": (float, 0.0), "v_rest": (float, 0.0), "reset": (str, "hard"),
             "detach_reset": (bool, False), "surrogate": (str, "atan"),
             "surrogate_arg": (float, 2.0)}
    ranges = {"beta": (0.0, 1.0), "alpha": (0.0, None), "surrogate_arg": (0.0, None)}

    @classmethod
    def infer_shape(cls, node, inputs):
        a = node.attrs
        if a["reset"] not in RESETS:
            _fail(node, f"reset must be one of {RESETS}, got {a['reset']!r}", rule="attributes")
        if a["surrogate"] not in SURROGATES:
            _fail(node, f"surrogate must be one of {SURROGATES}, got {a['surrogate']!r}",
                  rule="attributes")
        return _same(node, inputs)


class LoihiLIF(Op):
    """Loihi 2's fixed-point LIF neuron, integer arithmetic bit for bit as lava-nc 0.10.0 runs it
    (``fixed_pt`` models); the ``quantize-loihi`` pass turns a deploy graph's LIF into it.

    Per neuron, ``t = 0 .. T-1``, ``X[t]`` the summed input in ``a_in`` units (the pass scales
    every incoming weight so that spikes bring integers), ``u[-1] = v[-1] = 0``, integers::

        a_in[t] = floor(X[t] + 1/2)                  (host currents rounded; synaptic input exact)
        u[t] = wrap24(trunc(u[t-1] (4096 - du - 1) / 4096) + (a_in[t] << 6))
        v[t] = clip(trunc(v[t-1] (4096 - dv) / 4096) + u[t], -(2^23 - 1), 2^23 - 1)
        S[t] = v[t] > (vth << 6);   v[t] = 0 where S[t]

    (:func:`snnc.ir.loihi.loihi_lif_step_fixed`; ``out[t] = S[t]``). The canonical LIF with leak
    ``beta``, gain ``alpha`` and threshold ``v_th`` maps to ``du = 4095`` (no current state),
    ``dv = round(4096 (1 - beta))``, ``vth = round(scale v_th)``, where ``scale`` is the ``a_in``
    units per unit of the canonical membrane potential (the pass records it). It is a deployment
    artefact: only the reference interpreter and the Lava backend run it.

    Attributes:
        du: current decay, 12-bit in ``[0, 4095]`` (4095: the current lasts one step; default 4095).
        dv: voltage decay, 12-bit in ``[0, 4095]`` (``4096 (1 - beta)``); required.
        vth: threshold, 17-bit in ``[0, 131071]``, compared with ``v >> 6``; required.
        scale: ``a_in`` units per unit of the float neuron's membrane potential (a record of the
            pass's choice; no effect on what the neuron computes; default 1.0).
    """

    name, kind = "LoihiLIF", "deploy"
    stateful, spiking = True, True
    attrs = {"du": (int, 4095), "dv": (int, REQUIRED), "vth": (int, REQUIRED),
             "scale": (float, 1.0)}
    ranges = {"du": (0, 4095), "dv": (0, 4095), "vth": (0, 131071), "scale": (0.0, None)}


class ALIF(LIF):
    """Adaptive-threshold LIF (SpikeDHS section 3.1.3, eq. 5-8): each spike raises the
    threshold, which then decays back, so a neuron that fires a lot fires less.

    Per neuron, ``V[-1] = v_rest``, ``a[-1] = 0``, ``S[-1] = 0``::

        H[t] = v_rest + beta (V[t-1] - v_rest) + alpha X[t]     (as LIF)
        a[t] = rho a[t-1] + S[t-1]                              (eq. 8: spikes before t count)
        A[t] = v_th + adapt a[t]                                (eq. 7)
        S[t] = H[t] > A[t]                                      (eq. 6)
        V[t] = v_reset where S[t] else H[t]                     (reset = "hard")
        V[t] = H[t] - A[t] S[t]                                 (reset = "soft")

    Attributes: those of :class:`LIF`, plus

        rho: decay per step of the threshold increment ``a`` (SpikeDHS's tau_a), in [0, 1]
            (default 0.2).
        adapt: threshold increase per unit of ``a`` (SpikeDHS's beta), in membrane units, >= 0
            (default 1.8).

    LIF's attributes (beta, alpha, v_th, v_reset, v_rest, reset, detach_reset, surrogate,
    surrogate_arg) mean the same here.
    """

    name = "ALIF"
    attrs = {**LIF.attrs, "rho": (float, 0.2), "adapt": (float, 1.8)}
    ranges = {**LIF.ranges, "rho": (0.0, 1.0), "adapt": (0.0, None)}

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
    """Parametric LIF (Fang et al. 2021, "Incorporating learnable membrane time constant
    to enhance learning of spiking neural networks", ICCV): a LIF whose leak ``beta`` is trained;
    the IR holds its current value (``freeze-plif`` turns it into a LIF for deployment)::

        H[t] = v_rest + beta (V[t-1] - v_rest) + g X[t]
        g    = alpha (1 - beta)   if decay_input   else   alpha
        S[t] = H[t] > v_th
        V[t] = v_reset where S[t] else H[t]                     (reset = "hard")
        V[t] = H[t] - v_th S[t]                                 (reset = "soft")

    Attributes: those of :class:`LIF` (beta must be in [0, 1] here), plus

        decay_input: tie the input gain to the leak, ``g = alpha (1 - beta)`` (SpikingJelly's
            ``decay_input=True``), instead of ``g = alpha`` (default False).

    LIF's attributes (beta, alpha, v_th, v_reset, v_rest, reset, detach_reset, surrogate,
    surrogate_arg) mean the same here.
    """

    name = "PLIF"
    attrs = {**LIF.attrs, "decay_input": (bool, False)}

    @classmethod
    def infer_shape(cls, node, inputs):
        if not 0.0 <= node.attrs["beta"] <= 1.0:
            _fail(node, f"beta (the trainable leak) must be in [0, 1], got {node.attrs['beta']}",
                  rule="attributes")
        return super().infer_shape(node, inputs)


class ReLU(Op):
    """Non-spiking neuron of hybrid networks (SpikeDHS, hybrid network search):
    ``out[t] = max(0, X[t])``, stateless. Counted among the neurons (it is a layer's activation)
    but its output is analog, so the synapses it feeds cost MACs, not accumulates. No attributes.
    """

    name, kind = "ReLU", "neuron"


class Scale(Op):
    """``out[t] = scale * (sum of inputs at t)``. The sink of an STTS stage, the mean over
    its ``|T|`` output nodes (STTS eq. 10, ``scale = 1/|T|``), and the summing node of a SNASNet
    cell (``scale = 1``); ``fold-scale`` moves it into the neurons it feeds.

    Attributes:
        scale: the factor (dimensionless); required.
    """

    name, kind = "Scale", "merge"
    attrs = {"scale": (float, REQUIRED)}


class AvgPool2d(Op):
    """Average pooling over ``kernel x kernel`` windows::

        out[c, y, x] = mean over i, j < kernel of
                       in[c, stride y + i - padding, stride x + j - padding]

    zero padding counted in the mean (PyTorch's ``count_include_pad=True``). Shape ``(C, H, W)
    -> (C, H', W')`` as for :class:`Conv2d`; ``C H' W' kernel^2`` MACs per step. SNASNet's
    cells, reduction and head use it, SpikeDHS its strided pooling.

    Attributes:
        kernel: window size in pixels; required.
        stride: step between windows in pixels; 0 means ``stride = kernel`` (default 0).
        padding: zero rows/columns on every side, in pixels (default 0).
    """

    name, kind = "AvgPool2d", "pool"
    attrs = {"kernel": (int, REQUIRED), "stride": (int, 0), "padding": (int, 0)}
    ranges = {"kernel": (1, None), "stride": (0, None), "padding": (0, 4096)}

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
    """Mean over H and W: ``(C, H, W) -> (C,)``, ``out[c] = mean of in[c]``; the
    classifier head of STTS stages, ResNets (BCNAS-SNN) and SpikeDHS. No attributes.
    """

    name, kind = "GlobalAvgPool", "pool"

    @classmethod
    def infer_shape(cls, node, inputs):
        c, _, _ = _chw(node, _same(node, inputs))
        return (c,)

    @classmethod
    def macs(cls, a, in_shape, out_shape):
        return in_shape[0] * in_shape[1] * in_shape[2] if in_shape else 0


class Flatten(Op):
    """``(C, H, W) -> (C*H*W,)`` in C-major (row-major) order, ``out[(c H + y) W + x]
    = in[c, y, x]``; before a Linear head (SNASNet). No attributes.
    """

    name, kind = "Flatten", "shape"

    @classmethod
    def infer_shape(cls, node, inputs):
        s = _same(node, inputs)
        n = 1
        for d in s:
            n *= d
        return (n,)


class Upsample(Op):
    """Nearest-neighbour upsampling by an integer factor: ``(C, H, W) -> (C, scale H,
    scale W)``, ``out[c, y, x] = in[c, y // scale, x // scale]``; no weights, 0 MACs. The
    interpolation of BCNAS-SNN's global backward connections (eq. 6's gamma), which bring a
    deeper, coarser layer's spikes back to a shallower one.

    Attributes:
        scale: the integer factor, >= 1; required.
    """

    name, kind = "Upsample", "shape"
    attrs = {"scale": (int, REQUIRED)}  # its range: infer_shape

    @classmethod
    def infer_shape(cls, node, inputs):
        c, h, w = _chw(node, _same(node, inputs))
        s = node.attrs["scale"]
        if s < 1:
            _fail(node, f"scale must be an integer >= 1, got {s}", rule="attributes")
        return (c, h * s, w * s)


class Dropout(Op):
    """Identity at inference (the interpreter's semantics): ``out = in``; in training
    each unit is dropped with probability ``p`` (and the rest scaled by ``1/(1-p)``).
    ``drop-training`` removes it for deployment. The frontends put it before the classifier
    (SNASNet's head, the STTS classifier) and, optionally, inside STTS nodes.

    Attributes:
        p: probability of dropping a unit in training, in [0, 1) (default 0.5).
    """

    name, kind = "Dropout", "training"
    attrs = {"p": (float, 0.5)}
    ranges = {"p": (0.0, 1.0)}


class Vote(Op):
    """Voting layer (SNASNet): ``(P,) -> (classes,)``, the mean of each class's
    ``P / classes`` consecutive units, ``out[k] = mean of in[k P/classes .. (k+1) P/classes - 1]``;
    a population of spiking neurons per class decides by majority.

    Attributes:
        classes: number of classes; divides the input length ``P``; required.
    """

    name, kind = "Vote", "pool"
    attrs = {"classes": (int, REQUIRED)}
    ranges = {"classes": (1, None)}

    @classmethod
    def infer_shape(cls, node, inputs):
        s = _same(node, inputs)
        k = node.attrs["classes"]
        if len(s) != 1 or k < 1 or s[0] % k:
            _fail(node, f"population {s} is not a multiple of classes={k}")
        return (k,)


class Concat(Op):
    """Concatenation along channels (axis 0 of a sample) of its ports ``0..n-1`` in
    port order; several edges into one port are summed first. The output of a SpikeDHS cell
    concatenates its nodes' outputs (as in DARTS). Shapes must agree beyond the channel axis;
    ports must be ``0..n-1`` without gaps. No attributes.
    """

    name, kind = "Concat", "merge"
    multi_port = True

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


def _alternatives(node, inputs) -> tuple[int, ...]:
    """Shape rule of the choice ops: ports in ``0..k-1``, every input of one shape (the chosen or
    mixed value replaces any one of them)."""
    if not inputs:
        _fail(node, "has no inputs", rule="inputs")
    k = node.attrs["k"]
    bad = sorted({p for p, _ in inputs if not 0 <= p < k})
    if bad:
        _fail(node, f"ports {bad} are outside 0..{k - 1} (k={k} alternatives)", rule="ports")
    return _same(node, inputs)


def _all_ports(node, ports: set[int]) -> None:
    k = node.attrs["k"]
    if sorted(ports) != list(range(k)):
        missing = sorted(set(range(k)) - set(ports))
        _fail(node, f"k={k} alternatives need in-edges on ports 0..{k - 1} without gaps; "
                    f"port(s) {missing} have none", rule="ports")


class _ChoicePoint(Op):
    """What every choice point shares: ports ``0..k-1`` without gaps, all of one shape, which is
    the output shape."""

    multi_port = True

    @classmethod
    def infer_shape(cls, node, inputs):
        return _alternatives(node, inputs)

    @classmethod
    def check_ports(cls, node, ports):
        _all_ports(node, ports)


class Choice(_ChoicePoint):
    """Single-path choice point of a one-shot supernet (BCNAS-SNN section 4.2.3): one of ``k``
    alternatives, or, when ``optional``, nothing, selected per batch by an *assignment*::

        out[t] = in_p[t]        p = assignment[node] in 0..k-1   (in_p: the sum of port p's edges)
        out[t] = 0              p = -1, allowed only when optional

    The assignment (node name -> port) is not part of the graph: the trainer passes it to each
    run (``Interpreter(graph, assignment={...})``, ``module(x, assignment={...})``), so one
    supernet holds every candidate and each batch trains one path. A Choice without an entry is an
    error naming the node. An *optional edge* (BCNAS-SNN's sampled backward connections) is a
    Choice with ``k = 1`` and ``optional``: port 0 carries the edge's value, ``-1`` drops it.
    Units and shape are those of the alternatives: all ports have one shape, which is the output
    shape; placed before a neuron it chooses among input currents, after neurons among spikes.
    The ``resolve-choices`` pass turns a supernet plus an assignment into a plain graph
    (the selected input wired straight through, or the optional edge removed); every backend but
    torch refuses an unresolved Choice. 0 MACs; no state, no params.

    Attributes:
        k: number of alternatives, >= 1; the in-edges use ports ``0..k-1`` without gaps;
            required.
        optional: whether the assignment may select nothing (port ``-1``, output zero)
            (default False).
    """

    name, kind = "Choice", "choice"
    attrs = {"k": (int, REQUIRED), "optional": (bool, False)}
    ranges = {"k": (1, None)}


class WeightedMix(_ChoicePoint):
    """Weighted mix of ``k`` alternatives for differentiable search (SpikeDHS eq. 13-16, DARTS),
    weights a softmax over the architecture parameters ``alpha``::

        w_j    = exp(alpha_j) / sum_l exp(alpha_l)                 (eq. 13)
        out[t] = sum over j = 0..k-1 of w_j in_j[t]                (in_j: the sum of port j's edges)

    Where the mix sits is where the frontend puts the node: before a neuron it mixes input
    currents, so the neuron integrates the mixed membrane input (SpikeDHS eq. 16, the paper's
    choice); after neurons it mixes their spikes (eq. 14, what the released code does), and the
    output is no longer binary. An assignment entry for a WeightedMix (a port ``0..k-1``) makes
    it pass that port through alone, as a :class:`Choice` (one path of a differentiable supernet,
    and what ``resolve-choices`` makes of it); without one the node mixes. ``resolve-choices``
    keeps, by default, the input of the largest ``alpha`` (DARTS's discretisation, the first on a
    tie), which changes the output: the pass says so in its notes. All ports have one shape,
    the output shape; dimensionless weights; 0 MACs (the ``k`` products are counted nowhere, as
    in the papers).

    Attributes:
        k: number of alternatives, >= 1; the in-edges use ports ``0..k-1`` without gaps;
            required.

    Params: ``alpha [k]``, the architecture parameters (trained by the torch backend as an
    ``nn.Parameter``, written back by ``to_ir``).
    """

    name, kind = "WeightedMix", "choice"
    attrs = {"k": (int, REQUIRED)}
    ranges = {"k": (1, None)}

    @classmethod
    def param_shapes(cls, a):
        return {"alpha": (a["k"],)}


#: The registry: op name -> definition, grouped by kind in declaration order.
OPS: dict[str, type[Op]] = {op.name: op for op in (
    Input, Output, Conv2d, Linear, BatchNorm2d, LIF, ALIF, PLIF, ReLU, Scale, AvgPool2d,
    GlobalAvgPool, Flatten, Upsample, Dropout, Vote, Concat, Choice, WeightedMix, LoihiLIF)}

NEURON_OPS = tuple(n for n, o in OPS.items() if o.kind == "neuron")
#: Neuron ops that emit binary spikes and have a membrane potential (the canonical neuron's family).
SPIKING_NEURON_OPS = tuple(n for n in NEURON_OPS if OPS[n].spiking)
SYNAPSE_OPS = tuple(n for n, o in OPS.items() if o.kind == "synapse")
TRAINING_ONLY_OPS = tuple(n for n, o in OPS.items() if o.kind == "training")
#: The choice points of a supernet (Choice, WeightedMix): the ``resolve-choices`` pass removes them.
CHOICE_OPS = tuple(n for n, o in OPS.items() if o.kind == "choice")


def op_def(node) -> type[Op]:
    try:
        return OPS[node.op]
    except KeyError:
        raise GraphError(f"node {node.name!r}: unknown op {node.op!r}; known ops: "
                         f"{', '.join(OPS)}", node=node.name, rule="known ops") from None
