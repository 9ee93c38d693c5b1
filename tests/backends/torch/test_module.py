"""compile(graph): agreement with the reference interpreter (float64, eval mode), multi-step vs
step-by-step execution, training behaviour (surrogate gradients, BatchNorm, Dropout), to_ir,
probes."""
import subprocess
import sys
from functools import lru_cache

import numpy as np
import pytest
import torch

from snnc.backends.torch import LIFNode, SpikingModule, compile
from snnc.backends.torch.layers import module_key
from snnc.errors import GraphError
from snnc.ir import Graph, run, verify
from snnc.ir.ops import NEURON_OPS, SPIKING_NEURON_OPS
from snnc.testing.random_graph import random_graph, random_input
from tests.ir.graphs import EXAMPLES, sample_input

SEEDS = range(40)
RTOL = ATOL = 1e-9


@lru_cache(maxsize=None)
def random_case(seed):
    g = random_graph(seed)
    x = random_input(g, seed=20_000 + seed, batch=2)
    return g, x, run(g, x)


@lru_cache(maxsize=None)
def mixed_case(seed):
    """A random graph with every neuron model (LIF, ALIF, PLIF, ReLU), delays, backward edges."""
    g = random_graph(seed, neurons=NEURON_OPS)
    x = random_input(g, seed=30_000 + seed, batch=2)
    return g, x, run(g, x)


@lru_cache(maxsize=None)
def example_case(name):
    g = verify(EXAMPLES[name]())
    x = sample_input(g)
    return g, x, run(g, x)


def probed(m: SpikingModule, x, **kw):
    with torch.no_grad(), m.probing(membranes=True):
        y = m(torch.as_tensor(x), **kw)
    return y, dict(m.records), dict(m.membranes)


def assert_matches_trace(g, y, records, membranes, trace):
    for node in g:
        got, ref = records[node.name].numpy(), trace.outputs[node.name]
        if node.op in SPIKING_NEURON_OPS:
            assert np.array_equal(got, ref), f"{node.name}: spikes differ"
            assert np.allclose(membranes[node.name].numpy(), trace.v[node.name], RTOL, ATOL)
        else:
            assert np.allclose(got, ref, RTOL, ATOL), f"{node.name} differs"
    assert np.allclose(y.numpy(), trace.output, RTOL, ATOL)


# ------------------------------------------------------------------ interpreter agreement
@pytest.mark.parametrize("name", list(EXAMPLES))
@pytest.mark.parametrize("mode", ["multi", "step"])
def test_examples_match_interpreter(name, mode):
    g, x, trace = example_case(name)
    m = compile(g, dtype=torch.float64, mode=mode).eval()
    assert_matches_trace(g, *probed(m, x), trace)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_graphs_match_interpreter(seed):
    g, x, trace = random_case(seed)
    m = compile(g, dtype=torch.float64).eval()
    assert_matches_trace(g, *probed(m, x), trace)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("mode", ["multi", "step"])
def test_every_neuron_model_matches_interpreter(seed, mode):
    g, x, trace = mixed_case(seed)
    m = compile(g, dtype=torch.float64, mode=mode).eval()
    assert_matches_trace(g, *probed(m, x), trace)


def test_mixed_graphs_cover_every_neuron_in_cycles():
    ops, in_cycles = set(), set()
    for seed in SEEDS:
        g = mixed_case(seed)[0]
        m = compile(g)
        ops |= {n.op for n in g}
        in_cycles |= {g[name].op for u in m._plan if u.cyclic for name in u.members}
    assert set(NEURON_OPS) <= ops and set(NEURON_OPS) <= in_cycles


def test_random_graphs_cover_cycles_and_delays():
    cyclic = delayed = 0
    for seed in SEEDS:
        g = random_case(seed)[0]
        m = compile(g)
        cyclic += any(u.cyclic for u in m._plan)
        delayed += any(e.delay for e in g.edges)
    assert cyclic >= 10 and delayed >= 30


