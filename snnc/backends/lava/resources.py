"""Loihi 2 resources of a Lava plan: neurons, synapses, fan-in/out, synaptic memory, cores, chips.

:func:`estimate` reads a :class:`~.planning.LavaPlan` (numpy only; Lava is never imported) and
answers, before anything is simulated, how large the network is on a Loihi 2 chip and whether it
fits. Every number is computed from the plan as the Lava backend would deploy it; the core and chip
counts are an **estimate** under the per-core limits of :data:`LIMITS` (each with its public
source; several of them are Loihi 1 figures or derived, and are marked so).

What is counted, per layer (a LIF neuron node of the plan, or a delay-line relay):

* **neurons**: the layer's units.
* **synapses**: nonzero weights of every synapse process into the layer, *unrolled*: a
  convolution counts one synapse per (source neuron, target neuron) pair inside the map (padding
  taps excluded), as Loihi 1 stores convolutional connectivity (a synapse list per core, Davies
  et al. 2018) and as the Lava backend builds it by default (unrolled ``Sparse``,
  :func:`.build.build`). ``weights`` gives the distinct nonzero weights the ops hold (a
  convolution's kernel once), what a shared-weight format would store instead.
* **fan-in / fan-out**: per neuron, its incoming / outgoing nonzero synapses (max and mean).
* **synaptic memory**: per core, each synapse process costs the cheaper of a dense block
  (``axons x neurons x w`` bits) and a sparse list (``nnz x (w + ceil(log2 neurons))`` bits: the
  weight and the target's index on the core), ``w`` the weight width (default 8: Loihi 2's weight
  mantissa, the ``fixed_pt`` format of lava-nc's Dense/Sparse). Delays, tags and routing tables
  are not counted.
* **axons**: input axons of a core are the distinct source neurons with a synapse on it (one per
  source, per process); output axons of a core are its (neuron, destination core) pairs, plus one
  per neuron whose spikes the host reads (the head). A host-injected neuron (an injector: the
  analog first layer, time-varying biases) takes one input axon and one synapse.
* **delay lines**: a synapse whose Lava extra delay is ``e`` (:mod:`.planning`, point 4) reads its
  source through a chain of ``e`` identity hops, shared per source neuron (:mod:`.build`). On the
  chip each hop is a relay neuron per source neuron (one step each), so a source with longest
  extra delay ``E`` adds ``E`` relay layers of its size (rows ``<source>~k``; ``delays="relay"``,
  the default). ``delays="synaptic"`` holds each delay as a field of ``bit_length(e)`` bits on
  the delayed synapses instead (no relays), for a chip and compiler that store per-synapse delays.

**Packing** (an estimate, deterministic): layers never share a core. A layer of ``n`` neurons
starts at ``k = ceil(n / neurons_per_core)`` cores, its neurons cut into ``k`` contiguous
near-equal chunks along a unit order: *channel-major* (the IR's C-major order: whole channels per
core) or, for a feature map, *position-major* (Lava's ``(W, H, C)`` layout, channels fastest: all
channels of a strip of positions per core, which keeps a convolution's input axons local). While a
chunk exceeds a per-core limit (neurons, synaptic memory, input axons), ``k`` grows to
``max(k + 1, ceil(k * r))``, ``r`` the worst ratio of need to limit; the layer takes the order
that ends with fewer cores (channel-major on a tie). Output axons depend on how the targets are
split, so once every layer meets its input-side limits, a layer whose chunks exceed the
output-axon limit grows by the same rule (same order) and the pass repeats until nothing changes.
(A split of more than :data:`PROBE` chunks is first tried on a spread of them; only a speed-up.)
A layer with one neuron per core that still exceeds a limit makes the network **not fit** (named,
with the limit); every layer is still split and counted. ``cores_shared`` is the count when
chunks of different layers may share a core (first-fit decreasing). Chips: the most of
``ceil(cores / cores_per_chip)``, ``ceil(neurons / neurons_per_chip)`` and
``ceil(synapses / synapses_per_chip)``. A real compiler (lava-loihi, not public) packs
differently; the figures say whether a network is near a limit, not how Intel's tools would
place it.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from ...errors import BackendError
from ...ir.interpret import conv2d
from . import synapses as syn
from .planning import LavaPlan

SCHEMA = "snnc-lava-resources/1"


@dataclass(frozen=True)
class Loihi2Limits:
    """Per-core and per-chip limits the packing respects (sources: :data:`LIMITS`)."""

    neurons_per_core: int = 8192
    synapse_bits_per_core: int = 128 * 1024 * 8
    input_axons_per_core: int = 4096
    output_axons_per_core: int = 4096
    cores_per_chip: int = 128
    neurons_per_chip: int = 1_000_000
    synapses_per_chip: int = 120_000_000


@dataclass(frozen=True)
class LimitSource:
    """Where a limit comes from; ``estimate``: not a published Loihi 2 per-core figure."""

    unit: str
    source: str
    estimate: bool


#: The public source of every limit of :class:`Loihi2Limits`.
LIMITS: dict[str, LimitSource] = {
    "neurons_per_core": LimitSource(
        "neurons",
        "Intel, 'Taking Neuromorphic Computing to the Next Level with Loihi 2', technology brief "
        "(2021): up to 8,192 neurons per core (1,024 on Loihi), i.e. 1 million neurons over 128 "
        "cores", False),
    "synapse_bits_per_core": LimitSource(
        "bits",
        "Davies et al., 'Loihi: A Neuromorphic Manycore Processor with On-Chip Learning', IEEE "
        "Micro 38(1), 2018: 128 KB of synaptic memory per core on Loihi (also nengo-loihi's "
        "MAX_SYNAPSE_BITS = 16384 * 64). Loihi 2 partitions each core's memory flexibly between "
        "synapses, neuron state and routing (Loihi 2 brief, 2021) and publishes no fixed synaptic "
        "share: 128 KiB for synapses is our estimate", True),
    "input_axons_per_core": LimitSource(
        "axons",
        "Davies et al. 2018 (IEEE Micro): 4,096 fan-in axons per Loihi core (nengo-loihi "
        "MAX_IN_AXONS = 4096); Loihi 2 publishes no per-core figure: the Loihi value is our "
        "estimate", True),
    "output_axons_per_core": LimitSource(
        "axons",
        "Davies et al. 2018 (IEEE Micro): 4,096 fan-out axons per Loihi core (nengo-loihi "
        "MAX_OUT_AXONS = 4096); Loihi 2 publishes no per-core figure: the Loihi value is our "
        "estimate", True),
    "cores_per_chip": LimitSource(
        "cores",
        "Loihi 2 brief (2021): 128 neuromorphic cores per chip (and 6 embedded x86 cores); "
        "lava-nc 0.10.0 maps 128 virtual cores per Loihi 2 chip "
        "(lava.magma.compiler.subcompilers.constants.NUM_VIRTUAL_CORES_L2)", False),
    "neurons_per_chip": LimitSource(
        "neurons", "Loihi 2 brief (2021): up to 1 million neurons per chip", False),
    "synapses_per_chip": LimitSource(
        "synapses", "Loihi 2 brief (2021): up to 120 million synapses per chip", False),
}

#: Default weight width: the 8-bit weight mantissa of Loihi 2's fixed-point synapses
#: (lava-nc 0.10.0 Dense/Sparse: "full 8 bit precision" by default).
WEIGHT_BITS = 8

#: Chunks probed before a large split is evaluated in full (:meth:`_Packer._grow`): only a
#: speed-up; every chunk of the final split is checked.
PROBE = 32

#: Largest ``chunks x (sources + targets)`` whose chunk masks are transposed through a
#: convolution at once (:meth:`_Conn.reach`; larger splits go chunk by chunk on bounding boxes).
SMALL = 2 ** 22

#: How Lava extra delays are held on the chip (:func:`estimate`'s ``delays``).
DELAYS = ("relay", "synaptic")

#: Name of the host (injector) source in the connection list.
HOST = "<host>"


# ---------------------------------------------------------------------------------- connections
class _Conn:
    """One synapse process as connectivity: which (source, target) unit pairs carry a nonzero
    weight. Units are C-major flattened (the IR layout; Lava's layout is a permutation, which
    changes no count)."""

    def __init__(self, src: str, dst: str, op: syn.Operator | None, n_src: int, n_dst: int,
                 delay_bits: int = 0):
        self.src, self.dst, self.n_src, self.n_dst = src, dst, n_src, n_dst
        self.op, self.delay_bits = op, delay_bits
        if op is None or isinstance(op, syn.DiagOp):  # identity / elementwise (same index order)
            nz = np.ones(n_dst, bool) if op is None else (op.d.reshape(-1) != 0)
            self._diag = nz
            self.fan_in = nz.astype(np.int64)
            self.fan_out = nz.astype(np.int64)
            self.weights = int(nz.sum())
        elif isinstance(op, syn.ConvOp):
            ind = replace(op, weight=(op.weight != 0).astype(np.float64))
            self._conv = ind
            self._full = ind.full_weight()
            ones = np.ones((1,) + tuple(op.in_shape))
            fi = conv2d(ones, ind.weight, None, op.stride, op.padding, op.groups)
            self.fan_in = np.rint(fi).astype(np.int64).reshape(-1)
            fo = ind.adjoint(np.ones((1,) + tuple(op.map_shape)))
            self.fan_out = np.rint(fo).astype(np.int64).reshape(-1)
            self.weights = int(np.count_nonzero(op.weight))
        else:  # DenseOp (numpy) or SparseOp (scipy CSR: upsampling and what composes with it)
            nz = op.matrix != 0
            self._dense = nz
            self.fan_in = np.asarray(nz.sum(1)).reshape(-1).astype(np.int64)
            self.fan_out = np.asarray(nz.sum(0)).reshape(-1).astype(np.int64)
            self.weights = int(nz.sum())
        if self.fan_in.size != n_dst or self.fan_out.size != n_src:  # pragma: no cover - plan bug
            raise AssertionError(f"connection {src} -> {dst}: sizes disagree with the op")

    @property
    def synapses(self) -> int:
        return int(self.fan_in.sum())

    def reach(self, order: np.ndarray, starts: np.ndarray, sizes: np.ndarray):
        """For the target split into chunks (units ``order[start : start + size]``):
        ``(axons [k], touch [n_src])``, the distinct source units with a nonzero synapse onto
        each chunk, and for each source unit the number of chunks it reaches. Cost: about one
        pass over the synapses (a convolution per chunk on its bounding box only)."""
        k = len(starts)
        if hasattr(self, "_conv") and k * (self.n_src + self.n_dst) <= SMALL:
            # small: one transposed convolution of every chunk's mask at once
            masks = np.zeros((k, self.n_dst))
            for i, (a, n) in enumerate(zip(starts, sizes)):
                masks[i, order[a:a + n]] = 1.0
            hit = self._conv.adjoint(masks.reshape((k,) + tuple(self._conv.map_shape)))
            hit = hit.reshape(k, -1) > 0.5
            return hit.sum(1).astype(np.int64), hit.sum(0).astype(np.int64)
        axons = np.zeros(k, np.int64)
        touch = np.zeros(self.n_src, np.int64)
        for i, (a, n) in enumerate(zip(starts, sizes)):
            rows = order[a:a + n]
            if hasattr(self, "_diag"):
                hit = rows[self._diag[rows]]
            elif hasattr(self, "_conv"):
                hit = self._conv_sources(rows)
            else:
                hit = np.flatnonzero(np.asarray(self._dense[rows].sum(0)).reshape(-1))
            axons[i] = hit.size
            touch[hit] += 1
        return axons, touch

    def _conv_sources(self, rows: np.ndarray) -> np.ndarray:
        """Flat indices of the input units with a nonzero tap onto output units ``rows``: the
        transposed convolution of the rows' mask, computed on its bounding box."""
        op = self._conv
        o_n, ho, wo = op.map_shape
        c_n, h, w = op.in_shape
        kk, st, pd = op.kernel, op.stride, op.padding
        oc, y, x = np.unravel_index(rows, (o_n, ho, wo))
        o0, y0, x0 = oc.min(), y.min(), x.min()
        g = np.zeros((oc.max() - o0 + 1, y.max() - y0 + 1, x.max() - x0 + 1))
        g[oc - o0, y - y0, x - x0] = 1.0
        wt = self._full[o0:o0 + g.shape[0]]  # [O_box, C, k, k]
        ys, xs = y0 * st - pd, x0 * st - pd  # input coordinates of the box's first tap
        acc = np.zeros((c_n, (g.shape[1] - 1) * st + kk, (g.shape[2] - 1) * st + kk))
        for i in range(kk):
            for j in range(kk):
                acc[:, i:i + st * (g.shape[1] - 1) + 1:st, j:j + st * (g.shape[2] - 1) + 1:st] += \
                    np.tensordot(wt[:, :, i, j], g, axes=([0], [0]))
        # keep what falls inside the input map (the rest is zero padding)
        iy, ix = np.arange(acc.shape[1]) + ys, np.arange(acc.shape[2]) + xs
        acc = acc[:, (iy >= 0) & (iy < h)][:, :, (ix >= 0) & (ix < w)]
        iy, ix = iy[(iy >= 0) & (iy < h)], ix[(ix >= 0) & (ix < w)]
        c, a, b = np.nonzero(acc > 0.5)
        return (c * h + iy[a]) * w + ix[b]


