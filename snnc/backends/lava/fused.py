"""A whole :class:`~.planning.LavaPlan` advanced as one program: every neuron and synapse of the
per-layer Lava mapping (:mod:`.build`), one Lava step per :meth:`FusedProgram.step`, in numpy.

Lava runs each process as an OS process (about 0.25 ms of messaging per process and step on two
cores, and one interpreter's memory each), so the per-layer mapping of a TANet preset is hundreds
of OS processes. :mod:`.fused_process` wraps this program in ONE Lava process (fed by one
``Injector``, read by one ``Extractor``): three OS processes for any network.

Semantics (lava-nc 0.10.0, floating point, measured; the per-layer mapping of :mod:`.build`):

* a synapse process with extra delay ``e`` delivers ``W s_u[k - 1 - e]`` at Lava step ``k``
  (one step of hop latency, ``e`` identity hops of the shared delay line); a port (direct)
  connection delivers ``s_u[k]`` the same step; several inputs are summed into ``a_in``;
* the float ``LIFReset`` of each neuron, at each step::

      (at its period step reset_step:  u = 0; v = 0)
      u = u * (1 - du) + a_in
      v = v * (1 - dv) + u + bias_mant
      s = v > vth;  v[s] = 0

* the injector's current enters ``a_in`` the same step; cyclic plans drop every value in flight
  at a sample's first step (the per-layer network zeroes its synapse buffers there); acyclic
  plans keep them (they land in garbage steps, see :mod:`.planning`).

Exactness. Each synapse's contribution is bit for bit the value Lava's process computes:
``Sparse`` (convolutions, elementwise ops) is scipy's ``csr @ s`` -- a sum over the row's stored
entries in order, where the 0/1 spikes make every product ``w`` or ``0`` -- reproduced by
summing, per row and in the same column order, only the entries of columns that spiked (the
csc submatrix of those columns times ones: scipy's ``csc_matvec`` adds column by column;
skipped terms are zeros): an event-driven matrix product with the same rounding. ``Dense``
(Linear) uses the same BLAS product ``W @ s``. The neuron update is Lava's expressions
elementwise. What can differ is the order in which one neuron's inputs are
added: Lava's compiler collects processes through a Python ``set`` of Process objects
(``compiler_graphs.find_processes``), so the per-layer mapping itself adds a neuron's inputs in
an order that changes from run to run (observed here on ``skip_delays``); the program adds
them in plan order (synapses, then the injector, then port connections). Spikes are therefore
equal wherever no membrane potential lies within rounding of its threshold -- the same condition
under which the per-layer mapping equals itself from run to run and equals the reference.

Neuron kinds dispatch through :data:`NEURON_GROUPS` (keyed by the planned neuron's class:
:class:`~.mapping.LavaLIF` -> :class:`LIFGroup`, :class:`~.mapping.LavaALIF` -> :class:`ALIFGroup`,
which calls the ``ALIFReset`` model's own :func:`.alif.alif_step`): a neuron model added to the
planner needs a group class here before the fused mode can run it; until then
:func:`unsupported` names it and the backend falls back to the per-layer mapping.

Fixed point (a plan of LoihiLIF neurons, which the per-layer network runs with Lava's
``fixed_pt`` models): neurons step with :func:`snnc.ir.loihi.loihi_lif_step_fixed`
(:class:`FixedLIFGroup`, :data:`FIXED_NEURON_GROUPS`), each synapse adds
``(m s) << weight_exp`` in int64 with the 8-bit weights its bit-accurate ``Dense``/``Sparse``
holds (:func:`_fixed_synapse`), and host currents are the integers the int32 injector sends.
Integer sums do not depend on the order of their terms, so the fused program is bit-exact
to the per-layer fixed-point network and to the reference interpreter's integer model.
"""
from __future__ import annotations

import numpy as np

from ...ir.loihi import ACT_SHIFT, loihi_lif_step_fixed
from . import synapses as syn
from .alif import alif_step
from .mapping import LavaALIF, LavaLIF
from .planning import LavaPlan


def _lava_flat(a, shape) -> np.ndarray:
    """``[*shape]`` (IR layout) -> Lava's flattened layout (``(W, H, C)`` C-order for maps)."""
    a = np.broadcast_to(np.asarray(a, dtype=np.float64), shape)
    if len(shape) == 3:
        a = np.transpose(a, (2, 1, 0))
    return np.ascontiguousarray(a).reshape(-1)


