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
    """DESIGN.md's equations in numpy (as tests/ir/test_interpret.py)."""
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
