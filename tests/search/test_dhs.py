"""SpikeDHS search (snnc.search.dhs): the decoding rule on hand-set weights (top-2 edges, ties,
paper and code ranking, Viterbi path), the supernet genome, shared alpha, bi-level optimisation
(what moves on which half), resume after a kill, and the CLI end to end on digits with a retrain
of the written genome."""
from __future__ import annotations

import json
import math
import os
import signal
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from snnc.cli import cli
from snnc.errors import SearchError
from snnc.frontend import lower
from snnc.genome import parse_file
from snnc.search.dhs import (DhsConfig, decode_cell, default_path, run_dhs, supernet_genome,
                             tie_arch_parameters, viterbi)

from tests.procs import kill_parent_and_wait

torch = pytest.importorskip("torch")
REPO = Path(__file__).resolve().parents[2]
CANDS = ("skip", "snn_b3", "snn_b5")


def tiny(**kw) -> DhsConfig:
    base = dict(dataset="digits", limit_train=96, nodes=2, channels=2, layers=2, T=2, epochs=2,
                warmup=1, batch_size=24, arch_lr=0.05)
    base.update(kw)
    return DhsConfig(**base)


# ------------------------------------------------------------------ decoding
def test_decode_keeps_the_two_strongest_edges_with_their_argmax_op():
    L = np.log
    alphas = {(0, -2): L([0.2, 0.5, 0.3]), (0, -1): L([0.1, 0.1, 0.8]),
              # node 1: s0 strongest 0.6 (skip), s1 0.5 (snn_b5), n0 0.4 (snn_b3)
              (1, -2): L([0.6, 0.2, 0.2]), (1, -1): L([0.25, 0.25, 0.5]),
              (1, 0): L([0.3, 0.4, 0.3])}
    assert decode_cell(alphas, CANDS, 2) == [(-2, 0, "snn_b3"), (-1, 0, "snn_b5"),
                                             (-2, 1, "skip"), (-1, 1, "snn_b5")]
    # the authors' code ignores op 0 (skip) when ranking and choosing: node 1's s0 is then
    # 0.2 (snn_b3, the first of a tie) and loses to s1 (0.5) and n0 (0.4)
    assert decode_cell(alphas, CANDS, 2, rank="code") == [(-2, 0, "snn_b3"), (-1, 0, "snn_b5"),
                                                          (-1, 1, "snn_b5"), (0, 1, "snn_b3")]


def test_decode_ties_go_to_the_earlier_source_and_candidate():
    alphas = {(0, -2): np.zeros(3), (0, -1): np.zeros(3),
              (1, -2): np.zeros(3), (1, -1): np.zeros(3), (1, 0): np.zeros(3)}
    assert decode_cell(alphas, CANDS, 2) == [(-2, 0, "skip"), (-1, 0, "skip"),
                                             (-2, 1, "skip"), (-1, 1, "skip")]
    alphas[(1, 0)] = np.array([0.0, 0.0, 1e-9])
    assert decode_cell(alphas, CANDS, 2)[2:] == [(-2, 1, "skip"), (0, 1, "snn_b5")]
    # one candidate: code ranking has nothing else to keep
    one = {k: np.zeros(1) for k in alphas}
    assert [op for *_, op in decode_cell(one, ("snn_b3",), 2, rank="code")] == ["snn_b3"] * 4
    with pytest.raises(SearchError, match="rank must be one of paper, code"):
        decode_cell(alphas, CANDS, 2, rank="darts")
    with pytest.raises(SearchError, match="expected \\(3,\\)"):
        decode_cell({**alphas, (0, -2): np.zeros(2)}, CANDS, 2)


def test_viterbi_finds_the_maximum_probability_path():
    L = np.log
    # 3 layers, 3 levels; ports of (layer, level) are the previous layer's levels s-1, s, s+1
    betas = {(1, 0): [0.0], (1, 1): [0.0],
             (2, 0): L([0.5, 0.5]), (2, 1): L([0.9, 0.1]), (2, 2): [0.0],
             (3, 0): L([0.5, 0.5]), (3, 1): L([0.1, 0.8, 0.1]), (3, 2): L([0.8, 0.2]),
             "head": L([0.2, 0.6, 0.2])}
    # best into (3, 1): 1 * 0.9 * 0.8 = 0.72 via [0, 1]; times the head's 0.6 beats ending at
    # level 2 (0.72 * 0.2) or 0 (0.45 * 0.2); going down at once ([1, 2, ...]) gets 0.2 at most
    assert viterbi(betas, 3, 3) == [0, 1, 1]
    betas["head"] = L([0.2, 0.2, 0.6])  # now ending at level 2 wins: 0.9 * 0.8 * 0.6
    assert viterbi(betas, 3, 3) == [0, 1, 2]
    betas[(3, 2)] = L([0.1, 0.9])  # ... and through level 2 at layer 2: 1 * 1 * 0.9 * 0.6
    assert viterbi(betas, 3, 3) == [1, 2, 2]
    # a tie goes to the lower level
    assert viterbi({(1, 0): [0.0], (1, 1): [0.0], "head": [0.0, 0.0]}, 1, 2) == [0]
    assert viterbi({(1, 0): [0.0], (1, 1): [0.0], "head": [0.0, 1e-9]}, 1, 2) == [1]
    with pytest.raises(SearchError, match="trellis beta \\(2, 1\\): expected 2 values"):
        viterbi({**betas, (2, 1): [0.0]}, 3, 3)


