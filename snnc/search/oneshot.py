"""BCNAS-SNN step 2: the one-shot weight-sharing supernet ("Proper backward connection placement
boosts spiking neural networks", anonymous authors; section 4.2.3).

One supernet holds **every** global backward connection of a ResNet backbone, each as an optional
``Choice`` (``back j -> i @1 choice``; :mod:`snnc.frontend.resnet`). Training samples one
architecture per batch and updates only its path (single path one-shot, Guo et al. 2020, whom
section 2 cites); a candidate is then scored by its validation accuracy with the weights it inherits
from the trained supernet. The evolutionary search (step 2's outer loop) builds on these pieces:

* :func:`supernet_genome` - the backbone with all ``n = m(m+1)/2`` connections ``j -> i``,
  ``j >= i``, over its ``m`` LIF ports (section 4.2.1; ``m = 17`` for ResNet-18 and -19, so
  ``n = 153``). Self connections (``j == i``, which section 4.1 includes) lower like any other: the
  chain ``S_i[t-1] -> conv1x1 -> BN -> choice -> LIF i``.
* :func:`sample_assignment` - an architecture drawn uniformly from the search space
  ``A = {subsets of at most b connections}``, ``|A| = sum_{k<=b} C(n, k)`` (section 4.2.1).
* :func:`train_supernet` - section 5.1's recipe: 80 % of the training set (a seeded split; the other
  20 % is the validation set), AdamW (lr 0.01, weight decay 0.02), cosine schedule, TET loss (eq. 3),
  checkpointed every epoch so that a killed run resumes bit-identically.
* :func:`evaluate_candidates` - validation accuracy of candidates with inherited weights.

The neuron and surrogate are the backbone genome's (:func:`paper_backbone` writes the paper's:
``lif leak=0.5 v_th=1`` with hard reset, eq. 1-2 with tau = 0.5; ``triangle gamma=1``, eq. 5 with
b = 1).

Choices where the paper is silent (each a parameter):

* *Sampling.* "architectures are randomly sampled in each training loop" (section 2): we draw
  uniformly over ``A`` (so the empty architecture has probability ``1/|A|`` and two-connection
  architectures dominate), not each connection independently. Pass ``sampler=`` to change it.
* *Weight decay* applies only to the parameters on the sampled path (AdamW skips parameters without
  a gradient), so an unsampled connection's weights do not shrink while it is not trained.
* *BatchNorm at evaluation* uses the running statistics the supernet accumulated ("inherited
  weights"); a BN layer inside the backbone has seen the mixture of all sampled architectures.
  ``evaluate_candidates(..., recalibrate=N)`` recomputes them per candidate from ``N`` training
  batches first (as SPOS does; off by default, since the paper does not say so).
* *Cosine schedule* steps once per epoch (``TrainConfig.schedule_step``), down to ``eta_min = 0``.
* *Epochs, batch size* are cut off in the paper's text: ``TrainConfig`` defaults.
"""
from __future__ import annotations

import dataclasses
import math
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from math import comb
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

import numpy as np
import torch

from ..atomic import atomic_write
from ..errors import RunError, SearchError
from ..genome.ast import Edge, Genome
from ..genome.resnet import port_names
from ..ir.graph import Graph
from ..runtime.config import TrainConfig
from ..runtime.data import Dataset, load_dataset, split
from ..runtime.evaluate import (Preprocess, check_fits, default_preprocess, limit_dataset,
                                model_input, torch_dtype)
from ..runtime.loader import batches, derive_seed, num_batches, torch_threads
from ..runtime.runs import check_weights
from ..runtime.train import _optimizer, _Progress, _scheduler, ce_loss, graph_sha256, tet_loss
from .checkpoint import data_sha256, restore

__all__ = ["CHECKPOINT", "SupernetResult", "all_connections", "assignment_of", "choice_name",
           "choice_nodes", "evaluate_candidates", "paper_backbone", "paper_config",
           "sample_assignment", "search_space_size", "supernet_genome", "train_supernet"]

