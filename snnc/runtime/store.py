"""The experiment store: every candidate a search evaluated, in one SQLite file (docs/ARCHITECTURE.md,
"Searchers").

Two tables (``sqlite3`` from the standard library, WAL journal, ``synchronous=FULL``):

* ``searches``: ``search_id`` (primary key), ``config`` (JSON), ``seed``, ``status``
  (``running`` / ``done``), ``attempts`` (1 + the number of resumes), creation and update times.
* ``candidates``: keyed by ``(search_id, genome_id)`` (``genome_id`` = :func:`snnc.genome.genome_id`),
  with the sample ``position`` at which the search first drew it, a ``description`` (e.g. the cell
  encoding), the canonical genome ``text``, the ranking ``score`` (NULL when NaN), every score as
  JSON, ``seconds`` spent scoring, and the ``attempt`` that scored it.

Every candidate is committed in its own transaction, so a search killed at any moment (even by
SIGKILL) leaves every finished candidate complete and nothing half-written; a resumed search
skips what is stored. Inserting a candidate twice is refused (an :class:`~snnc.errors.StoreError`),
so a search can never score the same genome twice unnoticed, unless the caller asks for an
idempotent commit (``exist_ok=True``: the stored row stays, nothing is written).

One writer at a time: a store opened for writing holds an OS lock on ``<store>.lock`` beside it
(:class:`~snnc.runtime.lock.FileLock`; released by the kernel when the holder dies), and a second
writer is refused by the holder's PID. Damage is never trusted: a missing table is a
:class:`~snnc.errors.StoreError` naming the file; a candidate row whose text is not UTF-8, whose
genome text does not hash to its ``genome_id`` (sha256 of the canonical text), or whose scores do
not parse is reported by :meth:`ExperimentStore.ranking` and left out of the ranking, never used.
"""
from __future__ import annotations

import hashlib
import json
import math
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import StoreError
from .lock import FileLock

__all__ = ["CandidateRecord", "DamagedRow", "ExperimentStore", "Ranking", "SearchRecord",
           "SCHEMA_VERSION", "StoreWarning"]

