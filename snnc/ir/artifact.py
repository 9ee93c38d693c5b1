"""The ``.snnir`` artifact: one file holding a graph, its weights and a manifest of checksums.

Format ``snnc-ir``, version 1 (this docstring is the specification)
-------------------------------------------------------------------
A ZIP archive (stdlib :mod:`zipfile`; every entry dated 1980-01-01 so that the same graph always
gives the same bytes) with these members:

``manifest.json`` (deflated, UTF-8 JSON object)
    ``format``: ``"snnc-ir"``; ``format_version``: ``1``; ``snnc_version``: the writer's
    ``snnc.__version__``; ``created_by``: ``"snnc <version> (snnc.ir.artifact.save)"``;
    ``members``: for every other member, ``{"sha256": <hex digest>, "size": <bytes>}``.
``graph.json`` (deflated, UTF-8 JSON)
    :func:`snnc.ir.serialize.graph_to_dict` of the graph: meta, nodes in order (name, op, attrs,
    shape, loc, param references ``"<node>/<param>"`` with dtype and shape), edges in order
    (src, dst, port, delay, kind). Tuples and non-finite floats are tagged (see that module).
``weights.npz`` (stored)
    A standard NumPy ``.npz`` archive, one ``<node>/<param>.npy`` per param, float dtypes only,
    laid out as ``np.savez`` does but written member by member with fixed dates and
    ``numpy.lib.format.write_array(allow_pickle=False)``; read with
    ``np.load(allow_pickle=False)``: no pickle on either side.
``extra.json`` (deflated, optional)
    Caller metadata (training settings, accuracy, ...) from ``save(..., extra=...)``, encoded like
    graph meta.

No other member may appear. Readers check, in order: the file exists and is a readable ZIP;
``manifest.json`` parses; ``format`` is ``"snnc-ir"``; ``format_version`` is not newer than
:data:`FORMAT_VERSION`; every listed member is present with the recorded size and SHA-256; the
graph data and arrays agree (no array missing, extra, or of another dtype or shape); the graph
passes :func:`snnc.ir.verify`. Any failure raises :class:`~snnc.errors.ArtifactError` whose message
starts with the file's path.

Stability: the member name ``manifest.json`` and its keys ``format`` and ``format_version`` never
change. Any other change a version-1 reader would misread (new required member, renamed field,
changed meaning) increments ``format_version``; snnc reads every version up to its own and refuses
newer ones with "upgrade snnc". Files are reproducible: the same graph, ``extra`` and snnc
version (and zlib) give the same bytes (so a file's sha256 can key a cache).

Writes are atomic: the archive goes to a temporary file ``.<name>.<random>.tmp`` in the
destination folder, is flushed and fsynced, then renamed over the destination with
:func:`os.replace`; on any failure the temporary file is removed and the destination is untouched.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..atomic import atomic_write
from ..errors import ArtifactError, GraphError
from ..limits import Limits, resolve
from ..readlimit import format_bytes, max_bytes
from .graph import Graph
from .serialize import (check_param_dtypes, from_json_value, graph_arrays, graph_from_dict,
                        graph_to_dict, to_json_value)
from .verify import verify as verify_graph

FORMAT = "snnc-ir"
FORMAT_VERSION = 1
MANIFEST, GRAPH, WEIGHTS, EXTRA = "manifest.json", "graph.json", "weights.npz", "extra.json"
_DATE = (1980, 1, 1, 0, 0, 0)  # earliest ZIP date: fixed, so output is reproducible
# What a damaged archive can raise from zipfile/zlib/numpy while being read.
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError,
                NotImplementedError, RuntimeError)


def save(graph: Graph, path: str | os.PathLike, *, extra: dict[str, Any] | None = None,
         verify: bool = True) -> Path:
    """Write ``graph`` (and optional JSON-able ``extra`` metadata) to ``path`` atomically.

    With ``verify`` (default) the graph is verified first (in place: attribute defaults and shapes
    are filled in), so every saved file loads. Returns the path written.

    Raises:
        ArtifactError: the graph fails verification, holds something the format cannot store
            (a non-float param, a meta value JSON cannot hold), or the file cannot be written;
            the message names the file. The destination is then untouched.
    """
    path = Path(path)
    try:
        check_param_dtypes(graph)  # before verify, which assumes numeric params
        if verify:
            verify_graph(graph)
        members = {GRAPH: _json_bytes(graph_to_dict(graph)),
                   WEIGHTS: _npz_bytes(graph_arrays(graph))}
        if extra is not None:
            if not isinstance(extra, dict):
                raise ArtifactError(f"extra must be a dict, got {type(extra).__name__}")
            members[EXTRA] = _json_bytes(to_json_value(dict(extra), "extra"))
    except (ArtifactError, GraphError) as exc:
        raise ArtifactError(f"{path}: cannot save: {exc}") from None
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "snnc_version": __version__,
                "created_by": f"snnc {__version__} (snnc.ir.artifact.save)",
                "members": {k: {"sha256": hashlib.sha256(v).hexdigest(), "size": len(v)}
                            for k, v in members.items()}}
    _write_atomic(path, {MANIFEST: _json_bytes(manifest), **members})
    return path


def load(path: str | os.PathLike, *, verify: bool = True,
         limits: Limits | dict | str | None = None) -> Graph:
    """Read a ``.snnir`` file back into a :class:`Graph` (verified unless ``verify=False``).

    Every JSON member is checked for its nesting depth and field types, and the graph is
    verified with the sizes of ``limits`` (see :func:`snnc.limits.resolve`; default: the
    environment's) and every attribute range of its ops, so no backend sees a crafted threshold of
    NaN, a padding of 1e9 or a ``T`` of 0.

    float64 params come back bit-exact, float32 ones stay float32.

    Raises:
        ArtifactError: ``"<path>: <fault>"`` for a missing file, a file that is not a ZIP or is
            truncated, a missing or corrupt member (checksum mismatch), invalid JSON, another
            format or a newer ``format_version``, params missing, extra or of the wrong shape, or a
            graph that fails verification.
    """
    path = Path(path)
    _, blobs = _read(path)
    data = _parse_json(path, GRAPH, blobs[GRAPH])
    weights = blobs[WEIGHTS]
    if weights[:4] not in (b"PK\x03\x04", b"PK\x05\x06"):  # else np.load would try other formats
        raise ArtifactError(f"{path}: {WEIGHTS} is not a .npz archive")
    try:
        with np.load(io.BytesIO(weights), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except _READ_ERRORS as exc:
        raise ArtifactError(f"{path}: {WEIGHTS} is unreadable: {exc}") from None
    try:
        graph = graph_from_dict(data, arrays)
    except ArtifactError as exc:
        raise ArtifactError(f"{path}: {exc}") from None
    if verify:
        try:
            verify_graph(graph, limits=resolve(limits))
        except GraphError as exc:
            raise ArtifactError(f"{path}: the stored graph is invalid: {exc}") from None
    return graph


def read_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """The manifest of a ``.snnir`` file (format, versions, member checksums), after the checks of
    :func:`load` up to and including the checksums; ArtifactError as there."""
    return _read(Path(path))[0]


def read_extra(path: str | os.PathLike) -> dict[str, Any]:
    """The ``extra`` metadata saved with the graph (``{}`` if none); ArtifactError as in
    :func:`load`."""
    path = Path(path)
    _, blobs = _read(path)
    if EXTRA not in blobs:
        return {}
    try:
        return from_json_value(_parse_json(path, EXTRA, blobs[EXTRA]), "extra")
    except ArtifactError as exc:
        raise ArtifactError(f"{path}: {EXTRA}: {exc}") from None


# ----------------------------------------------------------------- writing
def _json_bytes(obj) -> bytes:
    # allow_nan=False: non-finite floats are tagged upstream, so the JSON stays standard.
    return json.dumps(obj, indent=1, ensure_ascii=False, allow_nan=False).encode("utf-8")


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A .npz archive (what ``np.savez`` writes) with fixed dates and pickling refused."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for key, arr in arrays.items():
            with zf.open(_info(key + ".npy"), "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.asanyarray(arr), allow_pickle=False)
    return buf.getvalue()


def _info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, _DATE)
    info.external_attr = 0o644 << 16  # rw-r--r-- when someone unzips the file to look inside
    return info


def _write_atomic(path: Path, members: dict[str, bytes]) -> None:
    """Write the archive to a temporary file beside ``path``, fsync, rename over ``path``."""

    def write(fh):
        with zipfile.ZipFile(fh, "w") as zf:
            for name, data in members.items():
                kind = zipfile.ZIP_STORED if name == WEIGHTS else zipfile.ZIP_DEFLATED
                zf.writestr(_info(name), data, compress_type=kind)

    try:
        atomic_write(path, write)
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot write: {exc.strerror or exc}") from None


# ----------------------------------------------------------------- reading
def _open(path: Path) -> zipfile.ZipFile:
    if not path.exists():
        raise ArtifactError(f"{path}: no such file")
    if path.is_dir():
        raise ArtifactError(f"{path}: is a directory, expected a .snnir file")
    if not path.is_file():  # /dev/zero, a FIFO: zipfile would seek and read without end
        raise ArtifactError(f"{path}: not a regular file, expected a .snnir file")
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, NotImplementedError, ValueError, EOFError, zlib.error):
        # NotImplementedError: a damaged directory can claim an unknown zip version
        raise ArtifactError(f"{path}: not a .snnir artifact (not a ZIP archive, or "
                            f"truncated)") from None
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot read: {exc.strerror or exc}") from None


def _member(zf: zipfile.ZipFile, path: Path, name: str) -> bytes:
    """The bytes of member ``name``; ArtifactError if it is missing, damaged or larger than
    ``SNNC_MAX_ARTIFACT_BYTES`` (default 4 GiB; see :mod:`snnc.readlimit`)."""
    try:
        limit = max_bytes("artifact")
        with zf.open(name) as fh:  # the ZIP header's size can lie; read at most limit + 1 bytes
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise ArtifactError(f"{path}: member {name} is larger than the "
                                f"{format_bytes(limit)} snnc reads for an artifact part; set "
                                f"SNNC_MAX_ARTIFACT_BYTES (e.g. 16G) to allow larger parts")
        return data
    except KeyError:
        if name == MANIFEST:  # e.g. a truncated file whose last ZIP directory is weights.npz's
            raise ArtifactError(f"{path}: missing member {name}: not a .snnir artifact, or "
                                f"truncated") from None
        raise ArtifactError(f"{path}: missing member {name}; the file is incomplete") from None
    except _READ_ERRORS as exc:  # zipfile checks each member's CRC-32 as it reads
        why = str(exc) or type(exc).__name__
        raise ArtifactError(f"{path}: member {name} is corrupt ({why})") from None


#: Deepest nesting of arrays and objects a member may hold; the format itself needs 6 (meta
#: values are scalars, short lists and small dicts), and readers recurse.
MAX_JSON_DEPTH = 32


def _parse_json(path: Path, name: str, data: bytes):
    depth = _nesting(data)
    if depth > MAX_JSON_DEPTH:
        raise ArtifactError(f"{path}: {name} nests arrays/objects {depth} deep; the format allows "
                            f"{MAX_JSON_DEPTH}")
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ArtifactError(f"{path}: {name} is not valid JSON ({str(exc)[:200]})") from None


def _nesting(data: bytes) -> int:
    """Deepest ``[``/``{`` nesting of a JSON text, brackets inside strings skipped; counted without
    recursion, before the parser (which recurses) sees the text."""
    depth = deepest = 0
    for m in _BRACKETS.finditer(_STRINGS.sub(b"", data)):
        if m.group() in b"[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_JSON_DEPTH:
                    break
        else:
            depth -= 1
    return deepest


_STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)
_BRACKETS = re.compile(rb"[\[\]{}]")


def _read(path: Path) -> tuple[dict, dict[str, bytes]]:
    """The checked manifest and the bytes of every member it lists, each checked against its
    recorded size and SHA-256."""
    with _open(path) as zf:
        m = _parse_json(path, MANIFEST, _member(zf, path, MANIFEST))
        _check_manifest(path, m, zf.namelist())
        blobs = {name: _member(zf, path, name) for name in m["members"]}
    for name, data in blobs.items():
        rec = m["members"][name]
        digest = hashlib.sha256(data).hexdigest()
        if len(data) != rec.get("size") or digest != rec.get("sha256"):
            raise ArtifactError(f"{path}: checksum mismatch in {name} (sha256 {digest[:12]}..., "
                                f"manifest says {str(rec.get('sha256'))[:12]}...); the file is "
                                f"corrupt")
    return m, blobs


def _check_manifest(path: Path, m, names: list[str]) -> None:
    """Format name, version (refusing newer ones), and a members table naming every member."""
    got = m.get("format") if isinstance(m, dict) else None
    if got != FORMAT:
        raise ArtifactError(f"{path}: not a .snnir artifact (format {got!r}, expected {FORMAT!r})")
    version = m.get("format_version")
    if type(version) is not int or version < 1:
        raise ArtifactError(f"{path}: invalid format_version {version!r} in {MANIFEST}")
    if version > FORMAT_VERSION:
        raise ArtifactError(f"{path}: was written by a newer snnc (format {version}, snnc "
                            f"{m.get('snnc_version', '?')}); this snnc ({__version__}) reads "
                            f"format {FORMAT_VERSION} — upgrade snnc")
    members = m.get("members")
    if not isinstance(members, dict) or not all(isinstance(v, dict) for v in members.values()):
        raise ArtifactError(f"{path}: {MANIFEST} has no valid 'members' table")
    for required in (GRAPH, WEIGHTS):
        if required not in members:
            raise ArtifactError(f"{path}: {MANIFEST} does not list {required}")
    unknown = sorted((set(names) | set(members)) - {MANIFEST, GRAPH, WEIGHTS, EXTRA})
    unlisted = sorted(set(names) - set(members) - {MANIFEST})
    if unknown or unlisted:
        shown = ", ".join(map(repr, unknown or unlisted))
        raise ArtifactError(f"{path}: unexpected member(s) {shown}; "
                            f"format {FORMAT_VERSION} has {GRAPH}, {WEIGHTS} and {EXTRA} only")
