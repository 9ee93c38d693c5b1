"""Where a search evaluates its candidates: in this process, in a local process pool, or on a Dask
cluster (``snnc search ... --executor inprocess|process|dask``).

A search hands an executor a :class:`Job` (a picklable top-level function ``fn(context, item)``,
the ``context`` every call shares, e.g. the scoring batches, and the torch thread count) and an
iterable of ``(key, item)`` pairs; :meth:`Executor.map_unordered` yields ``(key, fn(context,
item))`` as results arrive, in any order. The search commits each result to its experiment store
as it arrives, so the store, not the executor, is the record of what is done: the commit must be
idempotent (:meth:`snnc.runtime.store.ExperimentStore.add_candidate` with ``exist_ok=True``), a
resumed search skips what is stored, and a result delivered twice is stored once.

* :class:`InProcessExecutor`: one call after the other, here (``--workers`` is ignored).
* :class:`ProcessExecutor`: ``workers`` spawned processes (``concurrent.futures``), at most two
  items in flight per worker; workers die with the search (``PR_SET_PDEATHSIG``) and ignore
  Ctrl-C, which the search handles.
* :class:`DaskExecutor`: a ``dask.distributed`` cluster at ``scheduler`` (``tcp://host:port``),
  or without one a ``LocalCluster`` of ``workers`` single-threaded worker processes on this
  machine. The context is scattered to every worker once; each item is one task, at most
  ``4 x`` the cluster's threads in flight. When a worker dies, the scheduler reruns its tasks on
  the others (``distributed.scheduler.allowed-failures``, default 3 deaths per task); a task
  that kills every worker it runs on fails the search with Dask's ``KilledWorker``.

Results do not depend on the executor: every call runs ``fn`` on the same context with the
same thread count (``torch.set_num_threads``; float32 sums are then made in one order).

Plugging a search in: make the per-candidate evaluation a top-level function ``fn(context,
item)`` (importable on the workers, so inside ``snnc``), build the executor with
:func:`make_executor` from the command's ``--executor/--workers/--scheduler``
(``snnc.cli.executor_options``), and commit what :meth:`Executor.map_unordered` yields, skipping
what is stored already (see :func:`snnc.search.snasnet.run_search`).
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import itertools
import logging
import multiprocessing
import os
import signal
import threading
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterable, Iterator

from ..children import die_with_parent
from ..errors import SearchError

__all__ = ["EXECUTORS", "Job", "Executor", "InProcessExecutor", "ProcessExecutor",
           "DaskExecutor", "make_executor", "resolve_executor"]

#: Executor names (``--executor``).
EXECUTORS = ("inprocess", "process", "dask")


@dataclass(frozen=True)
class Job:
    """What every call shares: ``fn(context, item) -> result`` (a picklable, importable top-level
    function), the ``context`` (sent to each worker once) and torch ``threads`` per call."""

    fn: Callable[[Any, Any], Any]
    context: Any = None
    threads: int = 1


class Executor:
    """Base class: a context manager whose :meth:`map_unordered` runs a :class:`Job`."""

    name = ""

    def map_unordered(self, job: Job, items: Iterable[tuple[Hashable, Any]]
                      ) -> Iterator[tuple[Hashable, Any]]:
        """Yield ``(key, job.fn(job.context, item))`` for every ``(key, item)``, in the order the
        results arrive. An exception of ``fn`` is raised here (the remaining work is cancelled)."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the workers (idempotent)."""

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _call(fn, context, item, threads: int):
    """``fn(context, item)`` with ``threads`` torch threads (restored afterwards)."""
    from ..runtime.loader import torch_threads

    with torch_threads(threads):
        return fn(context, item)


class InProcessExecutor(Executor):
    """Every call in this process, in order."""

    name = "inprocess"

    def map_unordered(self, job, items):
        for key, item in items:
            yield key, _call(job.fn, job.context, item, job.threads)


# ------------------------------------------------------------------------------------ processes
_WORKER: dict[str, Any] = {}


def _init_worker(job: Job, parent: int) -> None:
    # a worker must not outlive the search (SIGKILL, SIGTERM, out of memory), and Ctrl-C in a
    # terminal, which reaches every worker too, is the parent's to handle
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(int(job.threads))
    _WORKER["job"] = job


def _run_in_worker(item):
    job = _WORKER["job"]
    return job.fn(job.context, item)