#: Stored in ``PRAGMA user_version``; a file of another version is refused.
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS searches (
    search_id TEXT PRIMARY KEY,
    config    TEXT NOT NULL,
    seed      INTEGER NOT NULL,
    status    TEXT NOT NULL,
    attempts  INTEGER NOT NULL DEFAULT 1,
    created   REAL NOT NULL,
    updated   REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS candidates (
    search_id   TEXT NOT NULL REFERENCES searches(search_id),
    genome_id   TEXT NOT NULL,
    position    INTEGER NOT NULL,
    description TEXT NOT NULL,
    genome      TEXT NOT NULL,
    score       REAL,
    scores      TEXT NOT NULL,
    seconds     REAL NOT NULL,
    attempt     INTEGER NOT NULL,
    created     REAL NOT NULL,
    PRIMARY KEY (search_id, genome_id)
);
"""
STATUSES = ("running", "done")
_TABLES = ("searches", "candidates")


@dataclass(frozen=True)
class SearchRecord:
    """One row of ``searches``."""

    search_id: str
    config: dict[str, Any]
    seed: int
    status: str
    attempts: int
    created: float
    updated: float


@dataclass(frozen=True)
class CandidateRecord:
    """One evaluated candidate. ``score`` ranks (NaN when undefined); ``scores`` holds every
    score that was computed; ``seconds`` is the wall time of scoring it."""

    genome_id: str
    position: int
    description: str
    genome: str
    score: float
    scores: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    attempt: int = 1
    created: float = 0.0


class StoreWarning(UserWarning):
    """Damaged rows were left out of a ranking (the warning's text names the store and rows)."""


@dataclass(frozen=True)
class DamagedRow:
    """A stored candidate that cannot be trusted: its ``genome_id`` as stored (undecodable bytes
    replaced) and why."""

    genome_id: str
    reason: str


@dataclass(frozen=True)
class Ranking:
    """:meth:`ExperimentStore.ranking`: the sound candidates, best first, and the damaged rows
    left out."""

    records: list[CandidateRecord]
    damaged: list[DamagedRow]


def _json_float(x: float):
    """JSON has no NaN/inf: store them as strings."""
    return x if math.isfinite(x) else repr(float(x))


def _from_json_float(x) -> float:
    return float(x)


class ExperimentStore:
    """An open store file. Use as a context manager or call :meth:`close`.

    Args:
        path: the SQLite file (created with its schema when missing).
        lock: hold the store's writer lock while open (default). ``False`` only reads what
            another process may be writing (SQLite's WAL keeps that consistent).
    Raises:
        StoreError: the file is not an SQLite database, holds another schema version or lacks a
            table; another process has it open for writing ("... is in use by process PID").
    """

    def __init__(self, path: str | Path, *, lock: bool = True):
        self.path = Path(path)
        self._lock = FileLock(self.path.with_name(self.path.name + ".lock"),
                              f"experiment store {self.path}", StoreError)
        if lock:
            self._lock.acquire()
        try:
            self.conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=FULL")
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise StoreError(f"{self.path}: experiment store schema version {version}; this "
                                 f"snnc reads version {SCHEMA_VERSION}")
            if version == 0:  # executescript commits on its own; the statements are idempotent
                self.conn.executescript(_SCHEMA)
                self.conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            tables = {_text(r[0]) for r in self.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            missing = [t for t in _TABLES if t not in tables]
            if missing:
                raise StoreError(f"{self.path}: the experiment store is damaged: table "
                                 f"{', '.join(missing)} is missing")
        except sqlite3.DatabaseError as exc:
            self._lock.release()
            raise StoreError(f"{self.path}: not a usable experiment store ({exc})") from None
        except StoreError:
            self._lock.release()
            raise

    def _q(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        """Execute; any SQLite failure (a table dropped since opening, a damaged page) becomes a
        StoreError naming the file."""
        try:
            return self.conn.execute(sql, args)
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: the experiment store is damaged or unreadable "
                             f"({exc})") from None

    # ----------------------------------------------------------------------- plumbing
    def _tx(self):
        return _Transaction(self)

    def close(self) -> None:
        try:
            self.conn.close()
        finally:
            self._lock.release()

    def __enter__(self) -> "ExperimentStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------------- searches
    def create_search(self, search_id: str, config: dict[str, Any], seed: int) -> SearchRecord:
        """Add a search with status ``running``.

        Raises:
            StoreError: a search with this id exists already.
        """
        now = time.time()
        try:
            with self._tx():
                self._q(
                    "INSERT INTO searches VALUES (?, ?, ?, 'running', 1, ?, ?)",
                    (search_id, json.dumps(config, sort_keys=True), int(seed), now, now))
        except sqlite3.IntegrityError:
            raise StoreError(f"{self.path}: search {search_id!r} exists already") from None
        return self.search(search_id)

    def search(self, search_id: str) -> SearchRecord | None:
        """The search ``search_id`` (None if not stored).

        Raises:
            StoreError: its row is damaged (config not UTF-8 JSON, fields of the wrong type).
        """
        # text columns as BLOB, decoded here: damaged UTF-8 must not fail the whole query
        row = self._q("SELECT CAST(search_id AS BLOB), CAST(config AS BLOB), seed, "
                      "CAST(status AS BLOB), attempts, created, updated FROM searches "
                      "WHERE search_id = ?", (search_id,)).fetchone()
        if row is None:
            return None
        sid, config, seed, status, attempts, created, updated = row
        try:
            data = json.loads(config.decode("utf-8") if isinstance(config, bytes) else config)
            if not isinstance(data, dict) or type(seed) is not int or \
                    type(attempts) is not int:
                raise ValueError("fields of the wrong type")
        except (UnicodeDecodeError, ValueError) as exc:
            raise StoreError(f"{self.path}: the stored search {search_id!r} is damaged "
                             f"({exc})") from None
        return SearchRecord(_text(sid), data, seed, _text(status), attempts, created, updated)

    def searches(self) -> list[SearchRecord]:
        ids = [_text(r[0]) for r in self._q("SELECT CAST(search_id AS BLOB) FROM searches "
                                            "ORDER BY created")]
        return [self.search(i) for i in ids]

    def set_status(self, search_id: str, status: str) -> None:
        """Set ``status`` (``running``/``done``). Raises StoreError for an unknown search."""
        if status not in STATUSES:
            raise StoreError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        with self._tx():
            n = self._q("UPDATE searches SET status = ?, updated = ? WHERE search_id = ?",
                                  (status, time.time(), search_id)).rowcount
        if n != 1:
            raise StoreError(f"{self.path}: no search {search_id!r}")

    def begin_attempt(self, search_id: str) -> int:
        """Count a resume: status back to ``running``, ``attempts + 1``; returns the new count."""
        with self._tx():
            self._q("UPDATE searches SET attempts = attempts + 1, status = 'running', "
                              "updated = ? WHERE search_id = ?", (time.time(), search_id))
            row = self._q("SELECT attempts FROM searches WHERE search_id = ?",
                                    (search_id,)).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no search {search_id!r}")
        return int(row[0])

    # ----------------------------------------------------------------------- candidates
    def add_candidate(self, search_id: str, c: CandidateRecord, *, exist_ok: bool = False) -> bool:
        """Commit one evaluated candidate (one transaction); returns whether it was added.

        ``exist_ok``: a candidate stored already is left as it is and ``False`` returned (an
        idempotent commit, for executors that may deliver a result twice, e.g. a task rerun after
        a Dask worker died).

        Raises:
            StoreError: the candidate is stored already (without ``exist_ok``), or the search is
                unknown.
        """
        score = c.score if math.isfinite(c.score) or c.score == float("-inf") else None
        scores = json.dumps({k: _json_float(v) for k, v in c.scores.items()}, sort_keys=True)
        try:
            with self._tx():
                if self.search(search_id) is None:
                    raise StoreError(f"{self.path}: no search {search_id!r}")
                verb = "INSERT OR IGNORE" if exist_ok else "INSERT"
                n = self._q(
                    f"{verb} INTO candidates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (search_id, c.genome_id, int(c.position), c.description, c.genome, score,
                     scores, float(c.seconds), int(c.attempt), c.created or time.time())).rowcount
            return n == 1
        except sqlite3.IntegrityError:
            raise StoreError(f"{self.path}: search {search_id!r} already holds candidate "
                             f"{c.genome_id[:12]}") from None

    def genome_ids(self, search_id: str) -> set[str]:
        """Ids of the candidates stored for ``search_id`` (damaged rows included, as stored:
        a resumed search does not score them again)."""
        return {_text(r[0]) for r in self._q(
            "SELECT CAST(genome_id AS BLOB) FROM candidates WHERE search_id = ?", (search_id,))}

    def count(self, search_id: str) -> int:
        return self._q("SELECT COUNT(*) FROM candidates WHERE search_id = ?",
                       (search_id,)).fetchone()[0]

    def ranking(self, search_id: str) -> Ranking:
        """Every sound stored candidate, ranked: highest score first, undefined (NaN) scores
        last, ties by sample position; and the damaged rows left out (text not UTF-8, genome text
        not hashing to its id, scores not a JSON object of numbers, fields of the wrong type)."""
        rows = self._q(  # text columns as BLOB: one damaged row must not fail the query
            "SELECT CAST(genome_id AS BLOB), position, CAST(description AS BLOB), "
            "CAST(genome AS BLOB), score, CAST(scores AS BLOB), seconds, attempt, "
            "created FROM candidates WHERE search_id = ? "
            "ORDER BY score IS NULL, score DESC, position", (search_id,)).fetchall()
        good, damaged = [], []
        for row in rows:
            try:
                good.append(_candidate(row))
            except (UnicodeDecodeError, ValueError, TypeError, AttributeError) as exc:
                damaged.append(DamagedRow(_text(row[0]), str(exc)))
        return Ranking(good, damaged)

    def candidates(self, search_id: str) -> list[CandidateRecord]:
        """:meth:`ranking`'s candidates, refusing a store with damaged rows.

        Raises:
            StoreError: a row is damaged; the message names the first and counts them.
        """
        ranked = self.ranking(search_id)
        if ranked.damaged:
            first = ranked.damaged[0]
            raise StoreError(f"{self.path}: {len(ranked.damaged)} damaged candidate row(s) in "
                             f"search {search_id!r}, e.g. {first.genome_id[:12]}: {first.reason}")
        return ranked.records


def _candidate(row: tuple) -> CandidateRecord:
    """A ``candidates`` row (TEXT as bytes), checked; ValueError (or a decode error) says what
    is damaged."""
    gid, pos, desc, text, score, scores, secs, attempt, created = row
    gid, desc, scores = (v.decode("utf-8") for v in (gid, desc, scores))
    genome = text.decode("utf-8", "surrogatepass")
    if hashlib.sha256(genome.encode("utf-8", "surrogatepass")).hexdigest() != gid:
        raise ValueError("the stored genome text does not hash to its genome_id (edited or "
                         "damaged)")
    parsed = json.loads(scores)
    if not isinstance(parsed, dict):
        raise ValueError("scores is not a JSON object")
    values = {k: _from_json_float(v) for k, v in parsed.items()}
    if type(pos) is not int or type(attempt) is not int or \
            not all(isinstance(v, (int, float)) for v in (secs, created)) or \
            not (score is None or isinstance(score, (int, float))):
        raise ValueError("a field of the wrong type")
    return CandidateRecord(gid, pos, desc, genome, float("nan") if score is None
                           else float(score), values, secs, attempt, created)


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error) on an autocommit connection."""

    def __init__(self, store: ExperimentStore):
        self.store = store

    def __enter__(self):
        self.store._q("BEGIN IMMEDIATE")
        return self.store.conn

    def __exit__(self, exc_type, *_):
        self.store._q("ROLLBACK" if exc_type else "COMMIT")
        return False


def _text(value) -> str:
    """A TEXT column read as BLOB, decoded; undecodable bytes shown as U+FFFD (for ids and names
    in messages; :meth:`ExperimentStore.ranking` refuses such rows)."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
