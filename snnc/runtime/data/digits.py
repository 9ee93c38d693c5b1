"""scikit-learn's 8x8 handwritten digits, the small real dataset every test can load offline."""
from __future__ import annotations

import numpy as np

from snnc.errors import DatasetError
from snnc.optional import require
from snnc.runtime.data.base import DIGIT_CLASSES, Dataset


def load_digits(test_size: int = 360, seed: int = 0) -> Dataset:
    """scikit-learn's 8x8 handwritten digits (1797 images, ``[N, 1, 8, 8]``, intensity / 16).

    ``test_size`` images chosen by ``numpy.random.default_rng(seed).permutation`` form the test set
    (default 1437 train / 360 test); both parts keep the original order.

    Raises:
        DatasetError: scikit-learn is not installed, or ``test_size`` leaves an empty part.
    """
    datasets = require("sklearn.datasets", feature="the digits dataset", extra="data")
    bunch = datasets.load_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None]
    labels = bunch.target.astype(np.int64)
    if not 0 < test_size < len(labels):
        raise DatasetError(f"digits: test_size must be in (0, {len(labels)}), got {test_size}")
    perm = np.random.default_rng(seed).permutation(len(labels))
    test_idx, train_idx = np.sort(perm[:test_size]), np.sort(perm[test_size:])
    return Dataset("digits", images[train_idx], labels[train_idx], images[test_idx], labels[test_idx],
                   classes=10, class_names=DIGIT_CLASSES, source="sklearn.datasets.load_digits")
