"""A :class:`~.planning.LavaPlan` as Lava processes (lava-nc 0.10.0), run one sample per period.

Processes (Lava layouts: a feature map ``(C, H, W)`` is ``(W, H, C)`` in Lava, flattened C-order
for ``Dense``/``Sparse``):

* one ``LIFReset`` per LIF layer (``du = 1``, ``dv = 1 - beta``, ``vth``, ``bias_mant``; it zeroes
  ``u``/``v`` once per period, at the plan's ``reset_step``; see :mod:`.mapping`), one snnc
  ``ALIFReset`` per ALIF layer (the same plus the adaptive threshold; :mod:`.alif_process`); a plan
  of LoihiLIF neurons gets their integers and Lava's ``fixed_pt`` models instead (:mod:`.fixed`);
* per synapse: ``Conv`` (weights ``(C_out, kW, kH, C_in/groups)``, spatially flipped: Lava
  convolves, the IR cross-correlates), ``Dense``, ``Sparse`` (elementwise ops, unrolled
  convolutions, upsampling), or a port connection. A synapse that needs extra delay ``e`` reads tap ``e`` of
  its source's delay line: a chain of identity ``Dense``/``Sparse`` hops, one step each, shared
  by all synapses leaving that neuron (see :meth:`LavaNetwork._tap`);
* an ``Injector`` per fed neuron (host current into ``a_in``, no hop) and an ``Extractor`` per
  recorded neuron: one message per step each way. (``Var.get``/``set`` move one element per
  message, about 14 us each here, so they are avoided per sample; only cyclic graphs zero their
  synapse buffers that way between samples.)

Lava's processes are OS processes; nothing here imports lava until :class:`LavaNetwork` is built.
"""
from __future__ import annotations

import multiprocessing
import time
import types
import warnings

import numpy as np

from ...children import ForkGuard
from ...optional import require
from . import compat
from . import synapses as syn
from .mapping import LavaALIF, LavaMappingError
from .planning import LavaPlan
from .result import LavaResult, as_sequence
from ...ir.loihi import ACT_SHIFT


#: Elementwise connections (identity skips, delay lines) on more units than this use Sparse.
SPARSE_FROM = 1024
#: ``num_message_bits`` of every connection process: graded messages make Lava's float models
#: compute ``W @ s`` instead of summing the columns that ``s`` selects (a copy of the weight
#: matrix per step). The values carried are still the 0/1 spikes, so the result is the same.
GRADED = 24


def lava_modules() -> types.SimpleNamespace:
    """Import the Lava pieces the backend uses (after installing :mod:`.compat`'s hook)."""
    compat.install()
    require("lava.magma.core.run_configs", feature="Loihi simulation", extra="lava")
    from scipy.sparse import SparseEfficiencyWarning

    # Lava's Sparse process models edit csr matrices in place every step; the warning says so
    # once per process and batch, which buries the report. Set before the process models fork.
    warnings.filterwarnings("ignore", category=SparseEfficiencyWarning)
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.conv.process import Conv
    from lava.proc.dense.process import Dense
    from lava.proc.io.extractor import Extractor, PyLoihiExtractorModel
    from lava.proc.io.injector import Injector, PyLoihiInjectorModel
    from lava.proc.lif.process import LIFReset
    from lava.proc.sparse.process import Sparse

    from .alif_process import ALIFReset, PyALIFResetModelFloat
    return types.SimpleNamespace(ALIFReset=ALIFReset, PyALIFResetModelFloat=PyALIFResetModelFloat,
        RunSteps=RunSteps, Loihi2SimCfg=Loihi2SimCfg, Conv=Conv, Dense=Dense,
        Sparse=Sparse, LIFReset=LIFReset, Injector=Injector,
        Extractor=Extractor, PyLoihiInjectorModel=PyLoihiInjectorModel,
        PyLoihiExtractorModel=PyLoihiExtractorModel)


def to_lava_layout(a: np.ndarray, shape) -> np.ndarray:
    """``[..., C, H, W]`` -> ``[..., W, H, C]`` (unchanged for vectors); ``shape``: the IR shape."""
    if len(shape) != 3:
        return a
    n = a.ndim
    return np.transpose(a, tuple(range(n - 3)) + (n - 1, n - 2, n - 3))


