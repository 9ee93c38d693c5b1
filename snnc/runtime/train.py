"""The training loop: a genome or graph -> torch backend -> surrogate-gradient BPTT -> trained
``model.snnir`` in a run folder (layout and checkpoint format: :mod:`snnc.runtime.runs`).

Example::

    >>> from snnc.runtime.train import TrainConfig, train
    >>> cfg = TrainConfig(dataset="digits", epochs=3, batch_size=32, lr=0.1, seed=0)
    >>> result = train("tiny.genome", cfg, "runs/tiny")
    >>> result.test_acc, result.model_path          # (0.9..., PosixPath('runs/tiny/model.snnir'))

Determinism: everything random is a pure function of ``config.seed`` and the epoch: the weight
initialisation (the genome is compiled with ``seed``), the batch order and augmentations
(:func:`snnc.runtime.loader.batches` with ``(seed, epoch)``), rate-encoded inputs (a generator per
batch seeded with ``derive_seed(3, seed, epoch, batch)``) and the global torch RNG (dropout masks),
re-seeded with ``derive_seed(5, seed, epoch)`` at the start of every epoch. With the same config
(thread count included) two runs give bit-identical weights, and a run killed at any moment and
resumed (``resume=True``) from its last checkpoint (written after every epoch) ends with the same
weights as one that was never interrupted. A data-parallel run (``group``, ``config.nproc``
processes, :mod:`snnc.runtime.distributed`) keeps these guarantees for a fixed process count and
trains what one process trains with the same global batch, up to float rounding.

Searches during training: ``config.dgs`` / ``config.tps`` run SpikeDHS's surrogate-gradient and
temporal-parameter searches on a SpikeDHS genome (:mod:`snnc.runtime.dgs`, :mod:`snnc.runtime.tps`,
hooks in :mod:`snnc.runtime.layer_search`); their state is part of the checkpoint, and the run
folder gets ``searched.genome``, ``search.json`` and ``search.png``. They run in one process only
(``nproc == 1``).

Timing: with ``config.timing == "hardware"`` the model goes through the ``hop-timing`` pass
(:mod:`snnc.passes.hop_timing`: every synaptic hop one step, as Loihi 2 and Lava run it) before
it is compiled, and ``model.snnir`` is that graph, so ``snnc lava`` deploys it exactly; the run
folder keeps the model as given (``genome.txt`` / ``source.snnir``).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import RunError
from ..ir.graph import Graph
from ..passes.hop_timing import apply_timing
from .config import LOSSES, OPTIMIZERS, RESUME_FREE, TrainConfig
from .data import Dataset, load_dataset, split
from .distributed import (Group, check_shards, decode_setup, decode_state, encode_setup,
                          encode_state, share)
from .evaluate import (Preprocess, check_fits, default_preprocess, limit_dataset, model_input,
                       predict, torch_dtype)
from .loader import batches, derive_seed, num_batches, torch_threads
from .runs import LOCK_FILE, RunDir, check_weights, set_rng_state

__all__ = ["LOSSES", "OPTIMIZERS", "TrainConfig", "TrainResult", "ce_loss", "load_run_config",
           "tet_loss", "train"]

# derive_seed stream tags (4 is evaluation's rate encoder; 6 and 7 the DGS batches and their
# rate encoder)
_RATE_TRAIN, _TORCH_RNG, _DGS_ORDER, _DGS_RATE = 3, 5, 6, 7


@dataclass
class TrainResult:
    """What :func:`train` produced.

    Attributes:
        run_dir, model_path: the run folder and its trained ``model.snnir``.
        history: one metrics row per epoch (:data:`snnc.runtime.runs.METRIC_FIELDS`).
        test_acc, val_acc: after the last epoch (``val_acc`` None without a validation set).
        graph: the trained graph (as saved); ``module``: the trained torch module, in eval mode.
        resumed_from: completed epochs found in the checkpoint (0 for a fresh run).
        seconds: wall time of this call.
    """

    run_dir: Path
    model_path: Path
    history: list[dict[str, Any]]
    test_acc: float
    val_acc: float | None
    graph: Graph
    module: torch.nn.Module = field(repr=False)
    resumed_from: int = 0
    seconds: float = 0.0


# ---------------------------------------------------------------------- losses
def ce_loss(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the time-averaged output (STTS, SNASNet): ``CE(1/T sum_t out[t], y)``.

    Args: out ``[T, B, classes]`` scores; y ``[B]`` labels.
    """
    return F.cross_entropy(out.mean(0), y)


