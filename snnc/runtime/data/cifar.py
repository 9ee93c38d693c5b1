"""CIFAR-10 / CIFAR-100 from a folder the user has (https://www.cs.toronto.edu/~kriz/cifar.html).

No package ships CIFAR, so ``root`` is required: the folder the archive was extracted into, or the
batches folder itself. Both official layouts are read; the binary one is preferred when both exist.

=========  =====================================================  ======================================
dataset    binary version (parsed directly)                       python version (restricted unpickler)
=========  =====================================================  ======================================
CIFAR-10   ``cifar-10-batches-bin/data_batch_{1..5}.bin``,         ``cifar-10-batches-py/data_batch_{1..5}``,
           ``test_batch.bin``, ``batches.meta.txt``;               ``test_batch``, ``batches.meta``
           record = 1 label byte + 3072 pixel bytes
CIFAR-100  ``cifar-100-binary/train.bin``, ``test.bin``,           ``cifar-100-python/train``, ``test``,
           ``{fine,coarse}_label_names.txt``; record = coarse      ``meta``
           byte + fine byte + 3072 pixel bytes
=========  =====================================================  ======================================

Pixels are stored channel-major (1024 red, 1024 green, 1024 blue, rows top to bottom), which is already
``[3, 32, 32]``. Python-version batches are dicts (``data``: uint8 ``[n, 3072]``, ``labels`` or
``fine_labels``/``coarse_labels``: lists of ints); they are unpickled with
:class:`~snnc.runtime.data.safe_pickle.RestrictedUnpickler`, so a batch file cannot run code.
"""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from snnc.errors import DatasetError, UnsafePickleError
from snnc.runtime.data.base import Dataset, scale_pixels
from snnc.runtime.data.safe_pickle import safe_load

