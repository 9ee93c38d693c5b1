"""Classification accuracy of a spiking model on a dataset (the test set by default).

The prediction of a sample is the class with the largest time-averaged output,
``argmax_c (1/T) sum_t out[t, c]`` (STTS section 5.1; the same rule the training loop's accuracy
uses). Inputs are preprocessed as in training: a model trained by :func:`snnc.runtime.train.train`
carries its encoding, ``T`` and normalisation in the ``.snnir`` file's ``extra["preprocess"]``;
for any other model, the graph's ``T`` and ``encoding`` and, for direct encoding, the dataset's
channel mean and std are used.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ArtifactError, RunError
from ..ir.graph import Graph
from ..limits import resolve
from .data import Dataset, load_dataset
from .encoding import rate_encode
from .loader import batches, derive_seed, torch_threads

__all__ = ["EvalResult", "Preprocess", "evaluate", "model_input", "predict"]

_RATE_TRAIN, _RATE_EVAL = 3, 4  # derive_seed stream tags of the rate encoder (train / evaluation)


@dataclass(frozen=True)
class Preprocess:
    """How images become the model's input: ``encoding`` (``direct`` or ``rate``), time steps
    ``T``, and the per-channel ``mean``/``std`` applied before direct encoding (None = raw
    ``[0, 1]`` intensities, as rate encoding needs)."""

    encoding: str
    T: int
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"encoding": self.encoding, "T": self.T,
                "mean": None if self.mean is None else list(self.mean),
                "std": None if self.std is None else list(self.std)}

    @classmethod
    def from_dict(cls, d: Any, label: str = "extra.json") -> "Preprocess":
        """Read what :meth:`to_dict` wrote. Raises ArtifactError naming ``label`` and the field
        for anything else (a crafted or damaged ``extra.json``)."""
        where = f"{label}: extra.json: preprocess"
        if not isinstance(d, dict):
            raise ArtifactError(f"{where} must be an object, got {type(d).__name__}")
        enc, T = d.get("encoding"), d.get("T")
        if enc not in ("direct", "rate"):
            raise ArtifactError(f"{where}.encoding must be 'direct' or 'rate', got {enc!r:.60}")
        if isinstance(T, bool) or not isinstance(T, int) or not 1 <= T <= (resolve().T or T):
            raise ArtifactError(f"{where}.T must be an integer >= 1 within the T limit, got "
                                f"{T!r:.60}")

        def tup(key):
            v = d.get(key)
            if v is None:
                return None
            if (not isinstance(v, list) or not 1 <= len(v) <= 4096
                    or not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                               and math.isfinite(x) for x in v)):
                raise ArtifactError(f"{where}.{key} must be null or a list of finite numbers, got "
                                    f"{v!r:.60}")
            if key == "std" and any(x <= 0 for x in v):
                raise ArtifactError(f"{where}.std must be positive, got {v!r:.60}")
            return tuple(float(x) for x in v)

        return cls(enc, T, tup("mean"), tup("std"))


@dataclass
class EvalResult:
    """Accuracy of a model on ``n`` samples.

    Attributes:
        accuracy: fraction correct, in ``[0, 1]``.
        n, correct: samples evaluated and correctly classified.
        per_class: accuracy of each class (None for a class without samples).
        dataset, split, model: what was evaluated (for printing).
    """

    accuracy: float
    n: int
    correct: int
    per_class: list[float | None] = field(default_factory=list)
    dataset: str = ""
    split: str = "test"
    model: str = ""


def model_input(xb: torch.Tensor, pre: Preprocess, seed: int) -> torch.Tensor:
    """A loader batch ``[B, C, H, W]`` as the module's input: ``[B, C, H, W]`` for direct encoding
    (the module repeats it over ``T``), ``[T, B, C, H, W]`` spikes for rate encoding (drawn with
    a generator seeded by ``seed``)."""
    if pre.encoding == "direct":
        return xb
    return rate_encode(xb, pre.T, seed=seed)


@torch.no_grad()
def predict(module: torch.nn.Module, x: np.ndarray, pre: Preprocess, *, batch_size: int = 256,
            seed: int = 0) -> np.ndarray:
    """Predicted classes ``[N]`` (int64) of images ``x`` ``[N, C, H, W]`` in ``[0, 1]``.

    Runs ``module`` in eval mode (restoring its mode afterwards); batch ``b`` of rate-encoded input
    uses the generator seed ``derive_seed(4, seed, b)``, so results do not depend on the global RNG
    and evaluation leaves it untouched.
    """
    was_training = module.training
    module.eval()
    out = []
    try:
        labels = np.zeros(len(x), dtype=np.int64)  # batches() needs labels; unused here
        for b, (xb, _) in enumerate(batches(x, labels, batch_size, shuffle=False, mean=pre.mean,
                                            std=pre.std)):
            y = module(model_input(xb, pre, derive_seed(_RATE_EVAL, seed, b)), T=pre.T)
            out.append(y.mean(0).argmax(-1).cpu().numpy())
    finally:
        module.train(was_training)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def score(pred: np.ndarray, y: np.ndarray, classes: int) -> tuple[int, list[float | None]]:
    """Number correct and per-class accuracy."""
    ok = pred == y
    per = [float(ok[y == c].mean()) if (y == c).any() else None for c in range(classes)]
    return int(ok.sum()), per


def evaluate(model: str | Path | Graph, dataset: str | None = None, *,
             data_root: str | Path | None = None, split: str = "test", limit: int | None = None,
             batch_size: int = 256, seed: int = 0, threads: int = 0,
             dtype: str = "float32") -> EvalResult:
    """Accuracy of ``model`` on a dataset split.

    Args:
        model: a run folder (its ``model.snnir``), a ``.snnir`` file, a genome file (untrained
            weights) or a :class:`~snnc.ir.Graph`.
        dataset: a name :func:`~snnc.runtime.data.load_dataset` knows; default: the dataset
            the model was trained on (from the ``.snnir`` file's ``extra["config"]``).
        data_root: folder to read the dataset from (see ``load_dataset``).
        split: ``"test"`` or ``"train"``.
        limit: evaluate only the first ``limit`` samples.
        batch_size: images per forward pass (memory, not results).
        seed: seed of rate-encoded inputs.
        threads: torch intra-op threads while evaluating (0 = leave as is).
        dtype: ``"float32"`` or ``"float64"``.
    Returns:
        An :class:`EvalResult`.
    Raises:
        RunError: a run folder without ``model.snnir``, no dataset given or known, a dataset whose
            input shape or class count the model does not fit, bad ``split``/``limit``.
        ArtifactError, GenomeSyntaxError, DatasetError: as the loaders.
    """
    from ..backends.torch import compile as compile_torch

    if split not in ("test", "train"):
        raise RunError(f"split must be 'test' or 'train', got {split!r}")
    if limit is not None and limit < 1:
        raise RunError(f"limit must be >= 1, got {limit}")
    md = model_data(model, dataset, data_root)
    graph, label, ds, pre = md.graph, md.label, md.dataset, md.pre
    x, y = (ds.test_x, ds.test_y) if split == "test" else (ds.train_x, ds.train_y)
    if limit is not None:
        x, y = x[:limit], y[:limit]
    with torch_threads(threads):
        module = compile_torch(graph, dtype=torch_dtype(dtype))
        pred = predict(module, x, pre, batch_size=batch_size, seed=seed)
    correct, per = score(pred, y, ds.classes)
    return EvalResult(correct / max(len(y), 1), len(y), correct, per, ds.name, split, label)


# ---------------------------------------------------------------------- shared helpers
@dataclass
class ModelData:
    """A trained model with the dataset and preprocessing it is run on (see :func:`model_data`)."""

    graph: Graph
    extra: dict[str, Any]
    label: str
    dataset: Dataset
    pre: Preprocess


def model_data(model: str | Path | Graph, dataset: str | None = None,
               data_root: str | Path | None = None, *,
               missing: str = "which dataset? the model records none; pass one (--data)"
               ) -> ModelData:
    """Load ``model`` (run folder, ``.snnir``, genome or Graph), the dataset it was trained on (or
    ``dataset``) and its preprocessing; RunError with ``missing`` when no dataset is known, and
    when the model does not fit the data."""
    graph, extra, label = load_trained(model)
    if dataset is None:
        config = extra.get("config") or {}
        if not isinstance(config, dict):
            raise ArtifactError(f"{label}: extra.json: config must be an object, got "
                                f"{type(config).__name__}")
        dataset = config.get("dataset")
        if dataset is None:
            raise RunError(f"{label}: {missing}")
        if not isinstance(dataset, str):
            raise ArtifactError(f"{label}: extra.json: config.dataset must be a dataset name, "
                                f"got {dataset!r:.60}")
    ds = load_dataset(dataset, data_root)
    check_fits(graph, ds, label)
    pre = (Preprocess.from_dict(extra["preprocess"], label) if "preprocess" in extra
           else default_preprocess(graph, ds))
    if pre.mean is not None and len(pre.mean) != ds.input_shape[0]:
        raise ArtifactError(f"{label}: extra.json: preprocess.mean has {len(pre.mean)} values for "
                            f"{ds.input_shape[0]} channels")
    if pre.std is not None and len(pre.std) != ds.input_shape[0]:
        raise ArtifactError(f"{label}: extra.json: preprocess.std has {len(pre.std)} values for "
                            f"{ds.input_shape[0]} channels")
    return ModelData(graph, extra, label, ds, pre)


def default_preprocess(graph: Graph, ds: Dataset, *, T: int | None = None,
                       encoding: str | None = None, normalize: bool = True) -> Preprocess:
    """The graph's ``T`` and ``encoding`` (unless overridden); dataset mean/std for direct
    encoding with ``normalize``."""
    enc = encoding or str(graph.meta.get("encoding", "direct"))
    if enc not in ("direct", "rate"):
        raise RunError(f"unknown input encoding {enc!r}; known: direct, rate")
    steps = int(T if T is not None else graph.meta.get("T", 1))
    if enc == "direct" and normalize:
        return Preprocess(enc, steps, tuple(ds.mean), tuple(ds.std))
    return Preprocess(enc, steps)


def check_fits(graph: Graph, ds: Dataset, label: str) -> None:
    """The model's input shape and class count must be the dataset's."""
    shape = tuple(graph.input_node.shape)
    classes = tuple(graph.output_node.shape)
    if shape != tuple(ds.input_shape):
        raise RunError(f"{label}: the model takes input {'x'.join(map(str, shape))}, but "
                       f"{ds.name} images are {'x'.join(map(str, ds.input_shape))}")
    if classes != (ds.classes,):
        raise RunError(f"{label}: the model outputs {classes} scores per step, but {ds.name} has "
                       f"{ds.classes} classes")


def torch_dtype(name: str) -> torch.dtype:
    try:
        return {"float32": torch.float32, "float64": torch.float64}[name]
    except KeyError:
        raise RunError(f"dtype must be 'float32' or 'float64', got {name!r}") from None


def limit_dataset(ds: Dataset, train: int | None, test: int | None) -> Dataset:
    """Keep only the first ``train`` training and ``test`` test samples (None = all); the mean
    and std are recomputed from what is kept."""
    changes: dict[str, Any] = {}
    if train is not None:
        changes.update(train_x=ds.train_x[:train], train_y=ds.train_y[:train], mean=None,
                       std=None)
    if test is not None:
        changes.update(test_x=ds.test_x[:test], test_y=ds.test_y[:test])
    return dataclasses.replace(ds, **changes) if changes else ds


def load_trained(model: str | Path | Graph) -> tuple[Graph, dict[str, Any], str]:
    """(graph, artifact extra or {}, label for messages)."""
    from ..compiler import is_artifact, load_model
    from ..ir.artifact import read_extra

    if isinstance(model, Graph):
        return model, {}, str(model.meta.get("name") or "model")
    path = Path(model)
    if path.is_dir():
        trained = path / "model.snnir"
        if not trained.exists():
            raise RunError(f"{path}: no model.snnir; the run has not finished (continue it with "
                           f"--resume)" if (path / "config.json").exists()
                           else f"{path}: not a run folder (no model.snnir)")
        path = trained
    extra = read_extra(path) if is_artifact(path) else {}
    if not isinstance(extra, dict):
        raise ArtifactError(f"{path}: extra.json must hold an object, got {type(extra).__name__}")
    return load_model(path), extra, str(path)

