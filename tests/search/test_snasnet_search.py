"""SNASNet search: the cell sampler, candidate spaces, the driver (store, outputs, workers,
resume) and the CLI, including a search killed with SIGKILL and resumed."""
import csv
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from snnc.cli import cli
from snnc.compiler import compile_genome
from snnc.errors import GenomeSyntaxError, LoweringError, SearchError
from snnc.genome import parse, to_text
from snnc.search.cells import NODES, OPS, cell_genome, parse_code, prune, sample_cell
from snnc.runtime.loader import derive_seed
from snnc.search.snasnet import SearchConfig, _draw, run_search
from snnc.search.spaces import make_space

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(dataset="digits", channels=4, T=2, batch_size=24)


# ------------------------------------------------------------------ cell space
def test_forward_cells():
    rng = np.random.default_rng(0)
    cells = [sample_cell(rng, backward=False) for _ in range(300)]
    ops = set()
    for c in cells:
        m = np.array(c.matrix)
        assert np.all(np.tril(m) == 0) and m[0, NODES - 1] != 0 and not c.backward
        assert parse_code(c.code) == c
        ops |= {OPS[v] for v in m.ravel()}
    assert ops == set(OPS)
    assert len({c.code for c in cells}) > 200


def test_backward_cells_never_connect_a_pair_both_ways():
    rng = np.random.default_rng(1)
    cells = [sample_cell(rng, backward=True) for _ in range(300)]
    assert sum(c.backward for c in cells) > 100
    for c in cells:
        m = np.array(c.matrix)
        assert not np.any((m != 0) & (m.T != 0)) and m[0, NODES - 1] != 0
        for e in c.edges():
            assert e.backward == (e.src > e.dst) and e.delay == (1 if e.backward else 0)


def test_sampling_is_reproducible():
    a = [sample_cell(np.random.default_rng(5), True).code for _ in range(3)]
    assert a[0] == a[1] == a[2]


def test_prune_cuts_nodes_off_the_path_from_input_to_output():
    m = np.zeros((4, 4), dtype=int)
    m[0, 3] = 3  # input -> output
    m[0, 1] = 2  # node 1 is reached but reaches nothing
    m[2, 3] = 1  # node 2 reaches the output but is never reached
    assert prune(m).tolist() == [[0, 0, 0, 3], [0] * 4, [0] * 4, [0] * 4]
    m[1, 2] = 4  # now 0 -> 1 -> 2 -> 3 is a path
    assert np.array_equal(prune(m), m)


def test_cell_codes_and_genomes():
    c = parse_code("0303 0030 2002 0200")  # the authors' CIFAR-10 cell
    assert c.backward
    assert sorted((e.src, e.dst, e.backward, e.op) for e in c.edges()) == [
        (0, 1, False, "conv3x3"), (0, 3, False, "conv3x3"), (1, 2, False, "conv3x3"),
        (2, 0, True, "conv1x1"), (2, 3, False, "conv1x1"), (3, 1, True, "conv1x1")]
    g = cell_genome(c, channels=16, T=5, input_shape=(3, 32, 32), classes=10)
    assert parse(to_text(g)) == g
    text = to_text(g)
    assert "back 2 -> 0 @1 conv1x1" in text and "skeleton snasnet cell=c1" in text
    assert "beta=0.25 alpha=0.75" in text
    for bad in ("0303 0030 2002", "0305 0030 2002 0200", "1303 0030 2002 0200",
                "0303 0030 2302 0200"):
        with pytest.raises(GenomeSyntaxError):
            parse_code(bad)


def test_cell_space_scores_once_cells_lower(tmp_path):
    space = make_space("snasnet-bw", channels=4, T=2, input_shape=(1, 8, 8), classes=10)
    try:
        compile_genome(space.sample(0).genome, passes="none")
    except LoweringError as exc:
        pytest.skip(f"the frontend does not lower SNASNet cells yet: {exc}")
    r = run_search(SearchConfig(space="snasnet-bw", candidates=4, **TINY), tmp_path, workers=0)
    assert len(r.ranking) == r.unique and all(np.isfinite(c.score) for c in r.ranking)


