"""Experiment store: schema, ranking order, refusals, WAL mode, and survival of SIGKILL."""
import hashlib
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from snnc.errors import StoreError
from snnc.runtime.store import SCHEMA_VERSION, CandidateRecord, ExperimentStore

ROOT = Path(__file__).resolve().parents[2]


def gid(name: str) -> str:
    """The id a store expects: sha256 of the (here made-up) canonical genome text."""
    return hashlib.sha256(f"genome {name}\n".encode()).hexdigest()


def cand(name, score, pos=0, **kw):
    return CandidateRecord(gid(name), pos, f"desc {name}", f"genome {name}\n", score,
                           {"sahd": score, "hd": 1.5}, 0.25, **kw)


def test_round_trip_and_ranking(tmp_path):
    path = tmp_path / "s.sqlite"
    with ExperimentStore(path) as st:
        rec = st.create_search("a", {"space": "x", "n": 3}, seed=7)
        assert (rec.status, rec.seed, rec.attempts, rec.config) == ("running", 7, 1, {"space": "x",
                                                                                    "n": 3})
        for c in (cand("g1", 2.0, 4), cand("g2", float("nan"), 1), cand("g3", 5.0, 3),
                  cand("g4", 2.0, 2), cand("g5", float("-inf"), 0)):
            st.add_candidate("a", c)
        st.set_status("a", "done")
    with ExperimentStore(path) as st:  # reopened: everything persisted
        ranked = st.candidates("a")
        assert [c.genome_id for c in ranked] == [gid(n) for n in ("g3", "g4", "g1", "g5", "g2")]
        assert math.isnan(ranked[-1].score) and math.isnan(ranked[-1].scores["sahd"])
        assert ranked[-2].score == float("-inf") and ranked[-2].scores["sahd"] == float("-inf")
        assert ranked[0] == CandidateRecord(gid("g3"), 3, "desc g3", "genome g3\n", 5.0,
                                            {"sahd": 5.0, "hd": 1.5}, 0.25, 1, ranked[0].created)
        assert st.genome_ids("a") == {gid(f"g{i}") for i in range(1, 6)} and st.count("a") == 5
        assert st.search("a").status == "done" and st.search("b") is None
        assert st.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert st.begin_attempt("a") == 2 and st.search("a").status == "running"


def test_refusals(tmp_path):
    with ExperimentStore(tmp_path / "s.sqlite") as st:
        st.create_search("a", {}, seed=0)
        with pytest.raises(StoreError, match="exists already"):
            st.create_search("a", {}, seed=0)
        st.add_candidate("a", cand("g1", 1.0))
        with pytest.raises(StoreError, match=f"already holds candidate {gid('g1')[:12]}"):
            st.add_candidate("a", cand("g1", 9.0))
        assert st.candidates("a")[0].score == 1.0  # the first result is kept
        with pytest.raises(StoreError, match="no search 'zz'"):
            st.add_candidate("zz", cand("g2", 1.0))
        assert st.count("zz") == 0  # the failed transaction left nothing behind
        with pytest.raises(StoreError, match="status must be"):
            st.set_status("a", "paused")
        with pytest.raises(StoreError, match="no search"):
            st.set_status("zz", "done")


def test_foreign_files_are_refused(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="not a usable experiment store"):
        ExperimentStore(junk)
    newer = tmp_path / "newer.sqlite"
    con = sqlite3.connect(newer)
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    con.close()
    with pytest.raises(StoreError, match="schema version"):
        ExperimentStore(newer)


def test_every_committed_candidate_survives_sigkill(tmp_path):
    """A writer killed at a random moment leaves complete rows only, readable on reopening."""
    path = tmp_path / "s.sqlite"
    script = textwrap.dedent(f"""
        import hashlib, itertools
        from snnc.runtime.store import CandidateRecord, ExperimentStore
        st = ExperimentStore({str(path)!r})
        st.create_search("a", {{"k": 1}}, seed=0)
        for i in itertools.count():
            text = f"{{i}}" + "t" * 5000
            st.add_candidate("a", CandidateRecord(hashlib.sha256(text.encode()).hexdigest(), i,
                                                  "d" * 500, text, float(i),
                                                  {{"sahd": float(i)}}, 0.1))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            if path.exists():
                try:
                    with sqlite3.connect(path, timeout=5) as con:
                        if con.execute("SELECT COUNT(*) FROM candidates").fetchone()[0] >= 20:
                            break
                except sqlite3.OperationalError:
                    pass
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    with ExperimentStore(path) as st:
        assert st.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = st.candidates("a")
        assert len(rows) >= 20
        assert sorted(c.position for c in rows) == list(range(len(rows)))  # no gap, no torn row
        for c in rows:
            assert c.genome == f"{c.position}" + "t" * 5000 and c.scores == {"sahd": float(c.position)}
        st.add_candidate("a", cand("after", 0.0, len(rows)))  # still writable
    assert json.loads(sqlite3.connect(path).execute(
        "SELECT config FROM searches").fetchone()[0]) == {"k": 1}
