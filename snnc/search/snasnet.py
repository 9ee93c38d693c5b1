"""SNASNet search without training (SNASNet section 3.2, 4, 5.1): sample candidates, score each at
initialisation with the SAHD kernel (or HD, or the E-score), keep the best.

:func:`run_search` draws ``candidates`` architectures from a space (:mod:`snnc.search.spaces`;
candidate ``i`` from seed ``derive_seed(11, seed, i)``), lowers each genome with the normal
pipeline (frontend, no passes, weights from ``seed``), scores it on fixed mini-batches of real
training images (:func:`snnc.search.proxies.score_graph`) in worker processes of a
``concurrent.futures`` executor, and commits every result to the experiment store
(:mod:`snnc.runtime.store`) as it arrives. A genome drawn twice is scored once. When every
candidate is stored it writes ``best.genome`` (the highest score) and ``ranking.csv`` (every
candidate, best first) into the output folder.

The result depends only on the :class:`SearchConfig`: each candidate is scored by the same
function on the same data with the same torch thread count, so the number of workers and any
kill-and-resume cycle leave the scores and the ranking unchanged.
"""
from __future__ import annotations

import concurrent.futures as cf
import contextlib
import csv
import dataclasses
import io
import multiprocessing
import os
import signal
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..atomic import atomic_write_text
from ..children import die_with_parent
from ..errors import SearchError
from ..runtime.loader import derive_seed
from ..runtime.store import CandidateRecord, DamagedRow, ExperimentStore, StoreWarning
from .proxies import ALPHA, KINDS, PROTOCOLS
from .spaces import SPACES, Candidate, make_space

__all__ = ["DEFAULT_SPACE", "SearchConfig", "SearchResult", "run_search", "stored_config",
           "score_candidate", "search_batches"]

#: The space ``snnc search snasnet`` samples by default: SNASNet-Bw (cells with forward and
#: backward connections), the space of the paper's best architectures.
DEFAULT_SPACE = "snasnet-bw"
_SAMPLE, _BATCH = 11, 12  # derive_seed stream tags
STORE_FILE, GENOME_FILE, RANKING_FILE = "store.sqlite", "best.genome", "ranking.csv"


@dataclass(frozen=True)
class SearchConfig:
    """Everything that determines a search's result.

    Attributes:
        space: a name in :data:`~snnc.search.spaces.SPACES`.
        dataset, data_root: the images the scores are measured on (training split).
        candidates: architectures drawn (SNASNet section 5.1: 5000).
        score: the score that ranks (``sahd``, ``hd`` or ``escore``); ``also``: further scores
            recorded (``sahd`` and ``hd`` always come together).
        channels: cell / stage width ``C`` (SNASNet: 128 for CIFAR-100).
        T: time steps (SNASNet: 5 for CIFAR-100, 8 for CIFAR-10).
        batch_size: images per scoring batch (the authors' code: 256); ``repeats``: batches
            averaged (default 1 under the paper protocol, 2 under the code protocol, as the
            authors' code averages two).
        protocol: ``"paper"`` (SNASNet eq. 5 and 9 as written; default) or ``"code"`` (the
            authors' search code: its kernel averaged over calls, per-step BatchNorm statistics;
            see :mod:`.proxies`).
        alpha: SAHD's alpha (eq. 9, 0.5). bn: BatchNorm statistics (``batch`` or ``running``).
        seed: candidate sampling, batch choice and weight initialisation.
        dtype: ``float32`` or ``float64``; threads: torch threads per scoring process.
    """

    space: str = DEFAULT_SPACE
    dataset: str = "digits"
    data_root: str | None = None
    candidates: int = 5000
    score: str = "sahd"
    also: tuple[str, ...] = ()
    channels: int = 128
    T: int = 5
    batch_size: int = 256
    repeats: int | None = None
    alpha: float = ALPHA
    bn: str = "batch"
    seed: int = 0
    dtype: str = "float32"
    threads: int = 1
    protocol: str = "paper"

    def __post_init__(self) -> None:
        object.__setattr__(self, "also", tuple(self.also))
        if self.protocol not in PROTOCOLS:
            raise SearchError(f"unknown scoring protocol {self.protocol!r}; known: "
                              f"{', '.join(PROTOCOLS)}")
        if self.repeats is None:
            object.__setattr__(self, "repeats", 2 if self.protocol == "code" else 1)
        if self.space not in SPACES:
            raise SearchError(f"unknown search space {self.space!r}; known: {', '.join(SPACES)}")
        for k in (self.score,) + self.also:
            if k not in KINDS:
                raise SearchError(f"unknown score {k!r}; known: {', '.join(KINDS)}")
        for name in ("candidates", "channels", "T", "batch_size", "repeats", "threads"):
            if getattr(self, name) < 1:
                raise SearchError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.bn not in ("batch", "running") or self.dtype not in ("float32", "float64"):
            raise SearchError(f"bn must be batch/running and dtype float32/float64, got "
                              f"{self.bn!r}, {self.dtype!r}")

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((self.score,) + self.also))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["also"] = list(self.also)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "SearchConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise SearchError(f"stored search config has unknown fields {unknown}")
        return cls(**{**d, "also": tuple(d.get("also", ()))})


