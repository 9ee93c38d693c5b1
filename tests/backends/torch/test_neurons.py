"""LIFNode: the canonical equations, multi-step (fused BPTT) vs single-step (autograd) agreement,
detach_reset."""
import itertools

import numpy as np
import pytest
import torch

from snnc.backends.torch import LIFNode
from snnc.backends.torch.surrogates import SURROGATES

COMBOS = list(itertools.product(["hard", "soft"], [False, True]))


def reference_lif(x, beta, alpha, v_th, v_reset=0.0, v_rest=0.0, reset="hard", **_):
    """docs/ARCHITECTURE.md's equations in numpy (as tests/ir/test_interpret.py)."""
    v = np.full(x.shape[1:], v_rest)
    spikes, vs = [], []
    for xt in x:
        h = v_rest + beta * (v - v_rest) + alpha * xt
        s = (h > v_th).astype(float)
        v = np.where(s > 0, v_reset, h) if reset == "hard" else h - v_th * s
        spikes.append(s)
        vs.append(v)
    return np.array(spikes), np.array(vs)


def neuron(reset, detach, surrogate="atan", **kw):
    attrs = dict(beta=0.7, alpha=0.8, v_th=0.6, v_reset=-0.1, v_rest=0.05, reset=reset,
                 detach_reset=detach, surrogate=surrogate, surrogate_arg=2.0)
    attrs.update(kw)
    return LIFNode(**attrs), attrs


def step_loop(n, x):
    v, ss, vs = None, [], []
    for xt in x:
        s, v = n.step(xt, v)
        ss.append(s)
        vs.append(v)
    return torch.stack(ss), torch.stack(vs)


def rand_x(shape=(7, 3, 5), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=torch.float64) * 0.8 + 0.3


@pytest.mark.parametrize("reset,detach", COMBOS)
@pytest.mark.parametrize("kw", [{}, {"v_rest": 0.0, "v_reset": 0.0, "alpha": 1.0, "beta": 1.0}])
def test_equations(reset, detach, kw):
    n, attrs = neuron(reset, detach, **kw)
    x = rand_x()
    s_ref, v_ref = reference_lif(x.numpy(), **attrs)
    s, v = n(x, return_v=True)
    assert np.array_equal(s.numpy(), s_ref)
    assert np.allclose(v.numpy(), v_ref, rtol=0, atol=1e-15)
    assert 0 < s_ref.mean() < 1
    s2, v2 = step_loop(n, x)
    assert torch.equal(s2, s) and torch.allclose(v2, v, rtol=0, atol=1e-15)


