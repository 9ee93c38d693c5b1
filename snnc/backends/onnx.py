"""IR -> ONNX: one time step of the network, with its state as explicit inputs and outputs.

The model computes step ``t`` of the IR semantics (docs/ARCHITECTURE.md) for a batch of ``B`` samples::

    inputs   x                  [B, *input_shape]       the input at step t
             v.<neuron>         [B, *shape]             membrane potential V[t-1]
             buf.<node>         [D, B, *shape]          out_node[t-1], ..., out_node[t-D]
    outputs  y                  [B, classes]            the Output node's value at step t
             s.<neuron>         [B, *shape]             spikes S[t] of every neuron
             v.<neuron>.next    [B, *shape]             V[t]
             buf.<node>.next    [D, B, *shape]          out_node[t], ..., out_node[t-D+1]

``D`` is the largest delay on an edge leaving ``node``; an edge with delay ``d`` reads
``buf.<node>[d-1]``. Before step 0 every buffer is zero (``out[t-d] = 0`` for ``t < d``) and every
membrane potential is its neuron's ``v_rest``. Running ``T`` steps feeds each step's ``*.next``
outputs back as the next step's inputs (:func:`step_onnx` does it with onnxruntime).

The graph is written with the ``onnx.helper`` API (opset 17), weights as initializers. Neurons use
the canonical equations (``H = v_rest + beta (V - v_rest) + alpha X``, ``S = H > v_th``, hard or
soft reset). ``metadata_props`` hold ``snnc.T``, ``snnc.encoding``, ``snnc.classes``,
``snnc.input_shape``, ``snnc.neurons`` (JSON: name -> canonical parameters) and ``snnc.state``
(JSON list: input, output, shape without batch, initial value).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import OnnxError
from ..ir.choices import UNRESOLVED
from ..ir.graph import Graph
from ..ir.inputs import input_layout
from ..ir.loihi import DEPLOY_ONLY
from ..ir.verify import verify
from ..optable import OpTable
from ..optional import require

__all__ = ["OnnxError", "OPSET", "to_onnx", "export_onnx", "initial_state", "step_onnx"]

OPSET = 17
#: ONNX IR version 8 (the one opset 17 came with), so runtimes older than the onnx package load it.
IR_VERSION = 8
_DTYPES = ("float32", "float64")


def _onnx():
    return require("onnx", feature="ONNX export", extra="interop")


class _Writer:
    """Collects nodes and initializers; every value name is unique."""

    def __init__(self, onnx, dtype: str):
        self.onnx, self.h = onnx, onnx.helper
        self.np_dtype = np.dtype(dtype)
        self.elem = onnx.TensorProto.FLOAT if dtype == "float32" else onnx.TensorProto.DOUBLE
        self.nodes: list = []
        self.inits: list = []
        self._n = 0

    def fresh(self, hint: str) -> str:
        self._n += 1
        return f"{hint}#{self._n}"

    def const(self, hint: str, value, dtype=None) -> str:
        name = self.fresh(hint)
        arr = np.asarray(value, dtype=dtype or self.np_dtype)
        self.inits.append(self.onnx.numpy_helper.from_array(arr, name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str, out: str | None = None,
           **attrs) -> str:
        out = out or self.fresh(hint)
        self.nodes.append(self.h.make_node(op_type, inputs, [out], name=self.fresh(op_type),
                                           **attrs))
        return out

    def tensor(self, name: str, shape: tuple) -> Any:
        return self.h.make_tensor_value_info(name, self.elem, list(shape))


@dataclass
class _Step:
    """What the op rules share while :func:`to_onnx` writes one step: the writer, the graph's
    inputs and outputs, the state list and the neurons' metadata."""

    w: _Writer
    inputs: list
    outputs: list
    state: list[dict]
    neurons: dict[str, dict]


def _error(table: OpTable, name: str, op: str, reason: str) -> "OnnxError":
    return OnnxError(f"node {name!r} ({op}): the ONNX export has no rule for {op}: {reason}",
                     node=name, op=op, backend=table.backend)


#: IR op -> ``rule(step, node, ports)``: the ONNX value of ``node`` at this step from its summed
#: input value per port; or the reason the export has none.
RULES = OpTable("ONNX export", error=_error)


