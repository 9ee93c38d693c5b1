"""The BCNAS-SNN search driver ("Proper backward connection placement boosts spiking neural
networks", anonymous authors; sections 4.2-4.3, 5.1, Table 4): selective
initialisation, one-shot supernet, evolution of global backward connections, resumable.

:func:`run_bcnas` runs the paper's three steps on a ResNet backbone (:func:`.oneshot.paper_backbone`
at ``depth``/``channels``/``T``, input shape and classes from the dataset):

1. **Selective initialisation** (section 4.2.2): ``p_init`` distinct uniform architectures
   (:meth:`.bcnas_space.BcSpace.sample_distinct`), the N-score (SAHD) and E-score of each
   (:mod:`.bcnas_score`: shared backbone weights, one batch of ``score_batch`` images of the 80 %
   training part), the best ``n_top`` by N-score and ``e_top`` by E-score merged
   (:func:`.bcnas_space.select_initial`) into the first pool.
2. **One-shot supernet** (section 4.2.3): :func:`.oneshot.train_supernet` on the 80 % part, run folder
   ``OUT/supernet`` (its per-epoch checkpoint is what a resume continues from).
3. **Evolution** (sections 4.2.3, 5.1): ``iterations`` times, the pool is evaluated with inherited
   weights on the 20 % part (:func:`.oneshot.evaluate_candidates`), ``P_top`` updated
   (:func:`.bcnas_space.update_top`, ``top_k``) and the next pool made by
   :func:`.bcnas_space.evolve` (``pool``, ``max_children``, ``alpha``, ``beta``); architectures
   already evaluated are never proposed again.

Ablations (Table 4): ``init="nscore"`` (``"escore"``) fills the first pool with the best
``n_top + e_top`` by that score alone (only that score is computed); ``init="random"`` takes the
first ``pool`` of the ``p_init`` draws unscored; ``search="random"`` replaces each evolution step by
``pool`` fresh uniform architectures (origin ``random``).

Where the paper is silent (each a parameter): the iteration count counts *evaluated pools*
(iteration 1 evaluates the initial pool, so ``I`` pools are evaluated, ``I - 1`` evolution steps);
the best architecture is the first of the final ``P_top`` (highest validation accuracy, ties by
the architecture's order); evolution step ``t`` draws from ``derive_seed(21, seed, t)``.

**Persistence.** Everything lives in ``OUT/store.sqlite`` (:class:`~snnc.runtime.store
.ExperimentStore`): the search's configuration; one ``candidates`` row per scored architecture of
step 1 (committed as it is scored; its ``scores`` hold ``sahd``/``hd``/``escore``); and the table
``bcnas_state`` (schema :data:`STATE_SCHEMA`, JSON values) holding each iteration's pool, each
evaluated architecture's accuracy (committed one by one), and ``P_top`` with the finished-iteration
counter (committed together). A killed search resumed with ``resume=True`` re-scores, retrains
and re-evaluates nothing that was stored, and ends with exactly the uninterrupted result: every
random draw is a function of the seed and the step, not of the process' history.
"""
from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .checkpoint import open_search, stored_config as _stored_config
from ..atomic import atomic_write_text
from ..errors import SearchError, StoreError
from ..genome import genome_id, to_text
from ..runtime.loader import derive_seed, torch_threads
from ..runtime.store import CandidateRecord, ExperimentStore
from .bcnas_space import Architecture, Candidate, evolve, select_initial, space_of, to_genome
from .bcnas_space import update_top
from .executors import Executor, Job, make_executor, resolve_executor

__all__ = ["BcnasConfig", "BcnasResult", "INITS", "SEARCHES", "STATE_SCHEMA", "run_bcnas",
           "stored_bcnas_config"]