@pytest.mark.parametrize("seed", SEEDS[:12])
def test_multi_step_equals_step_by_step(seed):
    """Same spikes, outputs and gradients (eval-mode BatchNorm: both modes normalise alike)."""
    g, x, _ = random_case(seed)
    mods = [compile(g, dtype=torch.float64, mode=mode).eval() for mode in ("multi", "step")]
    w = torch.randn(random_case(seed)[2].output.shape, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(seed))
    outs, grads = [], []
    for m in mods:
        with m.probing(ops=("LIF",)):
            y = m(torch.from_numpy(x))
        (y * w).sum().backward()
        outs.append((y.detach(), m.records))
        # a weight whose every path to the Output is delayed by >= T steps gets a zero gradient
        # in multi-step mode (time shifts) and none step by step
        grads.append({k: torch.zeros_like(p) if p.grad is None else p.grad
                      for k, p in m.named_parameters()})
    (ya, ra), (yb, rb) = outs
    assert torch.allclose(ya, yb, RTOL, ATOL)
    assert ra.keys() == rb.keys() and all(torch.equal(ra[k], rb[k]) for k in ra)
    assert grads[0].keys() == grads[1].keys()
    for k in grads[0]:
        assert torch.allclose(grads[0][k], grads[1][k], rtol=1e-8, atol=1e-10), k
    assert any(g.abs().sum() > 0 for g in grads[0].values())


@pytest.mark.parametrize("seed", SEEDS[:8])
def test_mixed_multi_step_equals_step_by_step(seed):
    """Every neuron model: same spikes, outputs and gradients (PLIF leaks included) in both
    execution modes."""
    g, x, trace = mixed_case(seed)
    w = torch.randn(trace.output.shape, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(seed))
    outs, grads = [], []
    for mode in ("multi", "step"):
        m = compile(g, dtype=torch.float64, mode=mode).eval()
        y = m(torch.from_numpy(x))
        (y * w).sum().backward()
        outs.append(y.detach())
        grads.append({k: torch.zeros_like(p) if p.grad is None else p.grad
                      for k, p in m.named_parameters()})
    assert torch.allclose(outs[0], outs[1], RTOL, ATOL)
    for k in grads[0]:
        assert torch.allclose(grads[0][k], grads[1][k], rtol=1e-8, atol=1e-10), k


def test_direct_encoding_sequence_and_T():
    g, x, trace = example_case("conv_net")
    m = compile(g, dtype=torch.float64).eval()
    with torch.no_grad():
        y = m(torch.from_numpy(x))
        assert y.shape == (4, 2, 2)
        seq = np.broadcast_to(x, (6,) + x.shape).copy()
        assert torch.allclose(m(seq)[:4], y)
        assert m(seq).shape[0] == 6
        assert torch.allclose(m(seq, T=4), y) and torch.allclose(m(x, T=4), y)
        assert m(x, T=7).shape[0] == 7
        with pytest.raises(ValueError, match="time steps"):
            m(seq, T=9)
        with pytest.raises(ValueError, match="fits neither"):
            m(np.zeros((2, 3, 8, 8)))


def test_dtype_follows_module():
    g, x, trace = example_case("mlp")  # float32 params
    m = compile(g)
    assert m.dtype == torch.float32 and m(x).dtype == torch.float32
    m = m.double().eval()
    assert m.dtype == torch.float64
    y, records, membranes = probed(m, x)
    assert y.dtype == torch.float64
    assert_matches_trace(g, y, records, membranes, trace)


def test_plif_leak_follows_module_dtype():
    g, x, _ = example_case("neuron_zoo")
    m = compile(g, dtype=torch.float32)
    assert m.layer("b.plif").leak.dtype == torch.float32 and m(x).dtype == torch.float32
    m = m.double()
    assert m.layer("b.plif").leak.dtype == torch.float64
    assert m.to_ir()["b.plif"].attrs["beta"] == float(np.float32(0.6))  # what float32 trained


def test_invalid_graph_is_rejected():
    g = Graph()
    g.add_node("in", "Input", {"shape": (3,)})
    with pytest.raises(GraphError, match="Output"):
        compile(g)
    with pytest.raises(ValueError, match="mode"):
        compile(EXAMPLES["mlp"](), mode="fast")


