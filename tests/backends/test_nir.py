"""NIR export/import: the neuron mapping, round trips on random graphs, refusals by name, and
the files loaded by independent consumers (snnTorch, Norse) with equal spikes."""
import io
import logging

import nir
import numpy as np
import pytest

from snnc.backends.nir import (DEFAULT_DT, NirError, from_nir, import_nir, lif_to_nir_params,
                               nir_params_to_lif, to_nir)
from snnc.ir import Graph, run, verify
from snnc.testing.random_graph import random_graph, random_input
from snnc.passes import run_pipeline
from tests.ir.graphs import conv_net, recurrent_net, sample_input


def _through_file(ng):
    """Write and read back with nir.write / nir.read (type checking on, as consumers do)."""
    buf = io.BytesIO()
    nir.write(buf, ng)
    buf.seek(0)
    return nir.read(buf)


def _hard(g):
    for n in g.nodes_of("LIF"):
        n.attrs["reset"] = "hard"
    return g


# ------------------------------------------------------------------ neuron mapping
@pytest.mark.parametrize("beta,alpha", [(0.0, 1.0), (0.25, 0.75), (2 / 3, 1.0), (0.9, 0.3),
                                        (1.0, 1.0), (1.0, 0.4)])
@pytest.mark.parametrize("dt", [1e-4, 1e-3, 1.0])
def test_lif_mapping_is_one_euler_step(beta, alpha, dt):
    """Euler-stepping the exported continuous-time neuron with dt is the canonical neuron."""
    attrs = {"beta": beta, "alpha": alpha, "v_th": 0.7, "v_reset": -0.2, "v_rest": 0.1}
    q = lif_to_nir_params(attrs, dt)
    rng = np.random.default_rng(0)
    x = rng.normal(0.4, 1.0, 50)
    V, v = attrs["v_rest"], 0.0  # the export measures potentials from v_rest
    for xt in x:
        H = attrs["v_rest"] + beta * (V - attrs["v_rest"]) + alpha * xt
        S = H > attrs["v_th"]
        V = attrs["v_reset"] if S else H
        if q.kind == "IF":
            h = v + dt * q.r * xt
        else:
            h = v + dt / q.tau * ((q.v_leak - v) + q.r * xt)
        s = h > q.v_threshold
        v = q.v_reset if s else h
        assert s == S
        assert np.isclose(v, V - attrs["v_rest"], atol=1e-12)
    back = nir_params_to_lif(q.kind, {"tau": q.tau, "r": q.r, "v_leak": q.v_leak,
                                       "v_threshold": q.v_threshold, "v_reset": q.v_reset}, dt)
    assert np.isclose(back["beta"], beta) and np.isclose(back["alpha"], alpha)


def test_soft_reset_and_bad_beta_refused_by_name():
    with pytest.raises(NirError, match=r"node 'n7' \(LIF reset='soft'\)"):
        lif_to_nir_params({"beta": 0.5, "reset": "soft"}, 1e-4, "n7")
    with pytest.raises(NirError, match=r"node 'n8' \(LIF beta=1.5\)"):
        lif_to_nir_params({"beta": 1.5}, 1e-4, "n8")


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("seed", range(16))
def test_random_graph_round_trip_equal_outputs(seed):
    """deploy -> NIR file -> snnc: every node's output equal (delays, cycles, BN leftovers)."""
    g, _ = run_pipeline(_hard(random_graph(seed, max_nodes=30)), "deploy")
    ng = _through_file(to_nir(g, dt=1e-3))
    assert ng.metadata["dt"] == 1e-3 and ng.metadata["T"] == g.meta["T"]
    delayed = [e for e in g.edges if e.delay]
    assert len([n for n in ng.nodes.values() if isinstance(n, nir.Delay)]) == \
        len({(e.src, e.delay) for e in delayed})
    g2 = from_nir(ng)
    x = random_input(g, seed=seed)
    t1, t2 = run(g, x), run(g2, x)
    for name, out in t1.outputs.items():
        if name in t2.outputs and out.shape == t2.outputs[name].shape:
            np.testing.assert_allclose(t2.outputs[name], out, rtol=0, atol=1e-9, err_msg=name)
    np.testing.assert_allclose(t2.output, t1.output, rtol=0, atol=1e-9)
    assert sorted((e.delay, e.kind) for e in g2.edges if e.delay) == \
        sorted((e.delay, e.kind) for e in delayed)


