"""Surrogate gradients: the backward formula is the derivative of its primitive (gradcheck,
float64), the spike function's backward applies it, and the forward is the strict Heaviside step."""
import math

import pytest
import torch

from snnc.backends.torch.surrogates import SURROGATES, get_surrogate, heaviside, spike
from snnc.ir.ops import SURROGATES as IR_SURROGATES

ARGS = {"atan": [2.0, 0.7], "triangle": [1.0, 0.3], "dspike": [3.0, 5.0], "sigmoid": [4.0, 1.5],
        "rectangle": [1.0, 0.4]}


def kinks(name, arg):
    """Points where the primitive is not smooth (finite differences are wrong there)."""
    return {"triangle": [-arg, 0.0, arg], "dspike": [-0.5, 0.5],
            "rectangle": [-arg / 2, arg / 2]}.get(name, [])


def smooth_points(name, arg, n=64, seed=0):
    x = torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    x = x * max(arg, 1.0)
    for k in kinks(name, arg):
        x = x[(x - k).abs() > 1e-3]
    return x


class _Smooth(torch.autograd.Function):
    """Forward: the surrogate's primitive; backward: its ``grad`` formula."""

    @staticmethod
    def forward(ctx, x, name, arg):
        ctx.save_for_backward(x)
        ctx.name, ctx.arg = name, arg
        return SURROGATES[name].primitive(x, arg)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * SURROGATES[ctx.name].grad(x, ctx.arg), None, None


def test_registry_matches_ir_catalogue():
    assert tuple(SURROGATES) == IR_SURROGATES


@pytest.mark.parametrize("name", list(SURROGATES))
def test_grad_is_derivative_of_primitive(name):
    for arg in ARGS[name]:
        x = smooth_points(name, arg).requires_grad_()
        assert torch.autograd.gradcheck(lambda t: _Smooth.apply(t, name, arg), (x,))


@pytest.mark.parametrize("name", list(SURROGATES))
def test_primitive_is_a_step_and_grad_integrates_to_one(name):
    for arg in ARGS[name]:
        sg = SURROGATES[name]
        x = torch.linspace(-200, 200, 2_000_001, dtype=torch.float64)
        total = torch.trapezoid(sg.grad(x, arg), x).item()
        assert total == pytest.approx(1.0, abs=5e-3)
        assert sg.primitive(torch.tensor([-1e6], dtype=torch.float64), arg).item() < 1e-3
        assert sg.primitive(torch.tensor([1e6], dtype=torch.float64), arg).item() > 1 - 1e-3


@pytest.mark.parametrize("name", list(SURROGATES))
def test_spike_forward_is_strict_heaviside_backward_is_grad(name):
    arg = ARGS[name][1]
    x = torch.cat([torch.zeros(3, dtype=torch.float64), smooth_points(name, arg)]).requires_grad_()
    s = spike(x, name, arg)
    assert torch.equal(s, (x > 0).double())
    assert s[:3].sum() == 0  # H == v_th does not fire
    w = torch.randn_like(x)
    s.backward(w)
    assert torch.allclose(x.grad, w * SURROGATES[name].grad(x.detach(), arg), rtol=0, atol=0)


def test_atan_is_stts_eq_b1():
    alpha = 2.0
    x = torch.linspace(-3, 3, 101, dtype=torch.float64).requires_grad_()
    spike(x, "atan", alpha).sum().backward()
    expected = alpha / (2 * (1 + (math.pi / 2 * alpha * x.detach()) ** 2))
    assert torch.allclose(x.grad, expected, rtol=1e-14, atol=0)
    assert x.grad.max().item() == pytest.approx(1.0)  # alpha / 2 at the threshold


def test_dspike_is_spikedhs_form_inside_window_zero_outside():
    b = 3.0
    x = torch.tensor([-0.7, -0.3, 0.0, 0.2, 0.49, 0.51], dtype=torch.float64)
    g = SURROGATES["dspike"].grad(x, b)
    inside = b / (2 * math.tanh(b / 2)) * (1 - torch.tanh(b * x) ** 2)
    assert torch.equal(g[1:5], inside[1:5])
    assert g[0] == 0 and g[5] == 0


def test_default_arg_and_dtype():
    x = torch.tensor([0.5, -0.5], dtype=torch.float32)
    assert heaviside(x).dtype == torch.float32
    assert torch.equal(SURROGATES["atan"](x), torch.tensor([1.0, 0.0]))


def test_unknown_surrogate():
    with pytest.raises(ValueError, match="unknown surrogate 'relu'.*atan"):
        get_surrogate("relu")


# ------------------------------------------------------------------ each paper's own formula
def grad_at(name, v, v_th, arg):
    """The surrogate gradient dS/dV that ``spike(V - v_th)`` backpropagates, at membrane ``v``."""
    v = v.clone().requires_grad_()
    spike(v - v_th, name, arg).sum().backward()
    return v.grad


