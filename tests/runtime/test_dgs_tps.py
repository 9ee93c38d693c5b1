"""DGS and TPS inside ``snnc train`` (SpikeDHS section 4.2, Algorithm 2, eq. 18; section 4.3,
Algorithm 3, eq. 21-23) on a tiny SpikeDHS genome and scikit-learn's 8x8 digits: the mixed
operations against hand-computed values, one-candidate searches equal to plain training, a short
run that moves the values into the output genome, resume after SIGKILL, the CLI."""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from click.testing import CliRunner  # noqa: E402

from snnc.backends.torch import compile as compile_torch  # noqa: E402
from snnc.backends.torch.neurons import LIFNode  # noqa: E402
from snnc.cli import cli  # noqa: E402
from snnc.errors import RunError  # noqa: E402
from snnc.frontend import lower  # noqa: E402
from snnc.genome import parse, parse_file  # noqa: E402
from snnc.ir.artifact import load  # noqa: E402
from snnc.runtime.config import DGSConfig, TPSConfig  # noqa: E402
from snnc.runtime.dgs import DGS, candidates, mix_weights  # noqa: E402
from snnc.runtime.runs import RunDir  # noqa: E402
from snnc.runtime.tps import TPS, MixedNeuron, leak_candidates  # noqa: E402
from snnc.runtime.train import TrainConfig, train  # noqa: E402

REPO = Path(__file__).resolve().parents[2]

GENOME = """\
snnc-genome 1
name "dhs-tiny"
T 2
input 1x8x8
classes 10
neuron lif leak=0.2 v_th=0.5
surrogate dspike b=3

cell c dhs channels=2 nodes=2 {
  -2 -> 0 snn_b3
  -1 -> 1 snn_b3
  0 -> 1 snn_b3
}
layer l1 cell=c level=0
layer l2 cell=c level=1
"""
#: ~0.3 s per epoch on one thread (plus the DGS phases).
FAST = dict(dataset="digits", epochs=3, batch_size=32, optimizer="adamw", lr=0.01, threads=1,
            limit_train=96, limit_test=64)
DGS_CFG = dict(layers="stem,l2", interval=1, iterations=2)
TPS_CFG = dict(layers="all", step=2, warmup=1)


@pytest.fixture(scope="module")
def genome_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("genome") / "dhs.genome"
    path.write_text(GENOME)
    return path


@pytest.fixture(scope="module")
def searched(tmp_path_factory, genome_file):
    """One uninterrupted 3-epoch run with DGS and TPS (the reference of the resume test)."""
    run_dir = tmp_path_factory.mktemp("runs") / "ref"
    cfg = TrainConfig(**FAST, dgs=DGSConfig(**DGS_CFG), tps=TPSConfig(**TPS_CFG))
    return train(genome_file, cfg, run_dir, progress=False)


# ------------------------------------------------------------------ mixed operations
def test_dgs_candidates_and_mixed_weight_hand_computed():
    cfg = DGSConfig()  # N = 5, delta b = 0.2, clamp [1, 6] (SpikeDHS section 5.1.2, the code)
    assert candidates(3.0, cfg) == [2.6, 2.8, 3.0, 3.2, 3.4]
    assert candidates(1.1, cfg) == [1.0, 1.1, 1.3, 1.5]  # 0.7 and 0.9 clamp to 1.0 (merged)
    assert candidates(3.0, DGSConfig(candidates=1)) == [3.0]
    assert candidates(3.0, DGSConfig(candidates=2, delta=0.5)) == [2.75, 3.25]
    # eq. 18: softmax([0, ln 3]) = [1/4, 3/4]
    alpha = torch.tensor([0.0, math.log(3.0)], dtype=torch.float64)
    w1 = torch.tensor([1.0, 2.0], dtype=torch.float64)
    w2 = torch.tensor([5.0, -2.0], dtype=torch.float64)
    assert torch.allclose(mix_weights(alpha, [w1, w2]), torch.tensor([4.0, -1.0],
                                                                      dtype=torch.float64))
    # the mixed current sum_k p_k (w_k * x + bias_k) is the current of the mixed weight
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 5, 5, generator=g, dtype=torch.float64)
    ws = [torch.randn(4, 3, 3, 3, generator=g, dtype=torch.float64) for _ in range(3)]
    bs = [torch.randn(4, generator=g, dtype=torch.float64) for _ in range(3)]
    a = torch.tensor([0.3, -1.0, 0.5], dtype=torch.float64)
    p = torch.softmax(a, 0)
    want = sum(p[k] * torch.nn.functional.conv2d(x, ws[k], bs[k], padding=1) for k in range(3))
    got = torch.nn.functional.conv2d(x, mix_weights(a, ws), mix_weights(a, bs), padding=1)
    assert torch.allclose(got, want, rtol=1e-12, atol=1e-12)