@pytest.mark.parametrize("surrogate", list(SURROGATES))
@pytest.mark.parametrize("reset,detach", COMBOS)
def test_fused_bptt_matches_autograd(surrogate, reset, detach):
    n, _ = neuron(reset, detach, surrogate, surrogate_arg=0.8)
    x = rand_x(seed=1)
    w = torch.randn(x.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    xa = x.clone().requires_grad_()
    s = n(xa)
    assert s.grad_fn is not None and "LIFMultiStep" in type(s.grad_fn).__name__
    (s * w).sum().backward()
    xb = x.clone().requires_grad_()
    sb, _ = step_loop(n, xb)
    (sb * w).sum().backward()
    assert torch.equal(s.detach(), sb.detach())
    assert torch.allclose(xa.grad, xb.grad, rtol=1e-12, atol=1e-14)
    assert xa.grad.abs().sum() > 0


# Parameter sets the fused kernels branch on: identity gain/leak/rest/threshold (copies instead
# of multiplies, no v_th shift), and a gain != 1 folded into the surrogate's constant.
EDGE_PARAMS = [
    {"alpha": 1.0, "beta": 1.0, "v_rest": 0.0, "v_reset": 0.0, "v_th": 0.0},
    {"alpha": 1.0, "beta": 0.5, "v_rest": 0.0, "v_reset": 0.0},
    {"alpha": 2.5, "beta": 0.9, "v_th": 1.3},
]


@pytest.mark.parametrize("surrogate", list(SURROGATES))
@pytest.mark.parametrize("reset,detach", COMBOS)
@pytest.mark.parametrize("kw", EDGE_PARAMS)
def test_fused_bptt_edge_parameters_and_probe(surrogate, reset, detach, kw):
    """Every surrogate x reset x detach_reset x (gain, leak, rest, threshold) branch: spikes and
    potentials equal the numpy equations; gradients equal autograd through the step loop, also
    with the membrane probe on and a broadcast incoming gradient."""
    n, attrs = neuron(reset, detach, surrogate, surrogate_arg=0.9, **kw)
    x = rand_x(seed=11)
    s_ref, v_ref = reference_lif(x.numpy(), **attrs)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    s, v = n(xa, return_v=True)
    assert np.array_equal(s.detach().numpy(), s_ref) and 0 < s_ref.mean() < 1
    assert np.allclose(v.numpy(), v_ref, rtol=0, atol=1e-15)
    w = torch.randn(x.shape[1:], generator=torch.Generator().manual_seed(12), dtype=torch.float64)
    (s * w).sum().backward()  # grad_S broadcast over T
    sb, _ = step_loop(n, xb)
    (sb * w).sum().backward()
    assert torch.equal(s.detach(), sb.detach())
    assert torch.allclose(xa.grad, xb.grad, rtol=1e-12, atol=1e-14) and xa.grad.abs().sum() > 0


def test_fused_bptt_float32_close_to_float64():
    n, _ = neuron("hard", True)
    x = rand_x(shape=(6, 4, 9), seed=13).detach()
    grads = []
    for dtype in (torch.float64, torch.float32):
        xa = x.to(dtype).clone().requires_grad_()
        n(xa).sum().backward()
        grads.append(xa.grad.double())
    assert torch.allclose(*grads, rtol=1e-5, atol=1e-6)


def test_forward_leaves_input_and_output_gradient_untouched():
    """The in-place kernels write only into their own buffers."""
    n, _ = neuron("hard", False)
    x = rand_x(seed=14).requires_grad_()
    x0 = x.detach().clone()
    s = n(x)
    g = torch.randn(s.shape, generator=torch.Generator().manual_seed(15), dtype=torch.float64)
    g0 = g.clone()
    s.backward(g)
    assert torch.equal(x.detach(), x0) and torch.equal(g, g0)


@pytest.mark.parametrize("reset", ["hard", "soft"])
def test_detach_reset_changes_gradient_not_forward(reset):
    x = rand_x(seed=3)
    grads, outs = [], []
    for detach in (False, True):
        n, _ = neuron(reset, detach)
        xa = x.clone().requires_grad_()
        s = n(xa)
        s.sum().backward()
        grads.append(xa.grad)
        outs.append(s.detach())
    assert torch.equal(*outs)
    assert not torch.allclose(*grads)


def test_no_grad_path_and_float32():
    n, _ = neuron("hard", False)
    x = rand_x().float()
    with torch.no_grad():
        s = n(x)
    assert s.dtype == torch.float32 and s.grad_fn is None
    assert torch.equal(s, n(x.requires_grad_()).detach())


def test_attrs_round_trip_and_errors():
    n, attrs = neuron("soft", True, "dspike")
    assert LIFNode.from_attrs(n.attrs()).attrs() == n.attrs() == attrs
    assert "reset='soft'" in repr(n)
    with pytest.raises(ValueError, match="reset"):
        LIFNode(0.5, reset="none")
    with pytest.raises(ValueError, match="unknown surrogate"):
        LIFNode(0.5, surrogate="relu")


# ------------------------------------------------------------------ ALIF and PLIF
def reference_torch(x, beta, alpha, v_th, v_reset, v_rest, reset, surrogate, surrogate_arg,
                    rho=0.0, adapt=0.0):
    """The equations of snnc.ir.ops written out with torch ops and the surrogate spike function:
    an independent autograd reference (``beta`` may be a tensor that needs a gradient)."""
    from snnc.backends.torch.surrogates import spike

    v = torch.full_like(x[0], v_rest)
    a = torch.zeros_like(x[0])
    out = []
    for xt in x:
        h = v_rest + beta * (v - v_rest) + alpha * xt
        threshold = v_th + adapt * a
        s = spike(h - threshold, surrogate, surrogate_arg)
        v = h * (1 - s) + v_reset * s if reset == "hard" else h - threshold * s
        a = rho * a + s
        out.append(s)
    return torch.stack(out)


def alif(reset, **kw):
    from snnc.backends.torch import ALIFNode

    attrs = dict(beta=0.6, alpha=0.9, v_th=0.3, v_reset=-0.1, v_rest=0.05, reset=reset,
                 detach_reset=False, surrogate="dspike", surrogate_arg=3.0, rho=0.4, adapt=0.5)
    attrs.update(kw)
    return ALIFNode(**attrs), attrs


@pytest.mark.parametrize("reset", ["hard", "soft"])
def test_alif_forward_and_gradient_match_reference(reset):
    n, attrs = alif(reset)
    x = rand_x(seed=4)
    w = torch.randn(x.shape, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    s, v = n(xa, return_v=True)
    (s * w).sum().backward()
    ref = reference_torch(xb, **{k: a for k, a in attrs.items() if k != "detach_reset"})
    (ref * w).sum().backward()
    assert torch.equal(s.detach(), ref.detach()) and 0.05 < s.mean() < 0.6
    assert torch.allclose(xa.grad, xb.grad, rtol=1e-12, atol=1e-14) and xa.grad.abs().sum() > 0
    s2, state = n.step(x[0])
    assert torch.equal(s2, s[0].detach()) and torch.equal(n.potential(state), v[0])


def test_alif_without_adaptation_is_the_fused_lif():
    """adapt = 0: ALIF's autograd loop and LIF's hand-written BPTT give the same gradients."""
    n, attrs = alif("hard", adapt=0.0, surrogate="atan", surrogate_arg=2.0)
    lif = LIFNode.from_attrs(attrs)
    x = rand_x(seed=6)
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    sa, sb = n(xa), lif(xb)
    assert "LIFMultiStep" in type(sb.grad_fn).__name__
    sa.sum().backward()
    sb.sum().backward()
    assert torch.equal(sa.detach(), sb.detach())
    assert torch.allclose(xa.grad, xb.grad, rtol=1e-12, atol=1e-14)


def test_alif_threshold_carries_gradient():
    n, _ = alif("hard")
    x = rand_x(seed=7)
    grads = []
    for adapt in (0.5, 0.0):
        n.adapt = adapt
        xa = x.clone().requires_grad_()
        n(xa).sum().backward()
        grads.append(xa.grad)
    assert not torch.allclose(*grads)


@pytest.mark.parametrize("decay_input", [False, True])
@pytest.mark.parametrize("reset", ["hard", "soft"])
def test_plif_forward_and_leak_gradient_match_reference(decay_input, reset):
    from snnc.backends.torch import PLIFNode

    attrs = dict(beta=0.7, alpha=1.6 if decay_input else 0.8, v_th=0.3, v_reset=-0.1,
                 v_rest=0.05, reset=reset, surrogate="sigmoid", surrogate_arg=4.0,
                 decay_input=decay_input)
    n = PLIFNode(**attrs)
    x = rand_x(seed=8)
    s = n(x)
    s.sum().backward()
    beta = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    gain = attrs["alpha"] * (1 - beta) if decay_input else attrs["alpha"]
    ref = reference_torch(x, beta, gain, 0.3, -0.1, 0.05, reset, "sigmoid", 4.0)
    ref.sum().backward()
    assert torch.equal(s.detach(), ref.detach()) and 0.05 < s.mean() < 0.8
    assert n.leak.grad is not None and n.leak.grad.abs() > 0
    assert torch.allclose(n.leak.grad, beta.grad, rtol=1e-12, atol=1e-14)


def test_plif_leak_is_a_clamped_parameter_and_attrs_round_trip():
    from snnc.backends.torch import PLIFNode

    n = PLIFNode(0.5, decay_input=True, v_th=0.4)
    assert isinstance(n.leak, torch.nn.Parameter) and [p for p in n.parameters()] == [n.leak]
    assert n.attrs()["beta"] == 0.5 and n.attrs()["decay_input"] is True
    assert PLIFNode.from_attrs(n.attrs()).attrs() == n.attrs()
    with torch.no_grad():
        n.leak.fill_(1.3)  # an optimiser step may leave [0, 1]; the neuron uses the clamp
    assert n.beta == 1.0 and n.attrs()["beta"] == 1.0
    n.beta = 0.25
    assert float(n.leak.detach()) == 0.25
    assert "decay_input=True" in repr(n)
    with pytest.raises(ValueError, match="beta in \\[0, 1\\]"):
        PLIFNode(1.5)
    from snnc.backends.torch import ALIFNode
    with pytest.raises(ValueError, match="rho in \\[0, 1\\]"):
        ALIFNode(0.5, rho=2.0)


def test_second_backward_through_fused_lif_is_refused():
    """The backward pass turns the saved H into the gradient; differentiating again must fail
    loudly instead of using the overwritten buffer."""
    n, _ = neuron("hard", True)
    x = rand_x(seed=16).requires_grad_()
    s = n(x)
    s.sum().backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="differentiated once"):
        s.sum().backward()
