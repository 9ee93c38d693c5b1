"""SNASNet search without training (SNASNet section 3.2, 4, 5.1): sample candidates, score each at
initialisation with the SAHD kernel (or HD, or the E-score), keep the best.

:func:`run_search` draws ``candidates`` architectures from a space (:mod:`snnc.search.spaces`;
candidate ``i`` from seed ``derive_seed(11, seed, i)``), lowers each genome with the normal
pipeline (frontend, no passes, weights from ``seed``), scores it on fixed mini-batches of real
training images on an executor (:mod:`snnc.search.executors`: this process, a local process
pool or a Dask cluster), and commits every result to the experiment store
(:mod:`snnc.runtime.store`) as it arrives (idempotently: a result delivered twice is stored
once). A genome drawn twice is scored once. When every candidate is stored it writes
``best.genome`` (the highest score) and ``ranking.csv`` (every candidate, best first) into the
output folder.

Scorers (``SearchConfig.scorer``): ``fast`` (default) scores the SAHD/HD kernels with the
scoring-only executor :mod:`snnc.search.fastscore` wherever it applies (the paper protocol,
batch statistics, no E-score), else falls back to ``reference``,
:func:`snnc.search.proxies.score_graph` through the torch backend (the scorer before
``fastscore`` existed; a store without a ``scorer`` field is read as ``reference``).

The result depends only on the :class:`SearchConfig`: each candidate is scored by the same
function on the same data with the same torch thread count, so the executor, the number of
workers and any kill-and-resume cycle leave the scores and the ranking unchanged.
"""
from __future__ import annotations

import csv
import dataclasses
import io
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..atomic import atomic_write_text
from ..errors import SearchError
from ..runtime.loader import derive_seed
from ..runtime.store import CandidateRecord, DamagedRow, ExperimentStore, StoreWarning
from .executors import Executor, Job, make_executor, resolve_executor
from .proxies import ALPHA, KINDS, PROTOCOLS
from .spaces import SPACES, Candidate, make_space

__all__ = ["DEFAULT_SPACE", "SearchConfig", "SearchResult", "run_search", "stored_config",
           "score_candidate", "search_batches", "SCORERS"]

#: The space ``snnc search snasnet`` samples by default: SNASNet-Bw (cells with forward and
#: backward connections), the space of the paper's best architectures.
DEFAULT_SPACE = "snasnet-bw"
_SAMPLE, _BATCH = 11, 12  # derive_seed stream tags
#: ``fast``: :mod:`.fastscore` where it applies, else ``reference`` (:func:`.proxies.score_graph`).
SCORERS = ("fast", "reference")
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
        scorer: ``fast`` (:mod:`.fastscore` where it applies; module docstring) or ``reference``
            (:func:`.proxies.score_graph`, the torch backend).
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
    scorer: str = "fast"

    def __post_init__(self) -> None:
        object.__setattr__(self, "also", tuple(self.also))
        if self.scorer not in SCORERS:
            raise SearchError(f"unknown scorer {self.scorer!r}; known: {', '.join(SCORERS)}")
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
        # stores written before the fast scorer existed were scored by the reference one
        return cls(**{"scorer": "reference", **d, "also": tuple(d.get("also", ()))})


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
def score_candidate(text: str, config: SearchConfig, batches, classes: int,
                    device: str | None = None) -> tuple[dict[str, float], float]:
    """Lower genome ``text`` (no passes, weights from ``config.seed``) and score it with
    ``config.scorer`` on ``device`` (None: the CPU; ``"auto"``: a GPU when torch sees one);
    returns ``(scores, seconds)``. Raises what lowering and the scorer raise."""
    import torch

    from ..compiler import compile_genome
    from .fastscore import naswot_scores_fast, unsupported
    from .proxies import score_graph

    t0 = time.perf_counter()
    graph = compile_genome(text, target="train", seed=config.seed).graph
    dtype = torch.float64 if config.dtype == "float64" else torch.float32
    data = [(torch.from_numpy(x), y) for x, y in batches]
    if config.scorer == "fast" and unsupported(graph, config.kinds, bn=config.bn,
                                               protocol=config.protocol) is None:
        scores = naswot_scores_fast(graph, data, alpha=config.alpha, dtype=dtype, device=device)
    else:
        scores = score_graph(graph, data, kinds=config.kinds, alpha=config.alpha, bn=config.bn,
                             dtype=dtype, classes=classes, protocol=config.protocol,
                             device=device)
    return scores, time.perf_counter() - t0