def test_backward_edges_are_cycles_through_delay_nodes():
    g = verify(recurrent_net())
    g.remove_node_and_edges("cat")  # NIR has no Concat: the pool sums b.lif and a.lif @2
    g.add_edge("b.lif", "gap")
    g.add_edge("a.lif", "gap", delay=2)
    for fc in ("fc", "fc_late"):
        g[fc].attrs["in_features"] = 4
        g[fc].params["weight"] = g[fc].params["weight"][:, :4]
    g = _hard(verify(g))
    ng = to_nir(g)
    assert ("b.lif", "b.lif.delay1") in ng.edges and ("b.lif.delay1", "a.lif") in ng.edges
    np.testing.assert_allclose(ng.nodes["b.lif.delay1"].delay, DEFAULT_DT)
    g2 = from_nir(_through_file(ng))
    (back,) = [e for e in g2.edges if e.kind == "backward"]
    assert (back.src, back.dst, back.delay) == ("b.lif", "a.lif", 1)
    x = sample_input(g)
    np.testing.assert_allclose(run(g2, x).output, run(g, x).output, atol=1e-12)
    # implicit convention: the cycle is a plain edge; reading it back restores delay 1
    ng = to_nir(g, implicit_cycle_delay=True)
    assert ("b.lif", "a.lif") in ng.edges
    g3 = from_nir(_through_file(ng))
    np.testing.assert_allclose(run(g3, x).output, run(g, x).output, atol=1e-12)


def test_grouped_conv_and_vote_export_as_dense_primitives():
    g, _ = run_pipeline(_hard(verify(conv_net())), "deploy")
    ng = to_nir(g)
    assert ng.nodes["c2.conv"].groups == 1 and ng.nodes["c2.conv"].weight.shape == (6, 4, 3, 3)
    assert isinstance(ng.nodes["head.vote"], nir.Linear)
    assert isinstance(ng.nodes["head.lif"], nir.IF)
    g2 = from_nir(_through_file(ng))
    x = sample_input(g)
    np.testing.assert_allclose(run(g2, x).output, run(g, x).output, atol=1e-12)


def test_unsupported_ops_refused_by_name():
    with pytest.raises(NirError, match=r"node 'cat' \(Concat\)"):
        to_nir(_hard(verify(recurrent_net())))
    with pytest.raises(NirError, match=r"node 'c2.lif' \(LIF reset='soft'\)"):
        to_nir(run_pipeline(verify(conv_net()), "deploy")[0])
    g = _hard(verify(conv_net()))
    with pytest.raises(NirError, match=r"node 'head.drop' \(Dropout\).*deploy"):
        to_nir(g)


def _small_nir(**lif):
    w = np.random.default_rng(0).normal(0, 1, (3, 4))
    params = {"tau": np.full(3, 5e-4), "r": np.full(3, 5.0), "v_leak": np.zeros(3),
              "v_threshold": np.full(3, 0.5), "v_reset": np.zeros(3)}
    params.update(lif)
    nodes = {"in": nir.Input(input_type={"input": np.array([4])}),
             "fc": nir.Affine(weight=w, bias=np.zeros(3)),
             "lif": nir.LIF(**params), "out": nir.Output(output_type={"output": np.array([3])})}
    return nir.NIRGraph(nodes=nodes, edges=[("in", "fc"), ("fc", "lif"), ("lif", "out")])


def test_import_needs_dt_and_T_and_uniform_parameters():
    with pytest.raises(NirError, match="no time step dt"):
        from_nir(_small_nir(), T=3)
    with pytest.raises(NirError, match="no number of time steps T"):
        from_nir(_small_nir(), dt=1e-4)
    g = from_nir(_small_nir(), dt=1e-4, T=3)
    assert g.meta["T"] == 3 and np.isclose(g["lif"].attrs["beta"], 0.8)
    assert np.isclose(g["lif"].attrs["alpha"], 1.0)
    with pytest.raises(NirError, match=r"node 'lif' \(LIF\): v_threshold differs"):
        from_nir(_small_nir(v_threshold=np.array([0.5, 0.6, 0.5])), dt=1e-4, T=3)