#: The checkpoint file in a supernet's run folder (a ``torch.save`` dict, see :func:`train_supernet`).
CHECKPOINT = "supernet.pt"
_FORMAT = 1
# derive_seed stream tags: 3 and 5 are the training loop's (rate encoder, torch RNG), 4 evaluation's.
_RATE_TRAIN, _RATE_EVAL, _TORCH_RNG, _ARCH, _RECAL = 3, 4, 5, 11, 12

Assignment = dict[str, int]
Sampler = Callable[[np.random.Generator], Assignment]


# ---------------------------------------------------------------------- search space
def all_connections(depth: int) -> list[tuple[int, int]]:
    """Every backward connection ``(j, i)`` with ``j >= i`` over a depth-``depth`` ResNet's ports,
    ordered by ``i`` then ``j``: ``m(m+1)/2`` of them (section 4.2.1).

    Raises:
        SearchError: an unsupported depth.
    """
    try:
        m = len(port_names("r", depth))
    except KeyError:
        raise SearchError(f"no ResNet of depth {depth!r}; expected 18 or 19") from None
    return [(j, i) for i in range(m) for j in range(i, m)]


def search_space_size(n: int, b: int) -> int:
    """``|A| = sum_{k=0}^{b} C(n, k)``: architectures of at most ``b`` of ``n`` connections."""
    return sum(comb(n, k) for k in range(min(b, n) + 1))


def choice_name(block: str, j: int, i: int, delay: int = 1) -> str:
    """The Choice node of connection ``back j -> i @delay choice`` in resnet block ``block``."""
    return f"{block}.back{j}_{i}" + (f"_d{delay}" if delay != 1 else "") + ".choice"


def paper_backbone(*, depth: int = 18, channels: int = 64, input_shape: Sequence[int] = (3, 32, 32),
                   classes: int = 10, T: int = 2, name: str = "bcnas") -> Genome:
    """A ResNet backbone genome with section 3's neuron and surrogate: LIF ``v = 0.5 v + I``,
    threshold 1, hard reset to 0 (eq. 1-2, tau = 0.5, V_th = 1) and the triangle surrogate
    ``max(0, 1 - |v - V_th|)`` (eq. 5, b = 1). Block ``r``, then the ``classifier`` head (ResNet-19:
    ``hidden=256``). ``T = 2`` is the paper's CIFAR setting.

    Raises:
        GenomeSyntaxError: a value the genome refuses (e.g. channels < 1).
    """
    from ..genome import parse

    shape = "x".join(str(int(s)) for s in input_shape)
    head = "classifier hidden=256" if depth == 19 else "classifier"
    return parse(f"snnc-genome 1\nname \"{name}\"\nT {T}\ninput {shape}\nclasses {classes}\n"
                 f"neuron lif leak=0.5 v_th=1 reset=hard\nsurrogate triangle gamma=1\n"
                 f"resnet r depth={depth} channels={channels}\n{head}\n")


def supernet_genome(backbone: Genome, *, delay: int = 1) -> Genome:
    """The backbone with every backward connection ``back j -> i @delay choice`` (``j >= i``,
    self connections included), ``n = m(m+1)/2`` Choice nodes once lowered (section 4.2.3: "the
    super-network that contains all BCs"). The limit ``b`` is not part of the supernet: it only
    restricts which assignments are sampled (:func:`sample_assignment`).

    Raises:
        SearchError: no or several resnet blocks, or one that already has connections (give the
            plain backbone: the supernet decides every connection).
    """
    if not isinstance(delay, int) or isinstance(delay, bool) or delay < 1:
        raise SearchError(f"supernet_genome: delay must be an integer >= 1, got {delay!r}")
    where = [k for k, blk in enumerate(backbone.blocks) if blk.kind == "resnet"]
    if len(where) != 1:
        raise SearchError(f"{backbone.name}: a BCNAS supernet needs exactly one resnet block, "
                          f"found {len(where)}")
    block = backbone.blocks[where[0]]
    if block.edges:
        raise SearchError(f"{backbone.name}: resnet block {block.name} already has "
                          f"{len(block.edges)} backward connection(s); give the plain backbone "
                          f"(the supernet holds every connection as a choice)")
    edges = tuple(Edge(j, i, delay, True, "choice") for j, i in all_connections(block["depth"]))
    blocks = list(backbone.blocks)
    blocks[where[0]] = dataclasses.replace(block, edges=edges)
    return dataclasses.replace(backbone, blocks=tuple(blocks))