def tet_loss(out: torch.Tensor, y: torch.Tensor, lam: float = 0.0,
             phi: float = 1.0) -> torch.Tensor:
    """Temporal efficient training loss (Deng et al., ICLR 2022, eq. 8-10; used by BCNAS-SNN).

    ``L = (1 - lam) * 1/T sum_t CE(out[t], y) + lam * 1/T sum_t MSE(out[t], phi)``: every time
    step's output must classify on its own; the optional MSE term pulls the outputs towards the
    constant ``phi`` (the paper's regulariser, lam = 0.05 or so; 0 switches it off).

    Args: out ``[T, B, classes]`` scores; y ``[B]`` labels.
    """
    T = out.shape[0]
    loss = F.cross_entropy(out.flatten(0, 1), y.repeat(T))  # = mean over t of CE(out[t], y)
    if lam:
        loss = (1 - lam) * loss + lam * F.mse_loss(out, torch.full_like(out, phi))
    return loss


# ---------------------------------------------------------------------- train
def train(model_source: str | Path | Graph | None, config: TrainConfig | None,
          run_dir: str | Path, *, resume: bool = False, progress: bool = True,
          on_epoch: Callable[[dict[str, Any]], None] | None = None,
          group: Group | None = None) -> TrainResult:
    """Train a model and write a run folder (see :mod:`snnc.runtime.runs`).

    Args:
        model_source: a genome file (compiled with ``passes="none"`` and weight seed
            ``config.seed``), a ``.snnir`` file, or a :class:`~snnc.ir.Graph`. With ``resume`` it
            may be None (the run folder keeps its model); if given it must be the same model.
        config: the training settings; None = defaults, or with ``resume`` the run's own.
        run_dir: the run folder; must be empty or absent unless ``resume``.
        resume: continue the run in ``run_dir`` from its last checkpoint (a finished run is only
            finalised again). Ends with weights bit-identical to an uninterrupted run.
        progress: show a rich progress bar on stderr (only on a terminal).
        on_epoch: called with each epoch's metrics row after its checkpoint is written.
        group: this process's place in a data-parallel group (:mod:`snnc.runtime.distributed`;
            :func:`snnc.runtime.launch.launch` starts one); None = train alone. Only rank 0
            reads and writes ``run_dir`` and shows progress; every rank returns the same history.
            ``config.nproc`` must equal the group's size (a resume may change it).
    Returns:
        A :class:`TrainResult`.
    Raises:
        RunError: a non-empty run folder without ``resume``; ``resume`` with nothing to resume, a
            different config (other than ``threads`` and ``nproc``) or model, a damaged
            checkpoint; a model that does not fit the dataset; ``config.nproc`` other than the
            group's size.
        DatasetError, ArtifactError, GenomeSyntaxError, ...: from loading the data or the model.
    """
    t_start = time.perf_counter()
    run = RunDir(Path(run_dir))
    if group is not None and not group.is_writer:  # only rank 0 touches the run folder
        return _train_locked(run, None, model_source, config, resume, False, None, t_start,
                             group)
    lock = run.lock()
    try:
        # A second writer is refused before it reads anything (the lock file exists in every
        # folder a run has started in; a folder of other files gets no lock file from us).
        if run.path.is_dir() and (resume or (run.path / LOCK_FILE).exists()):
            lock.acquire()
        return _train_locked(run, lock, model_source, config, resume, progress, on_epoch,
                             t_start, group)
    finally:
        lock.release()


def _setup(run: RunDir, model_source, config: TrainConfig | None, resume: bool, world: int):
    """(config, graph, genome text, fingerprint) of the run to train (the writer's reads)."""
    if resume:
        config, graph, genome_text, fingerprint = _resume_setup(run, model_source, config)
        if config.nproc != world:  # allowed, at the price of bit-identity (RESUME_FREE)
            config = dataclasses.replace(config, nproc=world)
    else:
        _check_fresh(run)
        if model_source is None:
            raise RunError("train: no model given (a genome file, a .snnir file or a Graph)")
        config = config or TrainConfig()
        if config.nproc != world:
            raise RunError(f"the config asks for {config.nproc} processes but this run has "
                           f"{world}; start it with `snnc train --nproc {config.nproc}` or "
                           f"snnc.runtime.launch.launch")
        graph, genome_text, fingerprint = _load_source(model_source, config.seed)
    return config, graph, genome_text, fingerprint