def from_lava_layout(a: np.ndarray, shape) -> np.ndarray:
    """Inverse of :func:`to_lava_layout` (the same transpose)."""
    return to_lava_layout(a, shape)


def _perm(shape) -> np.ndarray:
    """``perm[lava_flat_index] = ir_flat_index``."""
    idx = np.arange(int(np.prod(shape))).reshape(shape)
    return to_lava_layout(idx, shape).ravel()


def lava_conv_weight(weight: np.ndarray) -> np.ndarray:
    """IR cross-correlation weights ``[O, I/g, kH, kW]`` -> Lava Conv ``[O, kW, kH, I/g]``,
    flipped (Lava computes a true convolution)."""
    return np.ascontiguousarray(weight.transpose(0, 3, 2, 1)[:, ::-1, ::-1, :])


def lava_matrix(op: syn.Operator, sparse: bool):
    """The operator as a weight matrix over Lava's flattened layouts (scipy csr if ``sparse``)."""
    from scipy import sparse as sp
    in_shape, out_shape = tuple(op.in_shape), tuple(op.out_shape)
    p_in, p_out = _perm(in_shape), _perm(out_shape)
    if isinstance(op, syn.SparseOp):
        m = op.matrix.tocoo()
        inv_in, inv_out = np.argsort(p_in), np.argsort(p_out)
        m = sp.csr_matrix((m.data, (inv_out[m.row], inv_in[m.col])), shape=m.shape)
        return m if sparse else m.toarray()
    if isinstance(op, syn.DiagOp):  # entry (i, i) of the IR matrix; output index = input index
        inv_in, inv_out = np.argsort(p_in), np.argsort(p_out)
        n = p_in.size
        m = sp.csr_matrix((op.d.reshape(-1), (inv_out[np.arange(n)], inv_in[np.arange(n)])),
                          shape=(n, n))
        return m if sparse else m.toarray()
    if sparse and isinstance(op, syn.ConvOp):  # never densified: unrolled convs are large
        rows, cols, vals = op.coo()
        inv_in, inv_out = np.argsort(p_in), np.argsort(p_out)
        n_out, n_in = p_out.size, p_in.size
        return sp.csr_matrix((vals, (inv_out[rows], inv_in[cols])), shape=(n_out, n_in))
    m = syn.to_dense(op).matrix[p_out][:, p_in]
    return sp.csr_matrix(m) if sparse else np.ascontiguousarray(m)


def _flat(port, shape):
    return port.flatten() if len(shape) > 1 else port


def _shaped(port, lava_shape):
    return port.reshape(tuple(lava_shape)) if len(lava_shape) > 1 else port