def test_stts_space_candidates_lower_and_differ():
    space = make_space("stts-small", channels=4, T=2, input_shape=(1, 8, 8), classes=10)
    cands = [space.sample(s) for s in range(4)]
    assert len({c.id for c in cands}) == 4
    assert space.sample(2).id == cands[2].id
    for c in cands:
        g = compile_genome(c.genome, passes="none").graph
        assert any(n.op == "LIF" for n in g)


# ------------------------------------------------------------------ driver
def ranking_rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def key(ranking):
    return [(c.genome_id, c.score) for c in ranking]


def test_search_writes_best_genome_and_ranking(tmp_path):
    cfg = SearchConfig(candidates=6, also=("hd", "escore"), **TINY)
    r = run_search(cfg, tmp_path, workers=0)
    assert r.sampled == 6 and r.unique == len(r.ranking) == r.scored == 6 and r.attempt == 1
    scores = [c.score for c in r.ranking]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == 6
    assert (tmp_path / "best.genome").read_text() == r.best.genome
    assert parse(r.best.genome) is not None
    rows = ranking_rows(tmp_path / "ranking.csv")
    assert [row["genome_id"] for row in rows] == [c.genome_id for c in r.ranking]
    assert set(rows[0]) == {"rank", "genome_id", "position", "description", "score", "sahd",
                            "hd", "escore", "seconds"}
    assert all(float(row["score"]) == float(row["sahd"]) for row in rows)
    # the whole search again: nothing left to score, same outputs
    again = run_search(cfg, tmp_path, resume=True, workers=0)
    assert again.scored == 0 and again.attempt == 2 and key(again.ranking) == key(r.ranking)
    with pytest.raises(SearchError, match="exists already"):
        run_search(cfg, tmp_path, workers=0)
    with pytest.raises(SearchError, match="another configuration .*candidates: stored 6"):
        run_search(SearchConfig(candidates=7, also=("hd", "escore"), **TINY), tmp_path,
                   resume=True, workers=0)
    with pytest.raises(SearchError, match="no search"):
        run_search(cfg, tmp_path / "empty", resume=True, workers=0)


def test_a_genome_drawn_twice_is_kept_once_at_its_first_position():
    # pruning collapses forward cells onto fewer distinct genomes (no lowering needed to draw)
    cfg = SearchConfig(space="snasnet-fw", candidates=300, **TINY)
    drawn, sampled = _draw(cfg, (1, 8, 8), 10)
    ids = [c.id for _, c in drawn]
    assert sampled == 300 and len(set(ids)) == len(ids) < 300
    space = make_space("snasnet-fw", channels=4, T=2, input_shape=(1, 8, 8), classes=10)
    firsts = {}
    for i in range(300):
        firsts.setdefault(space.sample(derive_seed(11, 0, i) % 2**31).id, i)
    assert [(i, c.id) for i, c in drawn] == sorted((i, g) for g, i in firsts.items())


@pytest.mark.slow
def test_worker_count_does_not_change_results(tmp_path):
    cfg = SearchConfig(candidates=5, **TINY)
    a = run_search(cfg, tmp_path / "a", workers=0)
    b = run_search(cfg, tmp_path / "b", workers=2)
    assert key(a.ranking) == key(b.ranking)


def test_config_validation(tmp_path):
    with pytest.raises(SearchError, match="unknown search space"):
        SearchConfig(space="nope")
    with pytest.raises(SearchError, match="unknown score"):
        SearchConfig(also=("naswot",))
    with pytest.raises(SearchError, match="candidates must be >= 1"):
        SearchConfig(candidates=0)
    with pytest.raises(SearchError, match="need 4000 images"):
        run_search(SearchConfig(candidates=1, dataset="digits", batch_size=2000, repeats=2),
                   tmp_path, workers=0)
    assert not (tmp_path / "store.sqlite").exists()  # refused before anything was stored


