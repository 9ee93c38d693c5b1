"""The BCNAS-SNN search driver (section 4.2, Table 4) on a tiny ResNet-18 and real images
(scikit-learn's 8x8 digits): same seed same result, interruption at each of the three steps and a
real SIGKILL in step 3 resume to exactly the uninterrupted result without recomputing what was
stored, the ablation switches, the CLI end to end and retraining of the best genome."""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from snnc.cli import cli
from snnc.errors import SearchError, StoreError
from snnc.genome import parse
from snnc.runtime.store import ExperimentStore
from snnc.search import bcnas
from snnc.search.bcnas import BcnasConfig, run_bcnas
from snnc.search.bcnas_space import Architecture, from_genome
from tests.procs import kill_parent_and_wait

pytestmark = pytest.mark.slow  # each search ~3 s on two cores

REPO = Path(__file__).resolve().parents[2]
TINY = BcnasConfig(dataset="digits", channels=2, limit_train=200, p_init=8, n_top=2, e_top=2,
                   score_batch=16, pool=4, top_k=3, max_children=2, iterations=3, epochs=2,
                   batch_size=16, seed=1)


class Stop(Exception):
    pass


def outputs(out: Path) -> tuple[str, str]:
    return (out / "ranking.csv").read_text(), (out / "best.genome").read_text()


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("ref")
    result = run_bcnas(TINY, out)
    return result, outputs(out)


def test_same_seed_same_result_and_what_it_writes(reference, tmp_path):
    result, (ranking, genome) = reference
    again = run_bcnas(TINY, tmp_path)
    assert outputs(tmp_path) == (ranking, genome)
    rows = list(csv.DictReader(ranking.splitlines()))
    # every pool member evaluated once; the first pool holds at most n_top + e_top
    assert len(rows) == len(result.ranking) == again.evaluated
    assert sum(r["origin"] == "init" for r in rows) <= 4
    assert {r["origin"] for r in rows} <= {"init", "mutation", "crossover", "random"}
    accs = [float(r["val_accuracy"]) for r in rows]
    assert accs == sorted(accs, reverse=True) and len(set(accs)) > 1
    # initial architectures carry both step-1 scores, children made in step 3 none
    for r in rows:
        assert (r["nscore"] != "" and r["escore"] != "") == (r["origin"] == "init")
    # the best genome is the top row's architecture, a plain ResNet genome
    best = from_genome(parse(genome))
    assert rows[0]["connections"] == ("; ".join(f"{j}->{i}" for j, i in best.connections)
                                      or "none")
    assert result.best.arch == best == result.top[0][0]
    assert result.scored == TINY.p_init


@pytest.mark.parametrize("where", [("init", 4), ("supernet", 0), ("supernet", 2),
                                   ("evolution", 1)])
def test_interrupted_at_each_step_resumes_to_the_same_result(reference, tmp_path, where):
    _, expected = reference

    def stop(step, done, total):
        if (step, done) == where:
            raise Stop

    with pytest.raises(Stop):
        run_bcnas(TINY, tmp_path, progress=stop)
    assert not (tmp_path / "best.genome").exists()
    ckpt = tmp_path / "supernet" / "supernet.pt"
    before = ckpt.stat().st_mtime_ns if ckpt.exists() else None
    with ExperimentStore(tmp_path / "store.sqlite", lock=False) as store:
        scored_before = store.count("bcnas")
    resumed = run_bcnas(TINY, tmp_path, resume=True)
    assert outputs(tmp_path) == expected
    assert resumed.attempt == 2
    assert resumed.scored == TINY.p_init - scored_before  # nothing scored twice
    if where == ("init", 4):
        assert scored_before == 4
    if where == ("supernet", 2):
        assert ckpt.stat().st_mtime_ns == before  # the trained supernet is not trained again
    if where == ("evolution", 1):
        first = sum(e.iteration == 1 for e in resumed.ranking)
        assert resumed.evaluated == len(resumed.ranking) - first


_KILLED = """
import sys, time
from snnc.search.bcnas import BcnasConfig, run_bcnas
def hold(step, done, total):
    if (step, done) == ("evolution", 1):
        print("READY", flush=True)
        time.sleep(120)
run_bcnas(BcnasConfig(**{cfg!r}), sys.argv[1] if len(sys.argv) > 1 else {out!r}, progress=hold)
"""


def test_sigkill_in_step_3_resumes_to_the_same_result(reference, tmp_path):
    _, expected = reference
    code = textwrap.dedent(_KILLED.format(cfg=TINY.to_dict(), out=str(tmp_path)))
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    kill_parent_and_wait(code, signal.SIGKILL, "READY", min_children=0, env=env, timeout=60)
    assert not (tmp_path / "best.genome").exists()
    resumed = run_bcnas(TINY, tmp_path, resume=True)
    assert outputs(tmp_path) == expected
    assert resumed.scored == 0 and resumed.attempt == 2
    assert resumed.evaluated == len(resumed.ranking) - sum(e.iteration == 1
                                                           for e in resumed.ranking)


