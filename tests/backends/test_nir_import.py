"""NIR import against what other tools mean (issue 15, NIR items 1-4): files written by snnTorch,
SpikingJelly and Norse, simulated by their own code; hand-written graphs checked against a
brute-force forward-Euler simulation of NIR's equations; the presets through export -> import ->
export -> import with every node's output equal and every edge's kind and delay kept."""
from __future__ import annotations

import io

import nir
import numpy as np
import pytest

from snnc import zoo
from snnc.backends.nir import BACKWARD_EDGES, IMPLICIT_EDGES, NirError, from_nir, import_nir, to_nir
from snnc.errors import GraphError
from snnc.frontend import lower
from snnc.ir import run, verify
from snnc.passes.targets import prepare
from tests.zoo.test_presets_small import reduced

torch = pytest.importorskip("torch")


def _through_file(ng):
    buf = io.BytesIO()
    nir.write(buf, ng)
    buf.seek(0)
    return nir.read(buf)


def _edges(g):
    return sorted((e.src, e.dst, e.port, e.delay, e.kind) for e in g.edges)


def _delayed(g):
    return sorted((e.src, e.dst, e.delay, e.kind) for e in g.edges if e.delay or e.kind != "forward")


def _assert_same_outputs(g1, g2, x):
    """Every node of ``g1`` has the same output in ``g2``."""
    t1, t2 = run(g1, x), run(g2, x)
    assert set(t1.outputs) <= set(t2.outputs)
    for name, out in t1.outputs.items():
        # NIR's pool over a square map comes back as AvgPool2d (C, 1, 1) read by a Flatten
        got = t2.outputs[name].reshape(out.shape)
        np.testing.assert_allclose(got, out, rtol=0, atol=1e-9, err_msg=name)


# ------------------------------------------------------------------ presets (item 1)
def _preset(name):
    return prepare(verify(lower(reduced(zoo.load(name)), seed=0)), "nir")[0]


@pytest.mark.parametrize("implicit", [False, True])
@pytest.mark.parametrize("name", zoo.names())
def test_preset_round_trip_keeps_edges_and_outputs(name, implicit):
    """export -> import keeps every delayed edge's kind and delay (TANet's forward delays stay
    forward, SNASNet-Bw's backward ones all come back, with ``implicit_cycle_delay`` too) and every
    node's output; a second export -> import changes nothing (the first adds only the Flatten
    that NIR's global pool needs). Presets NIR cannot hold are refused by node name."""
    g = _preset(name)
    try:
        ng = to_nir(g, dt=1e-3, implicit_cycle_delay=implicit)
    except NirError as exc:
        assert exc.node in g.nodes and exc.op in ("Upsample", "Concat"), exc
        return
    g2 = from_nir(_through_file(ng))
    assert _delayed(g2) == _delayed(g)
    assert set(g2.nodes) - set(g.nodes) <= {n.name + ".flatten" for n in g.nodes_of("GlobalAvgPool")}
    g3 = from_nir(_through_file(to_nir(g2, dt=1e-3, implicit_cycle_delay=implicit)))
    assert _edges(g3) == _edges(g2)
    x = np.random.default_rng(1).normal(0.5, 1.0, (2, 1, 8, 8))
    _assert_same_outputs(g, g2, x)
    _assert_same_outputs(g2, g3, x)


@pytest.mark.parametrize("name", ["tanet-tiny", "tanet-regular"])
def test_forward_delays_stay_forward_without_snnc_metadata(name):
    """A file without snnc's edge lists (another producer's): a delayed edge that closes no cycle
    is forward, TANet's delays included."""
    g = _preset(name)
    assert any(e.delay for e in g.edges)
    ng = _through_file(to_nir(g, dt=1e-3))
    del ng.metadata[BACKWARD_EDGES]
    assert _delayed(from_nir(ng)) == _delayed(g)


def test_implicit_export_shortens_only_backward_edges_on_a_cycle():
    """``implicit_cycle_delay``: a consumer adds its own step to cycles only, so a backward edge on
    no cycle keeps its Delay node; the metadata lists the shortened edges, and import restores
    them. SNASNet-Bw's six backward edges are all on cycles."""
    g = _preset("snasnet-bw-cifar10")
    md = to_nir(g, dt=1e-3, implicit_cycle_delay=True).metadata
    back = sorted(f"{e.src} -> {e.dst} @{e.delay - 1}" for e in g.edges if e.kind == "backward")
    assert len(back) == 6 and sorted(md[IMPLICIT_EDGES].splitlines()) == back
    g = _hand_ir()
    ng = to_nir(g, dt=DT, implicit_cycle_delay=True)
    assert ("lif1", "lif1.delay1") in ng.edges and ("lif1.delay1", "lif2") in ng.edges
    assert ng.metadata[IMPLICIT_EDGES] == ""
    g2 = from_nir(_through_file(ng))
    assert _edges(g2) == _edges(g)
    _assert_same_outputs(g, g2, np.random.default_rng(0).uniform(0, 1, (2, 4)))