class LavaNetwork:
    """The Lava processes of a plan, plus the state handling to run one sample at a time.

    Use :meth:`run` (or :func:`.simulate.simulate`); :meth:`close` stops Lava's runtime (also on
    ``with``-exit). ``record``: neuron names to record (default all).
    """

    def __init__(self, plan: LavaPlan, record=None, conv: str = "sparse"):
        if conv not in ("sparse", "conv"):
            raise ValueError(f"conv must be 'sparse' or 'conv', got {conv!r}")
        self.conv = conv
        t0 = time.perf_counter()
        self.plan = plan
        lv = self.lv = lava_modules()
        if plan.fixed:
            from . import fixed  # imports lava: only for fixed-point networks
        self.record = self._resolve_record(plan, record)
        n_steps = plan.steps
        self.lif, self.sources, self.sinks, self.conns = {}, {}, {}, []
        for name, n in plan.neurons.items():
            bias = plan.bias_mant.get(name)
            bias = 0.0 if bias is None else to_lava_layout(
                np.broadcast_to(bias, n.shape), n.shape).copy()
            # fixed point: a bias in a_in units enters v as bias_mant << 6, as a_in << 6 would
            extra = {"bias_exp": ACT_SHIFT if np.any(bias) else 0} if plan.fixed else {}
            # LIFReset zeroes u and v when time_step % interval == offset; time_step counts from
            # 1, so period step r (0-based) is offset r + 1
            common = dict(shape=n.lava_shape, du=n.du, dv=n.dv, vth=n.vth, bias_mant=bias,
                          reset_interval=n_steps,
                          reset_offset=(plan.reset_step[name] + 1) % n_steps, name=name)
            if isinstance(n, LavaALIF):
                self.lif[name] = lv.ALIFReset(rho=n.rho, adapt=n.adapt, **common)
            else:
                self.lif[name] = lv.LIFReset(u=0.0, v=0.0, **common, **extra)
        self._taps: dict[tuple[str, int], object] = {}
        for s in plan.synapses:
            src, dst = self.lif[s.src], self.lif[s.dst]
            u, j = plan.neurons[s.src], plan.neurons[s.dst]
            if s.direct:
                src.s_out.connect(dst.a_in)
                continue
            op = s.op
            conv_ok = (self.conv == "conv" and isinstance(op, syn.ConvOp) and not op.flat_out
                       and len(op.out_shape) == 3)
            what = f"{s.src} -> {s.dst}"
            if conv_ok:
                w = fixed.conv_weights(op.weight, what) if plan.fixed else op.weight
                proc = lv.Conv(weight=lava_conv_weight(w), input_shape=u.lava_shape,
                               padding=op.padding, stride=op.stride, groups=op.groups,
                               num_message_bits=GRADED)
                if tuple(proc.output_shape) != j.lava_shape:  # pragma: no cover - plan bug
                    raise AssertionError(f"Lava Conv {s.src}->{s.dst} gives {proc.output_shape}")
                if s.extra == 0:
                    src.s_out.connect(proc.s_in)
                else:
                    _shaped(self._tap(s.src, s.extra).a_out, u.lava_shape).connect(proc.s_in)
            else:
                proc = self._connection(op, what)
                if s.extra == 0:
                    _flat(src.s_out, u.shape).connect(proc.s_in)
                else:
                    self._tap(s.src, s.extra).a_out.connect(proc.s_in)
            _shaped(proc.a_out, j.lava_shape).connect(dst.a_in)
            self.conns.append(proc)
        for name in plan.fed:
            n = plan.neurons[name]
            self.sources[name] = lv.Injector(shape=n.lava_shape, buffer_size=n_steps)
            self.sources[name].out_port.connect(self.lif[name].a_in)
        for name in self.record:
            n = plan.neurons[name]
            self.sinks[name] = lv.Extractor(shape=n.lava_shape, buffer_size=n_steps)
            self.lif[name].s_out.connect(self.sinks[name].in_port)
        self._tie_components()
        self._runtime_proc = next(iter(self.lif.values()))
        injector = fixed.PyLoihiInjectorModelFixed if plan.fixed else lv.PyLoihiInjectorModel
        self._cfg = lv.Loihi2SimCfg(
            select_tag="fixed_pt" if plan.fixed else "floating_pt", exception_proc_model_map={
                lv.Injector: injector, lv.Extractor: lv.PyLoihiExtractorModel,
                lv.ALIFReset: lv.PyALIFResetModelFloat,
                # keyed by instance too: Lava's compiler looks a process up by instance before it
                # searches the process's folder for models (importing every module there, which
                # fails for a package's relative imports and warns once per module)
                **{p: lv.PyALIFResetModelFloat for p in self.lif.values()
                   if isinstance(p, lv.ALIFReset)}})
        self._started = self._closed = False
        self.timing = {"build_s": time.perf_counter() - t0, "compile_s": 0.0, "run_s": 0.0,
                       "io_s": 0.0, "steps": 0, "samples": 0}

    @staticmethod
    def _resolve_record(plan: LavaPlan, record) -> list[str]:
        """The neurons to record, in plan order: ``record`` (default all) plus the head's inputs."""
        if record is None:
            return list(plan.neurons)
        unknown = [r for r in record if r not in plan.neurons]
        if unknown:
            raise LavaMappingError(f"cannot record {unknown}: not LIF neurons of the graph",
                                   rule="lava record")
        need = set(record) | set(plan.head_neurons)  # the host head reads these
        return [n for n in plan.neurons if n in need]

    # ------------------------------------------------------------------ structure
    def _connection(self, op, what: str = "(delay line)"):
        """A Dense or Sparse process (one hop, no extra delay) for a matrix or elementwise op.

        Elementwise ops use ``Sparse`` only when large (more than :data:`SPARSE_FROM` units);
        convolutions unrolled into matrices and sparse operators (upsampling) always use
        ``Sparse``. A fixed-point plan's integer weights go in as an 8-bit mantissa and
        ``weight_exp`` (:mod:`.fixed`; ``what`` names the synapse in a refusal)."""
        lv = self.lv
        sparse = (isinstance(op, syn.DiagOp) and int(np.prod(op.in_shape)) > SPARSE_FROM
                  or isinstance(op, (syn.ConvOp, syn.SparseOp)))
        w = lava_matrix(op, sparse)
        extra = {}
        if self.plan.fixed:
            from . import fixed
            if sparse:
                w.data, extra["weight_exp"] = fixed.synapse_weights(w.data, what)
            else:
                w, extra["weight_exp"] = fixed.synapse_weights(w, what)
        if sparse:
            return lv.Sparse(weights=w, num_message_bits=GRADED, **extra)
        return lv.Dense(weights=w, num_message_bits=GRADED, **extra)

    def _tap(self, name: str, k: int):
        """A process whose ``a_out`` carries neuron ``name``'s spikes ``k >= 1`` steps late: tap
        ``k`` of a delay line of ``k`` identity hops, shared by every synapse that leaves ``name``
        with extra delay ``<= k``.

        Lava's ``DelayDense``/``DelaySparse`` rebuild their per-delay weight matrices at every step
        (measured here: 2.3 ms and 7.2 ms per step at 256 units, and over 1 s per step at 3,136
        units, which made delayed convolutions the bottleneck of a whole network); an identity hop
        costs a matrix-vector product."""
        shape = self.plan.neurons[name].shape
        # built from the shortest missing tap up, in a loop: a recursion would reach Python's
        # limit on long delays
        start = next((i for i in range(k, 0, -1) if (name, i) in self._taps), 0)
        for i in range(start + 1, k + 1):
            hop = self._connection(syn.identity(shape))
            if i == 1:
                _flat(self.lif[name].s_out, shape).connect(hop.s_in)
            else:
                self._taps[(name, i - 1)].a_out.connect(hop.s_in)
            self._taps[(name, i)] = hop
            self.conns.append(hop)
        return self._taps[(name, k)]

    def _tie_components(self) -> None:
        """Lava compiles only what is connected to the process it runs: join separate parts
        with zero-weight Sparse connections (one step, nothing transmitted)."""
        from scipy import sparse as sp
        parent = {n: n for n in self.plan.neurons}

        def find(a):
            while parent[a] != a:
                parent[a] = parent[parent[a]]
                a = parent[a]
            return a

        for s in self.plan.synapses:
            parent[find(s.src)] = find(s.dst)
        roots = list(dict.fromkeys(find(n) for n in self.plan.neurons))
        first = self.plan.neurons[roots[0]]
        for r in roots[1:]:
            other = self.plan.neurons[r]
            w = sp.csr_matrix((int(np.prod(first.shape)), int(np.prod(other.shape))))
            proc = self.lv.Sparse(weights=w)
            _flat(self.lif[r].s_out, other.shape).connect(proc.s_in)
            _shaped(proc.a_out, first.lava_shape).connect(self.lif[roots[0]].a_in)
            self.conns.append(proc)

    # ------------------------------------------------------------------ running
    def _run(self, k: int) -> None:
        if k <= 0:
            return
        t0 = time.perf_counter()
        self._runtime_proc.run(condition=self.lv.RunSteps(num_steps=k), run_cfg=self._cfg)
        self.timing["run_s"] += time.perf_counter() - t0
        self.timing["steps"] += k

    def _start(self) -> None:
        t0 = time.perf_counter()
        # Lava forks its processes here: they must die with this process and leave Ctrl-C to it
        self._guard = ForkGuard().open()
        before = set(multiprocessing.active_children())
        try:
            self._runtime_proc.create_runtime(run_cfg=self._cfg)
            self._started = True
        finally:
            self._children = [p for p in multiprocessing.active_children() if p not in before]
            if not self._started:
                self._kill_children()
        self.timing["compile_s"] = time.perf_counter() - t0

    def _clear_buffers(self) -> None:
        """Zero every synapse process's in-flight values (cyclic plans, between samples)."""
        for proc in self.conns:
            buf = proc.a_buf if hasattr(proc, "a_buf") else proc.a_buff
            buf.set(np.zeros(buf.shape))

    def run(self, x: np.ndarray):
        """Simulate every sample of ``x`` (``[B, *in]`` or ``[T, B, *in]``) and return a
        :class:`~.result.LavaResult`."""
        plan = self.plan
        x = as_sequence(plan.graph, x, plan.T)
        B, T, N = x.shape[1], plan.T, plan.steps
        t0 = time.perf_counter()
        currents = plan.host_currents(x)
        host_s = time.perf_counter() - t0
        if self._closed:
            raise RuntimeError("this LavaNetwork was closed; build a new one")
        if not self._started:
            self._start()
        spikes = {name: np.zeros((T, B) + tuple(plan.neurons[name].shape))
                  for name in self.record}
        for b in range(B):
            t0 = time.perf_counter()
            self._send(currents, b)
            self.timing["io_s"] += time.perf_counter() - t0
            self._run(N)
            t0 = time.perf_counter()
            self._receive(spikes, b)
            self.timing["io_s"] += time.perf_counter() - t0
            self.timing["samples"] += 1
        t0 = time.perf_counter()
        trace = plan.replay(x, {**self._silent(B), **spikes})
        host_s += time.perf_counter() - t0
        return LavaResult(spikes=spikes, output=trace.output, latency=dict(plan.latency),
                          trace=trace, host_s=host_s, timing=dict(self.timing))

    def _send(self, currents: dict[str, np.ndarray], b: int) -> None:
        """Queue sample ``b``'s host currents (``[T, B, *shape]`` per fed neuron) for one period:
        each neuron's IR steps at its latency, zeros elsewhere."""
        plan = self.plan
        if plan.cyclic and self.timing["samples"]:
            self._clear_buffers()
        for name, inj in self.sources.items():
            n, L = plan.neurons[name], plan.latency[name]
            cur = to_lava_layout(currents[name][:, b], n.shape)  # [T, *lava_shape]
            zero = np.zeros(n.lava_shape)
            for k in range(plan.steps):
                inj.send(cur[k - L] if L <= k < L + plan.T else zero)

    def _receive(self, spikes: dict[str, np.ndarray], b: int) -> None:
        """Read one period's spikes into ``spikes[name][:, b]`` (each neuron's IR window)."""
        plan = self.plan
        for name, ext in self.sinks.items():
            n, L = plan.neurons[name], plan.latency[name]
            got = [ext.receive() for _ in range(plan.steps)][L:L + plan.T]  # [T] x lava_shape
            spikes[name][:, b] = from_lava_layout(np.stack(got), n.shape)

    def _silent(self, B):
        """Unrecorded neurons replay as silent: none of them feeds the head."""
        return {n: np.zeros((self.plan.T, B) + tuple(v.shape))
                for n, v in self.plan.neurons.items()}

    def close(self, abort: bool = False) -> None:
        """Stop Lava's runtime (its OS processes); the network cannot run again. Safe to call
        twice. ``abort``: kill the processes instead of asking the runtime to stop (after an
        interrupted or failed run, when the runtime may never answer)."""
        try:
            if self._started and not abort:
                self._runtime_proc.stop()
        finally:
            self._started = False
            self._closed = True
            self._kill_children()

    def _kill_children(self) -> None:
        """SIGKILL whatever Lava forked that is still alive, reap it, and close the guard.

        The process models go first; then the shared-memory manager is asked to shut down, so
        that it unlinks its segments (killed, it would leave them to the resource tracker)."""
        children = getattr(self, "_children", [])
        runtime = getattr(self._runtime_proc, "_runtime", None)
        infra = getattr(runtime, "_messaging_infrastructure", None)
        actors = [p for p in getattr(infra, "actors", ()) if p in children]
        rest = [p for p in children if p not in actors]
        for k, group in enumerate((actors, rest)):
            group = [p for p in group if _alive(p)]
            for p in group:
                p.kill()
            for p in group:  # Lava's SystemProcess.join takes no timeout
                multiprocessing.Process.join(p, 5)
            if k == 0 and group and getattr(infra, "smm", None) is not None:
                try:
                    infra.smm.shutdown()
                except Exception:  # noqa: BLE001 - a manager already gone needs nothing more
                    pass
        self._children = []
        if getattr(self, "_guard", None) is not None:
            self._guard.close()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        self.close(abort=exc_type is not None)


