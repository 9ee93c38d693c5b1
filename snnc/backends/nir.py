"""IR <-> NIR (Neuromorphic Intermediate Representation, nir 1.0.8) graphs.

NIR neurons are continuous-time; snnc's are discrete (docs/ARCHITECTURE.md, "The canonical spiking neuron")::

    H[t] = v_rest + beta (V[t-1] - v_rest) + alpha X[t];   S[t] = H[t] > v_th;   V[t] = v_reset if S

NIR's LIF is ``tau dv/dt = (v_leak - v) + r I``, spiking when ``v > v_threshold`` and resetting to
``v_reset``. One forward-Euler step of length ``dt`` gives::

    v[t] = (1 - dt/tau) v[t-1] + (dt/tau) v_leak + (r dt/tau) I[t]

which is the canonical neuron exactly when::

    tau = dt / (1 - beta)      r = alpha tau / dt = alpha / (1 - beta)      v_leak = v_rest

(``beta = 1 - dt/tau``, ``alpha = r dt/tau``). The canonical neuron starts at ``V[-1] = v_rest``;
NIR leaves the initial state to the consumer and every one we tested starts at 0 (snnTorch also
requires ``v_leak = 0``). So the export measures potentials from ``v_rest``: ``v' = V - v_rest``
obeys the same equation with ``v_rest' = 0``, ``v_th' = v_th - v_rest``, ``v_reset' = v_reset -
v_rest`` and starts at 0, which gives the same spikes; the file holds ``v_leak = 0`` and the
shifted threshold and reset. An import maps ``v_leak`` to ``v_rest`` (and so starts at
``v_leak``). ``beta = 1`` (no leak, tau infinite) is NIR's IF,
``dv/dt = r I``: ``v[t] = v[t-1] + r dt I[t]``, so ``r = alpha / dt``. The step ``dt`` (seconds) is
stored in the file's graph metadata (``dt``, with ``T``, ``encoding``, ``classes``); a consumer that
steps with that ``dt`` by forward Euler reproduces snnc's spikes. NIR has a hard reset only, so a
soft-reset neuron (``reset="soft"``) is refused. A CubaLIF whose synaptic time constant equals ``dt``
has ``I[t] = w_in X[t]`` after one Euler step (its current forgets its past), so it imports as the
canonical neuron with ``alpha = w_in r dt / tau_mem``; any other CubaLIF has a second state and is
refused.

Synaptic delays: an edge ``src -> dst`` with delay ``d`` becomes ``src -> Delay(d dt) -> dst`` (one
``nir.Delay`` node per source and delay, named ``<src>.delay<d>``, shared by its readers). Backward
edges (delay >= 1) therefore become graph cycles through a Delay node. Consumers that break a cycle
by reading the previous step's output (nirtorch-based importers) add one step of their own;
``implicit_cycle_delay=True`` exports for them: a backward edge on a cycle shrinks by one step
(delay 1 becomes a plain edge that closes the cycle). The metadata lists the backward edges
(:data:`BACKWARD_EDGES`) and the shortened ones (:data:`IMPLICIT_EDGES`), so :func:`from_nir`
restores both exactly. In a file without these lists a delayed edge on no cycle is forward, and
a cycle without a Delay node gets one step on the output edge of its last spiking neuron, where
snnTorch's RLeaky has it (the recurrent Affine's bias then acts from t = 0). Import refuses a
neuron with ``tau < dt`` (beta < 0).

Ops beyond NIR's primitives map onto compositions: GlobalAvgPool -> AvgPool2d (kernel = H x W) +
Flatten, Vote -> a fixed nir.Linear (block averaging), a BatchNorm2d that the ``deploy`` pipeline
could not fold -> a diagonal 1x1 Conv2d (or Affine), a grouped Conv2d -> the equal dense Conv2d.
Concat, Dropout (run ``deploy`` first) and soft reset are refused by node name. Each direction
dispatches through one table: :data:`EXPORT` (IR op -> NIR nodes) and :data:`IMPORT` (NIR node
type -> IR nodes), refusals included with their reasons. Imports map
``SumPool2d`` to AvgPool2d + Scale(k*k), and an AvgPool2d whose kernel covers its whole input and
feeds only Flatten nodes to GlobalAvgPool.

Per-neuron parameter arrays are written full (NIR's convention); snnc neurons share one value per
node, so an imported array must be uniform.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import NirError, SnncError
from ..ir.choices import UNRESOLVED
from ..ir.loihi import DEPLOY_ONLY
from ..ir.graph import BACKWARD, Graph
from ..ir.verify import verify
from ..optable import OpTable
from ..optional import require

__all__ = ["NirError", "DEFAULT_DT", "to_nir", "from_nir", "export_nir", "import_nir",
           "lif_to_nir_params", "nir_params_to_lif"]

#: Default Euler step (seconds): the one snnTorch's NIR importer hard-codes.
DEFAULT_DT = 1e-4

#: Graph metadata keys written by :func:`to_nir`: the edges the IR marks backward, and those an
#: ``implicit_cycle_delay`` export shortened; one ``"src -> dst @d"`` a line (NIR node names of
#: the edge's real ends, ``d`` the steps of Delay between them in the file).
BACKWARD_EDGES = "backward_edges"
IMPLICIT_EDGES = "implicit_cycle_edges"

_SPIKING = ("LIF", "ALIF", "PLIF")

_REL = 1e-6  # relative tolerance for "uniform" parameter arrays and integral delays


def _nir():
    return require("nir", feature="NIR support", extra="interop")


# ------------------------------------------------------------------ neuron mapping
@dataclass(frozen=True)
class NirNeuron:
    """NIR parameters of one canonical neuron: ``kind`` is ``"LIF"`` or ``"IF"`` (``tau`` is
    ``inf`` for IF)."""

    kind: str
    tau: float
    r: float
    v_leak: float
    v_threshold: float
    v_reset: float


def lif_to_nir_params(attrs: dict, dt: float, name: str = "?") -> NirNeuron:
    """Continuous-time parameters whose forward-Euler step ``dt`` (seconds) is the canonical
    neuron ``attrs`` (module docstring): ``tau = dt / (1 - beta)``, ``r = alpha / (1 - beta)``, or
    for ``beta = 1`` an IF with ``r = alpha / dt``; threshold and reset measured from ``v_rest``.

    Raises:
        NirError: soft reset, or beta outside [0, 1] (no positive time constant), naming ``name``.
    """
    beta, alpha = float(attrs["beta"]), float(attrs.get("alpha", 1.0))
    if attrs.get("reset", "hard") != "hard":
        raise NirError(f"node {name!r} (LIF reset='soft'): NIR neurons reset to v_reset (hard "
                       f"reset); a subtractive reset cannot be expressed")
    if not 0.0 <= beta <= 1.0:
        raise NirError(f"node {name!r} (LIF beta={beta}): NIR's leak needs 0 <= beta <= 1 "
                       f"(tau = dt / (1 - beta) > 0)")
    v_th, v_reset, v_rest = (float(attrs.get(k, d)) for k, d in
                             (("v_th", 1.0), ("v_reset", 0.0), ("v_rest", 0.0)))
    v_th, v_reset = v_th - v_rest, v_reset - v_rest  # potentials measured from v_rest
    if beta == 1.0:
        return NirNeuron("IF", math.inf, alpha / dt, 0.0, v_th, v_reset)
    tau = dt / (1.0 - beta)
    return NirNeuron("LIF", tau, alpha / (1.0 - beta), 0.0, v_th, v_reset)


def nir_params_to_lif(kind: str, p: dict[str, float], dt: float) -> dict[str, Any]:
    """Canonical neuron attributes (beta, alpha, v_th, v_reset, v_rest) of a NIR ``LIF``, ``IF``
    or (degenerate, tau_syn = dt) ``CubaLIF`` with scalar parameters ``p``."""
    if kind == "IF":
        return {"beta": 1.0, "alpha": p["r"] * dt, "v_th": p["v_threshold"],
                "v_reset": p["v_reset"], "v_rest": 0.0}
    tau = p["tau_mem"] if kind == "CubaLIF" else p["tau"]
    alpha = p["r"] * dt / tau * (p.get("w_in", 1.0) if kind == "CubaLIF" else 1.0)
    return {"beta": 1.0 - dt / tau, "alpha": alpha, "v_th": p["v_threshold"],
            "v_reset": p["v_reset"], "v_rest": p["v_leak"]}


# ------------------------------------------------------------------ export
def _full(shape, value) -> np.ndarray:
    return np.full(tuple(shape), float(value), dtype=np.float64)


def _vote_matrix(classes: int, population: int) -> np.ndarray:
    """The Vote op as a matrix: class k averages units k*g .. (k+1)*g-1, g = population/classes."""
    g = population // classes
    w = np.zeros((classes, population))
    for k in range(classes):
        w[k, k * g:(k + 1) * g] = 1.0 / g
    return w


def _dense_conv_weight(w: np.ndarray, groups: int) -> np.ndarray:
    """A grouped convolution's weight ``[O, I/groups, k, k]`` as the equal dense ``[O, I, k, k]``
    (zeros between groups): nir 1.0.8's type inference takes ``weight.shape[1]`` as the input
    channels, so ``nir.read`` rejects files with grouped convolutions."""
    if groups == 1:
        return w
    o, cg, k, _ = w.shape
    dense = np.zeros((o, cg * groups, k, k), dtype=w.dtype)
    og = o // groups
    for g in range(groups):
        dense[g * og:(g + 1) * og, g * cg:(g + 1) * cg] = w[g * og:(g + 1) * og]
    return dense


def _export_error(table: OpTable, name: str, op: str, reason: str) -> "NirError":
    return NirError(f"node {name!r} ({op}): NIR has no primitive for {op}; {reason}", node=name,
                    op=op, backend=table.backend)


#: IR op -> ``export(nir, node, in_shape, dt)``: the NIR nodes ``[(name, node), ...]`` of one IR
#: node, first to last along the data flow; or the reason it has none.
EXPORT = OpTable("NIR export", error=_export_error)


@EXPORT.register("Input")
def _export_input(nir, node, in_shape, dt):
    return [(node.name, nir.Input(input_type={"input": np.array(node.shape)}))]


@EXPORT.register("Output")
def _export_output(nir, node, in_shape, dt):
    return [(node.name, nir.Output(output_type={"output": np.array(node.shape)}))]


@EXPORT.register("Conv2d")
def _export_conv(nir, node, in_shape, dt):
    a, p = node.attrs, node.params
    bias = p["bias"] if "bias" in p else np.zeros(a["out_channels"], p["weight"].dtype)
    return [(node.name, nir.Conv2d(input_shape=tuple(in_shape[1:]),
                                   weight=_dense_conv_weight(p["weight"], a["groups"]),
                                   stride=(a["stride"],) * 2, padding=(a["padding"],) * 2,
                                   dilation=(1, 1), groups=1, bias=bias))]


@EXPORT.register("BatchNorm2d")
def _export_batch_norm(nir, node, in_shape, dt):
    """One the deploy pipeline could not fold: a diagonal 1x1 synapse."""
    a, p = node.attrs, node.params
    scale = p["weight"] / np.sqrt(p["running_var"] + a["eps"])
    shift = p["bias"] - p["running_mean"] * scale
    if len(in_shape) == 1:
        return [(node.name, nir.Affine(weight=np.diag(scale), bias=shift))]
    return [(node.name, nir.Conv2d(input_shape=tuple(in_shape[1:]),
                                   weight=np.diag(scale)[:, :, None, None], stride=(1, 1),
                                   padding=(0, 0), dilation=(1, 1), groups=1, bias=shift))]


@EXPORT.register("Linear")
def _export_linear(nir, node, in_shape, dt):
    p = node.params
    if "bias" in p:
        return [(node.name, nir.Affine(weight=p["weight"], bias=p["bias"]))]
    return [(node.name, nir.Linear(weight=p["weight"]))]


@EXPORT.register("AvgPool2d")
def _export_avg_pool(nir, node, in_shape, dt):
    k, s, pad = node.attrs["kernel"], node.attrs["stride"], node.attrs["padding"]
    return [(node.name, nir.AvgPool2d(kernel_size=np.array([k, k]), stride=np.array([s, s]),
                                      padding=np.array([pad, pad])))]


@EXPORT.register("GlobalAvgPool")
def _export_global_avg_pool(nir, node, in_shape, dt):
    _, h, w = in_shape
    return [(node.name, nir.AvgPool2d(kernel_size=np.array([h, w]), stride=np.array([h, w]),
                                      padding=np.array([0, 0]))),
            (node.name + ".flatten", nir.Flatten(input_type={"input": np.array([in_shape[0], 1, 1])},
                                                 start_dim=0, end_dim=-1))]


@EXPORT.register("Flatten")
def _export_flatten(nir, node, in_shape, dt):
    return [(node.name, nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=0,
                                    end_dim=-1))]


@EXPORT.register("Scale")
def _export_scale(nir, node, in_shape, dt):
    return [(node.name, nir.Scale(scale=_full(node.shape, node.attrs["scale"])))]


@EXPORT.register("Vote")
def _export_vote(nir, node, in_shape, dt):
    return [(node.name, nir.Linear(weight=_vote_matrix(node.attrs["classes"], in_shape[0])))]


@EXPORT.register("LIF")
def _export_neuron(nir, node, in_shape, dt):
    q = lif_to_nir_params(node.attrs, dt, node.name)
    s = node.shape
    if q.kind == "IF":
        return [(node.name, nir.IF(r=_full(s, q.r), v_threshold=_full(s, q.v_threshold),
                                   v_reset=_full(s, q.v_reset)))]
    return [(node.name, nir.LIF(tau=_full(s, q.tau), r=_full(s, q.r), v_leak=_full(s, q.v_leak),
                                v_threshold=_full(s, q.v_threshold), v_reset=_full(s, q.v_reset)))]


EXPORT.refuse("NIR's LIF has a constant threshold, so ALIF's adaptive one (SpikeDHS eq. 7) has no "
              "counterpart", "ALIF")
EXPORT.refuse("run the 'deploy' pipeline first, its freeze-plif pass makes a trained PLIF the LIF "
              "with its learned leak", "PLIF")
EXPORT.refuse("NIR neurons spike; ReLU is a non-spiking unit with analog output", "ReLU")
EXPORT.refuse("nearest upsampling has no NIR node", "Upsample")
EXPORT.refuse("a NIR node sums its inputs, it cannot stack them along channels", "Concat")
EXPORT.refuse("run the 'deploy' pipeline first, it removes Dropout", "Dropout")
EXPORT.refuse(UNRESOLVED, "Choice", "WeightedMix")
EXPORT.refuse(f"{DEPLOY_ONLY}; export the float deploy graph instead", "LoihiLIF")


def to_nir(graph: Graph, *, dt: float = DEFAULT_DT, implicit_cycle_delay: bool = False):
    """The NIR graph of a deploy-ready IR graph (no Dropout, Concat or soft reset).

    Args:
        graph: an IR graph; verified here (shapes are needed).
        dt: the Euler step (seconds) the neuron mapping assumes; stored as metadata ``dt``.
        implicit_cycle_delay: shrink every backward edge's delay by one, for consumers that read
            a cycle's previous-step value themselves (module docstring).
    Returns:
        ``nir.NIRGraph`` with metadata ``dt``, ``T``, ``encoding``, ``classes``, ``producer``,
        ``implicit_cycle_delay`` (0 or 1), :data:`BACKWARD_EDGES` and, with the flag,
        :data:`IMPLICIT_EDGES`.
    Raises:
        NirError: an op or neuron NIR cannot express, naming the node; ``dt <= 0``.
        GraphError: the graph does not verify.
    """
    nir = _nir()
    if not dt > 0:
        raise NirError(f"dt must be > 0 seconds, got {dt}")
    graph = verify(graph)
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    first: dict[str, str] = {}   # IR node -> NIR node that receives its inputs
    last: dict[str, str] = {}    # IR node -> NIR node that carries its output
    for node in graph:
        ins = graph.in_edges(node.name)
        in_shape = tuple(graph[ins[0].src].shape) if ins else None
        chain = EXPORT.lookup(node)(nir, node, in_shape, dt)
        for key, nn in chain:
            if key in nodes or (key != node.name and key in graph.nodes):
                raise NirError(f"node {node.name!r} ({node.op}): its NIR node {key!r} clashes "
                               f"with another node's name")
            nodes[key] = nn
        first[node.name], last[node.name] = chain[0][0], chain[-1][0]
        edges += [(a[0], b[0]) for a, b in zip(chain, chain[1:])]
    # A consumer adds its step only to a cycle; a backward edge on none (its target's sum dissolved
    # into the next op, as in SNASNet-Bw cells) keeps its whole delay.
    in_cycle = {n: i for i, c in enumerate(graph.strongly_connected_components()) for n in c}
    shortened, backward = [], []  # "src -> dst @d", d the steps left in the file
    for e in graph.edges:
        shorten = (implicit_cycle_delay and e.kind == BACKWARD and e.src in in_cycle
                   and in_cycle[e.src] == in_cycle.get(e.dst))
        d = e.delay - int(shorten)
        src, dst = last[e.src], first[e.dst]
        if shorten:
            shortened.append(f"{src} -> {dst} @{d}")
        if e.kind == BACKWARD:
            backward.append(f"{src} -> {dst} @{d}")
        if d > 0:
            key = f"{e.src}.delay{d}"
            if key not in nodes:
                if key in graph.nodes:
                    raise NirError(f"node {key!r}: name clashes with the Delay node of edge {e}")
                nodes[key] = nir.Delay(delay=_full(graph[e.src].shape, d * dt))
                edges.append((src, key))
            src = key
        if (src, dst) in edges:
            raise NirError(f"edge {e}: NIR graphs hold one edge per node pair; {src} -> {dst} "
                           f"appears twice (e.g. a Concat's ports or parallel synapses)")
        edges.append((src, dst))
    meta = {"producer": "snnc", "dt": float(dt), "T": int(graph.meta.get("T", 1)),
            "encoding": str(graph.meta.get("encoding", "direct")),
            "classes": int(graph.output_node.shape[0]),
            "implicit_cycle_delay": int(bool(implicit_cycle_delay)),
            BACKWARD_EDGES: "\n".join(backward)}
    if implicit_cycle_delay:
        # Which edge of a delay-free cycle a consumer delays is its own convention; the list lets
        # from_nir restore exactly the backward edges (a convolution's bias at t = 0 depends on it).
        meta[IMPLICIT_EDGES] = "\n".join(shortened)
    if "name" in graph.meta:
        meta["name"] = str(graph.meta["name"])
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata=meta, type_check=False)


def export_nir(graph: Graph, path: str | Path, *, dt: float = DEFAULT_DT,
               target: str = "nir", implicit_cycle_delay: bool = False) -> Path:
    """Prepare ``graph`` for ``target`` (default ``nir``: folds BatchNorm, drops Dropout; see
    :mod:`snnc.passes.targets`), convert with :func:`to_nir` and write ``path`` atomically with
    ``nir.write``. Returns the path."""
    from ..atomic import atomic_write
    from ..passes.targets import prepare

    graph, _ = prepare(graph, target)
    ng = to_nir(graph, dt=dt, implicit_cycle_delay=implicit_cycle_delay)
    nir = _nir()
    return atomic_write(path, lambda fh: nir.write(fh, ng))


# ------------------------------------------------------------------ import
def _scalar(node_name: str, kind: str, field: str, value) -> float:
    arr = np.asarray(value, dtype=np.float64).ravel()
    if arr.size == 0:
        raise NirError(f"node {node_name!r} ({kind}): parameter {field} is empty")
    ref = arr[0]
    if not np.allclose(arr, ref, rtol=_REL, atol=0.0):
        raise NirError(f"node {node_name!r} ({kind}): {field} differs between neurons "
                       f"({arr.min():g} .. {arr.max():g}); an snnc node holds one value")
    return float(ref)


def _pair(node_name: str, kind: str, field: str, value) -> int:
    arr = np.atleast_1d(np.asarray(value)).ravel()
    if arr.size not in (1, 2) or len(set(arr.tolist())) != 1:
        raise NirError(f"node {node_name!r} ({kind}): {field}={arr.tolist()} must be the same "
                       f"along height and width")
    v = float(arr[0])
    if v != int(v):
        raise NirError(f"node {node_name!r} ({kind}): {field}={v} must be an integer")
    return int(v)


def _shape(t) -> tuple[int, ...] | None:
    if t is None:
        return None
    v = t.get("input", t.get("output")) if isinstance(t, dict) else t
    if v is None:
        return None
    return tuple(int(s) for s in np.atleast_1d(np.asarray(v)).ravel())


@dataclass
class _Import:
    """What the NIR node builders share while :func:`from_nir` reads a graph."""

    g: Graph
    nir: Any
    delays: dict[str, int]  # Delay node -> steps


def _import_error(table: OpTable, name: str, kind: str, reason: str) -> "NirError":
    return NirError(f"node {name!r} ({kind}): snnc cannot import NIR {kind} nodes: {reason}; it "
                    f"maps {', '.join(table.implemented())} (CubaLIF only with tau_syn = dt)",
                    node=name, op=kind, backend=table.backend)


#: NIR node type name -> ``build(ctx, name, node)``: adds the IR node(s) of one NIR node and
#: returns their (first, last) IR names, or None for a Delay (it becomes edge delays); or the
#: reason snnc cannot import it.
IMPORT = OpTable("NIR import", error=_import_error)


@IMPORT.register("Input")
def _import_input(ctx, name, n):
    shape = _shape(n.input_type)
    if not shape:
        raise NirError(f"node {name!r} (Input): no input shape")
    ctx.g.add_node(name, "Input", {"shape": shape})
    return name, name


@IMPORT.register("Output")
def _import_output(ctx, name, n):
    ctx.g.add_node(name, "Output")
    return name, name


@IMPORT.register("Affine", "Linear")
def _import_linear(ctx, name, n):
    kind = type(n).__name__
    w = np.asarray(n.weight, dtype=np.float64)
    if w.ndim != 2:
        raise NirError(f"node {name!r} ({kind}): weight must be 2-D, got {w.shape}")
    params = {"weight": w}
    bias = isinstance(n, ctx.nir.Affine) and n.bias is not None
    if bias:
        params["bias"] = np.asarray(n.bias, dtype=np.float64).reshape(w.shape[0])
    ctx.g.add_node(name, "Linear", {"in_features": w.shape[1], "out_features": w.shape[0],
                                    "bias": bias}, params)
    return name, name


@IMPORT.register("Conv2d")
def _import_conv(ctx, name, n):
    kind = "Conv2d"
    w = np.asarray(n.weight, dtype=np.float64)
    if w.ndim != 4 or w.shape[2] != w.shape[3]:
        raise NirError(f"node {name!r} (Conv2d): snnc convolutions have square kernels, "
                       f"got weight {w.shape}")
    if _pair(name, kind, "dilation", n.dilation) != 1:
        raise NirError(f"node {name!r} (Conv2d): dilation != 1 is not supported")
    stride = _pair(name, kind, "stride", n.stride)
    if isinstance(n.padding, str):
        if n.padding == "valid":
            pad = 0
        elif stride == 1 and w.shape[2] % 2:
            pad = w.shape[2] // 2
        else:
            raise NirError(f"node {name!r} (Conv2d): padding='same' needs stride 1 and an "
                           f"odd kernel")
    else:
        pad = _pair(name, kind, "padding", n.padding)
    groups = int(n.groups)
    bias = n.bias is not None and np.any(np.asarray(n.bias) != 0)
    params = {"weight": w}
    if bias:
        params["bias"] = np.asarray(n.bias, dtype=np.float64).reshape(w.shape[0])
    ctx.g.add_node(name, "Conv2d", {"in_channels": w.shape[1] * groups,
                                    "out_channels": w.shape[0], "kernel": w.shape[2],
                                    "stride": stride, "padding": pad, "groups": groups,
                                    "bias": bool(bias)}, params)
    return name, name


@IMPORT.register("AvgPool2d", "SumPool2d")
def _import_pool(ctx, name, n):
    kind = type(n).__name__
    if kind == "AvgPool2d" and len(set(np.atleast_1d(n.kernel_size).tolist())) > 1:
        # A non-square pool can only be a global one (checked once shapes are known).
        ctx.g.add_node(name, "GlobalAvgPool").meta["nir_pool"] = (
            tuple(int(v) for v in np.atleast_1d(n.kernel_size)),
            tuple(int(v) for v in np.atleast_1d(n.stride)),
            tuple(int(v) for v in np.atleast_1d(n.padding)))
        return name, name
    k = _pair(name, kind, "kernel_size", n.kernel_size)
    attrs = {"kernel": k, "stride": _pair(name, kind, "stride", n.stride),
             "padding": _pair(name, kind, "padding", n.padding)}
    ctx.g.add_node(name, "AvgPool2d", attrs)
    if kind == "SumPool2d":  # a sum over k*k inputs = k*k times their mean
        ctx.g.add_node(name + ".sum", "Scale", {"scale": float(k * k)})
        ctx.g.add_edge(name, name + ".sum")
        return name, name + ".sum"
    return name, name


@IMPORT.register("Flatten")
def _import_flatten(ctx, name, n):
    if int(n.start_dim) not in (0, 1) or int(n.end_dim) != -1:
        raise NirError(f"node {name!r} (Flatten): only a full per-sample flatten "
                       f"(start_dim 0, end_dim -1) is supported, got start_dim="
                       f"{n.start_dim}, end_dim={n.end_dim}")
    ctx.g.add_node(name, "Flatten")
    return name, name


@IMPORT.register("Scale")
def _import_scale(ctx, name, n):
    ctx.g.add_node(name, "Scale", {"scale": _scalar(name, "Scale", "scale", n.scale)})
    return name, name


@IMPORT.register("LIF", "IF", "CubaLIF")
def _import_lif(ctx, name, n):
    ctx.g.add_node(name, "LIF", _import_neuron(name, type(n).__name__, n, ctx.g.meta["dt"]))
    return name, name


@IMPORT.register("Delay")
def _import_delay(ctx, name, n):
    dt = ctx.g.meta["dt"]
    steps = _scalar(name, "Delay", "delay", n.delay) / dt
    if abs(steps - round(steps)) > 1e-6 * max(1.0, abs(steps)) or round(steps) < 0:
        raise NirError(f"node {name!r} (Delay): delay {steps * dt:g} s is not a whole "
                       f"number of steps of dt={dt:g} s")
    ctx.delays[name] = int(round(steps))
    return None


IMPORT.refuse("nested subgraphs are not supported; flatten the graph first", "NIRGraph")
IMPORT.refuse("snnc convolutions are two-dimensional", "Conv1d")
IMPORT.refuse("a non-spiking integrator (no threshold) has no snnc neuron", "I", "LI", "CubaLI")
IMPORT.refuse("a bare threshold without a membrane has no snnc op", "Threshold")
IMPORT.refuse("snnc has no pass-through op to map it to", "Identity")


def _import_neuron(name: str, kind: str, n, dt: float) -> dict[str, Any]:
    fields = {"IF": ("r", "v_threshold", "v_reset"),
              "LIF": ("tau", "r", "v_leak", "v_threshold", "v_reset"),
              "CubaLIF": ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset",
                          "w_in")}[kind]
    p = {f: _scalar(name, kind, f, getattr(n, f)) for f in fields}
    if kind == "CubaLIF" and not math.isclose(p["tau_syn"], dt, rel_tol=_REL):
        raise NirError(f"node {name!r} (CubaLIF tau_syn={p['tau_syn']:g} s): a synaptic current "
                       f"with its own time constant is a second state snnc neurons lack; only "
                       f"tau_syn = dt ({dt:g} s) imports")
    for f in ("tau", "tau_mem"):
        if f in p and not p[f] > 0:
            raise NirError(f"node {name!r} ({kind}): {f}={p[f]} must be > 0")
        if f in p and p[f] < dt * (1 - _REL):
            # beta = 1 - dt/tau < 0: each Euler step overshoots the leak and flips the sign
            raise NirError(f"node {name!r} ({kind} {f}={p[f]:g} s): a time constant shorter than "
                           f"the step dt={dt:g} s gives beta = {1 - dt / p[f]:g} < 0; import with "
                           f"dt <= {p[f]:g} s (--dt)", node=name, op=kind)
    attrs = nir_params_to_lif(kind, p, dt)
    attrs["beta"] = min(max(attrs["beta"], 0.0), 1.0)  # tau = dt within _REL: exactly 0
    attrs["reset"] = "hard"
    return attrs


def from_nir(ng, *, dt: float | None = None, T: int | None = None,
             name: str | None = None) -> Graph:
    """The IR graph of a NIR graph (the inverse of :func:`to_nir` on the same primitives).

    Delay nodes become edge delays (``round(delay / dt)`` steps; integral and uniform per node);
    a cycle without a Delay gets delay 1 on its last spiking neuron's output edge (on the edge
    closing it, depth first from the Input, when it holds no neuron); an ``implicit_cycle_delay``
    file gets back the steps its export took (module docstring). Edge kinds: as the file's
    :data:`BACKWARD_EDGES` lists them, else ``backward`` exactly for the delayed edges that close
    a cycle (a delayed edge on no cycle is ``forward``).

    Args:
        ng: a ``nir.NIRGraph`` with one Input and one Output.
        dt: Euler step in seconds; default the graph's metadata ``dt`` (snnc files have one;
            snnTorch's files assume 1e-4, Norse's importer 1e-3).
        T: time steps recorded in ``meta["T"]``; default metadata ``T``.
        name: ``meta["name"]``; default metadata ``name`` or ``"nir"``.
    Returns:
        A verified :class:`Graph` (float64 params) with ``meta`` T, classes, encoding, dt.
    Raises:
        NirError: missing dt/T, a node snnc cannot express (named), a non-integral delay, a
            neuron with ``tau < dt`` (named, with the dt that would import it).
        GraphError: the graph does not verify.
    """
    nir = _nir()
    md = dict(getattr(ng, "metadata", None) or {})
    dt = float(dt if dt is not None else md.get("dt", 0) or 0)
    if not dt > 0:
        raise NirError("the NIR file records no time step dt; give one (--dt SECONDS; snnTorch "
                       "files assume 1e-4, Norse 1e-3)")
    if T is None:
        if "T" not in md:
            raise NirError("the NIR file records no number of time steps T; give one (--T N)")
        T = int(md["T"])
    enc = md.get("encoding", "direct")
    enc = enc.decode() if isinstance(enc, bytes) else str(enc)
    meta = {"name": name or str(md.get("name", "nir")), "T": int(T), "encoding": enc,
            "dt": dt, "source": "nir"}
    g = Graph(meta)
    ctx = _Import(g, nir, {})
    delays = ctx.delays
    ends: dict[str, tuple[str, str]] = {}
    for key in _flow_order(ng, nir):
        n = ng.nodes[key]
        built = IMPORT.lookup(key, type(n).__name__)(ctx, key, n)
        if built is not None:
            ends[key] = built
    out_edges: dict[str, list[str]] = {}
    for s, d in ng.edges:
        out_edges.setdefault(s, []).append(d)

    def targets(node: str, acc: int, seen: tuple[str, ...]) -> list[tuple[str, int]]:
        """Real (non-Delay) nodes reached from ``node`` through Delay nodes, with total delay."""
        found = []
        for d in out_edges.get(node, []):
            if d in delays:
                if d in seen:
                    raise NirError(f"node {d!r} (Delay): a cycle made only of Delay nodes")
                found += targets(d, acc + delays[d], seen + (d,))
            elif d not in ends:
                raise NirError(f"edge {node} -> {d}: unknown node {d!r}")
            else:
                found.append((d, acc))
        return found

    pending = [_Pending(ends[key][1], ends[dst][0], d, f"{key} -> {dst} @{d}")
               for key in ends for dst, d in targets(key, 0, ())]
    _restore_implicit(pending, md)
    _delay_free_cycles(g, pending)
    _add_edges(g, pending, _listed(md, BACKWARD_EDGES, pending))
    if len(g.nodes_of("Input")) != 1 or len(g.nodes_of("Output")) != 1:
        raise NirError("a NIR graph for snnc needs exactly one Input and one Output node")
    g = verify(g)
    for node in g.nodes_of("GlobalAvgPool"):
        kernel, stride, pad = node.meta.pop("nir_pool")
        in_shape = g[g.in_edges(node.name)[0].src].shape
        if (kernel != tuple(in_shape[1:]) or any(pad) or
                any(g[s].op != "Flatten" for s in g.successors(node.name))):
            raise NirError(f"node {node.name!r} (AvgPool2d): snnc pools with square kernels; a "
                           f"non-square kernel {kernel} is only accepted as a global pool over "
                           f"its whole {tuple(in_shape[1:])} input, unpadded, read by Flatten")
    g.meta["classes"] = int(np.prod(g.output_node.shape))
    return g


def _flow_order(ng, nir) -> list[str]:
    """NIR node names breadth-first from the Input along the edges (files store nodes sorted by
    name), then any unreached ones in file order."""
    succ: dict[str, list[str]] = {}
    for s, d in ng.edges:
        succ.setdefault(s, []).append(d)
    order = [k for k, n in ng.nodes.items() if isinstance(n, nir.Input)]
    seen = set(order)
    i = 0
    while i < len(order):
        for d in succ.get(order[i], []):
            if d not in seen and d in ng.nodes:
                seen.add(d)
                order.append(d)
        i += 1
    return order + [k for k in ng.nodes if k not in seen]


@dataclass
class _Pending:
    """An edge of the imported graph before its kind is known: ``nir`` names it in the file."""

    src: str
    dst: str
    delay: int
    nir: str


def _restore_implicit(pending: list[_Pending], md: dict) -> None:
    """Lengthen by one step the edges that an ``implicit_cycle_delay`` export shortened (listed
    in its metadata :data:`IMPLICIT_EDGES`). A file with the flag and no list (written by an older
    snnc) gets one step on every edge that closes a cycle, cycles without a Delay node included."""
    if not int(md.get("implicit_cycle_delay", 0) or 0):
        return
    listed = md.get(IMPLICIT_EDGES)
    if listed is None:
        for p in _closing(pending):
            p.delay += 1
        return  # the delay-free cycles get their step from _delay_free_cycles
    for p in _listed(md, IMPLICIT_EDGES, pending):
        p.delay += 1


def _listed(md: dict, key: str, pending: list[_Pending]) -> list[_Pending] | None:
    """The edges named by metadata ``key`` (see :data:`BACKWARD_EDGES`); None without the key."""
    listed = md.get(key)
    if listed is None:
        return None
    listed = listed.decode() if isinstance(listed, bytes) else str(listed)
    by_name = {p.nir: p for p in pending}
    out = []
    for line in filter(None, (x.strip() for x in listed.splitlines())):
        if line not in by_name:
            raise NirError(f"metadata {key}: edge {line!r} is not in the graph")
        out.append(by_name[line])
    return out


def _delay_free_cycles(g: Graph, pending: list[_Pending]) -> None:
    """Give every cycle without a delay one step, where the producers put it: on the output edge
    of the cycle's last spiking neuron (snnTorch's RLeaky reads its own previous spikes through
    the recurrent Affine, so that Affine's bias is present at t = 0); on the edge that closes the
    cycle (depth first from the Input) when the cycle holds no neuron."""
    import networkx as nx

    spiking = {n.name for n in g if n.op in _SPIKING}
    zero = nx.DiGraph()
    for p in pending:
        if p.delay == 0:
            zero.add_edge(p.src, p.dst)
    sources = [n.name for n in g.nodes_of("Input")] + list(g.nodes)
    while True:
        try:
            cycle = nx.find_cycle(zero, source=sources)
        except nx.NetworkXNoCycle:
            return
        pick = next((e for e in reversed(cycle) if e[0] in spiking), cycle[-1])[:2]
        zero.remove_edge(*pick)
        for p in pending:
            if p.delay == 0 and (p.src, p.dst) == pick:
                p.delay = 1


def _closing(pending: list[_Pending]) -> list[_Pending]:
    """The delayed edges that close cycles (backward); every other edge is forward.

    An edge on no cycle is forward whatever its delay (a synaptic delay between layers). Within a
    strongly connected component the zero-delay edges fix an order; delayed edges that agree with
    it (tried in the order of the graph, from its Input) are forward, the others close a cycle."""
    import networkx as nx

    full = nx.MultiDiGraph()
    full.add_edges_from((p.src, p.dst) for p in pending)
    comp = {n: i for i, c in enumerate(nx.strongly_connected_components(full)) for n in c}
    dag = nx.DiGraph()
    dag.add_nodes_from(full)
    candidates = []
    for p in pending:
        if p.delay == 0 or comp[p.src] != comp[p.dst]:
            dag.add_edge(p.src, p.dst)
        else:
            candidates.append(p)
    closing = []
    for p in candidates:
        if p.src != p.dst and not nx.has_path(dag, p.dst, p.src):
            dag.add_edge(p.src, p.dst)
        else:
            closing.append(p)
    return closing


def _add_edges(g: Graph, pending: list[_Pending], backward: list[_Pending] | None) -> None:
    """Add ``pending`` to ``g``: ``backward`` as the file lists them (snnc's files, which keep
    the frontend's kinds), else those that close a cycle (:func:`_closing`)."""
    backward = {id(p) for p in (_closing(pending) if backward is None else backward)}
    for p in pending:
        g.add_edge(p.src, p.dst, delay=p.delay, kind=BACKWARD if id(p) in backward else "forward")


def import_nir(path: str | Path, out: str | Path | None = None, *, dt: float | None = None,
               T: int | None = None) -> Graph:
    """Read a ``.nir`` file, convert it with :func:`from_nir` and, with ``out``, save it as a
    ``.snnir`` artifact (atomically).

    Raises:
        NirError: an unreadable file, or one snnc cannot express; GraphError: a graph that does not
            verify. Every message starts with the file's path.
    """
    nir = _nir()
    path = Path(path)
    try:
        # type_check=False: nir 1.0.8 mis-types grouped convolutions; snnc verifies shapes itself
        ng = nir.read(str(path), type_check=False)
    except (OSError, KeyError, ValueError, AssertionError, TypeError) as exc:
        raise NirError(f"{path}: not a readable NIR file ({type(exc).__name__}: {exc})") from None
    try:
        g = from_nir(ng, dt=dt, T=T, name=None)
    except SnncError as exc:
        # the verifier's GraphError too: same class and fields, the message names the file
        exc.args = (f"{path}: {exc}",) + exc.args[1:]
        raise exc from None
    if g.meta["name"] == "nir":
        g.meta["name"] = path.stem
    if out is not None:
        from ..ir.artifact import save
        save(g, out)
    return g
