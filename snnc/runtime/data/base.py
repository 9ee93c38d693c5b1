"""The in-memory dataset every loader returns, and what is done to it (splits, statistics).

Images float32 ``[N, C, H, W]`` scaled to ``[0, 1]``, labels int64 ``[N]``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from snnc.errors import DatasetError

DIGIT_CLASSES = tuple(str(i) for i in range(10))


@dataclass(eq=False)  # arrays make field-wise == ambiguous; compare the arrays themselves
class Dataset:
    """A labelled image dataset held in memory.

    Attributes:
        name: dataset name (``"mnist"``, ``"cifar10"``, ...).
        train_x, test_x: float32 ``[N, C, H, W]`` images, intensities in ``[0, 1]``.
        train_y, test_y: int64 ``[N]`` labels in ``[0, classes)``.
        classes: number of classes.
        input_shape: ``(C, H, W)`` of one image.
        mean, std: per-channel mean and standard deviation of ``train_x`` (computed when left ``None``;
            recomputed by :func:`split` from the reduced training set).
        class_names: one name per class.
        val_x, val_y: validation images/labels carved out of the training set by :func:`split`, else None.
        source: the file or folder the data came from.

    Raises (on construction):
        DatasetError: wrong dtypes or ranks, image/label counts that differ, or labels outside
            ``[0, classes)``.
    """

    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    classes: int
    input_shape: tuple[int, ...] = ()
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    class_names: tuple[str, ...] = ()
    val_x: np.ndarray | None = None
    val_y: np.ndarray | None = None
    source: str = ""

    def __post_init__(self) -> None:
        parts = [("train", self.train_x, self.train_y), ("test", self.test_x, self.test_y)]
        if self.val_x is not None or self.val_y is not None:
            parts.append(("val", self.val_x, self.val_y))
        for part, x, y in parts:
            _check_part(self.name, part, x, y, self.classes)
        shape = tuple(int(s) for s in self.train_x.shape[1:])
        for part, x, _ in parts[1:]:
            if tuple(x.shape[1:]) != shape:
                raise DatasetError(f"{self.name}: {part} images have shape {x.shape[1:]}, "
                                   f"train images {shape}")
        self.input_shape = shape
        if not self.class_names:
            self.class_names = tuple(str(i) for i in range(self.classes))
        if len(self.class_names) != self.classes:
            raise DatasetError(f"{self.name}: {len(self.class_names)} class names for "
                               f"{self.classes} classes")
        if self.mean is None or self.std is None:
            self.mean, self.std = channel_stats(self.train_x)

    def __repr__(self) -> str:
        val = f", val={len(self.val_y)}" if self.val_y is not None else ""
        return (f"Dataset({self.name!r}, train={len(self.train_y)}{val}, test={len(self.test_y)}, "
                f"input_shape={self.input_shape}, classes={self.classes})")


def _check_part(name: str, part: str, x: object, y: object, classes: int) -> None:
    if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim != 4:
        raise DatasetError(f"{name}: {part} images must be a float32 [N, C, H, W] array, got "
                           f"{getattr(x, 'dtype', type(x).__name__)} {getattr(x, 'shape', '')}")
    if not isinstance(y, np.ndarray) or y.dtype != np.int64 or y.ndim != 1:
        raise DatasetError(f"{name}: {part} labels must be an int64 [N] array, got "
                           f"{getattr(y, 'dtype', type(y).__name__)} {getattr(y, 'shape', '')}")
    if len(x) != len(y):
        raise DatasetError(f"{name}: {len(x)} {part} images but {len(y)} labels")
    if len(y) and (y.min() < 0 or y.max() >= classes):
        raise DatasetError(f"{name}: {part} labels span [{y.min()}, {y.max()}], outside [0, {classes})")


def channel_stats(x: np.ndarray, chunk: int = 8192) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) standard deviation of ``x`` ``[N, C, H, W]``.

    Accumulated in float64 over chunks of ``chunk`` images, so no full-size temporary is made.
    """
    c = x.shape[1]
    total, total_sq, count = np.zeros(c), np.zeros(c), 0
    for start in range(0, len(x), chunk):
        part = x[start:start + chunk]
        total += part.sum(axis=(0, 2, 3), dtype=np.float64)
        total_sq += np.square(part, dtype=np.float64).sum(axis=(0, 2, 3))
        count += part.shape[0] * part.shape[2] * part.shape[3]
    if count == 0:
        return (0.0,) * c, (1.0,) * c
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean ** 2, 0.0))
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)


def split(dataset: Dataset, val_fraction: float, seed: int) -> Dataset:
    """Carve a validation set out of the training set: a pure function of ``(dataset, val_fraction, seed)``.

    ``round(N * val_fraction)`` training images, chosen by ``numpy.random.default_rng(seed)``, become
    ``val_x``/``val_y``; the rest stay in ``train_x``/``train_y`` (both keep the original order). ``mean``
    and ``std`` are recomputed from the reduced training set; the test set is untouched.

    Raises:
        DatasetError: ``val_fraction`` not in ``(0, 1)``, either part would be empty, a negative seed,
            or the dataset already has a validation set.
    """
    if dataset.val_y is not None:
        raise DatasetError(f"{dataset.name}: already has a validation set; split the original dataset")
    if not 0.0 < val_fraction < 1.0:
        raise DatasetError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if seed < 0:
        raise DatasetError(f"split seed must be >= 0, got {seed}")
    n = len(dataset.train_y)
    n_val = int(round(n * val_fraction))
    if not 0 < n_val < n:
        raise DatasetError(f"{dataset.name}: val_fraction {val_fraction} of {n} training images "
                           f"leaves an empty part")
    perm = np.random.default_rng(seed).permutation(n)
    val_idx, train_idx = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    return dataclasses.replace(dataset, train_x=dataset.train_x[train_idx],
                               train_y=dataset.train_y[train_idx], val_x=dataset.train_x[val_idx],
                               val_y=dataset.train_y[val_idx], mean=None, std=None)


def scale_pixels(pixels: np.ndarray) -> np.ndarray:
    """uint8 ``[N, H, W]`` or ``[N, C, H, W]`` -> float32 ``[N, C, H, W]`` in ``[0, 1]`` (pixel / 255)."""
    if pixels.ndim == 3:
        pixels = pixels[:, None]
    out = pixels.astype(np.float32)
    out /= np.float32(255.0)  # correctly rounded pixel / 255, as torchvision's ToTensor
    return out
