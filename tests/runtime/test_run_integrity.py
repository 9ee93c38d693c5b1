"""Run folders under hostile conditions: a second writer, damaged or edited files, checkpoints
holding values no run writes, kills between the first writes, out-of-range settings and a loss
that turns non-finite (issue 15, items 14, 15 and 21)."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from click.testing import CliRunner  # noqa: E402

from snnc.cli import cli  # noqa: E402
from snnc.errors import RunError  # noqa: E402
from snnc.runtime import runs as runs_mod  # noqa: E402
from snnc.runtime import train as train_mod  # noqa: E402
from snnc.runtime.runs import RunDir  # noqa: E402
from snnc.runtime.train import TrainConfig, train  # noqa: E402

from .test_train import GENOME, REPO  # noqa: E402

SMALL = dict(dataset="digits", epochs=2, batch_size=16, optimizer="adamw", lr=0.01, threads=1,
             limit_train=64, limit_test=32)


@pytest.fixture(scope="module")
def genome_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("genome") / "tiny.genome"
    path.write_text(GENOME)
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory, genome_file):
    run_dir = tmp_path_factory.mktemp("ref") / "run"
    return train(genome_file, TrainConfig(**SMALL), run_dir, progress=False)


def _same_weights(a, b) -> bool:
    sa, sb = a.module.state_dict(), b.module.state_dict()
    return set(sa) == set(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def _fresh(tmp_path, genome_file, name="run", **over):
    return train(genome_file, TrainConfig(**{**SMALL, **over}), tmp_path / name, progress=False)


def _resume(path):
    return train(None, None, path, resume=True, progress=False)


# ------------------------------------------------------------------ item 14: one writer
_HOLDER = """
import sys, time
from snnc.runtime.train import TrainConfig, train
def hold(row):
    print("epoch", row["epoch"], flush=True)
    time.sleep(120)