def _train_locked(run: RunDir, lock, model_source, config: TrainConfig | None, resume: bool,
                  progress: bool, on_epoch, t_start: float, group: Group | None = None
                  ) -> TrainResult:
    writer = group is None or group.is_writer
    if group is None:
        config, graph, genome_text, fingerprint = _setup(run, model_source, config, resume, 1)
    else:  # rank 0 reads; the others receive its config and graph
        config, graph, genome_text, fingerprint = share(
            group, lambda: _setup(run, model_source, config, resume, group.world),
            encode_setup, decode_setup)
    ds = _prepare_data(config)
    source = graph  # what the run folder keeps; the module trains it under config.timing
    graph = apply_timing(source, config.timing)
    check_fits(graph, ds, _label(model_source, run))
    check_shards(len(ds.train_y), config.batch_size, config.nproc)
    pre = default_preprocess(graph, ds, T=config.T, encoding=config.encoding,
                             normalize=config.normalize)

    genome = _search_genome(config, genome_text)
    with torch_threads(config.threads):
        from ..backends.torch import compile as compile_torch
        from ..backends.torch import resolve_device

        device = group.device if group is not None else resolve_device(config.device)
        if genome is not None and device.type != "cpu":
            raise RunError(f"dgs and tps run on the CPU; this run asks for {device} (pass "
                           f"--device cpu)")
        torch.manual_seed(config.seed)
        module = compile_torch(graph, dtype=torch_dtype(config.dtype), device=device)
        steps = num_batches(len(ds.train_y), config.batch_size)
        optimizer = _optimizer(module, config)
        scheduler = _scheduler(optimizer, config, steps)
        searches = _searches(config, module, genome)

        def start_or_load():
            if not resume:  # (a resumed run's folder already holds its model and config)
                _start_run(run, lock, source, genome_text, config, fingerprint)
                return None
            run.remove_stale_temporaries()
            return run.load_checkpoint(config.epochs)

        start, history = 0, []
        state = start_or_load() if group is None else \
            share(group, start_or_load, encode_state, decode_state)
        if state is not None:
            try:
                module.load_state_dict(state["model"])
                optimizer.load_state_dict(state["optimizer"])
                if scheduler is not None:
                    scheduler.load_state_dict(state["scheduler"])
                for search in searches:
                    search.load_state_dict(state["search"][search.name])
                set_rng_state(state["rng"])
            except (RuntimeError, KeyError, ValueError, TypeError, AttributeError,
                    IndexError) as exc:
                raise RunError(f"{run.checkpoint}: does not match the model or optimizer "
                               f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
                               ) from None
            start, history = int(state["epoch"]), list(state["history"])
            if writer:
                run.write_metrics(history)  # drop rows of an epoch that died before its checkpoint
        net = module if group is None else group.wrap(module)
        for epoch in range(start, config.epochs):
            t0 = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            loss, acc = _train_epoch(net, optimizer, scheduler, ds, pre, config, epoch, steps,
                                     progress, run, group, searches, device)
            if searches:
                ctx = _search_context(ds, pre, config, epoch, optimizer, progress)
                for search in searches:
                    search.end_epoch(ctx)
            if scheduler is not None and config.schedule_step == "epoch":
                scheduler.step()
            last = epoch + 1 == config.epochs
            val_acc = _accuracy(module, ds.val_x, ds.val_y, pre, config) \
                if ds.val_y is not None else None
            test_acc = _accuracy(module, ds.test_x, ds.test_y, pre, config) \
                if last or (epoch + 1) % config.test_every == 0 else None
            row = {"epoch": epoch + 1, "train_loss": loss, "train_acc": acc, "val_acc": val_acc,
                   "test_acc": test_acc, "lr": lr, "seconds": round(time.perf_counter() - t0, 3)}
            if searches:
                row["search"] = {search.name: search.values() for search in searches}
            history.append(row)
            problem = check_weights(module.state_dict())
            if problem:  # e.g. a NaN that a finite loss did not show; keep the last checkpoint
                raise RunError(f"training diverged in epoch {epoch + 1}: {problem}; "
                               f"{_kept(run, epoch)}")
            if writer:
                run.save_checkpoint(epoch=epoch + 1, model=module.state_dict(),
                                    optimizer=optimizer.state_dict(),
                                    scheduler=scheduler.state_dict() if scheduler else {},
                                    history=history,
                                    search={s.name: s.state_dict() for s in searches} or None)
            if on_epoch is not None:
                on_epoch(row)
        module.eval()
        if not history or history[-1]["test_acc"] is None:  # cannot happen unless epochs changed
            raise RunError(f"{run.checkpoint}: the checkpoint holds no final test accuracy")
        for search in searches:
            search.finish()
        if group is None:
            trained = _finalise(run, module, pre, config, history, ds)
        else:  # every rank ends when rank 0's model.snnir is written (or its write failed)
            trained = share(group, lambda: _finalise(run, module, pre, config, history, ds),
                            lambda g: b"", lambda b: module.to_ir())
        if searches:
            from .layer_search import write_search_files

            write_search_files(run, genome, searches)
    last = history[-1]
    return TrainResult(run.path, run.model, history, last["test_acc"], last["val_acc"], trained,
                       module, start, time.perf_counter() - t_start)