def _one(emit):
    """The rule of an op with one (summed) input: ``emit(writer, node, x)``."""
    return lambda step, node, ports: emit(step.w, node, ports[0])


def _identity(w, node, x):
    return w.op("Identity", [x], node.name)


def _conv(w, node, x):
    a, p, n = node.attrs, node.params, node.name
    ins = [x, w.const(n + ".weight", p["weight"])]
    if "bias" in p:
        ins.append(w.const(n + ".bias", p["bias"]))
    k, s, pad = a["kernel"], a["stride"], a["padding"]
    return w.op("Conv", ins, n, kernel_shape=[k, k], strides=[s, s], pads=[pad] * 4,
                group=a["groups"])


def _linear(w, node, x):
    p, n = node.params, node.name
    ins = [x, w.const(n + ".weight", p["weight"])]
    if "bias" in p:
        ins.append(w.const(n + ".bias", p["bias"]))
    return w.op("Gemm", ins, n, transB=1)


def _batch_norm(w, node, x):
    a, p, n = node.attrs, node.params, node.name
    scale = p["weight"] / np.sqrt(p["running_var"] + a["eps"])
    shift = p["bias"] - p["running_mean"] * scale
    shape = (-1,) + (1,) * (len(node.shape) - 1)
    y = w.op("Mul", [x, w.const(n + ".scale", scale.reshape(shape))], n)
    return w.op("Add", [y, w.const(n + ".shift", shift.reshape(shape))], n)


def _scale(w, node, x):
    return w.op("Mul", [x, w.const(node.name + ".scale", node.attrs["scale"])], node.name)


def _avg_pool(w, node, x):
    k, s, pad = node.attrs["kernel"], node.attrs["stride"], node.attrs["padding"]
    return w.op("AveragePool", [x], node.name, kernel_shape=[k, k], strides=[s, s],
                pads=[pad] * 4, count_include_pad=1)


def _global_avg_pool(w, node, x):
    return w.op("Flatten", [w.op("GlobalAveragePool", [x], node.name)], node.name, axis=1)


def _flatten(w, node, x):
    return w.op("Flatten", [x], node.name, axis=1)


def _relu(w, node, x):  # the non-spiking neuron of hybrid networks: stateless
    return w.op("Relu", [x], node.name)


def _upsample(w, node, x):  # nearest, integer factor (BCNAS-SNN backward connections)
    f = node.attrs["scale"]
    scales = w.const(node.name + ".scales", [1.0, 1.0, f, f], np.float32)
    return w.op("Resize", [x, "", scales], node.name, mode="nearest")


def _vote(w, node, x):
    n, k = node.name, node.attrs["classes"]
    grouped = w.op("Reshape", [x, w.const(n + ".shape", [0, k, -1], np.int64)], n)
    return w.op("ReduceMean", [grouped], n, axes=[2], keepdims=0)


for _op, _emit in {"Output": _identity, "Dropout": _identity, "Conv2d": _conv, "Linear": _linear,
                   "BatchNorm2d": _batch_norm, "Scale": _scale, "AvgPool2d": _avg_pool,
                   "GlobalAvgPool": _global_avg_pool, "Flatten": _flatten, "ReLU": _relu,
                   "Upsample": _upsample, "Vote": _vote}.items():
    RULES[_op] = _one(_emit)


@RULES.register("Input")
def _input(step, node, ports):
    return step.w.op("Identity", ["x"], node.name)


@RULES.register("Concat")
def _concat(step, node, ports):
    return step.w.op("Concat", [ports[p] for p in sorted(ports)], node.name, axis=1)


@RULES.register("LIF")
def _lif(step, node, ports):
    """The membrane potential is state: an input ``v.<name>`` and an output ``v.<name>.next``."""
    shape, B = tuple(node.shape), "B"
    step.inputs.append(step.w.tensor(f"v.{node.name}", (B,) + shape))
    s, v_next = _emit_lif(step.w, node, ports[0], f"v.{node.name}")
    step.outputs += [step.w.tensor(s, (B,) + shape), step.w.tensor(v_next, (B,) + shape)]
    step.state.append({"input": f"v.{node.name}", "output": v_next,
                       "shape": ["B", *shape], "init": node.attrs["v_rest"]})
    step.neurons[node.name] = {k: node.attrs[k] for k in
                               ("beta", "alpha", "v_th", "v_reset", "v_rest", "reset")}
    return s