def _hand_ir():
    """in -> fc1 -> lif1 -> fc2 -> lif2 -> out, and lif1 -> lif2 marked backward at delay 1
    (no cycle: a backward connection whose target sum was folded away)."""
    from snnc.ir import Graph

    rng = np.random.default_rng(5)
    g = Graph({"name": "hand", "T": 6, "classes": 3, "encoding": "direct"})
    g.add_node("in", "Input", {"shape": (4,)})
    g.add_node("fc1", "Linear", {"in_features": 4, "out_features": 3},
               {"weight": rng.normal(0, 1.5, (3, 4)), "bias": np.full(3, 0.2)})
    g.add_node("lif1", "LIF", {"beta": 0.5, "alpha": 1.0, "v_th": 0.5, "reset": "hard"})
    g.add_node("fc2", "Linear", {"in_features": 3, "out_features": 3},
               {"weight": rng.normal(0, 1.5, (3, 3)), "bias": np.full(3, 0.1)})
    g.add_node("lif2", "LIF", {"beta": 0.5, "alpha": 1.0, "v_th": 0.5, "reset": "hard"})
    g.add_node("out", "Output")
    for a, b in [("in", "fc1"), ("fc1", "lif1"), ("lif1", "fc2"), ("fc2", "lif2"), ("lif2", "out")]:
        g.add_edge(a, b)
    g.add_edge("lif1", "lif2", delay=1, kind="backward")
    return verify(g)


# ------------------------------------------------------------------ brute force of NIR's equations
def _euler(ng, x, dt, T):
    """Forward-Euler simulation of a NIR graph of Input, Affine, LIF, IF, Delay and Output nodes,
    written from NIR's equations alone: an edge reads its source's value of this step, a Delay of
    d steps its input d steps ago; a cycle without a Delay reads the value its first node (from
    the Output backwards: the neuron) had one step before, as snnTorch's RLeaky does; membranes
    start at v_leak (0 for IF). ``x`` [B, F] is applied every step. Returns {node: [T, B, F]}."""
    nodes, edges = ng.nodes, ng.edges
    ins = {k: [s for s, d in edges if d == k] for k in nodes}
    hist = {k: [] for k in nodes}
    v = {k: np.zeros(x.shape[:1] + np.shape(n.v_threshold)) + getattr(n, "v_leak", 0.0)
         for k, n in nodes.items() if isinstance(n, (nir.LIF, nir.IF))}
    busy: set = set()

    def value(k, t):
        if t < 0:
            return 0.0
        if t < len(hist[k]):
            return hist[k][t]
        if k in busy:  # k's own output reaches it again this step: read the step before
            return value(k, t - 1)
        busy.add(k)
        n = nodes[k]
        if isinstance(n, nir.Input):
            out = x
        elif isinstance(n, nir.Delay):
            steps = int(round(float(np.ravel(n.delay)[0]) / dt))
            out = np.zeros(x.shape[:1] + np.shape(n.delay)) + value(ins[k][0], t - steps)
        else:
            i = sum(value(s, t) for s in ins[k])
            if isinstance(n, nir.Affine):
                i = np.zeros((x.shape[0], np.shape(n.weight)[1])) + i  # 0 before a Delay fills
                out = i @ np.asarray(n.weight).T + np.asarray(n.bias)
            elif isinstance(n, nir.Output):
                out = i
            else:
                if isinstance(n, nir.IF):
                    h = v[k] + dt * np.asarray(n.r) * i
                else:
                    h = v[k] + dt / np.asarray(n.tau) * (np.asarray(n.v_leak) - v[k]
                                                          + np.asarray(n.r) * i)
                out = (h > np.asarray(n.v_threshold)).astype(float)
                v[k] = np.where(out > 0, np.asarray(n.v_reset), h)
        busy.discard(k)
        assert len(hist[k]) == t
        hist[k].append(out)
        return out

    out = [k for k, n in nodes.items() if isinstance(n, nir.Output)][0]
    for t in range(T):
        value(out, t)
        for k in nodes:  # those only a Delay reads, late
            value(k, t)
    return {k: np.stack(h) for k, h in hist.items()}