# ------------------------------------------------------------------ training
def train_step(m, x, lr=0.05, seed=0):
    torch.manual_seed(seed)
    opt = torch.optim.SGD(m.parameters(), lr=lr, momentum=0.9)
    y = m(torch.as_tensor(x))
    target = torch.arange(y.shape[1]) % y.shape[-1]
    loss = torch.nn.functional.cross_entropy(y.mean(0), target)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss


def test_surrogate_gradients_reach_conv_weights():
    g, x, _ = example_case("conv_net")
    m = compile(g).train()
    y = m(x)
    loss = torch.nn.functional.cross_entropy(y.mean(0), torch.tensor([0, 1]))
    loss.backward()
    for name in ("c1.conv", "c2.conv", "head.fc"):
        grad = m.layer(name).weight.grad
        assert grad is not None and torch.isfinite(grad).all() and grad.abs().sum() > 0, name


@pytest.mark.parametrize("sequence", [False, True])
def test_train_mode_batchnorm_uses_batch_statistics(sequence):
    """Time folded into the batch: statistics over T*B samples. A directly encoded input is the
    same at every step, so the stem conv + BN run once on the B samples (the same normalised
    values; the running variance's unbiased estimate counts B samples, not T copies of them)."""
    g, x, _ = example_case("conv_net")
    if sequence:  # a different frame per step: nothing is time-invariant
        x = np.random.default_rng(3).uniform(0, 1, (g.meta["T"],) + tuple(x.shape))
    m = compile(g, dtype=torch.float64).train()
    bn = m.layer("c1.bn")
    rm0, rv0 = bn.running_mean.clone(), bn.running_var.clone()
    with torch.no_grad(), m.probing():
        m(x)
    z = m.records["c1.conv"].flatten(0, 1)  # [T*B, C, H, W]
    mean, var = z.mean((0, 2, 3)), z.var((0, 2, 3), unbiased=False)
    expected = ((z - mean[:, None, None]) / torch.sqrt(var[:, None, None] + bn.eps)
                * bn.weight[:, None, None] + bn.bias[:, None, None])
    assert torch.allclose(m.records["c1.bn"].flatten(0, 1), expected, atol=1e-10)
    n = z.numel() // z.shape[1]
    if not sequence:
        n //= m.records["c1.conv"].shape[0]
    mom = g["c1.bn"].attrs["momentum"]
    assert torch.allclose(bn.running_mean, (1 - mom) * rm0 + mom * mean)
    assert torch.allclose(bn.running_var, (1 - mom) * rv0 + mom * var * n / (n - 1))


def test_batchnorm_inside_component_uses_per_step_statistics():
    g, x, _ = example_case("recurrent_net")  # b.bn sits in the a.lif <-> b.lif cycle
    m = compile(g, dtype=torch.float64).train()
    assert any("b.bn" in u.members for u in m._plan if u.cyclic)
    bn = m.layer("b.bn")
    rm0 = bn.running_mean.clone()
    with torch.no_grad(), m.probing():
        m(x)
    z, out = m.records["b.conv"], m.records["b.bn"]
    rm = rm0
    for t in range(z.shape[0]):
        mean, var = z[t].mean((0, 2, 3)), z[t].var((0, 2, 3), unbiased=False)
        expected = ((z[t] - mean[:, None, None]) / torch.sqrt(var[:, None, None] + bn.eps)
                    * bn.weight[:, None, None] + bn.bias[:, None, None])
        assert torch.allclose(out[t], expected, atol=1e-10)
        rm = 0.9 * rm + 0.1 * mean
    assert torch.allclose(bn.running_mean, rm)


def dropout_graph(T=5, backward=False):
    g = Graph({"T": T})
    g.add_node("in", "Input", {"shape": (400,)})
    g.add_node("drop", "Dropout", {"p": 0.25})
    g.add_node("out", "Output")
    g.add_edge("in", "drop")
    g.add_edge("drop", "out")
    if backward:  # drop feeds itself one step late: a component run step by step
        g.add_edge("drop", "drop", delay=1, kind="backward")
    return g