# ------------------------------------------------------------------ CLI
def cli_args(out, n):
    return ["search", "snasnet", "--out", str(out), "--data", "digits", "--candidates", str(n),
            "--channels", "4", "--T", "2", "--batch-size", "24", "--no-progress"]


def test_cli_search_on_digits(tmp_path):
    res = CliRunner().invoke(cli, cli_args(tmp_path, 4) + ["--workers", "0", "--also", "escore"])
    assert res.exit_code == 0, res.output
    assert "scored 4 candidates (0 already in the store)" in res.output
    best = parse((tmp_path / "best.genome").read_text())
    rows = ranking_rows(tmp_path / "ranking.csv")
    assert len(rows) == 4 and rows[0]["description"] in res.output
    assert compile_genome(best, passes="none").graph.meta["T"] == 2
    assert best.blocks[0].kind == "cell"  # the default space: SNASNet cells with backward edges
    res = CliRunner().invoke(cli, ["train", str(tmp_path / "best.genome"), "--data", "digits",
                                   "--epochs", "1", "--limit-train", "256", "--limit-test", "128",
                                   "--batch-size", "32", "--threads", "1",
                                   "--run-dir", str(tmp_path / "run")])
    assert res.exit_code == 0, res.output  # the best genome trains through `snnc train`
    assert (tmp_path / "run" / "model.snnir").is_file()
    res = CliRunner().invoke(cli, ["search", "snasnet", "--out", str(tmp_path), "--resume",
                                   "--workers", "0", "--no-progress"])
    assert res.exit_code == 0 and "scored 0 candidates (4 already in the store)" in res.output
    res = CliRunner().invoke(cli, ["search", "snasnet", "--out", str(tmp_path), "--resume",
                                   "--T", "3", "--no-progress"])
    assert res.exit_code == 1 and "another configuration (T: stored 2, given 3)" in res.output
    res = CliRunner().invoke(cli, ["search", "snasnet", "--out", str(tmp_path), "--space", "x"])
    assert res.exit_code == 1 and "unknown search space 'x'" in res.output


def stored(path):
    con = sqlite3.connect(path, timeout=10)
    try:
        return {gid: (created, attempt) for gid, created, attempt in con.execute(
            "SELECT genome_id, created, attempt FROM candidates")}
    finally:
        con.close()


@pytest.mark.slow
def test_sigkilled_search_resumes_without_rescoring(tmp_path):
    n = 40
    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "snnc.cli"] + cli_args(killed, n)
                            + ["--workers", "1"], cwd=ROOT, start_new_session=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = killed / "store.sqlite"
    try:
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            try:
                if db.exists() and len(stored(db)) >= 3:
                    break
            except sqlite3.OperationalError:
                pass
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its scoring worker
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()
    before = stored(db)
    assert 3 <= len(before) < n
    assert not (killed / "ranking.csv").exists()

    res = CliRunner().invoke(cli, ["search", "snasnet", "--out", str(killed), "--resume",
                                   "--workers", "0", "--no-progress"])
    assert res.exit_code == 0, res.output
    after = stored(db)
    unique = len(after)
    assert f"scored {unique - len(before)} candidates ({len(before)} already in the store)" \
        in res.output
    assert {g: after[g] for g in before} == before  # untouched: same time, first attempt
    assert all(after[g][1] == 2 for g in set(after) - set(before))

    whole = run_search(SearchConfig(candidates=n, **TINY), tmp_path / "whole", workers=0)
    resumed = ranking_rows(killed / "ranking.csv")
    assert [(r["genome_id"], float(r["score"])) for r in resumed] == key(whole.ranking)
    assert (killed / "best.genome").read_text() == (tmp_path / "whole" / "best.genome").read_text()