def test_triangle_is_bcnas_eq_5():
    """BCNAS-SNN eq. 5: ds/dv = 1/b^2 max(0, b - |v - V_th|), b = 1, V_th = 1 (section 3.1)."""
    v = torch.linspace(-1.0, 3.0, 401, dtype=torch.float64)
    for b, v_th in ((1.0, 1.0), (0.5, 1.0), (2.0, 0.3)):
        paper = 1 / b ** 2 * torch.clamp(b - (v - v_th).abs(), min=0)
        assert torch.allclose(grad_at("triangle", v, v_th, b), paper, rtol=1e-14, atol=1e-15)
    assert SURROGATES["triangle"].default_arg == 1.0  # "b ... is set to 1"


def spikedhs_dspike(u, b, v_th=0.5):
    """SpikeDHS eq. 11: Dspike(x) = a tanh(b (x - c)) + d on [0, 1] with c = V_th, and a, d from
    Dspike(0) = 0, Dspike(1) = 1 (solved here, not assumed); 0 below, 1 above."""
    a = 1.0 / (math.tanh(b * (1 - v_th)) - math.tanh(-b * v_th))
    d = -a * math.tanh(-b * v_th)
    inside = a * torch.tanh(b * (u - v_th)) + d
    return torch.where(u < 0, torch.zeros_like(u), torch.where(u > 1, torch.ones_like(u), inside))


@pytest.mark.parametrize("b", [1.0, 3.0, 5.0])
def test_dspike_is_spikedhs_eq_11(b):
    """With SpikeDHS's V_th = 0.5 (section 3.1.2) the paper's Dspike on u in [0, 1] is our
    primitive of ``u - V_th``, and its derivative (autograd of the paper's formula) our gradient."""
    u = torch.linspace(-0.4, 1.4, 361, dtype=torch.float64)
    u = u[((u - 0.0).abs() > 1e-6) & ((u - 1.0).abs() > 1e-6)]  # the window's kinks
    assert torch.allclose(SURROGATES["dspike"].primitive(u - 0.5, b), spikedhs_dspike(u, b),
                          rtol=1e-13, atol=1e-15)
    ur = u.clone().requires_grad_()
    spikedhs_dspike(ur, b).sum().backward()
    assert torch.allclose(grad_at("dspike", u, 0.5, b), ur.grad, rtol=1e-12, atol=1e-14)
    inner = u[(u > 0.01) & (u < 0.99)].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda t: _Smooth.apply(t - 0.5, "dspike", b), (inner,))


def test_sigmoid_is_the_derivative_of_a_steep_sigmoid():
    """SpikingJelly's Sigmoid surrogate: g(x) = sigmoid(alpha x), g' = alpha s (1 - s)."""
    x = torch.linspace(-3, 3, 121, dtype=torch.float64)
    for alpha in (4.0, 1.5):
        xr = x.clone().requires_grad_()
        torch.sigmoid(alpha * xr).sum().backward()
        assert torch.allclose(grad_at("sigmoid", x, 0.0, alpha), xr.grad, rtol=1e-13, atol=1e-16)


def test_rectangle_is_stbp():
    """Wu et al. 2018 (STBP), the rectangular curve: h(u) = 1/a sign(|u - V_th| < a/2)."""
    u = torch.linspace(-1.0, 2.0, 301, dtype=torch.float64) + 1e-7  # off the window's edges
    for a, v_th in ((1.0, 0.5), (0.4, 1.0)):
        paper = ((u - v_th).abs() < a / 2).double() / a
        assert torch.equal(grad_at("rectangle", u, v_th, a), paper)


def test_atan_is_stts_eq_b1_around_the_threshold():
    """STTS eq. B.1 is written at H; SpikingJelly (the STTS code) evaluates it at H - V_th."""
    h = torch.linspace(-1, 3, 81, dtype=torch.float64)
    v_th, alpha = 1.0, 2.0
    paper = alpha / (2 * (1 + (math.pi / 2 * alpha * (h - v_th)) ** 2))
    assert torch.allclose(grad_at("atan", h, v_th, alpha), paper, rtol=1e-14, atol=0)


@pytest.mark.parametrize("name", list(SURROGATES))
def test_in_place_grad_is_scaled_grad(name):
    """``grad_(x, arg, scale)`` overwrites ``x`` with ``scale * grad(x, arg)`` (the fused LIF
    backward's form), on both sides of every kink and far out in the tails."""
    for arg in ARGS[name]:
        x = torch.cat([smooth_points(name, arg, seed=3), torch.tensor([0.0, 40.0, -40.0, 1e3, -1e3]),
                       torch.tensor(kinks(name, arg), dtype=torch.float64)]).double()
        for scale in (1.0, 0.37):
            y = x.clone()
            out = SURROGATES[name].grad_(y, arg, scale)
            assert out.data_ptr() == y.data_ptr()
            assert torch.allclose(y, scale * SURROGATES[name].grad(x, arg), rtol=1e-13, atol=0)
