"""The canonical neuron's variants as torch modules: ALIF (adaptive threshold) and PLIF (trainable
leak), with the equations of :mod:`snnc.ir.ops` and :class:`snnc.ir.interpret.Interpreter`.

Both reuse :class:`~.neurons.LIFNode`'s charge, spike and reset (so a float64 module reproduces
the interpreter's spikes exactly) and run multi-step as a loop of :meth:`step` under plain autograd:
the threshold of ALIF and the leak of PLIF receive gradients that the LIF's fused BPTT does not
compute. Per neuron, ``t = 0 .. T-1``::

    ALIF (SpikeDHS section 3.1.3, eq. 5-8)        PLIF (Fang et al. 2021)
    H[t] = v_rest + beta (V[t-1] - v_rest)        H[t] = v_rest + beta (V[t-1] - v_rest) + g X[t]
           + alpha X[t]                           g = alpha (1 - beta)   (decay_input)  | alpha
    a[t] = rho a[t-1] + S[t-1],  a[0] = 0         S[t] = H[t] > v_th
    A[t] = v_th + adapt a[t]                      V[t] as LIF
    S[t] = H[t] > A[t]
    V[t] = v_reset where S else H  |  H - A[t] S

ALIF's surrogate gradient is taken at ``H[t] - A[t]`` and flows through ``A`` into earlier spikes
(as in Bellec et al. 2018's LSNN); ``detach_reset`` detaches the spike in the reset term only.

PLIF's leak is the parameter ``leak`` itself, clamped to ``[0, 1]`` in the forward pass (direct
parameterisation; Fang et al. train ``w`` with ``1/tau = sigmoid(w)``). Direct means the IR value
``beta`` is the parameter bit for bit, so a compiled PLIF reproduces the interpreter exactly and
``to_ir`` writes back exactly what the module computes with; the clamp keeps ``beta`` a decay. With
``decay_input`` the input gain is tied to the leak, ``alpha (1 - beta)`` (Fang et al.'s ``1/tau``),
so the gradient of ``beta`` has both terms.
"""
from __future__ import annotations

import torch
from torch import nn

from .neurons import LIF_ATTRS, LIFNode

Tensor = torch.Tensor


def step_loop(node: LIFNode, x_seq: Tensor, return_v: bool = False):
    """Multi-step by stepping: ``X`` ``[T, B, ...]`` -> ``S`` ``[T, B, ...]`` (and ``V``
    ``[T, B, ...]``, detached, with ``return_v``); differentiable through autograd."""
    state, spikes, vs = None, [], []
    for t in range(x_seq.shape[0]):
        s, state = node.step(x_seq[t], state)
        spikes.append(s)
        if return_v:
            vs.append(node.potential(state).detach())
    s_seq = torch.stack(spikes)
    return (s_seq, torch.stack(vs)) if return_v else s_seq


class ALIFNode(LIFNode):
    """A layer of adaptive-threshold LIF neurons (the IR's ALIF op; module docstring).

    Args:
        beta, alpha, v_th, v_reset, v_rest, reset, detach_reset, surrogate, surrogate_arg: as
            :class:`~.neurons.LIFNode`; ``v_th`` is the resting threshold.
        rho: decay of the threshold increment ``a`` per step (SpikeDHS's ``tau_a``), in [0, 1].
        adapt: threshold rise per unit of ``a`` (SpikeDHS eq. 7's ``beta``), >= 0.
    Raises:
        ValueError: ``rho`` outside [0, 1], negative ``adapt``, or LIFNode's errors.
    """

    ATTRS = LIF_ATTRS + ("rho", "adapt")

    def __init__(self, beta: float, alpha: float = 1.0, v_th: float = 1.0, v_reset: float = 0.0,
                 v_rest: float = 0.0, reset: str = "hard", detach_reset: bool = False,
                 surrogate: str = "atan", surrogate_arg: float = 2.0, rho: float = 0.2,
                 adapt: float = 1.8):
        super().__init__(beta, alpha, v_th, v_reset, v_rest, reset, detach_reset, surrogate,
                         surrogate_arg)
        if not 0.0 <= rho <= 1.0 or adapt < 0.0:
            raise ValueError(f"ALIF needs rho in [0, 1] and adapt >= 0, got rho={rho}, "
                             f"adapt={adapt}")
        self.rho, self.adapt = float(rho), float(adapt)

    def step(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None):
        """One step: ``x`` = ``X[t]`` ``[B, ...]``, ``state = (V[t-1], a[t])`` (None at ``t = 0``)
        -> ``(S[t], (V[t], a[t+1]))``, all ``[B, ...]``."""
        v, a = (None, None) if state is None else state
        h = self.charge(x, v)
        threshold = self.v_th if a is None else self.v_th + self.adapt * a  # a[0] = 0
        s, v = self.fire_reset(h, threshold)
        a = s if a is None else self.rho * a + s
        return s, (v, a)

    @staticmethod
    def potential(state):
        return state[0]

    def forward(self, x_seq: Tensor, return_v: bool = False):
        """Multi-step ``[T, B, ...] -> [T, B, ...]`` (:func:`step_loop`)."""
        return step_loop(self, x_seq, return_v)


