"""Run a trained model on Lava (Loihi 2 simulation) over real test images and compare it with the
PyTorch backend: prediction agreement and per-layer spike trains, element by element.

The model is prepared for the ``lava`` target first (BatchNorm, depthwise and the sink mean folded,
Dropout dropped; :mod:`snnc.passes.targets`), as Loihi would run it. Two references run on the same inputs:

- the PyTorch backend on the model as trained (float32): **prediction agreement** says how often
  Loihi's class equals the class the trained model predicts;
- the PyTorch backend on the deploy graph in float64, whose spikes equal the reference interpreter's
  (tested in ``tests/backends/torch``): every layer's **spike trains** must be equal element by
  element (sample, step, neuron); equal counts alone could hide spikes moved in time or space.

With ``fixed_point`` the model is prepared for the ``lava-fixed`` target instead (the
``quantize-loihi`` pass: Loihi 2's integer formats) and Lava runs its ``fixed_pt`` models; the
spike reference is then the reference interpreter's integer model of the quantised graph (the
two must be bit-exact), whose own accuracy is reported beside the float PyTorch accuracy and
Lava's, with the pass's approximations.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import RunError
from ..ir.graph import Graph
from .evaluate import model_data, model_input, predict
from .loader import batches, derive_seed

_RATE_LAVA = 6  # derive_seed stream tag of rate-encoded inputs for the Lava comparison


@dataclass
class LayerAgreement:
    """One neuron layer's spikes over all samples and steps, on Lava and on the reference.

    ``lava_spikes``/``reference_spikes``: spike counts; ``elements``: spike-train elements
    compared (samples x T x neurons); ``mismatches``: elements where the two trains differ.
    """

    name: str
    neurons: int
    lava_spikes: int
    reference_spikes: int
    elements: int = 0
    mismatches: int = 0

    @property
    def equal(self) -> bool:
        """The spike trains are equal element by element (not merely in count)."""
        return self.mismatches == 0

    def add(self, lava: np.ndarray, reference: np.ndarray) -> None:
        """Compare one batch's trains ``[T, B, *shape]`` (0/1) and add them to the totals.

        Raises:
            RunError: the two trains differ in shape.
        """
        if lava.shape != reference.shape:
            raise RunError(f"layer {self.name!r}: Lava spikes {lava.shape} and reference spikes "
                           f"{reference.shape} differ in shape")
        self.lava_spikes += int(lava.sum())
        self.reference_spikes += int(reference.sum())
        self.elements += int(lava.size)
        self.mismatches += int(np.count_nonzero(lava != reference))


@dataclass
class LavaReport:
    """Result of :func:`lava_check`. Accuracies and agreement are fractions in ``[0, 1]``;
    ``layers_equal``: layers whose spike trains are equal element by element."""

    model: str
    dataset: str
    samples: int
    lava_accuracy: float
    torch_accuracy: float
    prediction_agreement: float
    layers: list[LayerAgreement] = field(default_factory=list)
    seconds_per_image: float = 0.0
    latency_steps: int = 0
    #: fixed point only: the reference interpreter's accuracy on the quantised graph, and what
    #: quantize-loihi approximated
    fixed_point: bool = False
    reference_accuracy: float | None = None
    approximations: list[str] = field(default_factory=list)

    @property
    def layers_equal(self) -> int:
        return sum(layer.equal for layer in self.layers)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for row, layer in zip(d["layers"], self.layers):
            row["equal"] = layer.equal
        d["layers_equal"] = self.layers_equal
        return d


def lava_check(model: str | Path | Graph, dataset: str | None = None, *,
               data_root: str | Path | None = None, samples: int = 100, seed: int = 0,
               conv: str = "sparse", fixed_point: bool = False, processes: str | None = None,
               progress=None) -> LavaReport:
    """Simulate ``model`` on Lava over the first ``samples`` test images of ``dataset``.

    Args:
        model: a run folder, a ``.snnir`` file or a Graph (trained weights).
        dataset: dataset name; default the one the model was trained on.
        samples: number of test images (each one Lava run of ``T`` + latency steps).
        seed: seed of rate-encoded inputs.
        conv: how convolutions become Lava synapses, ``"sparse"`` or ``"conv"``
            (see :func:`snnc.backends.lava.build`).
        fixed_point: quantise (target ``lava-fixed``) and run Lava's ``fixed_pt`` models;
            spikes are compared with the reference interpreter's integer model.
        processes: ``"fused"`` (the whole network in one Lava process), ``"layer"`` (one per
            neuron and synapse) or None (fused where exact; :func:`snnc.backends.lava.build`).
        progress: optional callable ``progress(done, total)`` after each batch.
    Raises:
        RunError: no dataset known, bad ``samples``; LavaMappingError for what Loihi cannot run.
    """
    from ..backends.lava import build
    from ..backends.torch import compile as compile_torch
    from ..ir.interpret import run as run_reference
    from ..passes.targets import prepare

    if samples < 1:
        raise RunError(f"samples must be >= 1, got {samples}")
    md = model_data(model, dataset, data_root)
    graph, label, ds, pre = md.graph, md.label, md.dataset, md.pre
    x, y = ds.test_x[:samples], ds.test_y[:samples]
    folded, records = prepare(graph, "lava-fixed" if fixed_point else "lava")
    approximations = [n for r in records if r.name.startswith("quantize-loihi") for n in r.notes
                      if n.startswith("approximated")]
    reference = None if fixed_point else compile_torch(folded, dtype=torch.float64).eval()
    ref_pred = []
    torch_pred = predict(compile_torch(graph, dtype=torch.float32), x, pre)
    lava_pred, layers = [], {n.name: LayerAgreement(n.name, int(np.prod(n.shape)), 0, 0)
                             for n in folded.nodes_of("LIF", "ALIF", "LoihiLIF")}
    seen: set[str] = set()
    t0, latency, done = time.perf_counter(), 0, 0
    with build(folded, pre.T, conv=conv, processes=processes) as net:  # one Lava runtime serves every batch
        for b, (xb, _) in enumerate(batches(x, y, 10, shuffle=False, mean=pre.mean,
                                            std=pre.std)):
            xin = model_input(xb, pre, derive_seed(_RATE_LAVA, seed, b)).double()
            res = net.run(xin.numpy())
            latency = max(res.latency.values(), default=0)
            lava_pred.append(res.output.mean(0).argmax(-1))
            if fixed_point:  # the integer reference: the interpreter on the quantised graph
                trace = run_reference(folded, xin.numpy(), pre.T)
                rec = {k: trace.outputs[k] for k in layers}
                ref_pred.append(trace.output.mean(0).argmax(-1))
            else:
                with torch.no_grad(), reference.probing():
                    reference(xin, T=pre.T)
                    rec = {k: v.numpy() for k, v in reference.records.items()}
            for name, spikes in res.spikes.items():
                layers[name].add(spikes, rec[name])
                seen.add(name)
            done += len(xb)
            if progress:
                progress(done, len(x))
    seconds = (time.perf_counter() - t0) / max(len(x), 1)
    lava_pred = np.concatenate(lava_pred)
    ref_acc = float((np.concatenate(ref_pred) == y).mean()) if ref_pred else None
    return LavaReport(label, ds.name, len(x), float((lava_pred == y).mean()),
                      float((torch_pred == y).mean()), float((lava_pred == torch_pred).mean()),
                      [a for n, a in layers.items() if n in seen], seconds, latency,
                      fixed_point, ref_acc, approximations)
