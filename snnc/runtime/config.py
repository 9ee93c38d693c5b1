"""Training settings: :class:`TrainConfig`, everything that decides a training run's result.

Kept apart from :mod:`snnc.runtime.train` so that reading or validating a config (the CLI's option
defaults, a run folder's ``config.json``) needs neither torch nor numpy.
"""
from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any

from ..errors import RunError

__all__ = ["DGSConfig", "GROUP_TIMEOUT", "LOSSES", "MAX_THREADS", "OPTIMIZERS", "SCHEDULES", "TPSConfig",
           "TrainConfig", "default_loss"]

OPTIMIZERS = ("sgd", "adamw")
DEVICES = ("auto", "cpu", "cuda")
LOSSES = ("ce", "tet")
SCHEDULES = ("cosine", "constant")
#: ``timing``: the IR's delays, or hardware timing (snnc.passes.hop_timing.TIMINGS; kept here
#: as literals so that a config is read without numpy).
TIMINGS = ("ir", "hardware")
#: Fields a resumed run may change (another thread or process count may still round float sums
#: differently; see ``TrainConfig.threads`` and ``TrainConfig.nproc``).
RESUME_FREE = ("threads", "nproc", "device")
#: Upper bound of ``threads``: fixed rather than a multiple of this machine's CPUs, so that a run
#: folder started elsewhere still resumes here (libgomp fails to start ~100000 threads).
MAX_THREADS = 1024
#: Seconds a process of a data-parallel group waits at a collective for the others
#: (:mod:`snnc.runtime.distributed`) before the group gives up with an error.
GROUP_TIMEOUT = 600.0
#: field: (low, high, low excluded, high excluded).
_RANGES = {"lr": (0.0, 10.0, True, False), "momentum": (0.0, 1.0, False, True),
           "weight_decay": (0.0, 1.0, False, False), "eta_min": (0.0, 10.0, False, False),
           "tet_lambda": (0.0, 1.0, False, False), "tet_phi": (-1e6, 1e6, False, False),
           "val_fraction": (0.0, 1.0, False, True)}


def _check_number(owner: str, name: str, v, lo: float, hi: float | None = None,
                  lo_open: bool = False) -> None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if ok:
        ok = (v > lo if lo_open else v >= lo) and (hi is None or v <= hi)
    if not ok:
        shown = f"{'(' if lo_open else '['}{lo:g}, {'inf)' if hi is None else f'{hi:g}]'}"
        raise RunError(f"{owner} {name} must be a number in {shown}, got {v!r}")


def _check_int(owner: str, name: str, v, lo: int) -> None:
    if not isinstance(v, int) or isinstance(v, bool) or v < lo:
        raise RunError(f"{owner} {name} must be an integer >= {lo}, got {v!r}")


def _check_layers(owner: str, layers) -> None:
    names = layers.split(",") if isinstance(layers, str) else []
    if not names or any(not n or n != n.strip() for n in names):
        raise RunError(f"{owner} layers must be 'all' or comma-separated layer names such as "
                       f"'stem,l1,l5', got {layers!r}")


