"""Experiment stores under hostile conditions (issue 15, items 14 and 17): a second writer, rows
whose UTF-8 was damaged, an edited genome text, a dropped table; and the search driver on such a
store, which must still write the ranking of the sound rows."""
from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from snnc.errors import StoreError
from snnc.runtime.lock import FileLock
from snnc.runtime.store import CandidateRecord, ExperimentStore, StoreWarning

ROOT = Path(__file__).resolve().parents[2]


def cand(name: str, score: float, pos: int = 0) -> CandidateRecord:
    text = f"genome {name}\n"
    return CandidateRecord(hashlib.sha256(text.encode()).hexdigest(), pos, f"desc {name}", text,
                           score, {"sahd": score}, 0.1)


@pytest.fixture
def store(tmp_path) -> Path:
    path = tmp_path / "s.sqlite"
    with ExperimentStore(path) as st:
        st.create_search("a", {"k": 1}, seed=0)
        for i, name in enumerate(("g1", "g2", "g3")):
            st.add_candidate("a", cand(name, float(i), i))
    return path


def _sql(path: Path, sql: str, args: tuple = ()) -> None:
    con = sqlite3.connect(path)
    con.execute(sql, args)
    con.commit()
    con.close()


def test_a_row_with_damaged_utf8_is_skipped_and_reported(store):
    # raw bytes that are not UTF-8 in a TEXT column, as a flipped bit on disk leaves them
    _sql(store, "UPDATE candidates SET genome = CAST(? AS TEXT) WHERE description = 'desc g3'",
         (b"genome \xff\xfe3\n",))
    with ExperimentStore(store) as st:
        ranked = st.ranking("a")
        assert [c.description for c in ranked.records] == ["desc g2", "desc g1"]
        assert len(ranked.damaged) == 1 and "utf-8" in ranked.damaged[0].reason
        assert ranked.damaged[0].genome_id == cand("g3", 0).genome_id
        with pytest.raises(StoreError, match=r"s.sqlite: 1 damaged candidate row\(s\)"):
            st.candidates("a")
        assert st.genome_ids("a") == {cand(n, 0).genome_id for n in ("g1", "g2", "g3")}


def test_damaged_ids_descriptions_and_scores_are_skipped(store):
    _sql(store, "UPDATE candidates SET genome_id = CAST(? AS TEXT) WHERE description = 'desc g1'",
         (b"\xc3\x28bad",))
    _sql(store, "UPDATE candidates SET scores = '[1, 2]' WHERE description = 'desc g2'")
    with ExperimentStore(store) as st:
        ranked = st.ranking("a")
        assert [c.description for c in ranked.records] == ["desc g3"]
        reasons = sorted(d.reason for d in ranked.damaged)
        assert any("utf-8" in r for r in reasons) and "scores is not a JSON object" in reasons


def test_an_edited_genome_text_is_not_trusted(store):
    _sql(store, "UPDATE candidates SET genome = 'genome edited\n' WHERE description = 'desc g3'")
    with ExperimentStore(store) as st:
        ranked = st.ranking("a")
        assert ranked.records[0].description == "desc g2"
        assert ranked.damaged[0].reason.startswith("the stored genome text does not hash to its "
                                                   "genome_id")


@pytest.mark.parametrize("table", ["candidates", "searches"])
def test_a_dropped_table_is_a_clean_error_naming_the_file(store, table):
    _sql(store, f"DROP TABLE {table}")
    with pytest.raises(StoreError, match=rf"s.sqlite: the experiment store is damaged: table "
                                         rf"{table} is missing"):
        ExperimentStore(store)
    FileLock(store.with_name(store.name + ".lock"), "x").acquire().release()  # not kept held


def test_a_table_dropped_while_open_is_a_clean_error(store):
    with ExperimentStore(store) as st:
        _sql(store, "DROP TABLE candidates")
        with pytest.raises(StoreError, match="s.sqlite: the experiment store is damaged or "
                                             "unreadable .*no such table: candidates"):
            st.ranking("a")


