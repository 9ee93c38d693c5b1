"""Mini-batches from in-memory numpy arrays: seeded shuffling, augmentation and normalisation, no DataLoader.

Everything random is a pure function of integers, so a run resumes exactly:

- the order of epoch ``k`` is ``numpy.random.default_rng([1, seed, k]).permutation(N)``;
- the augmentation of batch ``b`` of epoch ``k`` uses a ``torch.Generator`` seeded with
  :func:`derive_seed` ``(2, seed, k, b)``; batches can be skipped (``start=``) without changing the rest.

Pipeline per batch (the torchvision / DARTS order the papers use): random crop from the zero-padded
image and horizontal flip on ``[0, 1]`` intensities, then per-channel normalisation ``(x - mean) / std``,
then cutout (a square set to 0, i.e. to the mean, after normalisation).
"""
from __future__ import annotations

import contextlib

from dataclasses import dataclass
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from snnc.errors import DatasetError

__all__ = ["Augment", "batches", "cutout", "derive_seed", "horizontal_flip", "normalize", "num_batches",
           "random_crop"]

_SHUFFLE, _AUGMENT = 1, 2  # stream tags for derive_seed / default_rng


@dataclass(frozen=True)
class Augment:
    """Training-time augmentations; the defaults switch everything off.

    Attributes:
        crop_padding: pad every side with this many zero pixels, then crop a random window of the original
            size (CIFAR papers: 4). 0 = off.
        hflip: flip each image left-right with probability 1/2.
        cutout: side in pixels of one square per image zeroed after normalisation (DeVries & Taylor 2017;
            SpikeDHS retraining uses DARTS' cutout, 16 px on CIFAR). 0 = off.
    """

    crop_padding: int = 0
    hflip: bool = False
    cutout: int = 0

    def __post_init__(self) -> None:
        if self.crop_padding < 0 or self.cutout < 0:
            raise DatasetError(f"augment sizes must be >= 0, got crop_padding={self.crop_padding}, "
                               f"cutout={self.cutout}")

    @classmethod
    def standard(cls, padding: int = 4) -> "Augment":
        """Random crop with ``padding`` zero pixels and horizontal flip: the usual CIFAR recipe."""
        return cls(crop_padding=padding, hflip=True)

    @property
    def active(self) -> bool:
        return bool(self.crop_padding or self.hflip or self.cutout)


@contextlib.contextmanager
def torch_threads(n: int | None):
    """Torch's intra-op threads set to ``n`` for the block (``0``/None: left as they are), restored
    after it. Results depend on the count (float32 sums in another order), so runs that must be
    reproducible fix it."""
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def derive_seed(*words: int) -> int:
    """A 64-bit seed that is a pure function of non-negative integers (``numpy.random.SeedSequence``).

    Use distinct leading tags for distinct purposes (e.g. ``derive_seed(3, seed, epoch, batch)`` for the
    rate encoder) so streams never coincide.
    """
    return int(np.random.SeedSequence(list(words)).generate_state(1, np.uint64)[0])