train(sys.argv[1], TrainConfig(**{cfg!r}), sys.argv[2], progress=False, on_epoch=hold)
"""


def test_a_second_writer_is_refused_by_pid_and_the_lock_dies_with_its_process(
        tmp_path, genome_file, reference):
    run = RunDir(tmp_path / "busy")
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_HOLDER.format(cfg=SMALL)),
                              str(genome_file), str(run.path)], env=env, cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()  # the child is inside epoch 1's callback, lock held
        assert line.strip() == "epoch 1", child.stderr.read()
        busy = f"run folder {run.path} is in use by process {child.pid}"
        with pytest.raises(RunError, match=busy):
            _resume(run.path)
        with pytest.raises(RunError, match=busy):
            _fresh(tmp_path, genome_file, "busy")
        res = CliRunner(mix_stderr=False).invoke(cli, ["train", "--run-dir", str(run.path),
                                                       "--resume", "--no-progress"])
        assert res.exit_code == 1 and busy in res.stderr
        assert child.poll() is None  # refused, not interfered with
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        child.kill()
        child.wait()
    resumed = _resume(run.path)  # the kernel released the dead holder's lock
    assert resumed.resumed_from == 1 and _same_weights(resumed, reference)


# ------------------------------------------------------------------ item 15: checksums
def _flip_bit(path: Path, offset_from_end: int) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2 - offset_from_end] ^= 0x10
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("name", ["checkpoint.pt", "config.json", "genome.txt", "metrics.json",
                                  "model.snnir"])
def test_a_changed_file_is_refused_on_resume_by_name(tmp_path, genome_file, name):
    run = RunDir(tmp_path / "r")
    _fresh(tmp_path, genome_file, "r", epochs=1)
    path = run.path / name
    if name == "genome.txt":  # an edit that keeps the architecture: only the checksum sees it
        path.write_text(path.read_text() + "# edited\n")
    elif name == "config.json":
        path.write_text(path.read_text().replace('"seed": 0', '"seed": 1'))
    else:
        _flip_bit(path, 7)
    with pytest.raises(RunError, match=rf"{name}: changed or damaged since snnc wrote it"):
        _resume(run.path)


def test_a_deleted_checkpoint_or_manifest_is_refused(tmp_path, genome_file):
    run = RunDir(tmp_path / "r")
    _fresh(tmp_path, genome_file, "r", epochs=1)
    run.checkpoint.rename(run.path / "saved.pt")
    with pytest.raises(RunError, match="checkpoint.pt: missing, although manifest.json lists it"):
        _resume(run.path)
    (run.path / "saved.pt").rename(run.checkpoint)
    run.metrics_csv.unlink()  # derived from the checkpoint: rewritten, no damage
    assert _resume(run.path).resumed_from == 1 and run.metrics_csv.exists()
    run.manifest.unlink()
    with pytest.raises(RunError, match="manifest.json: missing"):
        _resume(run.path)


def test_an_edited_genome_is_refused_by_its_fingerprint(tmp_path, genome_file):
    """Without a manifest (a run folder of format 1), config.json's fingerprint still guards the
    model."""
    run = RunDir(tmp_path / "r")
    _fresh(tmp_path, genome_file, "r", epochs=1)
    run.manifest.unlink()
    cfg = json.loads(run.config.read_text())
    run.config.write_text(json.dumps({**cfg, "format_version": 1}))
    run.genome.write_text(GENOME.replace("channels=16", "channels=12"))
    with pytest.raises(RunError, match="genome.txt: is not the model config.json records"):
        _resume(run.path)


def _rewrite_checkpoint(run: RunDir, change) -> None:
    """Change the checkpoint's content and re-sign it, as a buggy writer would have: only the
    content checks can catch it."""
    state = torch.load(run.checkpoint, weights_only=True)
    change(state)
    buf = io.BytesIO()
    torch.save(state, buf)
    run.commit({"checkpoint.pt": buf.getvalue()})


def _set(key, value):
    return lambda state: state.__setitem__(key, value)


def _bn(value):
    def change(state):
        key = next(k for k in state["model"] if k.endswith("running_var"))
        state["model"][key][0] = value
    return change


@pytest.mark.parametrize("change, message", [
    (_set("epoch", 99), "epoch 99 is not a completed-epoch count of this 2-epoch run"),
    (_set("epoch", -1), "epoch -1 is not"),
    (_set("history", {"rows": 1}), "history must be a list of 1 metric rows, got dict"),
    (_set("history", [{"epoch": 3}]), "history row 1 is not the metrics of epoch 1"),
    (_set("optimizer", [1, 2]), "optimizer must be a dict, got list"),
    (_bn(-1.0), r"running_var' \(a variance\) holds negative"),
    (_bn(float("nan")), "running_var' holds NaN"),
])
def test_checkpoint_content_is_validated_at_load(tmp_path, genome_file, change, message):
    run = RunDir(tmp_path / "r")
    cfg = TrainConfig(**SMALL)
    train(genome_file, cfg, run.path, progress=False)
    _rewrite_checkpoint(run, lambda s: (s.__setitem__("epoch", 1),
                                        s.__setitem__("history", s["history"][:1]), change(s)))
    with pytest.raises(RunError, match=rf"checkpoint.pt: damaged checkpoint: .*{message}"):
        _resume(run.path)


def test_a_config_json_of_wrong_types_is_refused(tmp_path, genome_file):
    run = RunDir(tmp_path / "r")
    _fresh(tmp_path, genome_file, "r", epochs=1)
    data = json.loads(run.config.read_text())
    data["config"]["dataset"] = None
    run.commit({"config.json": json.dumps(data).encode()})
    with pytest.raises(RunError, match="dataset must be a dataset name"):
        _resume(run.path)


# ------------------------------------------------------------------ item 15: kills at start
def _killed_at(n: int, genome_file: Path, run_dir: Path, cfg: dict) -> None:
    """Train in a forked child that dies (``os._exit``) at the ``n``-th file rename."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        calls = [0]
        real = os.replace

        def dying_replace(a, b):
            calls[0] += 1
            if calls[0] == n:
                os._exit(9)
            real(a, b)

        os.replace = dying_replace
        try:
            train(genome_file, TrainConfig(**cfg), run_dir, progress=False)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 9, f"the child did not reach rename {n}"


@pytest.mark.slow
def test_a_start_killed_between_its_first_writes_restarts(tmp_path, genome_file, reference):
    """Renames 1-5 are the start (manifest 'incomplete', manifest listing both digests,
    config.json, genome.txt, final manifest): a kill before any of them leaves an interrupted
    start, which a new run restarts in place and --resume refuses with that advice. Renames 6-10
    are epoch 1's commit (manifest, checkpoint.pt, metrics.csv, metrics.json, manifest): the run
    has started, and resumes from epoch 0 or, once checkpoint.pt is in place, from epoch 1."""
    for n in range(1, 11):
        run = RunDir(tmp_path / f"k{n}")
        _killed_at(n, genome_file, run.path, SMALL)
        assert run.path.is_dir()
        if n <= 5:
            with pytest.raises(RunError, match="start was interrupted before anything was "
                                               "trained; start it again without --resume"):
                _resume(run.path)
            result = train(genome_file, TrainConfig(**SMALL), run.path, progress=False)
            assert result.resumed_from == 0
        else:
            with pytest.raises(RunError, match="not empty"):
                train(genome_file, TrainConfig(**SMALL), run.path, progress=False)
            result = _resume(run.path)
            assert result.resumed_from == (0 if n <= 7 else 1), n
        assert _same_weights(result, reference), n
        assert not [p.name for p in run.path.iterdir() if p.name.endswith(".tmp")], n


