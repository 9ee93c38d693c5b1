"""Training-free architecture scores of spiking networks at initialisation.

**NASWOT kernel on LIF activation patterns** (SNASNet section 3.2 eq. 4-5, section 4.2 eq. 6-9;
BCNAS-SNN Appendix A eq. 7-8, its "N-score"). For every LIF layer ``l`` and time step ``t`` the
spikes of a mini-batch of ``N`` samples form binary codes ``c_i`` of ``N_A`` neurons each. With the
Hamming distance ``d_H(c_i, c_j)`` the kernel is ``K_H = N_A - d_H`` (eq. 4). The
Sparsity-Aware Hamming Distance (SAHD, eq. 9) rescales ``d_H`` by its expectation under independent
Bernoulli firing (eq. 8)::

    r_i      = fraction of zeros in c_i                        (sparsity, per layer and step)
    p_ij     = r_i (1 - r_j) + (1 - r_i) r_j                    (eq. 7)
    d_SAH    = alpha / p_ij * d_H(c_i, c_j)                     (eq. 9, alpha = 0.5)
    K_SAH    = N_A - d_SAH

so ``K_ij = N_A (1 - alpha * rho_ij)`` with ``rho_ij = d_H / E[d_H]``: a pair of samples whose codes are
as different as chance allows gives ``N_A / 2`` and identical codes give ``N_A``. (With ``alpha = 0.5``
every entry lies in ``[0, N_A]`` because ``d_H <= 2 N_A p_ij``.) When ``p_ij = 0`` both codes are all
zeros or all ones, hence equal, and ``d_SAH = 0``. The score is ``log |det sum_{l,t} K^l_t|``
(eq. 5 / BCNAS eq. 8) by :func:`numpy.linalg.slogdet` in float64.

**Two scoring protocols** (``protocol=``). ``"paper"`` (the default) is the above: eq. 9's kernel
summed over every (layer, step) as eq. 5 writes it, BatchNorm statistics of the whole ``[T*B]``
batch outside strongly connected components (the torch backend's multi-step execution), one batch.
``"code"`` is what the authors' released search code does: its kernel
``K = N_A - 0.5 d_H / (N_A p_ij + 1e-3)`` (:func:`code_kernel`), summed over the hooked calls and
divided by their number, BatchNorm statistics of each time step's ``B`` samples (every node run
step by step), and two batches averaged (the search's ``repeats`` default under this protocol).
The code's kernel subtracts ``0.5 d_H / (N_A p_ij)``, a number near 0.5, from ``N_A``, so it is
nearly ``N_A 11^T + 0.5 I`` and every architecture scores almost the same; eq. 9 keeps ``d_SAH`` in
units of neurons. The division by the number of calls removes the paper kernel's growth with the
number of spiking layers. Both kernels probe every spiking neuron (LIF, ALIF, PLIF).

**E-score** (EPE-NAS; BCNAS-SNN Appendix A eq. 9-15): the rows of ``J`` are the gradients of the
network's summed time-averaged outputs w.r.t. each sample's input (through the surrogate gradient),
flattened. Per class ``c``, ``Sigma_c`` is the correlation matrix of that class's rows (each row
centred on its own mean, eq. 11-13) and ``E_c = sum_ij log(|Sigma_c,ij| + k)``, ``k = 1e-5`` (eq. 14);
the score is ``sum_c |E_c|`` (eq. 15). For more than 100 classes, ``E_c`` is divided by the number of
entries of ``Sigma_c`` and the score is ``sum_{i<=j} |E_i - E_j| / C``. A sample whose gradient is
constant has no defined correlation: the score is then NaN, which searchers rank last (EPE-NAS's
``nanargmax``).

**How candidates are run** (:func:`score_graph`): the torch backend at initialisation, BatchNorm
with batch statistics (train mode, as the authors' search code runs its networks), Dropout off (so a
sample's result does not depend on its position in the batch), LIF spikes recorded by the module's
probes, one forward pass per mini-batch (and one backward pass when the E-score is asked for).
With batch statistics a sample's input gradient also carries its effect on the other samples
through the BatchNorm mean and variance, as in EPE-NAS's own (train-mode) runs; ``bn="running"``
makes every row of ``J`` one sample's own Jacobian.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import numpy as np
import torch
from torch import nn

from ..errors import SnncError
from ..ir.ops import SPIKING_NEURON_OPS

__all__ = ["ALPHA", "EPE_K", "KINDS", "PatternStats", "pattern_stats", "hamming_distances",
           "hd_kernel", "sahd_kernel", "naswot_kernels", "log_abs_det", "naswot_scores",
           "epe_score", "input_jacobian", "search_mode", "score_graph", "PROTOCOLS",
           "code_kernel"]

#: SNASNet section 5.1: alpha of eq. 9, chosen to match a ReLU's sparsity scale.
ALPHA = 0.5
#: EPE-NAS / BCNAS eq. 14: the constant inside the logarithm.
EPE_K = 1e-5
#: Score names: SAHD and plain-HD NASWOT kernels on LIF spikes, EPE-NAS E-score.
KINDS = ("sahd", "hd", "escore")
#: Scoring protocols (module docstring): the paper's equations, or the authors' search code.
PROTOCOLS = ("paper", "code")


@dataclass(frozen=True)
class PatternStats:
    """What the kernels need from one (LIF layer, time step) binary pattern ``c`` ``[N, N_A]``.

    Attributes:
        gram: ``[N, N]`` float64, ``c_i . c_j`` (spikes both samples fire; exact integers).
        fired: ``[N]`` float64, spikes per sample ``sum_a c_ia``.
        neurons: ``N_A``.
    """

    gram: np.ndarray
    fired: np.ndarray
    neurons: int


def pattern_stats(codes) -> PatternStats:
    """:class:`PatternStats` of binary codes ``[N, N_A]`` (numpy or torch, any dtype, values 0/1).

    The Gram matrix is computed in float32 (fast matrix product; exact because every partial sum is
    an integer below ``2**24``) and returned as float64.

    Raises:
        SnncError: not a 2-D array, or ``N_A >= 2**24``.
    """
    c = torch.as_tensor(codes)
    if c.dim() != 2:
        raise SnncError(f"activation codes must be [N, neurons], got shape {tuple(c.shape)}")
    if c.shape[1] >= 2**24:
        raise SnncError(f"{c.shape[1]} neurons in one layer: float32 counts would be inexact")
    c = c.detach().to(torch.float32)
    gram = (c @ c.T).double().cpu().numpy()
    return PatternStats(gram, c.sum(1).double().cpu().numpy(), int(c.shape[1]))


def hamming_distances(st: PatternStats) -> np.ndarray:
    """``d_H(c_i, c_j) = |c_i| + |c_j| - 2 c_i . c_j`` ``[N, N]`` (SNASNet eq. 4)."""
    return st.fired[:, None] + st.fired[None, :] - 2.0 * st.gram


def hd_kernel(st: PatternStats) -> np.ndarray:
    """``K_H = N_A - d_H`` ``[N, N]`` (SNASNet eq. 4, NASWOT)."""
    return st.neurons - hamming_distances(st)


def sahd_kernel(st: PatternStats, alpha: float = ALPHA) -> np.ndarray:
    """``K = N_A - alpha d_H / p_ij`` ``[N, N]`` with ``p_ij = r_i (1 - r_j) + (1 - r_i) r_j`` and
    ``r`` the sparsity (fraction of zeros) of each code (SNASNet eq. 7-9); ``d_SAH = 0`` where
    ``p_ij = 0`` (then ``c_i = c_j``)."""
    r = 1.0 - st.fired / st.neurons if st.neurons else np.ones_like(st.fired)
    q = 1.0 - r
    p = r[:, None] * q[None, :] + q[:, None] * r[None, :]  # exactly symmetric
    d = hamming_distances(st)
    safe = np.where(p > 0, p, 1.0)
    return st.neurons - np.where(p > 0, alpha * d / safe, 0.0)


def code_kernel(st: PatternStats) -> np.ndarray:
    """The authors' code's kernel ``N_A - 0.5 d_H / (N_A p_ij + 1e-3)`` ``[N, N]`` (``p_ij`` as in
    eq. 7 from the per-sample firing rates; REFERENCE-NOTES, SNASNet)."""
    s = st.fired / st.neurons if st.neurons else np.zeros_like(st.fired)
    p = s[:, None] * (1.0 - s[None, :]) + (1.0 - s[:, None]) * s[None, :]
    return st.neurons - 0.5 * hamming_distances(st) / (st.neurons * p + 1e-3)


def naswot_kernels(records: Mapping[str, torch.Tensor] | Iterable[torch.Tensor], *,
                   alpha: float = ALPHA, protocol: str = "paper") -> dict[str, np.ndarray]:
    """Kernels ``{"sahd": K, "hd": K}`` ``[N, N]`` over every spiking layer and time step: summed
    (``protocol="paper"``, eq. 5) or, with ``"code"``, the code's SAHD kernel averaged over the
    calls (the HD kernel averaged likewise).

    Args:
        records: spikes per spiking neuron layer, each ``[T, N, *shape]`` (e.g.
            ``SpikingModule.records`` after a probed forward pass); any value ``> 0`` is a spike.
        alpha: SAHD's alpha (eq. 9).
        protocol: ``"paper"`` or ``"code"`` (module docstring).
    Raises:
        SnncError: no layers, layers with different batch sizes, an unknown protocol.
    """
    if protocol not in PROTOCOLS:
        raise SnncError(f"unknown scoring protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    layers = list(records.values()) if isinstance(records, Mapping) else list(records)
    if not layers:
        raise SnncError("no spiking neuron layer (LIF, ALIF, PLIF) was recorded: the NASWOT "
                        "kernel needs spiking layers")
    n = layers[0].shape[1]
    k_sahd = np.zeros((n, n))
    k_hd = np.zeros((n, n))
    calls = 0
    for spikes in layers:
        if spikes.dim() < 2 or spikes.shape[1] != n:
            raise SnncError(f"spike record of shape {tuple(spikes.shape)}: expected "
                            f"[T, {n}, ...]")
        for t in range(spikes.shape[0]):
            st = pattern_stats((spikes[t].reshape(n, -1) > 0))
            k_sahd += sahd_kernel(st, alpha) if protocol == "paper" else code_kernel(st)
            k_hd += hd_kernel(st)
            calls += 1
    if protocol == "code":
        k_sahd /= calls
        k_hd /= calls
    return {"sahd": k_sahd, "hd": k_hd}


def log_abs_det(k: np.ndarray) -> float:
    """``log |det K|`` by :func:`numpy.linalg.slogdet` in float64 (``-inf`` for a singular K)."""
    sign, logdet = np.linalg.slogdet(np.asarray(k, dtype=np.float64))
    return float(logdet) if sign != 0 else float("-inf")


def naswot_scores(records, *, alpha: float = ALPHA, protocol: str = "paper") -> dict[str, float]:
    """``{"sahd": s, "hd": s}``: ``log|det|`` of :func:`naswot_kernels` (SNASNet eq. 5)."""
    return {k: log_abs_det(v)
            for k, v in naswot_kernels(records, alpha=alpha, protocol=protocol).items()}


# ------------------------------------------------------------------------------------ E-score
def _class_term(rows: np.ndarray, k: float) -> float | None:
    """``E_c`` (BCNAS eq. 11-14, before the many-class division): None when a row is constant."""
    if len(rows) == 1:
        return float(np.log(1.0 + k))  # a 1x1 correlation matrix is [1]
    centred = rows - rows.mean(axis=1, keepdims=True)
    norm = np.sqrt((centred * centred).sum(axis=1))
    if not np.all(norm > 0):
        return None
    unit = centred / norm[:, None]
    corr = np.clip(unit @ unit.T, -1.0, 1.0)
    return float(np.log(np.abs(corr) + k).sum())


def epe_score(jacobian: np.ndarray, labels: np.ndarray, *, classes: int | None = None,
              k: float = EPE_K) -> float:
    """E-score of input Jacobians (EPE-NAS; BCNAS-SNN Appendix A eq. 11-15).

    Args:
        jacobian: ``[N, D]`` one flattened input gradient per sample (eq. 9-10).
        labels: ``[N]`` integer classes.
        classes: number of classes ``C`` of the task (selects the ``C > 100`` form of eq. 14-15);
            default: the number of distinct labels.
        k: the constant of eq. 14.
    Returns:
        The score (higher is better); NaN when a sample's gradient is constant (correlation
        undefined).
    Raises:
        SnncError: shapes that do not match.
    """
    jac = np.asarray(jacobian, dtype=np.float64)
    labels = np.asarray(labels)
    if jac.ndim != 2 or labels.shape != (len(jac),) or len(jac) == 0:
        raise SnncError(f"E-score needs a Jacobian [N, D] and labels [N], got {jac.shape} and "
                        f"{labels.shape}")
    present = np.unique(labels)
    many = (classes if classes is not None else len(present)) > 100
    terms = []
    for c in present:
        rows = jac[labels == c]
        e = _class_term(rows, k)
        if e is None:
            return float("nan")
        terms.append(e / rows.shape[0] ** 2 if many else e)
    e = np.asarray(terms)
    if not many:
        return float(np.abs(e).sum())
    i, j = np.triu_indices(len(e))
    return float(np.abs(e[i] - e[j]).sum() / len(e))


def input_jacobian(module: nn.Module, x: torch.Tensor, T: int | None = None
                   ) -> tuple[torch.Tensor, np.ndarray]:
    """One forward and backward pass: ``(output [T, B, classes] detached, J [B, D])`` where row
    ``i`` of ``J`` is the gradient of ``sum_c mean_t out[t, i, c]`` w.r.t. sample ``i``'s input
    (BCNAS eq. 9-10), flattened; ``x`` ``[B, ...]`` (direct) or ``[T, B, ...]`` (a sequence)."""
    x = x.detach().clone().requires_grad_(True)
    out = module(x, T=T)
    out.mean(0).sum().backward()
    grad = x.grad
    in_dims = len(module.graph.input_node.shape)
    if grad.dim() == in_dims + 2:  # [T, B, ...] -> [B, T, ...]
        grad = grad.transpose(0, 1)
    return out.detach(), grad.reshape(grad.shape[0], -1).double().cpu().numpy()


# ------------------------------------------------------------------------------------ driver
def search_mode(module: nn.Module, bn: str) -> None:
    """Eval mode everywhere (Dropout off) except BatchNorm with ``bn="batch"``."""
    if bn not in ("batch", "running"):
        raise SnncError(f"bn must be 'batch' or 'running', got {bn!r}")
    module.eval()
    if bn == "batch":
        for m in module.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.train()


def score_graph(graph, batches: Iterable[tuple[torch.Tensor, np.ndarray]], *,
                kinds: Iterable[str] = ("sahd",), alpha: float = ALPHA, bn: str = "batch",
                dtype: torch.dtype = torch.float32, classes: int | None = None,
                protocol: str = "paper", device=None) -> dict[str, float]:
    """Training-free scores of an IR graph at initialisation, averaged over mini-batches.

    Args:
        graph: a lowered IR graph (its params are the initial weights).
        batches: ``(x, labels)`` pairs, ``x`` the module input ``[B, *input_shape]`` (direct
            encoding) or ``[T, B, *input_shape]``, ``labels`` ``[B]`` (used by the E-score only).
            The authors average two batches.
        kinds: any of :data:`KINDS`; asking for ``sahd`` or ``hd`` returns both (same pass).
        alpha: SAHD's alpha (eq. 9).
        bn: ``"batch"`` (batch statistics, default) or ``"running"`` (stored statistics).
        dtype: torch dtype of the run.
        classes: number of classes for the E-score (default ``graph.meta["classes"]``).
        protocol: ``"paper"`` or ``"code"`` (module docstring): the code's kernel averaged over
            calls, and every node run step by step so that BatchNorm uses each step's statistics.
        device: where the module runs (``None``: the CPU; ``"auto"``: a GPU when torch sees one).
    Returns:
        ``{kind: score}``, each the mean over batches (NaN/-inf propagate).
    Raises:
        SnncError: unknown kind or ``bn``, no batch, a graph without LIF layers.
        NotImplementedError: the torch backend cannot run an op of the graph.
    """
    from ..backends.torch import compile as compile_torch

    kinds = tuple(kinds)
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise SnncError(f"unknown score {unknown or kinds!r}; known: {', '.join(KINDS)}")
    if protocol not in PROTOCOLS:
        raise SnncError(f"unknown scoring protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    module = compile_torch(graph, dtype=dtype, mode="multi" if protocol == "paper" else "step",
                           device=device)
    search_mode(module, bn)
    classes = classes if classes is not None else graph.meta.get("classes")
    naswot = any(k in ("sahd", "hd") for k in kinds)
    per: dict[str, list[float]] = {}
    for x, labels in batches:
        x = torch.as_tensor(x).to(dtype)
        with module.probing(ops=SPIKING_NEURON_OPS):
            if "escore" in kinds:
                _, jac = input_jacobian(module, x)
                per.setdefault("escore", []).append(
                    epe_score(jac, np.asarray(labels), classes=classes))
            else:
                with torch.inference_mode():  # no autograd bookkeeping at all
                    module(x)
        if naswot:
            for k, v in naswot_scores(module.records, alpha=alpha, protocol=protocol).items():
                per.setdefault(k, []).append(v)
        module.records = {}
    if not per:
        raise SnncError("no mini-batch to score on")
    return {k: float(np.mean(v)) for k, v in per.items()}