def test_tps_mixed_neuron_hand_computed():
    assert leak_candidates(0.2, 0.1) == [0.3, 0.2, 0.1]
    assert leak_candidates(0.05, 0.1) == [0.15, 0.05, 0.0]  # clamped to [0, 1]
    assert leak_candidates(1.0, 0.1) == [1.0, 0.9]          # merged
    assert leak_candidates(0.2, 0.0) == [0.2]
    # u_k[t] = tau_k u_k[t-1] (1 - y_k[t-1]) + I[t], y = H(u - 0.5); I = 0.4, 0.4, 0.1:
    # tau 0.3: u = 0.4, 0.52 (spike), 0.1      -> y = 0, 1, 0
    # tau 0.2: u = 0.4, 0.48, 0.196            -> y = 0, 0, 0
    # tau 0.1: u = 0.4, 0.44, 0.144            -> y = 0, 0, 0
    cands = [LIFNode(beta=t, v_th=0.5, surrogate="dspike", surrogate_arg=3.0)
             for t in (0.3, 0.2, 0.1)]
    a = torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64, requires_grad=True)
    mixed = MixedNeuron(cands, a, center=1).double().train()
    x = torch.tensor([0.4, 0.4, 0.1], dtype=torch.float64).reshape(3, 1, 1)
    y = mixed(x)
    e = math.e
    p = [e / (e + 1 + 1 / e), 1 / (e + 1 + 1 / e), (1 / e) / (e + 1 + 1 / e)]
    assert torch.allclose(y.flatten(), torch.tensor([0.0, p[0], 0.0], dtype=torch.float64))
    # eq. 23: d y[t] / d a_k = p_k (y_k[t] - y[t]); summed over t (only t = 1 differs)
    y.sum().backward()
    want = [p[0] * (1 - p[0]), p[1] * (0 - p[0]), p[2] * (0 - p[0])]
    assert torch.allclose(a.grad, torch.tensor(want, dtype=torch.float64))
    # step by step gives the same; eval mode is the current candidate alone (plain spikes)
    state, steps = None, []
    for t in range(3):
        s, state = mixed.step(x[t], state)
        steps.append(s)
    assert torch.equal(torch.stack(steps), y.detach())
    mixed.eval()
    assert torch.equal(mixed(x), cands[1](x))


def test_tps_alif_searches_tau_and_tau_a():
    text = GENOME.replace("neuron lif leak=0.2 v_th=0.5", "neuron alif leak=0.2 v_th=0.5 rho=0.5")
    genome = parse(text)
    module = compile_torch(lower(genome))
    tps = TPS(TPSConfig(layers="l1", delta=0.1, delta_a=0.2), module, genome)
    pairs = tps.candidates("l1")
    assert pairs == [(t, ta) for t in (0.3, 0.2, 0.1) for ta in (0.7, 0.5, 0.3)]
    mixed = module.layer("l1.n0.lif")
    assert isinstance(mixed, MixedNeuron) and len(mixed.candidates) == 9
    assert [(c.beta, c.rho) for c in mixed.candidates] == pairs
    assert mixed.center == pairs.index((0.2, 0.5))
    assert tps.genome_overrides() == {"l1": {"neuron": {"leak": 0.2, "rho": 0.5}}}


