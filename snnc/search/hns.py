"""Hybrid network search (HNS; Che et al., "Spatial-temporal search for SNNs", section 4.4,
eq. 21 and 28, Algorithm 3): per layer of a SpikeDHS network, spiking LIF, non-spiking ReLU (and
ALIF) neurons mixed by softmax weights, trained with the energy loss, decoded by argmax into a
hybrid genome.

:func:`run_hns` on a SpikeDHS genome (e.g. ``snnc zoo spikedhs-cla-cifar10`` at reduced width):

1. **Supernet** (:func:`.hns_space.hybrid_supernet`): every searched layer's cell neurons become
   one neuron per candidate feeding a ``WeightedMix`` (eq. 21: ``y = sum_k softmax(a)_k y_k``),
   the control parameters ``a^l`` tied across the layer's nodes (one ``nn.Parameter`` per layer).
2. **Loss** (eq. 28)::

       L = L_0 + lambda * sum_l w_l sum_k softmax(a^l)_k rho_k

   ``L_0`` the cross-entropy of the time-averaged output (as SpikeDHS trains), ``rho`` the energy
   factors (LIF 1, ReLU 4.26, ALIF 1 by default), ``w_l`` 1 per layer as the paper writes it, or
   the layer's share of the operations (``energy_weight="ops"``,
   :func:`.hns_space.energy_weights`).
3. **Optimisation.** ``"joint"`` (the default: Algorithm 3, which HNS follows, updates the
   weights ``w`` and the control parameters ``a`` on the same batch: here one forward and
   backward pass, then both steps, the first-order form of its two updates) on one half of the
   training set; ``"bilevel"`` alternates, as SpikeDHS's Algorithm 1 (first order): ``a`` on a
   batch of the other half, then ``w`` on a training batch. ``a`` stays fixed during ``warmup``
   epochs (section 5.1.1: "we maintain fixed weighting factor a and train the weights for a
   warm-up period of 5 epochs before starting the search"). Weights: SGD (momentum 0.9, weight
   decay 3e-4, cosine from ``lr`` 0.025 to 1e-3, gradient norm clipped at 5: the authors'
   SpikeDHS search settings); control parameters: Adam (``arch_lr`` 1e-3, weight decay 1e-3, as
   the authors' architecture optimiser).
4. **Decoding**: argmax of ``a^l`` per layer (:func:`.hns_space.decode`); the output is the
   genome with each searched layer's ``neuron`` override (``hybrid.genome``), which ``snnc train``
   retrains and ``snnc energy`` reports (a ReLU layer's readers counted as MACs, input
   ``"analog"``).

TPS's reset of ``a`` after each search step (Algorithm 3, lines 6-7) moves its candidate values;
HNS's candidates do not move, so ``a`` is not reset (a reset would keep only the last step's
decision). The paper gives no lambda: the default 0.1 is a choice.

**Persistence.** ``OUT/store.sqlite`` (:class:`~snnc.runtime.store.ExperimentStore`) holds the
search's configuration (a resume with another one is refused), its attempts and status, and, when
finished, the decoded genome as a candidate (its scores: validation accuracies, expected energy).
``OUT/supernet.pt`` is the training state after every epoch (weights, control parameters, both
optimisers, schedule, history), replaced atomically; everything random is a function of the seed
and the epoch, so a search killed at any moment (SIGKILL included) and resumed ends with the
uninterrupted result, bit for bit (same thread count). Outputs, written atomically:
``hybrid.genome``, ``search.json`` (per-epoch loss, energy term and softmax weights, the choice,
validation accuracies) and ``weights.png`` (softmax weights per layer over the epochs).
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..atomic import atomic_write, atomic_write_text
from ..errors import RunError, SearchError
from ..genome import genome_id, parse, to_text
from ..runtime.loader import batches, derive_seed, num_batches, torch_threads
from .checkpoint import open_search, restore, stored_config as _stored_config
from ..runtime.store import CandidateRecord, ExperimentStore
from .hns_space import (DEFAULT_CANDIDATES, ENERGY_WEIGHTS, HybridSpace, decode, energy_weights,
                        expected_energy, factors_for, hybrid_genome, hybrid_supernet,
                        layer_alpha, layer_operations)

__all__ = ["HnsConfig", "HnsResult", "OPTIMISATIONS", "run_hns", "stored_hns_config",
           "tie_layer_alphas"]

OPTIMISATIONS = ("joint", "bilevel")
SEARCH_ID = "hns"
STORE_FILE, CHECKPOINT, GENOME_FILE, REPORT_FILE, PLOT_FILE = (
    "store.sqlite", "supernet.pt", "hybrid.genome", "search.json", "weights.png")
_FORMAT = 1
# derive_seed stream tags (3-5 are the training loop's, 11-12 BCNAS's, 20-22 BCNAS's search)
_TORCH_RNG, _RATE, _VAL_ORDER, _RATE_EVAL = 30, 31, 32, 33

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class HnsConfig:
    """Everything that decides an HNS search's result.

    Attributes:
        genome: the SpikeDHS genome's canonical text (the network searched).
        candidates: ``lif``, ``relu``, ``alif`` or neuron spec texts (port order).
        layers: the layers searched (None: every layer).
        lam: lambda of eq. 28 (>= 0; 0 switches the energy loss off: Table 6's "HNS" row).
        energy_factors: ``(model, rho)`` pairs overriding :data:`.hns_space.DEFAULT_FACTORS`.
        energy_weight: ``"layer"`` (eq. 28 as written) or ``"ops"`` (layers weighted by the
            operations they drive).
        optimisation: ``"joint"`` (Algorithm 3) or ``"bilevel"`` (Algorithm 1, first order).
        rho, adapt: the ``alif`` candidate's threshold adaptation (SpikeDHS eq. 7-8).
        dataset, data_root, limit_train: the images (the first ``limit_train`` training images,
            split in halves with ``seed``: weights train on one, the other validates and, with
            ``bilevel``, trains ``a``).
        T: time steps (None: the genome's).
        epochs, warmup, batch_size: search epochs, of which the first ``warmup`` keep ``a``
            fixed (the paper: 5); images per step.
        lr, momentum, weight_decay, eta_min, grad_clip: the weights' SGD and cosine schedule.
        arch_lr, arch_weight_decay: the control parameters' Adam.
        seed: weights, split, batch order; threads: torch threads (results depend on it);
        dtype: ``"float32"`` or ``"float64"``.
    Raises:
        SearchError: a value out of range or not one of the choices (named).
    """

    genome: str
    candidates: tuple[str, ...] = DEFAULT_CANDIDATES
    layers: tuple[str, ...] | None = None
    lam: float = 0.1
    energy_factors: tuple[tuple[str, float], ...] = ()
    energy_weight: str = "layer"
    optimisation: str = "joint"
    rho: float = 0.2
    adapt: float = 1.8
    dataset: str = "cifar10"
    data_root: str | None = None
    limit_train: int | None = None
    T: int | None = None
    epochs: int = 20
    warmup: int = 5
    batch_size: int = 100
    lr: float = 0.025
    momentum: float = 0.9
    weight_decay: float = 3e-4
    eta_min: float = 1e-3
    grad_clip: float = 5.0
    arch_lr: float = 1e-3
    arch_weight_decay: float = 1e-3
    seed: int = 0
    threads: int = 1
    dtype: str = "float32"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "candidates", tuple(self.candidates))
        if self.layers is not None:
            set_(self, "layers", tuple(self.layers))
        set_(self, "energy_factors", tuple((str(k), float(v)) for k, v in
                                           (self.energy_factors.items()
                                            if isinstance(self.energy_factors, dict)
                                            else self.energy_factors)))
        if self.energy_weight not in ENERGY_WEIGHTS:
            raise SearchError(f"energy_weight must be one of {', '.join(ENERGY_WEIGHTS)}, got "
                              f"{self.energy_weight!r}")
        if self.optimisation not in OPTIMISATIONS:
            raise SearchError(f"optimisation must be one of {', '.join(OPTIMISATIONS)}, got "
                              f"{self.optimisation!r}")
        if self.dtype not in ("float32", "float64"):
            raise SearchError(f"dtype must be float32 or float64, got {self.dtype!r}")
        for name in ("epochs", "batch_size", "threads"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise SearchError(f"{name} must be an integer >= 1, got {getattr(self, name)!r}")
        for name in ("warmup", "seed"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                raise SearchError(f"{name} must be an integer >= 0, got {getattr(self, name)!r}")
        if self.T is not None and self.T < 1:
            raise SearchError(f"T must be >= 1, got {self.T}")
        if self.limit_train is not None and self.limit_train < 4:
            raise SearchError(f"limit_train must be >= 4 (two halves), got {self.limit_train}")
        for name in ("lam", "weight_decay", "eta_min", "arch_weight_decay", "rho", "adapt"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0:
                raise SearchError(f"{name} must be a finite number >= 0, got {v!r}")
        for name in ("lr", "arch_lr", "grad_clip"):
            v = getattr(self, name)
            if not math.isfinite(v) or v <= 0:
                raise SearchError(f"{name} must be a finite number > 0, got {v!r}")
        if not 0 <= self.momentum < 1:
            raise SearchError(f"momentum must be in [0, 1), got {self.momentum!r}")
        if self.eta_min > self.lr:
            raise SearchError(f"eta_min ({self.eta_min}) must be <= lr ({self.lr})")
        if not self.candidates:
            raise SearchError("HNS needs at least one candidate neuron")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["candidates"] = list(self.candidates)
        d["layers"] = None if self.layers is None else list(self.layers)
        d["energy_factors"] = [list(p) for p in self.energy_factors]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "HnsConfig":
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise SearchError(f"stored HNS config has unknown fields {unknown}")
        d = dict(d)
        d["energy_factors"] = tuple(tuple(p) for p in d.get("energy_factors", ()))
        return cls(**d)


@dataclass
class HnsResult:
    """What :func:`run_hns` produced: the decoded ``choice`` (layer -> candidate label), the
    final softmax weights per layer, the hybrid genome (text), validation accuracies of the mixed
    supernet and of the decoded network with inherited weights, the expected energy (eq. 28's
    term) of the mix and of the decoded choice, per-epoch ``history``, epochs found stored
    (``resumed_from``), wall time of this call, the output paths and the candidate labels in
    port order."""

    config: HnsConfig
    choice: dict[str, str]
    probabilities: dict[str, list[float]]
    genome: str
    val_acc_mixed: float
    val_acc_decoded: float
    energy_mixed: float
    energy_decoded: float
    history: list[dict[str, Any]]
    resumed_from: int
    attempt: int
    seconds: float
    paths: dict[str, Path] = field(default_factory=dict)
    labels: tuple[str, ...] = ()


# ----------------------------------------------------------------------------- torch pieces
def tie_layer_alphas(module, space: HybridSpace) -> dict[str, torch.nn.Parameter]:
    """Make all mixes of each searched layer share one ``alpha`` parameter (the first mix's);
    returns layer -> that parameter. ``to_ir`` then writes the same values into every mix."""
    shared = {}
    for layer in space.layers:
        keys = [module.module_names[m] for m in layer.mixes]
        param = module.layers[keys[0]].alpha
        for k in keys[1:]:
            module.layers[k].alpha = param  # registers the same Parameter under this module
        shared[layer.name] = param
    return shared


def energy_term(alphas: dict[str, torch.Tensor], rho: torch.Tensor,
                weights: dict[str, float]) -> torch.Tensor:
    """Eq. 28's ``sum_l w_l sum_k softmax(a^l)_k rho_k`` as a differentiable scalar."""
    total = rho.new_zeros(())
    for name, a in alphas.items():
        total = total + float(weights[name]) * (torch.softmax(a, dim=0) * rho).sum()
    return total


def _probabilities(alphas: dict[str, torch.Tensor]) -> dict[str, list[float]]:
    return {k: [float(v) for v in torch.softmax(a.detach().double(), 0)] for k, a in alphas.items()}


# ----------------------------------------------------------------------------- driver
def stored_hns_config(out_dir: str | Path) -> HnsConfig:
    """The configuration of the HNS search stored in ``out_dir``.

    Raises:
        SearchError: no store or no HNS search there.
    """
    return _stored_config(out_dir, STORE_FILE, SEARCH_ID, HnsConfig, "HNS")


def run_hns(config: HnsConfig, out_dir: str | Path, *, resume: bool = False,
            progress: Progress | None = None, bars: bool = False,
            on_epoch: Callable[[dict[str, Any]], None] | None = None) -> HnsResult:
    """Run (or, with ``resume``, continue) an HNS search; see the module docstring.

    Args:
        config: the search; with ``resume`` it must equal the stored one
            (:func:`stored_hns_config`).
        out_dir: folder of ``store.sqlite``, ``supernet.pt`` and the outputs (created).
        resume: continue the stored search from its last checkpoint.
        progress: called as ``progress(epochs_done, epochs)`` at the start and after every
            stored epoch.
        bars: a rich progress bar per epoch on stderr (terminals only).
        on_epoch: called with each epoch's history row once its checkpoint is written.
    Returns:
        An :class:`HnsResult`.
    Raises:
        SearchError: a search exists without ``resume`` or is missing or differs with it; a bad
            genome, layer or candidate; RunError: a damaged or foreign checkpoint, a non-finite
            loss; DatasetError, GenomeSyntaxError, LoweringError from the parts.
    """
    from ..runtime.data import load_dataset, split
    from ..runtime.evaluate import check_fits, default_preprocess, limit_dataset, torch_dtype
    from ..runtime.train import graph_sha256
    from .oneshot import _data_sha256

    t_start = time.perf_counter()
    out = Path(out_dir)
    paths = {"store": out / STORE_FILE, "checkpoint": out / CHECKPOINT,
             "genome": out / GENOME_FILE, "report": out / REPORT_FILE, "plot": out / PLOT_FILE}
    if resume and not paths["store"].exists():
        raise SearchError(f"{out}: no search to resume (no {STORE_FILE})")
    report = progress or (lambda done, total: None)
    genome = parse(config.genome, filename="<hns genome>")
    space = hybrid_supernet(genome, config.candidates, config.layers, seed=config.seed,
                            rho=config.rho, adapt=config.adapt)
    rho_np = factors_for(space, dict(config.energy_factors))
    weights = energy_weights(space, config.energy_weight)
    full = limit_dataset(load_dataset(config.dataset, config.data_root), config.limit_train, None)
    ds = split(full, 0.5, config.seed)
    check_fits(space.graph, ds, genome.name)
    pre = default_preprocess(space.graph, ds, T=config.T)
    fingerprint = {"config": config.to_dict(), "graph": graph_sha256(space.graph),
                   "data": _data_sha256(full)}
    if paths["checkpoint"].exists() and not paths["store"].exists():
        raise SearchError(f"{paths['checkpoint']}: a checkpoint is there without a stored "
                          f"search; use another folder")
    out.mkdir(parents=True, exist_ok=True)
    with ExperimentStore(paths["store"]) as store:
        attempt = open_search(store, SEARCH_ID, config, resume=resume, path=paths["store"],
                                  what="HNS", article="an")
        with torch_threads(config.threads):
            from ..backends.torch import compile as compile_torch

            torch.manual_seed(config.seed)
            dtype = torch_dtype(config.dtype)
            module = compile_torch(space.graph, dtype=dtype)
            alphas = tie_layer_alphas(module, space)
            arch_ids = {id(p) for p in alphas.values()}
            w_params = [p for p in module.parameters() if id(p) not in arch_ids]
            opt_w = torch.optim.SGD(w_params, lr=config.lr, momentum=config.momentum,
                                    weight_decay=config.weight_decay)
            opt_a = torch.optim.Adam(list(alphas.values()), lr=config.arch_lr,
                                     weight_decay=config.arch_weight_decay)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt_w, T_max=config.epochs,
                                                               eta_min=config.eta_min)
            rho = torch.as_tensor(rho_np, dtype=dtype)
            start, history = 0, []
            if resume and paths["checkpoint"].exists():
                start, history = restore(paths["checkpoint"], fingerprint, what="HNS", fmt=_FORMAT,
                                         parts={"model": module, "opt_w": opt_w, "opt_a": opt_a,
                                                "scheduler": sched})
            report(start, config.epochs)
            steps = num_batches(len(ds.train_y), config.batch_size)
            for epoch in range(start, config.epochs):
                t0 = time.perf_counter()
                lr = opt_w.param_groups[0]["lr"]
                row = _epoch(module, w_params, opt_w, opt_a, alphas, rho, weights, ds, pre,
                             config, epoch, steps, bars)
                sched.step()
                row.update(epoch=epoch + 1, lr=lr, probabilities=_probabilities(alphas),
                           seconds=round(time.perf_counter() - t0, 3))
                history.append(row)
                state = {"format": _FORMAT, "epoch": epoch + 1, "model": module.state_dict(),
                         "opt_w": opt_w.state_dict(), "opt_a": opt_a.state_dict(),
                         "scheduler": sched.state_dict(), "history": history,
                         "fingerprint": fingerprint}
                atomic_write(paths["checkpoint"], lambda fh, s=state: torch.save(s, fh))
                report(epoch + 1, config.epochs)
                if on_epoch is not None:
                    on_epoch(row)
            module.eval()
            trained = module.to_ir()
            final = {layer.name: layer_alpha(trained, layer) for layer in space.layers}
            choice = decode(final, space)
            assignment = {m: layer.labels.index(choice[layer.name])
                          for layer in space.layers for m in layer.mixes}
            acc_mixed = _accuracy(module, ds, pre, config, None)
            acc_decoded = _accuracy(module, ds, pre, config, assignment)
        decoded_energy = sum(weights[layer.name] * float(rho_np[layer.labels.index(
            choice[layer.name])]) for layer in space.layers)
        result = HnsResult(
            config, choice, _probabilities({k: torch.as_tensor(v) for k, v in final.items()}),
            to_text(hybrid_genome(space, choice, provenance=_provenance(config, choice))),
            acc_mixed, acc_decoded, expected_energy(final, rho_np, weights),
            decoded_energy, history, start, attempt, 0.0, paths, space.labels)
        _write_outputs(result, space, rho_np, weights)
        gid = genome_id(parse(result.genome))
        if gid not in store.genome_ids(SEARCH_ID):
            store.add_candidate(SEARCH_ID, CandidateRecord(
                gid, 0, ", ".join(f"{k}={v}" for k, v in choice.items()), result.genome,
                acc_decoded, {"val_acc_decoded": acc_decoded, "val_acc_mixed": acc_mixed,
                              "energy_decoded": result.energy_decoded,
                              "energy_mixed": result.energy_mixed},
                sum(r["seconds"] for r in history), attempt))
        store.set_status(SEARCH_ID, "done")
    result.seconds = time.perf_counter() - t_start
    return result


def _epoch(module, w_params, opt_w, opt_a, alphas, rho, weights, ds, pre, config: HnsConfig,
           epoch: int, steps: int, bars: bool) -> dict[str, Any]:
    """One pass over the weights' half; returns the epoch's mean losses and accuracy."""
    from ..runtime.evaluate import model_input
    from ..runtime.train import _Progress, ce_loss

    torch.manual_seed(derive_seed(_TORCH_RNG, config.seed, epoch))
    module.train()
    searching = epoch >= config.warmup
    bilevel = config.optimisation == "bilevel" and searching
    val_iter = _cycle(ds.val_x, ds.val_y, config, pre, epoch) if bilevel else None
    sums = {"loss": 0.0, "task_loss": 0.0}
    correct = seen = 0
    t0 = time.perf_counter()
    with _Progress(bars, epoch + 1, config.epochs, steps) as bar:
        for k, (xb, yb) in enumerate(batches(ds.train_x, ds.train_y, config.batch_size,
                                             shuffle=True, seed=config.seed, epoch=epoch,
                                             mean=pre.mean, std=pre.std)):
            x = model_input(xb, pre, derive_seed(_RATE, config.seed, epoch, k))
            if bilevel:  # Algorithm 1 (first order): a on the other half, then w
                xv, yv, kv = next(val_iter)
                xv = model_input(xv, pre, derive_seed(_RATE, config.seed, epoch, 10**6 + kv))
                loss_a = ce_loss(module(xv, T=pre.T), yv) + \
                    config.lam * energy_term(alphas, rho, weights)
                _check(loss_a, epoch, k)
                opt_a.zero_grad(set_to_none=True)
                loss_a.backward()
                opt_a.step()
            out = module(x, T=pre.T)
            task = ce_loss(out, yb)
            energy = energy_term(alphas, rho, weights)
            loss = task + config.lam * energy if searching and not bilevel else task
            _check(loss, epoch, k)
            opt_w.zero_grad(set_to_none=True)
            opt_a.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(w_params, config.grad_clip)
            opt_w.step()
            if searching and not bilevel:  # Algorithm 3: w and a from the same batch
                opt_a.step()
            n = len(yb)
            sums["task_loss"] += float(task.detach()) * n
            sums["loss"] += float(task.detach() + config.lam * energy.detach()) * n
            correct += int((out.detach().mean(0).argmax(-1) == yb).sum())
            seen += n
            bar.update(sums["loss"] / seen, correct / seen, seen / (time.perf_counter() - t0))
    with torch.no_grad():
        e = float(energy_term(alphas, rho, weights))
    return {"train_loss": sums["loss"] / max(seen, 1),
            "task_loss": sums["task_loss"] / max(seen, 1), "energy": e,
            "train_acc": correct / max(seen, 1), "searching": searching}


def _cycle(x, y, config: HnsConfig, pre, epoch: int):
    """Batches of the control parameters' half, reshuffled each pass, as long as asked."""
    rounds = 0
    while True:
        for k, (xb, yb) in enumerate(batches(x, y, config.batch_size, shuffle=True,
                                             seed=derive_seed(_VAL_ORDER, config.seed, epoch),
                                             epoch=rounds, mean=pre.mean, std=pre.std)):
            yield xb, yb, rounds * 10**4 + k
        rounds += 1


def _check(loss: torch.Tensor, epoch: int, k: int) -> None:
    value = float(loss.detach())
    if not math.isfinite(value):  # before the step, which would spread it to the weights
        raise RunError(f"the HNS loss is {value} at epoch {epoch + 1}, batch {k + 1}; lower the "
                       f"learning rate (--lr, --arch-lr)")


def _accuracy(module, ds, pre, config: HnsConfig, assignment) -> float:
    """Accuracy on the validation half, mixed (``assignment`` None) or of one decoded path."""
    from ..runtime.evaluate import predict

    module.assign(assignment)
    try:
        with torch.inference_mode():
            pred = predict(module, ds.val_x, pre, batch_size=max(config.batch_size, 256),
                           seed=derive_seed(_RATE_EVAL, config.seed))
    finally:
        module.assign(None)
    return float((pred == ds.val_y).mean()) if len(ds.val_y) else 0.0


# ----------------------------------------------------------------------------- outputs
def _provenance(config: HnsConfig, choice: dict[str, str]) -> str:
    return (f"HNS (SpikeDHS section 4.4) lambda={config.lam:g} candidates="
            f"{','.join(config.candidates)} weighting={config.energy_weight} "
            f"{config.optimisation} epochs={config.epochs} seed={config.seed} on "
            f"{config.dataset}: " + " ".join(f"{k}={v}" for k, v in choice.items()))


def _write_outputs(result: HnsResult, space: HybridSpace, rho: np.ndarray,
                   weights: dict[str, float]) -> None:
    """``hybrid.genome``, ``search.json`` and (with matplotlib) ``weights.png``, atomically."""
    paths = result.paths
    atomic_write_text(paths["genome"], result.genome)
    doc = {"config": {k: v for k, v in result.config.to_dict().items() if k != "genome"},
           "base_genome": space.genome.name, "labels": list(space.labels),
           "energy_factors": [float(v) for v in rho], "layer_weights": weights,
           "layer_operations": layer_operations(space), "choice": result.choice,
           "probabilities": result.probabilities, "val_acc_mixed": result.val_acc_mixed,
           "val_acc_decoded": result.val_acc_decoded, "energy_mixed": result.energy_mixed,
           "energy_decoded": result.energy_decoded, "history": result.history}
    atomic_write_text(paths["report"], json.dumps(doc, indent=2) + "\n")
    try:
        import matplotlib
    except ImportError:
        paths.pop("plot", None)
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    epochs = [r["epoch"] for r in result.history]
    for layer in space.layers:
        for k, label in enumerate(layer.labels):
            if label == "lif" and len(layer.labels) == 2:
                continue  # with two candidates one curve says it all
            ax.plot(epochs, [r["probabilities"][layer.name][k] for r in result.history],
                    label=f"{layer.name} {label}")
    if result.config.warmup:
        ax.axvline(result.config.warmup, color="grey", lw=0.8, ls="--")
    ax.set_xlabel("epoch")
    ax.set_ylabel("softmax weight")
    ax.set_ylim(0, 1)
    ax.set_title(f"HNS, lambda = {result.config.lam:g}")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    atomic_write(paths["plot"], lambda fh: fig.savefig(fh, format="png", dpi=120))
    plt.close(fig)