def _check_fresh(run: RunDir) -> None:
    """A new run needs an empty folder, or one whose start was interrupted (restarted there)."""
    if not run.is_empty() and not run.interrupted_start():
        raise RunError(f"{run.path}: the run folder is not empty; pass --resume to continue "
                       f"the run in it, or choose another folder")


def _start_run(run: RunDir, lock, graph: Graph, genome_text: str | None, config: TrainConfig,
               fingerprint: dict) -> None:
    """First writes of a new run: lock, mark the start, then the model and config.json in one
    commit (see "Interrupted start" in :mod:`snnc.runtime.runs`)."""
    run.create()
    lock.acquire()
    if run.interrupted_start():
        run.clear_interrupted_start()
    _check_fresh(run)  # another process may have started a run here since the first check
    run.begin()
    files: dict[str, bytes | Path] = {"config.json": run.config_bytes(config.to_dict(),
                                                                      fingerprint)}
    if genome_text is not None:
        files["genome.txt"] = genome_text.encode("utf-8")
    else:
        from ..ir.artifact import save

        files["source.snnir"] = save(graph, run.staging_path("source.snnir"))
    run.commit(files, complete=True)


def _kept(run: RunDir, epoch: int) -> str:
    """What survives a stop in (0-based) ``epoch``: the checkpoint of the epoch before."""
    if epoch == 0:
        return f"no checkpoint was written; {run.path} holds the untrained run"
    return f"{run.checkpoint} keeps epoch {epoch}"


def load_run_config(run_dir: str | Path) -> TrainConfig:
    """The :class:`TrainConfig` a run folder was started with (its ``config.json``).

    Raises:
        RunError: no such folder, no or an unreadable ``config.json``.
    """
    run = RunDir(Path(run_dir))
    if not run.path.is_dir():
        raise RunError(f"{run.path}: nothing to resume (no such folder); start the run without "
                       f"--resume")
    return TrainConfig.from_dict(run.read_config()["config"])


# ---------------------------------------------------------------------- pieces
def _train_epoch(module, optimizer, scheduler, ds: Dataset, pre: Preprocess, config: TrainConfig,
                 epoch: int, steps: int, progress: bool, run: RunDir,
                 group: Group | None = None, searches: tuple = (),
                 device: torch.device | None = None) -> tuple[float, float]:
    """One pass over the training set; returns (mean loss, accuracy) over its samples (of the
    global batches, with a ``group``: each rank trains on its shard of every batch). Each
    search's ``after_step`` runs after every optimizer step."""
    words = group.seed_words() if group is not None else ()
    torch.manual_seed(derive_seed(_TORCH_RNG, config.seed, epoch, *words))  # dropout masks
    module.train()
    total_loss, correct, seen = 0.0, 0, 0
    t0 = time.perf_counter()
    with _Progress(progress, epoch + 1, config.epochs, steps) as bar:
        for b, (xb, yb) in enumerate(batches(ds.train_x, ds.train_y, config.batch_size,
                                             shuffle=True, seed=config.seed, epoch=epoch,
                                             augment=config.augment(), mean=pre.mean,
                                             std=pre.std)):
            x = model_input(xb, pre, derive_seed(_RATE_TRAIN, config.seed, epoch, b))
            if group is not None:  # the whole batch drawn as one process draws it, then a shard
                x, yb, weight = group.shard(x, yb, 0 if pre.encoding == "direct" else 1)
            yb = yb.to(device)  # (the module moves x itself; batches are drawn on the CPU)
            out = module(x, T=pre.T)  # [T, B, classes]
            if config.loss == "ce":
                loss = ce_loss(out, yb)
            else:
                loss = tet_loss(out, yb, config.tet_lambda, config.tet_phi)
            n, value = len(yb), float(loss.detach())
            hits = int((out.detach().mean(0).argmax(-1) == yb).sum())
            if group is not None:
                value, hits, n = group.batch_totals(value, hits, n)
                loss = loss * weight
            if not math.isfinite(value):  # before the step, which would spread it to the weights
                raise RunError(f"the loss is {value} at epoch {epoch + 1}, batch {b + 1}; "
                               f"training stopped ({_kept(run, epoch)}); lower the learning "
                               f"rate (--lr)")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            for search in searches:
                search.after_step(epoch, epoch * steps + b)
            if scheduler is not None and config.schedule_step == "step":
                scheduler.step()
            total_loss += value * n
            correct += hits
            seen += n
            bar.update(total_loss / seen, correct / seen, seen / (time.perf_counter() - t0))
    return total_loss / max(seen, 1), correct / max(seen, 1)