def _score_job(context, text: str) -> tuple[dict[str, float], float]:
    """The executor's call (:class:`~.executors.Job`): ``context`` = (config dict, batches,
    classes, device)."""
    config, batches, classes, device = context
    return score_candidate(text, SearchConfig.from_dict(config), batches, classes, device)


# ----------------------------------------------------------------------------- driver
def stored_config(out_dir: str | Path, search_id: str = "snasnet") -> SearchConfig:
    """The configuration of the search ``search_id`` stored in ``out_dir``.

    Raises:
        SearchError: no store or no such search there.
    """
    from .checkpoint import stored_config as _stored_config

    return _stored_config(out_dir, STORE_FILE, search_id, SearchConfig, repr(search_id))


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
               workers: int = 1, executor: str | Executor | None = None,
               scheduler: str | None = None, search_id: str = "snasnet", device: str | None = None,
               progress: Callable[[int, int], None] | None = None) -> SearchResult:
    """Run (or, with ``resume``, continue) a search and write its outputs into ``out_dir``.

    Args:
        config: the search; with ``resume`` it must equal the stored one (see
            :func:`stored_config`).
        out_dir: folder of ``store.sqlite``, ``best.genome`` and ``ranking.csv`` (created).
        resume: continue the stored search ``search_id``: candidates already stored are not
            scored again.
        workers: scoring processes of the ``process`` executor, or of a Dask ``LocalCluster``
            (``0``: score in this process). Results do not depend on it.
        executor: ``inprocess``, ``process`` or ``dask`` (:func:`~.executors.make_executor`;
            None: ``inprocess`` for ``workers=0``, else ``process``), or an
            :class:`~.executors.Executor` (used, not closed). Results do not depend on it.
        scheduler: the Dask scheduler's address (``dask`` only; None: a LocalCluster).
        search_id: key of the search in the store.
        device: where candidates are scored (None: the CPU; ``"auto"``: a GPU when the scoring
            process sees one). Scores agree across devices up to float rounding, like thread
            counts; a resume may use another.
        progress: called as ``progress(done, total)`` after every stored candidate.
    Raises:
        SearchError: a search ``search_id`` exists without ``resume``, or is missing or differs
            with ``resume``; StoreError, DatasetError, LoweringError, ... from the parts.
    """
    if workers < 0:
        raise SearchError(f"workers must be >= 0, got {workers}")
    if not isinstance(executor, Executor):  # a bad choice fails before any work
        resolve_executor(executor, workers=workers, scheduler=scheduler)
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

        if pending:
            own = not isinstance(executor, Executor)
            ex = make_executor(executor, workers=workers, scheduler=scheduler) if own \
                else executor
            job = Job(_score_job, (config.to_dict(), batches, classes, device), config.threads)
            by_pos = {i: cand for i, cand in pending}
            try:
                for i, (scores, secs) in ex.map_unordered(
                        job, ((i, cand.text) for i, cand in pending)):
                    cand = by_pos[i]
                    added = store.add_candidate(search_id, CandidateRecord(
                        cand.id, i, cand.description, cand.text,
                        scores.get(config.score, float("nan")), scores, secs, attempt),
                        exist_ok=True)
                    if added:
                        finished += 1
                        if progress:
                            progress(finished, total)
            finally:
                if own:
                    ex.close()
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

