"""Training settings: :class:`TrainConfig`, everything that decides a training run's result.

Kept apart from :mod:`snnc.runtime.train` so that reading or validating a config (the CLI's option
defaults, a run folder's ``config.json``) needs neither torch nor numpy.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from ..errors import RunError

__all__ = ["LOSSES", "OPTIMIZERS", "SCHEDULES", "TrainConfig"]

OPTIMIZERS = ("sgd", "adamw")
LOSSES = ("ce", "tet")
SCHEDULES = ("cosine", "constant")
#: Fields a resumed run may change (another thread count may still round float sums differently;
#: see ``TrainConfig.threads``).
RESUME_FREE = ("threads",)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides a training run's result.

    Attributes:
        dataset, data_root: see :func:`snnc.runtime.data.load_dataset`.
        epochs, batch_size: passes over the training set; images per step.
        optimizer: ``"sgd"`` (with ``momentum``) or ``"adamw"``; ``lr``, ``weight_decay`` (L2 for
            SGD, decoupled for AdamW), applied to every parameter.
        schedule: ``"cosine"`` (``CosineAnnealingLR`` from ``lr`` down to ``eta_min``) or
            ``"constant"``; ``schedule_step``: anneal once per ``"epoch"`` or once per ``"step"``.
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
        threads: torch intra-op threads during the run (0 = leave torch's setting). The only field
            a resume may change, at the price of bit-identity (sums may round differently).
        limit_train, limit_test: use only the first N samples (fast tests and demos).
        dtype: parameter dtype, ``"float32"`` or ``"float64"``.
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
                    "crop_padding": 0, "cutout": 0, "T": 1, "limit_train": 1, "limit_test": 1}
        for name, lo in at_least.items():
            v = getattr(self, name)
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < lo):
                raise RunError(f"{name} must be an integer >= {lo}, got {v!r}")
        for name in ("lr", "momentum", "weight_decay", "eta_min", "tet_phi"):
            v = getattr(self, name)
            negative = isinstance(v, (int, float)) and v < 0 and name != "tet_phi"
            if not isinstance(v, (int, float)) or not math.isfinite(v) or negative:
                raise RunError(f"{name} must be a finite number >= 0, got {v!r}")
        if not 0.0 <= self.tet_lambda <= 1.0:
            raise RunError(f"tet_lambda must be in [0, 1], got {self.tet_lambda!r}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise RunError(f"val_fraction must be in [0, 1), got {self.val_fraction!r}")
        if self.lr <= 0:
            raise RunError(f"lr must be > 0, got {self.lr!r}")

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
