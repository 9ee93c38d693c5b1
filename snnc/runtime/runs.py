"""Run folders: what a training run writes, and the checkpoint it resumes from.

Layout of a run folder ``DIR`` (all writes atomic: temporary file in ``DIR``, then
:func:`os.replace`, see :mod:`snnc.atomic`)::

    DIR/genome.txt     the genome trained, verbatim (when the model came from a genome file)
    DIR/source.snnir   the untrained graph (when the model came from a Graph or a .snnir file)
    DIR/config.json    {"format": "snnc-run", "format_version": 1, "config": {TrainConfig fields},
                        "model": {"kind": "genome" | "graph", "sha256": <fingerprint>}}
    DIR/metrics.csv    one row per completed epoch (columns :data:`METRIC_FIELDS`)
    DIR/metrics.json   the same rows as a JSON list of objects (null where not measured)
    DIR/checkpoint.pt  rewritten after every epoch (see below)
    DIR/model.snnir    the trained graph, written once the last epoch is done
    DIR/searched.genome, search.json, search.png   with --dgs / --tps: the genome with the
                       searched values, their history, and its plot (written with model.snnir)
    DIR/manifest.json  the SHA-256 of every file above (see "Integrity")
    DIR/.snnc.lock     held (:func:`fcntl.flock`) by the one process writing the run

``checkpoint.pt`` is a :func:`torch.save` file that :func:`torch.load` reads with
``weights_only=True``: only tensors and plain containers, no pickled objects. Keys: ``format``
(``"snnc-checkpoint"``), ``format_version`` (1), ``epoch`` (completed epochs), ``model`` (the
module's ``state_dict``), ``optimizer`` and ``scheduler`` (their ``state_dict``; ``{}`` without a
scheduler), ``rng`` (:func:`rng_state`: torch, numpy and Python generators as tensors and
numbers) and ``history`` (the metric rows so far, rewritten into the metrics files on resume);
a run with DGS / TPS adds ``search`` (each search's state: the searched values, their history
and, for TPS, the control weights and their Adam state; :mod:`snnc.runtime.layer_search`).

Integrity. ``manifest.json`` is ``{"format": "snnc-run-manifest", "format_version": 1,
"complete": bool, "files": {name: [sha256, ...]}}`` (``""``: the file may be absent). Every
write goes through :meth:`RunDir.commit`: the new files are staged beside their destinations, the manifest is
rewritten to accept the old and the new digest of each, the staged files are renamed into
place, and the manifest is rewritten with the new digests only. A kill at any moment thus leaves
every file matching its manifest entry, and a resume (:meth:`RunDir.verify`) refuses any file
whose content matches none, naming it. The checkpoint's content is validated too
(:func:`check_checkpoint`: types, epoch range, finite weights, ``running_var >= 0``).

Interrupted start. The first write of a new run is a manifest with ``"complete": false``; the
model and ``config.json`` follow in one commit that sets it to true. A folder whose manifest is
still incomplete holds no training (no checkpoint can exist yet): a new run without ``--resume``
restarts in it (removing the partial start), and ``--resume`` refuses it with that advice.
A run folder is one process's at a time: :meth:`RunDir.lock` refuses a second writer by the
PID of the first.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import atomic_write_text, fsync_dir
from ..errors import RunError
from .lock import FileLock

__all__ = ["CHECKPOINT_FORMAT", "METRIC_FIELDS", "RunDir", "check_checkpoint", "check_weights",
           "rng_state", "set_rng_state"]

#: Version 2 added manifest.json; a version-1 folder (none) resumes unchecked.
RUN_FORMAT, RUN_FORMAT_VERSION = "snnc-run", 2
MANIFEST_FORMAT, MANIFEST_VERSION = "snnc-run-manifest", 1
LOCK_FILE, MANIFEST_FILE = ".snnc.lock", "manifest.json"
#: Files rebuilt from the checkpoint on resume: a missing one is no damage.
_DERIVED = ("metrics.csv", "metrics.json", "model.snnir", "searched.genome", "search.json",
            "search.png")
_SETUP = ("genome.txt", "source.snnir", "config.json")
_RUN_FILES = (*_SETUP, "checkpoint.pt", *_DERIVED)
CHECKPOINT_FORMAT, CHECKPOINT_VERSION = "snnc-checkpoint", 1
#: Columns of ``metrics.csv`` (and keys of each ``metrics.json`` row), in order.
METRIC_FIELDS = ("epoch", "train_loss", "train_acc", "val_acc", "test_acc", "lr", "seconds")


@dataclass(frozen=True)
class RunDir:
    """The files of one run folder (see the module docstring). Nothing is created until written."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    genome = property(lambda self: self.path / "genome.txt")
    source = property(lambda self: self.path / "source.snnir")
    config = property(lambda self: self.path / "config.json")
    metrics_csv = property(lambda self: self.path / "metrics.csv")
    metrics_json = property(lambda self: self.path / "metrics.json")
    checkpoint = property(lambda self: self.path / "checkpoint.pt")
    model = property(lambda self: self.path / "model.snnir")
    manifest = property(lambda self: self.path / MANIFEST_FILE)

    def is_empty(self) -> bool:
        """True when the folder does not exist or holds nothing but its lock file.

        Raises:
            RunError: the path exists but is not a folder.
        """
        if not self.path.exists():
            return True
        if not self.path.is_dir():
            raise RunError(f"{self.path}: exists and is not a folder; a run folder is a folder")
        return all(p.name == LOCK_FILE for p in self.path.iterdir())

    def lock(self) -> FileLock:
        """The folder's writer lock (not yet taken: ``with run.lock(): ...`` or ``.acquire()``).

        Raises (on acquiring): RunError "run folder DIR is in use by process PID".
        """
        return FileLock(self.path / LOCK_FILE, f"run folder {self.path}", RunError)

    def remove_stale_temporaries(self) -> None:
        """Delete the temporary files of writes a kill interrupted (``.<name>.*.tmp``)."""
        for name in (*_RUN_FILES, MANIFEST_FILE):
            for tmp in self.path.glob(f".{name}.*.tmp"):
                try:
                    tmp.unlink()
                except OSError:
                    pass

    def create(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunError(f"{self.path}: cannot create the run folder ({exc.strerror})") from None

    # ------------------------------------------------------------------ integrity
    def read_manifest(self) -> dict[str, Any] | None:
        """``manifest.json`` (None when the folder has none).

        Raises:
            RunError: the manifest is unreadable or malformed.
        """
        try:
            data = json.loads(self.manifest.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise RunError(f"{self.manifest}: unreadable run manifest ({exc})") from None
        files = data.get("files") if isinstance(data, dict) else None
        ok = (isinstance(data, dict) and data.get("format") == MANIFEST_FORMAT
              and isinstance(data.get("complete"), bool) and isinstance(files, dict)
              and all(isinstance(v, list) and v and all(isinstance(h, str) for h in v)
                      for v in files.values()))
        if not ok:
            raise RunError(f"{self.manifest}: not a valid snnc run manifest")
        if not isinstance(data.get("format_version"), int) or \
                data["format_version"] > MANIFEST_VERSION:
            raise RunError(f"{self.manifest}: manifest format {data.get('format_version')!r} is "
                           f"newer than this snnc reads ({MANIFEST_VERSION}); upgrade snnc")
        return data

    def _write_manifest(self, files: dict[str, list[str]], complete: bool) -> None:
        data = {"format": MANIFEST_FORMAT, "format_version": MANIFEST_VERSION,
                "complete": complete, "files": dict(sorted(files.items()))}
        atomic_write_text(self.manifest, json.dumps(data, indent=1) + "\n")

    def begin(self) -> None:
        """Mark a new run's start (an incomplete manifest) before any other file is written."""
        self._write_manifest({}, complete=False)

    def staging_path(self, name: str) -> Path:
        """Where a caller that writes a file itself (``model.snnir`` via
        :func:`snnc.ir.artifact.save`) puts it before :meth:`commit` renames it into place."""
        return self.path / f".{name}.staged.tmp"

    def commit(self, files: dict[str, bytes | Path], *, complete: bool = True) -> None:
        """Write run files so that every moment's state matches the manifest (module docstring).

        Args:
            files: name in the folder -> its new content, or a staged file (see
                :meth:`staging_path`) to rename into place.
            complete: the manifest's ``complete`` flag after the commit.
        Raises:
            RunError: a file cannot be written (disk full, ...); the message names it.
        """
        manifest = self.read_manifest() or {"files": {}}
        final = {k: v[-1:] for k, v in manifest["files"].items()}
        staged: dict[str, Path] = {}
        try:
            for name, content in files.items():
                staged[name] = content if isinstance(content, Path) else \
                    self._stage(name, content)
            digests = {name: _sha256_file(tmp) for name, tmp in staged.items()}
            # "" stands for "absent": a file's first write may be cut off before its rename.
            during = {**final, **{n: final.get(n, [""])[-1:] + [d] for n, d in digests.items()}}
            self._write_manifest(during, complete=manifest.get("complete", False))
            for name, tmp in staged.items():
                os.replace(tmp, self.path / name)
            fsync_dir(self.path)
            self._write_manifest({**final, **{n: [d] for n, d in digests.items()}}, complete)
        except OSError as exc:
            raise RunError(f"{self.path}: cannot write the run files "
                           f"({exc.strerror or exc}: {getattr(exc, 'filename', '') or ''})") \
                from None
        finally:
            for tmp in staged.values():
                if tmp.exists():
                    tmp.unlink()

    def _stage(self, name: str, data: bytes) -> Path:
        with tempfile.NamedTemporaryFile(dir=self.path, prefix=f".{name}.", suffix=".tmp",
                                         delete=False) as fh:
            try:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            except BaseException:
                os.unlink(fh.name)
                raise
        os.chmod(fh.name, 0o644)
        return Path(fh.name)

    def interrupted_start(self) -> bool:
        """True when a new run's first writes were cut off: its manifest is not yet complete, or
        there is none and the folder holds only the lock file and temporaries of run files."""
        manifest = self.read_manifest()
        if manifest is not None:
            return not manifest["complete"]
        names = {p.name for p in self.path.iterdir()} if self.path.is_dir() else set()
        ours = tuple(f".{n}." for n in (*_RUN_FILES, MANIFEST_FILE))
        return LOCK_FILE in names and all(
            n == LOCK_FILE or (n.startswith(ours) and n.endswith(".tmp")) for n in names)

    def clear_interrupted_start(self) -> None:
        """Delete what an interrupted start wrote, so that a new run can start in the folder.

        Raises:
            RunError: the folder holds anything else (then it is not an interrupted start).
        """
        allowed = {LOCK_FILE, MANIFEST_FILE, *_SETUP}
        extra = sorted(p.name for p in self.path.iterdir()
                       if p.name not in allowed and not p.name.endswith(".tmp"))
        if extra:
            raise RunError(f"{self.path}: the run folder is not empty ({', '.join(extra)}); "
                           f"pass --resume to continue the run in it, or choose another folder")
        self.remove_stale_temporaries()
        for name in (*_SETUP, MANIFEST_FILE):
            (self.path / name).unlink(missing_ok=True)

    def verify(self) -> None:
        """Check every file of the run against ``manifest.json`` (before a resume).

        Raises:
            RunError: the manifest is missing (in a run folder of format 2 or later) or damaged;
                a listed file is missing or its SHA-256 matches none the manifest accepts; a
                checkpoint or model the manifest does not list. The message names the file.
        """
        manifest = self.read_manifest()
        if manifest is None:
            version = self.read_config().get("format_version")
            if version is not None and version >= 2:
                raise RunError(f"{self.manifest}: missing; the run's files cannot be checked "
                               f"(start the run again in another folder)")
            return  # written before checksums existed
        if not manifest["complete"]:
            raise RunError(f"{self.path}: the run's start was interrupted before anything was "
                           f"trained; start it again without --resume (the folder is reused)")
        files = manifest["files"]
        for name, accepted in files.items():
            path = self.path / name
            if "/" in name or name.startswith("."):
                raise RunError(f"{self.manifest}: lists {name!r}, not a run file")
            if not path.exists():
                if name in _DERIVED or "" in accepted:
                    continue
                raise RunError(f"{path}: missing, although {MANIFEST_FILE} lists it; the run "
                               f"cannot be resumed (start it again in another folder)")
            digest = _sha256_file(path)
            if digest not in accepted:
                advice = ("delete it and resume to have it rewritten from the checkpoint"
                          if name in _DERIVED else
                          "the run cannot be resumed from it (start it again in another folder)")
                raise RunError(f"{path}: changed or damaged since snnc wrote it (sha256 "
                               f"{digest[:12]}..., {MANIFEST_FILE} has {accepted[-1][:12]}...); "
                               f"{advice}")
        for name in ("checkpoint.pt", "model.snnir", *_SETUP):
            if name not in files and (self.path / name).exists():
                raise RunError(f"{self.path / name}: not listed in {MANIFEST_FILE}; it was not "
                               f"written by this run")

    # ------------------------------------------------------------------ config.json
    @staticmethod
    def config_bytes(config: dict[str, Any], model: dict[str, Any]) -> bytes:
        """The content of ``config.json`` (commit it with :meth:`commit`)."""
        data = {"format": RUN_FORMAT, "format_version": RUN_FORMAT_VERSION, "config": config,
                "model": model}
        return (json.dumps(data, indent=1) + "\n").encode("utf-8")

    def read_config(self) -> dict[str, Any]:
        """``config.json`` as written by :meth:`config_bytes` (keys ``config`` and ``model``).

        Raises:
            RunError: the file is missing, not JSON, or not a run config of a known version.
        """
        try:
            data = json.loads(self.config.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunError(f"{self.path}: no config.json; not a run folder (start the run "
                           f"without --resume)") from None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise RunError(f"{self.config}: unreadable run config ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != RUN_FORMAT:
            raise RunError(f"{self.config}: not an snnc run config (format "
                           f"{data.get('format') if isinstance(data, dict) else None!r})")
        if not isinstance(data.get("format_version"), int) or \
                data["format_version"] > RUN_FORMAT_VERSION:
            raise RunError(f"{self.config}: run format {data.get('format_version')!r} is newer "
                           f"than this snnc reads ({RUN_FORMAT_VERSION}); upgrade snnc")
        if not isinstance(data.get("config"), dict) or not isinstance(data.get("model"), dict):
            raise RunError(f"{self.config}: missing 'config' or 'model' object")
        return data

    # ------------------------------------------------------------------ metrics
    @staticmethod
    def metrics_files(history: list[dict[str, Any]]) -> dict[str, bytes]:
        """``metrics.csv`` and ``metrics.json`` from the rows of every completed epoch."""
        rows = [{k: row.get(k) for k in METRIC_FIELDS} for row in history]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRIC_FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
        return {"metrics.csv": buf.getvalue().encode("utf-8"),
                "metrics.json": (json.dumps(rows, indent=1) + "\n").encode("utf-8")}

    def write_metrics(self, history: list[dict[str, Any]]) -> None:
        """Rewrite ``metrics.csv`` and ``metrics.json`` (one commit)."""
        self.commit(self.metrics_files(history))

    def read_metrics(self) -> list[dict[str, Any]]:
        """The rows of ``metrics.json`` (``[]`` when the file does not exist yet)."""
        try:
            return json.loads(self.metrics_json.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise RunError(f"{self.metrics_json}: unreadable metrics ({exc})") from None

    # ------------------------------------------------------------------ checkpoint
    def save_checkpoint(self, *, epoch: int, model: dict, optimizer: dict, scheduler: dict,
                        history: list[dict[str, Any]], search: dict | None = None) -> None:
        """Write ``checkpoint.pt`` and the metrics files in one :meth:`commit`: a kill at any
        moment leaves the previous complete checkpoint or the new one, never a partial file.
        ``search``: the state of the run's DGS / TPS searches (key ``search``), when any."""
        state = {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION,
                 "epoch": int(epoch), "model": model, "optimizer": optimizer,
                 "scheduler": scheduler, "rng": rng_state(), "history": list(history)}
        if search is not None:
            state["search"] = search
        buf = io.BytesIO()
        torch.save(state, buf)
        self.commit({"checkpoint.pt": buf.getvalue(), **self.metrics_files(history)})

    def load_checkpoint(self, epochs: int | None = None) -> dict[str, Any] | None:
        """The checkpoint (``None`` if there is none yet), loaded with ``weights_only=True`` and
        checked with :func:`check_checkpoint` (``epochs``: the run's epoch count).

        Raises:
            RunError: the file is damaged, not an snnc checkpoint of a known version, or holds
                values no run writes; the message names the file and the value.
        """
        if not self.checkpoint.exists():
            return None
        try:
            state = torch.load(self.checkpoint, map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
            raise RunError(f"{self.checkpoint}: damaged checkpoint ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''}); delete it to "
                           f"restart the run from scratch") from None
        if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
            raise RunError(f"{self.checkpoint}: not an snnc checkpoint")
        version = state.get("format_version", 0)
        if not isinstance(version, int) or version > CHECKPOINT_VERSION:
            raise RunError(f"{self.checkpoint}: checkpoint format {version!r} is "
                           f"newer than this snnc reads ({CHECKPOINT_VERSION}); upgrade snnc")
        missing = {"epoch", "model", "optimizer", "scheduler", "rng", "history"} - set(state)
        if missing:
            raise RunError(f"{self.checkpoint}: checkpoint lacks {', '.join(sorted(missing))}")
        problem = check_checkpoint(state, epochs)
        if problem:
            raise RunError(f"{self.checkpoint}: damaged checkpoint: {problem}")
        return state


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_checkpoint(state: dict[str, Any], epochs: int | None = None) -> str | None:
    """What is wrong with a loaded checkpoint's content (None when nothing is): types of every
    entry, ``0 <= epoch <= epochs``, one ``history`` row per completed epoch, and model weights
    and buffers without NaN (``running_var`` finite and >= 0)."""
    epoch = state["epoch"]
    if type(epoch) is not int or epoch < 0 or (epochs is not None and epoch > epochs):
        return f"epoch {epoch!r} is not a completed-epoch count of this {epochs}-epoch run"
    history = state["history"]
    if not isinstance(history, list) or len(history) != epoch:
        return f"history must be a list of {epoch} metric rows, got {_kind(history)}"
    for i, row in enumerate(history, start=1):
        if not isinstance(row, dict) or row.get("epoch") != i or not all(
                row.get(k) is None or _is_number(row.get(k)) for k in METRIC_FIELDS):
            return f"history row {i} is not the metrics of epoch {i}"
    for name in ("model", "optimizer", "scheduler", "rng"):
        if not isinstance(state[name], dict):
            return f"{name} must be a dict, got {_kind(state[name])}"
    problem = check_weights(state["model"])
    if problem:
        return problem
    rng = state["rng"]
    if not (isinstance(rng.get("torch"), torch.Tensor) and isinstance(rng.get("numpy"), dict)
            and isinstance(rng.get("python"), dict)):
        return "rng is not the random generator states snnc saves"
    return None


def check_weights(model_state: dict) -> str | None:
    """What is wrong with a module's ``state_dict`` (None when nothing is): an entry that is not
    a tensor, a NaN anywhere, a ``running_var`` (BatchNorm) negative or infinite."""
    for key, value in model_state.items():
        if not isinstance(value, torch.Tensor):
            return f"model entry {key!r} is not a tensor"
        if value.is_floating_point():
            if bool(torch.isnan(value).any()):
                return f"model entry {key!r} holds NaN"
            if str(key).endswith("running_var") and not bool(
                    (torch.isfinite(value) & (value >= 0)).all()):
                return f"model entry {key!r} (a variance) holds negative or infinite values"
    return None


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _kind(x) -> str:
    return type(x).__name__


# ---------------------------------------------------------------------- RNG states
def rng_state() -> dict[str, Any]:
    """The global torch, numpy and Python RNG states as tensors and numbers (so that a
    ``weights_only`` :func:`torch.load` can read them back)."""
    np_state = np.random.get_state(legacy=False)
    version, py_words, gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {"key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
                  "pos": int(np_state["state"]["pos"]), "has_gauss": int(np_state["has_gauss"]),
                  "gauss": float(np_state["gauss"])},
        "python": {"version": int(version), "words": torch.tensor(py_words, dtype=torch.int64),
                   "gauss": gauss},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state({"bit_generator": "MT19937",
                         "state": {"key": n["key"].numpy().astype(np.uint32), "pos": n["pos"]},
                         "has_gauss": n["has_gauss"], "gauss": n["gauss"]})
    p = state["python"]
    random.setstate((p["version"], tuple(int(w) for w in p["words"].tolist()), p["gauss"]))

