"""What the Lava backend will build, decided without Lava: neurons, synapses, timing, host work.

:func:`plan` turns a verified graph into a :class:`LavaPlan` (pure numpy; it never imports lava).

1. **Neurons.** Every LIF becomes a Lava ``LIFReset`` (a Lava LIF that zeroes ``u`` and ``v`` at
   one step of every ``steps``-step period; :func:`.mapping.map_lif`), every ALIF snnc's
   ``ALIFReset`` (the same, plus the adaptive threshold; :mod:`.alif`, :func:`.mapping.map_alif`).
2. **Synapses.** The affine ops between neurons fold into :class:`~.synapses.Term` s, one per source
   neuron ``u``, target ``j`` and IR path delay ``D`` (:func:`extract_terms`); each becomes one
   Lava ``Conv``/``Dense``/``Sparse`` process with the target's ``alpha`` folded in, or a plain
   port connection for a unit identity on a cycle.
3. **Host currents.** ``X_j`` with every neuron silent — the analog first layer (the MACs on the
   input) and every bias — comes from the reference interpreter on the host. Neurons that need
   it per step get it through an ``Injector`` into ``a_in`` (*fed* neurons); a bias that is
   constant in time, on a neuron that needs no quiet window (point 5), becomes ``bias_mant``.
   Fixed point (LoihiLIF neurons, the ``quantize-loihi`` pass): every host current is the integer
   ``floor(X + 1/2)`` in ``a_in`` units, as the LoihiLIF op rounds it, and ``bias_mant`` only
   what fits its 13 bits.
4. **Latency.** Each synapse process adds one step: a spike of ``u`` at Lava step ``k`` reaches
   ``j`` at ``k + 1 + e`` (``e``: the process's extra delay). Neuron ``j``'s IR step ``t`` is
   Lava step ``L_j + t``, so each term needs ``e = L_j - L_u - 1 + D >= 0``: difference
   constraints ``L_j >= L_u + 1 - D``, solved for the least ``L`` (Bellman-Ford). They are
   solvable exactly when every cycle has total IR delay ``>=`` its number of synapse hops
   (the rule, shared with the ``hop-timing`` pass, is :mod:`snnc.ir.hops`); otherwise
   :class:`~.mapping.LavaMappingError` names the cycle, its nodes, hops, delay and shortfall, and
   points to hardware timing (``snnc train --timing hardware``). A unit identity (e.g. a
   backward LIF -> LIF edge) on an unsolvable cycle becomes a port connection instead: no hop,
   arriving the same step, ``L_j = L_u - D`` exactly (:func:`assign_latency`).
5. **Clean starts.** A sample runs ``steps`` Lava steps; a neuron's spikes before ``L_j`` (and
   after ``L_j + T``) are garbage the IR does not have. They must never reach another neuron at or
   after its IR step 0 — only delayed terms (``D > 0``) and cycles can carry them there:

   * *acyclic neuron graph* (no Var writes per sample): neuron ``u`` is kept silent for a quiet
     window of ``Q_u = max(0, max over its terms u -> j of D + Q_j)`` steps before ``L_u``:
     ``LIFReset`` zeroes it at ``R_u = (L_u - Q_u) mod steps`` (in the previous period's tail
     if negative) and it gets no host current or bias until ``L_u``. Modulo the period, ``u``'s
     garbage steps ``[L_u + T, L_u - Q_u + steps)`` then reach ``j`` only in ``j``'s own garbage
     steps, because ``Q_u >= D + Q_j``; ``steps = T + max(max L, max Q)``;
   * *cycles*: every neuron resets at the period's first step, biases come through injectors
     (off until ``L_j``), and the synapses' in-flight buffers are zeroed between samples.

6. **Head.** Ops after the last neurons (GAP -> Linear -> Output, the non-spiking readout) run
   on the host from the recorded spikes (:meth:`LavaPlan.replay`).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from ...ir.graph import Graph
from ...ir.hops import HOP, balance_latency, non_neuron_ancestors
from ...ir.hops import Unbalanced as _Unbalanced
from ...ir.interpret import Interpreter, Trace
from ...ir.loihi import MAX_BIAS_MANT, round_current
from ...ir.verify import verify
from . import synapses as syn
from ...ir.ops import CHOICE_OPS, NEURON_OPS
from .mapping import NEURON_MAPS, LavaLIF, LavaMappingError, map_neuron
from .optable import RULES

#: The neuron ops the backend runs: the float LIF and ALIF, and the fixed-point LoihiLIF of the
#: quantize-loihi pass (the others are refused by :data:`.optable.RULES`).
NEURONS = tuple(NEURON_MAPS)
#: Longest delay line built for one neuron: a synapse's extra delay ``e`` is ``e`` identity hops,
#: each a Lava process and so an OS process (see :mod:`.build`); a longer one is refused before
#: anything forks.
MAX_DELAY_LINE = 64


@dataclass
class Synapse:
    """One Lava connection: ``op`` (weights with the target's ``alpha``) from neuron ``src`` to
    neuron ``dst``, IR path delay ``delay``, Lava extra delay ``extra``; ``direct``: a plain port
    connection (unit identity; no process, no step)."""

    src: str
    dst: str
    op: syn.Operator
    delay: int
    extra: int
    via: tuple[str, ...]
    direct: bool = False

    @property
    def kind(self) -> str:
        if self.direct:
            return "Port"
        return {"ConvOp": "Conv", "DenseOp": "Dense", "DiagOp": "Sparse",
                "SparseOp": "Sparse"}[type(self.op).__name__]


@dataclass
class LavaPlan:
    """Everything :class:`.build.LavaNetwork` needs, for ``T`` time steps (module docstring).

    Per neuron (IR topological order): ``latency`` (Lava step of IR step 0), ``reset_step`` (the
    period step where ``LIFReset`` zeroes it), ``bias_mant`` (a constant bias, IR layout),
    ``fed`` (neurons with an injector), ``schedule`` (the injected current ``[T, *shape]`` of fed
    neurons that do not depend on the input), ``input_fed`` (those that do). ``steps``: Lava
    steps per sample; ``cyclic``: zero the synapse buffers between samples.
    """

    graph: Graph
    T: int
    neurons: dict[str, LavaLIF]
    latency: dict[str, int]
    reset_step: dict[str, int]
    synapses: list[Synapse]
    fed: list[str]
    input_fed: list[str]
    schedule: dict[str, np.ndarray]
    bias_mant: dict[str, np.ndarray]
    steps: int
    cyclic: bool
    pre_nodes: set[str] = field(default_factory=set)
    head_nodes: set[str] = field(default_factory=set)

    @property
    def fixed(self) -> bool:
        """Loihi's integer neurons (LoihiLIF, from quantize-loihi): run with ``fixed_pt``."""
        return any(n.fixed for n in self.neurons.values())

    @property
    def head_neurons(self) -> list[str]:
        """Neurons whose spikes the host head reads (directly or through non-neuron ops)."""
        g = self.graph
        return [n for n in self.neurons if any(e.dst in self.head_nodes for e in g.out_edges(n))]

    # ------------------------------------------------------------------ host work
    def host_currents(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """The injected ``a_in`` of every fed neuron for IR steps ``0..T-1``, ``[T, B, *shape]``
        (``x`` as ``[T, B, *input_shape]``): ``alpha X_j`` with all neurons silent, plus the
        constant bias, plus ``beta v_init`` at step 0."""
        B = x.shape[1]
        out = {n: np.broadcast_to(s[:, None], (self.T, B) + s.shape[1:])
               for n, s in self.schedule.items()}
        if self.input_fed:
            host = _Host(self.graph, active=self.pre_nodes)
            host.run(x, self.T)
            for name in self.input_fed:
                n = self.neurons[name]
                cur = n.alpha * host.lif_in[name] + n.bias
                if n.fixed:  # the host sends Loihi integers (LoihiLIF: a_in = floor(X + 1/2))
                    cur = round_current(cur).astype(np.float64)
                else:
                    cur[0] += (1.0 - n.dv) * n.v_init
                out[name] = cur
        return out

    def replay(self, x: np.ndarray, spikes: dict[str, np.ndarray]) -> Trace:
        """Run the host head: the reference interpreter with every neuron's output replaced by
        ``spikes[name]`` (``[T, B, *shape]``); non-neuron nodes that do not reach the Output
        without passing a neuron are skipped (zeros). Returns the :class:`~snnc.ir.Trace`."""
        return _Host(self.graph, spikes=spikes, active=self.head_nodes).run(x, self.T)

    def describe(self) -> str:
        """A text table: neurons with latency and reset step, synapses with kind and delays."""
        lines = [f"lava plan: {len(self.neurons)} neuron layers, "
                 f"{sum(not s.direct for s in self.synapses)} synapse processes, "
                 f"{len(self.fed)} injectors, {self.steps} Lava steps per sample (T={self.T}"
                 f"{', cyclic' if self.cyclic else ''})"]
        for name, n in self.neurons.items():
            how = ("injector (input)" if name in self.input_fed else "injector" if name in
                   self.fed else "bias_mant" if name in self.bias_mant else "-")
            lines.append(f"  {type(n).__name__[4:]:5s} {name:24s} L={self.latency[name]:<3d} "
                         f"reset@{self.reset_step[name]:<3d} shape={n.shape} dv={n.dv:g} "
                         f"vth={n.vth:g} host={how}")
        for s in self.synapses:
            lines.append(f"  {s.kind:5s} {s.src} -> {s.dst}  delay={s.delay} extra={s.extra}  "
                         f"via {' > '.join(s.via) or '-'}")
        return "\n".join(lines)


class _Host(Interpreter):
    """The reference interpreter with neurons replaced: silent (``spikes=None``) or replaying
    given spikes; records every neuron's input; nodes outside ``active`` output zeros."""

    def __init__(self, graph, spikes=None, active=None):
        super().__init__(graph, check=False)
        self.spikes, self.active, self.lif_in = spikes, active, {}

    def run_node(self, node, inp, t):
        T, B = self.x.shape[0], self.x.shape[1]
        if node.op in NEURONS:
            rec = self.lif_in.setdefault(node.name, np.zeros((T, B) + tuple(node.shape)))
            if inp is not None:
                rec[t] = inp
            if self.spikes is None:
                return np.zeros((B,) + tuple(node.shape))
            return self.spikes[node.name][t]
        if self.active is not None and node.op != "Input" and node.name not in self.active:
            return np.zeros((B,) + tuple(node.shape))
        return super().run_node(node, inp, t)


# ---------------------------------------------------------------------------------- terms
def extract_terms(graph: Graph) -> dict[str, list[syn.Term]]:
    """For every LIF or ALIF ``j``: the synaptic terms of its input ``X_j`` (bias-free, before
    ``alpha``).

    Raises:
        LavaMappingError: a non-linear op other than LIF between neurons, a cycle with no neuron
            on it, or a composition too large to materialise.
    """
    lifs = [n.name for n in graph.nodes_of(*NEURONS)]
    feeding = _non_neuron_ancestors(graph, lifs)  # the head (after the last neurons) is host work
    region = [n for n in graph.nodes if n in feeding]
    rules = {n: RULES.lookup(graph[n]) for n in region}
    sub = nx.DiGraph()
    sub.add_nodes_from(region)
    sub.add_edges_from((e.src, e.dst) for e in graph.edges if e.src in sub and e.dst in sub)
    try:
        order = list(nx.topological_sort(sub))
    except nx.NetworkXUnfeasible:
        cyc = [u for u, _ in nx.find_cycle(sub)]
        raise LavaMappingError(
            f"cycle {' -> '.join(cyc + cyc[:1])} has no neuron on it: a linear recurrence cannot "
            f"be mapped to Lava synapses", node=cyc[0], rule="lava cycles") from None

    out: dict[str, list[syn.Term]] = {}

    def source_terms(name: str) -> list[syn.Term]:
        if name not in out:  # a neuron or the Input: their terms do not depend on their inputs
            out[name] = RULES.lookup(graph[name])(graph, graph[name], {})
        return out[name]

    def gather(name: str) -> dict[int, list[syn.Term]]:
        ports: dict[int, list[syn.Term]] = {}
        for e in graph.in_edges(name):
            for t in source_terms(e.src):
                ports.setdefault(e.port, []).append(syn.Term(t.src, t.delay + e.delay, t.op, t.via))
        return {p: syn.merge(ts) for p, ts in ports.items()}

    for name in order:
        out[name] = rules[name](graph, graph[name], gather(name))
    return {n: gather(n).get(0, []) for n in lifs}


# ---------------------------------------------------------------------------------- latency
def _is_direct_capable(op) -> bool:
    """An identity with unit weight can be a plain port connection (no synapse process, no step)."""
    return isinstance(op, syn.DiagOp) and op.in_shape == op.out_shape and bool(np.all(op.d == 1.0))


def assign_latency(neurons: list[str], terms: list[tuple[str, str, int, object]], via=None):
    """Latencies and the set of terms (indices) realised as direct port connections.

    A term ``(u, j, D, op)`` through a synapse process needs ``L_j >= L_u + 1 - D``; a direct
    connection (only for a unit identity, e.g. a backward LIF -> LIF edge) needs
    ``L_j = L_u - D`` exactly (the rule of :mod:`snnc.ir.hops`). All terms start as synapses;
    while a cycle has more hops than delay, its direct-capable terms become direct connections.
    ``via`` (per term, the non-neuron nodes it passes) names the loop's nodes in a refusal.

    Raises:
        LavaMappingError: a cycle whose total IR delay is below its number of synapse hops
            (named with its real edges, hops and delay; if port connections were tried, also the
            path that contradicts them).
    """
    direct: set[int] = set()
    first = None  # the first unbalanced cycle: made of real terms, all of them synapses
    while True:
        links = [(u, j, (0 if i in direct else HOP) - d, i in direct)
                 for i, (u, j, d, _) in enumerate(terms)]
        try:
            return balance_latency(neurons, links), direct
        except _Unbalanced as exc:
            cyc = exc.cycle
        if first is None:
            first = cyc
        pairs = set(zip(cyc, cyc[1:]))
        new = {i for i, (u, j, _, op) in enumerate(terms)
               if (u, j) in pairs and i not in direct and _is_direct_capable(op)}
        if not new:
            break
        direct |= new
    # ``first`` was found with no direct term, so each of its steps is a real synapse term
    steps = [_tightest(terms, set(), a, b) for a, b in zip(first, first[1:])]
    hops, delay = len(steps), sum(terms[i][2] for i in steps)
    msg = (f"backward cycle {_path(first, terms, steps)} cannot be balanced for Lava: it has "
           f"{hops} synapse hop(s) (each Lava Dense/Conv/Sparse adds one step) but only {delay} "
           f"step(s) of IR delay, {hops - delay} step(s) short; a cycle needs total delay >= hops")
    if via is not None:
        msg += f" (the loop's nodes: {_loop_nodes(first, steps, via)})"
    if direct and cyc != first:
        msg += "; " + _port_conflict(cyc, terms, direct)
    msg += (f". Train the model in hardware timing (`snnc train GENOME --timing hardware`; "
            f"untrained: `snnc compile GENOME --passes hop-timing,deploy`), which delays the "
            f"loop's backward edge by the {hops - delay} step(s) Lava adds, or give its edges "
            f"{hops - delay} more step(s) of delay")
    raise LavaMappingError(msg, node=first[0], rule="lava cycles")


def _loop_nodes(nodes, idx, via) -> str:
    """Every IR node around a loop of terms, in order, the first repeated last."""
    out = [nodes[0]]
    for i, n in zip(idx, nodes[1:]):
        out += list(via[i]) + [n]
    return " -> ".join(out)


def _tightest(terms, direct, a, b) -> int:
    """Index of the term ``a -> b`` with the tightest constraint (least delay per hop)."""
    cands = [((0 if i in direct else 1) - d, i) for i, (u, j, d, _) in enumerate(terms)
             if (u, j) == (a, b)]
    return max(cands)[1]


def _path(nodes, terms, idx) -> str:
    """``a -> b @2 -> c``: neurons along real terms, with each term's IR delay when nonzero."""
    out = [nodes[0]]
    for i, n in zip(idx, nodes[1:]):
        out.append(f"{'@' + str(terms[i][2]) + ' ' if terms[i][2] else ''}-> {n}")
    return " ".join(out)


def _port_conflict(cyc, terms, direct) -> str:
    """Explain a cycle of the latency constraints that runs against a port connection.

    A port connection ``u -> j`` (delay ``D``) pins ``L_j = L_u - D``; the negative cycle then
    holds the reversed step ``j -> u`` and a real path ``u -> ... -> j``, which needs ``j`` later.
    """
    steps = []  # (a, b, term index, reversed?)
    for a, b in zip(cyc, cyc[1:]):
        fwd = [((0 if i in direct else 1) - d, i, False) for i, (u, j, d, _) in enumerate(terms)
               if (u, j) == (a, b)]
        rev = [(d, i, True) for i, (u, j, d, _) in enumerate(terms)
               if (u, j) == (b, a) and i in direct]
        _, i, back = max(fwd + rev)
        steps.append((a, b, i, back))
    k = next(n for n, s in enumerate(steps) if s[3])
    steps = steps[k + 1:] + steps[:k + 1]  # start right after a reversed step
    parts, seg = [], []
    for a, b, i, back in steps:
        if not back:
            seg.append((a, b, i))
            continue
        u, j, d = terms[i][0], terms[i][1], terms[i][2]
        if seg:
            nodes = [seg[0][0]] + [s[1] for s in seg]
            idx = [s[2] for s in seg]
            hops = sum(s[2] not in direct for s in seg)
            dl = sum(terms[s[2]][2] for s in seg)
            parts.append(
                f"making the unit identity {u} {'@' + str(d) + ' ' if d else ''}-> {j} a port "
                f"connection (no step) to save a hop would put {j} at {u}'s step"
                f"{f' - {d}' if d else ''}, but the path {_path(nodes, terms, idx)} has {hops} "
                f"synapse hop(s) and {dl} step(s) of IR delay")
        seg = []
    return "; ".join(parts) or f"port connections tried: {sorted(direct)}"


def _non_neuron_ancestors(graph: Graph, targets) -> set[str]:
    """Non-neuron nodes with a path to any of ``targets`` that passes no neuron Lava runs."""
    return non_neuron_ancestors(graph, targets, [n.name for n in graph if n.op in NEURONS])


# ---------------------------------------------------------------------------------- plan
def _quiet_windows(neurons, synapses) -> dict[str, int]:
    """``Q_u = max(0, max over synapses u -> j of D + Q_j)`` on an acyclic neuron graph."""
    g = nx.DiGraph()
    g.add_nodes_from(neurons)
    g.add_edges_from((s.src, s.dst) for s in synapses)
    Q = {n: 0 for n in neurons}
    for u in reversed(list(nx.topological_sort(g))):
        for s in synapses:
            if s.src == u:
                Q[u] = max(Q[u], s.delay + Q[s.dst])
    return Q


def _check_delay_lines(graph: Graph, synapses: list[Synapse]) -> None:
    """Refuse a synapse whose extra delay needs more than :data:`MAX_DELAY_LINE` hops, naming it
    and the IR edges that carry its delay."""
    worst = max((s for s in synapses if not s.direct), key=lambda s: s.extra, default=None)
    if worst is None or worst.extra <= MAX_DELAY_LINE:
        return
    path = (worst.src,) + tuple(worst.via) + (worst.dst,)
    delayed = [f"{e.src} -> {e.dst} @{e.delay}" for a, b in zip(path, path[1:])
               for e in graph.out_edges(a) if e.dst == b and e.delay]
    raise LavaMappingError(
        f"synapse {' -> '.join(path)} (IR delay {worst.delay}"
        f"{': ' + ', '.join(delayed) if delayed else ''}) needs a Lava delay line of "
        f"{worst.extra} steps, one identity process (an OS process) per step; the limit is "
        f"{MAX_DELAY_LINE} (snnc.backends.lava.planning.MAX_DELAY_LINE)",
        node=worst.dst, rule="lava delays")


def plan(graph: Graph, T: int | None = None) -> LavaPlan:
    """Decide the Lava network for ``graph`` over ``T`` steps (default ``graph.meta['T']``).

    Raises:
        LavaMappingError: an op, neuron model (PLIF, ReLU: :data:`.optable.RULES`),
            neuron parameter, synapse chain or cycle Lava cannot express, or a synaptic delay
            longer than :data:`MAX_DELAY_LINE` steps.
        GraphError: ``graph`` does not verify.
    """
    graph = verify(graph.copy())
    T = int(T if T is not None else graph.meta.get("T", 1))
    for node in graph:  # a neuron model Lava lacks, or a choice point, is refused wherever it sits
        if node.op in NEURON_OPS or node.op in CHOICE_OPS:
            RULES.lookup(node)
    lifs = [graph[n] for n in graph.topological_order() if graph[n].op in NEURONS]
    if not lifs:
        raise LavaMappingError("the graph has no LIF neurons; nothing to run on Lava",
                               rule="lava neurons")
    neurons = {n.name: map_neuron(n) for n in lifs}
    kinds = {n.op for n in lifs}
    if "LoihiLIF" in kinds and len(kinds) > 1:
        raise LavaMappingError(
            f"the graph mixes float and fixed-point LoihiLIF neurons (e.g. "
            f"{next(n.name for n in lifs if n.op != 'LoihiLIF')!r}); quantize-loihi converts all "
            f"of them", rule="lava fixed point")
    terms = extract_terms(graph)

    flat = [(t.src, j, t.delay, syn.scale(t.op, neurons[j].alpha), t.via)
            for j, ts in terms.items() for t in ts]
    L, direct = assign_latency(list(neurons), [f[:4] for f in flat], via=[f[4] for f in flat])
    synapses = [Synapse(u, j, op, d, L[j] - L[u] - (0 if i in direct else 1) + d, via,
                        direct=i in direct) for i, (u, j, d, op, via) in enumerate(flat)]

    _check_delay_lines(graph, synapses)

    g = nx.DiGraph()
    g.add_nodes_from(neurons)
    g.add_edges_from((s.src, s.dst) for s in synapses)
    cyclic = not nx.is_directed_acyclic_graph(g)

    # host currents with every neuron silent: input-dependent ones per sample, the rest now
    input_fed = []
    stack, seen = [graph.input_node.name], set()
    while stack:
        for e in graph.out_edges(stack.pop()):
            if graph[e.dst].op in NEURONS:
                input_fed.append(e.dst)
            elif e.dst not in seen:
                seen.add(e.dst)
                stack.append(e.dst)
    input_fed = [n for n in neurons if n in set(input_fed)]
    others = [n for n in neurons if n not in input_fed]
    silent = {}
    if others:
        host = _Host(graph, active=_non_neuron_ancestors(graph, others))
        host.run(np.zeros((1,) + tuple(graph.input_node.shape)), T)
        for name in others:
            n = neurons[name]
            silent[name] = n.alpha * host.lif_in[name][:, 0] + n.bias  # [T, *shape]

    latency = dict(L)
    if cyclic:
        Q = None
        steps = T + max(latency.values())
        reset_step = {n: 0 for n in neurons}
    else:
        Q = _quiet_windows(list(neurons), synapses)
        steps = T + max(max(latency.values()), max(Q.values()))
        reset_step = {n: (latency[n] - Q[n]) % steps for n in neurons}

    for name, n in neurons.items():
        if n.vth < 0 and (cyclic or Q[name] > 0):
            raise LavaMappingError(
                f"neuron {name!r}: v_th={n.vth + n.v_reset:g} is below v_reset={n.v_reset:g}, so "
                f"it fires whenever its potential is at the reset value; it must stay silent "
                f"before its input arrives (it is on a cycle or feeds a delayed path), which Lava "
                f"cannot do", node=name, rule="lava LIF threshold")

    schedule, bias_mant = {}, {}
    for name in others:
        n, cur = neurons[name], silent[name]
        if not np.any(cur) and not n.v_init:
            continue
        constant = bool(np.all(cur == cur[:1]))
        if n.fixed:  # Loihi's inputs are integers; bias_mant has 13 bits (larger: injected)
            cur = round_current(cur).astype(np.float64)
            constant = constant and bool(np.all(np.abs(cur[0]) <= MAX_BIAS_MANT))
        if constant and not cyclic and Q[name] == 0 and not n.v_init:
            bias_mant[name] = cur[0].copy()
        else:
            cur = cur.copy()
            cur[0] += (1.0 - n.dv) * n.v_init
            schedule[name] = cur
    fed = [n for n in neurons if n in input_fed or n in schedule]
    return LavaPlan(graph, T, neurons, latency, reset_step, synapses, fed, input_fed, schedule,
                    bias_mant, steps, cyclic,
                    pre_nodes=_non_neuron_ancestors(graph, input_fed),
                    head_nodes=_non_neuron_ancestors(graph, [graph.output_node.name])
                    | {graph.output_node.name})
