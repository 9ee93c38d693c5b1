"""The torch backend runs a supernet under an assignment: it equals the interpreter (float64, the
same spikes), runs nothing that feeds only unselected ports, and trains a WeightedMix's alpha."""
import numpy as np
import pytest
import torch
from tests.ir.test_choices import X, supernet

from snnc.backends.torch import compile
from snnc.errors import AssignmentError
from snnc.ir import run
from snnc.ir.choices import skipped_under
from snnc.ir.ops import NEURON_OPS, SPIKING_NEURON_OPS
from snnc.testing.random_graph import random_input
from snnc.testing.supernet import random_assignment, random_supernet


@pytest.mark.parametrize("mode", ["multi", "step"])
@pytest.mark.parametrize("seed", range(8))
def test_supernet_matches_interpreter(seed, mode):
    g = random_supernet(seed, neurons=NEURON_OPS)
    x = random_input(g, seed=200 + seed)
    m = compile(g, dtype=torch.float64, mode=mode).eval()
    rng = np.random.default_rng(seed)
    for _ in range(3):
        a = random_assignment(g, rng)
        want = run(g, x, assignment=a)
        with torch.no_grad(), m.probing(ops=SPIKING_NEURON_OPS):
            y = m(torch.as_tensor(x), assignment=a)
        np.testing.assert_allclose(y.numpy(), want.output, rtol=1e-12, atol=1e-12)
        skipped = skipped_under(m.graph, a)
        assert not skipped & set(m.records)
        for name, s in m.records.items():
            np.testing.assert_array_equal(s.numpy(), want.outputs[name], err_msg=f"{a} {name}")


def test_unselected_paths_run_nothing():
    """A Linear that only an unselected port reads is never called; selected, it is."""
    g = supernet()
    g.remove_edge(g.in_edges("b")[0])
    g.add_node("lin", "Linear", {"in_features": 3, "out_features": 3},
               {"weight": np.eye(3), "bias": np.zeros(3)})
    g.add_edge("in", "lin")
    g.add_edge("lin", "b")
    m = compile(g, dtype=torch.float64)
    calls = []
    m.layer("lin").register_forward_hook(lambda *args: calls.append(1))
    m(torch.as_tensor(X), assignment={"c": 0})
    m(torch.as_tensor(X), assignment={"c": 1, "m": 1})  # m's port 1 is the input: c unused
    assert calls == []
    m(torch.as_tensor(X), assignment={"c": 1})
    assert calls == [1]
    with m.probing():  # probes run dead nodes, still not unselected ones
        m(torch.as_tensor(X), assignment={"c": 0})
    assert calls == [1] and "lin" not in m.records and "b" not in m.records


def test_assignment_errors_and_assign():
    m = compile(supernet(optional=True), dtype=torch.float64)
    with pytest.raises(AssignmentError, match=r"no entry for Choice node\(s\) 'c'"):
        m(torch.as_tensor(X))
    with pytest.raises(AssignmentError, match=r"'c' \(Choice\): port 2 is out of range"):
        m.assign({"c": 2})
    m.assign({"c": -1, "m": 0})
    assert not m(torch.as_tensor(X)).any()
    y = m(torch.as_tensor(X), assignment={"c": 0}).detach().numpy()  # the argument wins
    np.testing.assert_allclose(y[0], 1.25 * X, rtol=1e-15)


def test_alpha_trains_and_is_written_back():
    g = supernet()
    m = compile(g, dtype=torch.float64)
    alpha, = m.arch_parameters()
    assert isinstance(alpha, torch.nn.Parameter) and alpha.dtype == torch.float64
    np.testing.assert_allclose(alpha.detach().numpy(), [0.0, np.log(3.0)], rtol=1e-15)
    m(torch.as_tensor(X), assignment={"c": 0}).sum().backward()
    # d/d alpha of sum_j w_j in_j: in_0 = 2x has the larger sum, so alpha_0 gains
    assert alpha.grad[0] > 0 > alpha.grad[1]
    with torch.no_grad():
        alpha.add_(torch.tensor([1.0, -1.0], dtype=torch.float64))
    back = m.to_ir()
    np.testing.assert_allclose(back["m"].params["alpha"], [1.0, np.log(3.0) - 1.0], rtol=1e-15)
    np.testing.assert_allclose(m(torch.as_tensor(X), assignment={"c": 0}).detach().numpy(),
                               run(back, X, assignment={"c": 0}).output, rtol=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_train_mode_matches_the_resolved_graph(seed):
    """Train mode too: the plan is that of what the assignment runs, so an unselected backward
    edge makes no strongly connected component and BatchNorm keeps T*B statistics where the
    resolved graph has them (one-shot training of a candidate = training its plain graph)."""
    from snnc.passes import resolve_choices

    g = random_supernet(seed, choices=6, mixes=False, dropout=False)  # masks: draw order
    x = torch.as_tensor(random_input(g, seed=300 + seed))
    m = compile(g, dtype=torch.float64).train()
    rng = np.random.default_rng(seed)
    for _ in range(3):
        a = random_assignment(g, rng)
        plain = compile(resolve_choices(g, a), dtype=torch.float64).train()
        plain.load_state_dict({k: v for k, v in m.state_dict().items()
                               if k in plain.state_dict()})
        torch.manual_seed(seed)
        want = plain(x)
        torch.manual_seed(seed)
        got = m(x, assignment=a)
        torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
        for key, value in plain.state_dict().items():  # running statistics updated alike
            torch.testing.assert_close(m.state_dict()[key], value, rtol=1e-12, atol=1e-12)
