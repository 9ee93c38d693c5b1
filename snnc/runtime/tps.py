"""Temporal parameter search, TPS (Che et al., "Spatial-temporal search for SNNs", SpikeDHS
section 4.3, Algorithm 3, eq. 19-23), run inside ``snnc train --tps``.

Every neuron of a selected layer becomes a **mixed neuron** (eq. 21): ``K`` candidate neurons, the
same model with the leak factors ``tau_k in {tau + delta, tau, tau - delta}`` (clamped to [0, 1],
equal ones merged), each with its own membrane (eq. 19-20: ``u_k[t] = tau_k u_k[t-1] (1 -
y_k[t-1]) + I[t]``, ``y_k[t] = H(u_k[t] - V_th)``), read the same input current ``I`` and the node
outputs ::

    y[t] = sum_k softmax(a)_k y_k[t]                                       (eq. 21)

so ``dy/da_k = softmax(a)_k (y_k - y)`` (eq. 23): the control weights ``a`` learn from how the
candidates' spikes differ. An ALIF layer (section 3.1.3) searches its threshold decay ``tau_a``
too: its candidates are every pair of ``{tau + delta, tau, tau - delta}`` and ``{tau_a + delta_a,
tau_a, tau_a - delta_a}``. All neurons of a layer share one ``a`` (one value per layer, as the
genome's ``layer`` override holds one neuron).

Algorithm 3: the control weights of every layer start at ``epsilon`` and are held fixed for
``warmup`` epochs while the network weights train (section 5.1.2); then after every training step
(the network's optimizer step, line 3) one Adam step on ``a`` from the same loss (line 4); every
``step`` search iterations (``s``, line 5) each layer's ``tau`` becomes its candidate with the
largest ``a`` (a tie with the current ``tau`` keeps it) and ``a`` is reset to ``epsilon`` (with a
fresh Adam state). After ``iterations`` (``I_max``) search iterations, or at the end of training,
the layers run plain neurons with the found values. In eval mode (test accuracy during the search)
a mixed neuron is its current ``tau``'s candidate: the plain network the search would give.

TPS searches the leak-factor form of the neuron (``lif leak=0.2``, ``beta`` in
docs/ARCHITECTURE.md's canonical neuron with ``alpha = 1``: SpikeDHS eq. 3), LIF or ALIF. With
``delta = 0`` (and ``delta_a = 0``) a layer has one candidate, ``softmax = [1]``, and the run is
bit for bit plain training.

The paper fixes ``s = 100`` and a 5-epoch warm-up; it gives no ``delta tau`` (0.1 here), no
optimizer for ``a`` (Adam, lr 0.01 here, DGS's) and no public code.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import RunError
from ..genome.ast import Genome
from .config import TPSConfig
from .layer_search import LayerSearch, layer_neurons, rounded, select_layers, winner

__all__ = ["MixedNeuron", "TPS", "leak_candidates"]

Tensor = torch.Tensor


def leak_candidates(value: float, delta: float) -> list[float]:
    """``[value + delta, value, value - delta]`` clamped to [0, 1], rounded, equal ones merged
    (Algorithm 3's ``{tau + dtau, tau, tau - dtau}``)."""
    out: list[float] = []
    for v in (value + delta, value, value - delta):
        v = rounded(min(max(v, 0.0), 1.0))
        if v not in out:
            out.append(v)
    return out


class MixedNeuron(nn.Module):
    """A TPS mixed neuron (SpikeDHS eq. 21): ``y = sum_k softmax(a)_k y_k`` over candidate neuron
    modules reading the same input; in eval mode the candidate ``center`` alone.

    Args:
        candidates: neuron modules (:class:`~snnc.backends.torch.neurons.LIFNode` or
            :class:`~snnc.backends.torch.variants.ALIFNode`), ``K`` of them.
        weights: the control weights ``a`` ``[K]`` (float64, shared by a layer's mixed neurons;
            owned by :class:`TPS`, so not a parameter of the module: the network's optimizer and
            ``state_dict`` do not see it).
        center: the index of the current value's candidate.
    """

    def __init__(self, candidates: list[nn.Module], weights: Tensor, center: int):
        super().__init__()
        self.candidates = nn.ModuleList(candidates)
        self.weights, self.center = weights, center

    def mix(self, outputs: list[Tensor]) -> Tensor:
        """``sum_k softmax(a)_k y_k`` of the candidates' outputs (eq. 21)."""
        p = torch.softmax(self.weights, 0).to(outputs[0].dtype)
        y = p[0] * outputs[0]
        for k in range(1, len(outputs)):
            y = y + p[k] * outputs[k]
        return y

    def forward(self, x_seq: Tensor, return_v: bool = False, donate: bool = False):
        """Multi-step ``[T, B, ...] -> [T, B, ...]``; with ``return_v`` also the current
        candidate's membrane potential. ``donate`` (the executor's offer to write over
        ``x_seq``) is declined: every candidate reads the same input."""
        if not self.training:
            return self.candidates[self.center](x_seq, return_v=return_v)
        outs = [c(x_seq, return_v=return_v) for c in self.candidates]
        if return_v:
            return self.mix([o[0] for o in outs]), outs[self.center][1]
        return self.mix(outs)

    def step(self, x: Tensor, state=None):
        """One step; ``state`` holds every candidate's state (None at ``t = 0``)."""
        if not self.training:
            return self.candidates[self.center].step(x, state)
        states = state or [None] * len(self.candidates)
        pairs = [c.step(x, s) for c, s in zip(self.candidates, states)]
        return self.mix([p[0] for p in pairs]), [p[1] for p in pairs]

    def potential(self, state):
        if not self.training:
            return self.candidates[self.center].potential(state)
        return self.candidates[self.center].potential(state[self.center])

    def attrs(self) -> dict[str, Any]:
        return self.candidates[self.center].attrs()


class TPS(LayerSearch):
    """TPS on the layers ``cfg.layers`` of a compiled SpikeDHS network (module docstring).

    Args:
        cfg: the settings.
        module: the :class:`~snnc.backends.torch.SpikingModule` being trained (its neuron modules
            are replaced by :class:`MixedNeuron` s until the search ends).
        genome: its genome (layer names, and the neuron form each layer writes back).
    Raises:
        RunError: not a SpikeDHS genome, an unknown layer, or a layer whose neuron is not LIF or
            ALIF in the leak-factor form (``leak=`` or ``beta=`` with ``alpha=1``).
    """

    name = "tps"

    def __init__(self, cfg: TPSConfig, module, genome: Genome):
        super().__init__(select_layers(cfg.layers, genome, "--tps"))
        self.cfg, self.module = cfg, module
        graph = module.graph
        self.neurons = {lay: layer_neurons(graph, lay) for lay in self.layers}
        self.key: dict[str, str] = {}
        self.tau: dict[str, list] = {}
        for lay in self.layers:
            node = graph[self.neurons[lay][0]]
            spec = _layer_spec(genome, lay)
            key = "leak" if spec.get("leak") is not None else "beta"
            if node.op not in ("LIF", "ALIF") or spec.kind not in ("lif", "alif") or \
                    (key == "beta" and spec.get("beta") is None) or node.attrs["alpha"] != 1.0:
                raise RunError(f"--tps: layer {lay!r} has the neuron '{spec.kind} "
                               f"{' '.join(f'{k}={v}' for k, v in spec.params)}'; TPS searches the "
                               f"leak factor of a LIF or ALIF neuron in the leak-factor form "
                               f"v = leak * v + I (SpikeDHS eq. 3), e.g. 'lif leak=0.2 v_th=0.5'")
            self.key[lay] = key
            rho = node.attrs.get("rho") if node.op == "ALIF" else None
            self.tau[lay] = [rounded(node.attrs["beta"]), None if rho is None else rounded(rho)]
            self.trace.append({"epoch": 0, "iteration": 0, "layer": lay,
                               "value": list(self.tau[lay]), "weights": []})
        self.count, self.done = 0, False
        self.a: dict[str, Tensor] = {}
        self.cands: dict[str, list[tuple]] = {}
        self._install()

    # ------------------------------------------------------------------ candidates
    def candidates(self, layer: str) -> list[tuple[float, float | None]]:
        """The layer's candidate ``(tau, tau_a)`` pairs (``tau_a`` None for LIF)."""
        tau, tau_a = self.tau[layer]
        taus = leak_candidates(tau, self.cfg.delta)
        if tau_a is None:
            return [(t, None) for t in taus]
        return [(t, ta) for t in taus for ta in leak_candidates(tau_a, self.cfg.delta_a)]

    def _plain(self, node: str) -> nn.Module:
        """The node's neuron module now (a mixed neuron's current candidate)."""
        mod = self.module.layer(node)
        return mod.candidates[mod.center] if isinstance(mod, MixedNeuron) else mod

    @staticmethod
    def _with(base: nn.Module, tau: float, tau_a: float | None) -> nn.Module:
        attrs = {**base.attrs(), "beta": tau}
        if tau_a is not None:
            attrs["rho"] = tau_a
        return type(base).from_attrs(attrs)

    def _install(self) -> None:
        """Mixed neurons around the current values, ``a = epsilon``, a fresh Adam."""
        for lay in self.layers:
            cands = self.cands[lay] = self.candidates(lay)
            center = cands.index(tuple(self.tau[lay]))
            a = self.a[lay] = torch.full((len(cands),), self.cfg.init, dtype=torch.float64,
                                         requires_grad=True)
            for node in self.neurons[lay]:
                base = self._plain(node)
                mixed = MixedNeuron([self._with(base, *c) for c in cands], a, center)
                mixed.train(self.module.training)
                self.module.layers[self.module.module_names[node]] = mixed
        self.opt = torch.optim.Adam(list(self.a.values()), lr=self.cfg.lr)

    def _uninstall(self) -> None:
        """Plain neurons with the current values."""
        for lay in self.layers:
            for node in self.neurons[lay]:
                plain = self._with(self._plain(node), *self.tau[lay])
                plain.train(self.module.training)
                self.module.layers[self.module.module_names[node]] = plain
        self.a, self.cands = {}, {}

    # ------------------------------------------------------------------ hooks
    def after_step(self, epoch: int, iteration: int) -> None:
        """Algorithm 3 lines 4-7 after the network's optimizer step (module docstring)."""
        if self.done:
            return
        if epoch >= self.cfg.warmup:
            self.opt.step()
            self.count += 1
        self.opt.zero_grad(set_to_none=True)
        if epoch < self.cfg.warmup:
            return
        end = self.cfg.iterations is not None and self.count >= self.cfg.iterations
        if self.count % self.cfg.step == 0 or end:
            self._decide(epoch)
            if end:
                self._uninstall()
                self.done = True
            else:
                self._install()

    def _decide(self, epoch: int) -> None:
        for lay in self.layers:
            a = self.a[lay].detach()
            cands = self.cands[lay]
            self.tau[lay] = list(cands[winner(a, cands.index(tuple(self.tau[lay])))])
            self.trace.append({"epoch": epoch + 1, "iteration": self.count, "layer": lay,
                               "value": list(self.tau[lay]),
                               "weights": [float(v) for v in torch.softmax(a, 0)]})

    def finish(self) -> None:
        """The plain network with the values of the last completed search step."""
        if not self.done:
            self._uninstall()
            self.done = True

    # ------------------------------------------------------------------ state
    def values(self) -> dict[str, Any]:
        return {lay: (t if ta is None else [t, ta]) for lay, (t, ta) in self.tau.items()}

    def genome_overrides(self) -> dict[str, dict[str, Any]]:
        out = {}
        for lay, (tau, tau_a) in self.tau.items():
            changes: dict[str, Any] = {self.key[lay]: tau}
            if tau_a is not None:
                changes["rho"] = tau_a
            out[lay] = {"neuron": changes}
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"tau": {lay: list(v) for lay, v in self.tau.items()},
                "a": {lay: a.detach().clone() for lay, a in self.a.items()},
                "adam": self.opt.state_dict() if not self.done else {},
                "count": self.count, "done": self.done,
                "trace": [dict(r) for r in self.trace]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if sorted(state.get("tau", {})) != sorted(self.layers):
            raise RunError("the checkpoint's TPS state is not for the layers this run searches")
        self.tau = {lay: [float(v[0]), None if v[1] is None else float(v[1])]
                    for lay, v in state["tau"].items()}
        self.count, self.done = int(state["count"]), bool(state["done"])
        self.trace = [dict(r) for r in state["trace"]]
        if self.done:
            self._uninstall()
            return
        self._install()
        with torch.no_grad():
            for lay, a in self.a.items():
                a.copy_(state["a"][lay])
        self.opt.load_state_dict(state["adam"])


def _layer_spec(genome: Genome, layer: str):
    """The neuron spec a layer (or the stem) lowers with: its override, else the genome's."""
    kind = "stem" if layer == "stem" else "layer"
    block = next((b for b in genome.blocks if b.kind == kind
                  and (kind == "stem" or b.name == layer)), None)
    return (block.neuron if block is not None else None) or genome.neuron