@contextlib.contextmanager
def _sigint_ignored():
    """SIGINT ignored in this process for the block (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


class ProcessExecutor(Executor):
    """``workers`` spawned processes on this machine (fork after torch has started threads is
    unsafe), each with the job's context from its initializer.

    Raises:
        SearchError: ``workers < 1``.
    """

    name = "process"

    def __init__(self, workers: int = 1):
        if workers < 1:
            raise SearchError(f"the process executor needs workers >= 1, got {workers}")
        self.workers = workers

    def map_unordered(self, job, items):
        ctx = multiprocessing.get_context("spawn")
        todo = iter(items)
        with cf.ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                    initargs=(job, os.getpid())) as pool:
            running: dict[cf.Future, Hashable] = {}

            def submit() -> bool:
                nxt = next(todo, None)
                if nxt is None:
                    return False
                key, item = nxt
                running[pool.submit(_run_in_worker, item)] = key
                return True

            # The first submits spawn the workers. A worker inherits an ignored SIGINT through
            # exec, so a Ctrl-C reaching the process group while it still imports torch, before
            # its initializer runs, cannot print a traceback there.
            with _sigint_ignored():
                for _ in range(2 * self.workers):
                    if not submit():
                        break
            try:
                while running:
                    ready, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                    for fut in ready:
                        key = running.pop(fut)
                        yield key, fut.result()
                        submit()
            except BaseException:
                # the workers would finish their items first; nothing of theirs is kept anyway
                for proc in list(getattr(pool, "_processes", {}).values()):
                    proc.kill()
                pool.shutdown(wait=True, cancel_futures=True)
                raise


# ------------------------------------------------------------------------------------ dask
def _dask_call(fn, context, item, threads: int):
    return _call(fn, context, item, threads)


class DaskExecutor(Executor):
    """A ``dask.distributed`` cluster: the one at ``scheduler`` (an address such as
    ``tcp://10.0.0.5:8786``), or a ``LocalCluster`` of ``workers`` processes with one thread each.

    Raises:
        MissingDependencyError: ``dask[distributed]`` is not installed (``pip install
            'snnc[distributed]'``).
        SearchError: the scheduler cannot be reached (``timeout`` seconds).
    """

    name = "dask"

    def __init__(self, scheduler: str | None = None, workers: int = 1, timeout: float = 30.0):
        from ..optional import require

        dist = require("distributed", feature="--executor dask", extra="distributed")
        self._cluster = None
        try:
            if scheduler:
                self.client = dist.Client(scheduler, timeout=timeout, set_as_default=False)
            else:
                self._cluster = dist.LocalCluster(n_workers=max(1, workers), threads_per_worker=1,
                                                  processes=True, dashboard_address=None,
                                                  silence_logs=logging.ERROR)
                self.client = dist.Client(self._cluster, set_as_default=False)
        except OSError as exc:  # a timeout is an OSError in distributed
            self.close()
            raise SearchError(f"cannot reach the Dask scheduler {scheduler!r}: {exc}") from None
        self._dist = dist
        self._ids = itertools.count()

    def _slots(self) -> int:
        return 4 * max(1, sum(self.client.nthreads().values()))

    def map_unordered(self, job, items):
        dist = self._dist
        run = next(self._ids)
        # one object, not a sequence of them; on every worker, so a death loses no copy
        ctx = self.client.scatter([job.context], broadcast=True, hash=False)[0]
        todo = iter(items)
        keys: dict[str, Hashable] = {}
        ac = dist.as_completed(loop=self.client.loop)

        def submit() -> bool:
            nxt = next(todo, None)
            if nxt is None:
                return False
            key, item = nxt
            task = f"snnc-{os.getpid()}-{run}-{len(keys)}"
            keys[task] = key
            ac.add(self.client.submit(_dask_call, job.fn, ctx, item, job.threads, key=task,
                                      pure=False, retries=0))
            return True

        for _ in range(self._slots()):
            if not submit():
                break
        try:
            for fut in ac:
                yield keys[fut.key], fut.result()
                fut.release()
                submit()
        except BaseException:
            for fut in list(ac.futures):
                fut.cancel()
            raise
        finally:
            ctx.release()

    def close(self) -> None:
        client, cluster = getattr(self, "client", None), self._cluster
        self.client = self._cluster = None
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def resolve_executor(kind: str | None = None, *, workers: int = 1,
                     scheduler: str | None = None) -> str:
    """The executor name :func:`make_executor` would use, checked without starting anything.

    Raises:
        SearchError: an unknown kind; ``scheduler`` without ``dask``; ``workers < 0``.
    """
    if workers < 0:
        raise SearchError(f"workers must be >= 0, got {workers}")
    kind = kind or ("inprocess" if workers == 0 else "process")
    if kind not in EXECUTORS:
        raise SearchError(f"unknown executor {kind!r}; known: {', '.join(EXECUTORS)}")
    if scheduler and kind != "dask":
        raise SearchError(f"--scheduler is for --executor dask, not {kind}")
    return kind


def make_executor(kind: str | None = None, *, workers: int = 1,
                  scheduler: str | None = None) -> Executor:
    """The executor ``kind`` (:data:`EXECUTORS`; None: ``inprocess`` when ``workers == 0``, else
    ``process``) with ``workers`` processes (``process``; ``dask`` without a scheduler: the
    LocalCluster's workers) or the Dask ``scheduler`` address.

    Raises:
        SearchError: see :func:`resolve_executor`; MissingDependencyError: ``dask`` without
            ``dask[distributed]`` installed.
    """
    kind = resolve_executor(kind, workers=workers, scheduler=scheduler)
    if kind == "inprocess":
        return InProcessExecutor()
    if kind == "process":
        return ProcessExecutor(max(1, workers))
    return DaskExecutor(scheduler, workers=max(1, workers))
