"""Spike functions with surrogate gradients (training-only attribute of a neuron node).

The forward pass of every spike function is the Heaviside step of the canonical neuron
(docs/ARCHITECTURE.md), strict as in Lava and NIR::

    S = H > v_th      i.e.   spike(x) = 1 if x > 0 else 0,   x = H - v_th

The backward pass replaces the step's derivative (a Dirac delta) by a smooth pseudo-derivative
``g'(x)`` of a "primitive" ``g`` that approximates the step. Each :class:`Surrogate` carries both,
so tests can check ``grad`` against the derivative of ``primitive`` (``torch.autograd.gradcheck``).
With ``arg`` the node's ``surrogate_arg``:

==========  ==========================================================  =========================
name        g'(x)                                                       source
==========  ==========================================================  =========================
atan        alpha / (2 (1 + (pi/2 alpha x)^2))                          STTS eq. B.1 (alpha = 2)
triangle    max(0, gamma - |x|) / gamma^2                               Deng et al. 2022 (TET)
dspike      b / (2 tanh(b/2)) (1 - tanh^2(b x))   for |x| < 1/2, else 0 Li et al. 2021; SpikeDHS
sigmoid     alpha sigmoid(alpha x) (1 - sigmoid(alpha x))               SpikingJelly (alpha = 4)
rectangle   1/width  for |x| < width/2, else 0                          Wu et al. 2018 (STBP)
==========  ==========================================================  =========================

Every ``g'`` integrates to 1 over the real line. ``dspike`` is the Dspike of SpikeDHS written around
the threshold: there ``u`` in (0, 1) with threshold 0.5, i.e. ``x = u - 0.5`` in (-1/2, 1/2); we
keep that window (in units of membrane potential) whatever ``v_th`` is, and its primitive is
``1/2 + tanh(b x) / (2 tanh(b/2))`` inside the window, 0 below and 1 above.

Usage::

    >>> s = SURROGATES["atan"](h - v_th, 2.0)      # spikes, float, same shape; differentiable
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch

Tensor = torch.Tensor


# ----------------------------------------------------------------------------- formulas
def atan_grad(x: Tensor, alpha: float) -> Tensor:
    """STTS eq. B.1: ``alpha / (2 (1 + (pi/2 alpha x)^2))``."""
    y = x * (math.pi / 2 * alpha)
    return y.square_().add_(1.0).reciprocal_().mul_(alpha / 2)


def atan_primitive(x: Tensor, alpha: float) -> Tensor:
    """``1/2 + arctan(pi/2 alpha x) / pi``."""
    return 0.5 + torch.atan(math.pi / 2 * alpha * x) / math.pi


def triangle_grad(x: Tensor, gamma: float) -> Tensor:
    """``max(0, gamma - |x|) / gamma^2``: peak ``1/gamma`` at the threshold, zero beyond
    ``|x| >= gamma``."""
    return (gamma - x.abs()).clamp_(min=0).mul_(1.0 / (gamma * gamma))


def triangle_primitive(x: Tensor, gamma: float) -> Tensor:
    """Piecewise quadratic: 0 below ``-gamma``, 1 above ``gamma``."""
    y = x.clamp(-gamma, gamma) / gamma
    return 0.5 + y - torch.sign(y) * y * y / 2


def dspike_grad(x: Tensor, b: float) -> Tensor:
    """SpikeDHS Dspike: ``b / (2 tanh(b/2)) (1 - tanh^2(b x))`` for ``|x| < 1/2``, else 0."""
    y = torch.tanh(b * x).square_()
    y = torch.sub(1.0, y, out=y).mul_(b / (2 * math.tanh(b / 2)))
    return y.masked_fill_(x.abs() >= 0.5, 0.0)


def dspike_primitive(x: Tensor, b: float) -> Tensor:
    """``1/2 + tanh(b x) / (2 tanh(b/2))`` inside ``|x| < 1/2``, 0 below, 1 above."""
    return 0.5 + torch.tanh(b * x.clamp(-0.5, 0.5)) / (2 * math.tanh(b / 2))


def sigmoid_grad(x: Tensor, alpha: float) -> Tensor:
    """``alpha sigmoid(alpha x) (1 - sigmoid(alpha x))``."""
    return sigmoid_grad_(x.clone(), alpha)


def sigmoid_primitive(x: Tensor, alpha: float) -> Tensor:
    return torch.sigmoid(alpha * x)


def rectangle_grad(x: Tensor, width: float) -> Tensor:
    """``1/width`` for ``|x| < width/2``, else 0."""
    return (x.abs() < width / 2).to(x.dtype).mul_(1.0 / width)


def rectangle_primitive(x: Tensor, width: float) -> Tensor:
    return (x / width + 0.5).clamp(0, 1)


# ----------------------------------------------------------------------------- in place
# ``grad_(x, arg, scale)`` overwrites ``x`` with ``scale * grad(x, arg)``: what the fused LIF
# backward (snnc.backends.torch.neurons) uses, so that the surrogate costs no sequence-sized
# temporary and a constant factor (the input gain ``alpha``) rides on the last multiply.
def atan_grad_(x: Tensor, alpha: float, scale: float = 1.0) -> Tensor:
    """In place: ``scale alpha / (2 (1 + (pi/2 alpha x)^2))``."""
    return x.mul_(math.pi / 2 * alpha).square_().add_(1.0).reciprocal_().mul_(scale * alpha / 2)


def triangle_grad_(x: Tensor, gamma: float, scale: float = 1.0) -> Tensor:
    """In place: ``scale max(0, gamma - |x|) / gamma^2``."""
    return x.abs_().neg_().add_(gamma).clamp_(min=0).mul_(scale / (gamma * gamma))


def dspike_grad_(x: Tensor, b: float, scale: float = 1.0) -> Tensor:
    """In place: ``scale b / (2 tanh(b/2)) (1 - tanh^2(b x))`` inside ``|x| < 1/2``, else 0."""
    outside = x.abs() >= 0.5  # a bool mask: a quarter of a float32 temporary
    x.mul_(b).tanh_().square_().neg_().add_(1.0).mul_(scale * b / (2 * math.tanh(b / 2)))
    return x.masked_fill_(outside, 0.0)


def sigmoid_grad_(x: Tensor, alpha: float, scale: float = 1.0) -> Tensor:
    """In place: ``scale alpha sigmoid(alpha x) (1 - sigmoid(alpha x))`` (SpikingJelly's form;
    ``1 - s`` needs a second buffer, one temporary of ``x``'s size)."""
    sg = x.mul_(alpha).sigmoid_()
    return sg.mul_(1.0 - sg).mul_(alpha * scale)


def rectangle_grad_(x: Tensor, width: float, scale: float = 1.0) -> Tensor:
    """In place: ``scale / width`` for ``|x| < width/2``, else 0."""
    return x.abs_().lt_(width / 2).mul_(scale / width)


# ----------------------------------------------------------------------------- autograd
def heaviside(x: Tensor) -> Tensor:
    """The spike: ``1.0`` where ``x > 0`` (strict), else ``0.0``, in ``x``'s dtype."""
    return (x > 0).to(x.dtype)


def _spike_function(name: str, grad: Callable[[Tensor, float], Tensor]) -> type:
    """An autograd Function: forward ``heaviside(x)``, backward ``grad_out * grad(x, arg)``."""

    def forward(ctx, x: Tensor, arg: float) -> Tensor:
        if ctx.needs_input_grad[0]:
            ctx.save_for_backward(x)
        ctx.arg = arg
        return heaviside(x)

    def backward(ctx, grad_out: Tensor):
        (x,) = ctx.saved_tensors
        return grad_out * grad(x, ctx.arg), None

    return type(f"{name.capitalize()}Spike", (torch.autograd.Function,),
                {"forward": staticmethod(forward), "backward": staticmethod(backward),
                 "__doc__": f"Heaviside forward, {name} surrogate gradient backward."})


@dataclass(frozen=True)
class Surrogate:
    """One surrogate gradient: ``surrogate(x, arg)`` spikes with pseudo-derivative ``grad(x, arg)``.

    ``primitive`` is the smooth step whose derivative ``grad`` is (for tests and plots);
    ``default_arg`` is the usual value of ``arg`` in the paper the surrogate comes from;
    ``grad_(x, arg, scale)`` overwrites ``x`` with ``scale * grad(x, arg)`` (equal up to rounding).
    """

    name: str
    grad: Callable[[Tensor, float], Tensor]
    primitive: Callable[[Tensor, float], Tensor]
    default_arg: float
    function: type
    grad_: Callable[[Tensor, float, float], Tensor]

    def __call__(self, x: Tensor, arg: float | None = None) -> Tensor:
        """Spikes ``heaviside(x)`` of ``x`` (any shape), differentiable through ``grad``."""
        return self.function.apply(x, float(self.default_arg if arg is None else arg))


def _make(name, grad, primitive, default_arg, grad_) -> Surrogate:
    return Surrogate(name, grad, primitive, default_arg, _spike_function(name, grad), grad_)


#: The registry: surrogate name (the LIF node's ``surrogate`` attribute) -> :class:`Surrogate`.
SURROGATES: dict[str, Surrogate] = {s.name: s for s in (
    _make("atan", atan_grad, atan_primitive, 2.0, atan_grad_),
    _make("triangle", triangle_grad, triangle_primitive, 1.0, triangle_grad_),
    _make("dspike", dspike_grad, dspike_primitive, 3.0, dspike_grad_),
    _make("sigmoid", sigmoid_grad, sigmoid_primitive, 4.0, sigmoid_grad_),
    _make("rectangle", rectangle_grad, rectangle_primitive, 1.0, rectangle_grad_),
)}


def get_surrogate(name: str) -> Surrogate:
    """The surrogate called ``name``; raises ValueError listing the known ones."""
    try:
        return SURROGATES[name]
    except KeyError:
        raise ValueError(f"unknown surrogate {name!r}; known: {', '.join(SURROGATES)}") from None


def spike(x: Tensor, surrogate: str = "atan", arg: float | None = None) -> Tensor:
    """``heaviside(x)`` with the named surrogate gradient. ``x = H - v_th``, any shape."""
    return get_surrogate(surrogate)(x, arg)
