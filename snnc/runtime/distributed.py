"""Data-parallel training on several processes: the process group, the global batch's shards,
BatchNorm over the global batch, and ``DistributedDataParallel``.

One training step of ``N`` processes computes what one process computes on the same global batch
(``TrainConfig.batch_size`` images), up to the order in which float sums are taken:

- **Data.** Every process draws the whole global batch exactly as one process would (same order,
  augmentation and rate encoding, :mod:`snnc.runtime.loader`) and keeps its shard
  (:meth:`Group.shard`): ``torch.tensor_split`` into ``N`` parts of ``B/N`` images (sizes differ by
  at most one when ``N`` does not divide ``B`` or the epoch's last batch).
- **Loss.** Process ``r`` back-propagates ``L_r * n_r * N / n`` (``L_r`` the mean loss over its
  ``n_r`` samples, ``n`` the global batch); ``DistributedDataParallel`` averages gradients over
  the ``N`` processes, so the step follows the gradient of the global batch's mean loss, also
  when the shards are uneven.
- **BatchNorm.** :class:`GlobalBatchNorm` replaces every ``nn.BatchNorm1d/2d``: in training it
  normalises with the mean and (biased) variance of the global batch, all-reduced over the group
  with a differentiable all-reduce, and updates the running statistics as ``nn.BatchNorm`` would
  on the global batch (unbiased variance over the global count). ``nn.SyncBatchNorm`` would do the
  same on CUDA but refuses CPU tensors; one implementation serves both. It has the same
  parameters, buffers and ``state_dict`` keys as the module it replaces, so a checkpoint of an
  ``N``-process run loads into any other process count.
- **Metrics.** The loss sum, correct count and sample count of each step are all-reduced, so
  every process holds the global epoch metrics (and stops together on a non-finite loss).

Only rank 0 reads the run folder and the model file, and writes (:func:`share` sends what it
read to the others; an error it raises there is raised by every process with its message). The
backend is gloo for CPU tensors and NCCL for CUDA ones; a second gloo group carries the small
control messages and, on CPU, BatchNorm's all-reduces (apart from DDP's gradient buckets).
Every collective waits at most the group's ``timeout`` for a process that stopped answering.
"""
from __future__ import annotations

import datetime
import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from ..errors import RunError, SnncError
from .config import GROUP_TIMEOUT

__all__ = ["DEFAULT_TIMEOUT", "GlobalBatchNorm", "Group", "check_shards", "close_group",
           "convert_batch_norm", "env_rank", "init_group", "share"]

#: Seconds a process waits at a collective for the others before the group gives up.
DEFAULT_TIMEOUT = GROUP_TIMEOUT
_T = TypeVar("_T")