def choice_nodes(graph: Graph) -> list[str]:
    """Names of the graph's Choice nodes, sorted (the order assignments are sampled in)."""
    return sorted(name for name, node in graph.nodes.items() if node.op == "Choice")


def assignment_of(nodes: Iterable[str], present: Iterable[str]) -> Assignment:
    """The assignment that keeps the connections whose Choice is in ``present`` (port 0) and leaves
    every other one out (-1).

    Raises:
        SearchError: a name in ``present`` that is not one of ``nodes``.
    """
    nodes = list(nodes)
    keep = set(present)
    unknown = sorted(keep - set(nodes))
    if unknown:
        raise SearchError(f"not a choice of this supernet: {', '.join(unknown[:5])}")
    return {n: 0 if n in keep else -1 for n in nodes}


def sample_assignment(nodes: Sequence[str], b: int, rng: np.random.Generator) -> Assignment:
    """A uniform draw from ``A``, the architectures with at most ``b`` of the ``n = len(nodes)``
    optional connections present (section 4.2.1), as an assignment (0 present, -1 absent).

    Uniform over ``A``: the size ``k`` is drawn with probability ``C(n, k) / |A|``, then ``k``
    connections uniformly without replacement, so every architecture has probability ``1/|A|``.

    Raises:
        SearchError: ``b`` not an integer >= 0, or repeated node names.
    """
    if not isinstance(b, (int, np.integer)) or isinstance(b, bool) or b < 0:
        raise SearchError(f"b (the most connections an architecture has) must be an integer >= 0, "
                          f"got {b!r}")
    nodes = list(nodes)
    if len(set(nodes)) != len(nodes):
        raise SearchError("sample_assignment: the choice node names repeat")
    n = len(nodes)
    sizes = [comb(n, k) for k in range(min(int(b), n) + 1)]
    r = int(rng.integers(sum(sizes)))  # exact integers: C(153, 2) sums never lose precision
    k = 0
    while r >= sizes[k]:
        r -= sizes[k]
        k += 1
    present = rng.choice(n, size=k, replace=False) if k else []
    return assignment_of(nodes, [nodes[p] for p in present])


# ---------------------------------------------------------------------- training
def paper_config(**overrides: Any) -> TrainConfig:
    """Section 5.1's supernet training settings as a :class:`TrainConfig`: AdamW, lr 0.01, weight
    decay 0.02, cosine schedule, TET loss (eq. 3, no MSE term), a 20 % validation split; any field
    can be overridden (``epochs``, ``batch_size``, ``dataset``, ...)."""
    base = dict(optimizer="adamw", lr=0.01, weight_decay=0.02, schedule="cosine", loss="tet",
                tet_lambda=0.0, val_fraction=0.2)
    base.update(overrides)
    return TrainConfig(**base)


@dataclass
class SupernetResult:
    """A trained supernet and what its candidates are evaluated on.

    Attributes:
        module: the torch module (eval mode); ``graph``: the supernet it was compiled from.
        choices: the Choice node names (sorted); ``b``: the architecture limit trained with.
        pre: input preprocessing (``T``, encoding, the 80 % part's mean/std).
        val_x, val_y: the 20 % validation part ``[N, C, H, W]`` float32, ``[N]`` int64;
        train_x, train_y: the 80 % training part (BatchNorm recalibration reads it).
        config, history (one row per epoch: epoch, train_loss, train_acc, lr, seconds),
        checkpoint (its path), resumed_from (epochs found in the checkpoint), seconds (this call).
    """

    module: torch.nn.Module = field(repr=False)
    graph: Graph = field(repr=False)
    choices: list[str]
    b: int
    pre: Preprocess
    val_x: np.ndarray = field(repr=False)
    val_y: np.ndarray = field(repr=False)
    config: TrainConfig
    history: list[dict[str, Any]]
    checkpoint: Path
    resumed_from: int = 0
    seconds: float = 0.0
    train_x: np.ndarray | None = field(default=None, repr=False)
    train_y: np.ndarray | None = field(default=None, repr=False)