class LIFGroup:
    """Lava's float ``LIFReset`` (``PyLifResetModelFloat``) for a contiguous block of units: several
    neurons, each with its own ``du``, ``dv``, ``vth``, ``bias_mant`` and period reset step.

    ``neurons``: ``[(LavaLIF, bias_mant or None, reset_step)]`` in unit order; ``steps``: Lava
    steps per period."""

    def __init__(self, neurons, steps: int):
        sizes = [int(np.prod(n.shape)) for n, _, _ in neurons]
        self.n = sum(sizes)

        def per_unit(values):
            return np.repeat(np.asarray(values, dtype=np.float64), sizes)

        # 1 - du and 1 - dv as Lava computes them (Python floats), one per unit
        self.keep_u = per_unit([1 - n.du for n, _, _ in neurons])
        self.keep_v = per_unit([1 - n.dv for n, _, _ in neurons])
        self.vth = per_unit([n.vth for n, _, _ in neurons])
        self.bias = np.concatenate([np.zeros(s) if b is None else _lava_flat(b, n.shape)
                                    for (n, b, _), s in zip(neurons, sizes)])
        starts = np.cumsum([0] + sizes)
        self.reset_at: dict[int, np.ndarray] = {}
        for (_, _, r), a, b in zip(neurons, starts, starts[1:]):
            prev = self.reset_at.get(r % steps, np.zeros(0, dtype=np.intp))
            self.reset_at[r % steps] = np.concatenate([prev, np.arange(a, b)])
        self.u = np.zeros(self.n)
        self.v = np.zeros(self.n)

    def step(self, a_in: np.ndarray, period_step: int) -> np.ndarray:
        """Advance one Lava step with input ``a_in`` ``[n]``; returns the spikes ``[n]`` (bool)."""
        idx = self.reset_at.get(period_step)
        if idx is not None:
            self.u[idx] = 0.0
            self.v[idx] = 0.0
        u, v = self.u, self.v
        u[:] = u * self.keep_u
        u += a_in
        v[:] = v * self.keep_v + u + self.bias
        s = v > self.vth
        v[s] = 0.0
        return s

    def clear(self) -> None:
        self.u[:] = 0.0
        self.v[:] = 0.0


class ALIFGroup(LIFGroup):
    """snnc's float ``ALIFReset`` (:mod:`.alif_process`) for a contiguous block of units: the
    :class:`LIFGroup` parameters plus each neuron's ``rho`` and ``adapt``, stepped by
    :func:`.alif.alif_step` (the process model's own function; per-unit parameter arrays give
    the same elementwise values as its scalars). The period reset zeroes ``u``, ``v`` and the
    threshold increment ``a``, before integrating, as ``ALIFReset`` does.

    ``neurons``: ``[(LavaALIF, bias_mant or None, reset_step)]``; ``steps``: Lava steps per
    period."""

    def __init__(self, neurons, steps: int):
        super().__init__(neurons, steps)
        sizes = [int(np.prod(n.shape)) for n, _, _ in neurons]
        self.du = np.repeat(np.asarray([n.du for n, _, _ in neurons], dtype=np.float64), sizes)
        self.dv = np.repeat(np.asarray([n.dv for n, _, _ in neurons], dtype=np.float64), sizes)
        self.rho = np.repeat(np.asarray([n.rho for n, _, _ in neurons], dtype=np.float64), sizes)
        self.adapt = np.repeat(np.asarray([n.adapt for n, _, _ in neurons], dtype=np.float64),
                               sizes)
        self.a = np.zeros(self.n)

    def step(self, a_in: np.ndarray, period_step: int) -> np.ndarray:
        """Advance one Lava step with input ``a_in`` ``[n]``; returns the spikes ``[n]`` (bool)."""
        idx = self.reset_at.get(period_step)
        if idx is not None:
            self.u[idx] = 0.0
            self.v[idx] = 0.0
            self.a[idx] = 0.0
        self.u, self.v, self.a, s = alif_step(
            self.u, self.v, self.a, a_in, du=self.du, dv=self.dv, bias=self.bias, vth=self.vth,
            rho=self.rho, adapt=self.adapt)
        return s > 0

    def clear(self) -> None:
        super().clear()
        self.a[:] = 0.0