def _loss_fn(config: TrainConfig):
    if config.loss == "ce":
        return ce_loss
    return lambda out, y: tet_loss(out, y, config.tet_lambda, config.tet_phi)


def _search_genome(config: TrainConfig, genome_text: str | None):
    """The parsed genome a DGS / TPS run searches (None without either).

    Raises:
        RunError: a search on a model that is not a genome file.
    """
    if config.dgs is None and config.tps is None:
        return None
    what = " and ".join(f"--{n}" for n in ("dgs", "tps") if getattr(config, n) is not None)
    if genome_text is None:
        raise RunError(f"{what} searches the layers of a SpikeDHS genome and writes the values "
                       f"into it; train a genome file, not a .snnir model")
    from ..genome import parse

    return parse(genome_text)


def _searches(config: TrainConfig, module, genome) -> tuple:
    """The searches the config asks for, attached to ``module`` (DGS before TPS)."""
    out = []
    if config.dgs is not None:
        from .dgs import DGS

        out.append(DGS(config.dgs, module, genome))
    if config.tps is not None:
        from .tps import TPS

        out.append(TPS(config.tps, module, genome))
    return tuple(out)


def _search_context(ds: Dataset, pre: Preprocess, config: TrainConfig, epoch: int, optimizer,
                    progress: bool):
    """What a search's ``end_epoch`` needs (:class:`snnc.runtime.layer_search.Context`): its own
    seeded batch order per epoch (so the training batches are untouched and a resume repeats it)."""
    from .layer_search import Context

    def endless(e: int):
        for rnd in range(1 << 30):
            order = derive_seed(_DGS_ORDER, config.seed, e, rnd)
            for b, (xb, yb) in enumerate(batches(ds.train_x, ds.train_y, config.batch_size,
                                                 shuffle=True, seed=order, epoch=e,
                                                 augment=config.augment(), mean=pre.mean,
                                                 std=pre.std)):
                yield model_input(xb, pre, derive_seed(_DGS_RATE, config.seed, e, rnd, b)), yb

    return Context(epoch=epoch, lr=float(optimizer.param_groups[0]["lr"]), batches=endless,
                   loss=_loss_fn(config), T=pre.T, progress=progress)


def _accuracy(module, x: np.ndarray, y: np.ndarray, pre: Preprocess, config: TrainConfig) -> float:
    pred = predict(module, x, pre, batch_size=max(config.batch_size, 256), seed=config.seed)
    return float((pred == y).mean()) if len(y) else 0.0


def _finalise(run: RunDir, module, pre: Preprocess, config: TrainConfig,
              history: list[dict[str, Any]], ds: Dataset) -> Graph:
    """Write ``model.snnir``: the trained graph (``T`` and ``encoding`` as trained) with the
    metrics, config and preprocessing in ``extra``."""
    from ..ir.artifact import save

    graph = module.to_ir()
    graph.meta["T"], graph.meta["encoding"] = pre.T, pre.encoding
    last = history[-1]
    extra = {"train": {"history": history, "test_acc": last["test_acc"],
                       "val_acc": last["val_acc"], "epochs": len(history),
                       "train_samples": int(len(ds.train_y))},
             "config": config.to_dict(), "preprocess": pre.to_dict()}
    run.commit({"model.snnir": save(graph, run.staging_path("model.snnir"), extra=extra)})
    return graph


def _optimizer(module: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in module.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay)
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


def _scheduler(optimizer, config: TrainConfig, steps: int):
    if config.schedule == "constant":
        return None
    total = config.epochs * (steps if config.schedule_step == "step" else 1)
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total,
                                                      eta_min=config.eta_min)


