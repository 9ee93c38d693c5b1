"""A scoring-only executor of IR graphs: the NASWOT / SAHD kernels of :mod:`.proxies` without a
training module.

:func:`.proxies.score_graph` runs a candidate through the torch backend (a full
:class:`~snnc.backends.torch.module.SpikingModule` with probes) and then builds the kernels from
the recorded spikes. For a search of thousands of candidates that costs more than it must: the
module allocates a fresh ``[T, B, ...]`` tensor for every step-by-step value (``torch.stack``),
keeps every spike record alive until the end, and runs the classifier head, which no kernel
reads. :func:`naswot_scores_fast` computes the same kernels (SNASNet eq. 4-9, summed over every
spiking layer and step as eq. 5 writes them, ``protocol="paper"``) by executing the same IR graph
with the torch backend's execution plan (:func:`snnc.backends.torch.plan.plan`: multi-step outside
strongly connected components, step by step inside, train-mode BatchNorm statistics over ``T*B``
samples outside and per step inside, values that are the same at every step computed once) but:

* inference only: no autograd, no modules, the LIF loop in place (spikes as 0/1 floats, the hard
  reset to 0 as ``H - H S``, exactly ``where(S, 0, H)``), channels-last convolutions, average
  pooling as a depthwise convolution, and freed memory kept by the process (the torch backend's
  :mod:`~snnc.backends.torch.allocator` setting, applied when it is imported: without it glibc
  hands the few hundred MB a candidate frees back to the OS and faults them in again, zero-filled,
  measured 1.6x the CPU time of a SNASNet candidate at C = 32);
* only what a spiking neuron depends on runs (the head after the last LIF does not);
* each LIF layer's spikes go into the kernels as soon as they exist: the Gram matrix ``c c^T`` of
  the binary codes of each step is an ``int8`` matrix product with ``int32`` sums
  (``torch._int_mm``; exact), or a float32 one where that is unavailable (exact below ``2**24``
  neurons), and the spikes are freed with the last reader;
* equivalent nodes are computed once: two parameter-free nodes with the same op and attributes
  that read the same values over the same edges compute the same tensor. SNASNet's cells put one
  ``LIF -> conv -> BN`` per edge, so every convolution leaving a cell node starts with the same LIF
  of that node; its spikes (and their Gram matrices) are computed once and counted once per layer
  in the kernel sum, as eq. 5 counts every layer.

The scores equal :func:`.proxies.score_graph`'s up to the order of floating-point sums (in float64
the tests require ``1e-9`` relative agreement); in float32 a convolution algorithm that rounds
differently can flip a spike whose membrane potential sits within rounding of the threshold, so
float32 scores agree closely but not bit for bit (``bench/snasnet_search_speed.py`` measures
Kendall's tau against the reference scorer). Graphs with other ops, or other scores and protocols,
are for :func:`.proxies.score_graph`; :func:`unsupported` says why a graph is refused.
"""
from __future__ import annotations

from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F

from ..backends.torch.plan import plan
from ..errors import SnncError
from ..ir.graph import Graph
from ..ir.inputs import input_layout
from .proxies import ALPHA, PatternStats, hd_kernel, log_abs_det, sahd_kernel

__all__ = ["FAST_OPS", "unsupported", "naswot_scores_fast", "gram_counts"]

#: Ops this executor runs. Stateless ones may run once for all steps (as in the torch backend).
FAST_OPS = frozenset({"Input", "Output", "Conv2d", "BatchNorm2d", "LIF", "Scale", "AvgPool2d",
                      "Flatten", "Dropout", "Linear", "ReLU", "GlobalAvgPool", "Vote"})
_STATIC = FAST_OPS - {"Input", "Output", "LIF"}
_int_mm_ok = hasattr(torch, "_int_mm")
_CL = torch.channels_last


def unsupported(graph: Graph, kinds: Iterable[str] = ("sahd",), *, bn: str = "batch",
                protocol: str = "paper") -> str | None:
    """Why :func:`naswot_scores_fast` cannot score ``graph`` this way (None when it can): a score
    other than ``sahd``/``hd``, ``bn`` other than ``batch``, the ``code`` protocol, or an op outside
    :data:`FAST_OPS` (named)."""
    extra = sorted(set(kinds) - {"sahd", "hd"})
    if extra:
        return f"score {extra[0]!r} needs gradients"
    if bn != "batch" or protocol != "paper":
        return f"bn={bn!r}, protocol={protocol!r} (only batch statistics, paper protocol)"
    for node in graph:
        if node.op not in FAST_OPS:
            return f"node {node.name!r}: op {node.op} is not run by the scoring executor"
    if not any(node.op == "LIF" for node in graph):
        return "no spiking neuron layer"
    return None


