"""Hybrid network search (SpikeDHS section 4.4, eq. 21 and 28): the mixed neuron against hand
values, one candidate = the plain network (float64, equal outputs), the energy term and the
operation counts against hand counts, decoding, large lambda -> LIF, resume equality, the hybrid
genome's energy report (ReLU-fed layers as MACs, hand count) and the CLI end to end."""
from __future__ import annotations

import json
import math
import os
import signal
import textwrap
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

from snnc.backends.energy import build_report, rates_from_trace  # noqa: E402
from snnc.backends.torch import compile as compile_torch  # noqa: E402
from snnc.cli import cli  # noqa: E402
from snnc.errors import RunError, SearchError  # noqa: E402
from snnc.frontend import lower  # noqa: E402
from snnc.genome import parse, to_text  # noqa: E402
from snnc.ir import Graph, run  # noqa: E402
from snnc.passes.targets import prepare  # noqa: E402
from snnc.search.hns import HnsConfig, energy_term, run_hns, tie_layer_alphas  # noqa: E402
from tests.procs import kill_parent_and_wait  # noqa: E402
from snnc.search.hns_space import (decode, energy_weights, expected_energy,  # noqa: E402
                                   factors_for, hybrid_genome, hybrid_supernet, layer_alpha,
                                   layer_operations)

#: Two SpikeDHS layers on 8x8 digits: l1 at level 0 (2 channels per node), l2 at level 1 (4).
TINY = """snnc-genome 1
name "hns-tiny"
T 2
input 1x8x8
classes 10
neuron lif leak=0.2 v_th=0.5
surrogate dspike b=3

cell c dhs channels=2 nodes=2 {
  -2 -> 0 snn_b3
  -1 -> 1 snn_b3
  0 -> 1 snn_b5
}
layer l1 cell=c level=0
layer l2 cell=c level=1
"""


def lively(g: Graph, seed: int) -> Graph:
    """Random BatchNorm statistics with a positive offset, so that every layer fires."""
    g = g.copy(copy_params=True)
    rng = np.random.default_rng(seed)
    for bn in g.nodes_of("BatchNorm2d"):
        c = bn.attrs["num_features"]
        bn.params.update(weight=rng.uniform(0.8, 2.0, c), bias=rng.uniform(0.0, 0.5, c),
                         running_mean=rng.normal(0, 0.1, c), running_var=rng.uniform(0.5, 1.5, c))
    return g


def _x(seed=1, n=3):
    return np.random.default_rng(seed).normal(0.5, 1.0, (n, 1, 8, 8))


# ------------------------------------------------------------------ the mixed neuron
def test_supernet_structure():
    sp = hybrid_supernet(parse(TINY), ("lif", "relu", "alif"))
    g = sp.graph
    assert [layer.mixes for layer in sp.layers] == [("l1.n0.hns", "l1.n1.hns"),
                                                     ("l2.n0.hns", "l2.n1.hns")]
    assert sorted((e.src, e.port) for e in g.in_edges("l1.n0.hns")) == \
        [("l1.n0.alif", 2), ("l1.n0.lif", 0), ("l1.n0.relu", 1)]
    for cand in ("lif", "relu", "alif"):  # each candidate reads the node's input current
        assert [e.src for e in g.in_edges(f"l1.n0.{cand}")] == ["l1.n0.s0.bn"]
    assert g["l1.n0.lif"].attrs == sp.plain["l1.n0.lif"].attrs  # the layer's own neuron
    assert g["l1.n0.alif"].op == "ALIF" and g["l1.n0.alif"].attrs["beta"] == 0.2
    assert g["l1.n0.alif"].attrs["surrogate"] == g["l1.n0.lif"].attrs["surrogate"] == "dspike"
    assert g["l1.n0.relu"].op == "ReLU" and g["l1.n0.relu"].attrs == {}
    # the node's readers (node 1's conv, the concat) read the mix
    assert {e.dst for e in g.out_edges("l1.n0.hns")} == {"l1.n1.n0.conv", "l1.cat"}
    assert not g.out_edges("l1.n0.relu")[1:] and g.out_edges("l1.n0.relu")[0].dst == "l1.n0.hns"