def train_supernet(graph: Graph, data: Dataset | None, config: TrainConfig | None,
                   run_dir: str | Path, *, b: int = 2, resume: bool = False,
                   progress: bool = False, sampler: Sampler | None = None) -> SupernetResult:
    """Train a supernet, each batch with a freshly sampled architecture (section 4.2.3).

    Batch ``k`` of epoch ``e`` uses ``sampler(np.random.default_rng(derive_seed(11, seed, e, k)))``
    (default: :func:`sample_assignment` over the graph's choices with limit ``b``) and only that
    path is run and updated. The data are ``data`` (or ``config.dataset``) cut to
    ``config.limit_train``/``limit_test``, split by :func:`snnc.runtime.data.split` with
    ``config.val_fraction`` (0.2 in the paper) and ``config.seed``; the loss is ``config.loss``
    (TET, eq. 3: ``1/T sum_t CE(O(t), y)``); optimiser and cosine schedule as
    :func:`snnc.runtime.train.train` builds them, the same batches, encodings and torch RNG seeds,
    so a supernet trained with a fixed assignment equals ``train()`` on the resolved plain graph.

    After every epoch ``run_dir/supernet.pt`` is replaced atomically by a ``torch.save`` dict
    (``format``, ``epoch``, ``model``, ``optimizer``, ``scheduler``, ``history``, ``fingerprint``:
    config, graph sha256, data sha256, b), read back with ``weights_only=True``. Everything random
    is a function of the seed, epoch and batch, so a killed run resumed with ``resume=True`` ends
    with state dicts bit-identical to an uninterrupted one (same thread count).

    Args:
        graph: a supernet (at least one Choice), e.g. ``lower(supernet_genome(...))``.
        data: a :class:`Dataset` without a validation split, or None to load ``config.dataset``.
        config: training settings; None = :func:`paper_config`. ``val_fraction`` must be > 0.
        run_dir: folder of the checkpoint (created).
        b: most connections per sampled architecture (the paper's default 2).
        resume: continue from ``run_dir``'s checkpoint (from scratch where there is none yet; a
            finished run is returned as it is).
        progress: a rich progress bar on stderr (only on a terminal).
        sampler: ``rng -> assignment`` to draw architectures otherwise (not recorded in the
            checkpoint: resume with the same one).
    Returns:
        A :class:`SupernetResult`.
    Raises:
        RunError: no Choice in ``graph``; ``val_fraction`` 0; a checkpoint already there without
            ``resume``; a checkpoint of another config, graph, data or ``b``, or one that cannot be
            read; a non-finite loss or weights.
        SearchError: a bad ``b``. DatasetError: from loading or splitting the data.
    """
    t_start = time.perf_counter()
    config = config or paper_config()
    choices = choice_nodes(graph)
    if not choices:
        raise RunError(f"{graph.meta.get('name', 'graph')}: not a supernet (no Choice node); "
                       f"train a plain graph with snnc.runtime.train.train")
    if not config.val_fraction:
        raise RunError("train_supernet needs a validation part: set val_fraction (the paper: 0.2)")
    sample_assignment(choices, b, np.random.default_rng(0))  # checks b before any work
    if sampler is None:
        def sampler(rng: np.random.Generator) -> Assignment:
            return sample_assignment(choices, b, rng)
    full = data if data is not None else load_dataset(config.dataset, config.data_root)
    full = limit_dataset(full, config.limit_train, config.limit_test)
    ds = split(full, config.val_fraction, config.seed)
    check_fits(graph, ds, str(graph.meta.get("name", "supernet")))
    pre = default_preprocess(graph, ds, T=config.T, encoding=config.encoding,
                             normalize=config.normalize)
    fingerprint = {"config": config.to_dict(), "graph": graph_sha256(graph),
                   "data": _data_sha256(full), "b": int(b)}
    run = Path(run_dir)
    ckpt = run / CHECKPOINT
    if ckpt.exists() and not resume:
        raise RunError(f"{ckpt}: a supernet checkpoint is already there; pass resume=True to "
                       f"continue it, or choose another folder")
    run.mkdir(parents=True, exist_ok=True)

    with torch_threads(config.threads):
        from ..backends.torch import compile as compile_torch

        torch.manual_seed(config.seed)
        module = compile_torch(graph, dtype=torch_dtype(config.dtype))
        steps = num_batches(len(ds.train_y), config.batch_size)
        optimizer = _optimizer(module, config)
        scheduler = _scheduler(optimizer, config, steps)
        start, history = 0, []
        if resume and ckpt.exists():
            start, history = restore(ckpt, fingerprint, what="supernet", fmt=_FORMAT,
                                     parts={"model": module, "optimizer": optimizer,
                                            "scheduler": scheduler})
        for epoch in range(start, config.epochs):
            t0 = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            loss, acc = _epoch(module, optimizer, scheduler, ds, pre, config, epoch, steps,
                               sampler, progress)
            if scheduler is not None and config.schedule_step == "epoch":
                scheduler.step()
            history.append({"epoch": epoch + 1, "train_loss": loss, "train_acc": acc, "lr": lr,
                            "seconds": round(time.perf_counter() - t0, 3)})
            problem = check_weights(module.state_dict())
            if problem:
                raise RunError(f"supernet training diverged in epoch {epoch + 1}: {problem}")
            state = {"format": _FORMAT, "epoch": epoch + 1, "model": module.state_dict(),
                     "optimizer": optimizer.state_dict(),
                     "scheduler": scheduler.state_dict() if scheduler is not None else {},
                     "history": history, "fingerprint": fingerprint}
            atomic_write(ckpt, lambda fh, s=state: torch.save(s, fh))
        module.eval()
    return SupernetResult(module, graph, choices, int(b), pre, ds.val_x, ds.val_y, config, history,
                          ckpt, start, time.perf_counter() - t_start, ds.train_x, ds.train_y)