@pytest.mark.parametrize("backward", [False, True])
def test_dropout_same_mask_every_step_train_only(backward):
    m = compile(dropout_graph(backward=backward), dtype=torch.float64)
    assert any(u.cyclic for u in m._plan) == backward
    x = torch.ones(3, 400, dtype=torch.float64)
    torch.manual_seed(0)
    y = m.train()(x)
    kept = y != 0
    assert torch.equal(kept, kept[:1].expand_as(kept))  # one mask for all T
    assert 0.15 < 1 - kept[0].double().mean() < 0.35
    reference = run(dropout_graph(backward=backward), x.numpy()).output  # identity at inference
    assert np.array_equal(m.eval()(x).numpy(), reference)
    if not backward:
        assert torch.equal(y[0], x / 0.75 * kept[0])


@pytest.mark.parametrize("name,seed", [("conv_net", None), ("recurrent_net", None),
                                       ("neuron_zoo", None)] +
                         [(None, s) for s in (0, 3, 5, 8)])
def test_to_ir_round_trip_after_training(name, seed):
    g, x, _ = example_case(name) if name else random_case(seed)
    m = compile(g, dtype=torch.float64).train()
    before = {k: v.clone() for k, v in m.state_dict().items()}
    train_step(m, x)
    changed = [k for k, v in m.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.endswith("weight") for k in changed)
    if g.nodes_of("BatchNorm2d"):
        assert any(k.endswith("running_mean") for k in changed)
    g2 = m.to_ir()
    assert g2 is not m.graph and list(g2.nodes) == list(g.nodes) and g2.edges == g.edges
    for node in g2:
        assert all(p.dtype == np.float64 for p in node.params.values())
    for name_, key in m.module_names.items():
        mod = m.layers[key]
        if hasattr(mod, "weight"):
            assert np.array_equal(g2[name_].params["weight"], mod.weight.detach().numpy())
    trace = run(g2, x)
    assert_matches_trace(g2, *probed(m.eval(), x), trace)
    m2 = compile(g2, dtype=torch.float64).eval()
    assert torch.equal(probed(m2, x)[0], probed(m, x)[0])


def test_plif_leak_trains_and_to_ir_writes_it_back():
    seed = next(s for s in SEEDS if mixed_case(s)[0].nodes_of("PLIF"))
    g, x, _ = mixed_case(seed)
    m = compile(g, dtype=torch.float64).train()
    plifs = [n.name for n in g.nodes_of("PLIF")]
    leaks = {n: m.layer(n).leak for n in plifs}
    assert all(isinstance(p, torch.nn.Parameter) and p.dtype == torch.float64
               for p in leaks.values())
    assert {k for k, _ in m.named_parameters() if k.endswith(".leak")} == {
        f"layers.{m.module_names[n]}.leak" for n in plifs}
    before = {n: float(p.detach()) for n, p in leaks.items()}
    train_step(m, x, lr=0.5)
    moved = [n for n in plifs if float(leaks[n].detach()) != before[n]]
    assert moved, "no PLIF leak received a gradient step"
    g2 = m.to_ir()
    for n in plifs:
        assert g2[n].op == "PLIF" and g2[n].attrs["beta"] == m.layer(n).beta
        assert 0.0 <= g2[n].attrs["beta"] <= 1.0
    trace = run(g2, x)
    assert_matches_trace(g2, *probed(m.eval(), x), trace)
    m2 = compile(g2, dtype=torch.float64).eval()
    assert torch.equal(probed(m2, x)[0], probed(m, x)[0])


def test_to_ir_does_not_touch_the_source_graph():
    g = EXAMPLES["conv_net"]()
    w = g["c1.conv"].params["weight"].copy()
    m = compile(g)
    with torch.no_grad():
        m.layer("c1.conv").weight.add_(1.0)
    assert np.array_equal(g["c1.conv"].params["weight"], w)
    assert np.allclose(m.to_ir()["c1.conv"].params["weight"], w + 1.0, atol=1e-6)