INITS = ("both", "nscore", "escore", "random")
SEARCHES = ("evolution", "random")
#: Version of the ``bcnas_state`` table; a store holding another is refused.
STATE_SCHEMA = 1
STORE_FILE, GENOME_FILE, RANKING_FILE, SUPERNET_DIR = ("store.sqlite", "best.genome",
                                                      "ranking.csv", "supernet")
SEARCH_ID = "bcnas"
_INIT_DRAW, _SCORE_BATCH, _EVOLVE = 20, 22, 21  # derive_seed stream tags
_STATE = """CREATE TABLE IF NOT EXISTS bcnas_state (
    search_id TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL,
    PRIMARY KEY (search_id, kind, key))"""

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class BcnasConfig:
    """Everything that determines a BCNAS-SNN search's result. Paper values are the defaults
    except where noted.

    Attributes:
        depth, channels, T: the backbone (ResNet-18 or -19, width, time steps; the paper's CIFAR
            setting: 64 wide, T = 2).
        dataset, data_root, limit_train: the images (the first ``limit_train`` training images,
            split 80/20 with ``seed``; None = all).
        p_init: architectures of step 1 (2000); n_top, e_top: the best by N-score and by E-score
            merged into the first pool (10 and 10; the paper gives no counts).
        score_batch: images of the one scoring batch (the paper does not say; SNASNet's 256).
        top_k (10), pool (20), iterations (I = 20), b (2), alpha (0.2), beta (0.5),
        max_children (10): the evolution (section 5.1).
        epochs, batch_size: supernet training (cut off in the paper's text: TrainConfig's
            defaults 10 and 64).
        seed: every draw, the split and the weights; threads: torch threads (results depend on
            it: fixed, 1 by default).
        init: ``both`` (the paper), ``nscore``, ``escore`` or ``random`` (Table 4);
        search: ``evolution`` (the paper) or ``random`` (Table 4).
    Raises:
        SearchError: an unknown ``init``/``search``, a count out of range, a probability outside
            [0, 1].
    """

    depth: int = 18
    channels: int = 64
    T: int = 2
    dataset: str = "cifar10"
    data_root: str | None = None
    limit_train: int | None = None
    p_init: int = 2000
    n_top: int = 10
    e_top: int = 10
    score_batch: int = 256
    top_k: int = 10
    pool: int = 20
    iterations: int = 20
    b: int = 2
    alpha: float = 0.2
    beta: float = 0.5
    max_children: int = 10
    epochs: int = 10
    batch_size: int = 64
    seed: int = 0
    threads: int = 1
    init: str = "both"
    search: str = "evolution"

    def __post_init__(self) -> None:
        if self.init not in INITS:
            raise SearchError(f"init must be one of {', '.join(INITS)}, got {self.init!r}")
        if self.search not in SEARCHES:
            raise SearchError(f"search must be one of {', '.join(SEARCHES)}, got {self.search!r}")
        if self.depth not in (18, 19):
            raise SearchError(f"depth must be 18 or 19, got {self.depth!r}")
        for name in ("channels", "T", "p_init", "score_batch", "top_k", "pool", "iterations",
                     "epochs", "batch_size", "threads"):
            if getattr(self, name) < 1:
                raise SearchError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("n_top", "e_top", "b", "max_children", "seed"):
            if getattr(self, name) < 0:
                raise SearchError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("alpha", "beta"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise SearchError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.limit_train is not None and self.limit_train < 2:
            raise SearchError(f"limit_train must be >= 2, got {self.limit_train}")

    @property
    def kinds(self) -> tuple[str, ...]:
        """The step-1 scores this search computes."""
        return {"both": ("sahd", "escore"), "nscore": ("sahd",), "escore": ("escore",),
                "random": ()}[self.init]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BcnasConfig":
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise SearchError(f"stored BCNAS config has unknown fields {unknown}")
        return cls(**d)


@dataclass
class Evaluated:
    """An architecture evaluated in step 3: validation accuracy in [0, 1], origin (``init``,
    ``mutation``, ``crossover``, ``random``), the iteration (1-based) and its step-1 scores
    (empty when it was not among the ``p_init`` draws)."""

    arch: Architecture
    accuracy: float
    origin: str
    iteration: int
    scores: dict[str, float] = field(default_factory=dict)


@dataclass
class BcnasResult:
    """What :func:`run_bcnas` produced: ``ranking`` (every evaluated architecture, best first),
    ``top`` (the final P_top), the counts of what this call computed, step wall times (s, this
    call) and the output paths."""

    config: BcnasConfig
    ranking: list[Evaluated]
    top: list[tuple[Architecture, float]]
    scored: int
    evaluated: int
    attempt: int
    seconds: dict[str, float]
    paths: dict[str, Path]

    @property
    def best(self) -> Evaluated:
        return next(e for e in self.ranking if e.arch == self.top[0][0])


# ----------------------------------------------------------------------------- state table
def _key(arch: Architecture) -> str:
    return json.dumps([list(c) for c in arch.connections])


def _arch(value) -> Architecture:
    return Architecture.of(tuple(c) for c in value)


class _State:
    """The ``bcnas_state`` rows of one search, on an open store (its writer lock held)."""

    def __init__(self, store: ExperimentStore, search_id: str):
        self.store, self.sid = store, search_id
        store._q(_STATE)
        version = self.get("schema", "")
        if version is None:
            self.put("schema", "", STATE_SCHEMA)
        elif version != STATE_SCHEMA:
            raise StoreError(f"{store.path}: bcnas_state schema version {version!r}; this snnc "
                             f"reads version {STATE_SCHEMA}")

    def get(self, kind: str, key: str):
        row = self.store._q("SELECT value FROM bcnas_state WHERE search_id = ? AND kind = ? AND "
                            "key = ?", (self.sid, kind, key)).fetchone()
        return None if row is None else self._load(row[0], kind, key)

    def rows(self, kind: str) -> dict[str, Any]:
        return {k: self._load(v, kind, k) for k, v in self.store._q(
            "SELECT key, value FROM bcnas_state WHERE search_id = ? AND kind = ?",
            (self.sid, kind))}

    def _load(self, text, kind, key):
        try:
            return json.loads(text)
        except (TypeError, ValueError, UnicodeDecodeError) as exc:
            raise StoreError(f"{self.store.path}: bcnas_state row {kind}/{key} is damaged "
                             f"({exc})") from None

    def put(self, kind: str, key: str, value, *more: tuple[str, str, Any]) -> None:
        """Write one or more rows in one transaction."""
        with self.store._tx():
            for k, kk, v in ((kind, key, value),) + more:
                self.store._q("INSERT OR REPLACE INTO bcnas_state VALUES (?, ?, ?, ?)",
                              (self.sid, k, kk, json.dumps(v, sort_keys=True)))


# ----------------------------------------------------------------------------- driver
def stored_bcnas_config(out_dir: str | Path) -> BcnasConfig:
    """The configuration of the BCNAS search stored in ``out_dir``.

    Raises:
        SearchError: no store or no BCNAS search there.
    """
    return _stored_config(out_dir, STORE_FILE, SEARCH_ID, BcnasConfig, "BCNAS")


def run_bcnas(config: BcnasConfig, out_dir: str | Path, *, resume: bool = False,
              progress: Progress | None = None, bars: bool = False,
              executor: str | Executor | None = None, workers: int = 0,
              scheduler: str | None = None) -> BcnasResult:
    """Run (or, with ``resume``, continue) a BCNAS-SNN search; write ``best.genome`` (the best
    architecture as a ResNet genome, retrainable with ``snnc train``) and ``ranking.csv`` (every
    evaluated architecture, best first) into ``out_dir``, atomically.

    Args:
        config: the search; with ``resume`` it must equal the stored one
            (:func:`stored_bcnas_config`).
        out_dir: folder of ``store.sqlite``, ``supernet/`` and the outputs (created).
        resume: continue the stored search; nothing stored is computed again.
        progress: called as ``progress(step, done, total)`` with step ``"init"`` (architectures
            scored), ``"supernet"`` (epochs; before and after training) or ``"evolution"``
            (iterations finished), whenever one is stored.
        bars: the supernet trainer's own rich progress bar on stderr (terminals only).
        executor, workers, scheduler: where step 1 scores its architectures, each on its own
            (:func:`~.executors.make_executor`; default: this process). Results do not depend
            on it; steps 2 and 3 run here.
    Raises:
        SearchError: a search exists without ``resume``, is missing or differs with ``resume``;
        StoreError (damaged rows), RunError, DatasetError from the parts.
    """

    from ..frontend import lower
    from ..runtime.data import load_dataset, split
    from ..runtime.evaluate import limit_dataset
    from .oneshot import (assignment_of, choice_name, choice_nodes, evaluate_candidates,
                          paper_backbone, paper_config, supernet_genome, train_supernet)

    if not isinstance(executor, Executor):  # a bad choice fails before any work
        resolve_executor(executor, workers=workers, scheduler=scheduler)
    out = Path(out_dir)
    paths = {"store": out / STORE_FILE, "genome": out / GENOME_FILE,
             "ranking": out / RANKING_FILE, "supernet": out / SUPERNET_DIR}
    if resume and not paths["store"].exists():  # before creating one
        raise SearchError(f"{out}: no search to resume (no {STORE_FILE})")
    out.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda *a: None)
    full = load_dataset(config.dataset, config.data_root)  # fail before touching the store
    backbone = paper_backbone(depth=config.depth, channels=config.channels,
                              input_shape=full.input_shape, classes=full.classes, T=config.T)
    space = space_of(backbone, config.b)
    train_cfg = paper_config(dataset=config.dataset, data_root=config.data_root,
                             epochs=config.epochs, batch_size=config.batch_size,
                             limit_train=config.limit_train, seed=config.seed,
                             threads=config.threads)
    seconds: dict[str, float] = {}
    with ExperimentStore(paths["store"]) as store:
        attempt = open_search(store, SEARCH_ID, config, resume=resume, path=paths["store"],
                                  what="BCNAS")
        state = _State(store, SEARCH_ID)
        # float32 sums in one order: results reproducible
        with torch_threads(config.threads):
            # ---- step 1: selective initialisation
            t0 = time.perf_counter()
            drawn = space.sample_distinct(np.random.default_rng(
                derive_seed(_INIT_DRAW, config.seed)), config.p_init)
            texts = {a: to_text(to_genome(a, backbone)) for a in drawn}
            scored = 0
            if config.kinds:
                part = split(limit_dataset(full, config.limit_train, None), 0.2, config.seed)
                scored = _score_init(store, drawn, texts, backbone, part, config, attempt, report,
                                     (executor, workers, scheduler))
            scores = _stored_scores(store, drawn, texts)
            first = _first_pool(drawn, scores, config)
            seconds["init"] = time.perf_counter() - t0

            # ---- step 2: the one-shot supernet
            t0 = time.perf_counter()
            report("supernet", 0, config.epochs)
            graph = lower(supernet_genome(backbone))
            trained = train_supernet(graph, full, train_cfg, paths["supernet"], b=config.b,
                                     resume=resume, progress=bars)
            report("supernet", config.epochs, config.epochs)
            seconds["supernet"] = time.perf_counter() - t0

            # ---- step 3: evolution
            t0 = time.perf_counter()
            nodes = choice_nodes(graph)

            def accuracy(arch: Architecture) -> float:
                present = [choice_name("r", j, i) for j, i in arch.connections]
                return evaluate_candidates(trained, [assignment_of(nodes, present)])[0]

            top, n_eval = _evolution(state, space, first, config, accuracy, report)
            seconds["evolution"] = time.perf_counter() - t0
        store.set_status(SEARCH_ID, "done")
        ranking = _ranking(state, scores)
        _write_outputs(ranking, top, backbone, paths)  # under the store's writer lock
    return BcnasResult(config, ranking, top, scored, n_eval, attempt, seconds, paths)