# ------------------------------------------------------------------ exact reductions
def _plain_equal(a, b):
    sa, sb = a.module.state_dict(), b.module.state_dict()
    assert set(sa) == set(sb)
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k

    def strip(rows):
        return [{k: v for k, v in r.items() if k not in ("seconds", "search")} for r in rows]

    assert strip(a.history) == strip(b.history)


def test_one_candidate_searches_are_plain_training(tmp_path, genome_file):
    base = dict(FAST, epochs=2, dtype="float64")
    plain = train(genome_file, TrainConfig(**base), tmp_path / "plain", progress=False)
    one = TrainConfig(**base, dgs=DGSConfig(layers="all", candidates=1, interval=1, iterations=2),
                      tps=TPSConfig(layers="all", delta=0.0, step=2, warmup=0))
    got = train(genome_file, one, tmp_path / "one", progress=False)
    _plain_equal(plain, got)
    x = torch.rand(5, 1, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    assert torch.equal(plain.module(x), got.module(x))
    assert got.history[-1]["search"] == {"dgs": {"stem": 3.0, "l1": 3.0, "l2": 3.0},
                                         "tps": {"stem": 0.2, "l1": 0.2, "l2": 0.2}}


def test_dgs_phase_changes_nothing_but_the_temperature(genome_file):
    """With N candidates the phase still leaves weights, BatchNorm statistics and the random
    generators as they were (the weight copies are temporary, Algorithm 2 line 6)."""
    from snnc.runtime.layer_search import Context
    from snnc.runtime.train import ce_loss

    genome = parse(GENOME)
    torch.manual_seed(0)
    module = compile_torch(lower(genome, seed=0))
    dgs = DGS(DGSConfig(layers="all", interval=1, iterations=3), module, genome)
    assert dgs.weights["stem"] == ["layers.stem__conv.weight", "layers.stem__conv.bias"]
    assert len(dgs.weights["l1"]) == 6  # three snn_b3 convs with their biases
    g = torch.Generator().manual_seed(0)
    data = [(torch.rand(8, 1, 8, 8, generator=g), torch.randint(0, 10, (8,), generator=g))
            for _ in range(3)]

    def batches(epoch):
        while True:
            yield from data

    before = {k: v.clone() for k, v in module.state_dict().items()}
    rng = torch.get_rng_state()
    dgs.end_epoch(Context(epoch=0, lr=0.5, batches=batches, loss=ce_loss, T=2))
    for k, v in module.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert torch.equal(torch.get_rng_state(), rng)
    rows = [r for r in dgs.trace if r["epoch"] == 1]
    assert [r["layer"] for r in rows] == ["stem", "l1", "l2"]
    assert all(len(r["weights"]) == 5 and abs(sum(r["weights"]) - 1) < 1e-12 for r in rows)
    for lay in dgs.layers:  # every neuron of the layer took the layer's (new) temperature
        assert all(module.layer(n).surrogate_arg == dgs.b[lay] for n in dgs.neurons[lay])
    assert any(dgs.b[lay] != 3.0 for lay in dgs.layers)


# ------------------------------------------------------------------ a short run
def test_short_run_moves_values_into_the_genome(searched, tmp_path):
    run = RunDir(searched.run_dir)
    last = searched.history[-1]["search"]
    b, tau = last["dgs"], last["tps"]
    assert set(b) == {"stem", "l2"} and set(tau) == {"stem", "l1", "l2"}
    assert any(v != 3.0 for v in b.values()) and any(v != 0.2 for v in tau.values())
    record = json.loads((run.path / "search.json").read_text())
    assert record["dgs"]["values"] == b and record["tps"]["values"] == tau
    # DGS decides after every epoch; TPS (warm-up 1 epoch, 3 batches per epoch) every 2 steps
    assert [r["epoch"] for r in record["dgs"]["trace"] if r["layer"] == "stem"] == [0, 1, 2, 3]
    assert [r["iteration"] for r in record["tps"]["trace"] if r["layer"] == "l1"] == [0, 2, 4, 6]
    assert (run.path / "search.png").read_bytes().startswith(b"\x89PNG")

    genome = parse_file(run.path / "searched.genome")
    stem = next(blk for blk in genome.blocks if blk.kind == "stem")
    assert stem.surrogate.as_dict() == {"b": b["stem"]} and stem.neuron.get("leak") == tau["stem"]
    layers = {blk.name: blk for blk in genome.blocks if blk.kind == "layer"}
    assert layers["l1"].surrogate is None and layers["l1"].neuron.get("leak") == tau["l1"]
    assert layers["l2"].surrogate.get("b") == b["l2"]
    # the trained model and the lowered searched genome run with the searched values
    for g in (load(searched.model_path), lower(genome)):
        assert g["stem.lif"].attrs["surrogate_arg"] == b["stem"]
        assert g["l2.n1.lif"].attrs["surrogate_arg"] == b["l2"]
        assert g["l1.n0.lif"].attrs["surrogate_arg"] == 3.0
        for lay in ("stem", "l1", "l2"):
            node = "stem.lif" if lay == "stem" else f"{lay}.n0.lif"
            assert g[node].attrs["beta"] == tau[lay]
    # and snnc train retrains it
    again = train(run.path / "searched.genome", TrainConfig(**dict(FAST, epochs=1)),
                  tmp_path / "retrain", progress=False)
    assert 0.0 <= again.test_acc <= 1.0


_CHILD = """
import sys
from snnc.runtime.config import DGSConfig, TPSConfig
from snnc.runtime.train import TrainConfig, train
cfg = TrainConfig(**{fast!r}, dgs=DGSConfig(**{dgs!r}), tps=TPSConfig(**{tps!r}))
train(sys.argv[1], cfg, sys.argv[2], progress=False)
"""


def test_resume_after_sigkill_is_bit_identical(tmp_path, genome_file, searched):
    run = RunDir(tmp_path / "killed")
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    code = textwrap.dedent(_CHILD.format(fast=FAST, dgs=DGS_CFG, tps=TPS_CFG))
    child = subprocess.Popen([sys.executable, "-c", code, str(genome_file), str(run.path)],
                             env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not run.checkpoint.exists():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "no checkpoint after 60 s"
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)  # in epoch 2, typically
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    state = run.load_checkpoint()
    assert 1 <= state["epoch"] < 3 and set(state["search"]) == {"dgs", "tps"}
    assert not (run.path / "searched.genome").exists()
    with pytest.raises(RunError, match=r"different config \(tps.step: 2 -> 3\)"):
        cfg = TrainConfig(**FAST, dgs=DGSConfig(**DGS_CFG), tps=TPSConfig(**{**TPS_CFG,
                                                                              "step": 3}))
        train(genome_file, cfg, run.path, resume=True, progress=False)

    resumed = train(genome_file, None, run.path, resume=True, progress=False)
    assert resumed.resumed_from == state["epoch"]
    ref = searched.module.state_dict()
    got = resumed.module.state_dict()
    assert set(got) == set(ref)
    for k in ref:
        assert torch.equal(got[k], ref[k]), k
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in searched.history]
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in resumed.history] == strip
    for name in ("searched.genome", "search.json"):
        assert (run.path / name).read_bytes() == (searched.run_dir / name).read_bytes(), name