DT = 1e-3


def _lif(n=3, tau=4 * DT, r=2.0, v_leak=0.0, v_th=0.5, v_reset=0.0):
    f = np.full
    return nir.LIF(tau=f(n, tau), r=f(n, r), v_leak=f(n, v_leak), v_threshold=f(n, v_th),
                   v_reset=f(n, v_reset))


def _hand_graph(kind, seed=0):
    """in [4] -> fc -> lif [3] -> out, plus: ``forward delay`` (lif -> Delay 2 -> fc2 -> lif2 ->
    out), ``cycle with Delay`` (lif -> Delay 1 -> rec -> lif), ``cycle`` (lif -> rec -> lif, no
    Delay), ``v_leak`` (lif with v_leak = 0.3, v_reset = -0.1), ``IF`` (r = 1/dt). The Affines
    have biases, so where a cycle's step sits shows at t = 0."""
    rng = np.random.default_rng(seed)
    nodes = {"in": nir.Input(input_type={"input": np.array([4])}),
             "fc": nir.Affine(weight=rng.normal(0, 1.0, (3, 4)), bias=rng.normal(0.2, 0.2, 3)),
             "lif": _lif(), "out": nir.Output(output_type={"output": np.array([3])})}
    edges = [("in", "fc"), ("fc", "lif"), ("lif", "out")]
    if kind == "v_leak":
        nodes["lif"] = _lif(v_leak=0.3, v_reset=-0.1)
    if kind == "IF":
        nodes["lif"] = nir.IF(r=np.full(3, 1 / DT), v_threshold=np.full(3, 0.8),
                              v_reset=np.zeros(3))
    if kind.startswith("cycle"):
        nodes["rec"] = nir.Affine(weight=rng.normal(0, 1.0, (3, 3)), bias=rng.normal(0.3, 0.1, 3))
        if kind == "cycle with Delay":
            nodes["d"] = nir.Delay(delay=np.full(3, DT))
            edges += [("lif", "d"), ("d", "rec"), ("rec", "lif")]
        else:
            edges += [("lif", "rec"), ("rec", "lif")]
    if kind == "forward delay":
        nodes["d"] = nir.Delay(delay=np.full(3, 2 * DT))
        nodes["fc2"] = nir.Affine(weight=rng.normal(0, 1.5, (3, 3)), bias=np.full(3, 0.1))
        nodes["lif2"] = _lif(tau=2 * DT, r=1.0, v_th=0.3)
        edges = [e for e in edges if e != ("lif", "out")]
        edges += [("lif", "d"), ("d", "fc2"), ("fc2", "lif2"), ("lif2", "out")]
    return nir.NIRGraph(nodes=nodes, edges=edges, metadata={"dt": DT, "T": 8})


HAND = {"forward delay": [("lif", "fc2", 2, "forward")],
        "cycle with Delay": [("lif", "rec", 1, "backward")],
        "cycle": [("lif", "rec", 1, "backward")], "v_leak": [], "IF": []}


@pytest.mark.parametrize("kind", list(HAND))
def test_hand_written_graph_equals_euler_simulation(kind):
    """Every node's output equals a brute-force Euler simulation of the file; the delayed edges
    are the expected ones (a forward Delay stays forward; a cycle without Delay is delayed on the
    neuron's output edge, like the one with a Delay node); export -> import changes nothing."""
    ng = _through_file(_hand_graph(kind))
    g = from_nir(ng)
    assert sorted((e.src, e.dst, e.delay, e.kind) for e in g.edges if e.delay) == HAND[kind]
    x = np.random.default_rng(2).uniform(0, 1, (3, 4))
    ref = _euler(ng, x, DT, 8)
    trace = run(g, x)
    for name, out in ref.items():
        if name in trace.outputs:
            np.testing.assert_allclose(trace.outputs[name], out, rtol=0, atol=1e-9, err_msg=name)
    spikes = ref["lif"]
    assert 0.05 < spikes.mean() < 0.95 and (spikes != spikes[:1]).any()  # not a trivial check
    g2 = from_nir(_through_file(to_nir(g, dt=DT)))
    assert _edges(g2) == _edges(g)
    _assert_same_outputs(g, g2, x)


