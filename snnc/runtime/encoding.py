"""Input encoders: turn a batch of static images into the ``[T, B, ...]`` input of a spiking network.

- **direct** (a.k.a. constant-current / analog input; STTS, SNASNet, SpikeDHS): the (normalised) image is
  fed unchanged at every time step; the first layer turns it into spikes. Either materialise
  ``[T, B, ...]`` with :func:`direct_encode`, or pass ``[B, ...]`` and let the compiled torch module repeat
  it (``encode(..., repeat=False)``), which saves T-fold memory.
- **rate** (Bernoulli / Poisson-like): at every step each input emits a spike (1.0) with probability equal
  to its intensity in ``[0, 1]``, independently over time and inputs. Apply it to un-normalised ``[0, 1]``
  images. Seeded with a ``torch.Generator`` so a run is reproducible.
"""
from __future__ import annotations

import torch

from snnc.errors import DatasetError

__all__ = ["ENCODINGS", "direct_encode", "encode", "rate_encode"]

#: Encoding names :func:`encode` accepts.
ENCODINGS = ("direct", "rate")


def _check_steps(steps: int) -> None:
    if not isinstance(steps, int) or steps < 1:
        raise DatasetError(f"time steps T must be an integer >= 1, got {steps!r}")


def direct_encode(x: torch.Tensor, steps: int) -> torch.Tensor:
    """Repeat ``x`` ``[B, ...]`` at every time step: ``[T, B, ...]``.

    Returns an expanded *view* (no copy; ``out[t]`` is ``x`` for every t) — call ``.contiguous()`` before
    writing into it.

    Raises:
        DatasetError: ``steps < 1``.
    """
    _check_steps(steps)
    return x.unsqueeze(0).expand(steps, *x.shape)


def rate_encode(x: torch.Tensor, steps: int, generator: torch.Generator | None = None, *,
                seed: int | None = None) -> torch.Tensor:
    """Bernoulli spike trains: ``out[t, ...] = 1.0 if u[t, ...] < x[...] else 0.0``, ``u ~ U[0, 1)`` i.i.d.

    So ``P(spike) = x`` exactly (0 never fires, 1 always fires) and the expected firing rate over T steps
    is the intensity.

    Args:
        x: intensities in ``[0, 1]``, shape ``[B, ...]``, floating point.
        steps: number of time steps T.
        generator: a ``torch.Generator`` on ``x.device``; or give ``seed`` to make one; neither = the
            global RNG (not reproducible across code changes).

    Returns:
        ``[T, B, ...]`` tensor of 0.0/1.0 with ``x``'s dtype and device.

    Raises:
        DatasetError: ``steps < 1``, both ``generator`` and ``seed`` given, ``x`` not floating point, or
            values outside ``[0, 1]`` (rate-encode before normalising).
    """
    _check_steps(steps)
    if generator is not None and seed is not None:
        raise DatasetError("rate_encode takes a generator or a seed, not both")
    if not x.is_floating_point():
        raise DatasetError(f"rate encoding needs floating-point intensities, got {x.dtype}")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise DatasetError(f"rate encoding needs intensities in [0, 1], got [{float(x.min()):.3g}, "
                           f"{float(x.max()):.3g}]; encode before normalising")
    if seed is not None:
        generator = torch.Generator(device=x.device).manual_seed(seed)
    u = torch.rand((steps, *x.shape), generator=generator, device=x.device, dtype=x.dtype)
    return (u < x).to(x.dtype)


def encode(x: torch.Tensor, steps: int, method: str = "direct", *, repeat: bool = True,
           generator: torch.Generator | None = None, seed: int | None = None) -> torch.Tensor:
    """Encode ``x`` ``[B, ...]`` with ``method`` (one of :data:`ENCODINGS`).

    ``direct`` returns ``[T, B, ...]`` (an expanded view), or ``x`` itself ``[B, ...]`` when
    ``repeat=False`` (the model repeats it). ``rate`` always returns ``[T, B, ...]`` spikes.

    Raises:
        DatasetError: unknown method, ``repeat=False`` with rate encoding, or as the encoders.
    """
    if method == "direct":
        _check_steps(steps)
        return direct_encode(x, steps) if repeat else x
    if method == "rate":
        if not repeat:
            raise DatasetError("rate encoding draws new spikes at every step; repeat=False is only "
                               "for direct encoding")
        return rate_encode(x, steps, generator, seed=seed)
    raise DatasetError(f"unknown input encoding {method!r}; known: {', '.join(ENCODINGS)}")
