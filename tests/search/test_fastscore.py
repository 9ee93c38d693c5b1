"""The scoring-only executor (snnc.search.fastscore) against the reference scorer
(proxies.score_graph through the torch backend), and the executors behind run_search."""
import math

import numpy as np
import pytest
import torch

from snnc.compiler import compile_genome
from snnc.errors import SearchError, SnncError
from snnc.genome import to_text
from snnc.runtime.store import CandidateRecord, ExperimentStore
from snnc.search.cells import cell_genome, parse_code
from snnc.search.executors import (InProcessExecutor, Job, ProcessExecutor, make_executor,
                                   resolve_executor)
from snnc.search.fastscore import _Plan, gram_counts, naswot_scores_fast, unsupported
from snnc.search.proxies import score_graph
from snnc.search.snasnet import SearchConfig, _draw, run_search, search_batches
from snnc.search.spaces import make_space

TINY = dict(dataset="digits", channels=4, T=3, batch_size=24)
CODES = ["0302 0020 1003 0200",   # backward edges: a step-by-step component with BatchNorm
         "0333 0003 0003 0000",   # three conv3x3 leaving node 0: one LIF computed, counted thrice
         "0042 2001 0204 0000",   # avg-pool and backward conv1x1 edges
         "0001 0000 0000 0000"]   # a skip: only the skeleton's own LIF layers


def _graph(code, channels=4, T=3, seed=0):
    g = cell_genome(parse_code(code), channels=channels, T=T, input_shape=(1, 8, 8), classes=10)
    return compile_genome(to_text(g), target="train", seed=seed).graph


def _batch(n=24, seed=0, dtype=torch.float64):
    rng = np.random.default_rng(seed)
    return [(torch.from_numpy(rng.standard_normal((n, 1, 8, 8))).to(dtype),
             rng.integers(0, 10, n))]


@pytest.mark.parametrize("code", CODES)
def test_fast_scores_equal_the_reference_in_float64(code):
    g = _graph(code)
    data = _batch()
    ref = score_graph(g, data, kinds=("sahd", "hd"), dtype=torch.float64)
    fast = naswot_scores_fast(g, data, dtype=torch.float64)
    assert fast.keys() == {"sahd", "hd"}
    for k in ("sahd", "hd"):
        assert math.isfinite(ref[k]) and fast[k] == pytest.approx(ref[k], rel=1e-9, abs=1e-9)


def test_fast_scores_on_stts_graphs_with_delays_and_two_batches():
    space = make_space("stts-small", channels=4, T=3, input_shape=(1, 8, 8), classes=10)
    data = _batch(seed=1) + _batch(seed=2)
    for seed in range(2):
        g = compile_genome(space.sample(seed).text, target="train", seed=0).graph
        ref = score_graph(g, data, kinds=("sahd",), dtype=torch.float64)
        fast = naswot_scores_fast(g, data, dtype=torch.float64)
        assert fast["sahd"] == pytest.approx(ref["sahd"], rel=1e-9)
        assert fast["hd"] == pytest.approx(ref["hd"], rel=1e-9)


def test_equivalent_lif_layers_are_computed_once_and_counted_each():
    p = _Plan(_graph("0333 0003 0003 0000"))
    # cell1 and cell2 each: three conv3x3 edges leave node 0 (one LIF each), one leaves 1 and 2
    merged = {n: w for n, w in p.weight.items() if n.startswith("cell")}
    assert sorted(merged.values()) == [1, 1, 1, 1, 3, 3], merged
    assert sum(p.weight.values()) == sum(1 for n in p.graph if n.op == "LIF")
    assert all(p.rep[a].startswith(a.split(".")[0]) for a in p.rep)


def test_gram_counts_are_exact_for_any_layout():
    rng = np.random.default_rng(0)
    codes = torch.from_numpy(rng.random((7, 5, 3, 3)) < 0.4)
    flat = codes.reshape(7, -1).numpy().astype(np.float64)
    for c in (codes, codes.contiguous(memory_format=torch.channels_last)):
        gram, fired = gram_counts(c)
        assert np.array_equal(gram, flat @ flat.T)
        assert np.array_equal(fired, flat.sum(1))


def test_unsupported_graphs_and_scores_are_refused_by_name():
    g = _graph("0001 0000 0000 0000")
    assert unsupported(g) is None
    assert "escore" in unsupported(g, ("sahd", "escore"))
    assert "protocol" in unsupported(g, protocol="code")
    g["cell1.n0"].op = "Concat"  # an op the executor does not run
    assert "cell1.n0" in unsupported(g)
    with pytest.raises(SnncError, match="cell1.n0"):
        naswot_scores_fast(g, _batch())