def test_import_refuses_unknown_primitives_and_fractional_delays():
    ng = _small_nir()
    ng.nodes["lif"] = nir.LI(tau=np.full(3, 1e-3), r=np.ones(3), v_leak=np.zeros(3))
    with pytest.raises(NirError, match=r"node 'lif' \(LI\)"):
        from_nir(ng, dt=1e-4, T=3)
    ng = _small_nir()
    ng.nodes["d"] = nir.Delay(delay=np.full(3, 1.5e-4))
    ng.edges = [("in", "fc"), ("fc", "lif"), ("lif", "d"), ("d", "out")]
    with pytest.raises(NirError, match=r"node 'd' \(Delay\).*whole number"):
        from_nir(ng, dt=1e-4, T=3)


def test_import_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.nir"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(NirError, match="bad.nir"):
        import_nir(bad)


# ------------------------------------------------------------------ consumers
def _consumer_graph(seed: int = 3) -> Graph:
    """Input (1,6,6) -> Conv2d -> LIF -> Flatten -> Linear -> LIF -> Output: delay-free,
    feed-forward, alpha = 1 - beta (r = 1, the SpikingJelly tau form), hard reset to 0."""
    rng = np.random.default_rng(seed)
    g = Graph({"name": "consumer", "T": 4, "classes": 5, "encoding": "direct"})
    g.add_node("in", "Input", {"shape": (1, 6, 6)})
    g.add_node("conv", "Conv2d", {"in_channels": 1, "out_channels": 3, "kernel": 3, "padding": 1,
                                  "bias": True},
               {"weight": rng.normal(0, 1.5, (3, 1, 3, 3)), "bias": rng.normal(0, .1, 3)})
    g.add_node("lif1", "LIF", {"beta": 0.5, "alpha": 0.5, "v_th": 0.6})
    g.add_node("flat", "Flatten")
    g.add_node("fc", "Linear", {"in_features": 108, "out_features": 5},
               {"weight": rng.normal(0, 0.6, (5, 108)), "bias": rng.normal(0, .1, 5)})
    g.add_node("lif2", "LIF", {"beta": 0.75, "alpha": 0.25, "v_th": 0.3})
    g.add_node("out", "Output")
    for a, b in [("in", "conv"), ("conv", "lif1"), ("lif1", "flat"), ("flat", "fc"),
                 ("fc", "lif2"), ("lif2", "out")]:
        g.add_edge(a, b)
    return verify(g)


def _step(module, xs):
    """Step a nirtorch-built module over the leading axis, threading its state."""
    import torch

    state, outs = None, []
    with torch.no_grad():
        for xt in xs:
            res = module(torch.as_tensor(xt)) if state is None else module(torch.as_tensor(xt), state)
            out, state = res if isinstance(res, tuple) else (res, None)
            outs.append(out.numpy())
    return np.stack(outs)


def _lava_first():
    """Lava calls multiprocessing.set_start_method('fork') when its runtime is imported and fails
    if anything fixed the start method before; SpikingJelly's logger (loguru) does. Import Lava's
    runtime first so the Lava tests that follow in the same process still run."""
    from snnc.backends.lava.build import lava_modules

    lava_modules()
    import lava.magma.runtime.message_infrastructure.multiprocessing  # noqa: F401


def _consumer_case(tmp_path):
    g = _consumer_graph()
    path = tmp_path / "consumer.nir"
    from snnc.backends.nir import export_nir
    export_nir(g, path)
    x = np.random.default_rng(1).uniform(0, 1, (2, 1, 6, 6))
    trace = run(g, x)
    rate = trace.outputs["lif2"].mean()
    assert 0.1 < rate < 0.9 and 0.05 < trace.outputs["lif1"].mean() < 0.9  # not a trivial check
    return path, x, trace


def _compare(module_for_sample, x, trace):
    """Both consumers flatten with torch.nn.Flatten(start_dim=0), which also flattens a batch
    axis (NIR shapes exclude the batch), so every sample runs alone as a batch of one."""
    T = trace.output.shape[0]
    for b in range(x.shape[0]):
        xs = np.broadcast_to(x[b:b + 1], (T, 1) + x.shape[1:]).astype(np.float32)
        out = _step(module_for_sample(), xs).reshape(T, -1)
        np.testing.assert_array_equal(out, trace.output[:, b], err_msg=f"sample {b}")


