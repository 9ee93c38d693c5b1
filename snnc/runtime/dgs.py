"""Differentiable surrogate gradient search, DGS (Che et al., "Spatial-temporal search for SNNs",
SpikeDHS section 4.2, Algorithm 2, eq. 18), run inside ``snnc train --dgs``.

After every ``interval``-th epoch (Algorithm 2's ``ep``) and for every selected layer ``l`` with
surrogate temperature ``b`` (the Dspike ``b`` of eq. 11, or the parameter of whichever surrogate
the layer uses), for ``iterations`` training batches (Algorithm 2's ``I``):

1. **weight copies** (line 6): for each of the ``N`` candidates ``b_k = b + (k - (N-1)/2) delta``
   (clamped to ``[b_min, b_max]``; equal candidates merged) the layer's neurons take ``b_k`` and
   the layer's local weights ``w`` (the convolutions feeding its neurons, with their biases) take
   one SGD step ``w_k = w - lr * dL/dw`` at the training learning rate. The rest of the network
   keeps its surrogates, so ``w_k`` differs from ``w_j`` only through the layer's own surrogate.
2. **mixed operation** (line 7, eq. 18): ``I = sum_k softmax(alpha)_k I_k`` with ``I_k = w_k x``.
   ``I_k`` is linear in ``w_k`` (and its bias), so the mixed current is the current of the mixed
   weight ``sum_k softmax(alpha)_k w_k``; the network runs with that weight in every selected
   layer at once and one Adam step (learning rate ``lr``) moves every ``alpha``.
3. **decision** (line 8): ``b <- b_i``, ``i = argmax_i <alpha_i>``. ``variant="paper"``: every
   batch starts from ``alpha = epsilon`` and ``<.>`` is the average over the batches ("with <.>
   denoting the average over batches"); ``variant="code"``: the authors' release, one ``alpha``
   trained over all batches and its final argmax. A tie with the current temperature keeps it.

The phase changes nothing else: weights, optimizer, BatchNorm statistics and the random generators
are as before it (the copies are temporary, Algorithm 2 trains ``w`` only in line 3), so with
``N = 1`` a run is bit for bit plain training. The batches come from their own seeded order
(``derive_seed(6, seed, epoch)``), so a resumed run repeats a phase exactly.

The paper searches every layer (Table 1; "DGS is applied to the first stem layer (s1) ... the
first node of the 5th cell (c5)" in the experiments) with ``I = 100``, ``epsilon = 0.001``,
``ep = 5``, ``N = 5``, ``delta b = 0.2``; the authors' code searches the stem only, for 200 batches,
with Adam (lr 0.01) on ``alpha`` and ``b`` clamped to [1, 6] (``snnc train --dgs stem
--dgs-variant code --dgs-iterations 200``). Defaults: the paper's, with the code's clamp range and
Adam learning rate, which the paper does not give.
"""
from __future__ import annotations

from collections import Counter
from typing import Any

import torch

from ..errors import RunError
from ..frontend.builder import SURROGATE_ARG
from ..genome.ast import Genome
from .config import DGSConfig
from .layer_search import (Bar, Context, LayerSearch, layer_neurons, local_weights, neuron_modules,
                           rounded, select_layers, winner)
from .runs import rng_state, set_rng_state

__all__ = ["DGS", "candidates", "mix_weights"]


def candidates(b: float, cfg: DGSConfig) -> list[float]:
    """``[b + (k - (N-1)/2) delta for k in 0..N-1]`` clamped to ``[b_min, b_max]``, rounded
    (:func:`~snnc.runtime.layer_search.rounded`), equal values merged (SpikeDHS section 5.1.2:
    ``{g(b - (N-1)/2 db), ..., g(b + (N-1)/2 db)}``)."""
    out: list[float] = []
    for k in range(cfg.candidates):
        v = rounded(min(max(b + (k - (cfg.candidates - 1) / 2) * cfg.delta, cfg.b_min), cfg.b_max))
        if v not in out:
            out.append(v)
    return out


def mix_weights(alpha: torch.Tensor, copies: list[torch.Tensor]) -> torch.Tensor:
    """``sum_k softmax(alpha)_k w_k`` (SpikeDHS eq. 18 on the weights: the mixed current
    ``sum_k p_k (w_k x)`` of a convolution is ``(sum_k p_k w_k) x``).

    Args:
        alpha: ``[K]`` mixing weights (float64); copies: ``K`` tensors of one shape.
    Returns:
        The mixed weight, differentiable in ``alpha``, in the copies' dtype.
    """
    p = torch.softmax(alpha, 0).to(copies[0].dtype)
    out = p[0] * copies[0]
    for k in range(1, len(copies)):
        out = out + p[k] * copies[k]
    return out


