"""Batch iterator: order and augmentation are pure functions of (seed, epoch, batch); augment semantics."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from snnc.errors import DatasetError
from snnc.runtime.loader import (Augment, batches, cutout, derive_seed, horizontal_flip, normalize,
                                 num_batches, random_crop)


def data(n=50, c=3, h=6, w=5, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, c, h, w), dtype=np.float32), np.arange(n, dtype=np.int64)


def run(x, y, **kw):
    return [(xb.clone(), yb.clone()) for xb, yb in batches(x, y, 8, **kw)]


def test_epoch_covers_every_sample_once():
    x, y = data()
    out = run(x, y, seed=1, epoch=0)
    assert [len(b) for _, b in out] == [8] * 6 + [2] == [8] * (num_batches(50, 8) - 1) + [2]
    labels = torch.cat([b for _, b in out])
    assert sorted(labels.tolist()) == list(range(50))
    for xb, yb in out:  # without augmentation images are passed through untouched
        assert xb.dtype == torch.float32 and yb.dtype == torch.int64
        np.testing.assert_array_equal(xb.numpy(), x[yb.numpy()])
    assert len(run(x, y, drop_last=True)) == 6 == num_batches(50, 8, drop_last=True)


def test_order_is_a_pure_function_of_seed_and_epoch():
    x, y = data()
    aug = Augment(crop_padding=2, hflip=True, cutout=3)
    a = run(x, y, seed=7, epoch=3, augment=aug)
    b = run(x, y, seed=7, epoch=3, augment=aug)
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    other_epoch = torch.cat([yb for _, yb in run(x, y, seed=7, epoch=4)])
    other_seed = torch.cat([yb for _, yb in run(x, y, seed=8, epoch=3)])
    this = torch.cat([yb for _, yb in a])
    assert not torch.equal(this, other_epoch) and not torch.equal(this, other_seed)


def test_resume_mid_epoch_gives_the_same_batches():
    x, y = data()
    aug = Augment.standard(padding=2)
    full = run(x, y, seed=2, epoch=5, augment=aug)
    tail = run(x, y, seed=2, epoch=5, augment=aug, start=4)
    assert len(tail) == len(full) - 4
    for (xa, ya), (xb, yb) in zip(full[4:], tail):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_no_shuffle_keeps_order_and_normalizes():
    x, y = data()
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.5)
    out = run(x, y, shuffle=False, mean=mean, std=std)
    assert torch.cat([b for _, b in out]).tolist() == list(range(50))
    xs = torch.cat([a for a, _ in out])
    expected = (x - np.array(mean, np.float32)[:, None, None]) / np.array(std, np.float32)[:, None, None]
    np.testing.assert_allclose(xs.numpy(), expected, rtol=1e-6)


def test_batches_do_not_alias_the_dataset():
    x, y = data()
    x0 = x.copy()
    for xb, _ in batches(x, y, 8, shuffle=False):
        xb.fill_(-1)
    np.testing.assert_array_equal(x, x0)


def test_random_crop_is_a_shifted_window_of_the_padded_image():
    x = torch.rand(16, 2, 5, 7, generator=torch.Generator().manual_seed(0)) + 0.1  # no zeros inside
    out = random_crop(x, 2, torch.Generator().manual_seed(1))
    assert out.shape == x.shape
    padded = F.pad(x, (2, 2, 2, 2))
    offsets = set()
    for i in range(16):
        matches = [(dy, dx) for dy in range(5) for dx in range(5)
                   if torch.equal(out[i], padded[i, :, dy:dy + 5, dx:dx + 7])]
        assert len(matches) == 1
        offsets.add(matches[0])
    assert len(offsets) > 1
    assert random_crop(x, 0, torch.Generator()) is x


def test_flip_and_cutout():
    x = torch.rand(64, 1, 4, 6)
    flipped = horizontal_flip(x, torch.Generator().manual_seed(0))
    same = [torch.equal(flipped[i], x[i]) for i in range(64)]
    for i in range(64):
        assert same[i] or torch.equal(flipped[i], x[i].flip(-1))
    assert 16 < sum(same) < 48
    x = torch.ones(32, 3, 10, 10)
    cut = cutout(x, 4, torch.Generator().manual_seed(0))
    zeros = (cut == 0).all(dim=1)  # same square in every channel
    assert ((cut == 0) == zeros[:, None]).all()
    per_image = zeros.sum(dim=(1, 2))
    assert per_image.max() == 16 and per_image.min() >= 4  # clipped at borders: at least 2x2


def test_augment_shapes_on_cifar_sized_batch():
    x, y = data(n=20, c=3, h=32, w=32)
    xb, yb = next(batches(x, y, 20, augment=Augment(crop_padding=4, hflip=True, cutout=16),
                          mean=(0.5,) * 3, std=(0.25,) * 3))
    assert xb.shape == (20, 3, 32, 32) and yb.shape == (20,)


def test_errors():
    x, y = data()
    with pytest.raises(DatasetError, match="batch_size >= 1"):
        next(batches(x, y, 0))
    with pytest.raises(DatasetError, match="labels"):
        next(batches(x, y[:-1], 4))
    with pytest.raises(DatasetError, match="both mean and std"):
        next(batches(x, y, 4, mean=(0.5,) * 3))
    with pytest.raises(DatasetError, match="3 means and 3 positive stds"):
        normalize(torch.zeros(1, 3, 2, 2), (0.0,), (1.0,))
    with pytest.raises(DatasetError, match=">= 0"):
        Augment(crop_padding=-1)
    assert not Augment().active and Augment.standard().crop_padding == 4


def test_derive_seed_is_stable():
    assert derive_seed(2, 0, 0, 0) == derive_seed(2, 0, 0, 0) != derive_seed(2, 0, 0, 1)
    assert 0 <= derive_seed(1, 2**40) < 2**64
