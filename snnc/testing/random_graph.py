"""Random valid IR graphs: the inputs of the property tests of passes and backends.

:func:`random_graph` builds a small TANet-like network (STTS section 4.1) from one seed::

    Input (2..3, 5..8, 5..8)
      -> stage 0 .. stage n-1     each a DAG of spiking conv nodes (SCN, STTS eq. 6-8):
                                  sum of inputs -> LIF [-> Dropout] [-> AvgPool2d]
                                  -> Conv2d, or depthwise kxk [-> BatchNorm2d] [-> Dropout] -> 1x1
                                  [-> Dropout] [-> BatchNorm2d] [-> Dropout]
                                  forward edges i -> j (i < j) with delays 0..2 (skip paths of
                                  different depths), backward edges j -> i (delay 1..2, cycles);
                                  the stage's output nodes are averaged by a Scale(1/|T|) sink
                                  (STTS eq. 10) that feeds the next stage's input-node LIFs
      -> GlobalAvgPool | Flatten [-> Dropout] -> Linear [-> LIF] [-> Vote] -> Output

plus, sometimes, dead branches that never reach the Output and a delay-1 edge inside a node (which
blocks BatchNorm folding). Neurons are LIF unless ``neurons`` names more (ALIF, PLIF, ReLU).
Neuron parameters (beta, alpha, v_th, hard/soft reset, v_reset, v_rest),
BatchNorm running statistics and affine parameters, biases and delays are all random. Weights and
BatchNorm statistics are fitted to random spike trains (rate 0.2), then the threshold of every
neuron that fires at < 5 % or > 50 % of its steps on a calibration input is moved into a gap
between observed membrane values, so on :func:`random_input` about 95 % of the neurons fire at
5-50 % of the steps (mean about 18 %); a moved threshold never equals an observed membrane
value (float rounding could flip such a tie). Same seed, same graph; every graph passes
:func:`~snnc.ir.verify`.

Example::

    >>> g = random_graph(3)
    >>> trace = run(g, random_input(g, seed=0))   # trace.output: [T, 2, classes]
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ir.graph import BACKWARD, Graph
from ..ir.interpret import avg_pool2d, conv2d, plif_gain, run
from ..ir.ops import NEURON_OPS, SPIKING_NEURON_OPS
from ..ir.verify import verify

_RATE = 0.2      # firing rate assumed when calibrating weights and BatchNorm statistics
_SAMPLES = 12    # spike maps per calibration batch
_BLOCK_MAX = 10  # most nodes one spiking conv node can add (LIF, Dropouts, pool, convs, BNs)
_HEAD_MAX = 6    # GlobalAvgPool/Flatten, Dropout, Linear, LIF, Vote, Output


@dataclass
class _Stage:
    """The planned topology of one stage: ``preds[j]`` = [(i, delay)] forward edges into node j."""

    n: int
    preds: dict[int, list[tuple[int, int]]] = field(default_factory=dict)
    back: list[tuple[int, int, int]] = field(default_factory=list)  # (src j, dst i, delay)

    def inputs(self) -> list[int]:
        return [j for j in range(self.n) if not self.preds[j]]

    def outputs(self) -> list[int]:
        fed = {i for j in range(self.n) for i, _ in self.preds[j]}
        return [j for j in range(self.n) if j not in fed]

    def fan_in(self, j: int) -> int:
        return max(1, len(self.preds[j]) + sum(1 for _, i, _ in self.back if i == j))


class _Builder:
    def __init__(self, seed: int, max_nodes: int, delays: bool, backward: bool, separable: bool,
                 dropout: bool, dead: bool, vote: bool, neurons: tuple[str, ...]):
        self.rng = np.random.default_rng(seed)
        self.neurons = neurons
        self.max_nodes = max_nodes
        self.delays, self.backward, self.separable = delays, backward, separable
        self.dropout, self.dead, self.vote = dropout, dead, vote
        self.g: Graph | None = None

    # ------------------------------------------------------------ small pieces
    def delay(self) -> int:
        return int(self.rng.choice(3, p=[0.5, 0.3, 0.2])) if self.delays else 0

    def chance(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def lif(self, name: str) -> str:
        """A neuron node: LIF, or (with several ``neurons``) one of them drawn uniformly."""
        r = self.rng
        op = "LIF" if len(self.neurons) == 1 else str(r.choice(self.neurons))
        if op == "ReLU":
            self.g.add_node(name, "ReLU")
            return name
        style = r.choice(["spikingjelly", "leak", "if"])
        if style == "spikingjelly":  # beta = 1 - 1/tau, alpha = 1/tau
            tau = r.uniform(1.5, 4.0)
            attrs = {"beta": 1 - 1 / tau, "alpha": 1 / tau, "v_th": r.uniform(0.2, 0.6)}
        elif style == "leak":
            attrs = {"beta": r.uniform(0.2, 0.9), "alpha": 1.0, "v_th": r.uniform(0.4, 1.2)}
        else:
            attrs = {"beta": 1.0, "alpha": r.uniform(0.5, 1.0), "v_th": r.uniform(0.6, 1.5)}
        attrs["reset"] = str(r.choice(["hard", "soft"]))
        attrs["v_reset"] = float(r.uniform(-0.3, 0.1)) if self.chance(0.4) else 0.0
        attrs["v_rest"] = float(r.uniform(-0.1, 0.1)) if self.chance(0.4) else 0.0
        attrs = {k: (float(v) if not isinstance(v, str) else v) for k, v in attrs.items()}
        if op == "ALIF":
            attrs.update(rho=float(r.uniform(0.0, 0.9)), adapt=float(r.uniform(0.05, 0.6)))
        elif op == "PLIF":  # the tied gain alpha (1 - beta) would silence an IF neuron
            attrs["decay_input"] = bool(attrs["beta"] < 1.0 and self.chance(0.5))
        self.g.add_node(name, op, attrs)
        return name

    def conv(self, name: str, x: np.ndarray, cout: int, k: int, stride: int = 1,
             groups: int = 1) -> tuple[str, np.ndarray]:
        """Add a Conv2d fed by the calibration batch ``x`` [N, C, H, W]; return it and its
        output."""
        cin = x.shape[1]
        fan = cin // groups * k * k
        bias = self.chance(0.5)
        params = {"weight": self.rng.normal(0, 1 / np.sqrt(fan), (cout, cin // groups, k, k))}
        if bias:
            params["bias"] = self.rng.normal(0, 0.2, cout)
        attrs = {"in_channels": cin, "out_channels": cout, "kernel": k, "stride": stride,
                 "padding": k // 2, "groups": groups, "bias": bias}
        self.g.add_node(name, "Conv2d", attrs, params)
        y = conv2d(x, params["weight"], params.get("bias"), stride, k // 2, groups)
        return name, y

    def bn(self, name: str, y: np.ndarray, mu: float, sd: float) -> tuple[str, np.ndarray]:
        """Add a BatchNorm2d whose running statistics roughly fit ``y`` [N, C, ...] and whose
        output is about N(mu, sd^2) per channel; return it and its output on ``y``."""
        r, c = self.rng, y.shape[1]
        axes = (0,) + tuple(range(2, y.ndim))
        m, v = y.mean(axis=axes), y.var(axis=axes) + 1e-3
        p = {"weight": sd * r.uniform(0.7, 1.3, c) * np.where(r.random(c) < 0.1, -1.0, 1.0),
             "bias": mu + r.normal(0, 0.1, c),
             "running_mean": m + r.normal(0, 0.2, c) * np.sqrt(v),
             "running_var": v * r.uniform(0.8, 1.25, c)}
        eps = float(r.choice([1e-5, 1e-3]))
        self.g.add_node(name, "BatchNorm2d", {"num_features": c, "eps": eps}, p)
        shape = (1, c) + (1,) * (y.ndim - 2)
        scale = p["weight"] / np.sqrt(p["running_var"] + eps)
        out = (y - p["running_mean"].reshape(shape)) * scale.reshape(shape)
        out = out + p["bias"].reshape(shape)
        return name, out

    def normalise(self, node: str, y: np.ndarray, mu: float, sd: float) -> None:
        """Without a BatchNorm: rescale ``node``'s weights (and centre its bias) so that its output
        on the calibration batch is about N(mu, sd^2)."""
        params = self.g[node].params
        axes = (0,) + tuple(range(2, y.ndim))
        s = sd / (y.std() + 1e-6)
        params["weight"] = params["weight"] * s
        if "bias" in params:
            params["bias"] = (params["bias"] - y.mean(axis=axes)) * s + mu

    def spikes(self, shape) -> np.ndarray:
        return (self.rng.random((_SAMPLES,) + tuple(shape)) < _RATE).astype(np.float64)

    def chain(self, names: list[str]) -> None:
        for a, b in zip(names, names[1:]):
            d = 1 if self.delays and self.chance(0.03) else 0  # blocks BN folding
            self.g.add_edge(a, b, delay=d)

    # ------------------------------------------------------------ one spiking conv node
    def block(self, p: str, in_shape, cout: int, stride: int, fan: int) -> list[str]:
        """LIF -> ... -> conv -> BN (STTS eq. 7); returns its nodes in order."""
        mu, sd = self.rng.uniform(0.05, 0.4) / fan, self.rng.uniform(0.4, 0.8) / np.sqrt(fan)
        names = [self.lif(f"{p}.lif")]
        x = self.spikes(in_shape)
        if self.dropout and self.chance(0.1):
            names.append(self.g.add_node(f"{p}.drop0", "Dropout", {"p": 0.1}).name)
        if self.chance(0.2):
            k, s = (3, 2) if stride == 2 else (3, 1)
            names.append(self.g.add_node(f"{p}.pool", "AvgPool2d",
                                         {"kernel": k, "stride": s, "padding": 1}).name)
            x, stride = avg_pool2d(x, k, s, 1), 1
        cin = x.shape[1]
        bn_done = False
        if self.separable and self.chance(0.4):
            mult = int(self.rng.choice([1, 2]))
            name, x = self.conv(f"{p}.dw", x, cin * mult, 3, stride, groups=cin)
            names.append(name)
            if self.chance(0.4):
                name, x = self.bn(f"{p}.dw_bn", x, 0.0, 1.0)
                names.append(name)
            if self.dropout and self.chance(0.1):
                names.append(self.g.add_node(f"{p}.drop1", "Dropout", {"p": 0.1}).name)
            name, x = self.conv(f"{p}.pw", x, cout, 1)
        else:
            k = int(self.rng.choice([1, 3]))
            common = [d for d in (2, 3) if cin % d == 0 and cout % d == 0 and d < cin]
            groups = int(self.rng.choice(common)) if common and self.chance(0.2) else 1
            name, x = self.conv(f"{p}.conv", x, cout, k, stride, groups)
        names.append(name)
        if self.chance(0.85):
            if self.dropout and self.chance(0.08):
                names.append(self.g.add_node(f"{p}.drop2", "Dropout", {"p": 0.2}).name)
            names.append(self.bn(f"{p}.bn", x, mu, sd)[0])
            bn_done = True
        if not bn_done:
            self.normalise(name, x, mu, sd)
        if self.dropout and self.chance(0.12):
            names.append(self.g.add_node(f"{p}.drop3", "Dropout", {"p": 0.3}).name)
        self.chain(names)
        return names

    # ------------------------------------------------------------ stages
    def plan(self, n: int, same_shape: bool) -> _Stage:
        st = _Stage(n)
        for j in range(n):
            st.preds[j] = []
            for i in range(j):
                if self.chance(0.6 if i == j - 1 else 0.3):
                    st.preds[j].append((i, self.delay()))
        if self.backward and self.chance(0.6):
            for _ in range(int(self.rng.integers(1, 3))):
                j = int(self.rng.integers(n))
                targets = [i for i in range(j + 1) if same_shape or st.preds[i]]
                if targets:
                    i = int(self.rng.choice(targets))
                    edge = (j, i, int(self.rng.integers(1, 3)) if self.delays else 1)
                    if edge not in st.back:
                        st.back.append(edge)
        return st

    def stage(self, s: int, source: str, src_shape, shape, stride: int, n: int) -> str:
        """Build stage ``s`` reading ``source``; returns the node the next stage reads."""
        g, st = self.g, self.plan(n, tuple(src_shape) == tuple(shape))
        outputs, inputs = st.outputs(), st.inputs()
        consumers = {j: [k for k in range(n) for i, _ in st.preds[k] if i == j] +
                     [i for src, i, _ in st.back if src == j] for j in range(n)}
        first, last, anchors = {}, {}, []  # anchors: nodes of shape `shape`
        for j in range(n):
            fan = max([st.fan_in(k) for k in consumers[j]] + [1])
            in_shape = src_shape if j in inputs else shape
            names = self.block(f"s{s}.n{j}", in_shape, shape[0], stride if j in inputs else 1, fan)
            first[j], last[j] = names[0], names[-1]
            conv = next(k for k, name in enumerate(names) if name.endswith((".conv", ".pw")))
            anchors += names[conv:] + ([] if j in inputs else names[:1])
        for j in range(n):
            for i, d in st.preds[j]:
                g.add_edge(last[i], first[j], delay=d)
        for j, i, d in st.back:
            g.add_edge(last[j], first[i], delay=d, kind=BACKWARD)
        for j in inputs:
            g.add_edge(source, first[j], delay=self.delay())
        if len(outputs) == 1:
            sink = last[outputs[0]]
        else:
            sink = g.add_node(f"s{s}.sink", "Scale", {"scale": 1.0 / len(outputs)}).name
            for j in outputs:
                g.add_edge(last[j], sink, delay=self.delay())
            anchors.append(sink)
        if self.dead and self.chance(0.35):
            self.dead_branch(f"s{s}.dead", anchors, shape[0])
        return sink

    def dead_branch(self, p: str, anchors: list[str], c: int) -> None:
        """A node or two hanging off one of ``anchors`` (``c`` channels) that never reach the
        Output; one hanging off a conv blocks BatchNorm folding until dead code is removed."""
        g = self.g
        anchor = g[str(self.rng.choice(anchors))]
        kind = int(self.rng.integers(3))
        if kind == 0:
            names = [self.lif(f"{p}.lif")]
        elif kind == 1:
            names = [g.add_node(f"{p}.pool", "AvgPool2d", {"kernel": 2}).name]
        else:
            names = [self.lif(f"{p}.lif"), self.conv(f"{p}.conv", self.spikes((c, 3, 3)), c, 1)[0]]
        g.add_edge(anchor.name, names[0], delay=self.delay())
        self.chain(names)

    # ------------------------------------------------------------ whole graph
    def build(self, seed: int) -> Graph:
        r = self.rng
        c, h, w = int(r.integers(2, 4)), int(r.integers(5, 9)), int(r.integers(5, 9))
        classes, T = int(r.integers(2, 5)), int(r.integers(3, 7))
        self.g = g = Graph({"name": f"random-{seed}", "T": T, "classes": classes,
                            "genome_id": f"random-{seed}", "encoding": "sequence"})
        g.add_node("in", "Input", {"shape": (c, h, w)})
        source, shape = "in", (c, h, w)
        for s in range(int(r.integers(1, 4))):
            budget = self.max_nodes - len(g) - _HEAD_MAX - 4  # sink + dead branch + slack
            n = min(int(r.integers(1, 5)), budget // _BLOCK_MAX)
            if n < 1:
                break
            cs = int(r.integers(2, 6)) if s == 0 else min(shape[0] * int(r.choice([1, 2])), 8)
            stride = 2 if s > 0 and min(shape[1:]) >= 4 and self.chance(0.5) else 1
            new = (cs, (shape[1] - 1) // stride + 1, (shape[2] - 1) // stride + 1)
            source, shape = self.stage(s, source, shape, new, stride, n), new
        self.head(source, shape, classes)
        verify(g)
        assert len(g) <= self.max_nodes, (len(g), self.max_nodes)
        self.calibrate()
        return g

    def calibrate(self, rounds: int = 4) -> None:
        """Move the threshold of every neuron that fires at < 5 % or > 50 % of its neuron-steps on
        a calibration input to the quantile of its membrane input H that gives a random target
        rate in 10..35 %; repeat, since neurons feed each other."""
        g = self.g
        lifs = g.nodes_of(*SPIKING_NEURON_OPS)
        target = {n.name: self.rng.uniform(0.1, 0.35) for n in lifs}
        x = random_input(g, seed=int(self.rng.integers(2**31)), batch=2)
        for _ in range(rounds):
            trace = run(g, x)
            moved = False
            for node in lifs:
                if 0.05 <= trace.outputs[node.name].mean() <= 0.5:
                    continue
                a = node.attrs
                v_th = _threshold_for(_membrane_input(g, trace, node), target[node.name])
                floor = max(a["v_reset"] if a["reset"] == "hard" else a["v_rest"], a["v_rest"])
                a["v_th"] = max(v_th, floor + 0.01)
                moved = True
            if not moved:
                break

    def head(self, source: str, shape, classes: int) -> None:
        g, r = self.g, self.rng
        x = self.spikes(shape)
        if self.chance(0.6):
            names, x = [g.add_node("head.gap", "GlobalAvgPool").name], x.mean(axis=(2, 3))
        else:
            names, x = [g.add_node("head.flat", "Flatten").name], x.reshape(len(x), -1)
        if self.dropout and self.chance(0.3):
            names.append(g.add_node("head.drop", "Dropout", {"p": 0.5}).name)
        pop = int(r.choice([1, 2, 3])) if self.vote else 1
        fin, fout = x.shape[1], classes * pop
        wt = r.normal(0, 1 / np.sqrt(fin), (fout, fin))
        y = x @ wt.T
        wt *= 0.5 / (y.std() + 1e-6)
        bias = -(x @ wt.T).mean(axis=0) + r.uniform(0.1, 0.4, fout)
        names.append(g.add_node("head.fc", "Linear", {"in_features": fin, "out_features": fout},
                                {"weight": wt, "bias": bias}).name)
        if pop > 1 or self.chance(0.7):
            names.append(self.lif("head.lif"))
        if pop > 1:
            names.append(g.add_node("head.vote", "Vote", {"classes": classes}).name)
        names.append(g.add_node("out", "Output").name)
        g.add_edge(source, names[0], delay=self.delay())
        for a, b in zip(names, names[1:]):
            g.add_edge(a, b)


def _membrane_input(g: Graph, trace, node) -> np.ndarray:
    """H[t] = v_rest + beta (V[t-1] - v_rest) + g X[t] of spiking neuron ``node`` in ``trace``
    (``g = alpha``, or the PLIF gain)."""
    a, v = node.attrs, trace.v[node.name]
    x = np.zeros_like(v)
    for e in g.in_edges(node.name):
        src = trace.outputs[e.src]
        x[e.delay:] += src[:len(src) - e.delay]
    prev = np.concatenate([np.full_like(v[:1], a["v_rest"]), v[:-1]])
    gain = plif_gain(a) if node.op == "PLIF" else a["alpha"]
    return a["v_rest"] + a["beta"] * (prev - a["v_rest"]) + gain * x


def _threshold_for(h: np.ndarray, rate: float) -> float:
    """A threshold that about ``rate`` of the values ``h`` exceed, in the middle of the widest gap
    between neighbouring values near that quantile: never equal to a value of ``h`` (neurons
    driven by biases alone have the same H for every input, and a tie with the threshold could
    flip under float rounding)."""
    u = np.unique(h)
    if len(u) < 2:
        return float(u[0]) + 0.1
    mids, gaps = (u[1:] + u[:-1]) / 2, np.diff(u)
    lo, hi = np.quantile(h, [max(0.0, 1 - rate - 0.07), min(1.0, 1 - rate + 0.07)])
    near = (mids >= lo) & (mids <= hi)
    if not near.any():
        near = mids >= np.quantile(h, 1 - rate)
    return float(mids[np.argmax(np.where(near, gaps, -1.0))])


def random_graph(seed: int, *, max_nodes: int = 60, delays: bool = True, backward: bool = True,
                 separable: bool = True, dropout: bool = True, dead: bool = True,
                 vote: bool = True, neurons: tuple[str, ...] = ("LIF",)) -> Graph:
    """A random valid graph (see the module docstring), the same for the same arguments.

    Args:
        seed: seeds ``numpy.random.default_rng``; every choice comes from it.
        max_nodes: the graph has at most this many nodes (>= 24).
        delays: edges get delays 0..2 (else every forward edge has delay 0).
        backward: some stages get backward edges (delay >= 1, ``kind="backward"``), i.e. cycles.
        separable: some convolutions are depthwise kxk + pointwise 1x1.
        dropout: some Dropout nodes (training-only ops) appear.
        dead: some branches never reach the Output.
        vote: the head sometimes ends in a population and a Vote layer.
        neurons: the neuron ops to draw from (uniformly, per neuron node), e.g.
            :data:`~snnc.ir.ops.NEURON_OPS` for graphs with every neuron model; the default,
            LIF only, keeps the graphs of earlier releases (the extra draws happen only with
            several neuron ops).
    Returns:
        A verified :class:`Graph` (float64 params) with ``meta`` ``T`` (3..6) and ``classes``.
    Raises:
        ValueError: ``max_nodes`` too small for one stage and the head, or ``neurons`` empty or
            naming an op that is not a neuron.
    """
    if max_nodes < 24:
        raise ValueError(f"max_nodes={max_nodes} is too small; random graphs need >= 24 nodes")
    neurons = tuple(neurons)
    if not neurons or any(n not in NEURON_OPS for n in neurons):
        raise ValueError(f"neurons must be a non-empty subset of {NEURON_OPS}, got {neurons}")
    return _Builder(seed, max_nodes, delays, backward, separable, dropout, dead, vote,
                    neurons).build(seed)


def random_input(graph: Graph, seed: int = 0, batch: int = 2, T: int | None = None) -> np.ndarray:
    """A random input sequence ``[T, batch, *input_shape]`` ~ N(0.3, 0.8^2) for ``graph``
    (``T`` defaults to ``graph.meta["T"]``). Continuous values make exact threshold ties, which
    float rounding could flip, practically impossible."""
    T = int(T if T is not None else graph.meta.get("T", 4))
    shape = tuple(graph.input_node.attrs["shape"])
    return np.random.default_rng(seed).normal(0.3, 0.8, (T, batch) + shape)


def firing_rates(graph: Graph, x: np.ndarray) -> dict[str, float]:
    """Mean firing rate of every spiking neuron node of ``graph`` on ``x`` (fraction of
    neuron-steps)."""
    trace = run(graph, x)
    return {n.name: float(trace.outputs[n.name].mean())
            for n in graph.nodes_of(*SPIKING_NEURON_OPS)}
