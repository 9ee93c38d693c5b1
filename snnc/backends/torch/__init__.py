"""The torch backend: IR graph -> time-stepped ``nn.Module`` for training (docs/ARCHITECTURE.md,
"Backends and op tables").

* :func:`compile` / :class:`SpikingModule` — the executor (multi-step outside cycles, step by
  step inside strongly connected components), ``to_ir`` to write trained weights back, probes;
  on any torch device (``device="auto"``: CUDA when usable, :func:`resolve_device`).
* :mod:`.plan` — the execution plan (condensation units); :mod:`.layers` — per-node modules;
  :mod:`.optable` — the op table (how each op runs, its module, its write-back).
* :class:`LIFNode` — the canonical LIF neuron, multi-step (fused BPTT) and single-step;
  :class:`ALIFNode` (adaptive threshold) and :class:`PLIFNode` (trainable leak) in :mod:`.variants`.
* :data:`SURROGATES` / :func:`spike` — Heaviside spikes with surrogate gradients.
* :mod:`.allocator` — importing this package keeps freed memory in the process (glibc
  ``mallopt``; ``SNNC_MALLOC=default`` opts out): no page faults per training step.

This is the only place (with ``backends/onnx``, ``runtime`` and ``search``) that imports torch.
"""
from . import allocator
from .layers import TimeDropout
from .module import SUPPORTED_OPS, SpikingModule, compile, resolve_device
from .neurons import LIFNode
from .variants import ALIFNode, PLIFNode
from .surrogates import SURROGATES, Surrogate, get_surrogate, spike

allocator.apply_default()

__all__ = ["SUPPORTED_OPS", "SpikingModule", "TimeDropout", "compile", "resolve_device", "LIFNode",
           "ALIFNode", "PLIFNode", "SURROGATES", "Surrogate", "get_surrogate", "spike"]
