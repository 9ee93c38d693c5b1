"""Measure firing rates on real data and turn them into an energy report (STTS Appendix C).

Rates come from probes over a backend run: the torch backend (``SpikingModule.probing``, eval mode),
the reference interpreter (float64, slow) or the Lava backend (Loihi 2 simulation: the spikes its
extractors record, on the ``lava`` target's graph; one Lava runtime serves every batch). Only the
spiking nodes and the Input are recorded: the energy backend needs nothing else (the ``paper``
target carries their rates through pooling, flatten and concat; the ``lava`` target counts
synaptic events from their per-element spike counts, :attr:`snnc.backends.energy.Rates.counts`,
which take ``T`` x the node's size each, whatever the number of samples). Inputs are preprocessed
as for evaluation (:mod:`snnc.runtime.evaluate`): the model's recorded encoding, ``T`` and
normalisation, else the graph's and the dataset's.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..backends.energy import EnergyReport, EnergyTable, Rates, build_report
from ..backends.energy import rates_from_trace
from ..errors import RunError
from ..ir.graph import Graph
from ..ir.inputs import input_layout
from ..ir.ops import OPS
from .evaluate import model_data, model_input
from .evaluate import torch_dtype
from .loader import batches, derive_seed, torch_threads

__all__ = ["BACKENDS", "measure_rates", "energy_report"]

BACKENDS = ("torch", "interpreter", "lava")
_RATE_ENERGY = 7  # derive_seed stream tag of rate-encoded inputs for energy reports


def _probed(graph: Graph) -> tuple[str, ...]:
    """Nodes whose rates the report needs: spiking ops and the Input."""
    return tuple(n.name for n in graph if OPS[n.op].spiking or n.op == "Input")


def measure_rates(graph: Graph, x, *, backend: str = "torch", batch_size: int = 64,
                  T: int | None = None, dtype: str = "float32", threads: int = 0,
                  progress=None) -> Rates:
    """Per-step firing rates of ``graph``'s spiking nodes (and its Input) on inputs ``x``.

    Args:
        graph: an IR graph (verified when compiled or interpreted).
        x: the model input, numpy array or tensor: ``[N, *input_shape]`` (direct encoding, repeated
            at every step) or ``[T, N, *input_shape]`` (e.g. rate-encoded spikes).
        backend: ``"torch"`` (probes, eval mode, no grad), ``"interpreter"`` (float64 reference)
            or ``"lava"`` (the Lava backend's recorded spikes, float64; ``graph`` is prepared for
            the ``lava`` target first, which keeps every spiking node and its name; the Input's
            rate is the input itself, which the host sends).
        batch_size: samples per forward pass (memory only; results do not depend on it).
        T: time steps (default ``graph.meta["T"]``, or ``x.shape[0]`` for a sequence).
        dtype: torch backend's ``"float32"`` (default) or ``"float64"``; the interpreter is float64.
        threads: torch intra-op threads during the run (0 = leave as is).
        progress: optional callable ``progress(done, total)`` after each batch.
    Returns:
        :class:`~snnc.backends.energy.Rates` over the ``N`` samples.
    Raises:
        RunError: unknown backend, ``batch_size < 1``, no samples, an input that fits neither shape.
        LavaMappingError: (``"lava"``) what the Lava backend cannot run, by node name.
    """
    if backend not in BACKENDS:
        raise RunError(f"unknown backend {backend!r} for measuring rates; known: "
                       f"{', '.join(BACKENDS)}")
    if batch_size < 1:
        raise RunError(f"batch_size must be >= 1, got {batch_size}")
    xt = x.detach().cpu() if isinstance(x, torch.Tensor) else torch.from_numpy(np.asarray(x))
    layout = input_layout(graph.input_node.shape, xt.shape, T,
                          default_T=int(graph.meta.get("T", 1)), sample_name="N")
    axis, n = layout.batch_axis, layout.batch
    if n < 1:
        raise RunError("no samples to measure rates on")
    nodes = _probed(graph)
    if backend == "lava":
        return _lava_rates(graph, xt, axis, n, layout.T, nodes, batch_size, progress)
    total: Rates | None = None
    with torch_threads(threads):
        if backend == "torch":
            from ..backends.torch import compile as compile_torch

            module = compile_torch(graph, dtype=torch_dtype(dtype)).eval()
            ops = tuple({graph.nodes[k].op for k in nodes})
        for start in range(0, n, batch_size):
            xb = xt.narrow(axis, start, min(batch_size, n - start))
            if backend == "torch":
                with torch.no_grad(), module.probing(ops=ops):
                    module(xb, T=T)
                outputs = {k: v.cpu().numpy() for k, v in module.records.items()}
                module.records = {}
            else:
                from ..ir.interpret import run

                outputs = run(graph, xb.double().numpy(), T).outputs
            r = rates_from_trace(graph, outputs, backend=backend, nodes=nodes)
            total = r if total is None else total.merge(r)
            if progress:
                progress(min(start + batch_size, n), n)
    assert total is not None
    return total


def _lava_rates(graph: Graph, xt: torch.Tensor, axis: int, n: int, T: int,
                nodes: tuple[str, ...], batch_size: int, progress) -> Rates:
    """:func:`measure_rates` on the Lava backend: one network (one Lava runtime) for every batch."""
    from ..backends.lava import build
    from ..backends.lava.result import as_sequence
    from ..passes.targets import prepare

    deployed, _ = prepare(graph, "lava")
    inp = graph.input_node.name
    record = [k for k in nodes if k != inp and k in deployed.nodes]
    total: Rates | None = None
    with build(deployed, T, record=record) as net:
        for start in range(0, n, batch_size):
            xb = xt.narrow(axis, start, min(batch_size, n - start)).double().numpy()
            res = net.run(xb)
            outputs = {k: v for k, v in res.spikes.items() if k in nodes}
            if inp in nodes:
                outputs[inp] = as_sequence(graph, xb, T)
            r = rates_from_trace(graph, outputs, backend="lava", nodes=nodes)
            total = r if total is None else total.merge(r)
            if progress:
                progress(min(start + batch_size, n), n)
    assert total is not None
    return total


def energy_report(model: str | Path | Graph, dataset: str | None = None, *,
                  data_root: str | Path | None = None, samples: int = 256,
                  backend: str = "torch", table: str | Path | EnergyTable | None = None,
                  first_layer: str | None = None, target: str = "paper", batch_size: int = 64,
                  seed: int = 0, dtype: str = "float32", threads: int = 0,
                  progress=None) -> EnergyReport:
    """Energy of ``model`` per test sample, with firing rates measured on ``samples`` test images.

    ``target`` is an energy target (:data:`snnc.backends.energy.ENERGY_TARGETS`): ``"paper"``
    counts the graph of the IR target ``energy`` (separable convolutions unfolded, first layer
    once, STTS Appendix C), ``"lava"`` the graph the Lava backend deploys (IR target ``lava``:
    every fold, first layer every step, ACs = exact synaptic events: each spike times the fan-out
    of its effective layer, pooling folded into the next layer, padding excluded). The ANN
    equivalent is always counted on the unfolded graph. Every pass keeps every spike, so the
    rates, measured on the counted graph, are those of the model as trained.

    Args:
        model: a run folder, ``.snnir`` file, genome file (untrained weights) or Graph.
        dataset: dataset name; default the one the model was trained on (recorded in the
            ``.snnir``). Rates are always measured on data: without one this raises.
        samples: first ``samples`` test images.
        backend: ``"torch"``, ``"interpreter"`` or ``"lava"`` (see :func:`measure_rates`); the
            report records it (``rates_backend``). ``"lava"`` measures on the ``lava`` target's
            graph (what ``snnc lava`` runs), whatever the energy target counts: every pass keeps
            every spiking node, its name and its spikes.
        table: energy table name or JSON file (default 45nm-fp32, Horowitz 2014).
        first_layer: override the target's rule: ``"per_step"`` (``T * FLOPs^1``) or ``"once"``
            (eq. C.2 as printed).
        batch_size, seed (rate-encoded inputs), dtype, threads, progress: as named.
    Raises:
        RunError: no dataset, bad ``samples``; EnergyError: bad table, target or ``first_layer``;
        DatasetError, ArtifactError, GenomeSyntaxError, PassError: as the loaders and passes;
        LavaMappingError: (``backend="lava"``) what the Lava backend cannot run, by node name.
    """
    from ..backends.energy import get_energy_target
    from ..passes.targets import prepare

    etarget = get_energy_target(target)
    if samples < 1:
        raise RunError(f"samples must be >= 1, got {samples}")
    md = model_data(model, dataset, data_root, missing="firing rates must be measured on data, "
                    "and the model records no dataset; pass one (--data mnist, digits, ...)")
    graph, label, ds, pre = md.graph, md.label, md.dataset, md.pre
    x, y = ds.test_x[:samples], ds.test_y[:samples]
    (xb, _), = batches(x, y, len(x), shuffle=False, mean=pre.mean, std=pre.std)
    xin = model_input(xb, pre, derive_seed(_RATE_ENERGY, seed, 0))
    counted, _ = prepare(graph, etarget.ir_target)
    unfolded = counted if etarget.ir_target == "energy" else prepare(graph, "energy")[0]
    measured = prepare(graph, "lava")[0] if backend == "lava" else counted
    rates = measure_rates(measured, xin, backend=backend, batch_size=batch_size, T=pre.T,
                          dtype=dtype, threads=threads, progress=progress)
    return build_report(counted, rates, table, first_layer=first_layer, encoding=pre.encoding,
                        model=label, dataset=ds.name,
                        passes=",".join(counted.meta.get("passes") or []) or "none",
                        target=target, ann_graph=unfolded)
