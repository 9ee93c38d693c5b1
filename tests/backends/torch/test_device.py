"""Devices: compile(device=...) puts every parameter, buffer and the forward pass on one device;
"auto" picks CUDA only when usable. The CUDA checks run where a GPU is present and skip elsewhere."""
import numpy as np
import pytest
import torch

from snnc.backends.torch import compile, resolve_device
from snnc.ir import run
from snnc.ir.ops import NEURON_OPS
from snnc.testing.random_graph import random_graph, random_input

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_auto_resolves_to_what_is_usable():
    want = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == want
    assert resolve_device(None) is None and resolve_device("cpu") == torch.device("cpu")
    g = random_graph(3)
    m = compile(g, device="auto")
    assert m.device.type == want
    assert {p.device.type for p in m.parameters()} <= {want}


@pytest.mark.skipif(torch.cuda.is_available(), reason="only meaningful without CUDA")
def test_cuda_without_gpu_is_a_clear_error():
    from snnc.errors import BackendError

    with pytest.raises(BackendError, match="no usable CUDA"):
        compile(random_graph(3), device="cuda")


@cuda
@pytest.mark.parametrize("seed", range(4))
def test_cuda_matches_interpreter_and_cpu_gradients(seed):
    """float64 on the GPU: spikes and outputs as the interpreter, gradients (eval mode: no random
    dropout masks, which differ by device) as on the CPU."""
    g = random_graph(seed, neurons=NEURON_OPS)
    x = random_input(g, seed=40_000 + seed, batch=2)
    ref = run(g, x)
    outs, grads = [], []
    for device in ("cpu", "cuda"):
        m = compile(g, dtype=torch.float64, device=device).eval()
        with torch.no_grad():
            outs.append(m(torch.as_tensor(x)).cpu().numpy())
        xt = torch.as_tensor(x, dtype=torch.float64, device=device).requires_grad_()
        m(xt).sum().backward()
        grads.append(xt.grad.cpu())
    assert np.allclose(outs[1], ref.output, rtol=1e-9, atol=1e-9)
    assert np.allclose(outs[0], outs[1], rtol=1e-9, atol=1e-9)
    assert torch.allclose(grads[0], grads[1], rtol=1e-7, atol=1e-9)