def test_detach_reset_changes_gradients_not_forward():
    g, x, _ = random_case(3)
    g2 = g.copy()
    for n in g2.nodes_of("LIF"):
        n.attrs["detach_reset"] = True
    outs, grads = [], []
    for graph in (g, g2):
        m = compile(graph, dtype=torch.float64).eval()
        y = m(x)
        y.sum().backward()
        outs.append(y.detach())
        grads.append(torch.cat([p.grad.flatten() for p in m.parameters()]))
    assert torch.equal(*outs)
    assert not torch.allclose(*grads)


# ------------------------------------------------------------------ names, probes, pruning
def test_module_names():
    taken = set()
    assert module_key("s3.n17.conv", taken) == "s3__n17__conv"
    assert module_key("s3__n17.conv", taken) == "s3__n17__conv_2"
    assert module_key("keys", taken) == "keys_2"
    assert module_key("0-in", taken) == "n0_in"
    g, _, _ = example_case("conv_net")
    m = compile(g)
    assert m.module_names["c1.conv"] == "c1__conv"
    assert m.node_names["c1__conv"] == "c1.conv"
    assert "layers.c1__bn.running_var" in m.state_dict()
    assert isinstance(m.layer("c1.lif"), LIFNode)
    assert set(m.module_names) == {n.name for n in g.nodes_of("Conv2d", "Linear", "BatchNorm2d",
                                                                "LIF", "Dropout")}


def test_probes_record_every_node_and_switch_off():
    g, x, _ = example_case("recurrent_net")
    m = compile(g)
    with torch.no_grad():
        m(x)
        assert m.records == {}
        with m.probing():
            m(x)
        assert set(m.records) == set(g.nodes) and m.membranes == {}
        assert all(not r.requires_grad for r in m.records.values())
        for n in g.nodes_of("LIF"):
            r = m.records[n.name]
            assert r.shape == (5, 2) + n.shape and set(r.unique().tolist()) <= {0.0, 1.0}
        m.probe(True, ops=("LIF",), membranes=True)
        m(x)
        assert set(m.records) == set(m.membranes) == {"a.lif", "b.lif"}
        m.probe(False)
        m(x[:1])
        assert m.records["a.lif"].shape[1] == 2  # untouched since probes went off


def test_dead_nodes_are_skipped_unless_probing():
    seed = next(s for s in SEEDS
                if set(random_case(s)[0].nodes) - random_case(s)[0].reaching("out"))
    g, x, trace = random_case(seed)
    dead = sorted(set(g.nodes) - g.reaching("out"))
    m = compile(g, dtype=torch.float64).eval()
    calls = []
    for name in dead:
        if name in m.module_names:
            m.layer(name).register_forward_pre_hook(lambda *a: calls.append(1))
    with torch.no_grad():
        y = m(x)
    assert np.allclose(y.numpy(), trace.output, RTOL, ATOL)
    assert not calls
    _, records, _ = probed(m, x)
    assert set(dead) <= set(records)


def test_ir_does_not_import_torch():
    code = "import sys, snnc.ir, snnc.passes; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_catalogue_op_is_supported():
    from snnc.backends.torch.module import SUPPORTED_OPS
    from snnc.ir import OPS

    # LoihiLIF, quantize-loihi's integer neuron, is a deployment artefact the table refuses
    assert set(SUPPORTED_OPS) == set(OPS) - {"LoihiLIF"}


@pytest.mark.parametrize("seed", range(8))
def test_lif_input_donation_changes_no_value_or_gradient(seed):
    """Training with LIF nodes writing H over their input buffer (the default) gives bitwise the
    outputs, parameter gradients and input gradients of the run that allocates H anew; and it
    happens (a donor's buffer ends up holding H, not the donor's output)."""
    g, x, _ = mixed_case(seed)
    results = []
    for donate in (True, False):
        torch.manual_seed(seed)  # the same dropout masks in both runs
        m = compile(g, dtype=torch.float64).train()
        m.donate = donate
        xt = torch.as_tensor(x, dtype=torch.float64).clone().requires_grad_()
        y = m(xt)
        w = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=y.dtype)
        (y * w).sum().backward()
        results.append((y.detach(), xt.grad, [p.grad for p in m.parameters()]))
    (ya, ga, pa), (yb, gb, pb) = results
    assert torch.equal(ya, yb) and torch.equal(ga, gb)
    assert all((a is None and b is None) or torch.equal(a, b) for a, b in zip(pa, pb))


