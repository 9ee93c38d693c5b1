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

``checkpoint.pt`` is a :func:`torch.save` file that :func:`torch.load` reads with
``weights_only=True``: only tensors and plain containers, no pickled objects. Keys: ``format``
(``"snnc-checkpoint"``), ``format_version`` (1), ``epoch`` (completed epochs), ``model`` (the
module's ``state_dict``), ``optimizer`` and ``scheduler`` (their ``state_dict``; ``{}`` without a
scheduler), ``rng`` (:func:`rng_state`: torch, numpy and Python generators as tensors and
numbers) and ``history`` (the metric rows so far, rewritten into the metrics files on resume).
"""
from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..atomic import atomic_write, atomic_write_text
from ..errors import RunError

__all__ = ["CHECKPOINT_FORMAT", "METRIC_FIELDS", "RunDir", "rng_state", "set_rng_state"]

RUN_FORMAT, RUN_FORMAT_VERSION = "snnc-run", 1
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

    def is_empty(self) -> bool:
        """True when the folder does not exist or holds nothing.

        Raises:
            RunError: the path exists but is not a folder.
        """
        if not self.path.exists():
            return True
        if not self.path.is_dir():
            raise RunError(f"{self.path}: exists and is not a folder; a run folder is a folder")
        return not any(self.path.iterdir())

    def remove_stale_temporaries(self) -> None:
        """Delete the temporary files of writes a kill interrupted (``.<name>.*.tmp``)."""
        for name in ("checkpoint.pt", "metrics.csv", "metrics.json", "model.snnir"):
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

    # ------------------------------------------------------------------ config.json
    def write_config(self, config: dict[str, Any], model: dict[str, Any]) -> None:
        data = {"format": RUN_FORMAT, "format_version": RUN_FORMAT_VERSION, "config": config,
                "model": model}
        atomic_write_text(self.config, json.dumps(data, indent=1) + "\n")

    def read_config(self) -> dict[str, Any]:
        """``config.json`` as written by :meth:`write_config` (keys ``config`` and ``model``).

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
    def write_metrics(self, history: list[dict[str, Any]]) -> None:
        """Rewrite ``metrics.csv`` and ``metrics.json`` from the rows of every completed epoch."""
        rows = [{k: row.get(k) for k in METRIC_FIELDS} for row in history]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=METRIC_FIELDS, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
        atomic_write_text(self.metrics_csv, buf.getvalue())
        atomic_write_text(self.metrics_json, json.dumps(rows, indent=1) + "\n")

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
                        history: list[dict[str, Any]]) -> None:
        """Write ``checkpoint.pt`` atomically: a kill at any moment leaves the previous complete
        checkpoint or the new one, never a partial file."""
        state = {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION,
                 "epoch": int(epoch), "model": model, "optimizer": optimizer,
                 "scheduler": scheduler, "rng": rng_state(), "history": list(history)}
        try:
            atomic_write(self.checkpoint, lambda fh: torch.save(state, fh))
        except OSError as exc:
            raise RunError(f"{self.checkpoint}: cannot write ({exc.strerror or exc})") from None

    def load_checkpoint(self) -> dict[str, Any] | None:
        """The checkpoint (``None`` if there is none yet), loaded with ``weights_only=True``.

        Raises:
            RunError: the file is damaged or not an snnc checkpoint of a known version.
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
        if state.get("format_version", 0) > CHECKPOINT_VERSION:
            raise RunError(f"{self.checkpoint}: checkpoint format {state['format_version']} is "
                           f"newer than this snnc reads ({CHECKPOINT_VERSION}); upgrade snnc")
        missing = {"epoch", "model", "optimizer", "scheduler", "rng", "history"} - set(state)
        if missing:
            raise RunError(f"{self.checkpoint}: checkpoint lacks {', '.join(sorted(missing))}")
        return state


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