# ------------------------------------------------------------------ refusals and the CLI
def test_searches_refuse_what_they_cannot_search(tmp_path, genome_file):
    stts = tmp_path / "stts.genome"
    stts.write_text('snnc-genome 1\nname "s"\nT 1\ninput 1x8x8\nclasses 10\n\n'
                    'stage s1 node channels=4\nclassifier\n')
    cfg = TrainConfig(**FAST, dgs=DGSConfig())
    with pytest.raises(RunError, match=r"--dgs searches SpikeDHS genomes \(layer blocks\); "
                                       r"'s' is a STTS genome"):
        train(stts, cfg, tmp_path / "a", progress=False)
    with pytest.raises(RunError, match=r"'l9' is not a layer of 'dhs-tiny'; its layers are "
                                       r"stem, l1, l2"):
        train(genome_file, TrainConfig(**FAST, tps=TPSConfig(layers="l1,l9")), tmp_path / "b",
              progress=False)
    tau_form = tmp_path / "tau.genome"
    tau_form.write_text(GENOME.replace("layer l1 cell=c level=0",
                                       "layer l1 cell=c level=0 {\n  neuron lif tau=2\n}"))
    with pytest.raises(RunError, match=r"layer 'l1' has the neuron 'lif tau=2.0 .*leak-factor"):
        train(tau_form, TrainConfig(**FAST, tps=TPSConfig()), tmp_path / "c", progress=False)
    with pytest.raises(RunError, match="dgs layers must be 'all' or comma-separated"):
        DGSConfig(layers="stem,,l1")