def test_a_folder_of_other_files_is_not_taken_for_an_interrupted_start(tmp_path, genome_file):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "genome.txt").write_text("my notes")
    with pytest.raises(RunError, match="not empty"):
        _fresh(tmp_path, genome_file, "mine")
    assert (folder / "genome.txt").read_text() == "my notes"
    assert sorted(p.name for p in folder.iterdir()) == ["genome.txt"]  # no lock file left


# ------------------------------------------------------------------ item 21: values, divergence
@pytest.mark.parametrize("field, value, message", [
    ("lr", 1e308, r"lr must be a number in \(0, 10\], got 1e\+308"),
    ("lr", float("nan"), r"lr must be a number in \(0, 10\]"),
    ("threads", 100000, "threads must be <= 1024, got 100000"),
    ("momentum", 1e9, r"momentum must be a number in \[0, 1\), got 1000000000.0"),
    ("momentum", 1.0, r"momentum must be a number in \[0, 1\)"),
    ("weight_decay", 5.0, r"weight_decay must be a number in \[0, 1\]"),
    ("eta_min", 10.0, "eta_min must be <= lr"),
    ("dataset", None, "dataset must be a dataset name"),
    ("tet_lambda", "x", r"tet_lambda must be a number in \[0, 1\], got 'x'"),
    ("hflip", "yes", "hflip must be true or false"),
])
def test_train_config_ranges(field, value, message):
    with pytest.raises(RunError, match=message):
        TrainConfig(**{"lr": 0.1, field: value})


@pytest.mark.parametrize("option, value, message", [
    ("--lr", "1e308", "lr must be a number in (0, 10]"),
    ("--threads", "100000", "threads must be <= 1024"),
    ("--momentum", "1e9", "momentum must be a number in [0, 1)"),
    ("--eta-min", "10", "eta_min must be <= lr"),
])
def test_cli_refuses_out_of_range_values_in_one_line(tmp_path, genome_file, option, value,
                                                     message):
    res = CliRunner(mix_stderr=False).invoke(cli, [
        "train", str(genome_file), "--data", "digits", "--run-dir", str(tmp_path / "r"),
        "--no-progress",
        "--epochs", "1", option, value])
    assert res.exit_code == 1, res.output + res.stderr
    assert res.stderr.count("\n") == 1 and message in res.stderr
    assert not (tmp_path / "r").exists()


def test_a_non_finite_loss_stops_cleanly_and_keeps_the_last_checkpoint(
        tmp_path, genome_file, reference, monkeypatch):
    real = train_mod.ce_loss
    epochs_seen = []

    def nan_in_epoch_2(out, y):
        loss = real(out, y)
        return loss * float("nan") if len(epochs_seen) >= 1 else loss

    monkeypatch.setattr(train_mod, "ce_loss", nan_in_epoch_2)
    run = RunDir(tmp_path / "r")
    with pytest.raises(RunError, match=r"the loss is nan at epoch 2, batch 1; training stopped "
                                       r"\(.*checkpoint.pt keeps epoch 1\)"):
        train(genome_file, TrainConfig(**SMALL), run.path, progress=False,
              on_epoch=epochs_seen.append)
    assert run.load_checkpoint()["epoch"] == 1
    run.verify()  # the folder is consistent
    monkeypatch.setattr(train_mod, "ce_loss", real)
    resumed = _resume(run.path)
    assert resumed.resumed_from == 1 and _same_weights(resumed, reference)


def test_weights_turned_nan_stop_before_the_checkpoint(tmp_path, genome_file, monkeypatch):
    calls = []
    real = runs_mod.check_weights

    def poisoned(state):
        calls.append(1)
        if len(calls) == 2:
            state = {k: v * float("nan") if v.is_floating_point() else v for k, v in state.items()}
        return real(state)

    monkeypatch.setattr(train_mod, "check_weights", poisoned)
    run = RunDir(tmp_path / "r")
    with pytest.raises(RunError, match="training diverged in epoch 2: model entry .* holds NaN; "
                                       ".*checkpoint.pt keeps epoch 1"):
        train(genome_file, TrainConfig(**SMALL), run.path, progress=False)
    assert run.load_checkpoint()["epoch"] == 1


def test_lock_file_pid_is_readable_while_held(tmp_path):
    run = RunDir(tmp_path / "r")
    run.create()
    with run.lock():
        assert (run.path / ".snnc.lock").read_text().strip() == str(os.getpid())
        with pytest.raises(RunError, match=f"in use by process {os.getpid()}"):
            run.lock().acquire()
    with run.lock():  # released on exit
        pass
