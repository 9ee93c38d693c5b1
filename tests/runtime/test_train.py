"""Training loop, run folders, resume after SIGKILL, evaluation and the train/eval CLI, on a tiny
STTS genome and scikit-learn's 8x8 digits."""
from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from click.testing import CliRunner  # noqa: E402

from snnc.backends.torch import compile as compile_torch  # noqa: E402
from snnc.cli import cli  # noqa: E402
from snnc.errors import RunError  # noqa: E402
from snnc.ir import interpret  # noqa: E402
from snnc.ir.artifact import load, read_extra  # noqa: E402
from snnc.runtime.data import load_dataset  # noqa: E402
from snnc.runtime.evaluate import evaluate  # noqa: E402
from snnc.runtime.runs import METRIC_FIELDS, RunDir  # noqa: E402
from snnc.runtime.train import TrainConfig, ce_loss, tet_loss, train  # noqa: E402

REPO = Path(__file__).resolve().parents[2]

GENOME = """\
snnc-genome 1
name "digits-tiny"
T 2
input 1x8x8
classes 10
neuron lif tau=2
surrogate atan alpha=2

stage s1 node channels=8 spiking=false
stage s2 graph nodes=3 channels=16 stride=2 {
  0 -> 1
  0 -> 2 @1
  1 -> 2
}
classifier head channels=0
"""
#: ~0.4 s per epoch on one thread; reaches ~93% digits test accuracy in 3 epochs.
FAST = dict(dataset="digits", epochs=3, batch_size=16, optimizer="adamw", lr=0.01, threads=1)


@pytest.fixture(scope="module")
def genome_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("genome") / "tiny.genome"
    path.write_text(GENOME)
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory, genome_file):
    """One uninterrupted 3-epoch run (also the reference of the resume test)."""
    run_dir = tmp_path_factory.mktemp("runs") / "ref"
    seen = []
    result = train(genome_file, TrainConfig(**FAST), run_dir, progress=False, on_epoch=seen.append)
    assert seen == result.history
    return result


def _state(result):
    return {k: v.clone() for k, v in result.module.state_dict().items()}


# ------------------------------------------------------------------ training and run folder
def test_training_learns_digits(trained):
    assert trained.test_acc > 0.5  # chance is 0.1
    assert [row["epoch"] for row in trained.history] == [1, 2, 3]
    assert trained.history[-1]["train_loss"] < trained.history[0]["train_loss"]
    assert trained.val_acc is None and trained.resumed_from == 0


def test_run_folder_layout(trained, genome_file):
    run = RunDir(trained.run_dir)
    names = {p.name for p in run.path.iterdir()}
    assert names == {"genome.txt", "config.json", "metrics.csv", "metrics.json", "checkpoint.pt",
                     "model.snnir", "manifest.json", ".snnc.lock"}
    manifest = json.loads(run.manifest.read_text())
    assert manifest["complete"] and sorted(manifest["files"]) == sorted(names - {
        "manifest.json", ".snnc.lock"})
    for name, digests in manifest["files"].items():  # one digest each once a commit is done
        assert digests == [hashlib.sha256((run.path / name).read_bytes()).hexdigest()], name
    assert run.genome.read_text() == genome_file.read_text()
    stored = json.loads(run.config.read_text())
    assert TrainConfig.from_dict(stored["config"]) == TrainConfig(**FAST)
    assert stored["model"]["kind"] == "genome"
    rows = json.loads(run.metrics_json.read_text())
    assert rows == trained.history
    with open(run.metrics_csv) as fh:
        table = list(csv.DictReader(fh))
    assert tuple(table[0]) == METRIC_FIELDS and len(table) == 3
    assert [float(r["test_acc"]) for r in table] == [r["test_acc"] for r in rows]
    assert table[0]["val_acc"] == ""  # no validation set: empty cell, null in JSON
    lrs = [r["lr"] for r in rows]  # per-epoch cosine from 0.01 to 0
    assert lrs == pytest.approx([0.01 * (1 + math.cos(math.pi * e / 3)) / 2 for e in range(3)])


