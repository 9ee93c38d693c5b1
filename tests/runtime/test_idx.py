"""IDX reader/writer: exact round trips for every type code, every malformed header named with the file."""
import gzip
import struct

import numpy as np
import pytest

from snnc.errors import DatasetError
from snnc.runtime.data.idx import IDX_DTYPES, parse_idx, read_idx, write_idx


@pytest.mark.parametrize("code", sorted(IDX_DTYPES))
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_round_trip_every_type(tmp_path, code, suffix):
    rng = np.random.default_rng(code)
    array = (rng.standard_normal((3, 4, 5)) * 50).astype(IDX_DTYPES[code].newbyteorder("="))
    path = write_idx(tmp_path / f"a{suffix}", array)
    back = read_idx(path)
    assert back.dtype == array.dtype and back.dtype.isnative
    np.testing.assert_array_equal(back, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == (suffix == ".gz")


def test_header_layout_is_big_endian():
    data = bytes([0, 0, 0x0C, 2]) + struct.pack(">2I", 1, 2) + struct.pack(">2i", -1, 258)
    np.testing.assert_array_equal(parse_idx(data), np.array([[-1, 258]], dtype=np.int32))


def test_gzip_detected_by_content_not_name(tmp_path):
    path = tmp_path / "labels-idx1-ubyte"  # no .gz suffix, gzipped content
    path.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9])))
    np.testing.assert_array_equal(read_idx(path), [7, 8, 9])


def header(code=8, ndim=1, *shape):
    return bytes([0, 0, code, ndim]) + struct.pack(f">{len(shape)}I", *shape)


@pytest.mark.parametrize("data, message", [
    (b"\x00\x00", "shorter than the 4-byte magic"),
    (b"\x01\x00\x08\x01" + struct.pack(">I", 0), "magic number 01000801"),
    (header(0x0A, 1, 1) + b"\x00", "unknown IDX type code 0x0A"),
    (header(8, 0), "0 dimensions"),
    (header(8, 3, 2, 2), "truncated IDX header"),
    (header(8, 2, 2, 3) + bytes(5), r"truncated\): header shape \(2, 3\)"),
    (header(8, 1, 2) + bytes(3), "trailing bytes"),
    (header(0x0D, 1, 2) + bytes(4), "float32 needs 8 bytes, file has 4"),
])
def test_malformed_files_are_named(tmp_path, data, message):
    path = tmp_path / "bad-idx"
    path.write_bytes(data)
    with pytest.raises(DatasetError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_corrupt_gzip(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(header(8, 1, 100) + bytes(100))[:30])
    with pytest.raises(DatasetError, match="x.gz"):
        read_idx(path)


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="cannot read IDX file"):
        read_idx(tmp_path / "absent")


def test_write_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(DatasetError, match="no IDX type code"):
        write_idx(tmp_path / "a", np.zeros(3, dtype=np.int64))