class PLIFNode(LIFNode):
    """A layer of parametric LIF neurons (the IR's PLIF op; module docstring): one trainable leak
    ``leak`` (an ``nn.Parameter``, float64 until the module is cast) shared by the layer.

    Args:
        beta: initial leak, in [0, 1].
        decay_input: input gain ``alpha (1 - beta)`` (tied to the leak) instead of ``alpha``.
        others: as :class:`~.neurons.LIFNode`.
    Raises:
        ValueError: ``beta`` outside [0, 1], or LIFNode's errors.
    """

    ATTRS = LIF_ATTRS + ("decay_input",)

    def __init__(self, beta: float, alpha: float = 1.0, v_th: float = 1.0, v_reset: float = 0.0,
                 v_rest: float = 0.0, reset: str = "hard", detach_reset: bool = False,
                 surrogate: str = "atan", surrogate_arg: float = 2.0, decay_input: bool = False):
        if not 0.0 <= beta <= 1.0:
            raise ValueError(f"PLIF needs beta in [0, 1], got {beta}")
        super().__init__(beta, alpha, v_th, v_reset, v_rest, reset, detach_reset, surrogate,
                         surrogate_arg)
        self.decay_input = bool(decay_input)

    @property
    def beta(self) -> float:
        """The current leak, ``clamp(leak, 0, 1)``, as a Python float (the IR value)."""
        return float(self.leak.detach().clamp(0.0, 1.0))

    @beta.setter
    def beta(self, value: float) -> None:
        if "leak" in self._parameters:
            with torch.no_grad():
                self.leak.fill_(float(value))
        else:
            self.leak = nn.Parameter(torch.tensor(float(value), dtype=torch.float64))

    def charge(self, x: Tensor, v: Tensor | None) -> Tensor:
        """``H = v_rest + beta (V - v_rest) + g X`` with the trainable ``beta`` (differentiable in
        ``beta``), in the interpreter's operation order."""
        beta = self.leak.clamp(0.0, 1.0)
        gain = self.alpha * (1.0 - beta) if self.decay_input else self.alpha
        ax = x if (not self.decay_input and gain == 1.0) else gain * x
        if v is None:  # V[-1] = v_rest: H = v_rest + beta * 0 + g X
            return ax if self.v_rest == 0.0 else self.v_rest + ax
        d = beta * (v if self.v_rest == 0.0 else v - self.v_rest)
        if self.v_rest != 0.0:
            d = self.v_rest + d
        return d + ax

    def forward(self, x_seq: Tensor, return_v: bool = False):
        """Multi-step ``[T, B, ...] -> [T, B, ...]`` (:func:`step_loop`)."""
        return step_loop(self, x_seq, return_v)


#: The module of every stateful neuron op, by op name.
NEURON_MODULES: dict[str, type[LIFNode]] = {"LIF": LIFNode, "ALIF": ALIFNode, "PLIF": PLIFNode}