def test_lif_input_donation_happens_on_conv_bn_lif():
    from bench.torch_train_throughput import build_graph

    m = compile(build_graph(T=2)).train()
    seen = {}
    bn = m.layer("l2.bn")
    bn.register_forward_hook(lambda mod, i, o: seen.setdefault("bn", o))
    lif = m.layer("l2.lif")
    lif.register_forward_hook(lambda mod, i, o: seen.setdefault("lif_in", i[0]))
    x = torch.randn(2, 3, 32, 32)
    m(x).sum().backward()
    # the LIF's input is the BatchNorm output (a view of it), and the LIF wrote H over it
    assert seen["lif_in"].untyped_storage().data_ptr() == seen["bn"].untyped_storage().data_ptr()
    assert seen["lif_in"]._version > 0
    m.donate = False
    seen.clear()
    m(x).sum().backward()
    assert seen["lif_in"]._version == 0


@pytest.mark.parametrize("lif_last", [True, False])
def test_lif_input_donation_skips_a_value_another_node_reads(lif_last):
    """A BatchNorm output read by a LIF node and by a conv (which saves it for its weight
    gradient) is not overwritten, whichever runs last: gradients as without donation."""
    rng = np.random.default_rng(0)
    g = Graph({"name": "shared-bn", "T": 3, "classes": 4, "encoding": "direct"})
    g.add_node("in", "Input", {"shape": (2, 5, 5)})
    g.add_node("c1", "Conv2d", {"in_channels": 2, "out_channels": 3, "kernel": 3, "padding": 1,
                                "bias": False}, {"weight": rng.normal(0, 0.6, (3, 2, 3, 3))})
    g.add_node("bn", "BatchNorm2d", {"num_features": 3},
               {"weight": np.ones(3), "bias": np.full(3, 0.5), "running_mean": np.zeros(3),
                "running_var": np.ones(3)})
    lif = {"beta": 0.5, "alpha": 0.8, "v_th": 0.3, "reset": "hard", "surrogate": "atan"}

    def add_lif():
        g.add_node("lif", "LIF", dict(lif))

    if not lif_last:  # node order decides the run order of independent nodes
        add_lif()
    g.add_node("c2", "Conv2d", {"in_channels": 3, "out_channels": 3, "kernel": 1, "bias": False},
               {"weight": rng.normal(0, 0.6, (3, 3, 1, 1))})
    if lif_last:
        add_lif()
    g.add_node("lif2", "LIF", dict(lif))
    g.add_node("gap", "GlobalAvgPool")
    g.add_node("fc", "Linear", {"in_features": 3, "out_features": 4},
               {"weight": rng.normal(0, 0.6, (4, 3)), "bias": np.zeros(4)})
    g.add_node("out", "Output")
    for a, b in [("in", "c1"), ("c1", "bn"), ("bn", "lif"), ("bn", "c2"), ("c2", "lif2"),
                 ("lif", "gap"), ("lif2", "gap"), ("gap", "fc"), ("fc", "out")]:
        g.add_edge(a, b)
    g = verify(g)
    x = torch.as_tensor(rng.normal(0.5, 1.0, (3, 2, 2, 5, 5)))  # [T, B, ...]: nothing static
    grads = []
    for donate in (True, False):
        m = compile(g, dtype=torch.float64).train()
        order = [u.members[0] for u in m._plan]
        assert (order.index("lif") > order.index("c2")) == lif_last
        m.donate = donate
        xt = x.clone().requires_grad_()
        m(xt).sum().backward()
        grads.append([xt.grad] + [p.grad for p in m.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*grads))
    assert grads[0][0].abs().sum() > 0