RULES.refuse("the export writes the canonical LIF's state only, not the adaptation state a[t] of "
             "an adaptive threshold", "ALIF")
RULES.refuse("run the 'deploy' pipeline first, its freeze-plif pass makes a trained PLIF the LIF "
             "with its learned leak", "PLIF")
RULES.refuse(UNRESOLVED, "Choice", "WeightedMix")
RULES.refuse(f"{DEPLOY_ONLY}; export the float deploy graph instead", "LoihiLIF")


def _emit_lif(w: _Writer, node, x, v) -> tuple[str, str]:
    """Spikes and next membrane potential of the canonical neuron."""
    a, n = node.attrs, node.name
    c = lambda tag, val: w.const(f"{n}.{tag}", val)  # noqa: E731
    rest = c("v_rest", a["v_rest"])
    leak = w.op("Mul", [w.op("Sub", [v, rest], n), c("beta", a["beta"])], n)
    h = w.op("Add", [w.op("Add", [rest, leak], n), w.op("Mul", [x, c("alpha", a["alpha"])], n)], n)
    fired = w.op("Greater", [h, c("v_th", a["v_th"])], n)
    s = w.op("Cast", [fired], n, out=f"s.{n}", to=w.elem)
    if a["reset"] == "hard":
        v_next = w.op("Where", [fired, c("v_reset", a["v_reset"]), h], n, out=f"v.{n}.next")
    else:
        v_next = w.op("Sub", [h, w.op("Mul", [s, c("v_th", a["v_th"])], n)], n,
                      out=f"v.{n}.next")
    return s, v_next


def to_onnx(graph: Graph, *, dtype: str = "float32"):
    """The ONNX model of one time step of ``graph`` (module docstring).

    Args:
        graph: an IR graph (verified here); deploy-folded or not (BatchNorm becomes Mul/Add,
            Dropout Identity).
        dtype: ``"float32"`` or ``"float64"`` for values and weights.
    Returns:
        ``onnx.ModelProto`` that passes ``onnx.checker.check_model``.
    Raises:
        OnnxError: an op without an ONNX rule (named), an unknown dtype.
        GraphError: the graph does not verify.
    """
    onnx = _onnx()
    if dtype not in _DTYPES:
        raise OnnxError(f"dtype must be one of {_DTYPES}, got {dtype!r}")
    graph = verify(graph)
    w = _Writer(onnx, dtype)
    B = "B"
    inputs = [w.tensor("x", (B,) + tuple(graph.input_node.shape))]
    outputs = [w.tensor("y", (B,) + tuple(graph.output_node.shape))]
    state: list[dict] = []
    depth: dict[str, int] = {}
    for e in graph.edges:
        if e.delay:
            depth[e.src] = max(depth.get(e.src, 0), e.delay)
    for name, d in depth.items():
        shape = tuple(graph[name].shape)
        inputs.append(w.tensor(f"buf.{name}", (d, B) + shape))
        outputs.append(w.tensor(f"buf.{name}.next", (d, B) + shape))
        state.append({"input": f"buf.{name}", "output": f"buf.{name}.next",
                      "shape": [d, "B", *shape], "init": 0.0})
    neurons: dict[str, dict] = {}
    step = _Step(w, inputs, outputs, state, neurons)
    value: dict[str, str] = {}
    for node in (graph[k] for k in graph.topological_order()):
        terms: dict[int, list[str]] = {}
        for e in graph.in_edges(node.name):
            if e.delay:
                idx = w.const(f"{e.src}.d{e.delay}", e.delay - 1, np.int64)
                src = w.op("Gather", [f"buf.{e.src}", idx], e.src, axis=0)
            else:
                src = value[e.src]
            terms.setdefault(e.port, []).append(src)
        summed = {p: t[0] if len(t) == 1 else w.op("Sum", t, node.name) for p, t in terms.items()}
        value[node.name] = RULES.lookup(node)(step, node, summed)
    w.op("Identity", [value[graph.output_node.name]], "y", out="y")
    for name, d in depth.items():  # shift each buffer by one step: newest value first
        new = w.op("Unsqueeze", [value[name], w.const("axis0", [0], np.int64)], name)
        if d > 1:
            old = w.op("Slice", [f"buf.{name}", w.const("start", [0], np.int64),
                                 w.const("end", [d - 1], np.int64),
                                 w.const("axes", [0], np.int64)], name)
            w.op("Concat", [new, old], name, out=f"buf.{name}.next", axis=0)
        else:
            w.op("Identity", [new], name, out=f"buf.{name}.next")
    h = onnx.helper
    g = h.make_graph(w.nodes, str(graph.meta.get("name", "snnc")), inputs, outputs, w.inits)
    model = h.make_model(g, opset_imports=[h.make_opsetid("", OPSET)], producer_name="snnc",
                         ir_version=IR_VERSION)
    meta = {"snnc.T": str(int(graph.meta.get("T", 1))),
            "snnc.encoding": str(graph.meta.get("encoding", "direct")),
            "snnc.classes": str(int(graph.output_node.shape[0])),
            "snnc.input_shape": json.dumps(list(graph.input_node.shape)),
            "snnc.dtype": dtype,
            "snnc.neurons": json.dumps(neurons),
            "snnc.state": json.dumps(state)}
    h.set_model_props(model, meta)
    onnx.checker.check_model(model, full_check=True)
    return model