@dataclass(frozen=True)
class DGSConfig:
    """Differentiable surrogate gradient search (SpikeDHS section 4.2, Algorithm 2, eq. 18);
    see :mod:`snnc.runtime.dgs`.

    Attributes:
        layers: ``"all"`` (the stem and every layer, as the paper describes) or comma-separated
            names of SpikeDHS layers, ``stem`` for the stem (``"stem"``: the authors' code).
        interval: run DGS after every ``interval``-th epoch (Algorithm 2's ``ep``; 5).
        candidates: ``N`` candidate temperatures ``b + (k - (N-1)/2) delta``, ``k = 0..N-1``
            (5; 1 = plain training).
        delta: ``delta b`` (0.2).
        iterations: batches per DGS phase (Algorithm 2's ``I``: the paper 100, the code 200).
        b_min, b_max: candidates are clamped to ``[b_min, b_max]`` (the code's [1, 6]; the paper
            names no range).
        lr: Adam learning rate of the mixing weights ``alpha`` (the code's 0.01).
        init: the initial value ``epsilon`` of every ``alpha`` (the paper's 0.001).
        variant: ``"paper"`` — ``alpha`` re-initialised to ``epsilon`` for every batch and the
            winner the argmax of ``alpha`` averaged over the batches (section 4.2, "with
            <.> denoting the average over batches"); ``"code"`` — one ``alpha`` trained over all
            batches, the winner its final argmax (the authors' release).
    """

    layers: str = "all"
    interval: int = 5
    candidates: int = 5
    delta: float = 0.2
    iterations: int = 100
    b_min: float = 1.0
    b_max: float = 6.0
    lr: float = 0.01
    init: float = 0.001
    variant: str = "paper"

    def __post_init__(self) -> None:
        _check_layers("dgs", self.layers)
        for name in ("interval", "candidates", "iterations"):
            _check_int("dgs", name, getattr(self, name), 1)
        _check_number("dgs", "delta", self.delta, 0.0, 100.0)
        _check_number("dgs", "b_min", self.b_min, 0.0, 1e6, lo_open=True)
        _check_number("dgs", "b_max", self.b_max, self.b_min, 1e6)
        _check_number("dgs", "lr", self.lr, 0.0, 10.0, lo_open=True)
        _check_number("dgs", "init", self.init, -1e6, 1e6)
        if self.variant not in ("paper", "code"):
            raise RunError(f"dgs variant must be one of paper, code, got {self.variant!r}")


@dataclass(frozen=True)
class TPSConfig:
    """Temporal parameter search (SpikeDHS section 4.3, Algorithm 3, eq. 21); see
    :mod:`snnc.runtime.tps`.

    Attributes:
        layers: ``"all"`` (the stem and every layer) or comma-separated layer names, ``stem`` for
            the stem.
        delta: ``delta tau``: the candidates ``{tau + delta, tau, tau - delta}`` of the leak factor
            (clamped to [0, 1]; the paper names no value, 0.1 here).
        delta_a: ``delta tau_a`` of an ALIF layer's threshold decay (its candidates are every pair
            of ``tau`` and ``tau_a`` candidates).
        step: ``s``: every ``step`` iterations tau moves to the argmax of ``a`` and ``a`` is reset
            (the paper's 100).
        warmup: epochs of training with ``a`` fixed before the search starts (the paper's 5).
        iterations: ``I_max``: search iterations after the warm-up (None: to the end of training);
            afterwards the layers run the plain neuron with the found tau.
        lr: Adam learning rate of the control weights ``a`` (the paper names none; 0.01, DGS's).
        init: the initial (and reset) value ``epsilon`` of every ``a``.
    """

    layers: str = "all"
    delta: float = 0.1
    delta_a: float = 0.1
    step: int = 100
    warmup: int = 5
    iterations: int | None = None
    lr: float = 0.01
    init: float = 0.001

    def __post_init__(self) -> None:
        _check_layers("tps", self.layers)
        _check_number("tps", "delta", self.delta, 0.0, 1.0)
        _check_number("tps", "delta_a", self.delta_a, 0.0, 1.0)
        _check_int("tps", "step", self.step, 1)
        _check_int("tps", "warmup", self.warmup, 0)
        if self.iterations is not None:
            _check_int("tps", "iterations", self.iterations, 1)
        _check_number("tps", "lr", self.lr, 0.0, 10.0, lo_open=True)
        _check_number("tps", "init", self.init, -1e6, 1e6)