def test_default_path_is_darts_fixed_downsampling():
    assert default_path(8) == [0, 0, 1, 1, 1, 2, 2, 2]  # the authors' released path
    assert default_path(3) == [0, 1, 2] and default_path(2) == [1, 2]


# ------------------------------------------------------------------ supernet
def test_supernet_genome_mixes_every_edge():
    g = supernet_genome(tiny(nodes=3, candidates=("snn_b3", "snn_b5"), mixing="spike"),
                        (1, 8, 8), 10)
    cell = g.blocks[0]
    assert [(e.src, e.dst, e.op) for e in cell.edges] == sorted(
        (s, j, "mix") for j in range(3) for s in range(-2, j))
    assert (cell["mixing"], cell["candidates"]) == ("spike", "snn_b3 snn_b5")
    assert [b["level"] for b in g.blocks[1:]] == [1, 2]
    assert supernet_genome(tiny(trellis=True), (1, 8, 8), 10).blocks[1].kind == "trellis"
    with pytest.raises(SearchError, match="level 3 needs"):
        supernet_genome(tiny(path=(1, 2, 3), layers=3), (1, 12, 12), 10)
    with pytest.raises(SearchError, match="candidates must be distinct"):
        tiny(candidates=("skip", "conv"))
    with pytest.raises(SearchError, match="layer 2 at level 2 after level 0"):
        tiny(path=(0, 2))


def test_alpha_is_shared_by_every_layer():
    from snnc.backends.torch import compile as compile_torch

    g = lower(supernet_genome(tiny(trellis=True, layers=3), (1, 8, 8), 10))
    module = compile_torch(g)
    alphas, betas = tie_arch_parameters(module)
    assert sorted(alphas) == [(0, -2), (0, -1), (1, -2), (1, -1), (1, 0)]
    assert len(betas) == 9 and "head" in betas
    mixes = [n.name for n in g.nodes_of("WeightedMix") if n.name.endswith("n1.n0.mix")]
    assert len(mixes) == 8  # one per trellis cell
    assert all(module.layer(m).alpha is alphas[(1, 0)] for m in mixes)
    every = {id(module.layer(n.name).alpha) for n in g.nodes_of("WeightedMix")}
    assert every == {id(p) for p in [*alphas.values(), *betas.values()]}
    assert every <= {id(p) for p in module.parameters()}  # what an optimiser sees, once each


# ------------------------------------------------------------------ search
def test_search_moves_weights_on_a_and_arch_on_b_after_warmup(tmp_path):
    result = run_dhs(tiny(epochs=2, warmup=1), tmp_path / "s")
    first, second = result.history
    assert first["search"] is False and first["arch_loss"] is None
    # alpha starts at 1e-3 * randn: nearly uniform, and the warm-up leaves it there
    assert all(abs(w - 1 / 3) < 1e-3 for ws in first["alpha"].values() for w in ws)
    assert second["search"] is True and math.isfinite(second["arch_loss"])
    moved = max(abs(w - 1 / 3) for ws in second["alpha"].values() for w in ws)
    assert moved > 1e-3
    assert result.weights["alpha"] == second["alpha"]
    genome = parse_file(result.paths["genome"])
    assert [b.kind for b in genome.blocks] == ["cell", "layer", "layer"]
    edges = [(e.src, e.dst, e.op) for e in genome.blocks[0].edges]
    assert sorted(edges) == sorted(result.cell) and len(edges) == 4  # node 0: 2, node 1: top 2
    saved = json.loads(result.paths["arch"].read_text())
    assert saved["path"] == [1, 2] and len(saved["history"]) == 2
    assert result.paths["plot"].read_bytes()[:4] == b"\x89PNG"


_KILLED = """
import time
from snnc.search.dhs import DhsConfig, run_dhs
def hold(epoch, epochs, row):
    if epoch == 2:  # epoch 2's checkpoint is written: be killed in epoch 3
        print("READY", flush=True)
        time.sleep(120)
run_dhs(DhsConfig.from_dict({cfg!r}), {out!r}, progress=hold)
"""