def _epoch(module, optimizer, scheduler, ds: Dataset, pre: Preprocess, config: TrainConfig,
           epoch: int, steps: int, sampler: Sampler, progress: bool) -> tuple[float, float]:
    """One pass over the training part, one sampled architecture per batch; (mean loss, accuracy).
    Seeds, batches and the update are those of :func:`snnc.runtime.train.train`'s epoch."""
    torch.manual_seed(derive_seed(_TORCH_RNG, config.seed, epoch))
    module.train()
    total_loss, correct, seen = 0.0, 0, 0
    t0 = time.perf_counter()
    with _Progress(progress, epoch + 1, config.epochs, steps) as bar:
        for k, (xb, yb) in enumerate(batches(ds.train_x, ds.train_y, config.batch_size,
                                             shuffle=True, seed=config.seed, epoch=epoch,
                                             augment=config.augment(), mean=pre.mean,
                                             std=pre.std)):
            assignment = sampler(np.random.default_rng(derive_seed(_ARCH, config.seed, epoch, k)))
            x = model_input(xb, pre, derive_seed(_RATE_TRAIN, config.seed, epoch, k))
            out = module(x, T=pre.T, assignment=assignment)  # [T, B, classes]
            loss = ce_loss(out, yb) if config.loss == "ce" else \
                tet_loss(out, yb, config.tet_lambda, config.tet_phi)
            value = float(loss.detach())
            if not math.isfinite(value):  # before the step, which would spread it to the weights
                raise RunError(f"the supernet's loss is {value} at epoch {epoch + 1}, batch "
                               f"{k + 1}; lower the learning rate")
            optimizer.zero_grad(set_to_none=True)  # unsampled paths keep grad None: not updated
            loss.backward()
            optimizer.step()
            if scheduler is not None and config.schedule_step == "step":
                scheduler.step()
            total_loss += value * len(yb)
            correct += int((out.detach().mean(0).argmax(-1) == yb).sum())
            seen += len(yb)
            bar.update(total_loss / seen, correct / seen, seen / (time.perf_counter() - t0))
    return total_loss / max(seen, 1), correct / max(seen, 1)


def _data_sha256(ds: Dataset) -> str:
    return data_sha256(ds.train_x, ds.train_y, ds.test_x, ds.test_y)


