"""Start a data-parallel training run on this machine: ``nproc`` worker processes, one group.

:func:`launch` is :func:`snnc.runtime.train.train` for any ``TrainConfig.nproc``: with 1 it trains
in this process; with ``N > 1`` it starts ``N`` workers (``python -m snnc.runtime.launch``; they
die with this process, see :mod:`snnc.children`) that meet at a ``torch.distributed.TCPStore``
this process holds on 127.0.0.1 (on a port the system picks) and train with
:mod:`snnc.runtime.distributed`. Rank 0's epoch rows come back to ``on_epoch`` here; its progress
bar draws on the shared stderr. Workers inherit ``OMP_NUM_THREADS`` or get ``CPUs / N`` (as
torchrun limits them): ``N`` processes must not each start a thread per core.

Errors: a worker that raises reports its message and exits; a worker that dies (a signal, an
out-of-memory kill) is noticed by its exit status. Either way the others are stopped at once
(SIGTERM, then SIGKILL after 5 s) and :class:`~snnc.errors.RunError` names the rank and its
message (an snnc error before a peer's "connection closed"). Killing this process (SIGKILL
included) kills the workers; the run folder then resumes like any killed run.

Across machines, start every process with ``torchrun`` instead (``snnc train`` reads ``RANK``,
``WORLD_SIZE`` and ``MASTER_ADDR``/``MASTER_PORT``; README "Training on several processes /
machines").
"""
from __future__ import annotations

import datetime
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from ..errors import RunError, SnncError
from ..ir.graph import Graph
from .config import TrainConfig
from .distributed import DEFAULT_TIMEOUT
from .train import TrainResult, load_run_config, train

__all__ = ["group_device", "launch", "run_nproc"]

#: Seconds a worker gets to end after SIGTERM before SIGKILL.
_GRACE = 5.0


def run_nproc(config: TrainConfig | None, run_dir: str | Path, resume: bool) -> int:
    """The number of processes a run uses: the config's ``nproc``, or on a resume without a
    config the run's own."""
    if config is not None:
        return config.nproc
    return load_run_config(run_dir).nproc if resume else 1


def group_device(config: TrainConfig | None, run_dir: str | Path, resume: bool) -> str:
    """``"cuda"`` or ``"cpu"``: where the processes of a group train (the config's ``device``,
    or on a resume without a config the run's own; ``auto`` resolved here)."""
    if config is None:
        config = load_run_config(run_dir) if resume else TrainConfig()
    if config.device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return config.device


def launch(model_source: str | Path | Graph | None, config: TrainConfig | None,
           run_dir: str | Path, *, resume: bool = False, progress: bool = True,
           on_epoch: Callable[[dict[str, Any]], None] | None = None,
           timeout: float = DEFAULT_TIMEOUT) -> TrainResult:
    """Train with ``config.nproc`` processes on this machine (see the module docstring).

    Args: as :func:`~snnc.runtime.train.train`; ``timeout``: seconds a collective waits for a
        worker that stopped answering.
    Returns:
        A :class:`~snnc.runtime.train.TrainResult` (``module`` rebuilt here from the trained
        ``model.snnir``, in eval mode).
    Raises:
        RunError: a worker failed or died (the message names its rank), and everything
            :func:`~snnc.runtime.train.train` raises (from rank 0, with its message).
    """
    nproc = run_nproc(config, run_dir, resume)
    device = group_device(config, run_dir, resume) if nproc > 1 else "cpu"
    if nproc == 1:
        return train(model_source, config, run_dir, resume=resume, progress=progress,
                     on_epoch=on_epoch)
    import torch.distributed as dist

    t_start = time.perf_counter()
    store = dist.TCPStore("127.0.0.1", 0, is_master=True, wait_for_workers=False,
                          timeout=datetime.timedelta(seconds=timeout))
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nproc)))
    with tempfile.TemporaryDirectory(prefix="snnc-launch-") as tmp:
        job = _write_job(Path(tmp), model_source, config, run_dir, resume, timeout, store.port,
                         device)
        procs: list[subprocess.Popen] = []
        reads = []
        try:
            for rank in range(nproc):
                r, w = os.pipe()
                try:
                    procs.append(subprocess.Popen(
                        [sys.executable, "-m", "snnc.runtime.launch", str(job), str(rank),
                         str(nproc), str(w), str(os.getpid()),
                         "1" if progress and rank == 0 else "0"],
                        pass_fds=(w,), env=env, stdin=subprocess.DEVNULL))
                finally:
                    os.close(w)
                reads.append(os.fdopen(r, "rb"))
            summary = _supervise(procs, reads, on_epoch)
        except BaseException:
            _stop(procs)
            raise
        finally:
            for f in reads:
                f.close()
    return _result(Path(run_dir), summary, time.perf_counter() - t_start)


def _write_job(tmp: Path, model_source, config, run_dir, resume, timeout, port, device) -> Path:
    """What every worker needs, as a JSON file (a Graph goes beside it as a .snnir)."""
    source = None
    if isinstance(model_source, Graph):
        from ..ir.artifact import save

        source = str(save(model_source.copy(), tmp / "source.snnir"))
    elif model_source is not None:
        source = str(Path(model_source).resolve())
    job = {"model": source, "config": config.to_dict() if config is not None else None,
           "run_dir": str(Path(run_dir).resolve()), "resume": resume, "timeout": timeout,
           "port": port, "device": device}
    path = tmp / "job.json"
    path.write_text(json.dumps(job))
    return path