def _prepare_data(config: TrainConfig) -> Dataset:
    ds = load_dataset(config.dataset, config.data_root)
    ds = limit_dataset(ds, config.limit_train, config.limit_test)
    if config.val_fraction:
        ds = split(ds, config.val_fraction, config.seed)
    return ds


def _load_source(source: str | Path | Graph, seed: int) -> tuple[Graph, str | None, dict]:
    """(graph, genome text or None, fingerprint ``{"kind", "sha256"}``) of a model source."""
    from ..compiler import compile_genome, is_artifact, read_text
    from ..ir.artifact import load

    if isinstance(source, Graph):
        graph = source.copy()
        return graph, None, {"kind": "graph", "sha256": graph_sha256(graph)}
    path = Path(source)
    if not path.exists():
        raise RunError(f"{path}: no such file")
    if is_artifact(path):
        graph = load(path)
        return graph, None, {"kind": "graph", "sha256": graph_sha256(graph)}
    text = read_text(path)
    result = compile_genome(text, target="train", seed=seed, filename=str(path))
    return result.graph, text, {"kind": "genome", "sha256": result.graph.meta["genome_id"]}


def _resume_setup(run: RunDir, source, config: TrainConfig | None):
    """Config, graph, genome text and fingerprint of the run in ``run``, checked against what the
    caller passed."""
    if run.path.is_dir() and run.interrupted_start():
        raise RunError(f"{run.path}: the run's start was interrupted before anything was "
                       f"trained; start it again without --resume (the folder is reused)")
    saved = load_run_config(run.path)
    run.verify()
    stored = run.read_config()
    if config is not None:
        diff = saved.differences(config, ignore=RESUME_FREE)
        if diff:
            raise RunError(f"{run.path}: cannot resume with a different config ("
                           f"{'; '.join(diff)}); resume with the run's own settings, or start a "
                           f"new run in another folder")
    else:
        config = saved
    if run.genome.exists():
        graph, text, fingerprint = _load_source(run.genome, config.seed)
    elif run.source.exists():
        graph, text, fingerprint = _load_source(run.source, config.seed)
    else:
        raise RunError(f"{run.path}: the run's model (genome.txt or source.snnir) is missing")
    if fingerprint != stored["model"]:
        model_file = run.genome if text is not None else run.source
        raise RunError(f"{model_file}: is not the model config.json records (sha256 "
                       f"{fingerprint.get('sha256', '')[:12]}..., config.json has "
                       f"{str(stored['model'].get('sha256'))[:12]}...); it was changed after the "
                       f"run started")
    if source is not None:
        given = _load_source(source, config.seed)[2]
        if given != stored["model"]:
            raise RunError(f"{run.path}: cannot resume with another model: {source} is not the "
                           f"{stored['model'].get('kind')} this run trains")
    return config, graph, text, fingerprint


def graph_sha256(graph: Graph) -> str:
    """Fingerprint of a graph: its structure, attributes, meta and every param's bytes."""
    from ..ir.serialize import graph_arrays, graph_to_dict

    h = hashlib.sha256(json.dumps(graph_to_dict(graph), sort_keys=True).encode())
    for key, arr in sorted(graph_arrays(graph).items()):
        arr = np.ascontiguousarray(arr)
        h.update(f"{key}:{arr.dtype.str}:{arr.shape}".encode())
        h.update(arr.tobytes())
    return h.hexdigest()


def _label(source, run: RunDir) -> str:
    if source is None:
        return str(run.path)
    return str(source.meta.get("name") or "model") if isinstance(source, Graph) else str(source)


class _Progress:
    """A rich progress bar for one epoch on stderr (a no-op when off or not on a terminal)."""

    def __init__(self, enabled: bool, epoch: int, epochs: int, steps: int):
        self.bar = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, \
            TimeRemainingColumn

        console = Console(stderr=True)
        if not console.is_terminal:
            return
        self.bar = Progress(TextColumn(f"epoch {epoch}/{epochs}"), BarColumn(),
                            MofNCompleteColumn(), TextColumn("{task.fields[stats]}"),
                            TimeRemainingColumn(), console=console, transient=True)
        self.task = self.bar.add_task("train", total=steps, stats="")

    def __enter__(self) -> "_Progress":
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()

    def update(self, loss: float, acc: float, images_per_s: float) -> None:
        if self.bar is not None:
            self.bar.update(self.task, advance=1, stats=f"loss {loss:.4f}  acc {acc:6.2%}  "
                                                        f"{images_per_s:,.0f} img/s")
