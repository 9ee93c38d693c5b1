"""The reference interpreter: the definition of what an IR graph computes.

Small, slow, obviously correct numpy (float64). Every pass and backend is tested against it. For
``t = 0 .. T-1``, nodes are visited in a topological order of the zero-delay subgraph and::

    in_j[t]  = sum over edges (i -> j, port p, delay d) of out_i[t - d]   (zero when t - d < 0)
    out_j[t] = op_j(in_j[t], state_j)

Each op is one method ``op_<name>`` of :class:`Interpreter` (torch.fx style), so analyses and probes
can subclass it and override one op. Batch is the leading axis of every per-step value: a node's
value at step t has shape ``[B, *node.shape]``.

A supernet (a graph with Choice or WeightedMix nodes) runs under an *assignment*, node name ->
selected port (:mod:`snnc.ir.choices`): ``Interpreter(graph, assignment={...})``. Every node is
computed, the unselected paths too: this is the reference, not the fast path.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .choices import check_assignment, softmax
from .graph import Graph
from .inputs import input_layout
from .loihi import loihi_lif_step_fixed, round_current
from .ops import op_def
from .verify import verify


@dataclass
class Trace:
    """Everything one run produced.

    ``outputs[name]`` is node ``name``'s output over time, ``[T, B, *shape]``; ``v[name]`` is a
    spiking neuron node's membrane potential after reset (``V[t]``), ``[T, B, *shape]``;
    ``output`` is the Output node's value, ``[T, B, classes]``.
    """

    outputs: dict[str, np.ndarray]
    v: dict[str, np.ndarray] = field(default_factory=dict)
    output_name: str = ""

    @property
    def output(self) -> np.ndarray:
        return self.outputs[self.output_name]


def conv2d(x: np.ndarray, w: np.ndarray, bias: np.ndarray | None = None, stride: int = 1,
           padding: int = 0, groups: int = 1) -> np.ndarray:
    """Cross-correlation as in PyTorch. x ``[B, C, H, W]``, w ``[O, C/groups, k, k]`` ->
    ``[B, O, H', W']``."""
    b, c, _, _ = x.shape
    o, cg, k, _ = w.shape
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]  # B C H' W' k k
    ho, wo = win.shape[2], win.shape[3]
    win = win.reshape(b, groups, cg, ho, wo, k, k)
    wg = w.reshape(groups, o // groups, cg, k, k)
    y = np.einsum("bgchwij,gocij->bgohw", win, wg, optimize=True).reshape(b, o, ho, wo)
    if bias is not None:
        y = y + bias.reshape(1, o, 1, 1)
    return y


def avg_pool2d(x: np.ndarray, kernel: int, stride: int, padding: int = 0) -> np.ndarray:
    """Average pooling, zero padding included in the mean. x ``[B, C, H, W]``."""
    if padding:
        x = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    win = sliding_window_view(x, (kernel, kernel), axis=(2, 3))[:, :, ::stride, ::stride]
    return win.mean(axis=(-1, -2))


class Interpreter:
    """Runs a verified graph over ``T`` steps. Override ``op_<name>`` to change one op."""

    def __init__(self, graph: Graph, *, check: bool = True,
                 assignment: dict[str, int] | None = None):
        """Raises GraphError (the graph does not verify) or AssignmentError (``assignment`` does
        not fit its choice nodes: see :func:`snnc.ir.choices.check_assignment`)."""
        self.graph = verify(graph) if check else graph
        self.assignment = check_assignment(self.graph, assignment)
        self.order = [self.graph.nodes[n] for n in self.graph.topological_order()]
        self.inputs = {n.name: self.graph.in_edges(n.name) for n in self.order}
        self.multi = {n.name for n in self.order if op_def(n).multi_port}

    # ----------------------------------------------------------------- driver
    def run(self, x: np.ndarray, T: int | None = None) -> Trace:
        """Run the graph on ``x``.

        Args:
            x: ``[T, B, *input_shape]`` (one frame per step), or ``[B, *input_shape]`` repeated at
               every step (direct encoding).
            T: number of time steps; default ``graph.meta['T']`` (or ``x.shape[0]`` for a
               sequence).
        Returns:
            A :class:`Trace` with every node's output and every neuron's membrane potential.
        Raises:
            InputShapeError: ``x`` fits neither layout (see :func:`snnc.ir.inputs.input_layout`).
        """
        x = np.asarray(x, dtype=np.float64)
        layout = input_layout(self.graph.input_node.shape, x.shape, T,
                              default_T=int(self.graph.meta.get("T", 1)))
        T = layout.T
        x = np.broadcast_to(x, (T,) + x.shape) if layout.direct else x[:T]
        B = x.shape[1]
        out = {n.name: np.zeros((T, B) + tuple(n.shape)) for n in self.order}
        self.x, self.v = x, {}
        self.state: dict[str, dict] = {n.name: {} for n in self.order}
        for t in range(T):
            for node in self.order:
                out[node.name][t] = self.run_node(node, self._gather(node, out, t), t)
        return Trace(out, self.v, self.graph.output_node.name)

    def _gather(self, node, out, t):
        """The node's input at step t: edges summed (per port for multi-port ops)."""
        ports: dict[int, np.ndarray] = {}
        for e in self.inputs[node.name]:
            if t - e.delay < 0:
                val = np.zeros_like(out[e.src][0])
            else:
                val = out[e.src][t - e.delay]
            ports[e.port] = ports[e.port] + val if e.port in ports else val
        if node.name in self.multi:
            return [ports[p] for p in sorted(ports)]
        return ports.get(0)

    def run_node(self, node, inp, t: int) -> np.ndarray:
        return getattr(self, "op_" + node.op.lower())(node, inp, t)

    # ----------------------------------------------------------------- ops
    def op_input(self, node, inp, t):
        return self.x[t]

    def op_output(self, node, inp, t):
        return inp

    def op_conv2d(self, node, inp, t):
        a = node.attrs
        return conv2d(inp, node.params["weight"], node.params.get("bias"), a["stride"],
                      a["padding"], a["groups"])

    def op_linear(self, node, inp, t):
        y = inp @ node.params["weight"].T
        return y + node.params["bias"] if "bias" in node.params else y

    def op_batchnorm2d(self, node, inp, t):
        p = node.params
        shape = (1, -1) + (1,) * (inp.ndim - 2)
        scale = p["weight"] / np.sqrt(p["running_var"] + node.attrs["eps"])
        return (inp - p["running_mean"].reshape(shape)) * scale.reshape(shape) + p["bias"].reshape(shape)

    def op_lif(self, node, inp, t):
        """Canonical neuron, docs/ARCHITECTURE.md: H = v_rest + beta (V - v_rest) + alpha X; S = H > v_th."""
        return self._spiking(node, inp, t, node.attrs["alpha"])

    def op_plif(self, node, inp, t):
        """PLIF (Fang et al. 2021): the canonical neuron with input gain ``alpha (1 - beta)``
        (``decay_input``) or ``alpha``; ``beta`` is the current value of the trainable leak."""
        return self._spiking(node, inp, t, plif_gain(node.attrs))

    def op_alif(self, node, inp, t):
        """ALIF (SpikeDHS eq. 5-8): the canonical charge; threshold ``A[t] = v_th + adapt a[t]``
        with ``a[t] = rho a[t-1] + S[t-1]`` (``a[0] = 0``); soft reset subtracts ``A[t]``."""
        a = node.attrs
        st = self.state[node.name]
        adapt = st.get("a")
        if adapt is None:
            adapt = np.zeros_like(inp)
        threshold = a["v_th"] + a["adapt"] * adapt
        s = self._spiking(node, inp, t, a["alpha"], threshold)
        st["a"] = a["rho"] * adapt + s
        return s

    def _spiking(self, node, inp, t, gain, threshold=None):
        """One step of the canonical neuron of ``node`` with input gain ``gain`` and firing
        threshold ``threshold`` (default ``v_th``; an array for ALIF): updates and records ``V``,
        returns ``S``."""
        a = node.attrs
        st = self.state[node.name]
        v = st.get("v")
        if v is None:
            v = np.full_like(inp, a["v_rest"])  # V[-1] = v_rest
        h = a["v_rest"] + a["beta"] * (v - a["v_rest"]) + gain * inp
        th = a["v_th"] if threshold is None else threshold
        s = (h > th).astype(np.float64)
        if a["reset"] == "hard":
            v = np.where(s > 0, a["v_reset"], h)
        else:
            v = h - th * s
        st["v"] = v
        rec = self.v.setdefault(node.name, np.zeros((self.x.shape[0],) + v.shape))
        rec[t] = v
        return s

    def op_loihilif(self, node, inp, t):
        """Loihi 2's fixed-point LIF (:class:`snnc.ir.ops.LoihiLIF`): the input rounded to the
        integer ``a_in``, then :func:`snnc.ir.loihi.loihi_lif_step_fixed`; records the integer
        ``v`` (in Loihi's units: ``a_in`` units times 64)."""
        a = node.attrs
        st = self.state[node.name]
        a_in = round_current(inp)
        zero = np.zeros(a_in.shape, dtype=np.int64)
        u, v, s = loihi_lif_step_fixed(st.get("u", zero), st.get("v", zero), a_in, a["du"],
                                       a["dv"], a["vth"])
        st["u"], st["v"] = u, v
        rec = self.v.setdefault(node.name, np.zeros((self.x.shape[0],) + v.shape))
        rec[t] = v
        return s.astype(np.float64)

    def op_relu(self, node, inp, t):
        """Non-spiking neuron (SpikeDHS HNS): ``max(0, X)``."""
        return np.maximum(inp, 0.0)

    def op_scale(self, node, inp, t):
        return node.attrs["scale"] * inp

    def op_avgpool2d(self, node, inp, t):
        a = node.attrs
        return avg_pool2d(inp, a["kernel"], a["stride"], a["padding"])

    def op_globalavgpool(self, node, inp, t):
        return inp.mean(axis=(2, 3))

    def op_flatten(self, node, inp, t):
        return inp.reshape(inp.shape[0], -1)

    def op_upsample(self, node, inp, t):
        """Nearest neighbour: each input pixel becomes a ``scale x scale`` square."""
        s = node.attrs["scale"]
        return np.repeat(np.repeat(inp, s, axis=2), s, axis=3)

    def op_dropout(self, node, inp, t):
        return inp

    def op_vote(self, node, inp, t):
        k = node.attrs["classes"]
        return inp.reshape(inp.shape[0], k, -1).mean(axis=-1)

    def op_concat(self, node, inp, t):
        return np.concatenate(inp, axis=1)

    def op_choice(self, node, inp, t):
        """The assigned port's input, or zero for ``-1`` (an optional Choice left out)."""
        p = self.assignment[node.name]
        return inp[p] if p >= 0 else np.zeros_like(inp[0])

    def op_weightedmix(self, node, inp, t):
        """``sum_j softmax(alpha)_j in_j`` (SpikeDHS eq. 13-16), or the assigned port alone."""
        p = self.assignment.get(node.name)
        if p is not None:
            return inp[p]
        w = softmax(node.params["alpha"])
        out = w[0] * inp[0]
        for j in range(1, len(inp)):
            out = out + w[j] * inp[j]
        return out


def plif_gain(attrs: dict) -> float:
    """Input gain of a PLIF node: ``alpha (1 - beta)`` with ``decay_input`` (Fang et al. 2021's
    ``1/tau``, tied to the leak), else ``alpha``. Backends and passes use this expression so that
    they round as the interpreter does."""
    if attrs["decay_input"]:
        return attrs["alpha"] * (1.0 - attrs["beta"])
    return attrs["alpha"]


def interpret(graph: Graph, x: np.ndarray, T: int | None = None, *,
              assignment: dict[str, int] | None = None) -> np.ndarray:
    """Reference output of ``graph`` on ``x``: ``[T, B, *output_shape]`` (see :meth:`Interpreter.run`);
    a supernet runs the path ``assignment`` selects."""
    return Interpreter(graph, assignment=assignment).run(x, T).output


def run(graph: Graph, x: np.ndarray, T: int | None = None, *,
        assignment: dict[str, int] | None = None) -> Trace:
    """Like :func:`interpret` but returns the whole :class:`Trace` (every node, every membrane)."""
    return Interpreter(graph, assignment=assignment).run(x, T)