def test_checkpoint_is_plain_data(trained):
    state = torch.load(RunDir(trained.run_dir).checkpoint, weights_only=True)
    assert state["epoch"] == 3 and state["format"] == "snnc-checkpoint"
    assert set(state["rng"]) == {"torch", "numpy", "python"}
    for k, v in state["model"].items():
        assert torch.equal(v, trained.module.state_dict()[k])


def test_trained_model_matches_interpreter(trained):
    """model.snnir loads; the reference interpreter (float64) and the torch module agree."""
    path = trained.model_path
    graph = load(path)
    extra = read_extra(path)
    pre = extra["preprocess"]
    assert pre["encoding"] == "direct" and pre["T"] == 2 == graph.meta["T"]
    assert extra["train"]["test_acc"] == trained.test_acc
    assert extra["config"] == TrainConfig(**FAST).to_dict()
    ds = load_dataset("digits")
    x = ds.test_x[:12].astype(np.float64)
    x = (x - np.array(pre["mean"])[:, None, None]) / np.array(pre["std"])[:, None, None]
    ref = interpret(graph, x)  # [T, B, 10]
    m64 = compile_torch(graph, dtype=torch.float64).eval()
    with torch.no_grad():
        out64 = m64(torch.from_numpy(x)).numpy()
        out32 = trained.module.eval()(torch.from_numpy(x).float()).numpy()
    np.testing.assert_allclose(out64, ref, rtol=1e-9, atol=1e-9)
    assert (ref.mean(0).argmax(-1) == out32.mean(0).argmax(-1)).all()


def test_evaluate(trained):
    r = evaluate(trained.run_dir)  # dataset from the model's config
    assert (r.accuracy, r.n, r.dataset, r.split) == (trained.test_acc, 360, "digits", "test")
    assert len(r.per_class) == 10 and r.correct == round(r.accuracy * 360)
    r2 = evaluate(trained.model_path, "digits", limit=40)
    assert r2.n == 40
    with pytest.raises(RunError, match="not a run folder"):
        evaluate(trained.run_dir.parent, "digits")


def test_same_seed_same_weights_other_options(tmp_path, genome_file):
    """Validation split, per-step cosine, TET loss, rate encoding, limits — and determinism."""
    cfg = TrainConfig(dataset="digits", epochs=2, batch_size=32, optimizer="sgd", lr=0.2,
                      loss="tet", tet_lambda=0.1, encoding="rate", T=3, schedule_step="step",
                      eta_min=0.01, val_fraction=0.25, limit_train=200, limit_test=50,
                      test_every=2, threads=1, seed=3, crop_padding=1)
    a = train(genome_file, cfg, tmp_path / "a", progress=False)
    b = train(genome_file, cfg, tmp_path / "b", progress=False)
    for k, v in a.module.state_dict().items():
        assert torch.equal(v, b.module.state_dict()[k]), k
    rows = a.history
    assert rows[0]["test_acc"] is None and rows[1]["test_acc"] is not None
    assert all(r["val_acc"] is not None for r in rows)
    steps = math.ceil(150 / 32)  # 200 - 25% validation
    expect = 0.01 + (0.2 - 0.01) * (1 + math.cos(math.pi * steps / (2 * steps))) / 2
    assert rows[1]["lr"] == pytest.approx(expect)
    extra = read_extra(a.model_path)
    assert extra["preprocess"] == {"encoding": "rate", "T": 3, "mean": None, "std": None}
    assert extra["train"]["train_samples"] == 150
    assert load(a.model_path).meta["T"] == 3


