"""Upsample in the torch backend: random TANet-like graphs given a global backward connection
through a nearest upsampling (BCNAS-SNN eq. 6) equal the reference interpreter in float64, in
multi-step and step-by-step mode, and gradients flow through it."""
from functools import lru_cache

import numpy as np
import pytest
import torch

from snnc.backends.torch import compile
from snnc.ir import run, verify
from snnc.testing.random_graph import random_graph, random_input
from tests.ir.graphs import add_backward_connection, backward_net, sample_input

RTOL = ATOL = 1e-9


@lru_cache(maxsize=None)
def cases() -> list:
    """The first random graphs that have a LIF pair at resolutions k : 1 (k >= 2)."""
    out = []
    for seed in range(200):
        g = add_backward_connection(random_graph(seed), seed)
        if g is not None:
            out.append(verify(g))
        if len(out) == 6:
            break
    return out


def test_enough_random_cases():
    assert len(cases()) == 6
    assert {g["bcx.up"].attrs["scale"] for g in cases()} >= {2, 4}


@pytest.mark.parametrize("index", range(6))
@pytest.mark.parametrize("mode", ["multi", "step"])
def test_random_graph_with_upsample_matches_interpreter(index, mode):
    g = cases()[index]
    x = random_input(g, seed=7, batch=2)
    trace = run(g, x)
    m = compile(g, dtype=torch.float64, mode=mode).eval()
    with torch.no_grad(), m.probing(membranes=True):
        y = m(torch.as_tensor(x))
    assert any(u.cyclic and "bcx.up" in u.members for u in m._plan)
    for node in g:
        got, ref = m.records[node.name].numpy(), trace.outputs[node.name]
        if node.op == "LIF":
            assert np.array_equal(got, ref), node.name
        else:
            np.testing.assert_allclose(got, ref, RTOL, ATOL, err_msg=node.name)
    np.testing.assert_allclose(y.numpy(), trace.output, RTOL, ATOL)
    target = g.out_edges("bcx.bn")[0].dst
    assert 0 < trace.outputs[target].mean() < 1


def test_gradient_flows_through_upsample():
    g = verify(backward_net())
    m = compile(g, dtype=torch.float64).train()
    m(torch.as_tensor(sample_input(g))).sum().backward()
    grad = m.layer("bc.conv").weight.grad
    assert grad is not None and float(grad.abs().sum()) > 0