# ------------------------------------------------------------------ refusals (items 2, 4)
def test_tau_shorter_than_dt_is_refused_with_the_dt_that_works():
    """beta = 1 - dt/tau < 0 is no neuron snnc (or NIR's Euler step) can run: refused, naming the
    node, tau, dt and the largest dt that imports; tau = dt (beta = 0) imports."""
    ng = _hand_graph("v_leak")
    ng.nodes["lif"] = _lif(tau=DT / 200)
    with pytest.raises(NirError, match=r"node 'lif' \(LIF tau=5e-06 s\).*dt=0.001 s.*beta = -199"
                                       r".*dt <= 5e-06 s"):
        from_nir(ng)
    assert from_nir(ng, dt=DT / 200)["lif"].attrs["beta"] == 0.0


def test_norse_file_with_tau_below_dt_is_refused(tmp_path):
    """Norse 1.1.0's ``to_nir`` writes tau = dt * tau_mem (it divides dt by the inverse time
    constant): a default LIFBoxCell (tau_mem_inv = 100/s) at dt = 1e-3 s gives tau = 1e-5 s,
    which imported at dt = 1e-3 s would be beta = -99."""
    import norse.torch as norse
    from norse.torch.utils.export_nir import to_nir as norse_to_nir

    # per-neuron parameters: nir.write refuses Norse's scalar defaults
    p = norse.LIFBoxParameters(tau_mem_inv=torch.full((3,), 100.0), v_th=torch.ones(3),
                               v_leak=torch.zeros(3))
    net = norse.SequentialState(torch.nn.Linear(4, 3), norse.LIFBoxCell(p))
    path = tmp_path / "norse.nir"
    nir.write(path, norse_to_nir(net, torch.zeros(1, 4), dt=1e-3))
    with pytest.raises(NirError, match=r"norse.nir: node .*tau=1e-05 s.*dt <= 1e-05 s"):
        import_nir(path, dt=1e-3, T=4)


def test_verifier_errors_name_the_file(tmp_path):
    """A graph that reads but does not verify (an Affine whose width does not match its input)
    fails with the verifier's GraphError, its message starting with the file."""
    ng = _hand_graph("v_leak")
    ng.nodes["fc"] = nir.Affine(weight=np.ones((3, 5)), bias=np.zeros(3))
    path = tmp_path / "mismatch.nir"
    nir.write(path, ng)
    with pytest.raises(GraphError, match=r"^\S*mismatch.nir: "):
        import_nir(path)


# ------------------------------------------------------------------ peers' own simulations
def test_snntorch_recurrent_layers_equal_snntorch(tmp_path):
    """snnTorch 1.0.0 writes RLeaky and RSynaptic as a cycle ``lif -> w_rec -> lif`` without a
    Delay node (item 3); snnTorch itself feeds ``w_rec`` the previous step's spikes, so its bias
    acts from t = 0. Two RLeaky layers must spike exactly as snnTorch does; reset to zero without
    delay is NIR's hard reset (snnTorch's default subtractive reset has no NIR counterpart).
    RSynaptic cannot be compared spike for spike: with ``reset_delay=False`` snnTorch 1.0.0's
    forward fails (it reads ``spk`` that is None under ``init_hidden``), and its delayed reset
    zeroes the whole next step, which NIR's reset does not; its import is checked for the same
    delay placement (alpha = 0 makes it a CubaLIF with tau_syn = dt, the only one snnc imports)."""
    import snntorch as snn
    from snntorch import utils as snn_utils
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)
    hard = {"init_hidden": True, "reset_mechanism": "zero", "reset_delay": False}
    net = torch.nn.Sequential(
        torch.nn.Linear(6, 8),
        snn.RLeaky(beta=torch.full((8,), 0.8), threshold=torch.full((8,), 0.4), linear_features=8,
                   **hard),
        torch.nn.Linear(8, 4),
        snn.RLeaky(beta=torch.full((4,), 0.6), threshold=torch.full((4,), 0.3), linear_features=4,
                   output=True, **hard))
    with torch.no_grad():
        net[0].weight.mul_(2.0)
        net[1].recurrent.bias.fill_(0.3)  # a bias only the t = 0 step tells apart
    path = tmp_path / "rleaky.nir"
    nir.write(path, export_to_nir(net, torch.randn(6)))
    g = import_nir(path, dt=1e-4, T=10)
    assert {(e.src, e.dst, e.delay) for e in g.edges if e.delay} == {("1.lif", "1.w_rec", 1),
                                                                   ("3.lif", "3.w_rec", 1)}
    x = np.random.default_rng(2).uniform(0, 1, (6, 6)).astype(np.float32)
    ref = run(g, x.astype(np.float64))
    snn_utils.reset(net)
    with torch.no_grad():
        hidden, out = [], []
        for _ in range(10):
            spk, _mem = net(torch.from_numpy(x))
            hidden.append(net[1].spk.numpy().copy())
            out.append(spk.numpy())
    assert 0.05 < ref.outputs["1.lif"].mean() < 0.95 and 0.05 < ref.output.mean() < 0.95
    np.testing.assert_array_equal(ref.outputs["1.lif"], np.stack(hidden))
    np.testing.assert_array_equal(ref.output, np.stack(out))

    syn = torch.nn.Sequential(torch.nn.Linear(6, 4), snn.RSynaptic(
        alpha=torch.zeros(4), beta=torch.full((4,), 0.6), threshold=torch.full((4,), 0.3),
        linear_features=4, init_hidden=True, output=True))
    path = tmp_path / "rsynaptic.nir"
    nir.write(path, export_to_nir(syn, torch.randn(6)))
    g = import_nir(path, dt=1e-4, T=4)
    assert [(e.src, e.dst) for e in g.edges if e.delay] == [("1.lif", "1.w_rec")]
    assert g["1.lif"].attrs["beta"] == pytest.approx(0.6)
    assert g["1.lif"].attrs["alpha"] == pytest.approx(1.0)