# ---------------------------------------------------------------------------------- report
@dataclass
class LayerResources:
    """One layer's resources (units: neurons, synapses, bits; fan-in/out per neuron).

    ``kind``: ``"LIF"`` or ``"delay"`` (a delay-line relay of ``source``); ``injected``: the host
    feeds it through an injector; ``weights``: distinct nonzero weights of its incoming ops;
    ``memory_bits``: synaptic memory over its cores; ``input_axons``/``output_axons``: the most on
    one of its cores; ``binding``: the limit that set its core count (``"-"`` for one core that
    no limit forced); ``split``: the unit order its cores were cut along (:func:`_orders`);
    ``over_limit``: why it does not fit even at one neuron per core ("" when it fits)."""

    name: str
    kind: str
    shape: tuple[int, ...]
    neurons: int
    synapses: int
    weights: int
    fan_in_max: int
    fan_in_mean: float
    fan_out_max: int
    fan_out_mean: float
    memory_bits: int
    input_axons: int
    output_axons: int
    cores: int
    binding: str
    injected: bool = False
    source: str = ""
    split: str = ""
    over_limit: str = ""


@dataclass
class ResourceReport:
    """:func:`estimate`'s answer; :meth:`to_dict` is the JSON form (schema :data:`SCHEMA`)."""

    layers: list[LayerResources]
    limits: Loihi2Limits
    weight_bits: int
    cores: int
    chips: int
    fits: bool
    reason: str = ""
    model: str = ""
    T: int = 0
    notes: list[str] = field(default_factory=list)
    delays: str = "relay"
    cores_shared: int = 0
    chips_shared: int = 0

    @property
    def totals(self) -> dict:
        L = self.layers
        return {"neurons": sum(x.neurons for x in L), "synapses": sum(x.synapses for x in L),
                "weights": sum(x.weights for x in L),
                "memory_bits": sum(x.memory_bits for x in L),
                "delay_neurons": sum(x.neurons for x in L if x.kind == "delay"),
                "layers": len(L), "cores": self.cores, "chips": self.chips,
                "cores_shared": self.cores_shared, "chips_shared": self.chips_shared}

    def verdict(self) -> str:
        """``fits on N chip(s) (C cores; S if small layers share cores)`` or ``does not fit:
        reason``."""
        if not self.fits:
            return f"does not fit: {self.reason}"
        return (f"fits on {self.chips} chip{'s' if self.chips != 1 else ''} ({self.cores} cores; "
                f"{self.cores_shared} if small layers share cores)")

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "model": self.model, "T": self.T,
                "weight_bits": self.weight_bits, "delays": self.delays, "fits": self.fits,
                "reason": self.reason,
                "verdict": self.verdict(), "cores": self.cores, "chips": self.chips,
                "cores_shared": self.cores_shared, "chips_shared": self.chips_shared,
                "totals": self.totals,
                "layers": [dict(asdict(x), shape=list(x.shape)) for x in self.layers],
                "limits": {f.name: {"value": getattr(self.limits, f.name),
                                    **asdict(LIMITS[f.name])} for f in fields(self.limits)},
                "notes": list(self.notes)}


