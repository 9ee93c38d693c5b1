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
so a search can never score the same genome twice unnoticed.
"""
from __future__ import annotations

import json
import math
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import StoreError

__all__ = ["CandidateRecord", "ExperimentStore", "SearchRecord", "SCHEMA_VERSION"]

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


def _json_float(x: float):
    """JSON has no NaN/inf: store them as strings."""
    return x if math.isfinite(x) else repr(float(x))


def _from_json_float(x) -> float:
    return float(x)


class ExperimentStore:
    """An open store file. Use as a context manager or call :meth:`close`.

    Args:
        path: the SQLite file (created with its schema when missing).
    Raises:
        StoreError: the file is not an SQLite database, or holds another schema version.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
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
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path}: not a usable experiment store ({exc})") from None

    # ----------------------------------------------------------------------- plumbing
    def _tx(self):
        return _Transaction(self.conn)

    def close(self) -> None:
        self.conn.close()

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
                self.conn.execute(
                    "INSERT INTO searches VALUES (?, ?, ?, 'running', 1, ?, ?)",
                    (search_id, json.dumps(config, sort_keys=True), int(seed), now, now))
        except sqlite3.IntegrityError:
            raise StoreError(f"{self.path}: search {search_id!r} exists already") from None
        return self.search(search_id)

    def search(self, search_id: str) -> SearchRecord | None:
        row = self.conn.execute("SELECT * FROM searches WHERE search_id = ?",
                                (search_id,)).fetchone()
        if row is None:
            return None
        sid, config, seed, status, attempts, created, updated = row
        return SearchRecord(sid, json.loads(config), seed, status, attempts, created, updated)

    def searches(self) -> list[SearchRecord]:
        ids = [r[0] for r in self.conn.execute("SELECT search_id FROM searches ORDER BY created")]
        return [self.search(i) for i in ids]

    def set_status(self, search_id: str, status: str) -> None:
        """Set ``status`` (``running``/``done``). Raises StoreError for an unknown search."""
        if status not in STATUSES:
            raise StoreError(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        with self._tx():
            n = self.conn.execute("UPDATE searches SET status = ?, updated = ? WHERE search_id = ?",
                                  (status, time.time(), search_id)).rowcount
        if n != 1:
            raise StoreError(f"{self.path}: no search {search_id!r}")

    def begin_attempt(self, search_id: str) -> int:
        """Count a resume: status back to ``running``, ``attempts + 1``; returns the new count."""
        with self._tx():
            self.conn.execute("UPDATE searches SET attempts = attempts + 1, status = 'running', "
                              "updated = ? WHERE search_id = ?", (time.time(), search_id))
            row = self.conn.execute("SELECT attempts FROM searches WHERE search_id = ?",
                                    (search_id,)).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no search {search_id!r}")
        return int(row[0])

    # ----------------------------------------------------------------------- candidates
    def add_candidate(self, search_id: str, c: CandidateRecord) -> None:
        """Commit one evaluated candidate (one transaction).

        Raises:
            StoreError: the candidate is stored already, or the search is unknown.
        """
        score = c.score if math.isfinite(c.score) or c.score == float("-inf") else None
        scores = json.dumps({k: _json_float(v) for k, v in c.scores.items()}, sort_keys=True)
        try:
            with self._tx():
                if self.search(search_id) is None:
                    raise StoreError(f"{self.path}: no search {search_id!r}")
                self.conn.execute(
                    "INSERT INTO candidates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (search_id, c.genome_id, int(c.position), c.description, c.genome, score,
                     scores, float(c.seconds), int(c.attempt), c.created or time.time()))
        except sqlite3.IntegrityError:
            raise StoreError(f"{self.path}: search {search_id!r} already holds candidate "
                             f"{c.genome_id[:12]}") from None

    def genome_ids(self, search_id: str) -> set[str]:
        """Ids of the candidates stored for ``search_id``."""
        return {r[0] for r in self.conn.execute(
            "SELECT genome_id FROM candidates WHERE search_id = ?", (search_id,))}

    def count(self, search_id: str) -> int:
        return self.conn.execute("SELECT COUNT(*) FROM candidates WHERE search_id = ?",
                                 (search_id,)).fetchone()[0]

    def candidates(self, search_id: str) -> list[CandidateRecord]:
        """Every stored candidate, ranked: highest score first, undefined (NaN) scores last, ties by
        sample position."""
        rows = self.conn.execute(
            "SELECT genome_id, position, description, genome, score, scores, seconds, attempt, "
            "created FROM candidates WHERE search_id = ? "
            "ORDER BY score IS NULL, score DESC, position", (search_id,)).fetchall()
        out = []
        for gid, pos, desc, text, score, scores, secs, attempt, created in rows:
            out.append(CandidateRecord(
                gid, pos, desc, text, float("nan") if score is None else float(score),
                {k: _from_json_float(v) for k, v in json.loads(scores).items()}, secs, attempt,
                created))
        return out


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error) on an autocommit connection."""

    def __init__(self, conn: sqlite3.Connection):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, *_):
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
        return False