def test_snntorch_import_equals_interpreter(tmp_path, capsys):
    """snnTorch 1.0.0 `import_from_nir`: dt hard-coded to 1e-4 (snnc's default)."""
    from snntorch.import_nir import import_from_nir

    path, x, trace = _consumer_case(tmp_path)
    _compare(lambda: import_from_nir(nir.read(path)), x, trace)


def test_norse_import_equals_interpreter(tmp_path):
    """Norse 1.1.0 `from_nir(graph, dt=...)`: pass the file's dt; Norse ignores r, so only
    neurons with alpha = 1 - beta (r = 1) are reproduced."""
    import norse.torch as norse

    path, x, trace = _consumer_case(tmp_path)
    ng = nir.read(path)
    logging.getLogger().setLevel(logging.ERROR)
    _compare(lambda: norse.from_nir(ng, dt=float(ng.metadata["dt"])), x, trace)


def test_snntorch_export_imports_with_equal_outputs(tmp_path):
    """A file written by snnTorch's `export_to_nir` (no dt in it: snnTorch assumes 1e-4) runs
    in snnc's interpreter with snnTorch's own spikes."""
    import torch
    import snntorch as snn
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)
    # per-neuron tensors: nir 1.0.8's type check rejects snnTorch's scalar beta/threshold
    net = torch.nn.Sequential(
        torch.nn.Linear(6, 8),
        snn.Leaky(beta=torch.full((8,), 0.8), threshold=torch.full((8,), 0.4), init_hidden=True),
        torch.nn.Linear(8, 4),
        snn.Leaky(beta=torch.full((4,), 0.6), threshold=torch.full((4,), 0.3), init_hidden=True,
                  output=True))
    with torch.no_grad():
        net[0].weight.mul_(3.0)
    path = tmp_path / "snntorch.nir"
    nir.write(path, export_to_nir(net, torch.randn(6)))
    g = import_nir(path, tmp_path / "from-snntorch.snnir", dt=1e-4, T=5)
    x = np.random.default_rng(2).uniform(0, 1, (3, 6)).astype(np.float32)
    ref = run(g, x.astype(np.float64))
    assert 0.05 < ref.output.mean() < 0.95
    from snntorch import utils as snn_utils
    snn_utils.reset(net)
    with torch.no_grad():
        ours = []
        for _ in range(5):
            spk, _mem = net(torch.from_numpy(x))
            ours.append(spk.numpy())
    np.testing.assert_array_equal(np.stack(ours), ref.output)


def test_spikingjelly_import_equals_interpreter(tmp_path):
    """SpikingJelly 2.0.0 `nir_exchange.import_from_nir(graph, dt=...)`: pass the file's dt; it
    accepts LIF with r = 1 (decay_input=True, alpha = 1 - beta) or r = tau/dt (alpha = 1),
    v_leak = v_reset, and IF with r = 1/dt."""
    _lava_first()
    from spikingjelly.activation_based import nir_exchange

    path, x, trace = _consumer_case(tmp_path)
    ng = nir.read(path)
    _compare(lambda: nir_exchange.import_from_nir(ng, dt=float(ng.metadata["dt"])), x, trace)