@dataclass(frozen=True)
class Group:
    """This process's place in a training group (:func:`init_group`).

    Attributes:
        rank, world: this process's rank and the number of processes.
        device: where this process trains (``cpu``, or ``cuda:LOCAL_RANK``).
        control: a gloo group for control messages (and CPU BatchNorm statistics).
        timeout: seconds a collective waits for a missing process.
    """

    rank: int
    world: int
    device: torch.device
    control: Any = None
    timeout: float = DEFAULT_TIMEOUT

    @property
    def is_writer(self) -> bool:
        """Whether this process writes the run folder (rank 0)."""
        return self.rank == 0

    def seed_words(self) -> tuple[int, ...]:
        """Extra words of a per-process random stream (dropout masks): none on rank 0, so that
        rank 0 draws what a single process draws."""
        return (self.rank,) if self.rank else ()

    def shard(self, x: torch.Tensor, y: torch.Tensor, batch_axis: int
              ) -> tuple[torch.Tensor, torch.Tensor, float]:
        """This process's part of a global batch.

        Args:
            x: the model input, batch along ``batch_axis`` (``[B, ...]`` direct, ``[T, B, ...]``
                rate-encoded); y: labels ``[B]``.
        Returns:
            ``(x_r, y_r, weight)``: the shard (``torch.tensor_split`` part ``rank``) and the
            factor ``n_r * N / n`` its mean loss is scaled by before back-propagation.
        """
        n = int(y.shape[0])
        x_r = torch.tensor_split(x, self.world, dim=batch_axis)[self.rank]
        y_r = torch.tensor_split(y, self.world)[self.rank]
        return x_r, y_r, len(y_r) * self.world / n

    def batch_totals(self, mean_loss: float, correct: int, n: int) -> tuple[float, int, int]:
        """``(mean loss, correct, samples)`` of the global batch from this shard's values."""
        t = torch.tensor([mean_loss * n, float(correct), float(n)], dtype=torch.float64)
        dist.all_reduce(t, group=self.control)
        total, correct_all, n_all = t.tolist()
        return total / n_all, int(correct_all), int(n_all)

    def wrap(self, module: nn.Module) -> nn.Module:
        """``module`` with :class:`GlobalBatchNorm` in place of its BatchNorm (in place; the same
        parameter tensors, so an optimizer made before keeps working), wrapped in
        ``DistributedDataParallel``. Parameters of nodes the module never runs (dead nodes,
        unselected supernet paths) are allowed (``find_unused_parameters``) and keep ``grad``
        None, as in one process."""
        from torch.nn.parallel import DistributedDataParallel

        bn_group = self.control if self.device.type == "cpu" else None
        convert_batch_norm(module, bn_group)
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DistributedDataParallel(module, device_ids=ids,
                                       find_unused_parameters=_has_unused(module))

    def barrier(self) -> None:
        dist.barrier(group=self.control)


def env_rank(environ: dict[str, str] | None = None) -> tuple[int, int, int] | None:
    """``(rank, world, local_rank)`` when this process was started by ``torchrun`` (or another
    launcher that sets ``RANK`` and ``WORLD_SIZE``, with ``MASTER_ADDR``/``MASTER_PORT``), else
    None.

    Raises:
        RunError: the variables are not integers or out of range.
    """
    env = os.environ if environ is None else environ
    if "RANK" not in env or "WORLD_SIZE" not in env:
        return None
    try:
        rank, world = int(env["RANK"]), int(env["WORLD_SIZE"])
        local = int(env.get("LOCAL_RANK", rank))
    except ValueError:
        raise RunError(f"RANK={env.get('RANK')!r}, WORLD_SIZE={env.get('WORLD_SIZE')!r}, "
                       f"LOCAL_RANK={env.get('LOCAL_RANK')!r}: not integers") from None
    if world < 1 or not 0 <= rank < world or local < 0:
        raise RunError(f"RANK={rank} and WORLD_SIZE={world} do not describe a process group "
                       f"(need 0 <= RANK < WORLD_SIZE)")
    return rank, world, local


def init_group(rank: int, world: int, *, local_rank: int = 0, store=None,
               timeout: float = DEFAULT_TIMEOUT, device: str = "cpu") -> Group:
    """Join a process group of ``world`` processes (``torch.distributed.init_process_group``).

    Args:
        rank, world: this process's rank and the group's size.
        local_rank: this process's index on its machine (picks the GPU for ``device="cuda"``).
        store: a ``torch.distributed.Store`` to meet the others (:mod:`snnc.runtime.launch`
            passes one); None = ``MASTER_ADDR``/``MASTER_PORT`` from the environment (torchrun).
        timeout: seconds any collective waits for the others.
        device: ``"cpu"`` (gloo) or ``"cuda"`` (NCCL, one GPU per process).
    Raises:
        RunError: the others cannot be reached within ``timeout`` (the message names the
            address), or CUDA is asked for but absent.
    """
    delta = datetime.timedelta(seconds=timeout)
    if device == "cuda":
        if not torch.cuda.is_available():
            raise RunError("distributed training on cuda: no CUDA device is available")
        dev = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(dev)
        backend = "nccl"
    else:
        dev, backend = torch.device("cpu"), "gloo"
    where = (f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
             if store is None else "the launcher's store")
    try:
        if store is None:
            dist.init_process_group(backend, init_method="env://", rank=rank, world_size=world,
                                    timeout=delta)
        else:
            dist.init_process_group(backend, store=store, rank=rank, world_size=world,
                                    timeout=delta)
        control = dist.new_group(backend="gloo", timeout=delta)
    except (RuntimeError, ValueError) as exc:  # DistStoreError, DistNetworkError, timeouts
        raise RunError(f"rank {rank}: cannot join the group of {world} processes at {where} "
                       f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})") \
            from None
    return Group(rank, world, dev, control, timeout)


