"""Starting and resuming a search (BCNAS-SNN, SpikeDHS, HNS): its record in the experiment store
(:func:`open_search`) and its per-epoch supernet checkpoint (:func:`restore`).

A search checkpoint is a :func:`torch.save` dict with ``format``, ``fingerprint`` (what decides
the result: the config, the graph, the data...), ``epoch`` (epochs done), ``history`` (a row per
epoch) and the state dicts of the module and its optimisers under keys each search names. The
checkpoint is replaced atomically after every epoch; this module reads it back.
"""
from __future__ import annotations

import dataclasses
import hashlib
import pickle
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from ..errors import RunError, SearchError

__all__ = ["data_sha256", "open_search", "restore", "stored_config"]


def _first_line(exc: BaseException) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def restore(ckpt: Path, fingerprint: Mapping[str, Any], *, what: str, fmt: int,
            parts: Mapping[str, Any]) -> tuple[int, list]:
    """Load checkpoint ``ckpt`` of a ``what`` search into ``parts`` (checkpoint key -> an object
    with ``load_state_dict``; None values are skipped); returns ``(epochs done, history)``.

    Raises:
        RunError: the file cannot be read, is not a ``what`` checkpoint of format ``fmt``, was
            written with another value of a ``fingerprint`` field (named), or does not fit the
            parts (the message names the file).
    """
    try:
        state = torch.load(ckpt, weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as exc:
        raise RunError(f"{ckpt}: cannot read the {what} checkpoint ({_first_line(exc)})") from None
    if not isinstance(state, dict) or state.get("format") != fmt:
        raise RunError(f"{ckpt}: not a {what} checkpoint of format {fmt}")
    saved = state.get("fingerprint", {})
    differ = [k for k in fingerprint if saved.get(k) != fingerprint[k]]
    if differ:
        raise RunError(f"{ckpt}: cannot resume with another {', '.join(differ)} than the "
                       f"checkpoint's; resume with the same settings or use another folder")
    try:
        for key, part in parts.items():
            if part is not None:
                part.load_state_dict(state[key])
        return int(state["epoch"]), list(state["history"])
    except (RuntimeError, KeyError, ValueError, TypeError) as exc:
        raise RunError(f"{ckpt}: does not match the supernet or optimisers "
                       f"({_first_line(exc)})") from None


def data_sha256(*arrays: np.ndarray) -> str:
    """SHA-256 of ``arrays`` (dtype, shape and bytes of each, in order): the data fingerprint."""
    h = hashlib.sha256()
    for arr in arrays:
        h.update(f"{arr.dtype.str}:{arr.shape}".encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


def open_search(store, search_id: str, config, *, resume: bool, path: Path, what: str,
                article: str = "a") -> int:
    """Create the search ``search_id`` with ``config`` (a dataclass with ``to_dict``,
    ``from_dict`` and ``seed``) in experiment store ``store`` at ``path``, or with ``resume``
    check that the stored one has the same config; returns the attempt number (1 for a new
    search). ``what`` names the search in messages ("BCNAS"), after ``article``.

    Raises:
        SearchError: a new search where one exists; a resume where none exists, or whose stored
            configuration differs (each differing field named, stored and given values).
    """
    rec = store.search(search_id)
    if not resume:
        if rec is not None:
            raise SearchError(f"{path}: {article} {what} search exists already; continue it with "
                              f"--resume or use another folder")
        store.create_search(search_id, config.to_dict(), config.seed)
        return 1
    if rec is None:
        raise SearchError(f"{path}: no {what} search to resume")
    stored = type(config).from_dict(rec.config)
    if stored != config:
        diff = [f"{f.name}: stored {getattr(stored, f.name)!r}, given {getattr(config, f.name)!r}"
                for f in dataclasses.fields(config)
                if getattr(stored, f.name) != getattr(config, f.name)]
        raise SearchError(f"{path}: the {what} search was started with another configuration "
                          f"({'; '.join(d[:200] for d in diff)})")
    return store.begin_attempt(search_id)


def stored_config(out_dir: str | Path, store_file: str, search_id: str, config_cls, what: str):
    """The ``config_cls`` configuration of search ``search_id`` in the experiment store
    ``out_dir/store_file`` (read without the writer lock: the search itself locks). ``what``
    names the search in messages.

    Raises:
        SearchError: no store there, or no such search in it.
    """
    from ..runtime.store import ExperimentStore

    path = Path(out_dir) / store_file
    if not path.exists():
        raise SearchError(f"{out_dir}: no search to resume (no {store_file})")
    with ExperimentStore(path, lock=False) as store:
        rec = store.search(search_id)
    if rec is None:
        raise SearchError(f"{path}: no {what} search to resume")
    return config_cls.from_dict(rec.config)