def test_losses():
    g = torch.Generator().manual_seed(0)
    out, y = torch.randn(4, 5, 10, generator=g), torch.randint(0, 10, (5,), generator=g)
    per_step = torch.stack([torch.nn.functional.cross_entropy(out[t], y) for t in range(4)])
    assert torch.allclose(tet_loss(out, y), per_step.mean())
    mse = ((out - 1.0) ** 2).mean()
    assert torch.allclose(tet_loss(out, y, 0.25), 0.75 * per_step.mean() + 0.25 * mse)
    assert torch.allclose(ce_loss(out, y), torch.nn.functional.cross_entropy(out.mean(0), y))


# ------------------------------------------------------------------ resume
_CHILD = """
import sys
from snnc.runtime.train import TrainConfig, train
train(sys.argv[1], TrainConfig(**{fast!r}), sys.argv[2], progress=False)
"""


def test_resume_after_sigkill_is_bit_identical(tmp_path, genome_file, trained):
    run = RunDir(tmp_path / "killed")
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_CHILD.format(fast=FAST)),
                              str(genome_file), str(run.path)], env=env, cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not run.checkpoint.exists():
            assert child.poll() is None, child.stderr.read().decode()
            assert time.monotonic() < deadline, "no checkpoint after 60 s"
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)  # mid-way through epoch 2, typically
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert not run.model.exists()
    state = run.load_checkpoint()
    assert 1 <= state["epoch"] < 3

    with pytest.raises(RunError, match="not empty"):
        train(genome_file, TrainConfig(**FAST), run.path, progress=False)
    with pytest.raises(RunError, match=r"different config \(lr: 0.01 -> 0.02\)"):
        train(genome_file, TrainConfig(**{**FAST, "lr": 0.02}), run.path, resume=True,
              progress=False)
    other = tmp_path / "other.genome"
    other.write_text(GENOME.replace("channels=16", "channels=12"))
    with pytest.raises(RunError, match="another model"):
        train(other, TrainConfig(**FAST), run.path, resume=True, progress=False)

    resumed = train(genome_file, None, run.path, resume=True, progress=False)
    assert resumed.resumed_from == state["epoch"]
    ref = _state(trained)
    got = resumed.module.state_dict()
    assert set(got) == set(ref)
    for k in ref:
        assert torch.equal(got[k], ref[k]), k
    def strip(rows):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]

    assert strip(resumed.history) == strip(trained.history)
    assert strip(RunDir(run.path).read_metrics()) == strip(trained.history)
    a, b = load(resumed.model_path), load(trained.model_path)
    for node in a:
        for k, v in node.params.items():
            assert np.array_equal(v, b[node.name].params[k]), (node.name, k)


def test_resume_errors(tmp_path, genome_file):
    with pytest.raises(RunError, match="nothing to resume"):
        train(genome_file, None, tmp_path / "absent", resume=True, progress=False)
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("x")
    with pytest.raises(RunError, match="no config.json"):
        train(genome_file, None, tmp_path / "plain", resume=True, progress=False)
    with pytest.raises(RunError, match="not empty"):
        train(genome_file, TrainConfig(**FAST), tmp_path / "plain", progress=False)
    with pytest.raises(RunError, match="optimizer must be one of sgd, adamw"):
        TrainConfig(optimizer="adam")
    with pytest.raises(RunError, match="epochs must be an integer >= 1"):
        TrainConfig(epochs=0)


def test_damaged_checkpoint(tmp_path, genome_file):
    cfg = TrainConfig(**{**FAST, "epochs": 1, "limit_train": 64, "limit_test": 32})
    train(genome_file, cfg, tmp_path / "r", progress=False)
    (tmp_path / "r" / "checkpoint.pt").write_bytes(b"garbage")
    with pytest.raises(RunError, match="checkpoint.pt: changed or damaged since snnc wrote it"):
        train(None, None, tmp_path / "r", resume=True, progress=False)
    RunDir(tmp_path / "r").commit({"checkpoint.pt": b"garbage"})  # as if snnc had written it
    with pytest.raises(RunError, match="damaged checkpoint"):
        train(None, None, tmp_path / "r", resume=True, progress=False)