def test_a_damaged_search_row_is_a_clean_error(store):
    _sql(store, "UPDATE searches SET config = CAST(? AS TEXT)", (b"{\xff}",))
    with ExperimentStore(store) as st:
        with pytest.raises(StoreError, match="the stored search 'a' is damaged"):
            st.search("a")


_HOLDER = """
import sys, time
from snnc.runtime.store import ExperimentStore
st = ExperimentStore(sys.argv[1])
print("open", flush=True)
time.sleep(120)
"""


def test_a_second_writer_is_refused_by_pid_and_the_lock_dies_with_its_process(store):
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_HOLDER), str(store)],
                             cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "open", child.stderr.read()
        with pytest.raises(StoreError, match=rf"experiment store {store} is in use by process "
                                             rf"{child.pid}"):
            ExperimentStore(store)
        with ExperimentStore(store, lock=False) as st:  # a reader is not a writer
            assert st.count("a") == 3
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        child.kill()
        child.wait()
    with ExperimentStore(store) as st:
        assert st.count("a") == 3


# ------------------------------------------------------------------ the search on such a store
def test_a_search_resumed_on_a_damaged_store_ranks_the_sound_rows(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from snnc.search.snasnet import SearchConfig, run_search

    cfg = SearchConfig(candidates=4, dataset="digits", channels=4, T=2, batch_size=24)
    first = run_search(cfg, tmp_path, workers=0)
    best, second = first.ranking[0], first.ranking[1]
    db = tmp_path / "store.sqlite"
    _sql(db, "UPDATE candidates SET genome = CAST(? AS TEXT) WHERE genome_id = ?",
         (best.genome.encode()[:-5] + b"\xff\n", best.genome_id))
    with pytest.warns(StoreWarning, match=rf"store.sqlite: 1 damaged candidate row\(s\) left "
                                          rf"out of the ranking: {best.genome_id[:12]}"):
        again = run_search(cfg, tmp_path, resume=True, workers=0)
    assert [d.genome_id for d in again.damaged] == [best.genome_id]
    assert again.best.genome_id == second.genome_id
    assert (tmp_path / "best.genome").read_text() == second.genome
    rows = (tmp_path / "ranking.csv").read_text().splitlines()
    assert len(rows) == 1 + 3 and best.genome_id not in "".join(rows)

    # an edited text of the (new) best is not written out as if it were that genome
    _sql(db, "UPDATE candidates SET genome = ? WHERE genome_id = ?",
         (second.genome + "# edited\n", second.genome_id))
    with pytest.warns(StoreWarning, match=r"2 damaged candidate row\(s\)"):
        third = run_search(cfg, tmp_path, resume=True, workers=0)
    assert third.best.genome_id == first.ranking[2].genome_id
    assert hashlib.sha256((tmp_path / "best.genome").read_bytes()).hexdigest() == \
        third.best.genome_id


def test_the_cli_reports_damaged_rows_in_one_line(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from click.testing import CliRunner

    from snnc.cli import cli

    args = ["search", "snasnet", "--out", str(tmp_path), "--data", "digits", "--candidates", "3",
            "--channels", "4", "--T", "2", "--batch-size", "24", "--workers", "0"]
    r = CliRunner(mix_stderr=False)
    assert r.invoke(cli, args).exit_code == 0
    _sql(tmp_path / "store.sqlite", "UPDATE candidates SET genome = CAST(? AS TEXT) "
         "WHERE rowid = (SELECT min(rowid) FROM candidates)", (b"\xff\n",))
    res = r.invoke(cli, ["search", "snasnet", "--out", str(tmp_path), "--resume",
                         "--workers", "0"])
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("snnc:")]
    assert res.exit_code == 0, res.stderr
    assert len(lines) == 1 and lines[0].startswith("snnc: warning: ")
    assert "1 damaged candidate row(s) left out of the ranking" in lines[0]
    assert "StoreWarning" not in res.stderr