def close_group() -> None:
    """Leave the process group (no-op when none is open)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# ---------------------------------------------------------------------- rank 0 -> all
def share(group: Group, make: Callable[[], _T], encode: Callable[[_T], bytes],
          decode: Callable[[bytes], _T]) -> _T:
    """Rank 0 calls ``make()`` and every rank gets its value (``decode(encode(value))`` on the
    others; rank 0 keeps its own). An exception in ``make`` is re-raised on rank 0 and becomes a
    :class:`RunError` with its message on the others, so no process is left waiting.
    """
    value, payload = None, b""
    if group.is_writer:
        try:
            value = make()
            payload = encode(value)
        except BaseException as exc:
            text = str(exc) if isinstance(exc, SnncError) else f"{type(exc).__name__}: {exc}"
            _broadcast_bytes(group, text.encode("utf-8"), failed=True)
            raise
        _broadcast_bytes(group, payload, failed=False)
        return value
    failed, payload = _broadcast_bytes(group, b"", failed=False)
    if failed:
        raise RunError(f"stopped because rank 0 failed: {payload.decode('utf-8', 'replace')}")
    return decode(payload)


def _broadcast_bytes(group: Group, data: bytes, *, failed: bool) -> tuple[bool, bytes]:
    head = torch.tensor([int(failed), len(data)], dtype=torch.int64)
    dist.broadcast(head, src=0, group=group.control)
    failed, size = bool(head[0]), int(head[1])
    buf = (torch.frombuffer(bytearray(data), dtype=torch.uint8) if group.is_writer and size
           else torch.empty(size, dtype=torch.uint8))
    if size:
        dist.broadcast(buf, src=0, group=group.control)
    return failed, buf.numpy().tobytes()


def encode_setup(value) -> bytes:
    """``(config, graph, ...)`` -> bytes: the config's JSON and the graph as a ``.snnir``."""
    from ..ir.artifact import save

    config, graph = value[0], value[1]
    with tempfile.TemporaryDirectory() as tmp:
        path = save(graph, Path(tmp, "model.snnir"))
        blob = path.read_bytes()
    head = json.dumps(config.to_dict()).encode("utf-8")
    return len(head).to_bytes(8, "little") + head + blob


def decode_setup(data: bytes):
    """Inverse of :func:`encode_setup`: ``(config, graph, None, None)`` (a genome text and a
    fingerprint are rank 0's business)."""
    from ..ir.artifact import load
    from .config import TrainConfig

    size = int.from_bytes(data[:8], "little")
    config = TrainConfig.from_dict(json.loads(data[8:8 + size].decode("utf-8")))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "model.snnir")
        path.write_bytes(data[8 + size:])
        graph = load(path)
    return config, graph, None, None


def encode_state(state: dict | None) -> bytes:
    """A checkpoint's content (or None) -> bytes (``torch.save``; tensors and plain data)."""
    if state is None:
        return b""
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def decode_state(data: bytes) -> dict | None:
    """Inverse of :func:`encode_state` (``weights_only``: no pickled objects)."""
    if not data:
        return None
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def check_shards(n: int, batch_size: int, world: int) -> None:
    """Refuse an epoch whose global batches cannot give each of ``world`` processes a sample.

    Raises:
        RunError: ``batch_size < world``, or the epoch's last batch (``n mod batch_size``
            images) is smaller than ``world``.
    """
    if world <= 1:
        return
    if batch_size < world:
        raise RunError(f"batch size {batch_size} cannot be split over {world} processes (the "
                       f"batch size is the global batch: at least one image per process)")
    last = n % batch_size
    if 0 < last < world:
        raise RunError(f"the last batch of each epoch holds {last} of the {n} training images, "
                       f"fewer than the {world} processes; change --batch-size or "
                       f"--limit-train")