def test_refusals(reference, tmp_path):
    run_bcnas(dataclasses.replace(TINY, iterations=1, epochs=1), tmp_path)
    with pytest.raises(SearchError, match="exists already"):
        run_bcnas(TINY, tmp_path)
    with pytest.raises(SearchError, match="iterations: stored 1, given 3"):
        run_bcnas(TINY, tmp_path, resume=True)
    with pytest.raises(SearchError, match="no search to resume"):
        run_bcnas(TINY, tmp_path / "empty", resume=True)
    with ExperimentStore(tmp_path / "store.sqlite") as store:
        store._q("UPDATE bcnas_state SET value = '99' WHERE kind = 'schema'")
    with pytest.raises(StoreError, match="bcnas_state schema version 99"):
        run_bcnas(dataclasses.replace(TINY, iterations=1, epochs=1), tmp_path, resume=True)
    for bad, message in (({"init": "best"}, "init must be one of"),
                         ({"search": "grid"}, "search must be one of"),
                         ({"alpha": 1.5}, "alpha must be in"), ({"p_init": 0}, "p_init")):
        with pytest.raises(SearchError, match=message):
            dataclasses.replace(TINY, **bad)


def test_first_pool_ablations():
    archs = [Architecture.of([(k, 0)]) for k in range(6)]
    scores = {a: {"sahd": float(k), "escore": float(-k)} for k, a in enumerate(archs)}
    pick = {init: [c.arch for c in bcnas._first_pool(archs, scores, dataclasses.replace(
        TINY, init=init, n_top=1, e_top=1, pool=3))] for init in bcnas.INITS}
    assert pick["both"] == [archs[5], archs[0]]
    assert pick["nscore"] == [archs[5], archs[4]]
    assert pick["escore"] == [archs[0], archs[1]]
    assert pick["random"] == archs[:3]
    assert dataclasses.replace(TINY, init="nscore").kinds == ("sahd",)
    assert dataclasses.replace(TINY, init="random").kinds == ()


def test_random_init_and_random_search_ablation(tmp_path):
    cfg = dataclasses.replace(TINY, init="random", search="random", epochs=1)
    result = run_bcnas(cfg, tmp_path)
    assert result.scored == 0
    rows = list(csv.DictReader((tmp_path / "ranking.csv").open()))
    assert all(r["nscore"] == r["escore"] == "" for r in rows)
    assert {r["origin"] for r in rows if r["iteration"] == "1"} == {"init"}
    assert {r["origin"] for r in rows if r["iteration"] != "1"} == {"random"}
    assert sum(r["iteration"] == "1" for r in rows) == cfg.pool


def test_cli_end_to_end_and_the_best_genome_retrains(tmp_path):
    out = tmp_path / "s"
    args = ["search", "bcnas", "--out", str(out), "--data", "digits", "--channels", "2",
            "--limit-train", "120", "--p-init", "8", "--n-top", "2", "--e-top", "2",
            "--score-batch", "16", "--pool", "4", "--top-k", "3", "--max-children", "2",
            "--iterations", "2", "--epochs", "1", "--batch-size", "32", "--seed", "1"]
    res = CliRunner(mix_stderr=False).invoke(cli, args + ["--format", "json"])
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["scored"] == 8 and data["config"]["p_init"] == 8
    assert "step 1 scoring" in res.stderr and "wrote" in res.stderr
    best = from_genome(parse((out / "best.genome").read_text()))
    assert [list(c) for c in best.connections] == data["best"]["connections"]
    res = CliRunner(mix_stderr=False).invoke(cli, ["search", "bcnas", "--out", str(out),
                                                   "--resume"])
    assert res.exit_code == 0, res.stderr
    assert res.stdout.startswith("scored 0 architectures, evaluated 0")
    res = CliRunner(mix_stderr=False).invoke(cli, ["search", "bcnas", "--out", str(out),
                                                   "--resume", "--iterations", "5"])
    assert res.exit_code == 1 and "iterations: stored 2, given 5" in res.stderr
    res = CliRunner(mix_stderr=False).invoke(cli, [
        "train", str(out / "best.genome"), "--run-dir", str(tmp_path / "run"), "--data",
        "digits", "--epochs", "1", "--limit-train", "64", "--limit-test", "32", "--no-progress"])
    assert res.exit_code == 0, res.stderr
    assert np.isfinite(float(res.stdout.split()[-1].rstrip("%")))


def test_step_one_on_a_process_pool_gives_the_same_search(reference, tmp_path):
    _, want = reference
    result = run_bcnas(TINY, tmp_path, executor="process", workers=2)
    assert result.scored == TINY.p_init
    assert outputs(tmp_path) == want