@dataclass
class SearchResult:
    """What a search produced: the ranked candidates (best first) and where it wrote them."""

    search_id: str
    config: SearchConfig
    ranking: list[CandidateRecord]
    sampled: int  # candidates drawn
    unique: int  # distinct genomes among them
    scored: int  # scored by this call (the rest were in the store)
    attempt: int
    paths: dict[str, Path] = field(default_factory=dict)
    #: stored rows that could not be trusted and are not in ``ranking`` (also a StoreWarning)
    damaged: list[DamagedRow] = field(default_factory=list)

    @property
    def best(self) -> CandidateRecord:
        return self.ranking[0]


# ----------------------------------------------------------------------------- data
def search_batches(config: SearchConfig) -> tuple[list[tuple[np.ndarray, np.ndarray]], int,
                                                     tuple[int, ...]]:
    """The scoring mini-batches: ``repeats`` disjoint batches of ``batch_size`` training images
    drawn with ``derive_seed(12, seed)``, normalised with the training set's channel mean and std
    (direct encoding, as SNASNet's networks see images). Returns ``(batches, classes,
    input_shape)``, each batch ``(x float32 [B, C, H, W], labels int64 [B])``.

    Raises:
        DatasetError: as :func:`~snnc.runtime.data.load_dataset`; SearchError: too few images.
    """
    from ..runtime.data import load_dataset

    ds = load_dataset(config.dataset, config.data_root)
    need = config.batch_size * config.repeats
    if need > len(ds.train_y):
        raise SearchError(f"{config.repeats} batches of {config.batch_size} need {need} images; "
                          f"{ds.name} has {len(ds.train_y)} training images")
    idx = np.random.default_rng(derive_seed(_BATCH, config.seed)).permutation(len(ds.train_y))
    mean = np.asarray(ds.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(ds.std, dtype=np.float32)[:, None, None]
    out = []
    for r in range(config.repeats):
        sel = np.sort(idx[r * config.batch_size:(r + 1) * config.batch_size])
        out.append((((ds.train_x[sel] - mean) / std).astype(np.float32), ds.train_y[sel]))
    return out, ds.classes, tuple(ds.input_shape)


# ----------------------------------------------------------------------------- scoring
_WORKER: dict[str, Any] = {}


def _init_worker(config: dict[str, Any], batches, classes: int, parent: int) -> None:
    # a worker must not outlive the search (SIGKILL, SIGTERM, out of memory), and Ctrl-C in a
    # terminal, which reaches every worker too, is the parent's to handle
    die_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(int(config["threads"]))
    _WORKER.update(config=SearchConfig.from_dict(config), batches=batches, classes=classes)


def score_candidate(text: str, config: SearchConfig, batches, classes: int
                    ) -> tuple[dict[str, float], float]:
    """Lower genome ``text`` (no passes, weights from ``config.seed``) and score it; returns
    ``(scores, seconds)``. Raises what lowering and :func:`~.proxies.score_graph` raise."""
    import torch

    from ..compiler import compile_genome
    from .proxies import score_graph

    t0 = time.perf_counter()
    graph = compile_genome(text, target="train", seed=config.seed).graph
    dtype = torch.float64 if config.dtype == "float64" else torch.float32
    data = [(torch.from_numpy(x), y) for x, y in batches]
    scores = score_graph(graph, data, kinds=config.kinds, alpha=config.alpha, bn=config.bn,
                         dtype=dtype, classes=classes, protocol=config.protocol)
    return scores, time.perf_counter() - t0


def _score_in_worker(text: str) -> tuple[dict[str, float], float]:
    return score_candidate(text, _WORKER["config"], _WORKER["batches"], _WORKER["classes"])


# ----------------------------------------------------------------------------- driver
def stored_config(out_dir: str | Path, search_id: str = "snasnet") -> SearchConfig:
    """The configuration of the search ``search_id`` stored in ``out_dir``.

    Raises:
        SearchError: no store or no such search there.
    """
    path = Path(out_dir) / STORE_FILE
    if not path.exists():
        raise SearchError(f"{out_dir}: no search to resume (no {STORE_FILE})")
    with ExperimentStore(path, lock=False) as store:  # a read; the search itself locks
        rec = store.search(search_id)
    if rec is None:
        raise SearchError(f"{path}: no search {search_id!r} to resume")
    return SearchConfig.from_dict(rec.config)


def _draw(config: SearchConfig, input_shape, classes) -> tuple[list[tuple[int, Candidate]], int]:
    """Candidates in sample order, first occurrence of each genome only; and how many were drawn."""
    space = make_space(config.space, channels=config.channels, T=config.T,
                       input_shape=input_shape, classes=classes)
    seen: set[str] = set()
    out = []
    for i in range(config.candidates):
        cand = space.sample(derive_seed(_SAMPLE, config.seed, i) % 2**31)
        if cand.id not in seen:
            seen.add(cand.id)
            out.append((i, cand))
    return out, config.candidates


def run_search(config: SearchConfig, out_dir: str | Path, *, resume: bool = False,
               workers: int = 1, search_id: str = "snasnet",
               progress: Callable[[int, int], None] | None = None) -> SearchResult:
    """Run (or, with ``resume``, continue) a search and write its outputs into ``out_dir``.

    Args:
        config: the search; with ``resume`` it must equal the stored one (see
            :func:`stored_config`).
        out_dir: folder of ``store.sqlite``, ``best.genome`` and ``ranking.csv`` (created).
        resume: continue the stored search ``search_id``: candidates already stored are not
            scored again.
        workers: scoring processes (``0``: score in this process). Results do not depend on it.
        search_id: key of the search in the store.
        progress: called as ``progress(done, total)`` after every stored candidate.
    Raises:
        SearchError: a search ``search_id`` exists without ``resume``, or is missing or differs
            with ``resume``; StoreError, DatasetError, LoweringError, ... from the parts.
    """
    if workers < 0:
        raise SearchError(f"workers must be >= 0, got {workers}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"store": out / STORE_FILE, "genome": out / GENOME_FILE, "ranking": out / RANKING_FILE}
    batches, classes, input_shape = search_batches(config)  # fail before touching the store
    drawn, sampled = _draw(config, input_shape, classes)
    with ExperimentStore(paths["store"]) as store:
        rec = store.search(search_id)
        if resume:
            if rec is None:
                raise SearchError(f"{paths['store']}: no search {search_id!r} to resume")
            stored = SearchConfig.from_dict(rec.config)
            if stored != config:
                diff = [f"{f.name}: stored {getattr(stored, f.name)!r}, given "
                        f"{getattr(config, f.name)!r}" for f in dataclasses.fields(config)
                        if getattr(stored, f.name) != getattr(config, f.name)]
                raise SearchError(f"{paths['store']}: search {search_id!r} was started with "
                                  f"another configuration ({'; '.join(diff)})")
            attempt = store.begin_attempt(search_id)
        else:
            if rec is not None:
                raise SearchError(f"{paths['store']}: search {search_id!r} exists already; "
                                  f"continue it with --resume or use another folder")
            store.create_search(search_id, config.to_dict(), config.seed)
            attempt = 1
        done = store.genome_ids(search_id)
        pending = [(i, c) for i, c in drawn if c.id not in done]
        total, finished = len(drawn), len(drawn) - len(pending)
        if progress:
            progress(finished, total)

        def commit(i: int, cand: Candidate, text: str, scores: dict[str, float], secs: float):
            nonlocal finished
            store.add_candidate(search_id, CandidateRecord(
                cand.id, i, cand.description, text, scores.get(config.score, float("nan")),
                scores, secs, attempt))
            finished += 1
            if progress:
                progress(finished, total)

        if workers == 0:
            from ..runtime.loader import torch_threads

            with torch_threads(config.threads):  # as in a worker: float32 sums in one order
                for i, cand in pending:
                    text = cand.text
                    commit(i, cand, text, *score_candidate(text, config, batches, classes))
        elif pending:
            _run_pool(pending, config, batches, classes, workers, commit)
        store.set_status(search_id, "done")
        ranked = store.ranking(search_id)
        if ranked.damaged:
            warnings.warn(damage_report(paths["store"], ranked.damaged), StoreWarning,
                          stacklevel=2)
        _write_outputs(ranked.records, config, paths)  # still under the store's writer lock
    return SearchResult(search_id, config, ranked.records, sampled, total, len(pending), attempt,
                        paths, ranked.damaged)


def damage_report(store: Path, damaged: list[DamagedRow]) -> str:
    shown = "; ".join(f"{d.genome_id[:12]}: {d.reason}" for d in damaged[:5])
    more = f" (and {len(damaged) - 5} more)" if len(damaged) > 5 else ""
    return (f"{store}: {len(damaged)} damaged candidate row(s) left out of the ranking: "
            f"{shown}{more}")


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


def _run_pool(pending, config, batches, classes, workers, commit) -> None:
    """Score ``pending`` in ``workers`` spawned processes, at most two candidates in flight per
    worker, committing each result as it arrives."""
    ctx = multiprocessing.get_context("spawn")  # fork after torch has started threads is unsafe
    todo = iter(pending)
    with cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                initargs=(config.to_dict(), batches, classes,
                                          os.getpid())) as pool:
        running: dict[cf.Future, tuple[int, Candidate, str]] = {}

        def submit() -> bool:
            item = next(todo, None)
            if item is None:
                return False
            i, cand = item
            text = cand.text
            running[pool.submit(_score_in_worker, text)] = (i, cand, text)
            return True

        # The first submits spawn the workers (one each, on demand). A worker inherits an
        # ignored SIGINT through exec, so a Ctrl-C that reaches the whole process group while it
        # still imports torch, before its initializer runs, cannot print a traceback there.
        with _sigint_ignored():
            for _ in range(2 * workers):
                if not submit():
                    break
        try:
            while running:
                ready, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
                for fut in sorted(ready, key=lambda f: running[f][0]):
                    i, cand, text = running.pop(fut)
                    commit(i, cand, text, *fut.result())
                    submit()
        except BaseException:
            # the workers would finish their candidates first; nothing of theirs is kept anyway
            for proc in list(getattr(pool, "_processes", {}).values()):
                proc.kill()
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _write_outputs(ranking: list[CandidateRecord], config: SearchConfig,
                   paths: dict[str, Path]) -> None:
    """``best.genome`` and ``ranking.csv`` (rank, genome_id, position, description, score, every
    score, seconds), both written atomically."""
    if not ranking:
        raise SearchError(f"{paths['store']}: the search holds no sound candidate")
    atomic_write_text(paths["genome"], ranking[0].genome)
    kinds = sorted({k for c in ranking for k in c.scores})
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["rank", "genome_id", "position", "description", "score"] + kinds + ["seconds"])
    for rank, c in enumerate(ranking, start=1):
        w.writerow([rank, c.genome_id, c.position, c.description, repr(c.score)]
                   + [repr(c.scores.get(k, float("nan"))) for k in kinds] + [f"{c.seconds:.4f}"])
    atomic_write_text(paths["ranking"], buf.getvalue())