def _supervise(procs, reads, on_epoch) -> dict:
    """Relay rank 0's epoch rows until every worker ends; on the first failure stop the rest
    and raise the most telling error."""
    sel = selectors.DefaultSelector()
    for rank, f in enumerate(reads):
        sel.register(f, selectors.EVENT_READ, rank)
    errors: dict[int, tuple[bool, str]] = {}
    summary = None
    running = set(range(len(procs)))

    def handle(rank: int, line: bytes) -> None:
        nonlocal summary
        try:
            msg = json.loads(line)
        except ValueError:  # a line cut short by a kill
            return
        if msg["kind"] == "epoch" and on_epoch is not None:
            on_epoch(msg["row"])
        elif msg["kind"] == "done":
            summary = msg["summary"]
        elif msg["kind"] == "error":
            errors[rank] = (msg["snnc"], msg["message"])

    while running or sel.get_map():
        for key, _ in sel.select(timeout=0.1):
            line = key.fileobj.readline()
            if line:
                handle(key.data, line)
            else:
                sel.unregister(key.fileobj)
        for r in sorted(running):
            code = procs[r].poll()
            if code is None:
                continue
            running.discard(r)
            if code != 0:
                _stop(procs)
                for key in list(sel.get_map().values()):  # what the others said on their way out
                    for line in key.fileobj.readlines():
                        handle(key.data, line)
                errors.setdefault(r, (False, _exit_text(code)))
                raise RunError(_report(errors, len(procs)))
    if summary is None:  # cannot happen: rank 0 exits 0 only after sending it
        raise RunError("training ended without a result from rank 0")
    return summary


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


def _report(errors: dict[int, tuple[bool, str]], nproc: int) -> str:
    """The error worth reading first: an snnc error (the cause, not a peer's "connection
    closed"), then a death by signal, then the lowest rank's."""
    def rank_key(item):
        rank, (ours, text) = item
        return (not ours, "killed by" not in text, rank)

    rank, (_, text) = min(errors.items(), key=rank_key)
    return f"distributed training ({nproc} processes) stopped: rank {rank}: {text}"


def _stop(procs) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + _GRACE
    for p in procs:
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _result(run_dir: Path, summary: dict, seconds: float) -> TrainResult:
    from ..backends.torch import compile as compile_torch
    from ..ir.artifact import load
    from .evaluate import torch_dtype

    graph = load(run_dir / "model.snnir")
    module = compile_torch(graph, dtype=torch_dtype(summary["dtype"])).eval()
    return TrainResult(run_dir, run_dir / "model.snnir", summary["history"], summary["test_acc"],
                       summary["val_acc"], graph, module, summary["resumed_from"], seconds)


def _worker(job_path: str, rank: int, world: int, fd: int, parent: int, progress: bool) -> int:
    """One process of the group: join, train, report on ``fd`` (JSON lines); 1 on an error."""
    from ..children import die_with_parent

    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the launcher's to handle
    out = os.fdopen(fd, "w", buffering=1)

    def send(**msg) -> None:
        out.write(json.dumps(msg) + "\n")

    job = json.loads(Path(job_path).read_text())
    try:
        import torch.distributed as dist

        from .distributed import close_group, init_group

        config = TrainConfig.from_dict(job["config"]) if job["config"] is not None else None
        store = dist.TCPStore("127.0.0.1", job["port"], is_master=False,
                              timeout=datetime.timedelta(seconds=job["timeout"]))
        group = init_group(rank, world, local_rank=rank, store=store, timeout=job["timeout"],
                           device=job["device"])
        result = train(job["model"], config, job["run_dir"], resume=job["resume"],
                       progress=progress, group=group,
                       on_epoch=(lambda row: send(kind="epoch", row=row)) if rank == 0 else None)
        if rank == 0:
            send(kind="done", summary={
                "history": result.history, "test_acc": result.test_acc,
                "val_acc": result.val_acc, "resumed_from": result.resumed_from,
                "dtype": str(result.module.dtype).removeprefix("torch.")})
        close_group()
    except SnncError as exc:
        send(kind="error", snnc=True, message=str(exc))
        return 1
    except BaseException as exc:  # a peer's death or silence (gloo), a bug
        first = str(exc).splitlines()[0] if str(exc) else ""
        text = f"{type(exc).__name__}: {first}"
        if _is_group_error(exc):
            text = (f"lost the group (a process died or did not answer within "
                    f"{job['timeout']:g} s): {text}")
        send(kind="error", snnc=False, message=text)
        return 1
    finally:
        out.close()
    return 0


def _is_group_error(exc: BaseException) -> bool:
    import torch.distributed as dist

    if isinstance(exc, dist.DistError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and any(
        w in text for w in ("timed out", "timeout", "connection closed", "connection reset",
                            "gloo"))


if __name__ == "__main__":
    _a = sys.argv[1:]
    sys.exit(_worker(_a[0], int(_a[1]), int(_a[2]), int(_a[3]), int(_a[4]), _a[5] == "1"))
