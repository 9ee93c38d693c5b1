"""A search on a real Dask cluster (a ``dask scheduler`` and two ``dask worker`` processes on
127.0.0.1) loses one worker to SIGKILL mid-search and still ends with exactly the in-process
ranking, every candidate stored once."""
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from snnc.children import die_with_parent
from snnc.search.snasnet import SearchConfig, run_search

distributed = pytest.importorskip("distributed")

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
# a few dozen tiny candidates (about 40 distinct genomes of 80 draws)
CFG = SearchConfig(dataset="digits", candidates=80, channels=4, T=2, batch_size=24)


def _spawn(args, log: Path) -> subprocess.Popen:
    """A ``dask`` CLI process that dies with this one (PR_SET_PDEATHSIG), output to ``log``."""
    me = os.getpid()
    with open(log, "w") as out:
        return subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_" + args[0]]
                                + args[1:], stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)},
                                preexec_fn=lambda: die_with_parent(me))


def _wait(cond, timeout: float, what: str, procs=()):
    deadline = time.monotonic() + timeout
    while not cond():
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"{what}: a dask process ended early ({p.args})")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: timed out after {timeout} s")
        time.sleep(0.2)


@pytest.fixture
def cluster(tmp_path):
    """(scheduler address, {worker address: Popen}); every process is killed afterwards."""
    sched_file = tmp_path / "scheduler.json"
    procs = [_spawn(["scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", str(sched_file)], tmp_path / "scheduler.log")]
    try:
        _wait(sched_file.exists, 60, "scheduler start", procs)
        for i in range(2):
            procs.append(_spawn(["worker", "--scheduler-file", str(sched_file), "--nthreads", "1",
                                 "--no-nanny", "--no-dashboard", "--host", "127.0.0.1",
                                 "--name", f"w{i}"], tmp_path / f"worker{i}.log"))
        with distributed.Client(scheduler_file=str(sched_file), timeout=60) as client:
            _wait(lambda: len(client.nthreads()) == 2, 90, "two workers", procs)
            pids = client.run(os.getpid)  # worker address -> pid
            address = client.scheduler.address
        by_pid = {p.pid: p for p in procs}
        yield address, {addr: by_pid[pid] for addr, pid in pids.items()}
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=30)


def test_a_killed_dask_worker_changes_nothing(cluster, tmp_path):
    address, workers = cluster
    reference = run_search(CFG, tmp_path / "local", executor="inprocess")
    killed: list[str] = []

    def progress(done, total):
        # kill the worker that is running a candidate once a few are stored
        if done >= 4 and not killed:
            with distributed.Client(address, timeout=30) as probe:
                busy = [w for w, keys in probe.processing().items() if keys and w in workers]
            victim = busy[0] if busy else next(iter(workers))
            workers[victim].send_signal(signal.SIGKILL)
            workers[victim].wait(timeout=30)
            killed.append(bool(busy))

    result = run_search(CFG, tmp_path / "dask", executor="dask", scheduler=address,
                        progress=progress)
    assert killed == [True], "no worker was killed while it ran a candidate"
    assert [p.poll() is None for p in workers.values()].count(True) == 1
    key = [(c.genome_id, c.position, c.score, c.scores) for c in reference.ranking]
    assert [(c.genome_id, c.position, c.score, c.scores) for c in result.ranking] == key
    con = sqlite3.connect(tmp_path / "dask" / "store.sqlite")
    try:
        rows = con.execute("SELECT genome_id, COUNT(*) FROM candidates GROUP BY genome_id")
        counts = dict(rows.fetchall())
    finally:
        con.close()
    assert len(counts) == reference.unique and set(counts.values()) == {1}
    assert (tmp_path / "dask" / "ranking.csv").read_text().count("\n") == reference.unique + 1
    assert (tmp_path / "dask" / "best.genome").read_text() == \
        (tmp_path / "local" / "best.genome").read_text()