class DGS(LayerSearch):
    """DGS on the layers ``cfg.layers`` of a compiled SpikeDHS network (module docstring).

    Args:
        cfg: the settings.
        module: the :class:`~snnc.backends.torch.SpikingModule` being trained.
        genome: its genome (for the layer names).
    Raises:
        RunError: not a SpikeDHS genome, an unknown layer, a layer whose neurons use different
            surrogates or one without a parameter.
    """

    name = "dgs"

    def __init__(self, cfg: DGSConfig, module, genome: Genome):
        super().__init__(select_layers(cfg.layers, genome, "--dgs"))
        self.cfg, self.module = cfg, module
        graph = module.graph
        self.neurons = {lay: layer_neurons(graph, lay) for lay in self.layers}
        params = dict(module.named_parameters())
        self.weights: dict[str, list[str]] = {}
        self.kind: dict[str, str] = {}
        self.b: dict[str, float] = {}
        for lay in self.layers:
            attrs = [graph[n].attrs for n in self.neurons[lay]]
            kinds = sorted({a["surrogate"] for a in attrs})
            if len(kinds) != 1 or kinds[0] not in SURROGATE_ARG:
                raise RunError(f"--dgs: layer {lay!r} has neurons with the surrogates "
                               f"{', '.join(kinds)}; DGS searches one temperature per layer (give "
                               f"the layer a surrogate override, e.g. 'surrogate dspike b=3')")
            self.kind[lay] = kinds[0]
            # one value per layer, as the genome's override holds: the layer's most common one
            self.b[lay] = rounded(Counter(a["surrogate_arg"] for a in attrs).most_common(1)[0][0])
            names = []
            for node in local_weights(graph, self.neurons[lay]):
                key = module.module_names[node]
                names += [f"layers.{key}.{p}" for p in ("weight", "bias")
                          if f"layers.{key}.{p}" in params]
            self.weights[lay] = names
            self._set(lay, self.b[lay])
            self.trace.append({"epoch": 0, "iteration": 0, "layer": lay, "value": self.b[lay],
                               "weights": []})

    # ------------------------------------------------------------------ state
    def values(self) -> dict[str, float]:
        return dict(self.b)

    def genome_overrides(self) -> dict[str, dict[str, Any]]:
        return {lay: {"surrogate": {"kind": self.kind[lay], SURROGATE_ARG[self.kind[lay]]: b}}
                for lay, b in self.b.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"b": dict(self.b), "trace": [dict(r) for r in self.trace]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if sorted(state.get("b", {})) != sorted(self.layers):
            raise RunError("the checkpoint's DGS state is not for the layers this run searches")
        for lay in self.layers:
            self.b[lay] = float(state["b"][lay])
            self._set(lay, self.b[lay])
        self.trace = [dict(r) for r in state["trace"]]

    def _set(self, layer: str, b: float) -> None:
        for node in self.neurons[layer]:
            for mod in neuron_modules(self.module, node):
                mod.surrogate_arg = float(b)

    # ------------------------------------------------------------------ the phase
    def end_epoch(self, ctx: Context) -> None:
        """Run a DGS phase after every ``interval``-th epoch (module docstring)."""
        if (ctx.epoch + 1) % self.cfg.interval:
            return
        module = self.module
        saved_buffers = [(b, b.detach().clone()) for b in module.buffers()]
        saved_rng, was_training = rng_state(), module.training
        module.train()
        try:
            self._phase(ctx)
        finally:
            with torch.no_grad():
                for buf, value in saved_buffers:
                    buf.copy_(value)
            set_rng_state(saved_rng)
            module.train(was_training)
            for lay in self.layers:
                self._set(lay, self.b[lay])

    def _phase(self, ctx: Context) -> None:
        cfg, module = self.cfg, self.module
        params = dict(module.named_parameters())
        cands = {lay: candidates(self.b[lay], cfg) for lay in self.layers}
        alpha = {lay: torch.full((len(c),), cfg.init, dtype=torch.float64, requires_grad=True)
                 for lay, c in cands.items()}
        opt = torch.optim.Adam(list(alpha.values()), lr=cfg.lr)
        sums = {lay: torch.zeros(len(c), dtype=torch.float64) for lay, c in cands.items()}
        data = ctx.batches(ctx.epoch)
        with Bar(ctx.progress, f"DGS after epoch {ctx.epoch + 1}", cfg.iterations) as bar:
            for _ in range(cfg.iterations):
                x, y = next(data)
                mixed = {}
                if cfg.variant == "paper":  # Algorithm 2 line 6: alpha starts from epsilon
                    with torch.no_grad():
                        for a in alpha.values():
                            a.fill_(cfg.init)
                    opt = torch.optim.Adam(list(alpha.values()), lr=cfg.lr)
                for lay in self.layers:
                    ws = [params[n] for n in self.weights[lay]]
                    if not ws:  # no local weight (identity skips only): nothing to decide
                        continue
                    copies = []
                    for b in cands[lay]:
                        self._set(lay, b)
                        loss = ctx.loss(module(x, T=ctx.T), y)
                        grads = torch.autograd.grad(loss, ws)
                        copies.append([(w - ctx.lr * g).detach() for w, g in zip(ws, grads)])
                    self._set(lay, self.b[lay])
                    for i, name in enumerate(self.weights[lay]):
                        mixed[name] = mix_weights(alpha[lay], [c[i] for c in copies])
                out = torch.func.functional_call(module, mixed, (x,), {"T": ctx.T})
                loss = ctx.loss(out, y)
                grads = torch.autograd.grad(loss, list(alpha.values()), allow_unused=True)
                for a, g in zip(alpha.values(), grads):
                    a.grad = torch.zeros_like(a) if g is None else g
                opt.step()
                for lay in self.layers:
                    sums[lay] += alpha[lay].detach()
                bar.advance(f"loss {float(loss.detach()):.4f}")
        for lay in self.layers:
            score = sums[lay] / cfg.iterations if cfg.variant == "paper" else alpha[lay].detach()
            current = cands[lay].index(self.b[lay]) if self.b[lay] in cands[lay] else None
            self.b[lay] = cands[lay][winner(score, current)]
            self.trace.append({"epoch": ctx.epoch + 1, "iteration": 0, "layer": lay,
                               "value": self.b[lay],
                               "weights": [float(v) for v in torch.softmax(score, 0)]})