# ---------------------------------------------------------------------------------- estimate
def _size(shape) -> int:
    return int(np.prod(shape))


def _layers_and_conns(plan: LavaPlan, delays: str):
    """Layers (name -> (kind, shape, source)) in plan order, relays after their source, and the
    connections: delay-line hops (``delays="relay"``) or delay fields on the synapses
    (``"synaptic"``), and host injections."""
    layers: dict[str, tuple[str, tuple[int, ...], str]] = {}
    longest = {}
    for s in plan.synapses:
        if not s.direct and s.extra > 0:
            longest[s.src] = max(longest.get(s.src, 0), s.extra)
    relay = delays == "relay"
    conns: list[_Conn] = []
    for name, n in plan.neurons.items():
        layers[name] = ("LIF", tuple(n.shape), "")
        size = _size(n.shape)
        for k in range(1, (longest.get(name, 0) if relay else 0) + 1):
            hop, prev = f"{name}~{k}", name if k == 1 else f"{name}~{k - 1}"
            layers[hop] = ("delay", tuple(n.shape), name)
            conns.append(_Conn(prev, hop, None, size, size))
    for s in plan.synapses:
        delayed = not s.direct and s.extra > 0
        src = f"{s.src}~{s.extra}" if delayed and relay else s.src
        n_src, n_dst = _size(plan.neurons[s.src].shape), _size(plan.neurons[s.dst].shape)
        conns.append(_Conn(src, s.dst, None if s.direct else s.op, n_src, n_dst,
                           int(s.extra).bit_length() if delayed and not relay else 0))
    for name in plan.fed:
        n = _size(plan.neurons[name].shape)
        conns.append(_Conn(HOST, name, None, n, n))
    return layers, conns