def test_cli_train_with_dgs_and_tps(tmp_path, genome_file):
    runner = CliRunner(mix_stderr=False)
    run_dir = tmp_path / "cli"
    args = ["train", str(genome_file), "--data", "digits", "--epochs", "2", "--batch-size", "32",
            "--optimizer", "adamw", "--lr", "0.01", "--threads", "1", "--limit-train", "64",
            "--limit-test", "32", "--run-dir", str(run_dir), "--no-progress",
            "--dgs", "stem", "--dgs-interval", "1", "--dgs-iterations", "2", "--dgs-variant",
            "code", "--tps", "l1,l2", "--tps-step", "1", "--tps-warmup", "0",
            "--tps-iterations", "3", "--format", "json"]
    res = runner.invoke(cli, args)
    assert res.exit_code == 0, res.output + res.stderr
    data = json.loads(res.stdout)
    assert set(data["history"][-1]["search"]) == {"dgs", "tps"}
    assert "dgs b: stem " in res.stderr and " | tps tau: l1 " in res.stderr
    assert res.stderr.splitlines()[-1] == \
        f"wrote {run_dir / 'searched.genome'} (the searched values)"
    config = json.loads((run_dir / "config.json").read_text())["config"]
    assert config["dgs"]["variant"] == "code" and config["tps"]["iterations"] == 3
    record = json.loads((run_dir / "search.json").read_text())
    assert [r["iteration"] for r in record["tps"]["trace"] if r["layer"] == "l1"] == [0, 1, 2, 3]
    # resume: the run's own settings; a changed search setting is refused
    res = runner.invoke(cli, ["train", "--run-dir", str(run_dir), "--resume",
                              "--dgs-iterations", "5"])
    assert res.exit_code == 1 and "(dgs.iterations: 2 -> 5)" in res.stderr
    res = runner.invoke(cli, ["train", "--run-dir", str(run_dir), "--resume"])
    assert res.exit_code == 0, res.stderr
    # the searched genome retrains as it is
    res = runner.invoke(cli, ["train", str(run_dir / "searched.genome"), "--data", "digits",
                              "--epochs", "1", "--limit-train", "32", "--limit-test", "16",
                              "--threads", "1", "--run-dir", str(tmp_path / "again"),
                              "--no-progress"])
    assert res.exit_code == 0, res.stderr
    # usage errors
    res = runner.invoke(cli, ["train", str(genome_file), "--data", "digits", "--run-dir",
                              str(tmp_path / "x"), "--tps-step", "4"])
    assert res.exit_code == 2 and "--tps-step needs --tps" in res.stderr
    res = runner.invoke(cli, ["train", str(run_dir / "model.snnir"), "--data", "digits",
                              "--run-dir", str(tmp_path / "y"), "--dgs", "all"])
    assert res.exit_code == 1 and "train a genome file, not a .snnir model" in res.stderr


def test_searches_refuse_several_processes():
    from snnc.runtime.config import TrainConfig

    with pytest.raises(RunError, match="one process"):
        TrainConfig(nproc=2, dgs=DGSConfig(layers="all"))
    with pytest.raises(RunError, match="one process"):
        TrainConfig(nproc=2, tps=TPSConfig(layers="all"))
