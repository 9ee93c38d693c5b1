"""The canonical spiking neuron (docs/ARCHITECTURE.md, "The canonical spiking neuron") as a torch module.

Per neuron, for ``t = 0 .. T-1``, with ``V[-1] = v_rest``::

    H[t] = v_rest + beta (V[t-1] - v_rest) + alpha X[t]
    S[t] = H[t] > v_th                                       (strict; surrogate gradient backward)
    V[t] = v_reset where S[t] else H[t]                      (reset = "hard")
    V[t] = H[t] - v_th S[t]                                  (reset = "soft")

These are the equations of :meth:`snnc.ir.interpret.Interpreter.op_lif`, evaluated in the same
floating-point order, so a float64 module reproduces the interpreter's spikes exactly. For the
gradient the hard reset is written ``V = H (1 - S) + v_reset S`` (SpikingJelly's form; equal in the
forward pass); ``detach_reset`` (Zenke & Vogels 2021, used by STTS appendix B) cuts the gradient
through ``S`` in the reset term only, so it changes gradients but never the forward pass.

Two ways to run a neuron:

* :meth:`LIFNode.forward` — multi-step, ``[T, B, ...] -> [T, B, ...]``, a loop over ``T`` inside.
  When the input needs a gradient this runs a fused autograd function whose backward pass is the
  hand-written BPTT recursion below; it saves ``H`` and the output spikes ``S`` instead of every
  intermediate of the loop, and its backward pass turns the saved ``H`` into the input's gradient
  in place (in-place surrogate gradients, the reset terms fused into one multiply-add per step;
  no sequence-sized temporary in either pass, so fewer pages to fault in and out per step).
* :meth:`LIFNode.step` — one step with explicit state, ``([B, ...], V[t-1]) -> (S[t], V[t])``, for
  the strongly connected components that must run step by step; plain autograd.

Every neuron module (this one and those of :mod:`.variants`) has the same interface: ``forward``
(multi-step), ``step(x, state) -> (S, state)`` with ``state = None`` at ``t = 0``,
``potential(state)`` (the membrane potential ``V`` in a state), ``attrs()`` and ``from_attrs``.

BPTT of the fused function (``g`` the surrogate gradient at ``H[t] - v_th``, ``G_S[t]`` the incoming
gradient of ``S[t]``, ``G_V[T-1] = 0``)::

    dV/dH   = (1 - S) + (v_reset - H) g    (hard)    |    1 - v_th g    (soft)
              (the g term dropped when detach_reset)
    G_H[t]  = G_S[t] g + G_V[t] dV/dH
    G_X[t]  = alpha G_H[t],      G_V[t-1] = beta G_H[t]
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .surrogates import get_surrogate

Tensor = torch.Tensor

#: IR attributes of a LIF node, in the op catalogue's order (snnc.ir.ops.LIF).
LIF_ATTRS = ("beta", "alpha", "v_th", "v_reset", "v_rest", "reset", "detach_reset", "surrogate",
             "surrogate_arg")


class LIFNode(nn.Module):
    """A layer of canonical LIF neurons with scalar parameters (the IR's LIF op).

    Args:
        beta: leak factor of ``V - v_rest`` per step (1 = IF; SpikingJelly's ``1 - 1/tau``).
        alpha: input gain (SpikingJelly's ``1/tau`` with ``decay_input``; else 1).
        v_th: firing threshold; a spike when ``H > v_th``.
        v_reset: potential after a spike (hard reset).
        v_rest: resting potential, also the initial ``V[-1]``.
        reset: ``"hard"`` or ``"soft"`` (subtract ``v_th``).
        detach_reset: no gradient through the spike in the reset term.
        surrogate: name in :data:`~snnc.backends.torch.surrogates.SURROGATES`.
        surrogate_arg: its width/steepness argument (``alpha = 2`` for atan, STTS eq. B.1).
    Raises:
        ValueError: unknown ``reset`` or ``surrogate``.
    """

    def __init__(self, beta: float, alpha: float = 1.0, v_th: float = 1.0, v_reset: float = 0.0,
                 v_rest: float = 0.0, reset: str = "hard", detach_reset: bool = False,
                 surrogate: str = "atan", surrogate_arg: float = 2.0):
        super().__init__()
        if reset not in ("hard", "soft"):
            raise ValueError(f"reset must be 'hard' or 'soft', got {reset!r}")
        self.beta, self.alpha, self.v_th = float(beta), float(alpha), float(v_th)
        self.v_reset, self.v_rest = float(v_reset), float(v_rest)
        self.reset, self.detach_reset = reset, bool(detach_reset)
        self.surrogate, self.surrogate_arg = surrogate, float(surrogate_arg)
        self._sg = get_surrogate(surrogate)

    #: IR attributes of the op this module implements.
    ATTRS: tuple[str, ...] = LIF_ATTRS

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> "LIFNode":
        """From a (verified) IR node's ``attrs`` (LIF here; the op's own in subclasses)."""
        return cls(**{k: attrs[k] for k in cls.ATTRS if k in attrs})

    def attrs(self) -> dict[str, Any]:
        """The IR attributes of this layer (for ``to_ir``)."""
        return {k: getattr(self, k) for k in self.ATTRS}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={getattr(self, k)!r}" for k in self.ATTRS)

    @staticmethod
    def potential(state):
        """The membrane potential ``V`` held in a :meth:`step` state (for LIF, the state)."""
        return state

    # ------------------------------------------------------------------ equations
    def charge(self, x: Tensor, v: Tensor | None) -> Tensor:
        """``H = v_rest + beta (V - v_rest) + alpha X`` (``V = v_rest`` when ``v`` is None), in the
        interpreter's operation order; operations that are exact identities are skipped."""
        ax = x if self.alpha == 1.0 else self.alpha * x
        if v is None:  # v_rest + beta * 0 + alpha x
            return ax if self.v_rest == 0.0 else self.v_rest + ax
        d = v if self.v_rest == 0.0 else v - self.v_rest
        d = d if self.beta == 1.0 else self.beta * d
        if self.v_rest != 0.0:
            d = self.v_rest + d
        return d + ax

    def fire_reset(self, h: Tensor,
                   threshold: float | Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(S, V)`` from ``H``: spike where ``H > threshold`` (default ``v_th``; a tensor for
        ALIF) with the surrogate gradient, then reset (autograd); a soft reset subtracts the
        threshold."""
        th = self.v_th if threshold is None else threshold
        s = self._sg(h - th, self.surrogate_arg)
        sr = s.detach() if self.detach_reset else s
        if self.reset == "soft":
            v = h - th * sr
        elif self.v_reset == 0.0:
            v = h * (1.0 - sr)
        else:
            v = h * (1.0 - sr) + self.v_reset * sr
        return s, v

    def step(self, x: Tensor, v: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One time step: ``x`` = ``X[t]`` ``[B, ...]``, ``v`` = ``V[t-1]`` (None at ``t = 0``,
        meaning ``v_rest``) -> ``(S[t], V[t])``, both ``[B, ...]``. Differentiable (autograd)."""
        return self.fire_reset(self.charge(x, v))

    def forward(self, x_seq: Tensor, return_v: bool = False, donate: bool = False):
        """Multi-step: ``X`` ``[T, B, ...]`` -> spikes ``S`` ``[T, B, ...]`` (and, with
        ``return_v``, the membrane potentials after reset ``V`` ``[T, B, ...]``, detached).

        ``donate``: the caller hands ``x_seq``'s buffer over (nothing reads it afterwards, and the
        op that produced it does not need it for its own backward pass); when training, ``H`` is
        then written over it instead of into a new sequence-sized tensor. The executor decides
        this (:meth:`SpikingModule._donatable`); a wrong promise corrupts ``x_seq``."""
        sink: list[Tensor] | None = [] if return_v else None
        if torch.is_grad_enabled() and x_seq.requires_grad:
            s_seq = _LIFMultiStep.apply(x_seq, self, sink, donate and x_seq.is_contiguous())
        else:
            s_seq, _ = _lif_loop(x_seq, self, sink, save_h=False)
        return (s_seq, sink[0]) if return_v else s_seq


def _lif_loop(x_seq: Tensor, n: LIFNode, sink: list | None, save_h: bool, donate: bool = False):
    """Forward loop without autograd; returns ``(S [T, ...], H [T, ...] or None)`` and appends
    ``V [T, ...]`` to ``sink`` when given. With ``donate`` (and ``save_h``), ``H`` is written
    over ``x_seq`` (each ``X[t]`` is read before ``H[t]`` replaces it).

    Per step, into preallocated buffers: ``alpha X[t]`` written straight into ``H[t]`` (no scaled
    copy of the whole input), the decayed potential added in place, one comparison, one reset.
    Only ``S`` (and ``H`` when saved for the backward pass, ``V`` for a probe) are sequence-sized;
    the rest is one step's worth, reused at every step. The operation order is the interpreter's
    (``alpha X`` rounded before the addition; ``a + b == b + a`` in IEEE arithmetic)."""
    with torch.no_grad():
        T = x_seq.shape[0]
        s_seq = torch.empty_like(x_seq, memory_format=torch.contiguous_format)
        h_seq = (x_seq if donate else torch.empty_like(s_seq)) if save_h else None
        v_seq = torch.empty_like(s_seq) if sink is not None else None
        h_buf = None if save_h else torch.empty_like(s_seq[0])
        # V between steps: V[t] itself when it is recorded (then decayed into d), else one
        # buffer decayed in place
        d = torch.empty_like(s_seq[0])
        v = None
        for t in range(T):
            h = h_seq[t] if save_h else h_buf
            if n.alpha == 1.0:
                if h.data_ptr() != x_seq[t].data_ptr():
                    h.copy_(x_seq[t])
            else:
                torch.mul(x_seq[t], n.alpha, out=h)
            if v is None:  # V[-1] = v_rest: H = v_rest + beta * 0 + alpha X
                if n.v_rest != 0.0:
                    h.add_(n.v_rest)
            else:  # H = (v_rest + beta (V - v_rest)) + alpha X
                if n.v_rest == 0.0:
                    dv = v if n.beta == 1.0 else torch.mul(v, n.beta, out=d)
                else:
                    dv = torch.sub(v, n.v_rest, out=d)
                    if n.beta != 1.0:
                        dv.mul_(n.beta)
                    dv.add_(n.v_rest)
                h.add_(dv)
            fired = h > n.v_th
            s_seq[t].copy_(fired)
            v = v_seq[t] if v_seq is not None else d
            if n.reset == "hard":
                v.copy_(h).masked_fill_(fired, n.v_reset)
            else:  # v_th S is exactly 0 or v_th, so a fused multiply-add rounds as h - v_th S
                torch.sub(h, s_seq[t], alpha=n.v_th, out=v)
        if sink is not None:
            sink.append(v_seq)
        return s_seq, h_seq


class _LIFMultiStep(torch.autograd.Function):
    """Fused multi-step LIF: forward :func:`_lif_loop`, backward the BPTT recursion of the module
    docstring. Saves ``H`` and the spikes ``S`` (the output, which the next synapse keeps alive
    anyway).

    The backward pass writes everything into the one sequence-sized tensor it returns,
    ``U = alpha G_H`` (the input gain folded into the surrogate's constant), and that tensor is
    the saved ``H``'s own buffer: no sequence-sized allocation at all, temporaries of one step's
    size (so a graph through this function can be differentiated once; a second backward, after
    ``retain_graph``, raises RuntimeError). The surrogate gradient is computed in place on
    ``H - v_th``; with a detached reset (the ``g`` term of ``dV/dH`` gone) it is multiplied by
    ``G_S`` for all steps at once and the recursion is one multiply-add per step::

        U[t] = alpha G_S[t] g[t] + beta U[t+1] (1 - S[t])      (hard; soft: without (1 - S))

    otherwise each step computes its ``g[t]`` in its own slice when the recursion reaches it::

        U[t] = g[t] (alpha G_S[t] + beta U[t+1] c[t]) + beta U[t+1] (1 - S[t])
        c[t] = v_reset - H[t]  (hard)   |   -v_th, and no (1 - S[t]) factor  (soft)
    """

    @staticmethod
    def forward(ctx, x_seq: Tensor, node: LIFNode, sink: list | None, donate: bool) -> Tensor:
        s_seq, h_seq = _lif_loop(x_seq, node, sink, save_h=True, donate=donate)
        ctx.save_for_backward(h_seq, s_seq)
        ctx.node, ctx.consumed = node, False
        return s_seq

    @staticmethod
    def backward(ctx, grad_s: Tensor):
        if ctx.consumed:
            raise RuntimeError(
                "the fused multi-step LIF backward reuses its saved membrane potentials for the "
                "gradient, so a graph through it can be differentiated once (no retain_graph); "
                "run that forward again, or the neuron step by step (compile(mode='step'))")
        ctx.consumed = True
        h_seq, s_seq = ctx.saved_tensors
        n: LIFNode = ctx.node
        u = h_seq  # H is dead after this: U is written over it
        T = u.shape[0]
        if n.detach_reset:
            if n.v_th != 0.0:
                u.sub_(n.v_th)
            n._sg.grad_(u, n.surrogate_arg, n.alpha)
            u.mul_(grad_s)
            keep = torch.empty_like(u[0]) if n.reset == "hard" else None
            for t in range(T - 2, -1, -1):
                if keep is None:
                    u[t].add_(u[t + 1], alpha=n.beta)
                else:  # U[t+1] (1 - S[t]), exactly (S is 0 or 1)
                    torch.mul(u[t + 1], s_seq[t], out=keep)
                    u[t].add_(torch.sub(u[t + 1], keep, out=keep), alpha=n.beta)
            return u, None, None, None
        gs = grad_s.expand_as(u)
        carry = torch.empty_like(u[0])
        c = torch.empty_like(u[0])
        for t in range(T - 1, -1, -1):
            if n.reset == "hard":
                torch.sub(u[t], n.v_reset, out=c)  # H[t] - v_reset, before H[t] is overwritten
            if n.v_th != 0.0:
                u[t].sub_(n.v_th)
            n._sg.grad_(u[t], n.surrogate_arg)  # g[t]
            if t == T - 1:
                u[t].mul_(gs[t]).mul_(n.alpha)
                continue
            torch.mul(u[t + 1], n.beta, out=carry)  # beta U[t+1]
            if n.reset == "hard":
                u[t].mul_(c.mul_(carry).neg_().add_(gs[t], alpha=n.alpha))
                u[t].add_(carry.masked_fill_(s_seq[t].bool(), 0.0))  # beta U[t+1] (1 - S), exact
            else:
                torch.mul(gs[t], n.alpha, out=c).sub_(carry, alpha=n.v_th)
                u[t].mul_(c).add_(carry)
        return u, None, None, None