def test_mixed_neuron_hand_values():
    """Eq. 21 with y_k in {LIF spikes, ReLU}: the candidates' attributes are SpikeDHS's LIF
    (v = 0.2 v + I, threshold 0.5, hard reset) and ReLU; with alpha = (ln 3, 0) the weights are
    3/4 and 1/4."""
    sp = hybrid_supernet(parse(TINY), ("lif", "relu"))
    g = Graph({"name": "mix", "T": 3, "classes": 1})
    g.add_node("input", "Input", {"shape": (1,)})
    g.add_node("lif", "LIF", sp.graph["l1.n0.lif"].attrs)
    g.add_node("relu", "ReLU", sp.graph["l1.n0.relu"].attrs)
    g.add_node("mix", "WeightedMix", {"k": 2}, {"alpha": np.array([math.log(3.0), 0.0])})
    g.add_node("output", "Output")
    for e in [("input", "lif"), ("input", "relu"), ("mix", "output")]:
        g.add_edge(*e)
    g.add_edge("lif", "mix", port=0)
    g.add_edge("relu", "mix", port=1)
    current = np.array([0.6, 0.2, 0.45, -1.0]).reshape(4, 1, 1)
    # LIF: H = 0.6 > 0.5 spike (V=0); H = 0.2; H = 0.04 + 0.45 = 0.49; H = 0.098 - 1
    spikes = np.array([1.0, 0.0, 0.0, 0.0])
    relu = np.array([0.6, 0.2, 0.45, 0.0])
    want = 0.75 * spikes + 0.25 * relu
    out = run(g, current, T=4).output.reshape(4)
    assert np.allclose(out, want, rtol=0, atol=1e-15)
    m = compile_torch(g, dtype=torch.float64)
    assert np.allclose(m(torch.as_tensor(current), T=4).detach().numpy().reshape(4), want,
                       rtol=0, atol=1e-15)


def test_supernet_torch_matches_interpreter_float64():
    sp = hybrid_supernet(parse(TINY), ("lif", "relu", "alif"))
    g = lively(sp.graph, 2)
    for layer in sp.layers:  # tied, non-uniform control parameters
        for m in layer.mixes:
            g[m].params["alpha"] = np.array([0.3, -0.4, 0.1])
    x = _x()
    ref = run(g, x).output
    m = compile_torch(g, dtype=torch.float64).eval()
    tie_layer_alphas(m, sp)
    with torch.no_grad():
        assert np.allclose(m(torch.as_tensor(x)).numpy(), ref, rtol=1e-12, atol=1e-12)


def test_one_candidate_reduces_exactly_to_the_plain_network():
    """k = 1: softmax(alpha) = (1,), so every mix passes its neuron's output through unchanged."""
    sp = hybrid_supernet(parse(TINY), ("lif",), seed=4)
    sup, plain = lively(sp.graph, 5), lively(sp.plain, 5)
    x = _x(3)
    ref = run(plain, x)
    assert ref.outputs["l2.n1.lif"].any()  # not trivially equal
    assert np.array_equal(run(sup, x).output, ref.output)
    m = compile_torch(sup, dtype=torch.float64).eval()
    p = compile_torch(plain, dtype=torch.float64).eval()
    with torch.no_grad():
        assert torch.equal(m(torch.as_tensor(x)), p(torch.as_tensor(x)))
    # decoding the one choice gives a genome that lowers to the plain network
    decoded = hybrid_genome(sp, {"l1": "lif", "l2": "lif"})
    assert np.array_equal(run(lively(lower(parse(to_text(decoded)), seed=4), 5), x).output,
                          ref.output)