class FixedLIFGroup:
    """Lava's bit-accurate ``LIFReset`` (``PyLifResetModelBitAcc``, ``fixed_pt``) for a
    contiguous block of units: each neuron's integer ``du``, ``dv``, ``vth``, its bias entering
    ``v`` as ``bias_mant << bias_exp`` (``bias_exp = 6``, as :mod:`.build` sets it for a bias in
    ``a_in`` units), stepped by :func:`snnc.ir.loihi.loihi_lif_step_fixed` (the reference
    interpreter's own step); state ``u``/``v`` int64. The period reset zeroes ``u`` and ``v``
    before integrating."""

    def __init__(self, neurons, steps: int):
        sizes = [int(np.prod(n.shape)) for n, _, _ in neurons]
        self.n = sum(sizes)
        starts = np.cumsum([0] + sizes)
        self.blocks = []  # (slice, du, dv, vth, effective bias [size] int64)
        self.reset_at: dict[int, np.ndarray] = {}
        for (n, b, r), a, z in zip(neurons, starts, starts[1:]):
            bias = (np.zeros(z - a, dtype=np.int64) if b is None
                    else np.rint(_lava_flat(b, n.shape)).astype(np.int64) << ACT_SHIFT)
            self.blocks.append((slice(int(a), int(z)), int(n.du), int(n.dv), int(n.vth), bias))
            prev = self.reset_at.get(r % steps, np.zeros(0, dtype=np.intp))
            self.reset_at[r % steps] = np.concatenate([prev, np.arange(a, z)])
        self.u = np.zeros(self.n, dtype=np.int64)
        self.v = np.zeros(self.n, dtype=np.int64)

    def step(self, a_in: np.ndarray, period_step: int) -> np.ndarray:
        """Advance one Lava step with integer input ``a_in`` ``[n]``; returns the spikes (bool)."""
        idx = self.reset_at.get(period_step)
        if idx is not None:
            self.u[idx] = 0
            self.v[idx] = 0
        s = np.zeros(self.n, dtype=bool)
        for sl, du, dv, vth, bias in self.blocks:
            self.u[sl], self.v[sl], s[sl] = loihi_lif_step_fixed(
                self.u[sl], self.v[sl], a_in[sl], du, dv, vth, bias)
        return s

    def clear(self) -> None:
        self.u[:] = 0
        self.v[:] = 0


#: Neuron kind -> vectorised update of a block of such neurons (the dispatch point for neuron
#: models the planner learns later: one group class per planned neuron class).
NEURON_GROUPS: dict[type, type] = {LavaLIF: LIFGroup, LavaALIF: ALIFGroup}
#: The same for the neurons of a fixed-point plan (Lava's ``fixed_pt`` models).
FIXED_NEURON_GROUPS: dict[type, type] = {LavaLIF: FixedLIFGroup}


def _group_class(n) -> type | None:
    """The group class that steps planned neuron ``n`` (None: not implemented)."""
    return (FIXED_NEURON_GROUPS if getattr(n, "fixed", False) else NEURON_GROUPS).get(type(n))


def unsupported(plan: LavaPlan) -> str | None:
    """Why the fused program cannot run ``plan`` exactly, or None if it can."""
    for name, n in plan.neurons.items():
        if _group_class(n) is None:
            kind = ("fixed-point " if getattr(n, "fixed", False) else "") + type(n).__name__
            return (f"neuron {name!r} is a {kind}, which the fused process model does not "
                    f"implement")
    return None


def _synapse(op: syn.Operator) -> tuple[str, object]:
    """How the program multiplies a synapse, as Lava's process for it would (see
    :meth:`.build.LavaNetwork._connection`): ``("csc", m)`` -- a ``Sparse`` or elementwise
    synapse, event-driven over the spiking columns of its canonical matrix; ``("csr", m)`` -- a
    ``Sparse`` matrix whose rows are not stored in column order, multiplied whole as Lava does;
    ``("dense", W)`` -- a ``Dense`` process's BLAS product."""
    from .build import lava_matrix
    if isinstance(op, (syn.DiagOp, syn.ConvOp, syn.SparseOp)):
        # (a small elementwise op is a Dense process in Lava, but a diagonal matrix times 0/1
        # spikes is exactly d * s in any order)
        m = lava_matrix(op, sparse=True)
        # summing only the spiking columns, in column order, equals csr @ s only if each row's
        # entries are stored in column order (scipy's canonical form)
        return ("csc", m.tocsc()) if m.has_canonical_format else ("csr", m)
    dense = lava_matrix(op, sparse=False)
    w = np.ndarray(dense.shape, dtype=np.float64)
    w[:] = dense  # allocated as Lava's Dense model holds its weights
    return "dense", w


