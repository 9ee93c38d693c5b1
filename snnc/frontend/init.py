"""Weight initialisation exactly as PyTorch's defaults, drawn from ``numpy.random.default_rng``.

PyTorch initialises ``Conv2d`` and ``Linear`` with ``kaiming_uniform_(weight, a=sqrt(5))``: gain
``sqrt(2 / (1 + a^2)) = sqrt(1/3)``, bound ``gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in)``, and the bias
with ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``; ``fan_in = in_channels / groups * k * k`` for a
convolution and ``in_features`` for a linear layer. ``BatchNorm2d`` starts as weight 1, bias 0,
running mean 0, running variance 1. All arrays are float64 (the reference interpreter's precision).

Values are drawn in call order from one generator, so the same seed and the same sequence of
calls give bit-identical parameters.
"""
from __future__ import annotations

import numpy as np


def uniform(rng: np.random.Generator, shape: tuple[int, ...], bound: float) -> np.ndarray:
    """``U(-bound, bound)`` of ``shape``, float64 (numpy draws float64; no copy is made)."""
    return rng.uniform(-bound, bound, size=shape)


def fan_in_bound(fan_in: int) -> float:
    """PyTorch's default bound ``1 / sqrt(fan_in)`` (0 when ``fan_in`` is 0)."""
    return 1.0 / np.sqrt(fan_in) if fan_in > 0 else 0.0


def conv2d_params(rng: np.random.Generator, in_channels: int, out_channels: int, kernel: int,
                  groups: int = 1, bias: bool = True) -> dict[str, np.ndarray]:
    """``weight [O, I/groups, k, k]`` (and ``bias [O]``) as ``torch.nn.Conv2d`` initialises them."""
    fan_in = in_channels // groups * kernel * kernel
    bound = fan_in_bound(fan_in)
    params = {"weight": uniform(rng, (out_channels, in_channels // groups, kernel, kernel), bound)}
    if bias:
        params["bias"] = uniform(rng, (out_channels,), bound)
    return params


def linear_params(rng: np.random.Generator, in_features: int, out_features: int,
                  bias: bool = True) -> dict[str, np.ndarray]:
    """``weight [O, I]`` (and ``bias [O]``) as ``torch.nn.Linear`` initialises them."""
    bound = fan_in_bound(in_features)
    params = {"weight": uniform(rng, (out_features, in_features), bound)}
    if bias:
        params["bias"] = uniform(rng, (out_features,), bound)
    return params


def batchnorm_params(num_features: int) -> dict[str, np.ndarray]:
    """``torch.nn.BatchNorm2d``'s initial state: weight 1, bias 0, running mean 0, running var 1."""
    c = (num_features,)
    return {"weight": np.ones(c), "bias": np.zeros(c), "running_mean": np.zeros(c),
            "running_var": np.ones(c)}