# ---------------------------------------------------------------------- BatchNorm
class _AllReduce(torch.autograd.Function):
    """Sum over the group; the gradient of a sum that every process holds is the sum of the
    processes' gradients."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, group) -> torch.Tensor:
        ctx.group = group
        x = x.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(x, group=group)
        return x

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return _AllReduce.apply(grad, ctx.group), None


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over the batch of every process of a group (Ioffe & Szegedy 2015, Algorithm 1,
    with the mini-batch being the global batch): train mode normalises ``x`` ``[n, C, ...]`` with

        mean = sum_ranks sum_{samples, positions} x / count,
        var  = sum_ranks sum (x - mean)^2 / count             (two passes: no cancellation)
        y    = (x - mean) / sqrt(var + eps) * weight + bias

    and updates ``running_mean``/``running_var`` (with ``var * count / (count - 1)``) as
    ``nn.BatchNorm`` does; eval mode is plain BatchNorm with the running statistics. Gradients
    flow through the all-reduced sums (the BN of the global batch, differentiated).
    Build with :func:`convert_batch_norm`.
    """

    def __init__(self, bn: nn.modules.batchnorm._BatchNorm, group=None):
        super().__init__(bn.num_features, bn.eps, bn.momentum, bn.affine,
                         bn.track_running_stats, device="meta")
        # The very same tensors: an optimizer holding them, and state_dict keys, stay valid.
        self.weight, self.bias = bn.weight, bn.bias
        for name in ("running_mean", "running_var", "num_batches_tracked"):
            setattr(self, name, getattr(bn, name))
        self.group = group

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() not in (2, 3, 4):
            raise ValueError(f"expected a 2D, 3D or 4D input, got {x.dim()}D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        use_batch = self.training or not self.track_running_stats
        if not use_batch or dist.get_world_size(self.group) == 1:
            return super().forward(x)
        self._check_input_dim(x)
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = torch.tensor([x.numel() // max(x.shape[1], 1)], dtype=torch.float64,
                             device=x.device)
        dist.all_reduce(count, group=self.group)
        n = float(count)
        mean = _AllReduce.apply(x.sum(dims), self.group) / n
        centred = x - mean.view(shape)
        var = _AllReduce.apply((centred * centred).sum(dims), self.group) / n
        y = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.training and self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                f = (1.0 / float(self.num_batches_tracked) if self.momentum is None
                     else self.momentum)
                self.running_mean.mul_(1 - f).add_(mean.detach(), alpha=f)
                unbiased = var.detach() * (n / (n - 1)) if n > 1 else var.detach()
                self.running_var.mul_(1 - f).add_(unbiased, alpha=f)
        return y


def convert_batch_norm(module: nn.Module, group=None) -> nn.Module:
    """Replace every ``nn.BatchNorm1d``/``nn.BatchNorm2d`` below ``module`` (in place) by a
    :class:`GlobalBatchNorm` over ``group`` (None = the default group) sharing its tensors.
    Returns ``module`` (or the replacement, when ``module`` itself is a BatchNorm)."""
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return GlobalBatchNorm(module, group)
    for name, child in list(module.named_children()):
        new = convert_batch_norm(child, group)
        if new is not child:
            setattr(module, name, new)
    return module


def _has_unused(module: nn.Module) -> bool:
    """Whether a forward may leave parameters unused: a plan with units that cannot reach the
    Output (skipped) or a supernet (unselected paths)."""
    units = getattr(module, "_plan", None)
    if units is None:
        return True
    return bool(getattr(module, "_supernet", False)) or any(not u.live for u in units)
