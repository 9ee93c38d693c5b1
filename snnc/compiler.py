"""The driver: genome (text or AST) -> frontend -> a target's passes -> verified IR (-> artifact).

Example::

    >>> from snnc.compiler import compile_genome, prepare
    >>> result = compile_genome(open("examples/tanet-tiny.genome").read(), target="lava")
    >>> result.graph            # folded for Lava, verified Graph
    >>> result.records          # what each pass changed, with timings
    >>> g, _ = prepare(graph, "energy")   # any graph, for any target of the table

The target table (which passes each consumer needs: ``train``, ``energy``, ``lava``, ``nir``,
``onnx``) is :data:`snnc.passes.targets.TARGETS`; :func:`prepare` is the one way to use it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .errors import ArtifactError, GenomeSyntaxError, LimitError, SnncError
from .genome import Genome, genome_id, parse
from .frontend import lower
from .ir import Graph, verify
from .limits import Limits, resolve
from .passes import PassManager, parse_pipeline
from .passes.targets import TARGETS, get_target, prepare
from .readlimit import read_bytes

__all__ = ["CompileResult", "TARGETS", "compile_file", "compile_genome", "is_artifact",
           "load_model", "prepare", "read_text"]


@dataclass
class CompileResult:
    """What :func:`compile_genome` produced: the genome, the final graph, the pass records and the
    wall time of each phase in ms (``parse``, ``lower``, ``verify``, ``passes``)."""

    genome: Genome
    graph: Graph
    records: list = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)


def compile_genome(source: str | Genome, *, target: str = "lava", passes: str | None = None,
                   seed: int = 0, filename: str = "<genome>",
                   hook: Callable | None = None,
                   limits: Limits | dict | str | None = None) -> CompileResult:
    """Compile a genome to a verified IR graph ready for ``target``.

    Args:
        source: genome text or a parsed :class:`~snnc.genome.Genome`.
        target: a name of the target table (``train``, ``energy``, ``lava``, ``nir``, ``onnx``;
            see :mod:`snnc.passes.targets`).
        passes: instead of the target's passes, an explicit pass spec (``"none"``,
            ``"fold-bn,fold-scale{mode=input}"``, ``"deploy"``), for experiments with passes.
        seed: seed of the weight initialisation (PyTorch's default init, drawn with numpy).
        filename: shown in parse errors (``file:line:col``).
        hook: called as ``hook(record, graph)`` after each pass (``--print-after``).
        limits: resource limits (:mod:`snnc.limits`): a :class:`~snnc.limits.Limits`, ``"off"``,
            or overrides such as ``{"params": 10**9, "macs": None}``; default: the environment's
            (``SNNC_LIMITS``, ``SNNC_LIMIT_<NAME>``), else the defaults.
    Raises:
        GenomeSyntaxError, LimitError, LoweringError, GraphError, PassError (all
        :class:`SnncError`); ``SnncError`` for a seed that is not an integer >= 0.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise SnncError(f"seed must be an integer in [0, 2**63), got {seed!r}")
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    lim = resolve(limits)
    text = None if isinstance(source, Genome) else source
    try:
        if isinstance(source, Genome):
            genome = source
        else:
            try:
                genome = parse(source, filename=filename, limits=lim)
            except GenomeSyntaxError as exc:
                raise exc.with_filename(filename) if exc.filename != filename else exc
        times["parse"] = (time.perf_counter() - t0) * 1e3
        pipeline = parse_pipeline(passes) if passes is not None else None
        get_target(target)  # an unknown target fails before the lowering
        t0 = time.perf_counter()
        graph = lower(genome, seed=seed, limits=lim)
    except LimitError as exc:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        if isinstance(text, str):
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        raise exc.located(filename, text) from None
    graph.meta.setdefault("genome_id", genome_id(genome))
    times["lower"] = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    verify(graph)
    times["verify"] = (time.perf_counter() - t0) * 1e3
    t0 = time.perf_counter()
    if pipeline is None:
        graph, records = prepare(graph, target, hook=hook)
    else:
        graph, records = PassManager(pipeline, hook=hook).run(graph)
    times["passes"] = (time.perf_counter() - t0) * 1e3
    return CompileResult(genome, graph, records, times)


def compile_file(path: str | Path, **kwargs) -> CompileResult:
    """:func:`compile_genome` on a genome file; a missing or undecodable file is a SnncError."""
    path = Path(path)
    return compile_genome(read_text(path), filename=str(path), **kwargs)


def read_text(path: Path, *, max_bytes: int | None = None) -> str:
    """A genome file's text, read through :func:`snnc.readlimit.read_bytes` (at most
    ``max_bytes``, default ``SNNC_MAX_GENOME_BYTES`` or 64 MiB).

    Raises:
        SnncError: missing, a folder, unreadable, larger than the limit, or not UTF-8.
    """
    try:
        return read_bytes(path, "genome", limit=max_bytes).decode("utf-8")
    except FileNotFoundError:
        raise SnncError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SnncError(f"{path}: is a directory, expected a genome file") from None
    except UnicodeDecodeError as exc:
        raise SnncError(f"{path}: not UTF-8 text (byte {exc.start}); a genome is UTF-8 text") from None
    except OSError as exc:
        raise SnncError(f"{path}: cannot read ({exc.strerror})") from None


def is_artifact(path: str | Path) -> bool:
    """True when ``path`` starts like a ``.snnir`` file (a zip archive), whatever its name."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def load_model(path: str | Path, *, target: str = "train", seed: int = 0) -> Graph:
    """A graph from either a ``.snnir`` artifact (as stored) or a genome file (compiled on the
    fly for ``target``, default ``train``: as lowered, nothing folded)."""
    from .ir.artifact import load

    path = Path(path)
    if not path.exists():
        raise ArtifactError(f"{path}: no such file")
    if is_artifact(path):
        return load(path)
    if path.suffix == ".snnir" or _looks_binary(path):
        raise ArtifactError(f"{path}: not a .snnir artifact (a .snnir file is a zip archive; "
                            f"this one {_what_it_is(path)}) and not a genome text")
    return compile_file(path, target=target, seed=seed).graph


def _head(path: Path, size: int = 4096) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(size)
    except OSError:
        return b""


def _looks_binary(path: Path) -> bool:
    """A NUL byte or undecodable UTF-8 near the start: not a genome, whatever the name."""
    head = _head(path)
    if b"\0" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(head) - 4  # a character cut at the end of the sample is fine
    return False


def _what_it_is(path: Path) -> str:
    head = _head(path, 8)
    if not head:
        return "is empty"
    return f"starts with bytes {head.hex(' ')}"