def random_crop(x: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Crop a random ``H x W`` window from each image of ``x`` ``[B, C, H, W]`` zero-padded by ``padding``.

    Offsets are drawn on the CPU from ``generator`` (so results do not depend on ``x.device``).
    Returns a new ``[B, C, H, W]`` tensor on ``x.device``.
    """
    if padding == 0:
        return x
    b, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(x.device)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator).to(x.device)
    rows = dy[:, None] + torch.arange(h, device=x.device)            # [B, H]
    cols = dx[:, None] + torch.arange(w, device=x.device)            # [B, W]
    batch = torch.arange(b, device=x.device)[:, None, None]
    out = padded[batch, :, rows[:, :, None], cols[:, None, :]]       # [B, H, W, C]
    return out.permute(0, 3, 1, 2).contiguous()


def horizontal_flip(x: torch.Tensor, generator: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """Flip each image of ``x`` ``[B, C, H, W]`` along W with probability ``p`` (draws on the CPU)."""
    flip = (torch.rand(x.shape[0], generator=generator) < p).to(x.device)
    return torch.where(flip[:, None, None, None], x.flip(-1), x)


def cutout(x: torch.Tensor, length: int, generator: torch.Generator) -> torch.Tensor:
    """Zero one ``length x length`` square per image of ``x`` ``[B, C, H, W]`` (DARTS' ``Cutout``).

    The centre is uniform over the image; the square is clipped at the borders.
    """
    if length == 0:
        return x
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b,), generator=generator).to(x.device)
    cx = torch.randint(0, w, (b,), generator=generator).to(x.device)
    ys = torch.arange(h, device=x.device)[None, :]
    xs = torch.arange(w, device=x.device)[None, :]
    in_y = (ys >= (cy - length // 2)[:, None]) & (ys < (cy + length // 2)[:, None])   # [B, H]
    in_x = (xs >= (cx - length // 2)[:, None]) & (xs < (cx + length // 2)[:, None])   # [B, W]
    keep = ~(in_y[:, :, None] & in_x[:, None, :])
    return x * keep[:, None].to(x.dtype)


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """``(x - mean[c]) / std[c]`` per channel of ``x`` ``[..., C, H, W]``.

    Raises:
        DatasetError: ``mean``/``std`` length differs from C, or a std is not positive.
    """
    c = x.shape[-3]
    if len(mean) != c or len(std) != c or min(std) <= 0:
        raise DatasetError(f"normalize needs {c} means and {c} positive stds, got mean={tuple(mean)}, "
                           f"std={tuple(std)}")
    m = torch.as_tensor(mean, dtype=x.dtype, device=x.device)[:, None, None]
    s = torch.as_tensor(std, dtype=x.dtype, device=x.device)[:, None, None]
    return (x - m) / s


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    """Number of batches :func:`batches` yields for ``n`` samples."""
    return n // batch_size if drop_last else -(-n // batch_size)


def batches(x: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool = True, seed: int = 0,
            epoch: int = 0, augment: Augment | None = None, mean: Sequence[float] | None = None,
            std: Sequence[float] | None = None, drop_last: bool = False, start: int = 0,
            device: torch.device | str | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield ``(images, labels)`` mini-batches of one epoch as torch tensors.

    Args:
        x: float32 images ``[N, C, H, W]`` in ``[0, 1]``; y: int64 labels ``[N]`` (e.g. ``Dataset.train_x``).
        batch_size: images per batch; the last batch is smaller unless ``drop_last``.
        shuffle: permute with ``default_rng([1, seed, epoch])``; else keep the stored order.
        seed, epoch: the batch order and augmentations are a pure function of ``(seed, epoch)``.
        augment: crop / flip / cutout (see :class:`Augment`); None = none (use it for evaluation).
        mean, std: per-channel normalisation (e.g. ``Dataset.mean``/``std``); None = leave ``[0, 1]``.
        start: skip the first ``start`` batches (resume mid-epoch); later batches are unchanged.
        device: where the tensors go (augmentation runs there).

    Yields:
        float32 ``[B, C, H, W]`` and int64 ``[B]`` tensors.

    Raises:
        DatasetError: mismatched or wrongly typed arrays, ``batch_size < 1``, negative seed/epoch/start.
    """
    if not (isinstance(x, np.ndarray) and isinstance(y, np.ndarray) and x.ndim == 4 and y.ndim == 1
            and len(x) == len(y)):
        raise DatasetError(f"batches needs images [N, C, H, W] and labels [N] as numpy arrays, got "
                           f"{getattr(x, 'shape', type(x).__name__)} and "
                           f"{getattr(y, 'shape', type(y).__name__)}")
    if batch_size < 1 or seed < 0 or epoch < 0 or start < 0:
        raise DatasetError(f"batches needs batch_size >= 1 and seed, epoch, start >= 0, got "
                           f"batch_size={batch_size}, seed={seed}, epoch={epoch}, start={start}")
    if (mean is None) != (std is None):
        raise DatasetError("give both mean and std, or neither")
    n = len(y)
    order = np.random.default_rng([_SHUFFLE, seed, epoch]).permutation(n) if shuffle else np.arange(n)
    for index in range(start, num_batches(n, batch_size, drop_last)):
        idx = order[index * batch_size:(index + 1) * batch_size]
        xb = torch.from_numpy(x[idx].astype(np.float32, copy=False)).to(device)  # fancy index: a copy
        yb = torch.from_numpy(y[idx].astype(np.int64, copy=False)).to(device)
        gen = None
        if augment is not None and augment.active:
            gen = torch.Generator().manual_seed(derive_seed(_AUGMENT, seed, epoch, index))
            xb = random_crop(xb, augment.crop_padding, gen)
            if augment.hflip:
                xb = horizontal_flip(xb, gen)
        if mean is not None:
            xb = normalize(xb, mean, std)
        if gen is not None and augment.cutout:
            xb = cutout(xb, augment.cutout, gen)
        yield xb, yb
