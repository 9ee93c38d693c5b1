"""The restricted unpickler rebuilds numpy data and refuses every other global before calling it."""
import builtins
import codecs
import io
import os
import pickle
import subprocess

import numpy as np
import pytest

from snnc.errors import DatasetError, UnsafePickleError
from snnc.runtime.data.safe_pickle import safe_load, safe_loads


class Reduce:
    """Pickles as ``func(*args)``: the shape of every pickle exploit."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


@pytest.mark.parametrize("protocol", range(2, pickle.HIGHEST_PROTOCOL + 1))
def test_numpy_data_round_trips(protocol):
    obj = {"data": np.arange(12, dtype=np.uint8).reshape(3, 4), "labels": [1, 2, 3],
           b"raw": b"\x00\xff", "f": np.linspace(0, 1, 5, dtype=np.float32), "t": (1.5, None, True),
           "scalar": np.int64(7), "i2": np.arange(3, dtype=np.int16)}
    back = safe_loads(pickle.dumps(obj, protocol=protocol))
    assert back.keys() == obj.keys()
    for key, value in obj.items():
        if isinstance(value, np.ndarray):
            assert back[key].dtype == value.dtype
            np.testing.assert_array_equal(back[key], value)
        else:
            assert back[key] == value


def test_os_system_is_refused_before_it_runs(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps(Reduce(os.system, f"touch {marker}"))
    with pytest.raises(UnsafePickleError, match=r"refusing to load pickle global (posix|nt)\.system"):
        safe_loads(payload, source="evil.pkl")
    assert not marker.exists()
    assert issubclass(UnsafePickleError, DatasetError)


@pytest.mark.parametrize("func, args", [
    (builtins.eval, ("1 + 1",)),
    (builtins.getattr, (1, "real")),
    (subprocess.Popen, (["true"],)),
    (np.load, ("x.npy",)),
    (io.FileIO, ("/etc/passwd",)),
])
def test_other_callables_are_refused(func, args):
    with pytest.raises(UnsafePickleError, match="refusing to load pickle global"):
        safe_loads(pickle.dumps(Reduce(func, *args)))


def test_payload_nested_inside_data_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    obj = {"data": np.zeros((2, 3072), np.uint8), "labels": [Reduce(os.system, f"touch {marker}")]}
    with pytest.raises(UnsafePickleError, match="system"):
        safe_loads(pickle.dumps(obj))
    assert not marker.exists()


def test_codecs_encode_only_latin1():
    assert safe_loads(pickle.dumps(b"\x00\xffab", protocol=2)) == b"\x00\xffab"
    with pytest.raises(UnsafePickleError, match="only latin-1"):
        safe_loads(pickle.dumps(Reduce(codecs.encode, "abc", "utf-16"), protocol=2))


def test_persistent_ids_are_refused():
    class Persisting(pickle.Pickler):
        def persistent_id(self, obj):
            return "ref" if obj == "secret" else None

    buf = io.BytesIO()
    Persisting(buf).dump(["secret"])
    with pytest.raises(UnsafePickleError, match="persistent id"):
        safe_load(io.BytesIO(buf.getvalue()))