def test_fast_scorer_ranks_like_the_reference_in_float32(tmp_path):
    cfg = SearchConfig(space="snasnet-bw", candidates=12, **TINY)
    fast = run_search(cfg, tmp_path / "fast", workers=0)
    ref = run_search(SearchConfig(space="snasnet-bw", candidates=12, scorer="reference", **TINY),
                     tmp_path / "ref", workers=0)
    a = {c.genome_id: c.score for c in fast.ranking}
    b = {c.genome_id: c.score for c in ref.ranking}
    assert a.keys() == b.keys()
    assert all(a[g] == pytest.approx(b[g], rel=1e-4) for g in a)
    # escore is not the fast executor's: the whole search falls back to the reference scorer
    both = run_search(SearchConfig(space="snasnet-bw", candidates=3, also=("escore",), **TINY),
                      tmp_path / "escore", workers=0)
    assert all(math.isfinite(c.scores["escore"]) or math.isnan(c.scores["escore"])
               for c in both.ranking)


def test_old_stores_read_as_the_reference_scorer():
    d = SearchConfig(**TINY).to_dict()
    del d["scorer"]
    assert SearchConfig.from_dict(d).scorer == "reference"
    with pytest.raises(SearchError, match="unknown scorer"):
        SearchConfig(scorer="quick", **TINY)


# ------------------------------------------------------------------------------------ executors
def _square(context, item):
    return context * item * item


def test_executors_give_every_result_once():
    job = Job(_square, 3, threads=1)
    items = [(f"k{i}", i) for i in range(7)]
    want = {f"k{i}": 3 * i * i for i in range(7)}
    with InProcessExecutor() as ex:
        assert dict(ex.map_unordered(job, items)) == want
    with ProcessExecutor(2) as ex:
        got = list(ex.map_unordered(job, items))
    assert dict(got) == want and len(got) == 7


def test_executor_choice_is_checked():
    assert resolve_executor(None, workers=0) == "inprocess"
    assert resolve_executor(None, workers=2) == "process"
    with pytest.raises(SearchError, match="unknown executor"):
        make_executor("cloud")
    with pytest.raises(SearchError, match="--scheduler is for --executor dask"):
        make_executor("process", scheduler="tcp://127.0.0.1:1")
    with pytest.raises(SearchError, match="workers >= 1"):
        ProcessExecutor(0)


def test_store_commit_can_be_idempotent(tmp_path):
    with ExperimentStore(tmp_path / "s.sqlite") as store:
        store.create_search("s", {}, 0)
        rec = CandidateRecord("a" * 64, 0, "d", "text", 1.0, {"sahd": 1.0})
        assert store.add_candidate("s", rec) is True
        assert store.add_candidate("s", rec, exist_ok=True) is False
        assert store.count("s") == 1


def test_search_batches_are_shared_by_every_executor(tmp_path):
    cfg = SearchConfig(candidates=6, **TINY)
    batches, classes, shape = search_batches(cfg)
    assert len(_draw(cfg, shape, classes)[0]) >= 2
    a = run_search(cfg, tmp_path / "a", executor="inprocess")
    b = run_search(cfg, tmp_path / "b", executor="process", workers=2)
    key = [(c.genome_id, c.score, c.scores) for c in a.ranking]
    assert [(c.genome_id, c.score, c.scores) for c in b.ranking] == key


def test_cli_executor_and_scorer_options(tmp_path):
    from click.testing import CliRunner

    from snnc.cli import cli

    args = ["search", "snasnet", "--data", "digits", "--candidates", "3", "--channels", "4",
            "--T", "2", "--batch-size", "24", "--no-progress"]
    res = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "a"), "--executor",
                                          "inprocess", "--scorer", "reference"])
    assert res.exit_code == 0, res.output
    with ExperimentStore(tmp_path / "a" / "store.sqlite", lock=False) as store:
        assert SearchConfig.from_dict(store.search("snasnet").config).scorer == "reference"
    res = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "b"), "--executor", "process",
                                          "--scheduler", "tcp://127.0.0.1:1"])
    assert res.exit_code == 1 and "--scheduler is for --executor dask" in res.output
    assert not (tmp_path / "b" / "store.sqlite").exists()