def test_cubalif_with_tau_syn_dt_and_sumpool_import():
    """CubaLIF whose current forgets its past in one step (tau_syn = dt) is the canonical neuron
    with alpha = w_in r dt / tau_mem; SumPool2d is k*k times AvgPool2d."""
    dt = 1e-3
    rng = np.random.default_rng(4)
    shape = (2, 4, 4)
    conv = nir.Conv2d(input_shape=(4, 4), weight=rng.normal(0, 1.5, (2, 1, 3, 3)), stride=1,
                      padding=1, dilation=1, groups=1, bias=np.zeros(2))
    cuba = nir.CubaLIF(tau_syn=np.full(shape, dt), tau_mem=np.full(shape, 4 * dt),
                       r=np.full(shape, 2.0), v_leak=np.zeros(shape),
                       v_threshold=np.full(shape, 0.4), v_reset=np.zeros(shape),
                       w_in=np.full(shape, 1.5))
    nodes = {"in": nir.Input(input_type={"input": np.array([1, 4, 4])}), "conv": conv,
             "cuba": cuba, "pool": nir.SumPool2d(kernel_size=np.array([2, 2]),
                                                 stride=np.array([2, 2]), padding=np.array([0, 0])),
             "out": nir.Output(output_type={"output": np.array([2, 2, 2])})}
    ng = nir.NIRGraph(nodes=nodes, edges=[("in", "conv"), ("conv", "cuba"), ("cuba", "pool"),
                                          ("pool", "out")], type_check=False)
    g = from_nir(ng, dt=dt, T=4)
    a = g["cuba"].attrs
    assert np.isclose(a["beta"], 0.75) and np.isclose(a["alpha"], 1.5 * 2.0 * dt / (4 * dt))
    assert g["pool"].op == "AvgPool2d" and g["pool.sum"].attrs["scale"] == 4.0
    x = rng.uniform(0, 1, (2, 1, 4, 4))
    trace = run(g, x)
    spikes = trace.outputs["cuba"]
    assert 0 < spikes.mean() < 1
    summed = spikes.reshape(4, 2, 2, 2, 2, 2, 2).sum(axis=(4, 6))
    np.testing.assert_allclose(trace.output, summed, atol=1e-12)
    cuba.tau_syn = np.full(shape, 5 * dt)
    with pytest.raises(NirError, match=r"node 'cuba' \(CubaLIF tau_syn=0.005 s\)"):
        from_nir(ng, dt=dt, T=4)


def test_spikingjelly_export_imports_with_equal_outputs(tmp_path):
    """A file written by SpikingJelly's `export_to_nir(net, x, dt=1e-4)` (the same Euler mapping:
    tau = tau_sj dt, r = 1 for decay_input=True, tau_sj otherwise) runs in snnc with SpikingJelly's
    own spikes; the file records no dt, so the import is given SpikingJelly's."""
    import torch
    _lava_first()
    from spikingjelly.activation_based import functional, neuron
    from spikingjelly.activation_based.nir_exchange import export_to_nir

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 3, 3, padding=1),
        neuron.LIFNode(tau=2.0, decay_input=False, v_threshold=0.4),
        torch.nn.Flatten(), torch.nn.Linear(48, 5),
        neuron.LIFNode(tau=1.5, v_threshold=0.3))
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[3].weight.mul_(4.0)
    x = torch.rand(2, 1, 4, 4)
    path = tmp_path / "spikingjelly.nir"
    nir.write(path, export_to_nir(net, x[:1], dt=1e-4))
    g = import_nir(path, dt=1e-4, T=4)
    ref = run(g, x.double().numpy())
    assert ref.output.mean() > 0.05
    functional.reset_net(net)
    with torch.no_grad():
        theirs = np.stack([net(x).numpy() for _ in range(4)])
    np.testing.assert_array_equal(theirs, ref.output)


@pytest.mark.slow
def test_snntorch_import_runs_on_lava(tmp_path):
    """An snnTorch-written NIR model, imported, simulated by the Lava backend: spikes equal the
    reference interpreter's, layer by layer."""
    import torch
    import snntorch as snn
    from snntorch.export_nir import export_to_nir

    from snnc.backends.lava import simulate

    torch.manual_seed(1)
    net = torch.nn.Sequential(
        torch.nn.Linear(6, 8),
        snn.Leaky(beta=torch.full((8,), 0.7), threshold=torch.full((8,), 0.5), init_hidden=True),
        torch.nn.Linear(8, 4),
        snn.Leaky(beta=torch.full((4,), 0.7), threshold=torch.full((4,), 0.3), init_hidden=True,
                  output=True))
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[2].weight.mul_(2.0)
    path = tmp_path / "snntorch.nir"
    nir.write(path, export_to_nir(net, torch.randn(6)))
    g = import_nir(path, dt=1e-4, T=3)
    x = np.random.default_rng(3).uniform(0, 1, (1, 6))
    ref = run(g, x)
    lava = simulate(g, x)
    assert sum(s.sum() for s in lava.spikes.values()) > 0
    for name, spikes in lava.spikes.items():
        np.testing.assert_array_equal(spikes, ref.outputs[name], err_msg=name)
