"""CIFAR-10/100 from tiny fake folders in both official layouts (binary records, python pickles)."""
import os
import pickle

import numpy as np
import pytest

from snnc.errors import DatasetError, UnsafePickleError
from snnc.runtime.data.cifar import CIFAR10_CLASSES, find_cifar, load_cifar10, load_cifar100
from snnc.runtime.data import load_dataset

N_TRAIN, N_TEST = 3, 4  # images per training batch file, test file


def fake_batches(dataset, seed=0):
    """{stem: (uint8 [n, 3072] pixels, labels)} with labels a dict of label kinds."""
    rng = np.random.default_rng(seed)
    stems = ([f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"] if dataset == "cifar10"
             else ["train", "test"])
    out = {}
    for stem in stems:
        n = N_TEST if stem.startswith("test") else N_TRAIN
        pixels = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = ({"labels": rng.integers(0, 10, n)} if dataset == "cifar10" else
                  {"fine": rng.integers(0, 100, n), "coarse": rng.integers(0, 20, n)})
        out[stem] = (pixels, labels)
    return out


def write_binary(folder, dataset, batches):
    folder.mkdir(parents=True, exist_ok=True)
    for stem, (pixels, labels) in batches.items():
        label_cols = ([labels["labels"]] if dataset == "cifar10" else [labels["coarse"], labels["fine"]])
        rows = np.concatenate([np.stack(label_cols, 1).astype(np.uint8), pixels], axis=1)
        (folder / f"{stem}.bin").write_bytes(rows.tobytes())
    if dataset == "cifar10":
        (folder / "batches.meta.txt").write_text("\n".join(CIFAR10_CLASSES) + "\n\n")
    else:
        (folder / "fine_label_names.txt").write_text("\n".join(f"fine{i}" for i in range(100)))
        (folder / "coarse_label_names.txt").write_text("\n".join(f"coarse{i}" for i in range(20)))


def write_python(folder, dataset, batches, bytes_keys=True, protocol=2):
    """Like the official Python-2 pickles; bytes keys as ``pickle.load(f, encoding='bytes')`` sees them."""
    key = (lambda k: k.encode()) if bytes_keys else (lambda k: k)  # noqa: E731
    folder.mkdir(parents=True, exist_ok=True)
    for stem, (pixels, labels) in batches.items():
        batch = {key("batch_label"): f"{stem} of 1".encode(), key("data"): pixels,
                 key("filenames"): [b"x.png"] * len(pixels)}
        for kind, values in labels.items():
            batch[key(kind if kind == "labels" else f"{kind}_labels")] = values.tolist()
        (folder / stem).write_bytes(pickle.dumps(batch, protocol=protocol))
    meta = ({key("label_names"): [n.encode() for n in CIFAR10_CLASSES]} if dataset == "cifar10" else
            {key("fine_label_names"): [f"fine{i}" for i in range(100)],
             key("coarse_label_names"): [f"coarse{i}" for i in range(20)]})
    (folder / ("batches.meta" if dataset == "cifar10" else "meta")).write_bytes(
        pickle.dumps(meta, protocol=protocol))


def expected(batches, kind):
    train = [v for k, v in batches.items() if not k.startswith("test")]
    test = [v for k, v in batches.items() if k.startswith("test")]
    join = lambda parts: (np.concatenate([p for p, _ in parts]).reshape(-1, 3, 32, 32),  # noqa: E731
                          np.concatenate([lab[kind] for _, lab in parts]))
    return join(train), join(test)


def check(ds, batches, kind, classes):
    (train_x, train_y), (test_x, test_y) = expected(batches, kind)
    assert ds.train_x.shape == (len(train_y), 3, 32, 32) and ds.train_x.dtype == np.float32
    assert ds.input_shape == (3, 32, 32) and ds.classes == classes and len(ds.mean) == 3
    np.testing.assert_array_equal(ds.train_x, train_x / np.float32(255))
    np.testing.assert_array_equal(ds.test_x, test_x / np.float32(255))
    assert ds.train_y.dtype == np.int64
    np.testing.assert_array_equal(ds.train_y, train_y)
    np.testing.assert_array_equal(ds.test_y, test_y)


@pytest.mark.parametrize("layout", ["binary", "python", "python-str-keys", "python-protocol-4"])
def test_cifar10_layouts(tmp_path, layout):
    batches = fake_batches("cifar10")
    if layout == "binary":
        write_binary(tmp_path / "cifar-10-batches-bin", "cifar10", batches)
    else:
        write_python(tmp_path / "cifar-10-batches-py", "cifar10", batches,
                     bytes_keys=layout != "python-str-keys", protocol=4 if "4" in layout else 2)
    ds = load_dataset("cifar10", root=tmp_path)
    check(ds, batches, "labels", 10)
    assert ds.class_names == CIFAR10_CLASSES and len(ds.train_y) == 5 * N_TRAIN


@pytest.mark.parametrize("writer", [write_binary, write_python])
@pytest.mark.parametrize("kind, classes", [("fine", 100), ("coarse", 20)])
def test_cifar100_layouts(tmp_path, writer, kind, classes):
    batches = fake_batches("cifar100")
    folder = tmp_path / ("cifar-100-binary" if writer is write_binary else "cifar-100-python")
    writer(folder, "cifar100", batches)
    ds = load_cifar100(folder, labels=kind)  # the batches folder itself also works as root
    check(ds, batches, kind, classes)
    assert ds.class_names[:2] == (f"{kind}0", f"{kind}1")


def test_binary_preferred_and_layout_detection(tmp_path):
    write_python(tmp_path / "cifar-10-batches-py", "cifar10", fake_batches("cifar10", seed=1))
    assert find_cifar(tmp_path, "cifar10") == ("python", tmp_path / "cifar-10-batches-py")
    write_binary(tmp_path / "cifar-10-batches-bin", "cifar10", fake_batches("cifar10", seed=2))
    assert find_cifar(tmp_path, "cifar10") == ("binary", tmp_path / "cifar-10-batches-bin")


def test_missing_data_says_where_to_get_it(tmp_path):
    with pytest.raises(DatasetError, match=r"https://www\.cs\.toronto\.edu/~kriz/cifar\.html"):
        load_cifar10(None)
    with pytest.raises(DatasetError, match="no cifar100 batches found"):
        load_cifar100(tmp_path)
    write_binary(tmp_path, "cifar10", fake_batches("cifar10"))
    (tmp_path / "data_batch_4.bin").unlink()
    with pytest.raises(DatasetError, match="missing cifar10 batch data_batch_4.bin"):
        load_cifar10(tmp_path)
    with pytest.raises(DatasetError, match="'fine' or 'coarse'"):
        load_cifar100(tmp_path, labels="medium")


def test_malformed_binary_batch(tmp_path):
    write_binary(tmp_path, "cifar10", fake_batches("cifar10"))
    path = tmp_path / "test_batch.bin"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DatasetError, match=r"test_batch\.bin: .* not a whole number of 3073-byte"):
        load_cifar10(tmp_path)
    write_binary(tmp_path, "cifar10", fake_batches("cifar10"))
    data = bytearray(path.read_bytes())
    data[0] = 10  # label 10 in a 10-class dataset
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=r"labels span \[\d+, 10\], outside \[0, 10\)"):
        load_cifar10(tmp_path)