def _fixed_synapse(op: syn.Operator, what: str) -> tuple[str, object]:
    """A fixed-point plan's synapse as Lava's bit-accurate ``Dense``/``Sparse`` hold and apply
    it: ``("fixed", (m, weight_exp))`` with ``m`` the csc int64 matrix of the weights
    :func:`.fixed.synapse_weights` gives the process, after the process's own ``clip_weights``
    and ``truncate_weights`` (8 bits, its sign mode); the contribution is ``(m s) << weight_exp``
    (``>> -weight_exp``: an arithmetic shift, exact for the even sums of doubled mantissas).
    Integer sums do not depend on the order of terms, so whether Lava makes the synapse a Dense
    or a Sparse process does not matter.

    Raises:
        LavaMappingError: weights no mantissa and exponent represent (as :mod:`.build`)."""
    from . import compat
    compat.install()
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    from . import fixed
    from .build import lava_matrix
    m = lava_matrix(op, sparse=True)
    m.data, exp = fixed.synapse_weights(m.data, what)
    mode = determine_sign_mode(m)
    m = truncate_weights(clip_weights(m, mode, num_bits=8), mode, 8)
    return "fixed", (m.tocsc().astype(np.int64), int(exp))


class _Fanout:
    """The event-driven synapses that leave one neuron with one extra delay (and, in fixed point,
    one ``weight_exp``) into distinct neurons, stacked into one csc matrix whose rows are the
    destinations' units, concatenated: one column slice (the spiking columns) and one product
    serve them all.

    Every row belongs to one synapse, so each row receives exactly the terms of that synapse's
    ``csr @ s`` in its column order (scipy's ``csc_matvec`` adds column by column): the same bits
    as one slice per synapse, with fewer calls. Where more than a quarter of the columns spiked,
    the whole matrix multiplies the 0/1 vector instead (the silent columns add ``+0.0``). A
    fixed-point fanout holds int64 weights (the sums are exact) and shifts each sum by
    ``weight_exp``."""

    def __init__(self, hops, n_cols: int, exp: int | None = None):
        from scipy import sparse as sp
        # rows: the destinations' units concatenated (hops' order), each a slice of the vector
        self.dsts, rows, cols, vals, at = [], [], [], [], 0
        for dst, m in hops:
            c = m.tocoo()
            self.dsts.append((dst, at, at + m.shape[0]))
            rows.append(c.row + at)
            cols.append(c.col)
            vals.append(c.data)
            at += m.shape[0]
        dtype = np.float64 if exp is None else np.int64
        self.m = sp.csc_matrix((np.concatenate(vals).astype(dtype),
                                (np.concatenate(rows), np.concatenate(cols))), shape=(at, n_cols))
        self.m.sort_indices()  # each column's entries by row; a row's terms stay in column order
        self.ones = np.ones(n_cols, dtype=dtype)
        self.exp = exp

    def add(self, a: np.ndarray, act: np.ndarray) -> None:
        """``a[dst] +=`` each synapse's product for the spiking columns ``act`` (sorted,
        non-empty)."""
        if act.size * 4 > self.ones.size:
            # dense firing: the whole matrix times the 0/1 vector (csc_matvec adds +0.0 for the
            # silent columns, which changes no value) is cheaper than copying most columns
            # (measured on the TANet-like stage: even at about a quarter of the columns)
            x = np.zeros_like(self.ones)
            x[act] = 1
            acc = self.m @ x
        else:
            acc = self.m[:, act] @ self.ones[:act.size]
        if self.exp is not None:
            acc = acc << self.exp if self.exp > 0 else acc >> -self.exp
        for dst, lo, hi in self.dsts:
            a[dst] += acc[lo:hi]