# ------------------------------------------------------------------ energy term
def test_operation_counts_by_hand():
    """A_l1: l1.n1.n0.conv 2*2*9*64 = 2304 (node 0 -> node 1), l2.s1.down 4*4*4 = 64, l2.n1.s1.conv
    4*4*9*16 = 2304 (l1's concat feeds l2 as s1); A_l2: l2.n1.n0.conv 2304, head.pool 8*16 = 128."""
    sp = hybrid_supernet(parse(TINY))
    assert layer_operations(sp) == {"l1": 2304 + 64 + 2304, "l2": 2304 + 128}
    w = energy_weights(sp, "ops")
    assert w["l1"] == pytest.approx(2 * 4672 / 7104) and sum(w.values()) == pytest.approx(2)
    assert energy_weights(sp, "layer") == {"l1": 1.0, "l2": 1.0}
    with pytest.raises(SearchError, match="energy weighting"):
        energy_weights(sp, "flops")


def test_energy_term_by_hand():
    """Eq. 28: sum_l w_l sum_k softmax(a^l)_k rho_k, LIF 1, ReLU 4.26, ALIF 1 (alif=2 here)."""
    sp = hybrid_supernet(parse(TINY), ("lif", "relu", "alif"))
    rho = factors_for(sp, {"alif": 2.0})
    assert list(rho) == [1.0, 4.26, 2.0]
    alphas = {"l1": np.array([0.0, math.log(2.0), math.log(3.0)]),  # weights 1/6, 2/6, 3/6
              "l2": np.zeros(3)}  # 1/3 each
    hand_l1 = (1 * 1.0 + 2 * 4.26 + 3 * 2.0) / 6
    hand_l2 = (1.0 + 4.26 + 2.0) / 3
    w = {"l1": 0.5, "l2": 1.5}
    assert expected_energy(alphas, rho, w) == pytest.approx(0.5 * hand_l1 + 1.5 * hand_l2)
    t = energy_term({k: torch.as_tensor(v) for k, v in alphas.items()},
                    torch.as_tensor(rho), w)
    assert float(t) == pytest.approx(0.5 * hand_l1 + 1.5 * hand_l2, rel=1e-12)
    assert decode(alphas, sp) == {"l1": "alif", "l2": "lif"}  # argmax, the first on a tie
    with pytest.raises(SearchError, match="energy factor"):
        factors_for(hybrid_supernet(parse(TINY), ("lif", "plif tau=2")), {"plif": -1})


def test_space_errors():
    g = parse(TINY)
    with pytest.raises(SearchError, match="no layer l9"):
        hybrid_supernet(g, layers=["l9"])
    with pytest.raises(SearchError, match="distinct neuron models"):
        hybrid_supernet(g, ("lif", "lif leak=0.5"))
    with pytest.raises(SearchError, match="neuron candidate"):
        hybrid_supernet(g, ("lif", "spiky"))
    sp = hybrid_supernet(g, layers=["l2"])
    assert [layer.name for layer in sp.layers] == ["l2"] and "l1.n0.lif" in sp.graph
    with pytest.raises(SearchError, match="not a candidate"):
        hybrid_genome(sp, {"l2": "alif"})


# ------------------------------------------------------------------ the search
def _config(**kw):
    base = dict(genome=TINY, dataset="digits", limit_train=96, epochs=2, warmup=0,
                batch_size=32, lr=0.05, arch_lr=0.05, threads=1, dtype="float64", seed=0)
    base.update(kw)
    return HnsConfig(**base)


@pytest.mark.parametrize("candidates", [("lif", "relu"), ("relu", "lif")])
def test_large_lambda_drives_every_layer_to_lif(tmp_path, candidates):
    res = run_hns(_config(lam=100.0, candidates=candidates), tmp_path / "o")
    assert res.choice == {"l1": "lif", "l2": "lif"}
    lif = candidates.index("lif")
    assert all(p[lif] > 0.55 for p in res.probabilities.values())
    assert res.energy_decoded == 2.0 and res.energy_mixed < 1.0 + 4.26
    text = (tmp_path / "o" / "hybrid.genome").read_text()
    assert text == res.genome and text.count("neuron lif leak=0.2 v_th=0.5") == 3
    doc = json.loads((tmp_path / "o" / "search.json").read_text())
    assert doc["choice"] == res.choice and len(doc["history"]) == 2
    assert doc["layer_operations"] == {"l1": 4672, "l2": 2432}