__all__ = ["CIFAR10_CLASSES", "find_cifar", "load_cifar10", "load_cifar100", "read_cifar_binary",
           "read_cifar_pickle"]

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
_PIXELS = 3 * 32 * 32
_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
_SPEC = {
    "cifar10": {"bin": "cifar-10-batches-bin", "py": "cifar-10-batches-py",
                "archive": "cifar-10-binary.tar.gz",
                "train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
    "cifar100": {"bin": "cifar-100-binary", "py": "cifar-100-python",
                 "archive": "cifar-100-binary.tar.gz",
                 "train": ["train"], "test": ["test"]},
}


def find_cifar(root: str | Path | None, dataset: str) -> tuple[str, Path]:
    """Locate a CIFAR folder: returns ``("binary" | "python", folder)``.

    ``root`` may be the batches folder or its parent (``cifar-10-batches-bin``, ``cifar-10-batches-py``,
    ``cifar-100-binary``, ``cifar-100-python``).

    Raises:
        DatasetError: ``root`` is None or holds neither layout; the message says where to get the data.
    """
    spec = _SPEC[dataset]
    hint = (f"download {spec['archive']} (or the python version) from {_URL}, extract it and pass "
            f"root=<the folder holding {spec['bin']}/ or {spec['py']}/>")
    if root is None:
        raise DatasetError(f"{dataset} is not installed by any package; {hint}")
    root = Path(root)
    first = spec["train"][0]
    for folder in (root, root / spec["bin"], root / spec["py"]):
        if (folder / f"{first}.bin").is_file():
            return "binary", folder
    for folder in (root, root / spec["py"]):
        if (folder / first).is_file():
            return "python", folder
    raise DatasetError(f"{root}: no {dataset} batches found (looked for {first}.bin or {first} in "
                       f"{root}, {root / spec['bin']}, {root / spec['py']}); {hint}")


def read_cifar_binary(path: str | Path, label_bytes: int, label_index: int) -> tuple[np.ndarray, np.ndarray]:
    """Parse one binary-version batch: ``label_bytes`` label bytes then 3072 pixel bytes per record.

    Returns:
        uint8 images ``[n, 3, 32, 32]`` and int64 labels ``[n]`` (the byte at ``label_index``).

    Raises:
        DatasetError: unreadable file, or a size that is not a whole number of records.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read CIFAR batch: {exc}") from exc
    record = label_bytes + _PIXELS
    if not data or len(data) % record:
        raise DatasetError(f"{path}: {len(data)} bytes is not a whole number of {record}-byte CIFAR "
                           "records (truncated or not a CIFAR binary batch)")
    rows = np.frombuffer(data, dtype=np.uint8).reshape(-1, record)
    return rows[:, label_bytes:].reshape(-1, 3, 32, 32).copy(), rows[:, label_index].astype(np.int64)


def _text_keys(obj: Any) -> Any:
    """Python-2 pickles read with latin-1 have str keys; ones written with bytes keys are decoded."""
    return {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in obj.items()}


def _unpickle(path: Path) -> dict:
    try:
        with path.open("rb") as f:
            obj = safe_load(f, source=str(path))
    except UnsafePickleError:
        raise
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, KeyError) as exc:
        raise DatasetError(f"{path}: cannot read CIFAR python batch: {exc}") from exc
    if not isinstance(obj, dict):
        raise DatasetError(f"{path}: expected a dict, got {type(obj).__name__}")
    return _text_keys(obj)


def read_cifar_pickle(path: str | Path, label_key: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one python-version batch with the restricted unpickler.

    Returns:
        uint8 images ``[n, 3, 32, 32]`` and int64 labels ``[n]`` from ``batch[label_key]``.

    Raises:
        DatasetError: unreadable or malformed file (not a dict, ``data`` not uint8 ``[n, 3072]``, labels
            missing, not integers or of another length); :class:`~snnc.errors.UnsafePickleError` for a
            pickle that names a global outside the allow-list.
    """
    path = Path(path)
    batch = _unpickle(path)
    data = batch.get("data")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != _PIXELS:
        raise DatasetError(f"{path}: 'data' must be a uint8 [n, {_PIXELS}] array, got "
                           f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}")
    if label_key not in batch:
        raise DatasetError(f"{path}: no {label_key!r} entry (keys: {sorted(map(str, batch))})")
    raw = batch[label_key]
    if isinstance(raw, np.ndarray):
        ok = raw.dtype.kind in "iu"
    else:
        ok = isinstance(raw, (list, tuple)) and all(isinstance(v, (int, np.integer)) for v in raw)
    labels = np.asarray(raw, dtype=np.int64) if ok else None
    if labels is None or labels.shape != (len(data),):
        raise DatasetError(f"{path}: {label_key!r} must be {len(data)} integers")
    return data.reshape(-1, 3, 32, 32).copy(), labels


def _names(layout: str, folder: Path, dataset: str, kind: str, classes: int) -> tuple[str, ...]:
    """Class names from the meta file if present and well-formed, else defaults."""
    names: list[str] = []
    if layout == "binary":
        file = folder / ("batches.meta.txt" if dataset == "cifar10" else f"{kind}_label_names.txt")
        if file.is_file():
            names = [line.strip() for line in file.read_text(errors="replace").splitlines() if line.strip()]
    else:
        file = folder / ("batches.meta" if dataset == "cifar10" else "meta")
        if file.is_file():
            raw = _unpickle(file).get("label_names" if dataset == "cifar10" else f"{kind}_label_names")
            if isinstance(raw, list):
                names = [n.decode("latin1") if isinstance(n, bytes) else str(n) for n in raw]
    if len(names) == classes:
        return tuple(names)
    return CIFAR10_CLASSES if dataset == "cifar10" else tuple(str(i) for i in range(classes))


def _load(dataset: str, root: str | Path | None, kind: str) -> Dataset:
    layout, folder = find_cifar(root, dataset)
    spec = _SPEC[dataset]
    classes = {"labels": 10, "fine": 100, "coarse": 20}[kind]
    parts = {}
    for part in ("train", "test"):
        images, labels = [], []
        for stem in spec[part]:
            file = folder / (f"{stem}.bin" if layout == "binary" else stem)
            if not file.is_file():
                raise DatasetError(f"{folder}: missing {dataset} batch {file.name}")
            if layout == "binary":
                x, y = read_cifar_binary(file, *((1, 0) if dataset == "cifar10" else
                                                 (2, 1 if kind == "fine" else 0)))
            else:
                x, y = read_cifar_pickle(file, "labels" if dataset == "cifar10" else f"{kind}_labels")
            if len(y) and (y.min() < 0 or y.max() >= classes):
                raise DatasetError(f"{file}: labels span [{y.min()}, {y.max()}], outside [0, {classes})")
            images.append(x)
            labels.append(y)
        parts[part] = (scale_pixels(np.concatenate(images)), np.concatenate(labels))
    return Dataset(dataset, *parts["train"], *parts["test"], classes=classes,
                   class_names=_names(layout, folder, dataset, kind, classes), source=str(folder))


def load_cifar10(root: str | Path | None) -> Dataset:
    """CIFAR-10, 50 000 train / 10 000 test, ``[N, 3, 32, 32]``, 10 classes, from ``root`` (see module doc).

    Raises:
        DatasetError: ``root`` missing or without CIFAR-10 batches (says where to get them), a missing or
            malformed batch file, or an unsafe python-version pickle.
    """
    return _load("cifar10", root, "labels")


def load_cifar100(root: str | Path | None, labels: str = "fine") -> Dataset:
    """CIFAR-100, 50 000 train / 10 000 test, ``[N, 3, 32, 32]``, from ``root`` (see module doc).

    Args:
        labels: ``"fine"`` (100 classes, default) or ``"coarse"`` (20 superclasses).

    Raises:
        DatasetError: as :func:`load_cifar10`, or ``labels`` not fine/coarse.
    """
    if labels not in ("fine", "coarse"):
        raise DatasetError(f"cifar100 labels must be 'fine' or 'coarse', got {labels!r}")
    return _load("cifar100", root, labels)