def _fanouts(hops) -> list[tuple]:
    """The program's work per step: ``[(src, extra, kind, payload)]``. Event-driven hops
    (``"csc"``, ``"fixed"``) are stacked into :class:`_Fanout` s per source, extra delay and
    exponent (kind ``"fanout"``), a new one where a destination repeats; the others stay one
    hop each (payload ``(dst, data)``). Order: each item at its first hop's place in plan order,
    so a neuron's inputs are added source by source (an order as faithful as the per-layer
    network's, which changes from run to run; see the module docstring)."""
    work, open_ = [], {}
    for dst, src, e, kind, data in hops:
        if kind not in ("csc", "fixed"):
            work.append((src, e, kind, (dst, data)))
            continue
        m, exp = (data if kind == "fixed" else (data, None))
        key = (src.start, src.stop, e, exp)
        item = open_.get(key)
        if item is None or any(d == dst for d, _ in item[1]):
            item = open_[key] = (len(work), [], exp)
            work.append(None)
        item[1].append((dst, m))
        work[item[0]] = (src, e, "fanout", item)
    return [(src, e, kind, _Fanout(p[1], src.stop - src.start, p[2]) if kind == "fanout" else p)
            for src, e, kind, p in work]


class FusedProgram:
    """Every neuron and synapse of ``plan`` as arrays over one vector of units (Lava's flattened
    layouts, neurons in an order where port connections go forward); see the module docstring.

    ``record``: neuron names whose spikes :meth:`step` returns, concatenated in that order.
    :attr:`fed`: the fed neurons (``plan.fed`` order) whose injected currents :meth:`step` takes,
    concatenated. Raises ``ValueError`` for a plan :func:`unsupported` refuses."""

    def __init__(self, plan: LavaPlan, record):
        why = unsupported(plan)
        if why:
            raise ValueError(why)
        self.steps, self.cyclic = plan.steps, plan.cyclic
        # a fixed-point plan's a_in is integer (Lava's int32 messages), summed in int64
        self.dtype = np.int64 if plan.fixed else np.float64
        direct = [s for s in plan.synapses if s.direct]
        level = {n: 0 for n in plan.neurons}
        for _ in range(len(level)):  # port connections form a DAG (planning balances them)
            for s in direct:
                level[s.dst] = max(level[s.dst], level[s.src] + 1)
        order = sorted(plan.neurons, key=lambda n: level[n])  # stable: plan order per level
        self.slices: dict[str, slice] = {}
        start = 0
        for name in order:
            size = int(np.prod(plan.neurons[name].shape))
            self.slices[name] = slice(start, start + size)
            start += size
        self.n = start

        # neuron blocks: one group per (level, kind), contiguous because of the order above
        self.levels: list[tuple[list, list]] = []  # [(direct conns into the level, groups)]
        for lv in sorted(set(level.values())):
            names = [n for n in order if level[n] == lv]
            groups = []
            for kind in dict.fromkeys(_group_class(plan.neurons[n]) for n in names):
                members = [n for n in names if _group_class(plan.neurons[n]) is kind]
                # same-kind neurons of a level may be split by another kind: one group per run
                runs, cur = [], [members[0]]
                for a, b in zip(members, members[1:]):
                    if self.slices[a].stop == self.slices[b].start:
                        cur.append(b)
                    else:
                        runs.append(cur)
                        cur = [b]
                runs.append(cur)
                for run in runs:
                    g = kind(
                        [(plan.neurons[n], plan.bias_mant.get(n), plan.reset_step[n]) for n in run],
                        plan.steps)
                    groups.append((slice(self.slices[run[0]].start, self.slices[run[-1]].stop), g))
            conns = [(self.slices[s.src], self.slices[s.dst]) for s in direct if level[s.dst] == lv]
            self.levels.append((conns, groups))

        # synapses in plan order: (dst slice, src slice, extra, kind, data); see _synapse
        self.hops: list[tuple] = []
        for s in plan.synapses:
            if s.direct:
                continue
            kind, data = (_fixed_synapse(s.op, f"{s.src} -> {s.dst}") if plan.fixed
                          else _synapse(s.op))
            self.hops.append((self.slices[s.dst], self.slices[s.src], s.extra, kind, data))
        self.fed = list(plan.fed)
        self.fed_index = (np.concatenate([np.arange(self.slices[n].start, self.slices[n].stop)
                                          for n in self.fed]) if self.fed
                          else np.zeros(0, dtype=np.intp))
        self.record = list(record)
        self.record_index = (np.concatenate([np.arange(self.slices[n].start, self.slices[n].stop)
                                             for n in self.record]) if self.record
                             else np.zeros(0, dtype=np.intp))
        self.work = _fanouts(self.hops)
        self.depth = max([h[2] for h in self.hops], default=0) + 2
        self._plan = plan
        self.reset()

    def encode(self, currents: dict[str, np.ndarray], b: int) -> np.ndarray:
        """Sample ``b``'s injected vectors for one period, ``[steps, n_in]``: each fed neuron's
        host current (``currents[name]`` ``[T, B, *shape]``, :meth:`.LavaPlan.host_currents`) in
        its IR window ``[L, L + T)``, zero elsewhere, in Lava layout."""
        plan, T = self._plan, self._plan.T
        out = np.zeros((self.steps, self.n_in))
        at = 0
        for name in self.fed:
            n, L = plan.neurons[name], plan.latency[name]
            size = int(np.prod(n.shape))
            cur = currents[name][:, b].reshape((T,) + tuple(n.shape))
            if len(n.shape) == 3:
                cur = np.transpose(cur, (0, 3, 2, 1))
            out[L:L + T, at:at + size] = cur.reshape(T, -1)  # L + T <= steps (planning)
            at += size
        return out

    def decode(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """One period's outputs ``[steps, n_out]`` -> each recorded neuron's spikes in its IR window
        ``[T, *shape]`` (IR layout)."""
        plan, T = self._plan, self._plan.T
        out, at = {}, 0
        for name in self.record:
            n, L = plan.neurons[name], plan.latency[name]
            size = int(np.prod(n.shape))
            got = rows[L:L + T, at:at + size].reshape((T,) + n.lava_shape)
            if len(n.shape) == 3:
                got = np.transpose(got, (0, 3, 2, 1))
            out[name] = np.ascontiguousarray(got)
            at += size
        return out

    @property
    def n_in(self) -> int:
        """Length of the injected vector (concatenated fed neurons)."""
        return int(self.fed_index.size)

    @property
    def n_out(self) -> int:
        """Length of the returned vector (concatenated recorded neurons)."""
        return int(self.record_index.size)

    def reset(self) -> None:
        """Back to the state before the first step (all potentials, spikes in flight zero)."""
        self.k = 0
        self.valid_from = 0
        self.hist = np.zeros((self.depth, self.n), dtype=bool)
        self.hist_step = np.full(self.depth, -1)
        for _, groups in self.levels:
            for _, g in groups:
                g.clear()

    def _past(self, k: int):
        """Slot of step ``k``'s spikes, or None (before the run or the sample's clean start)."""
        if k < self.valid_from:
            return None
        slot = k % self.depth
        return slot if self.hist_step[slot] == k else None

    def step(self, injected: np.ndarray | None = None) -> np.ndarray:
        """One Lava step: ``injected`` ``[n_in]`` (Lava layout, :attr:`fed` order) in; the
        recorded neurons' spikes ``[n_out]`` (0/1 float64) out."""
        k, m = self.k, self.k % self.steps
        if self.cyclic and m == 0:
            self.valid_from = k  # the per-layer network zeroes its synapse buffers here
        active: dict[tuple[int, int], np.ndarray] = {}
        a = np.zeros(self.n, dtype=self.dtype)
        for src, e, kind, payload in self.work:
            slot = self._past(k - 1 - e)
            if slot is None:
                continue
            key = (slot, src.start)
            act = active.get(key)
            if act is None:
                act = active[key] = np.flatnonzero(self.hist[slot, src])
            if not act.size:
                continue  # Lava adds W @ 0: zeros
            if kind == "fanout":
                # the spiking columns only, each row's terms in column order: see _Fanout
                payload.add(a, act)
                continue
            dst, data = payload
            a[dst] += data.dot(self.hist[slot, src].astype(np.float64))
        if self.fed_index.size and injected is not None:
            # a fixed-point host current is an integer (planning rounds it); the int32 injector
            # of the per-layer network sends it as that integer
            a[self.fed_index] += np.asarray(injected).reshape(-1).astype(self.dtype)
        s = np.zeros(self.n, dtype=bool)
        for conns, groups in self.levels:
            for src, dst in conns:
                a[dst] += s[src]
            for sl, g in groups:
                s[sl] = g.step(a[sl], m)
        slot = k % self.depth
        self.hist[slot] = s
        self.hist_step[slot] = k
        self.k = k + 1
        return s[self.record_index].astype(np.float64)