_NESTED = {"dgs": DGSConfig, "tps": TPSConfig}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run's result.

    Attributes:
        dataset, data_root: see :func:`snnc.runtime.data.load_dataset`.
        epochs, batch_size: passes over the training set; images per step.
        optimizer: ``"sgd"`` (with ``momentum`` in [0, 1)) or ``"adamw"``; ``lr`` in (0, 10],
            ``weight_decay`` in [0, 1] (L2 for SGD, decoupled for AdamW), applied to every
            parameter.
        schedule: ``"cosine"`` (``CosineAnnealingLR`` from ``lr`` down to ``eta_min``) or
            ``"constant"``; ``eta_min <= lr``; ``schedule_step``: anneal once per ``"epoch"`` or
            once per ``"step"``.
        loss: ``"ce"`` — cross-entropy of the time-averaged output (STTS, SNASNet):
            ``CE(1/T sum_t O[t], y)``; ``"tet"`` — temporal efficient training (Deng et al. 2022,
            eq. 8-10; BCNAS-SNN): ``(1 - lambda) * 1/T sum_t CE(O[t], y) + lambda * 1/T sum_t
            MSE(O[t], phi)`` with ``tet_lambda`` and ``tet_phi``.
        T: time steps (None = the genome's ``T``); ``encoding``: ``"direct"`` or ``"rate"``
            (None = the genome's). ``normalize``: per-channel normalisation of direct input.
        crop_padding, hflip, cutout: training augmentations (:class:`~snnc.runtime.loader.Augment`).
        val_fraction: carve this fraction of the training set out as a validation set (0 = none).
        test_every: evaluate the test set every this many epochs (and always after the last).
        seed: weight init, data order, augmentation, encoding and dropout (module docstring).
        threads: torch intra-op threads during the run (0 = leave torch's setting; at most
            :data:`MAX_THREADS`). The only field
            a resume may change, at the price of bit-identity (sums may round differently).
        limit_train, limit_test: use only the first N samples (fast tests and demos).
        dtype: parameter dtype, ``"float32"`` or ``"float64"``.
        device: where the module trains: ``"auto"`` (CUDA when torch sees a usable GPU, else the
            CPU; :func:`snnc.backends.torch.resolve_device`), ``"cpu"`` or ``"cuda"``. A
            data-parallel group puts rank ``r`` on GPU ``local_rank``. A resume may change it, at
            the price of bit-identity (CPU and GPU kernels round differently).
        nproc: data-parallel processes (:mod:`snnc.runtime.distributed`); ``batch_size`` is the
            global batch, split into ``nproc`` shards of ``batch_size / nproc``. The result is
            that of one process up to float rounding (sums over shards, then over processes),
            except dropout masks, which each process draws for its shard. A resume may change
            it, at the price of bit-identity.
        timing: ``"ir"`` — the graph's own delays; ``"hardware"`` — the graph goes through the
            ``hop-timing`` pass first (every synaptic hop costs one step, as on Loihi 2 and in
            Lava: backward edges delayed by what the hops add), so it trains as it will be
            deployed and ``model.snnir`` is that graph (:mod:`snnc.passes.hop_timing`).
        dgs, tps: the SpikeDHS surrogate-gradient and temporal-parameter searches run during
            training (:class:`DGSConfig`, :class:`TPSConfig`; None: off). A dict is converted.
            Only with ``nproc == 1``.
    Raises (on construction):
        RunError: a value out of range or not one of the choices; the message names the field.
    """

    dataset: str = "digits"
    data_root: str | None = None
    epochs: int = 10
    batch_size: int = 64
    optimizer: str = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "cosine"
    schedule_step: str = "epoch"
    eta_min: float = 0.0
    loss: str = "ce"
    tet_lambda: float = 0.0
    tet_phi: float = 1.0
    T: int | None = None
    encoding: str | None = None
    normalize: bool = True
    crop_padding: int = 0
    hflip: bool = False
    cutout: int = 0
    val_fraction: float = 0.0
    test_every: int = 1
    seed: int = 0
    threads: int = 0
    limit_train: int | None = None
    limit_test: int | None = None
    dtype: str = "float32"
    device: str = "auto"
    nproc: int = 1
    timing: str = "ir"
    dgs: DGSConfig | None = None
    tps: TPSConfig | None = None

    def __post_init__(self) -> None:
        for name, kind in _NESTED.items():
            value = getattr(self, name)
            if isinstance(value, dict):
                unknown = sorted(set(value) - {f.name for f in dataclasses.fields(kind)})
                if unknown:
                    raise RunError(f"unknown {name} option(s) {', '.join(unknown)}")
                object.__setattr__(self, name, kind(**value))
            elif value is not None and not isinstance(value, kind):
                raise RunError(f"{name} must be a {kind.__name__} or None, got {value!r}")
        if self.data_root is not None:
            object.__setattr__(self, "data_root", str(self.data_root))
        choices = {"optimizer": OPTIMIZERS, "loss": LOSSES, "schedule": SCHEDULES,
                   "schedule_step": ("epoch", "step"), "encoding": (None, "direct", "rate"),
                   "dtype": ("float32", "float64"), "device": DEVICES,
                   "timing": TIMINGS}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                shown = ", ".join(str(a) for a in allowed if a is not None)
                raise RunError(f"{name} must be one of {shown}, got {getattr(self, name)!r}")
        at_least = {"epochs": 1, "batch_size": 1, "test_every": 1, "seed": 0, "threads": 0,
                    "nproc": 1,
                    "crop_padding": 0, "cutout": 0, "T": 1, "limit_train": 1, "limit_test": 1}
        for name, lo in at_least.items():
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < lo):
                raise RunError(f"{name} must be an integer >= {lo}, got {v!r}")
        if not isinstance(self.dataset, str) or not self.dataset:
            raise RunError(f"dataset must be a dataset name (a string), got {self.dataset!r}")
        for name in ("normalize", "hflip"):
            if not isinstance(getattr(self, name), bool):
                raise RunError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if self.nproc > 1 and (self.dgs is not None or self.tps is not None):
            # The searches step weight copies and mixing weights outside the DDP-wrapped module;
            # run them in one process.
            raise RunError(f"dgs and tps run in one process; got nproc {self.nproc} (drop --nproc "
                           f"or the search)")
        if self.threads > MAX_THREADS:
            raise RunError(f"threads must be <= {MAX_THREADS}, got {self.threads} (this machine "
                           f"has {os.cpu_count()} CPUs; 0 leaves torch's default)")
        # Ranges outside which no run trains: beyond them torch overflows (lr 1e308), the
        # momentum sum diverges (momentum >= 1) or the cosine schedule anneals upwards.
        for name, (lo, hi, lo_open, hi_open) in _RANGES.items():
            v = getattr(self, name)
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
            if ok:
                ok = (v > lo if lo_open else v >= lo) and (v < hi if hi_open else v <= hi)
            if not ok:
                shown = f"{'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
                raise RunError(f"{name} must be a number in {shown}, got {v!r}")
        if self.eta_min > self.lr:
            raise RunError(f"eta_min must be <= lr (the cosine schedule anneals from lr down to "
                           f"eta_min), got eta_min {self.eta_min!r} > lr {self.lr!r}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Inverse of :meth:`to_dict`; RunError for an unknown field."""
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise RunError(f"unknown training option(s) {', '.join(unknown)}")
        return cls(**data)

    def differences(self, other: "TrainConfig", ignore: tuple[str, ...] = ()) -> list[str]:
        """``["lr: 0.1 -> 0.05", ...]`` for every field that differs, except ``ignore``."""
        a, b = self.to_dict(), other.to_dict()
        out = []
        for k in a:
            if k in ignore or a[k] == b[k]:
                continue
            if isinstance(a[k], dict) and isinstance(b[k], dict):  # dgs, tps: the fields
                out += [f"{k}.{f}: {a[k][f]!r} -> {b[k][f]!r}" for f in a[k] if a[k][f] != b[k][f]]
            else:
                out.append(f"{k}: {a[k]!r} -> {b[k]!r}")
        return out

    def augment(self):
        """The training augmentations as a :class:`~snnc.runtime.loader.Augment`."""
        from .loader import Augment

        return Augment(crop_padding=self.crop_padding, hflip=self.hflip, cutout=self.cutout)


def default_loss(genome) -> str:
    """The loss a genome trains with when none is asked for: ``"tet"`` for a ResNet genome
    (BCNAS-SNN section 3.3 trains its ResNets with TET, eq. 3, as do the ``resnet*`` presets),
    ``"ce"`` otherwise (STTS and SNASNet train with the cross-entropy of the time-averaged output).

    Args:
        genome: a parsed :class:`~snnc.genome.Genome`, or None (an artifact: ``"ce"``).
    """
    if genome is not None and any(b.kind == "resnet" for b in genome.blocks):
        return "tet"
    return "ce"
