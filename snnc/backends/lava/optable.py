"""The Lava backend's op table: what each op's output is, as synaptic terms over neuron spikes.

An entry is ``rule(graph, node, ports) -> list[Term]``: given the terms of the node's input per
port (:func:`.planning.extract_terms` gathers them, each edge adding its delay), the terms of its
output. A LIF or ALIF is the source of its own identity term; the Input contributes none (its MACs are host
work, :mod:`.planning` point 3); the affine ops compose their bias-free linear map onto every term.
Ops Lava cannot run are :class:`~snnc.optable.Refused` with the reason; neuron models are
refused wherever they sit, other ops only between neurons (the head after the last neurons is host
work).
"""
from __future__ import annotations

import numpy as np

from ...ir.choices import UNRESOLVED
from ...ir.ops import CHOICE_OPS, OPS
from ...optable import OpTable
from . import synapses as syn
from .mapping import LavaMappingError


def _error(table: OpTable, name: str, op: str, reason: str) -> LavaMappingError:
    neuron = op in OPS and OPS[op].kind == "neuron"
    return LavaMappingError(f"{'neuron' if neuron else 'node'} {name!r}: op {op} is not supported "
                            f"by the {table.backend} backend: {reason}", node=name,
                            rule="lava neurons" if neuron else "lava ops", op=op,
                            backend=table.backend)


#: Op name -> term rule or refusal (module docstring).
RULES = OpTable("Lava", error=_error)


@RULES.register("LIF", "ALIF", "LoihiLIF")
def _neuron(graph, node, ports):
    return [syn.Term(node.name, 0, syn.identity(node.shape))]


@RULES.register("Input")
def _input(graph, node, ports):
    return []


def _in_shape(graph, node) -> tuple[int, ...]:
    return tuple(graph[graph.in_edges(node.name)[0].src].shape)


def _affine(build):
    """The rule of an op whose bias-free map is ``build(node, in_shape)`` (None: identity)."""
    def rule(graph, node, ports):
        op = build(node, _in_shape(graph, node))
        new = []
        for t in ports.get(0, []):
            via = t.via + (node.name,)
            new.append(syn.Term(t.src, t.delay, t.op if op is None else syn.compose(op, t.op, via),
                                via))
        return syn.merge(new)
    return rule


def _conv(node, in_shape):
    a = node.attrs
    return syn.ConvOp(np.asarray(node.params["weight"], np.float64), a["stride"], a["padding"],
                      a["groups"], tuple(in_shape), tuple(node.shape))


def _avg_pool(node, in_shape):
    a, c, k = node.attrs, in_shape[0], node.attrs["kernel"]
    return syn.ConvOp(np.full((c, 1, k, k), 1.0 / (k * k)), a["stride"], a["padding"], c,
                      tuple(in_shape), tuple(node.shape))


def _batch_norm(node, in_shape):
    p, shape = node.params, tuple(node.shape)
    s = np.asarray(p["weight"], np.float64) / np.sqrt(
        np.asarray(p["running_var"], np.float64) + node.attrs["eps"])
    return syn.DiagOp(s.reshape((-1,) + (1,) * (len(shape) - 1)) * np.ones(shape), shape)


def _scale(node, in_shape):
    shape = tuple(node.shape)
    return syn.DiagOp(np.full(shape, float(node.attrs["scale"])), shape)


def _upsample(node, in_shape):
    return syn.upsample(tuple(in_shape), int(node.attrs["scale"]))


def _global_avg_pool(node, in_shape):
    c, h, w = in_shape
    m = np.kron(np.eye(c), np.full((1, h * w), 1.0 / (h * w)))
    return syn.DenseOp(m, tuple(in_shape), tuple(node.shape))


def _linear(node, in_shape):
    return syn.DenseOp(np.asarray(node.params["weight"], np.float64), tuple(in_shape),
                       tuple(node.shape))


def _vote(node, in_shape):
    k = node.attrs["classes"]
    g = in_shape[0] // k
    return syn.DenseOp(np.kron(np.eye(k), np.full((1, g), 1.0 / g)), tuple(in_shape),
                       tuple(node.shape))


for _op, _build in {"Conv2d": _conv, "AvgPool2d": _avg_pool, "BatchNorm2d": _batch_norm,
                    "Scale": _scale, "GlobalAvgPool": _global_avg_pool, "Linear": _linear,
                    "Upsample": _upsample,
                    "Vote": _vote, "Dropout": lambda node, in_shape: None,
                    "Output": lambda node, in_shape: None}.items():
    RULES[_op] = _affine(_build)


@RULES.register("Flatten")
def _flatten(graph, node, ports):
    return syn.merge([syn.Term(t.src, t.delay, syn.reshape(t.op, node.shape), t.via + (node.name,))
                      for t in ports.get(0, [])])


@RULES.register("Concat")
def _concat(graph, node, ports):
    shapes = {e.port: tuple(graph[e.src].shape) for e in graph.in_edges(node.name)}
    offsets, at = {}, 0
    for p in sorted(shapes):
        offsets[p], at = at, at + shapes[p][0]
    via = lambda t: t.via + (node.name,)  # noqa: E731
    return syn.merge([syn.Term(t.src, t.delay,
                               syn.embed(t.op, offsets[p], node.shape[0], via(t)), via(t))
                      for p, ts in ports.items() for t in ts])


#: The affine ops folded into synapses between neurons (named in refusals).
AFFINE_OPS = tuple(op for op in RULES if op not in ("LIF", "ALIF", "LoihiLIF", "Input", "Output"))

RULES.refuse("the Lava backend maps LIF and ALIF only; run the deploy pipeline first (its "
             "freeze-plif pass makes a trained PLIF the LIF with its learned leak)", "PLIF")
RULES.refuse("it is a non-spiking unit with analog output (a hybrid network's ANN layer), and "
             "Loihi's neurons emit binary spikes; computing it on the host would split the "
             "network between host and chip at every step", "ReLU")
RULES.refuse(UNRESOLVED, *CHOICE_OPS)
