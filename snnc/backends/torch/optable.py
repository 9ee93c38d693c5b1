"""The torch backend's op table: how the executor runs each op (:data:`TORCH_OPS`).

One :class:`TorchOp` per catalogue op says which module the node owns (if any), how its stateless
computation reads, whether it folds time into the batch, whether it may run once on inputs that are
the same at every step, and how ``to_ir`` writes trained values back. Neurons and Dropout carry
state or a per-sample mask across steps, so the executor runs them through their modules
(``role``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ...optable import OpTable
from ...ir.loihi import DEPLOY_ONLY
from ...errors import AssignmentError
from .layers import MixWeights, TimeDropout, load_params, to_numpy
from .variants import NEURON_MODULES

Tensor = torch.Tensor


@dataclass(frozen=True)
class TorchOp:
    """How the executor runs one op.

    Attributes:
        apply: ``(module or None, attrs, x, lead) -> Tensor``: the op on ``x`` with ``lead``
            leading batch axes (1 = ``[B, ...]``, 2 = ``[T, B, ...]``; ``fold`` ops always get 1;
            Concat gets the list of its ports). None for ops run through their module (``role``).
        make: ``(node, dtype, device) -> nn.Module``: the node's module, initialised from its
            params; None for ops without one.
        save: ``(node, module) -> None``: write the module's trained values back into the node.
        fold: needs a single batch axis, so multi-step mode folds time into it.
        static: stateless, so it may run once, ``[B, ...]``, while every input is the same at
            every step (the directly encoded input and what zero-delay stateless ops make of it,
            e.g. a stem conv + BN): the values equal the time-folded ones; only BatchNorm's
            running variance sees ``B`` instead of ``T * B`` samples in its unbiased estimate.
        role: ``"neuron"`` (state across steps: ``module(x)`` multi-step, ``module.step`` step by
            step), ``"dropout"`` (one mask per sample for all steps), ``"input"``, or ``""``.
        choice: a choice point (Choice, WeightedMix): an assignment entry makes the executor pass
            the selected port through (zero for ``-1``) without calling ``apply``, and skip what
            feeds only the other ports.
    """

    apply: Callable | None = None
    make: Callable | None = None
    save: Callable | None = None
    fold: bool = False
    static: bool = False
    role: str = ""
    choice: bool = False


def _call(mod, a, x, lead):
    return mod(x)


def _make_conv(node, dtype, device):
    a = node.attrs
    return load_params(nn.Conv2d(a["in_channels"], a["out_channels"], a["kernel"], a["stride"],
                                 a["padding"], groups=a["groups"], bias=a["bias"], dtype=dtype,
                                 device=device), node.params)


def _make_linear(node, dtype, device):
    a = node.attrs
    return load_params(nn.Linear(a["in_features"], a["out_features"], bias=a["bias"],
                                 dtype=dtype, device=device), node.params)


def _make_batch_norm(node, dtype, device):
    a = node.attrs
    cls = nn.BatchNorm2d if len(node.shape) == 3 else nn.BatchNorm1d
    return load_params(cls(a["num_features"], eps=a["eps"], momentum=a["momentum"], dtype=dtype,
                           device=device), node.params)


def _make_neuron(node, dtype, device):  # PLIF's leak is a parameter: cast it like the rest
    return NEURON_MODULES[node.op].from_attrs(node.attrs).to(dtype=dtype, device=device)


def _save_weights(node, mod):
    node.params["weight"] = to_numpy(mod.weight)
    if mod.bias is not None:
        node.params["bias"] = to_numpy(mod.bias)


def _save_batch_norm(node, mod):
    for k in ("weight", "bias", "running_mean", "running_var"):
        node.params[k] = to_numpy(getattr(mod, k))


def _save_neuron(node, mod):
    node.attrs.update(mod.attrs())


def _unassigned(mod, a, x, lead):
    raise AssignmentError("a Choice ran without an assignment entry")  # check_assignment prevents it


def _save_mix(node, mod):
    node.params["alpha"] = to_numpy(mod.alpha)


def _upsample(mod, a, x, lead):  # nearest; repeat_interleave is exact for any number of lead axes
    return x.repeat_interleave(a["scale"], dim=-2).repeat_interleave(a["scale"], dim=-1)


#: Op name -> :class:`TorchOp`; the torch backend implements the whole catalogue.
TORCH_OPS = OpTable("torch", {
    "Input": TorchOp(role="input"),
    "Output": TorchOp(lambda mod, a, x, lead: x),
    "Conv2d": TorchOp(_call, _make_conv, _save_weights, fold=True, static=True),
    "Linear": TorchOp(_call, _make_linear, _save_weights, static=True),
    "BatchNorm2d": TorchOp(_call, _make_batch_norm, _save_batch_norm, fold=True, static=True),
    **{op: TorchOp(make=_make_neuron, save=_save_neuron, role="neuron") for op in NEURON_MODULES},
    "ReLU": TorchOp(lambda mod, a, x, lead: torch.relu(x), static=True),
    "Scale": TorchOp(lambda mod, a, x, lead: x * a["scale"], static=True),
    "AvgPool2d": TorchOp(lambda mod, a, x, lead: F.avg_pool2d(
        x, a["kernel"], a["stride"], a["padding"], count_include_pad=True), fold=True, static=True),
    "GlobalAvgPool": TorchOp(lambda mod, a, x, lead: x.mean(dim=(-2, -1)), static=True),
    "Flatten": TorchOp(lambda mod, a, x, lead: x.reshape(tuple(x.shape[:lead]) + (-1,)),
                       static=True),
    "Upsample": TorchOp(_upsample, static=True),
    "Dropout": TorchOp(make=lambda node, dtype, device: TimeDropout(node.attrs["p"]), static=True,
                       role="dropout"),
    "Vote": TorchOp(lambda mod, a, x, lead: x.reshape(tuple(x.shape[:-1]) + (a["classes"], -1))
                    .mean(dim=-1), static=True),
    "Concat": TorchOp(lambda mod, a, x, lead: torch.cat(x, dim=lead), static=True),
    "Choice": TorchOp(_unassigned, static=True, choice=True),
    "WeightedMix": TorchOp(_call, lambda node, dtype, device: MixWeights(
        node.params["alpha"], dtype, device), _save_mix, static=True, choice=True),
})
TORCH_OPS.refuse(f"{DEPLOY_ONLY}; train and evaluate the float deploy graph instead", "LoihiLIF")


def make_module(node, dtype, device) -> nn.Module | None:
    """The torch module of one node, initialised from its params (None for stateless ops).

    Raises:
        BackendError: the op is refused by (or unknown to) :data:`TORCH_OPS`.
    """
    make = TORCH_OPS.lookup(node).make
    return make(node, dtype, device) if make is not None else None
