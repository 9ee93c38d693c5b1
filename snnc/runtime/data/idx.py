"""IDX files (the MNIST / Fashion-MNIST container), plain or gzipped.

Layout (http://yann.lecun.com/exdb/mnist/): two zero bytes, a type code, the number of dimensions
``ndim``, then ``ndim`` big-endian uint32 sizes, then the data in C order, big-endian.

=========  ==========
type code  numpy dtype
=========  ==========
``0x08``   uint8
``0x09``   int8
``0x0B``   >i2 (int16)
``0x0C``   >i4 (int32)
``0x0D``   >f4 (float32)
``0x0E``   >f8 (float64)
=========  ==========

A file whose first two bytes are ``1f 8b`` is gunzipped first, whatever its name.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np

from snnc.errors import DatasetError
from snnc.runtime.data.base import Dataset, scale_pixels

__all__ = ["IDX_DTYPES", "parse_idx", "read_idx", "write_idx"]

#: IDX type code -> numpy dtype (big-endian, as stored).
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def parse_idx(data: bytes, source: str = "<idx>") -> np.ndarray:
    """Decode the bytes of one (already gunzipped) IDX file.

    Returns:
        The array, shape as declared in the header, dtype in native byte order (uint8 for images and
        labels).

    Raises:
        DatasetError: naming ``source`` and the fault — shorter than its header, a bad magic number
            (first two bytes not zero), an unknown type code, zero dimensions, or a data size that does
            not match the declared sizes (truncated file or trailing bytes).
    """
    if len(data) < 4:
        raise DatasetError(f"{source}: not an IDX file: {len(data)} bytes, shorter than the 4-byte magic")
    zero0, zero1, code, ndim = data[0], data[1], data[2], data[3]
    if zero0 != 0 or zero1 != 0:
        raise DatasetError(f"{source}: not an IDX file: magic number {data[:4].hex()} does not start "
                           "with two zero bytes")
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise DatasetError(f"{source}: unknown IDX type code 0x{code:02X} (known: {known})")
    if ndim == 0:
        raise DatasetError(f"{source}: IDX header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{source}: truncated IDX header: {ndim} dimensions need {header} bytes, "
                           f"file has {len(data)}")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = IDX_DTYPES[code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header
    if actual != expected:
        what = "truncated" if actual < expected else "trailing bytes after the data"
        raise DatasetError(f"{source}: IDX data size mismatch ({what}): header shape {tuple(shape)} "
                           f"of {dtype.name} needs {expected} bytes, file has {actual}")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file (gzipped or not) from ``path``.

    Raises:
        DatasetError: the file cannot be read, is a corrupt gzip stream, or is a malformed IDX file
            (see :func:`parse_idx`); the message names the file.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
        if data[:2] == _GZIP_MAGIC:
            data = gzip.decompress(data)
    except OSError as exc:  # includes gzip.BadGzipFile and truncated gzip (EOFError is handled below)
        raise DatasetError(f"{path}: cannot read IDX file: {exc}") from exc
    except (EOFError, zlib.error) as exc:
        raise DatasetError(f"{path}: corrupt gzip stream: {exc}") from exc
    return parse_idx(data, source=str(path))


def write_idx(path: str | os.PathLike[str], array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file; gzip it when ``compress`` is true (default: name ends in ``.gz``).

    Raises:
        DatasetError: the dtype has no IDX type code, the array is 0-d, or a size exceeds 2**32 - 1.
    """
    path = Path(path)
    array = np.asarray(array)
    code = next((c for c, dt in IDX_DTYPES.items() if dt == array.dtype.newbyteorder(">")), None)
    if code is None:
        raise DatasetError(f"{path}: dtype {array.dtype} has no IDX type code")
    if array.ndim == 0 or array.ndim > 255 or any(s > 0xFFFFFFFF for s in array.shape):
        raise DatasetError(f"{path}: shape {array.shape} cannot be stored in IDX")
    body = np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    data = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + body
    if compress if compress is not None else path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


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
