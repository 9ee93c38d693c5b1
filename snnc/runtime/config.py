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

__all__ = ["GROUP_TIMEOUT", "LOSSES", "MAX_THREADS", "OPTIMIZERS", "SCHEDULES", "TrainConfig", "default_loss"]

OPTIMIZERS = ("sgd", "adamw")
LOSSES = ("ce", "tet")
SCHEDULES = ("cosine", "constant")
#: Fields a resumed run may change (another thread or process count may still round float sums
#: differently; see ``TrainConfig.threads`` and ``TrainConfig.nproc``).
RESUME_FREE = ("threads", "nproc")
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
        nproc: data-parallel processes (:mod:`snnc.runtime.distributed`); ``batch_size`` is the
            global batch, split into ``nproc`` shards of ``batch_size / nproc``. The result is
            that of one process up to float rounding (sums over shards, then over processes),
            except dropout masks, which each process draws for its shard. A resume may change
            it, at the price of bit-identity.
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
    nproc: int = 1

    def __post_init__(self) -> None:
        if self.data_root is not None:
            object.__setattr__(self, "data_root", str(self.data_root))
        choices = {"optimizer": OPTIMIZERS, "loss": LOSSES, "schedule": SCHEDULES,
                   "schedule_step": ("epoch", "step"), "encoding": (None, "direct", "rate"),
                   "dtype": ("float32", "float64")}
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
        return [f"{k}: {a[k]!r} -> {b[k]!r}" for k in a if k not in ignore and a[k] != b[k]]

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