def test_malformed_python_batch(tmp_path):
    write_python(tmp_path, "cifar10", fake_batches("cifar10"))
    path = tmp_path / "data_batch_2"
    for batch, message in [([1, 2], "expected a dict, got list"),
                           ({b"data": np.zeros((3, 3072), np.float32), b"labels": [0, 0, 0]},
                            "'data' must be a uint8"),
                           ({b"data": np.zeros((3, 3072), np.uint8)}, "no 'labels' entry"),
                           ({b"data": np.zeros((3, 3072), np.uint8), b"labels": [0, 1]},
                            "must be 3 integers"),
                           ({b"data": np.zeros((3, 3072), np.uint8), b"labels": ["a", "b", "c"]},
                            "must be 3 integers")]:
        path.write_bytes(pickle.dumps(batch, protocol=2))
        with pytest.raises(DatasetError, match=message):
            load_cifar10(tmp_path)
    path.write_bytes(b"\x80\x02}q\x00")  # truncated pickle
    with pytest.raises(DatasetError, match="cannot read CIFAR python batch"):
        load_cifar10(tmp_path)


def test_python_batch_cannot_run_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {tmp_path / 'pwned'}",)

    write_python(tmp_path, "cifar10", fake_batches("cifar10"))
    (tmp_path / "data_batch_3").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}, protocol=2))
    with pytest.raises(UnsafePickleError, match=r"data_batch_3: refusing to load pickle global"):
        load_cifar10(tmp_path)
    assert not (tmp_path / "pwned").exists()