def test_spikingjelly_if_and_reset_below_zero_equal_spikingjelly(tmp_path):
    """SpikingJelly 2.0.0 writes IFNode as NIR IF with r = 1/dt, and a LIFNode with v_reset != 0
    as v_leak = v_reset != 0; both start at v_reset, as the import does (v_rest = v_leak).
    SpikingJelly has no recurrent layer its NIR export maps."""
    _lava_first()
    from spikingjelly.activation_based import functional, neuron
    from spikingjelly.activation_based.nir_exchange import export_to_nir

    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Linear(6, 8), neuron.IFNode(v_threshold=0.7),
        torch.nn.Linear(8, 4), neuron.LIFNode(tau=2.0, v_reset=-0.3, v_threshold=0.1))
    with torch.no_grad():
        net[0].weight.mul_(2.0)
        net[2].weight.mul_(2.0)
    x = torch.rand(3, 6)
    path = tmp_path / "sj.nir"
    nir.write(path, export_to_nir(net, x[:1], dt=1e-4))
    g = import_nir(path, dt=1e-4, T=8)
    lifs = g.nodes_of("LIF")
    assert [n.attrs["beta"] for n in lifs] == [1.0, 0.5] and lifs[1].attrs["v_rest"] == -0.3
    ref = run(g, x.double().numpy())
    functional.reset_net(net)
    with torch.no_grad():
        theirs = np.stack([net(x).numpy() for _ in range(8)])
    assert 0.05 < ref.output.mean() < 0.95
    np.testing.assert_array_equal(theirs, ref.output)


def test_norse_v_leak_equals_norse(tmp_path):
    """Norse 1.1.0 writes LIFBoxCell as NIR LIF with its v_leak and starts the membrane at v_leak,
    as the import does. Its exporter writes tau = dt / tau_mem_inv, which is the time constant
    only at dt = 1 s, so the model runs with dt = 1. Norse's recurrent LIF cells
    (LIFRecurrentCell) have no NIR mapping in its exporter, so no Norse file holds a cycle."""
    import norse.torch as norse
    from norse.torch.utils.export_nir import to_nir as norse_to_nir

    torch.manual_seed(2)
    p = norse.LIFBoxParameters(tau_mem_inv=torch.full((3,), 0.5), v_th=torch.full((3,), 0.5),
                               v_leak=torch.full((3,), 0.2))
    net = norse.SequentialState(torch.nn.Linear(4, 3), norse.LIFBoxCell(p, dt=1.0))
    with torch.no_grad():
        net[0].weight.mul_(2.0)
    path = tmp_path / "norse.nir"
    nir.write(path, norse_to_nir(net, torch.zeros(4), dt=1.0))
    g = import_nir(path, dt=1.0, T=8)
    (lif,) = g.nodes_of("LIF")
    assert lif.attrs["v_rest"] == pytest.approx(0.2) and lif.attrs["beta"] == pytest.approx(0.5)
    x = torch.rand(3, 4)
    ref = run(g, x.double().numpy())
    state, outs = None, []
    with torch.no_grad():
        for _ in range(8):
            z, state = net(x, state)
            outs.append(z.numpy())
    assert 0.05 < ref.output.mean() < 0.95
    np.testing.assert_array_equal(np.stack(outs), ref.output)


def _lava_first():
    from tests.backends.test_nir import _lava_first as first

    first()