def test_graph_source_and_input_mismatch(tmp_path, genome_file, trained):
    """A .snnir source is kept as source.snnir; a model that does not fit the data is refused
    before anything is written."""
    cfg = TrainConfig(**{**FAST, "epochs": 1, "limit_train": 64, "limit_test": 32})
    r = train(trained.model_path, cfg, tmp_path / "g", progress=False)
    assert (tmp_path / "g" / "source.snnir").exists()
    assert not (tmp_path / "g" / "genome.txt").exists()
    again = train(None, None, tmp_path / "g", resume=True, progress=False)  # finished: finalise
    assert again.resumed_from == 1 and again.test_acc == r.test_acc
    big = tmp_path / "big.genome"
    big.write_text(GENOME.replace("1x8x8", "1x28x28"))
    with pytest.raises(RunError, match="takes input 1x28x28, but digits images are 1x8x8"):
        train(big, cfg, tmp_path / "big", progress=False)
    assert not (tmp_path / "big").exists()


# ------------------------------------------------------------------ CLI
def test_cli_train_and_eval(tmp_path, genome_file):
    runner = CliRunner(mix_stderr=False)
    run_dir = tmp_path / "cli"
    args = ["train", str(genome_file), "--data", "digits", "--epochs", "2", "--batch-size", "16",
            "--optimizer", "adamw", "--lr", "0.01", "--threads", "1", "--limit-train", "400",
            "--run-dir", str(run_dir), "--no-progress"]
    res = runner.invoke(cli, args)
    assert res.exit_code == 0, res.output + res.stderr
    lines = res.stderr.splitlines()  # progress and status on stderr, the result on stdout
    assert lines[0].startswith("epoch   1  loss ") and "test " in lines[1]
    assert lines[-1] == f"wrote {run_dir / 'model.snnir'}"
    assert res.stdout.startswith("test accuracy ") and res.stdout.count("\n") == 1
    acc = res.stdout.split()[-1]

    res = runner.invoke(cli, ["eval", str(run_dir)])
    assert res.exit_code == 0, res.stderr
    assert res.stdout.startswith(f"accuracy {acc} (") and "digits test" in res.stdout
    res = runner.invoke(cli, ["eval", str(run_dir / "model.snnir"), "--data", "digits",
                              "--limit", "10", "--format", "json"])
    assert json.loads(res.stdout)["n"] == 10

    # errors: one line, exit code 1
    res = runner.invoke(cli, args)
    assert res.exit_code == 1 and res.stderr.count("\n") == 1
    assert res.stderr.startswith(f"snnc: error: {run_dir}: the run folder is not empty")
    res = runner.invoke(cli, ["train", "--run-dir", str(run_dir), "--resume", "--lr", "0.5"])
    assert res.exit_code == 1 and "cannot resume with a different config (lr" in res.stderr
    res = runner.invoke(cli, ["train", "--run-dir", str(run_dir), "--resume"])  # already done
    assert res.exit_code == 0 and res.stdout == f"test accuracy {acc}\n"
    res = runner.invoke(cli, ["train", "--run-dir", str(run_dir), "--resume", "--format", "json"])
    data = json.loads(res.stdout)
    assert f"{data['test_acc']:.2%}" == acc and len(data["history"]) == 2
    res = runner.invoke(cli, ["eval", str(tmp_path / "missing.snnir"), "--data", "digits"])
    assert res.exit_code == 1 and res.stderr.count("\n") == 1 and "no such file" in res.stderr
    res = runner.invoke(cli, ["train", str(genome_file), "--run-dir", str(tmp_path / "x")])
    assert res.exit_code == 2 and "missing --data" in res.stderr
    res = runner.invoke(cli, ["train", str(genome_file), "--data", "nope",
                              "--run-dir", str(tmp_path / "y")])
    assert res.exit_code == 1 and "unknown dataset 'nope'" in res.stderr