def export_onnx(graph: Graph, path: str | Path, *, dtype: str = "float32",
                target: str = "onnx") -> Path:
    """Prepare ``graph`` for ``target`` (:func:`snnc.passes.targets.prepare`; passes already
    run on it are not repeated), convert with :func:`to_onnx`, write ``path`` atomically.
    Returns the path."""
    from ..atomic import atomic_write_bytes
    from ..passes.targets import prepare

    graph, _ = prepare(graph, target)
    return atomic_write_bytes(path, to_onnx(graph, dtype=dtype).SerializeToString())


def initial_state(model, batch: int) -> dict[str, np.ndarray]:
    """Zero delay buffers and ``v_rest`` membranes for ``batch`` samples, from the model's
    ``snnc.state`` metadata: ``{input name: array}``."""
    props = {p.key: p.value for p in model.metadata_props}
    if "snnc.state" not in props:
        raise OnnxError("the ONNX model has no snnc.state metadata (not written by snnc)")
    dtype = np.dtype(props.get("snnc.dtype", "float32"))
    out = {}
    for s in json.loads(props["snnc.state"]):
        shape = tuple(batch if d == "B" else int(d) for d in s["shape"])
        out[s["input"]] = np.full(shape, s["init"], dtype=dtype)
    return out


def step_onnx(path: str | Path, x: np.ndarray, T: int | None = None) -> dict[str, np.ndarray]:
    """Run an exported model for ``T`` steps with onnxruntime.

    Args:
        path: the ``.onnx`` file.
        x: ``[B, *input_shape]`` (direct encoding: the same at every step) or
           ``[T, B, *input_shape]``.
        T: steps (default the model's ``snnc.T``, or ``x.shape[0]`` for a sequence).
    Returns:
        ``{"y": [T, B, classes], "s.<neuron>": [T, B, *shape], ...}``.
    Raises:
        OnnxError: a model without snnc metadata, an input of the wrong shape.
    """
    onnx = _onnx()
    ort = require("onnxruntime", feature="running an ONNX model", extra="interop")

    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    in_shape = tuple(json.loads(props.get("snnc.input_shape", "[]")))
    dtype = np.dtype(props.get("snnc.dtype", "float32"))
    x = np.asarray(x, dtype=dtype)
    layout = input_layout(in_shape, x.shape, T, default_T=int(props.get("snnc.T", 1)))
    T = layout.T
    x = np.broadcast_to(x, (T,) + x.shape) if layout.direct else x[:T]
    state = initial_state(model, x.shape[1])
    links = {s["output"]: s["input"] for s in json.loads(props["snnc.state"])}
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    record: dict[str, list] = {}
    for t in range(T):
        res = sess.run(names, {"x": np.ascontiguousarray(x[t]), **state})
        for name, val in zip(names, res):
            if name in links:
                state[links[name]] = val
            else:
                record.setdefault(name, []).append(val)
    return {k: np.stack(v) for k, v in record.items()}
