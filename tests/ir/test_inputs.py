"""snnc.ir.inputs: the one rule every backend reads an input array by."""
import numpy as np
import pytest

from snnc.errors import InputShapeError, SnncError
from snnc.ir.inputs import input_layout


def test_direct_and_sequence_layouts():
    d = input_layout((1, 8, 8), (5, 1, 8, 8), default_T=4)
    assert (d.direct, d.T, d.batch, d.batch_axis) == (True, 4, 5, 0)
    s = input_layout((1, 8, 8), (6, 5, 1, 8, 8), 3)
    assert (s.direct, s.T, s.batch, s.batch_axis) == (False, 3, 5, 1)
    assert input_layout((3,), (6, 5, 3)).T == 6  # a sequence's own length by default


@pytest.mark.parametrize("shape, T, match", [
    ((5, 2, 8, 8), None, r"fits neither \[B, \(1, 8, 8\)\] nor \[T, B, \(1, 8, 8\)\]"),
    ((2, 5, 1, 8, 8), 3, "input has 2 time steps, T=3 requested"),
    ((5, 1, 8, 8), 0, "T must be >= 1"),
])
def test_errors_are_one_type(shape, T, match):
    with pytest.raises(InputShapeError, match=match) as info:
        input_layout((1, 8, 8), shape, T)
    assert isinstance(info.value, SnncError) and isinstance(info.value, ValueError)


def test_every_backend_uses_it():
    """The interpreter, torch, ONNX and Lava's sequence helper raise the same error type."""
    from snnc.backends.lava.result import as_sequence
    from snnc.ir import interpret
    from snnc.testing.random_graph import random_graph

    g = random_graph(0, max_nodes=30)
    bad = np.zeros((2, 7, 7, 7))
    with pytest.raises(InputShapeError):
        interpret(g, bad)
    with pytest.raises(InputShapeError):
        as_sequence(g, bad, 2)
    torch_backend = pytest.importorskip("snnc.backends.torch")
    with pytest.raises(InputShapeError):
        torch_backend.compile(g)(bad)