def gram_counts(codes: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """``(c c^T [N, N], fired [N])`` as float64 numpy of binary codes ``codes`` ``[N, ...]``
    (bool, or 0/1 of any dtype; any memory layout whose samples are contiguous blocks; the order
    of the neurons within a code does not change either result): exact integer counts (``int8``
    products with ``int32`` sums, or float32 products, exact below ``2**24``); ``fired`` is the
    Gram diagonal (``c_i . c_i = |c_i|`` for binary codes)."""
    global _int_mm_ok
    c = _rows(codes)
    if _int_mm_ok and c.device.type == "cpu":
        try:
            ci = c.view(torch.int8) if c.dtype == torch.bool else c.to(torch.int8)
            gram = torch._int_mm(ci, ci.t()).double().numpy()
            return gram, np.diag(gram).copy()
        except RuntimeError:  # an older torch without the CPU kernel
            _int_mm_ok = False
    cf = c.to(torch.float32)
    gram = (cf @ cf.t()).double().cpu().numpy()
    return gram, np.diag(gram).copy()


def _rows(t: torch.Tensor) -> torch.Tensor:
    """``[N, ...]`` as ``[N, M]`` without a copy where the layout allows it (channels-last
    samples are contiguous blocks too; the neuron order inside a row does not matter)."""
    if t.dim() == 4 and not t.is_contiguous() and t.is_contiguous(memory_format=_CL):
        return t.permute(0, 2, 3, 1).reshape(t.shape[0], -1)
    return t.reshape(t.shape[0], -1).contiguous()


def _empty_seq(T: int, like: torch.Tensor, dtype=None) -> torch.Tensor:
    """An uninitialised ``[T, *like.shape]`` whose every step has ``like``'s memory layout."""
    dtype = dtype or like.dtype
    if like.dim() == 4 and not like.is_contiguous() and like.is_contiguous(memory_format=_CL):
        return torch.empty((T * like.shape[0],) + tuple(like.shape[1:]), dtype=dtype,
                           device=like.device, memory_format=_CL).unflatten(0, (T, like.shape[0]))
    return torch.empty((T,) + tuple(like.shape), dtype=dtype, device=like.device)


class _Kernels:
    """Running sums of the SAHD and HD kernels over (layer, step)."""

    def __init__(self, n: int, alpha: float):
        self.sahd = np.zeros((n, n))
        self.hd = np.zeros((n, n))
        self.alpha = alpha
        self.layers = 0

    def add(self, spikes_t: torch.Tensor, weight: int) -> None:
        gram, fired = gram_counts(spikes_t)
        st = PatternStats(gram, fired, int(np.prod(spikes_t.shape[1:])))
        s, h = sahd_kernel(st, self.alpha), hd_kernel(st)
        for _ in range(weight):  # equivalent layers: the same terms, summed as eq. 5 sums them
            self.sahd += s
            self.hd += h
        self.layers += weight


def _fingerprint(node) -> tuple:
    attrs = tuple(sorted((k, repr(v)) for k, v in node.attrs.items()))
    return node.op, attrs


class _Plan:
    """What one graph runs: units, static-eligible nodes, the node each one aliases."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.units = plan(graph, "multi")
        cyclic = {m for u in self.units if u.cyclic for m in u.members}
        self.static_ok = {n.name for n in graph if n.op in _STATIC and n.name not in cyclic
                          and graph.in_edges(n.name)
                          and all(e.delay == 0 for e in graph.in_edges(n.name))}
        spiking = [n.name for n in graph if n.op == "LIF"]
        needed: set[str] = set()
        for name in spiking:
            needed |= graph.reaching(name)
        self.needed = needed
        # equivalence: parameter-free, same op and attrs, the same (representative) inputs
        self.rep: dict[str, str] = {}
        self.weight: dict[str, int] = {n: 1 for n in spiking}
        seen: dict[tuple, str] = {}
        for name in graph.topological_order():
            if name in cyclic or name not in needed:
                continue
            node = graph[name]
            if node.op == "Input" or node.params:  # weights are drawn per node: never equal
                continue
            key = (_fingerprint(node),
                   tuple((self.rep.get(e.src, e.src), e.port, e.delay)
                         for e in graph.in_edges(name)))
            first = seen.setdefault(key, name)
            if first != name:
                self.rep[name] = first
                if node.op == "LIF":
                    self.weight[first] += self.weight.pop(name)
        # a value is freed after the last unit that reads it or an alias of it
        where = {m: i for i, u in enumerate(self.units) for m in u.members}
        last = {n: where[n] for n in where}
        for e in graph.edges:
            last[e.src] = max(last[e.src], where[e.dst])
        for alias, first in self.rep.items():
            last[first] = max(last[first], last[alias])
        self.release: list[list[str]] = [[] for _ in self.units]
        for n, i in last.items():
            self.release[i].append(n)


class _Run:
    """One forward pass of a planned graph on one batch, feeding :class:`_Kernels`."""

    def __init__(self, p: _Plan, x: torch.Tensor, T: int, direct: bool, dtype, kernels: _Kernels):
        self.p, self.g, self.T, self.dtype, self.k = p, p.graph, T, dtype, kernels
        self.device = x.device
        self.B = x.shape[0] if direct else x.shape[1]
        self.vals: dict[str, torch.Tensor] = {}
        self.static: set[str] = set()
        self.params: dict = {}
        inp = self.g.input_node.name
        self.vals[inp] = x if direct else x[:T]
        if direct:
            self.static.add(inp)

    def param(self, name: str, key: str) -> torch.Tensor | None:
        d = self.params.setdefault(name, {})
        if key not in d:
            v = self.g[name].params.get(key)
            v = None if v is None else torch.as_tensor(np.asarray(v)).to(dtype=self.dtype, device=self.device)
            if v is not None and v.dim() == 4:
                v = v.contiguous(memory_format=_CL)
            d[key] = v
        return d[key]

    def box(self, channels: int, k: int) -> torch.Tensor:
        """Depthwise ``[channels, 1, k, k]`` weights ``1/k^2`` (channels-last)."""
        key = ("box", channels, k)
        if key not in self.params:
            self.params[key] = torch.full((channels, 1, k, k), 1.0 / (k * k), dtype=self.dtype,
                                          device=self.device).contiguous(memory_format=_CL)
        return self.params[key]

    # ---------------------------------------------------------------------------------- driver
    def run(self) -> None:
        p, inp = self.p, self.g.input_node.name
        for unit, release in zip(p.units, p.release):
            if not any(m in p.needed for m in unit.members):
                continue
            if unit.cyclic:
                self.component(unit.members)
            else:
                name = unit.members[0]
                if name == inp:
                    pass
                elif name in p.rep:
                    first = p.rep[name]
                    self.vals[name] = self.vals[first]
                    if first in self.static:
                        self.static.add(name)
                elif name in p.static_ok and all(e.src in self.static
                                                  for e in self.g.in_edges(name)):
                    self.vals[name] = self.op(name, self.gather_static(name), 1, True)
                    self.static.add(name)
                else:
                    self.vals[name] = self.multi(name)
            for name in release:
                self.vals.pop(name, None)

    def gather_static(self, name: str) -> torch.Tensor:
        acc = None
        for e in self.g.in_edges(name):
            v = self.vals[e.src]
            acc = v if acc is None else acc + v
        return acc

    def timed(self, name: str) -> torch.Tensor:
        v = self.vals[name]
        return v.unsqueeze(0).expand((self.T,) + tuple(v.shape)) if name in self.static else v

    def gather_multi(self, name: str) -> torch.Tensor:
        T = self.T
        edges = self.g.in_edges(name)
        if len(edges) == 1 and edges[0].delay == 0:
            return self.timed(edges[0].src)
        acc = None
        for e in edges:
            if e.delay >= T:
                continue
            v = self.timed(e.src)
            if e.delay:
                shifted = torch.zeros_like(v)
                shifted[e.delay:] = v[:T - e.delay]
                v = shifted
            acc = v if acc is None else acc + v
        if acc is None:
            acc = torch.zeros((T, self.B) + tuple(self.g[name].shape), dtype=self.dtype,
                              device=self.device)
        return acc

    def multi(self, name: str) -> torch.Tensor:
        node = self.g[name]
        if node.op == "LIF":
            x = self.timed_input_for_lif(name)
            return self.lif_multi(name, *x)
        x = self.gather_multi(name)
        if node.op in ("Conv2d", "BatchNorm2d", "AvgPool2d"):
            return self.op(name, x.flatten(0, 1), 1, False).unflatten(0, (self.T, self.B))
        return self.op(name, x, 2, False)

    def timed_input_for_lif(self, name: str) -> tuple[torch.Tensor, bool]:
        """The LIF's input: ``([B, ...], True)`` when every input is static, else ``[T, B, ...]``."""
        edges = self.g.in_edges(name)
        if all(e.src in self.static and e.delay == 0 for e in edges):
            return self.gather_static(name), True
        return self.gather_multi(name), False

    # ---------------------------------------------------------------------------------- ops
    def op(self, name: str, x: torch.Tensor, lead: int, static: bool) -> torch.Tensor:
        """A stateless op on ``x`` with ``lead`` batch axes; BatchNorm with batch statistics."""
        node = self.g[name]
        a, op = node.attrs, node.op
        if op == "Conv2d":  # channels-last: oneDNN's fast path on CPU, kept by what follows
            return F.conv2d(x.contiguous(memory_format=_CL), self.param(name, "weight"),
                            self.param(name, "bias"), a["stride"], a["padding"], 1, a["groups"])
        if op == "BatchNorm2d":
            if x.dim() == 4:
                x = x.contiguous(memory_format=_CL)
            return F.batch_norm(x, None, None, self.param(name, "weight"),
                                self.param(name, "bias"), True, 0.0, a["eps"])
        if op == "AvgPool2d":
            x = x.contiguous(memory_format=_CL)
            if a["kernel"] > 2 and x.dim() == 4:
                # the zero padding counted in the mean: a depthwise convolution with weights
                # 1/k^2 (1.5x faster than avg_pool2d channels-last on CPU)
                return F.conv2d(x, self.box(x.shape[1], a["kernel"]), None, a["stride"],
                                a["padding"], 1, x.shape[1])
            return F.avg_pool2d(x, a["kernel"], a["stride"], a["padding"], count_include_pad=True)
        if op == "Linear":
            return F.linear(x, self.param(name, "weight"), self.param(name, "bias"))
        if op == "Scale":  # a cell's sum node: scale 1, an exact identity
            return x if a["scale"] == 1.0 else x * a["scale"]
        if op == "ReLU":
            return torch.relu(x)
        if op == "GlobalAvgPool":
            return x.mean(dim=(-2, -1))
        if op == "Flatten":
            return x.reshape(tuple(x.shape[:lead]) + (-1,))
        if op == "Vote":
            return x.reshape(tuple(x.shape[:-1]) + (a["classes"], -1)).mean(dim=-1)
        if op in ("Dropout", "Output"):  # eval mode: identity
            return x
        raise SnncError(f"node {name!r}: op {op} is not run by the scoring executor")

    def lif_multi(self, name: str, x: torch.Tensor, static: bool) -> torch.Tensor:
        """All ``T`` steps of a LIF layer (the torch backend's ``_lif_loop`` order of operations,
        in place); adds every step's codes to the kernels and returns the spikes ``[T, B, ...]``."""
        a = self.g[name].attrs
        alpha = float(a["alpha"])
        ax = x if alpha == 1.0 else alpha * x
        first = ax if static else ax[0]
        spikes = _empty_seq(self.T, first)
        state = _LifState(a, torch.empty_like(first))
        for t in range(self.T):
            state.step(ax if static else ax[t], spikes[t])
            self.k.add(spikes[t], self.p.weight[name])
        return spikes

    # ---------------------------------------------------------------------------------- SCC
    def component(self, members: list[str]) -> None:
        """A strongly connected component, step by step (BatchNorm: each step's statistics);
        only the members that a later unit reads are gathered into ``[T, B, ...]`` tensors."""
        T, B, g = self.T, self.B, self.g
        steps: dict[str, list[torch.Tensor]] = {m: [] for m in members}
        states: dict[str, _LifState] = {}
        for t in range(T):
            for name in members:
                acc = None
                for e in g.in_edges(name):
                    td = t - e.delay
                    if td < 0:
                        continue
                    src = steps.get(e.src)
                    if src is not None:
                        v = src[td]
                    else:
                        v = self.vals[e.src] if e.src in self.static else self.vals[e.src][td]
                    acc = v if acc is None else acc + v
                if acc is None:
                    acc = torch.zeros((B,) + tuple(g[name].shape), dtype=self.dtype,
                                      device=self.device)
                node = g[name]
                if node.op == "LIF":
                    if name not in states:
                        states[name] = _LifState(node.attrs, torch.empty_like(acc))
                    alpha = float(node.attrs["alpha"])
                    out = torch.empty_like(acc)
                    states[name].step(acc if alpha == 1.0 else alpha * acc, out)
                    self.k.add(out, self.p.weight[name])
                else:
                    out = self.op(name, acc, 1, False)
                steps[name].append(out)
        inside = set(members)
        for name in members:
            if any(d not in inside for d in g.successors(name)):
                self.vals[name] = torch.stack(steps[name])


class _LifState:
    """One LIF layer's membrane potential, updated in place step by step with the torch backend's
    order of floating-point operations (so float64 spikes match it exactly)."""

    def __init__(self, attrs: dict, buf: torch.Tensor):
        self.beta, self.v_th = float(attrs["beta"]), float(attrs["v_th"])
        self.v_reset, self.v_rest = float(attrs["v_reset"]), float(attrs["v_rest"])
        self.hard = attrs["reset"] == "hard"
        self.h, self.started = buf, False

    def step(self, ax_t: torch.Tensor, out: torch.Tensor) -> None:
        """``H = v_rest + beta (V - v_rest) + alpha X`` (``ax_t`` = ``alpha X[t]``), spikes into
        ``out`` (0/1 in the run's dtype), then the reset; ``self.h`` holds ``V[t]`` afterwards."""
        h = self.h
        if not self.started:
            if self.v_rest == 0.0:
                h.copy_(ax_t)
            else:
                torch.add(ax_t, self.v_rest, out=h)
            self.started = True
        else:
            if self.v_rest != 0.0:
                h.sub_(self.v_rest)
            if self.beta != 1.0:
                h.mul_(self.beta)
            if self.v_rest != 0.0:
                h.add_(self.v_rest)
            h.add_(ax_t)
        torch.gt(h, self.v_th, out=out)  # written as 0/1 floats: faster than bool here
        if self.hard and self.v_reset == 0.0:
            # H - H S: exactly 0 where S = 1 and H where S = 0, as where(S, 0, H); one pass,
            # 4x faster than masked_fill_ on CPU
            h.addcmul_(h, out, value=-1.0)
        elif self.hard:
            h.masked_fill_(out.bool(), self.v_reset)
        else:
            h.sub_(out, alpha=self.v_th)


def naswot_scores_fast(graph: Graph, batches, *, alpha: float = ALPHA,
                       dtype: torch.dtype = torch.float32, device=None) -> dict[str, float]:
    """``{"sahd": s, "hd": s}`` of ``graph`` at initialisation (SNASNet eq. 4-9 summed as eq. 5;
    :func:`.proxies.score_graph` with ``bn="batch"``, ``protocol="paper"``), each the mean over
    ``batches`` of ``(x, labels)`` with ``x`` ``[B, *input_shape]`` (direct encoding) or
    ``[T, B, *input_shape]``; labels are not used. ``device``: where it runs (``None``: the
    CPU; ``"auto"``: a GPU when torch sees one, :func:`snnc.backends.torch.resolve_device`).

    Raises:
        SnncError: a graph :func:`unsupported` refuses (the message says why), no batch.
        InputShapeError: an input of the wrong shape.
    """
    why = unsupported(graph)
    if why:
        raise SnncError(f"the scoring executor cannot score this graph: {why}")
    from ..backends.torch import resolve_device

    device = resolve_device(device)
    p = _Plan(graph)
    per: dict[str, list[float]] = {"sahd": [], "hd": []}
    with torch.inference_mode():
        for x, _labels in batches:
            x = torch.as_tensor(x).to(dtype=dtype, device=device)
            layout = input_layout(graph.input_node.shape, x.shape, None,
                                  default_T=int(graph.meta.get("T", 1)))
            kernels = _Kernels(layout.batch, alpha)
            _Run(p, x, layout.T, layout.direct, dtype, kernels).run()
            per["sahd"].append(log_abs_det(kernels.sahd))
            per["hd"].append(log_abs_det(kernels.hd))
    if not per["sahd"]:
        raise SnncError("no mini-batch to score on")
    return {k: float(np.mean(v)) for k, v in per.items()}