# ---------------------------------------------------------------------- evaluation
def evaluate_candidates(trained: SupernetResult, assignments: Sequence[Assignment],
                        val_data: tuple[np.ndarray, np.ndarray] | None = None, *,
                        batch_size: int = 256, recalibrate: int = 0) -> list[float]:
    """Validation accuracy of each candidate with the weights it inherits from the supernet
    (section 4.2.3), in ``[0, 1]``, in the order of ``assignments``.

    The module runs in eval mode under :func:`torch.inference_mode` with ``trained.config.threads``;
    BatchNorm uses the supernet's running statistics (module docstring). Each batch is preprocessed
    once and run through every candidate; a sample's prediction is ``argmax_c 1/T sum_t O(t)_c`` (as
    :func:`snnc.runtime.evaluate.predict`), rate-encoded batch ``k`` uses ``derive_seed(4, seed,
    k)`` so every candidate sees the same spikes.

    Args:
        trained: from :func:`train_supernet`.
        assignments: one assignment per candidate (every Choice named; see
            :func:`assignment_of`).
        val_data: ``(x [N, C, H, W] float32 in [0, 1], y [N] int64)``; default the supernet's
            20 % validation part.
        batch_size: images per forward pass (memory, not results).
        recalibrate: 0 (the default) keeps the inherited BatchNorm statistics; ``N > 0`` first
            recomputes them for each candidate as the plain average over its first ``N``
            training batches (``config.batch_size`` images of the 80 % part in epoch 0's order,
            no augmentation, train mode without gradients), then restores the supernet's.
    Raises:
        AssignmentError: an assignment that does not fit the supernet (names the node).
        SearchError: empty validation data; ``recalibrate`` not an integer >= 0, or > 0 without
            training data in ``trained``.
    """
    x, y = val_data if val_data is not None else (trained.val_x, trained.val_y)
    if len(y) == 0:
        raise SearchError("evaluate_candidates: the validation data are empty")
    if not isinstance(recalibrate, int) or isinstance(recalibrate, bool) or recalibrate < 0:
        raise SearchError(f"recalibrate must be an integer >= 0 (training batches), got "
                          f"{recalibrate!r}")
    if recalibrate and trained.train_x is None:
        raise SearchError("recalibrate needs the training part; this result carries none")
    module = trained.module
    was_training = module.training
    try:
        with torch_threads(trained.config.threads):
            if not recalibrate:
                correct = _correct(trained, assignments, x, y, batch_size)
            else:
                correct = []
                for a in assignments:
                    with _recalibrated(trained, a, recalibrate):
                        correct += _correct(trained, [a], x, y, batch_size)
    finally:
        module.train(was_training)
    return [float(c) / len(y) for c in correct]


def _correct(trained: SupernetResult, assignments: Sequence[Assignment], x: np.ndarray,
             y: np.ndarray, batch_size: int) -> list[int]:
    """Correct predictions of each candidate on ``(x, y)``, in eval mode, batch-outer."""
    module, pre, seed = trained.module, trained.pre, trained.config.seed
    correct = [0] * len(assignments)
    module.eval()
    with torch.inference_mode():
        for k, (xb, yb) in enumerate(batches(x, y, batch_size, shuffle=False, mean=pre.mean,
                                             std=pre.std)):
            xin = model_input(xb, pre, derive_seed(_RATE_EVAL, seed, k))
            for c, a in enumerate(assignments):
                pred = module(xin, T=pre.T, assignment=a).mean(0).argmax(-1)
                correct[c] += int((pred == yb).sum())
    return correct


@contextmanager
def _recalibrated(trained: SupernetResult, assignment: Assignment, n: int) -> Iterator[None]:
    """BatchNorm running statistics recomputed for one candidate (cumulative average over ``n``
    training batches), the supernet's restored on exit; the global torch RNG is left as it was."""
    module, pre, cfg = trained.module, trained.pre, trained.config
    bns = [m for m in module.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, {k: v.clone() for k, v in m.state_dict().items()}) for m in bns]
    try:
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative: the plain average of the batches' statistics
        module.train()
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            data = batches(trained.train_x, trained.train_y, cfg.batch_size, shuffle=True,
                           seed=cfg.seed, epoch=0, mean=pre.mean, std=pre.std)
            for k, (xb, _) in zip(range(n), data):
                module(model_input(xb, pre, derive_seed(_RECAL, cfg.seed, k)), T=pre.T,
                       assignment=assignment)
        yield
    finally:
        for m, (momentum, state) in zip(bns, saved):
            m.momentum = momentum
            m.load_state_dict(state)