def _alive(proc) -> bool:
    """``proc.is_alive()``, False for a process object already closed (Lava closes its own
    after joining them)."""
    try:
        return proc.is_alive()
    except ValueError:
        return False


#: Values of ``processes``: the whole network in one Lava process, or one per neuron/synapse.
PROCESSES = ("fused", "layer")


def resolve_processes(plan: LavaPlan, processes: str | None, conv: str = "sparse") -> str:
    """The process granularity to build: ``processes`` if given, else ``"fused"`` where the fused
    model computes what the per-layer processes compute (``conv="sparse"``, every neuron kind
    in :data:`.fused.NEURON_GROUPS` or, for fixed-point plans, :data:`.fused.FIXED_NEURON_GROUPS`;
    see :mod:`.fused` on the order of a neuron's inputs), else ``"layer"``. A mode the fused
    model does not implement must give a reason here, so that it falls back to ``"layer"``.

    Raises:
        LavaMappingError: ``processes="fused"`` for what the fused model cannot run exactly.
        ValueError: an unknown ``processes``.
    """
    from .fused import unsupported
    if processes not in (None,) + PROCESSES:
        raise ValueError(f"processes must be one of {PROCESSES}, got {processes!r}")
    why = ("convolutions as Lava Conv processes (conv='conv') compute in float32, which the "
           "fused model does not reproduce" if conv != "sparse" else unsupported(plan))
    if processes is None:
        return "layer" if why else "fused"
    if processes == "fused" and why:
        raise LavaMappingError(f"processes='fused': {why}; use processes='layer' (snnc lava "
                               f"--processes layer)",
                               rule="lava processes")
    return processes


