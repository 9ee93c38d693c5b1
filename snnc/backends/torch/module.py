"""IR graph -> time-stepped ``nn.Module`` (docs/ARCHITECTURE.md, "Backends and op tables").

:func:`compile` turns a graph into a :class:`SpikingModule` computing what
:mod:`snnc.ir.interpret` defines::

    in_j[t]  = sum over edges (i -> j, port p, delay d) of out_i[t - d]   (zero when t - d < 0)
    out_j[t] = op_j(in_j[t], state_j)

Execution plan (computed at compile time; for a supernet once per assignment, on what it runs): the
condensation of the graph (every edge, every delay) in topological order. A node outside every
strongly connected component runs all ``T`` steps at once (multi-step mode): its input is the sum of
its in-edges' complete ``[T, B, ...]`` values, an edge with delay ``d`` being a time shift (``d``
zero steps in front, the last ``d`` dropped); Conv2d, BatchNorm2d and AvgPool2d fold time into the
batch (``[T*B, ...]``); a spiking neuron (LIF, ALIF, PLIF) loops over ``T`` inside; ReLU is
elementwise. Only the strongly connected components, which backward edges create, run step by step:
for ``t = 0 .. T-1`` each member (in a topological order of the zero-delay edges) computes step
``t`` from its inputs at ``t - d``; values from outside the component are complete tensors already.
A value is freed once no later unit reads it. Concat concatenates its ports along channels; every
other op sums its in-edges (in the interpreter's edge order, so float64 sums round the same way).

Training-time behaviour the interpreter (an inference semantics) does not define:

* **BatchNorm2d**, train mode: batch statistics and running-statistics updates with the node's
  ``momentum`` (``nn.BatchNorm2d``; ``nn.BatchNorm1d`` for ``(C,)`` shapes). Multi-step: statistics
  over ``T*B`` samples (tdBN-style, one update per forward). Inside a component (step by step): the
  statistics of each step's ``B`` samples, so the running statistics are updated ``T`` times per
  forward. Eval mode: running statistics, the interpreter's semantics.
* **Dropout**, train mode only: one Bernoulli mask per forward and sample, the same at every time
  step (as SpikingJelly's multi-step dropout), scaled by ``1/(1-p)``; identity in eval mode.
* **Dead nodes** (that cannot reach the Output) are skipped unless ``prune_dead=False`` or probes
  are on; they cannot change the output.

**Supernets.** A graph with choice nodes runs under an assignment, node name -> selected port
(:mod:`snnc.ir.choices`), given per forward (``module(x, assignment={...})``) or kept by
:meth:`SpikingModule.assign`. An assigned Choice or WeightedMix passes its selected port through
(zero for ``-1``); every node that feeds only unselected ports (and whatever only it feeds) is not
run at all, in whichever unit it sits, so an unselected path costs nothing; the plan is made of
the selected graph alone, so unselected backward edges create no component (train-mode BatchNorm
then computes what it computes in the resolved graph). An unassigned
WeightedMix mixes its ports with ``softmax(alpha)``, ``alpha`` an ``nn.Parameter``
(:meth:`SpikingModule.arch_parameters`) that ``to_ir`` writes back.

No state survives a forward call (every neuron starts at ``V[-1] = v_rest``), so there is nothing to
reset between batches.

**Why multi-step outside components** (measured, ``bench/torch_train_throughput.py``, T = 4, one
thread, CPU time per training step, 2-core Xeon, torch 2.13): folding T into the batch beats running
every node step by step (``mode="step"``) at batch 32 (1.23 s vs 1.43 s, peak RSS 1156 vs 1660 MiB)
and at batch 64 (2.55 s vs 2.83 s, 1725 vs 2988 MiB). Stepping only looked faster at batch 64 while
glibc handed the folded tensors (> 32 MiB) back to the OS every step (see :mod:`.allocator`).

**Memory.** In training a multi-step LIF node writes its ``H`` over its input's buffer when the
input is a fresh value nothing else reads (``SpikingModule.donate``, on by default; never while
probing): one sequence-sized tensor less per LIF node, no value changes.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from ...errors import BackendError
from ...ir.choices import check_assignment, choice_nodes, skipped_under
from ...ir.graph import Edge, Graph
from ...ir.inputs import input_layout
from ...ir.ops import OPS
from ...ir.verify import verify
from .layers import module_key
from .optable import TORCH_OPS, TorchOp, make_module
from .plan import plan

Tensor = torch.Tensor

#: Every op this backend executes (those :data:`.optable.TORCH_OPS` implements).
SUPPORTED_OPS = TORCH_OPS.implemented()

#: Ops whose output is a new tensor that their own backward pass does not read: a LIF node fed
#: by one of them alone (and the last reader of that value) may write its H over it.
_DONORS = frozenset({"Conv2d", "BatchNorm2d", "Linear", "AvgPool2d", "Scale", "Concat",
                     "WeightedMix"})


def resolve_device(device: torch.device | str | None) -> torch.device | None:
    """``"auto"`` -> ``cuda`` when a CUDA device is usable, else ``cpu``; anything else as given
    (``None``: torch's default, the CPU). The one place snnc chooses a device by itself.

    Raises:
        BackendError: a CUDA device asked for but torch sees none usable (``rule="device"``).
    """
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device is None:
        return None
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BackendError(f"device {device} asked for, but torch sees no usable CUDA device",
                           rule="device", backend="torch")
    return device


@dataclass
class _Exec:
    """One node as the executor sees it."""

    name: str
    op: str
    attrs: dict
    in_edges: list[Edge]
    shape: tuple[int, ...]
    ports: int  # number of ports (Concat), else 1
    spec: TorchOp
    multi_port: bool  # takes the list of its ports (Concat), else their sum
    module: str | None = None  # key in SpikingModule.layers


class SpikingModule(nn.Module):
    """A compiled graph. Use :func:`compile` to build one.

    Attributes:
        graph: the verified source graph (a copy; its params are the compile-time values).
        layers: ``nn.ModuleDict`` of the nodes with a module: Conv2d (``nn.Conv2d``), Linear
            (``nn.Linear``), BatchNorm2d (``nn.BatchNorm2d``/``nn.BatchNorm1d``), LIF
            (:class:`LIFNode`), ALIF (:class:`ALIFNode`), PLIF (:class:`PLIFNode`, whose leak
            is a parameter), Dropout (:class:`TimeDropout`).
        module_names: node name -> key in ``layers`` (see :func:`module_key`).
        node_names: key in ``layers`` -> node name.
        records: after a forward with probes on, node name -> its output ``[T, B, *shape]``
            (detached); spiking neurons' outputs are spikes.
        membranes: likewise for spiking neuron nodes (LIF, ALIF, PLIF), ``V[t]`` after reset,
            when membrane probes are on.
    """

    def __init__(self, graph: Graph, *, dtype: torch.dtype | None = None,
                 device: torch.device | str | None = None, prune_dead: bool = True,
                 mode: str = "multi"):
        super().__init__()
        self.graph = verify(graph.copy())
        self.prune_dead, self.mode = prune_dead, mode
        #: multi-step LIF nodes may write H over their input's buffer when nothing else reads it
        #: (saves one sequence-sized tensor per LIF node in training; no effect on any value)
        self.donate = True
        dtype = dtype or torch.get_default_dtype()
        device = resolve_device(device)
        self.register_buffer("_anchor", torch.zeros(0, dtype=dtype, device=device),
                             persistent=False)
        self.layers = nn.ModuleDict()
        self.module_names: dict[str, str] = {}
        self._exec: dict[str, _Exec] = {}
        taken: set[str] = set()
        for node in self.graph:
            spec = TORCH_OPS.lookup(node)
            edges = self.graph.in_edges(node.name)
            ex = _Exec(node.name, node.op, dict(node.attrs), edges, tuple(node.shape),
                       max([e.port for e in edges], default=0) + 1, spec, OPS[node.op].multi_port)
            mod = make_module(node, dtype, device)
            if mod is not None:
                ex.module = module_key(node.name, taken)
                self.layers[ex.module] = mod
                self.module_names[node.name] = ex.module
            self._exec[node.name] = ex
        self.node_names = {k: n for n, k in self.module_names.items()}
        self._input = self.graph.input_node.name
        self._output = self.graph.output_node.name
        self._plan, self._static_ok = self._planned({}, frozenset())
        self.records: dict[str, Tensor] = {}
        self.membranes: dict[str, Tensor] = {}
        self._probe, self._probe_v, self._probe_ops = False, False, None
        self._static: set[str] = set()  # per forward: nodes whose value is [B, ...]
        self._supernet = bool(choice_nodes(self.graph))
        self.assignment: dict[str, int] | None = None  # the default of forward's assignment
        self._picks: dict[str, int] = {}  # per forward: choice node -> selected port
        self._skip: frozenset[str] = frozenset()  # per forward: nodes not run under the picks
        # assignment -> (skipped nodes, plan, static-ok nodes) under it
        self._skips: dict[tuple, tuple[frozenset[str], list, set[str]]] = {}

    # ------------------------------------------------------------------ public API
    @property
    def dtype(self) -> torch.dtype:
        return self._anchor.dtype

    @property
    def device(self) -> torch.device:
        return self._anchor.device

    @property
    def T(self) -> int:
        """Default number of time steps (``graph.meta["T"]``, else 1)."""
        return int(self.graph.meta.get("T", 1))

    def layer(self, node: str) -> nn.Module:
        """The module of node ``node`` (KeyError if it has none)."""
        return self.layers[self.module_names[node]]

    def probe(self, enabled: bool = True, *, membranes: bool = False,
              ops: tuple[str, ...] | None = None) -> "SpikingModule":
        """Switch probes on or off. While on, every forward replaces :attr:`records` with each
        node's output ``[T, B, *shape]`` (detached; only nodes whose op is in ``ops`` when given,
        e.g. ``("LIF",)`` for spikes alone) and, with ``membranes``, :attr:`membranes` with each
        spiking neuron node's ``V`` ``[T, B, *shape]``. Dead nodes run too while probing.
        Returns ``self``."""
        self._probe, self._probe_v = bool(enabled), bool(enabled and membranes)
        self._probe_ops = tuple(ops) if ops is not None else None
        return self

    @contextmanager
    def probing(self, *, membranes: bool = False,
                ops: tuple[str, ...] | None = None) -> Iterator["SpikingModule"]:
        """``with module.probing(): module(x)`` then read ``module.records`` (kept after the
        block); restores the previous probe settings on exit."""
        saved = (self._probe, self._probe_v, self._probe_ops)
        self.probe(True, membranes=membranes, ops=ops)
        try:
            yield self
        finally:
            self._probe, self._probe_v, self._probe_ops = saved

    def assign(self, assignment: dict[str, int] | None) -> "SpikingModule":
        """Keep ``assignment`` (node name -> port) for every later forward that passes none;
        ``None`` clears it. Returns ``self``.

        Raises:
            AssignmentError: it does not fit the graph's choice nodes (names the node).
        """
        self.assignment = (None if assignment is None
                           else check_assignment(self.graph, assignment))
        return self

    def arch_parameters(self) -> list[nn.Parameter]:
        """The architecture parameters (every WeightedMix's ``alpha``), in node order: what a
        differentiable search trains with its own optimizer."""
        return [self.layers[self.module_names[n]].alpha for n in choice_nodes(self.graph)
                if self.graph[n].op == "WeightedMix"]

    def to_ir(self) -> Graph:
        """A copy of the source graph with the current weights, biases and BatchNorm parameters
        and running statistics written back as float64 numpy arrays, and neuron attributes from
        the neuron modules (a PLIF's current leak as its ``beta``). Verified before it is
        returned."""
        g = self.graph.copy()
        for name, key in self.module_names.items():
            node = g[name]
            save = self._exec[name].spec.save
            if save is not None:
                save(node, self.layers[key])
        return verify(g)

    # ------------------------------------------------------------------ forward
    def forward(self, x, T: int | None = None, *,
                assignment: dict[str, int] | None = None) -> Tensor:
        """Run the network.

        Args:
            x: ``[T, B, *input_shape]`` (one frame per step; the first ``T`` are used), or
               ``[B, *input_shape]`` repeated at every step (direct encoding). Tensor or array;
               cast to the module's dtype and device.
            T: number of time steps; default ``graph.meta["T"]`` for direct encoding, ``x.shape[0]``
               for a sequence.
            assignment: for a supernet, node name -> selected port (default: the one kept by
               :meth:`assign`); see the module docstring.
        Returns:
            The Output node's value ``[T, B, *output_shape]`` (per-step class scores).
        Raises:
            InputShapeError: ``x`` fits neither shape, or has fewer than ``T`` steps (a
                ``ValueError``).
            AssignmentError: the assignment does not fit the graph (e.g. a Choice without an
                entry; names the node).
        """
        self._select(assignment if assignment is not None else self.assignment)
        x = torch.as_tensor(x).to(dtype=self.dtype, device=self.device)
        layout = input_layout(self._exec[self._input].shape, x.shape, T, default_T=self.T)
        T, B = layout.T, layout.batch
        static: set[str] = set()  # nodes whose value is [B, ...], the same at every step
        if layout.direct:
            static.add(self._input)
        else:
            x = x[:T]
        self._static = static
        probe = self._probe
        if probe:
            self.records, self.membranes = {}, {}
        vals: dict[str, Tensor] = {self._input: x}
        self._record(self._input, self._timed(self._input, vals, T))
        run_dead = probe or not self.prune_dead
        skip = self._skip
        for unit in self._plan:
            if unit.live or run_dead:
                if unit.cyclic:
                    members = [m for m in unit.members if m not in skip]
                    if members:
                        self._run_component(members, vals, T, B)
                else:
                    name = unit.members[0]
                    if name == self._input or name in skip:
                        pass
                    elif name in self._static_ok and all(e.src in static
                                                         for e in self._edges(self._exec[name])):
                        vals[name] = self._run_static(self._exec[name], vals, T, B)
                        static.add(name)
                    else:
                        vals[name] = self._run_multi(self._exec[name], vals, T, B, unit.release)
            for name in unit.release:  # free what no later unit reads (autograd keeps its own)
                vals.pop(name, None)
        return self._timed(self._output, vals, T)

    def _select(self, assignment: dict[str, int] | None) -> None:
        """Set this forward's picks and the nodes they leave unused."""
        if not self._supernet:
            return
        picks = check_assignment(self.graph, assignment)
        key = tuple(sorted(picks.items()))
        entry = self._skips.get(key)
        if entry is None:
            if len(self._skips) >= 256:  # one-shot training samples many paths; bound the cache
                self._skips.clear()
            skip = frozenset(skipped_under(self.graph, picks))
            entry = self._skips[key] = (skip, *self._planned(picks, skip))
        self._picks, (self._skip, self._plan, self._static_ok) = picks, entry

    def _planned(self, picks: dict[str, int], skip: frozenset[str]) -> tuple[list, set[str]]:
        """The plan of what ``picks`` runs (see :mod:`.plan`: the components of the selected
        graph, so a candidate trains as its resolved graph does) and the nodes that may run once
        for all steps under it."""
        units = plan(self.graph, self.mode, picks, skip)
        cyclic = {m for unit in units if unit.cyclic for m in unit.members}
        static_ok = {ex.name for ex in self._exec.values()
                     if ex.spec.static and ex.name not in cyclic and ex.in_edges
                     and all(e.delay == 0 for e in ex.in_edges)}
        return units, static_ok

    def _edges(self, ex: _Exec) -> list[Edge]:
        """The in-edges whose values ``ex`` reads: an assigned choice point's selected port only."""
        p = self._picks.get(ex.name)
        if p is None:
            return ex.in_edges
        return [e for e in ex.in_edges if e.port == p]

    def _timed(self, name: str, vals: dict[str, Tensor], T: int) -> Tensor:
        """``vals[name]`` as ``[T, B, ...]`` (a broadcast view of a static value)."""
        v = vals[name]
        return v.unsqueeze(0).expand((T,) + tuple(v.shape)) if name in self._static else v

    def _run_static(self, ex: _Exec, vals: dict[str, Tensor], T: int, B: int) -> Tensor:
        """A stateless op on inputs that are the same at every step, computed once."""
        ports: dict[int, Tensor] = {}
        for e in self._edges(ex):
            v = vals[e.src]
            ports[e.port] = ports[e.port] + v if e.port in ports else v
        inp = self._fill_ports(ex, ports, (B,))
        if ex.spec.role == "dropout":  # one mask per sample for all steps, as in multi-step mode
            mod = self.layers[ex.module]
            out = inp * mod.mask(inp) if mod.training and mod.p > 0 else inp
        else:
            out = self._op(ex, inp, 1)
        if self._probe:
            self._record(ex.name, out.unsqueeze(0).expand((T,) + tuple(out.shape)))
        return out

    def _record(self, name: str, value: Tensor, v: Tensor | None = None) -> None:
        if self._probe and (self._probe_ops is None or self._exec[name].op in self._probe_ops):
            self.records[name] = value.detach()
            if v is not None:
                self.membranes[name] = v.detach()

    # multi-step -----------------------------------------------------------------
    def _gather_multi(self, ex: _Exec, vals: dict[str, Tensor], T: int, B: int):
        ports: dict[int, Tensor] = {}
        for e in self._edges(ex):
            v = self._timed(e.src, vals, T)
            if e.delay:
                if e.delay >= T:
                    continue  # all zeros
                v = torch.cat([v.new_zeros((e.delay,) + tuple(v.shape[1:])), v[:T - e.delay]])
            ports[e.port] = ports[e.port] + v if e.port in ports else v
        return self._fill_ports(ex, ports, (T, B))

    def _fill_ports(self, ex: _Exec, ports: dict[int, Tensor], lead: tuple[int, ...]):
        """Zeros for ports whose every input is still in the zero-padded past; an assigned choice
        point's selected port alone (zeros for ``-1``)."""
        if ex.name in self._picks:
            v = ports.get(self._picks[ex.name])
            return v if v is not None else self._anchor.new_zeros(lead + ex.shape)
        if len(ports) < ex.ports:
            for e in ex.in_edges:
                if e.port not in ports:
                    ports[e.port] = self._anchor.new_zeros(lead + tuple(self.graph[e.src].shape))
        if ex.multi_port:
            return [ports[p] for p in range(ex.ports)]
        return ports[0]

    def _donatable(self, ex: _Exec, inp: Tensor, vals: dict[str, Tensor], release) -> bool:
        """Whether LIF node ``ex`` may write over its input ``inp``: training, no probe, and
        ``inp`` either a tensor the gather made (a sum or a shift, whose backward passes read no
        output) or the value of one node of :data:`_DONORS` that no other node reads."""
        if (not self.donate or self._probe or ex.op != "LIF" or not inp.requires_grad
                or not torch.is_grad_enabled()):
            return False
        edges = self._edges(ex)
        storage = inp.untyped_storage().data_ptr()
        shared = [e.src for e in edges
                  if e.src in vals and vals[e.src].untyped_storage().data_ptr() == storage]
        if not shared:
            return True
        src = shared[0]
        # the only reader: another reader may have saved the value for its backward pass
        # (a conv saves its input), and would find it overwritten
        return (len(edges) == 1 and src in release and src not in self._static
                and src not in self._picks and self._exec[src].op in _DONORS
                and all(e.dst == ex.name for e in self.graph.out_edges(src)))

    def _run_multi(self, ex: _Exec, vals: dict[str, Tensor], T: int, B: int,
                   release=()) -> Tensor:
        inp = self._gather_multi(ex, vals, T, B)
        if ex.spec.role == "neuron":
            if self._donatable(ex, inp, vals, release):
                out = self.layers[ex.module](inp, donate=True)
                self._record(ex.name, out)
                return out
            out = self.layers[ex.module](inp, return_v=self._probe_v)
            if self._probe_v:
                out, v = out
                self._record(ex.name, out, v)
                return out
        elif ex.spec.role == "dropout":
            mod = self.layers[ex.module]
            out = inp * mod.mask(inp[0]) if mod.training and mod.p > 0 else inp
        elif ex.spec.fold:
            out = self._op(ex, inp.flatten(0, 1), 1).unflatten(0, (T, B))
        else:
            out = self._op(ex, inp, 2)
        self._record(ex.name, out)
        return out

    # step by step -----------------------------------------------------------------
    def _run_component(self, members: list[str], vals: dict[str, Tensor], T: int, B: int) -> None:
        steps: dict[str, list[Tensor]] = {m: [] for m in members}
        state: dict[str, object] = {}  # neuron state (V, or ALIF's (V, a)) after the last step
        v_steps: dict[str, list[Tensor]] = {}
        masks: dict[str, Tensor] = {}
        exs = [self._exec[m] for m in members]
        for t in range(T):
            for ex in exs:
                ports: dict[int, Tensor] = {}
                for e in self._edges(ex):
                    td = t - e.delay
                    if td < 0:
                        continue
                    src = steps.get(e.src)
                    if src is not None:
                        v = src[td]
                    else:
                        v = vals[e.src] if e.src in self._static else vals[e.src][td]
                    ports[e.port] = ports[e.port] + v if e.port in ports else v
                inp = self._fill_ports(ex, ports, (B,))
                if ex.spec.role == "neuron":
                    mod = self.layers[ex.module]
                    out, state[ex.name] = mod.step(inp, state.get(ex.name))
                    if self._probe_v:
                        v = mod.potential(state[ex.name])
                        v_steps.setdefault(ex.name, []).append(v.detach())
                elif ex.spec.role == "dropout":
                    mod = self.layers[ex.module]
                    if mod.training and mod.p > 0:
                        if ex.name not in masks:
                            masks[ex.name] = mod.mask(inp)
                        out = inp * masks[ex.name]
                    else:
                        out = inp
                else:
                    out = self._op(ex, inp, 1)
                steps[ex.name].append(out)
        for name, seq in steps.items():
            vals[name] = torch.stack(seq)
            v = v_steps.get(name)
            self._record(name, vals[name], torch.stack(v) if v else None)

    # ops ----------------------------------------------------------------------------
    def _op(self, ex: _Exec, x, lead: int) -> Tensor:
        """A stateless op (or BatchNorm/conv module) on ``x`` with ``lead`` leading batch axes
        (1 = ``[B, ...]``, 2 = ``[T, B, ...]``; folded ops always get 1)."""
        if ex.name in self._picks:  # an assigned choice point: its selected port, as gathered
            return x
        return ex.spec.apply(self.layers[ex.module] if ex.module else None, ex.attrs, x, lead)


def compile(graph: Graph, *, dtype: torch.dtype | None = None,
            device: torch.device | str | None = None, prune_dead: bool = True,
            mode: str = "multi") -> SpikingModule:
    """Compile ``graph`` into a :class:`SpikingModule` (the graph is copied and verified first).

    Args:
        graph: an IR graph (see :mod:`snnc.ir`).
        dtype: parameter dtype (default ``torch.get_default_dtype()``); ``.double()`` works later.
        device: where parameters live and the forward pass runs (inputs are moved there):
            ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ..., or ``"auto"`` (CUDA when usable, else CPU;
            :func:`resolve_device`). Default: the CPU.
        prune_dead: skip nodes that cannot reach the Output (unless probing).
        mode: ``"multi"`` (the execution plan of the module docstring) or ``"step"`` (every node
            step by step, as inside a strongly connected component: the slow reference the
            multi-step plan is tested against).
    Returns:
        The module; ``module(x)`` with ``x`` ``[T, B, *input_shape]`` or ``[B, *input_shape]``
        returns ``[T, B, *output_shape]``.
    Raises:
        GraphError: the graph fails :func:`snnc.ir.verify`.
        BackendError: the graph has an op outside :data:`SUPPORTED_OPS` (the torch op table
            refuses none of the catalogue today).
        ValueError: unknown ``mode``.
        BackendError: ``device`` is CUDA and torch sees no usable CUDA device.

    Example::

        >>> m = compile(graph).double().eval()
        >>> y = m(torch.rand(8, 3, 32, 32, dtype=torch.float64))   # [T, 8, classes]
    """
    return SpikingModule(graph, dtype=dtype, device=device, prune_dead=prune_dead, mode=mode)