class _Killed(Exception):
    pass


def test_resume_after_a_kill_equals_an_uninterrupted_search(tmp_path):
    cfg = _config(epochs=3, warmup=1, lam=0.5, candidates=("lif", "relu", "alif"),
                  optimisation="bilevel")
    whole = run_hns(cfg, tmp_path / "whole")

    def kill(row):
        if row["epoch"] == 2:
            raise _Killed

    with pytest.raises(_Killed):
        run_hns(cfg, tmp_path / "part", on_epoch=kill)
    with pytest.raises(SearchError, match="exists already"):
        run_hns(cfg, tmp_path / "part")
    with pytest.raises(SearchError, match="another configuration"):
        run_hns(_config(epochs=3, warmup=1, lam=0.4, candidates=("lif", "relu", "alif"),
                        optimisation="bilevel"), tmp_path / "part", resume=True)
    resumed = run_hns(cfg, tmp_path / "part", resume=True)
    assert resumed.resumed_from == 2 and resumed.attempt == 2
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in whole.history]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.history] == strip
    assert resumed.probabilities == whole.probabilities and resumed.genome == whole.genome
    a = torch.load(tmp_path / "whole" / "supernet.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "part" / "supernet.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    (tmp_path / "part" / "supernet.pt").write_bytes(b"damaged")
    with pytest.raises(RunError, match="cannot read"):
        run_hns(cfg, tmp_path / "part", resume=True)


_KILLED = """
import sys, time
from snnc.search.hns import HnsConfig, run_hns
def hold(done, total):
    if done == 1:
        print("READY", flush=True)
        time.sleep(120)
run_hns(HnsConfig.from_dict({cfg!r}), {out!r}, progress=hold)
"""


def test_sigkill_resumes_to_the_uninterrupted_result(tmp_path):
    cfg = _config(epochs=2, lam=0.5)
    whole = run_hns(cfg, tmp_path / "whole")
    code = textwrap.dedent(_KILLED.format(cfg=cfg.to_dict(), out=str(tmp_path / "part")))
    repo = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(repo) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    kill_parent_and_wait(code, signal.SIGKILL, "READY", min_children=0, env=env, timeout=90)
    assert not (tmp_path / "part" / "hybrid.genome").exists()
    resumed = run_hns(cfg, tmp_path / "part", resume=True)
    assert resumed.resumed_from == 1 and resumed.probabilities == whole.probabilities
    assert (tmp_path / "part" / "hybrid.genome").read_bytes() == \
        (tmp_path / "whole" / "hybrid.genome").read_bytes()


def test_trained_mixes_stay_tied(tmp_path):
    res = run_hns(_config(epochs=1, lam=0.3), tmp_path / "o")
    sp = hybrid_supernet(parse(TINY))
    m = compile_torch(sp.graph, dtype=torch.float64)
    shared = tie_layer_alphas(m, sp)
    with torch.no_grad():
        shared["l1"].copy_(torch.tensor([0.5, -0.5], dtype=torch.float64))
    g = m.to_ir()
    assert list(layer_alpha(g, sp.layers[0])) == [0.5, -0.5]
    assert len(res.history) == 1


# ------------------------------------------------------------------ energy of a hybrid genome
def test_energy_report_counts_relu_fed_layers_as_macs():
    """l1 ReLU, l2 LIF (T = 2): l1's readers multiply every step: l1.n1.n0.conv 2 * 2304 MACs,
    l2.s1.down 2 * 64, l2.n1.s1.conv 2 * 2304; the spike-fed layers stay accumulates."""
    sp = hybrid_supernet(parse(TINY))
    genome = hybrid_genome(sp, {"l1": "relu", "l2": "lif"})
    g, _ = prepare(lively(lower(parse(to_text(genome))), 6), "energy")
    trace = run(g, _x(7, 4))
    spiking = {n.name: trace.outputs[n.name] for n in g if n.op == "LIF"}
    rep = build_report(g, rates_from_trace(g, spiking), target="paper")
    rows = {r.name: r for r in rep.layers}
    analog = {"l1.n1.n0.conv": 2304, "l2.s1.down": 64, "l2.n1.s1.conv": 2304}
    for name, macs in analog.items():
        r = rows[name]
        assert (r.input, r.count_as, r.macs, r.sops) == ("analog", "MAC", 2 * macs, 0.0), name
        assert r.energy_pj == pytest.approx(4.6 * 2 * macs)
    for name in ("l1.n0.s0.conv", "l2.n0.s0.conv", "l2.n1.n0.conv", "head.pool"):
        assert rows[name].input == "spikes" and rows[name].count_as == "AC", name
    assert rep.totals["layers_analog"] == 3
    assert rep.totals["energy_analog_pj"] == pytest.approx(4.6 * 2 * (2304 + 64 + 2304))
    assert rep.to_dict()["layers"][0]["input"] == "input"


# ------------------------------------------------------------------ CLI (the CI's tiny search)
def test_cli_search_retrain_energy(tmp_path):
    genome = tmp_path / "tiny.genome"
    genome.write_text(TINY)
    out = tmp_path / "hns"
    runner = CliRunner(mix_stderr=False)
    args = ["search", "hns", str(genome), "--out", str(out), "--data", "digits",
            "--limit-train", "64", "--epochs", "1", "--warmup", "0", "--batch-size", "32",
            "--lr", "0.05", "--arch-lr", "0.05", "--lam", "0", "--energy-factor", "relu=5",
            "--no-progress"]
    res = runner.invoke(cli, args + ["--format", "json"])
    assert res.exit_code == 0, res.output + res.stderr
    doc = json.loads(res.stdout)
    assert set(doc["choice"]) == {"l1", "l2"} and doc["config"]["energy_factors"] == [["relu", 5.0]]
    res = runner.invoke(cli, ["search", "hns", "--out", str(out), "--resume", "--no-progress"])
    assert res.exit_code == 0, res.output + res.stderr
    assert "validation accuracy" in res.stdout and "softmax weights (lif relu)" in res.stdout
    res = runner.invoke(cli, ["search", "hns", "--out", str(out), "--resume", "--lam", "1"])
    assert res.exit_code == 1 and "another configuration" in res.stderr
    hybrid = parse((out / "hybrid.genome").read_text())
    assert [b.neuron.kind for b in hybrid.blocks if b.kind == "layer"] == \
        [doc["choice"]["l1"], doc["choice"]["l2"]]
    run_dir = tmp_path / "run"
    res = runner.invoke(cli, ["train", str(out / "hybrid.genome"), "--run-dir", str(run_dir),
                              "--data", "digits", "--epochs", "1", "--limit-train", "64",
                              "--limit-test", "32", "--no-progress", "--threads", "1"])
    assert res.exit_code == 0, res.output + res.stderr
    res = runner.invoke(cli, ["energy", str(run_dir), "--samples", "16", "--format", "json"])
    assert res.exit_code == 0, res.output + res.stderr
    report = json.loads(res.stdout)
    assert report["schema"] == "snnc-energy/4"
    relu_layers = [k for k, v in doc["choice"].items() if v == "relu"]
    assert (report["totals"]["layers_analog"] > 0) == bool(relu_layers)
    for row in report["layers"]:
        if row["input"] == "analog":
            assert row["count_as"] == "MAC" and row["macs"] == 2 * row["macs_per_step"]
    res = runner.invoke(cli, ["search", "hns", "--out", str(tmp_path / "x"), "--data", "digits"])
    assert res.exit_code != 0 and "GENOME" in res.stderr + res.output