def build(graph_or_plan, T: int | None = None, record=None, conv: str = "sparse",
          processes: str | None = None) -> LavaNetwork:
    """Lava processes for a graph (planned with :func:`.planning.plan`) or a ready plan.

    ``processes="fused"`` runs the whole network as ONE Lava process
    (:class:`.fused_process.FusedNetwork`: a few OS processes in all, spike for spike the
    per-layer mapping's semantics; see :mod:`.fused`); ``"layer"`` builds one Lava process per
    neuron, synapse and delay-line hop (below). Default (None): fused wherever it is exact
    (:func:`resolve_processes`: ``conv="sparse"``, LIF/ALIF or fixed-point LIF), else layer.

    ``conv="sparse"`` (default) unrolls each convolution into a ``Sparse`` synapse matrix over
    the flattened maps (as Loihi stores convolutional connectivity: one synapse list per core);
    ``conv="conv"`` uses Lava's ``Conv`` process instead. Both reproduce the reference spikes on
    the tests' graphs, but lava-nc 0.10's floating-point ``Conv`` model computes through
    ``torch.FloatTensor`` (float32) whenever torch is importable, so near-threshold membrane
    potentials can round differently; ``Sparse`` computes in float64. Measured on the demo's
    16/32-channel MNIST net (``python bench/lava_throughput.py``): about 0.13 s per image with
    ``sparse`` and 0.4 s with ``conv``.

    Raises:
        LavaMappingError: what :func:`.planning.plan` refuses; ``processes="fused"`` where
            :func:`resolve_processes` refuses it.
    """
    from .planning import plan as make_plan
    p = graph_or_plan if isinstance(graph_or_plan, LavaPlan) else make_plan(graph_or_plan, T)
    if conv not in ("sparse", "conv"):
        raise ValueError(f"conv must be 'sparse' or 'conv', got {conv!r}")
    if resolve_processes(p, processes, conv) == "fused":
        from .fused_process import FusedLavaNetwork
        return FusedLavaNetwork(p, record)
    return LavaNetwork(p, record, conv)
