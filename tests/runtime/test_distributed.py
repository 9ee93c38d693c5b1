"""Data-parallel training (``snnc train --nproc N``, torchrun): N processes with B/N images each
train what one process trains with B, a SIGKILLed group resumes bit-identically, a failing rank
stops the group with its message. Tiny STTS genome, scikit-learn's digits, one thread per process.

Tolerances (float64): a process sums its shard, then the group sums the processes' partial sums,
where one process sums the whole batch in one go; only that order differs, so losses agree to
~1e-15 and weights, after 3 epochs of AdamW (whose normalised step magnifies relative differences
of near-zero gradients), to ~1e-10. Asserted: losses 1e-12 relative, weights 1e-8 absolute.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
if not torch.distributed.is_available():
    pytest.skip("torch.distributed is not available", allow_module_level=True)

from click.testing import CliRunner  # noqa: E402

from snnc.cli import cli  # noqa: E402
from snnc.errors import RunError  # noqa: E402
from snnc.ir.artifact import load  # noqa: E402
from snnc.runtime.distributed import check_shards, env_rank  # noqa: E402
from snnc.runtime.launch import launch  # noqa: E402
from snnc.runtime.runs import RunDir  # noqa: E402
from snnc.runtime.train import TrainConfig, train  # noqa: E402

from ..procs import alive, descendants, kill_parent_and_wait  # noqa: E402
from .test_train import GENOME  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
#: 245 images in batches of 32: the last batch (21) splits 11 + 10, so uneven shards are covered.
CFG = dict(dataset="digits", epochs=3, batch_size=32, optimizer="adamw", lr=0.01, threads=1,
           dtype="float64", limit_train=245, limit_test=200)
ENV = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           OMP_NUM_THREADS="1")


@pytest.fixture(scope="module")
def genome_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("genome") / "tiny.genome"
    path.write_text(GENOME)
    return path


@pytest.fixture(scope="module")
def one(tmp_path_factory, genome_file):
    """One process, global batch 32."""
    return launch(genome_file, TrainConfig(**CFG), tmp_path_factory.mktemp("one") / "run",
                  progress=False)


@pytest.fixture(scope="module")
def two(tmp_path_factory, genome_file):
    """Two processes of 16 images each; also the reference of the resume tests."""
    rows = []
    result = launch(genome_file, TrainConfig(**CFG, nproc=2),
                    tmp_path_factory.mktemp("two") / "run", progress=False, on_epoch=rows.append)
    assert rows == result.history  # rank 0's rows reach the launcher's callback
    return result


def _strip(rows):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def _assert_close(a, b, *, loss_rtol=1e-12, atol=1e-8):
    assert len(a.history) == len(b.history)
    for ra, rb in zip(a.history, b.history):
        assert ra["train_loss"] == pytest.approx(rb["train_loss"], rel=loss_rtol, abs=0)
        assert ra["train_acc"] == rb["train_acc"] and ra["test_acc"] == rb["test_acc"]
        assert ra["lr"] == rb["lr"]
    sa, sb = _weights(a), _weights(b)
    assert set(sa) == set(sb)
    for k in sa:
        assert torch.allclose(sa[k], sb[k], rtol=0, atol=atol), (k, (sa[k] - sb[k]).abs().max())


def _weights(result) -> dict:
    """The trained module's state (from the last checkpoint: ``num_batches_tracked`` included,
    which ``model.snnir`` does not keep)."""
    return RunDir(result.run_dir).load_checkpoint()["model"]


def _assert_identical(a, b):
    assert _strip(a.history) == _strip(b.history)
    ca, cb = RunDir(a.run_dir).load_checkpoint(), RunDir(b.run_dir).load_checkpoint()
    for part in ("model", "optimizer"):
        fa, fb = _flat(ca[part]), _flat(cb[part])
        assert fa.keys() == fb.keys()
        for k in fa:
            assert torch.equal(fa[k], fb[k]) if torch.is_tensor(fa[k]) else fa[k] == fb[k], k
    ga, gb = load(a.model_path), load(b.model_path)
    for node in ga:
        for k, v in node.params.items():
            assert (v == gb[node.name].params[k]).all(), (node.name, k)


def _flat(tree, prefix="") -> dict:
    if isinstance(tree, dict):
        return {k2: v2 for k, v in tree.items() for k2, v2 in _flat(v, f"{prefix}{k}.").items()}
    if isinstance(tree, (list, tuple)):
        return {k2: v2 for i, v in enumerate(tree) for k2, v2 in _flat(v, f"{prefix}{i}.").items()}
    return {prefix: tree}


# ------------------------------------------------------------------ equivalence
@pytest.mark.slow
def test_two_processes_match_one(one, two):
    _assert_close(one, two)
    assert two.history[-1]["train_loss"] < two.history[0]["train_loss"]  # it did train
    cfg = RunDir(two.run_dir).read_config()["config"]
    assert cfg["nproc"] == 2 and cfg["batch_size"] == 32
    assert RunDir(one.run_dir).read_config()["config"]["nproc"] == 1


@pytest.mark.slow
def test_rate_encoding_and_tet_match_one(tmp_path, genome_file):
    """Rate-encoded input ``[T, B, ...]`` is split along its batch axis (1), and the TET loss
    (means over T and B) is weighted like CE."""
    cfg = dict(CFG, epochs=1, encoding="rate", loss="tet", tet_lambda=0.05, limit_train=100)
    a = launch(genome_file, TrainConfig(**cfg), tmp_path / "a", progress=False)
    b = launch(genome_file, TrainConfig(**cfg, nproc=2), tmp_path / "b", progress=False)
    _assert_close(a, b)


# ------------------------------------------------------------------ kill and resume
_CHILD = """
import sys
from snnc.runtime.launch import launch
from snnc.runtime.train import TrainConfig
launch(sys.argv[1], TrainConfig(**{cfg!r}), sys.argv[2], progress=False)
"""


@pytest.mark.slow
def test_sigkill_of_the_group_then_resume_is_bit_identical(tmp_path, genome_file, one, two):
    run = RunDir(tmp_path / "killed")
    proc = subprocess.Popen([sys.executable, "-c",
                             textwrap.dedent(_CHILD.format(cfg=dict(CFG, nproc=2))),
                             str(genome_file), str(run.path)], env=ENV, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    kids: set[int] = set()
    try:
        deadline = time.monotonic() + 120
        while not run.checkpoint.exists():
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "no checkpoint after 120 s"
            kids |= descendants(proc.pid)
            time.sleep(0.005)
        kids |= descendants(proc.pid)
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher and both ranks at once
        proc.wait()
        end = time.monotonic() + 10
        while alive(kids) and time.monotonic() < end:
            time.sleep(0.05)
        assert not alive(kids)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert len(kids) >= 2
    assert not run.model.exists()
    state = run.load_checkpoint()
    assert 1 <= state["epoch"] < 3

    # Another process count may resume it too, at the price of bit-identity (RESUME_FREE).
    other = tmp_path / "other"
    shutil.copytree(run.path, other)
    alone = launch(None, TrainConfig(**CFG), other, resume=True, progress=False)
    assert alone.resumed_from == state["epoch"]
    _assert_close(alone, one)
    assert RunDir(other).read_config()["config"]["nproc"] == 2  # as started

    resumed = launch(genome_file, None, run.path, resume=True, progress=False)  # its own nproc
    assert resumed.resumed_from == state["epoch"]
    _assert_identical(resumed, two)
    assert _strip(run.read_metrics()) == _strip(two.history)


# ------------------------------------------------------------------ failures
def _workers() -> set[int]:
    out = set()
    for pid in alive(descendants(os.getpid())):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"snnc.runtime.launch" in cmd:
            out.add(pid)
    return out


@pytest.mark.slow
def test_a_dead_rank_stops_the_group(tmp_path, genome_file):
    run = RunDir(tmp_path / "run")
    victims: list[int] = []

    def kill_one():
        deadline = time.monotonic() + 120
        while not run.checkpoint.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        found = sorted(_workers())
        if found:
            victims.append(found[-1])
            os.kill(found[-1], signal.SIGKILL)

    killer = threading.Thread(target=kill_one)
    killer.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(RunError, match=r"stopped: rank [01]: killed by SIGKILL"):
            launch(genome_file, TrainConfig(**dict(CFG, epochs=20), nproc=2), run.path,
                   progress=False)
    finally:
        killer.join()
    assert victims and time.monotonic() - t0 < 100
    assert not _workers()  # the other rank was stopped, not left waiting
    assert run.load_checkpoint()["epoch"] >= 1  # what was done survives, resumable


@pytest.mark.slow
def test_a_rank_that_stops_answering_times_out(tmp_path, genome_file):
    """A stopped (SIGSTOP) rank: the other's next collective gives up after the group timeout,
    and the launcher ends the group (SIGKILL reaches a stopped process) instead of hanging."""
    run = RunDir(tmp_path / "run")
    stopped: list[int] = []

    def freeze_one():
        deadline = time.monotonic() + 120
        while not run.checkpoint.exists() and time.monotonic() < deadline:
            time.sleep(0.005)
        found = sorted(_workers())
        if found:
            stopped.append(found[-1])
            os.kill(found[-1], signal.SIGSTOP)

    freezer = threading.Thread(target=freeze_one)
    freezer.start()
    t0 = time.monotonic()
    try:
        with pytest.raises(RunError, match=r"stopped: rank [01]: lost the group"):
            launch(genome_file, TrainConfig(**dict(CFG, epochs=20), nproc=2), run.path,
                   progress=False, timeout=5)
    finally:
        freezer.join()
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
    assert stopped and time.monotonic() - t0 < 100
    assert not _workers()


@pytest.mark.slow
def test_ctrl_c_ends_the_workers(tmp_path, genome_file):
    """Ctrl-C (SIGINT to the terminal's whole process group): the workers ignore it, the
    launcher stops them and no worker is left behind."""
    sig = signal.SIGINT
    code = textwrap.dedent(f"""
        import sys
        from snnc.runtime.launch import launch
        from snnc.runtime.train import TrainConfig
        launch({str(genome_file)!r}, TrainConfig(**{dict(CFG, epochs=50, nproc=2)!r}),
               {str(tmp_path / "run")!r}, progress=False,
               on_epoch=lambda row: print("READY", flush=True))
    """)
    kids, left, err = kill_parent_and_wait(code, sig, "READY", min_children=2, env=ENV,
                                           group=True)
    assert len(kids) >= 2 and not left, err[-2000:]
    assert "KeyboardInterrupt" in err  # the launcher's, after it stopped the workers


def test_join_timeout():
    import datetime

    from snnc.runtime.distributed import init_group

    store = torch.distributed.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False,
                                       timeout=datetime.timedelta(seconds=2))
    t0 = time.monotonic()
    with pytest.raises(RunError, match="rank 0: cannot join the group of 2 processes"):
        init_group(0, 2, store=store, timeout=2)  # rank 1 never comes
    assert time.monotonic() - t0 < 30
    assert not torch.distributed.is_initialized()


@pytest.mark.slow
def test_rank0_error_reaches_every_rank(tmp_path, genome_file):
    """Rank 0 refuses a non-empty folder; rank 1 stops with that message instead of waiting."""
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("x")
    with pytest.raises(RunError, match=r"rank 0: .*busy: the run folder is not empty"):
        launch(genome_file, TrainConfig(**CFG, nproc=2), tmp_path / "busy", progress=False,
               timeout=60)
    assert not _workers()


def test_config_and_shard_checks(tmp_path, genome_file):
    with pytest.raises(RunError, match="asks for 2 processes but this run has 1"):
        train(genome_file, TrainConfig(**CFG, nproc=2), tmp_path / "x", progress=False)
    check_shards(245, 32, 2)
    with pytest.raises(RunError, match="batch size 1 cannot be split over 2"):
        check_shards(245, 1, 2)
    with pytest.raises(RunError, match="last batch of each epoch holds 1 of the 33"):
        check_shards(33, 32, 2)
    with pytest.raises(RunError, match="nproc must be an integer >= 1"):
        TrainConfig(nproc=0)
    assert env_rank({}) is None
    assert env_rank({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"}) == (1, 2, 1)
    with pytest.raises(RunError, match="do not describe a process group"):
        env_rank({"RANK": "2", "WORLD_SIZE": "2"})
    assert dataclasses.replace(TrainConfig(), nproc=3).differences(TrainConfig(),
                                                                   ignore=("threads", "nproc")) == []


# ------------------------------------------------------------------ CLI and torchrun
def _cli_args(genome_file, run_dir):
    return [str(genome_file), "--data", "digits", "--run-dir", str(run_dir), "--epochs", "3",
            "--batch-size", "32", "--optimizer", "adamw", "--lr", "0.01", "--threads", "1",
            "--dtype", "float64", "--limit-train", "245", "--limit-test", "200",
            "--no-progress", "--format", "json"]


@pytest.mark.slow
def test_torchrun_matches_nproc(tmp_path, genome_file, two):
    """``torchrun --nproc-per-node 2 -m snnc.cli train ...`` trains exactly what
    ``snnc train --nproc 2`` trains (same group size, same reductions)."""
    run_dir = tmp_path / "tr"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           "--nproc-per-node", "2", "-m", "snnc.cli", "train",
                           *_cli_args(genome_file, run_dir)],
                          env=ENV, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout)  # rank 0's report only
    assert report["history"][-1]["test_acc"] == two.test_acc
    assert RunDir(run_dir).read_config()["config"]["nproc"] == 2
    a, b = load(run_dir / "model.snnir"), load(two.model_path)
    for node in a:
        for k, v in node.params.items():
            assert (v == b[node.name].params[k]).all(), (node.name, k)


@pytest.mark.slow
def test_cli_nproc(tmp_path, genome_file, two):
    run_dir = tmp_path / "cli"
    runner = CliRunner(mix_stderr=False)
    args = _cli_args(genome_file, run_dir)
    args[args.index("--epochs") + 1] = "1"  # epoch 1 of a longer run: same learning rate
    res = runner.invoke(cli, ["train", *args, "--nproc", "2"])
    assert res.exit_code == 0, res.output + res.stderr
    report = json.loads(res.stdout)
    assert _strip(report["history"]) == _strip(two.history[:1])
    assert res.stderr.startswith("epoch   1  loss ")  # rank 0's rows, relayed once
    assert res.stderr.count("epoch   1") == 1
    # resuming a finished run only finalises it again; another --nproc is accepted
    res = runner.invoke(cli, ["train", "--run-dir", str(run_dir), "--resume", "--nproc", "1",
                              "--format", "json"])
    assert res.exit_code == 0, res.output + res.stderr
    assert json.loads(res.stdout)["resumed_from"] == 1
