"""How a network input array is read: one rule for every backend.

An input is either ``[B, *input_shape]``, the same frame at every step (direct encoding), or a
sequence ``[T', B, *input_shape]`` of which the first ``T`` steps are used. Every backend (the
interpreter, torch, ONNX, Lava) and every runner (energy rates) calls :func:`input_layout`, so they
agree on the rule and on the error.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from ..errors import InputShapeError


@dataclass(frozen=True)
class InputLayout:
    """What :func:`input_layout` read off an input's shape.

    Attributes:
        direct: True for ``[B, *input_shape]`` (repeat at every step), False for a sequence.
        T: the number of time steps to run.
        batch: ``B``, the number of samples.
    """

    direct: bool
    T: int
    batch: int

    @property
    def batch_axis(self) -> int:
        """Axis of the samples in the input array: 0 (direct) or 1 (sequence)."""
        return 0 if self.direct else 1


def input_layout(input_shape: Sequence[int], x_shape: Sequence[int], T: int | None = None, *,
                 default_T: int = 1, sample_name: str = "B") -> InputLayout:
    """Read an input's layout from its shape.

    Args:
        input_shape: the graph's per-sample input shape (``graph.input_node.shape``).
        x_shape: the shape of the array given.
        T: time steps asked for; default ``default_T`` for direct encoding, the sequence length
            for a sequence.
        default_T: the graph's own ``T`` (``graph.meta["T"]``).
        sample_name: how messages name the sample axis (``"B"``, or ``"N"`` for a dataset).
    Returns:
        An :class:`InputLayout`.
    Raises:
        InputShapeError: ``x_shape`` fits neither layout, ``T < 1``, or the sequence has fewer
            than ``T`` steps.
    """
    in_shape, shape = tuple(input_shape), tuple(x_shape)
    if shape[1:] == in_shape:
        layout = InputLayout(True, int(T if T is not None else default_T), shape[0])
    elif shape[2:] == in_shape and len(shape) == len(in_shape) + 2:
        layout = InputLayout(False, int(T if T is not None else shape[0]), shape[1])
        if shape[0] < layout.T:
            raise InputShapeError(f"input has {shape[0]} time steps, T={layout.T} requested")
    else:
        raise InputShapeError(f"input shape {shape} fits neither [{sample_name}, {in_shape}] nor "
                              f"[T, {sample_name}, {in_shape}]")
    if layout.T < 1:
        raise InputShapeError(f"T must be >= 1, got {layout.T}")
    return layout