def _chunks(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Start index and size of ``k`` contiguous near-equal chunks of ``n`` units."""
    sizes = np.full(k, n // k, dtype=np.int64)
    sizes[: n % k] += 1
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes


def _orders(shape) -> dict[str, np.ndarray]:
    """The unit orders a layer may be split in: ``channel-major`` (the IR's C-major order: whole
    channels per core) and, for a feature map, ``position-major`` (Lava's ``(W, H, C)`` layout,
    channels fastest: all channels of a strip of positions per core)."""
    n = _size(shape)
    out = {"channel-major": np.arange(n)}
    if len(shape) == 3:
        c, h, w = shape
        out["position-major"] = np.arange(n).reshape(c, h, w).transpose(2, 1, 0).reshape(-1)
    return out


def _worst(lim: Loihi2Limits, sizes, mem, axons) -> tuple[str, float]:
    """The input-side limit the chunks exceed most, and by what ratio of need to limit."""
    ratios = {"neurons_per_core": sizes.max() / lim.neurons_per_core,
              "synapse_bits_per_core": mem.max() / lim.synapse_bits_per_core,
              "input_axons_per_core": axons.max() / lim.input_axons_per_core}
    worst = max(ratios, key=lambda r: ratios[r])
    return worst, float(ratios[worst])


class _Packer:
    def __init__(self, layers, conns, limits: Loihi2Limits, weight_bits: int):
        self.layers, self.conns, self.lim, self.w = layers, conns, limits, weight_bits
        self.into = {n: [c for c in conns if c.dst == n] for n in layers}
        self.out_of = {n: [c for c in conns if c.src == n] for n in layers}
        self.k: dict[str, int] = {}
        self.order: dict[str, tuple[str, np.ndarray]] = {}
        self.binding: dict[str, str] = {}
        # id(conn) -> [n_src]: how many of its target's chunks each source unit reaches (the
        # target's current split)
        self.touch: dict[int, np.ndarray] = {}
        self.in_axons: dict[str, int] = {}
        self.memory: dict[str, int] = {}
        self.load: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}  # per chunk
        self.failures: dict[str, str] = {}  # layer -> why it does not fit even 1 neuron/core

    def input_side(self, name: str, k: int, order: np.ndarray, pick=None):
        """Per-chunk neurons, memory bits and input axons of ``name`` split in ``k`` along
        ``order`` (only the chunks ``pick``, if given), and per connection the chunks each
        source unit reaches."""
        starts, sizes = _chunks(order.size, k)
        if pick is not None:
            starts, sizes = starts[pick], sizes[pick]
        idx = np.maximum(1, np.ceil(np.log2(np.maximum(sizes, 2)))).astype(np.int64)
        mem = np.zeros(len(starts), np.int64)
        axons = np.zeros(len(starts), np.int64)
        touch = {}
        for c in self.into[name]:
            a, t = c.reach(order, starts, sizes)
            touch[id(c)] = t
            cum = np.concatenate([[0], np.cumsum(c.fan_in[order])])
            nnz = cum[starts + sizes] - cum[starts]
            w = self.w + c.delay_bits
            mem += np.minimum(a * sizes * w, nnz * (w + idx))
            axons += a
        return sizes, mem, axons, touch

    def pack_input(self, name: str, k: int, orders=None) -> None:
        """Split ``name`` into the fewest cores the growth rule reaches from ``k``, in the order
        (of ``orders``, default all of :func:`_orders`) that needs fewest; ties: the first."""
        best = None
        orders = orders or _orders(self.layers[name][1])
        for label, order in orders.items():
            got = self._grow(name, k, order)
            if best is None or (got[0] and not best[0]) or (got[0] == best[0] and got[1] < best[1]):
                best = got + (label, order)
        ok, k, binding, failure, axons, mem, touch, label, order = best
        self.load[name] = (_chunks(order.size, k)[1], mem, axons)
        if binding:
            self.binding[name] = binding
        if failure:
            self.failures[name] = failure
        else:
            self.failures.pop(name, None)
        self.k[name] = k
        self.order[name] = (label, order)
        self.touch.update(touch)
        self.in_axons[name] = int(axons.max())
        self.memory[name] = int(mem.sum())

    def _grow(self, name: str, k: int, order: np.ndarray):
        lim = self.lim
        n = order.size
        k = max(1, min(n, k))
        binding, failure = "", ""
        while True:
            if k > PROBE:
                # a spread of chunks first: the split is near-uniform, so a probe over a few
                # chunks that is already over a limit spares evaluating all of them
                pick = np.unique(np.linspace(0, k - 1, PROBE).round().astype(np.int64))
                worst, r = _worst(lim, *self.input_side(name, k, order, pick)[:3])
                if r > 1.0 and k < n:
                    k = min(n, max(k + 1, math.ceil(k * r)))
                    binding = worst
                    continue
            sizes, mem, axons, touch = self.input_side(name, k, order)
            worst, r = _worst(lim, sizes, mem, axons)
            if r <= 1.0:
                break
            if k == n:
                need = {"neurons_per_core": 1, "synapse_bits_per_core": int(mem.max()),
                        "input_axons_per_core": int(axons.max())}[worst]
                failure = (f"a single neuron of layer {name!r} needs {need:,} "
                           f"{LIMITS[worst].unit} on its core; the limit is "
                           f"{getattr(lim, worst):,} ({worst})")
                break
            k = min(n, max(k + 1, math.ceil(k * r)))
            binding = worst
        return not failure, k, binding, failure, axons, mem, touch

    def output_axons(self, name: str, head: set[str]) -> np.ndarray:
        n = _size(self.layers[name][1])
        starts, _ = _chunks(n, self.k[name])
        per_unit = np.ones(n, np.int64) if name in head else np.zeros(n, np.int64)
        for c in self.out_of[name]:
            if id(c) in self.touch:  # its target is packed (always, unless packing failed)
                per_unit += self.touch[id(c)]
        return np.add.reduceat(per_unit[self.order[name][1]], starts)

    def run(self, head: set[str]) -> None:
        lim = self.lim
        for name in self.layers:
            n = _size(self.layers[name][1])
            k0 = math.ceil(n / lim.neurons_per_core)
            self.binding[name] = "neurons_per_core" if k0 > 1 else "-"
            self.pack_input(name, k0)
        for _ in range(sum(_size(v[1]) for v in self.layers.values())):
            grew = False
            for name in self.layers:
                if name in self.failures:
                    continue
                out = self.output_axons(name, head)
                r = out.max() / lim.output_axons_per_core
                if r <= 1.0:
                    continue
                n, k = _size(self.layers[name][1]), self.k[name]
                if k == n:
                    self.failures[name] = (
                        f"a single neuron of layer {name!r} needs {int(out.max()):,} output "
                        f"axons; the limit is {lim.output_axons_per_core:,} (output_axons_per_core)")
                    continue
                self.binding[name] = "output_axons_per_core"
                label, order = self.order[name]
                self.pack_input(name, max(k + 1, math.ceil(k * r)), {label: order})
                grew = True
            if not grew:
                return

    @property
    def failure(self) -> str:
        """Why the network does not fit ("" if it does): the first layer over a limit."""
        if not self.failures:
            return ""
        first = next(iter(self.failures.values()))
        more = len(self.failures) - 1
        return first + (f" (and {more} more layer{'s' if more > 1 else ''})" if more else "")


def _shared_cores(packer: "_Packer", head: set[str]) -> int:
    """Cores when chunks of different layers may share a core: first-fit decreasing over every
    chunk's (neurons, memory, input axons, output axons), each summed per core and kept within
    its limit: the figure for a compiler that packs small layers together. A source neuron that
    two chunks on one core both read is counted as two input axons."""
    lim = packer.lim
    cap = np.array([lim.neurons_per_core, lim.synapse_bits_per_core, lim.input_axons_per_core,
                    lim.output_axons_per_core], np.float64)
    items = []
    for i, name in enumerate(packer.k):
        sizes, mem, axons = packer.load[name]
        out = packer.output_axons(name, head)
        for j in range(len(sizes)):
            v = np.array([sizes[j], mem[j], axons[j], out[j]], np.float64)
            items.append((-float((v / cap).max()), i, j, v))
    items.sort(key=lambda t: t[:3])
    used = np.zeros((0, 4))
    for *_, v in items:
        free = np.flatnonzero(np.all(used + v <= cap, axis=1))
        if free.size:
            used[free[0]] += v
        else:
            used = np.vstack([used, v])
    return len(used)


def estimate(plan: LavaPlan, *, limits: Loihi2Limits | None = None,
             weight_bits: int = WEIGHT_BITS, delays: str = "relay",
             model: str = "") -> ResourceReport:
    """Loihi 2 resources of ``plan`` (module docstring: what is counted, the packing rule).

    Args:
        plan: a :class:`~.planning.LavaPlan` (``planning.plan(graph)``).
        limits: per-core and per-chip limits (default :class:`Loihi2Limits`, sources
            :data:`LIMITS`).
        weight_bits: bits per stored weight (default 8, the Loihi 2 weight mantissa).
        delays: how a synapse's Lava extra delay is held: ``"relay"`` (default: a chain of relay
            neurons per source, as the Lava backend builds delay lines) or ``"synaptic"`` (a
            delay field of ``bit_length(extra)`` bits on each delayed synapse, for a chip and
            compiler that store per-synapse delays: lava-nc's ``DelayDense``/``DelaySparse``
            express them; how Intel's Loihi 2 compiler maps them is not public).
        model: a label for the report.
    Returns:
        :class:`ResourceReport`: per layer neurons, synapses (unrolled), fan-in/out, synaptic
        memory (bits), axons and cores; totals; cores and chips; whether it fits.
    Raises:
        BackendError: ``weight_bits`` outside ``1..64``, an unknown ``delays`` or a limit below 1.
    """
    limits = limits or Loihi2Limits()
    if delays not in DELAYS:
        raise BackendError(f"delays must be one of {', '.join(DELAYS)}, got {delays!r}",
                           rule="lava resources", backend="Lava")
    if not 1 <= int(weight_bits) <= 64:
        raise BackendError(f"weight_bits must be in 1..64, got {weight_bits}",
                           rule="lava resources", backend="Lava")
    bad = [f.name for f in fields(limits) if getattr(limits, f.name) < 1]
    if bad:
        raise BackendError(f"Loihi 2 limits must be >= 1: {', '.join(bad)}",
                           rule="lava resources", backend="Lava")
    layers, conns = _layers_and_conns(plan, delays)
    packer = _Packer(layers, conns, limits, int(weight_bits))
    head = set(plan.head_neurons)
    packer.run(head)
    shared = _shared_cores(packer, head)

    rows = []
    for name, (kind, shape, source) in layers.items():
        n = _size(shape)
        inc = [c for c in packer.into[name] if c.src != HOST]
        fan_in = sum((c.fan_in for c in inc), np.zeros(n, np.int64))
        fan_out = sum((c.fan_out for c in packer.out_of[name]), np.zeros(n, np.int64))
        out_ax = packer.output_axons(name, head) if name in packer.k else np.zeros(1, np.int64)
        rows.append(LayerResources(
            name=name, kind=kind, shape=shape, neurons=n,
            synapses=sum(c.synapses for c in inc), weights=sum(c.weights for c in inc),
            fan_in_max=int(fan_in.max()), fan_in_mean=float(fan_in.mean()),
            fan_out_max=int(fan_out.max()), fan_out_mean=float(fan_out.mean()),
            memory_bits=packer.memory.get(name, 0), input_axons=packer.in_axons.get(name, 0),
            output_axons=int(out_ax.max()), cores=packer.k.get(name, 0),
            binding=packer.binding.get(name, "-"), injected=name in plan.fed, source=source,
            split=packer.order[name][0] if name in packer.order else "",
            over_limit=packer.failures.get(name, "")))
    cores = sum(r.cores for r in rows)
    n_neurons, n_synapses = sum(r.neurons for r in rows), sum(r.synapses for r in rows)

    def chips(c):
        return max(math.ceil(c / limits.cores_per_chip), math.ceil(n_neurons /
                   limits.neurons_per_chip), math.ceil(n_synapses / limits.synapses_per_chip), 1)

    held = "relay neurons" if delays == "relay" else "synaptic delay fields"
    notes = ["an estimate: layers never share a core (cores_shared: chunks of small layers "
             f"packed together); convolutions counted unrolled; {weight_bits}-bit weights; "
             f"delays as {held}"]
    return ResourceReport(rows, limits, int(weight_bits), cores, chips(cores), not packer.failure,
                          packer.failure, model, plan.T, notes, delays=delays,
                          cores_shared=shared, chips_shared=chips(shared) if shared else 0)