def test_resume_after_sigkill_gives_the_same_search(tmp_path):
    cfg = tiny(trellis=True, epochs=3, warmup=1)
    full = run_dhs(cfg, tmp_path / "full")
    code = textwrap.dedent(_KILLED.format(cfg=cfg.to_dict(), out=str(tmp_path / "cut")))
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    kill_parent_and_wait(code, signal.SIGKILL, "READY", min_children=0, env=env, timeout=120)
    assert not (tmp_path / "cut" / "best.genome").exists()
    resumed = run_dhs(cfg, tmp_path / "cut", resume=True)
    assert resumed.resumed_from == 2

    def timeless(rows):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]

    assert timeless(resumed.history) == timeless(full.history)  # every loss, accuracy, weight
    assert resumed.genome == full.genome and resumed.path == full.path
    assert (tmp_path / "cut" / "best.genome").read_bytes() == \
        (tmp_path / "full" / "best.genome").read_bytes()
    a = torch.load(tmp_path / "full" / "supernet.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "cut" / "supernet.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(SearchError, match="another configuration .*epochs: stored 3, given 4"):
        run_dhs(tiny(trellis=True, epochs=4, warmup=1), tmp_path / "cut", resume=True)
    with pytest.raises(SearchError, match="exists already"):
        run_dhs(cfg, tmp_path / "cut")
    with pytest.raises(SearchError, match="no search to resume"):
        run_dhs(cfg, tmp_path / "none", resume=True)


def test_cli_search_then_train_the_written_genome(tmp_path):
    out = tmp_path / "dhs"
    runner = CliRunner(mix_stderr=False)
    args = ["search", "dhs", "--out", str(out), "--data", "digits", "--limit-train", "96",
            "--nodes", "2", "--channels", "2", "--layers", "2", "--T", "2", "--epochs", "2",
            "--warmup", "1", "--batch-size", "24", "--trellis", "--mixing", "spike",
            "--rank", "code", "--genome-channels", "3", "--format", "json"]
    res = runner.invoke(cli, args)
    assert res.exit_code == 0, res.stdout + res.stderr
    report = json.loads(res.stdout)
    assert report["config"]["mixing"] == "spike" and len(report["path"]) == 2
    assert all(e["op"] != "skip" for e in report["cell"])  # the code rule never picks op 0
    text = (out / "best.genome").read_text()
    assert "cell c dhs channels=3 nodes=2 {" in text
    res = runner.invoke(cli, ["search", "dhs", "--out", str(out), "--resume", "--format",
                              "json"])
    assert res.exit_code == 0, res.stdout + res.stderr
    assert json.loads(res.stdout)["resumed_from"] == 2
    res = runner.invoke(cli, ["search", "dhs", "--out", str(out), "--resume", "--epochs", "5"])
    assert res.exit_code == 1 and "epochs: stored 2, given 5" in res.stderr
    res = runner.invoke(cli, ["train", str(out / "best.genome"), "--run-dir", str(tmp_path / "r"),
                              "--data", "digits", "--epochs", "1", "--limit-train", "64",
                              "--limit-test", "32", "--batch-size", "32"])
    assert res.exit_code == 0, res.stdout + res.stderr
    assert (tmp_path / "r" / "model.snnir").exists()


def test_cli_fixed_path_resumes_with_its_stored_path(tmp_path):
    out = tmp_path / "p"
    runner = CliRunner(mix_stderr=False)
    args = ["search", "dhs", "--out", str(out), "--data", "digits", "--limit-train", "48",
            "--nodes", "1", "--channels", "2", "--layers", "2", "--T", "1", "--epochs", "1",
            "--warmup", "0", "--batch-size", "24", "--path", "0,1", "--format", "json"]
    res = runner.invoke(cli, args)
    assert res.exit_code == 0, res.stdout + res.stderr
    assert json.loads(res.stdout)["path"] == [0, 1]
    res = runner.invoke(cli, ["search", "dhs", "--out", str(out), "--resume", "--format", "json"])
    assert res.exit_code == 0, res.stdout + res.stderr
    assert json.loads(res.stdout)["config"]["path"] == [0, 1]
    res = runner.invoke(cli, ["search", "dhs", "--out", str(out), "--resume", "--path", "1,1"])
    assert res.exit_code == 1 and "path: stored (0, 1), given (1, 1)" in res.stderr
    res = runner.invoke(cli, args[:-2] + ["--out", str(tmp_path / "q"), "--path", "0,2"])
    assert res.exit_code == 1 and "layer 2 at level 2 after level 0" in res.stderr
