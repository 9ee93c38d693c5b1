"""The torch modules of IR nodes and their names: one module per node with parameters or
training behaviour (Conv2d, Linear, BatchNorm2d, the spiking neurons LIF/ALIF/PLIF, Dropout); which
op gets which module is :data:`.optable.TORCH_OPS`."""
from __future__ import annotations

import re

import numpy as np
import torch
from torch import nn

Tensor = torch.Tensor


class TimeDropout(nn.Module):
    """Dropout with one mask per sample shared by all time steps (train mode only).

    ``mask(like)`` draws ``Bernoulli(1 - p) / (1 - p)`` of ``like``'s shape ``[B, ...]``; the module
    applies it to ``[T, B, ...]`` (broadcast over ``T``) or to one step ``[B, ...]``.
    """

    def __init__(self, p: float):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = float(p)

    def mask(self, like: Tensor) -> Tensor:
        if self.p >= 1.0:
            return torch.zeros_like(like)
        keep = 1.0 - self.p
        return torch.empty_like(like).bernoulli_(keep) / keep

    def forward(self, x: Tensor) -> Tensor:  # multi-step convenience: [T, B, ...]
        if not self.training or self.p == 0.0:
            return x
        return x * self.mask(x[0])

    def extra_repr(self) -> str:
        return f"p={self.p}"


class MixWeights(nn.Module):
    """The architecture parameters of a WeightedMix node: ``alpha [k]``, an ``nn.Parameter``
    (DARTS trains it with its own optimizer: :meth:`SpikingModule.arch_parameters`).

    ``forward(xs)`` with the ``k`` port values (any equal shapes) returns
    ``sum_j softmax(alpha)_j xs[j]``, summed in port order as the interpreter does.
    """

    def __init__(self, alpha: np.ndarray, dtype=None, device=None):
        super().__init__()
        self.alpha = nn.Parameter(_param(alpha, dtype or torch.get_default_dtype(), device))

    def forward(self, xs: list[Tensor]) -> Tensor:
        w = torch.softmax(self.alpha, dim=0)
        out = w[0] * xs[0]
        for j in range(1, len(xs)):
            out = out + w[j] * xs[j]
        return out

    def extra_repr(self) -> str:
        return f"k={self.alpha.numel()}"


_EMPTY = nn.ModuleDict()  # attribute names a key must avoid


def module_key(name: str, taken: set[str]) -> str:
    """A ModuleDict key for node ``name``: dots become ``__`` (``s3.n17.conv`` ->
    ``s3__n17__conv``), other characters that are not word characters ``_``; a suffix ``_2``, ...
    keeps it unique and clear of ``nn.ModuleDict`` attribute names."""
    key = re.sub(r"\W", "_", name.replace(".", "__")) or "_"
    if key[0].isdigit():
        key = "n" + key
    base, i = key, 1
    while key in taken or hasattr(_EMPTY, key):
        i += 1
        key = f"{base}_{i}"
    taken.add(key)
    return key


def to_numpy(t: Tensor) -> np.ndarray:
    return t.detach().to("cpu", torch.float64).numpy().copy()


def _param(arr: np.ndarray, dtype, device) -> Tensor:
    return torch.as_tensor(np.asarray(arr, dtype=np.float64)).to(dtype=dtype, device=device)


def load_params(mod: nn.Module, params: dict[str, np.ndarray]) -> nn.Module:
    """Copy the node's ``params`` (name -> array) into the module's tensors of the same names;
    returns ``mod``."""
    with torch.no_grad():
        for k, arr in params.items():
            getattr(mod, k).copy_(_param(arr, mod.weight.dtype, mod.weight.device))
    return mod