def _score_init(store, drawn, texts, backbone, part, config, attempt, report, where) -> int:
    """Score the draws not yet stored on the executor ``where`` = (executor, workers,
    scheduler), committing each as it arrives; returns how many were scored."""
    from .bcnas_score import candidate_graph

    if config.score_batch > len(part.train_y):
        raise SearchError(f"a scoring batch of {config.score_batch} images needs that many "
                          f"training images; the 80 % part has {len(part.train_y)}")
    idx = np.random.default_rng(derive_seed(_SCORE_BATCH, config.seed)).permutation(
        len(part.train_y))
    sel = np.sort(idx[:config.score_batch])
    mean = np.asarray(part.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(part.std, dtype=np.float32)[:, None, None]
    batch = [(((part.train_x[sel] - mean) / std).astype(np.float32), part.train_y[sel])]
    done = store.genome_ids(SEARCH_ID)
    base = candidate_graph(Architecture(), backbone, seed=config.seed, b=config.b)
    finished = sum(genome_id_of(texts[a]) in done for a in drawn)
    report("init", finished, len(drawn))
    pending = [(pos, arch) for pos, arch in enumerate(drawn)
               if genome_id_of(texts[arch]) not in done]
    if not pending:
        return 0
    executor, workers, scheduler = where
    own = not isinstance(executor, Executor)
    ex = make_executor(executor, workers=workers, scheduler=scheduler) if own else executor
    job = Job(_score_arch, (backbone, base, batch, config.seed, config.b, config.kinds),
              config.threads)
    scored = 0
    try:
        for pos, (s, secs) in ex.map_unordered(job, ((pos, arch.connections)
                                                     for pos, arch in pending)):
            arch = drawn[pos]
            lead = s.get("sahd", s.get("escore", float("nan")))
            if store.add_candidate(SEARCH_ID, CandidateRecord(
                    genome_id_of(texts[arch]), pos, str(arch), texts[arch], lead, s, secs,
                    attempt), exist_ok=True):
                scored += 1
                finished += 1
                report("init", finished, len(drawn))
    finally:
        if own:
            ex.close()
    return scored


def _score_arch(context, connections) -> tuple[dict[str, float], float]:
    """One architecture's step-1 scores and the seconds they took (an executor's call)."""
    import torch

    from .bcnas_score import candidate_graph
    from .proxies import score_graph

    backbone, base, batch, seed, b, kinds = context
    t0 = time.perf_counter()
    graph = candidate_graph(Architecture.of(tuple(c) for c in connections), backbone, seed=seed,
                            b=b, base=base)
    data = [(torch.from_numpy(x), y) for x, y in batch]
    return score_graph(graph, data, kinds=kinds), time.perf_counter() - t0


def genome_id_of(text: str) -> str:
    """:func:`snnc.genome.genome_id` of a genome's canonical text (what the store checks)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _stored_scores(store, drawn, texts) -> dict[Architecture, dict[str, float]]:
    """Step-1 scores of the draws; a damaged row is refused (StoreError), never used."""
    by_id = {c.genome_id: c.scores for c in store.candidates(SEARCH_ID)}
    return {a: by_id[genome_id_of(texts[a])] for a in drawn if genome_id_of(texts[a]) in by_id}


def _first_pool(drawn, scores, config: BcnasConfig) -> list[Candidate]:
    nan = float("nan")
    if config.init == "random":
        return [Candidate(a, "init") for a in drawn[:config.pool]]
    n = [scores[a].get("sahd", nan) for a in drawn]
    e = [scores[a].get("escore", nan) for a in drawn]
    if config.init == "nscore":
        picked = select_initial(drawn, n, e, config.n_top + config.e_top, 0)
    elif config.init == "escore":
        picked = select_initial(drawn, n, e, 0, config.n_top + config.e_top)
    else:
        picked = select_initial(drawn, n, e, config.n_top, config.e_top)
    return [Candidate(a, "init") for a in picked]


def _evolution(state: _State, space, first: list[Candidate], config: BcnasConfig,
               accuracy: Callable[[Architecture], float], report) -> tuple[list, int]:
    """Step 3 from the stored state on; returns (final P_top, architectures evaluated now)."""
    done = state.get("iteration", "") or 0
    top = [(_arch(c), float(a)) for c, a in (state.get("top", "") or [])]
    report("evolution", done, config.iterations)
    n_eval = 0
    for t in range(done, config.iterations):
        evaluated = state.rows("eval")
        pool = state.get("pool", str(t))
        if pool is None:
            if t == 0:
                cands = first
            else:
                seen = [_arch(v["connections"]) for v in evaluated.values()]
                rng = np.random.default_rng(derive_seed(_EVOLVE, config.seed, t))
                if config.search == "evolution":
                    cands = evolve(top, space, rng, pool=config.pool,
                                   max_children=config.max_children, alpha=config.alpha,
                                   beta=config.beta, exclude=seen)
                else:
                    cands = [Candidate(a, "random") for a in
                             space.sample_distinct(rng, config.pool, seen)]
            pool = [[[list(c) for c in x.arch.connections], x.origin] for x in cands]
            state.put("pool", str(t), pool)
        results = []
        for conns, origin in pool:
            arch = _arch(conns)
            row = evaluated.get(_key(arch))
            if row is None:
                row = {"connections": conns, "accuracy": accuracy(arch), "origin": origin,
                       "iteration": t + 1}
                state.put("eval", _key(arch), row)
                n_eval += 1
            results.append((arch, float(row["accuracy"])))
        top = update_top(top, results, config.top_k)
        state.put("top", "", [[[list(c) for c in a.connections], acc] for a, acc in top],
                  ("iteration", "", t + 1))
        report("evolution", t + 1, config.iterations)
    if not top:
        raise SearchError("the search evaluated no architecture (an empty first pool)")
    return top, n_eval


def _ranking(state: _State, scores) -> list[Evaluated]:
    rows = [Evaluated(_arch(v["connections"]), float(v["accuracy"]), v["origin"],
                      int(v["iteration"])) for v in state.rows("eval").values()]
    for r in rows:
        r.scores = dict(scores.get(r.arch, {}))
    return [r for _, r in sorted(((math.isnan(r.accuracy), -r.accuracy
                                   if not math.isnan(r.accuracy) else 0.0, r.arch), r)
                                 for r in rows)]


def _write_outputs(ranking: list[Evaluated], top, backbone, paths: dict[str, Path]) -> None:
    """``best.genome`` and ``ranking.csv`` (rank, connections, count, N-score (``sahd``),
    E-score, validation accuracy, origin, iteration; a score left empty was not computed: the
    architecture was made in step 3, or the ablation skips it), both written atomically."""
    best = to_genome(top[0][0], backbone, name="bcnas-best")
    atomic_write_text(paths["genome"], to_text(best))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["rank", "connections", "n_connections", "nscore", "escore", "val_accuracy",
                "origin", "iteration", "genome_id"])
    for rank, e in enumerate(ranking, start=1):
        cell = [repr(e.scores[k]) if k in e.scores else "" for k in ("sahd", "escore")]
        w.writerow([rank, "; ".join(f"{j}->{i}" for j, i in e.arch.connections) or "none",
                    len(e.arch), *cell, repr(e.accuracy), e.origin, e.iteration,
                    genome_id(to_genome(e.arch, backbone))])
    atomic_write_text(paths["ranking"], buf.getvalue())
