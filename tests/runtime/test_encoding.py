"""Direct and rate (Bernoulli) input encoding."""
import pytest
import torch

from snnc.errors import DatasetError
from snnc.runtime.encoding import ENCODINGS, direct_encode, encode, rate_encode


def test_direct_repeats_without_copying():
    x = torch.rand(4, 1, 3, 3)
    out = direct_encode(x, 5)
    assert out.shape == (5, 4, 1, 3, 3) and out.data_ptr() == x.data_ptr()
    assert all(torch.equal(out[t], x) for t in range(5))
    assert encode(x, 5, "direct", repeat=False) is x
    assert torch.equal(encode(x, 5), out)


def test_rate_statistics_match_intensity():
    intensity = torch.linspace(0, 1, 11).reshape(1, 11).repeat(50, 1)  # [B=50, 11]
    steps = 400
    spikes = rate_encode(intensity, steps, seed=0)
    assert spikes.shape == (steps, 50, 11) and spikes.dtype == torch.float32
    assert set(spikes.unique().tolist()) <= {0.0, 1.0}
    rate = spikes.mean(dim=(0, 1))  # 20 000 Bernoulli draws per intensity
    p = intensity[0]
    sigma = torch.sqrt(p * (1 - p) / (steps * 50))
    assert (rate - p).abs().le(4 * sigma + 1e-9).all(), (rate, p)
    assert rate[0] == 0 and rate[-1] == 1  # 0 never fires, 1 always fires


def test_rate_is_deterministic_for_a_seed():
    x = torch.rand(8, 3, 4, 4, generator=torch.Generator().manual_seed(3))
    a = rate_encode(x, 6, seed=11)
    assert torch.equal(a, rate_encode(x, 6, seed=11))
    assert torch.equal(a, encode(x, 6, "rate", generator=torch.Generator().manual_seed(11)))
    assert not torch.equal(a, rate_encode(x, 6, seed=12))
    assert not torch.equal(a[0], a[1])  # fresh draws at every step


def test_errors():
    x = torch.rand(2, 3)
    assert ENCODINGS == ("direct", "rate")
    with pytest.raises(DatasetError, match="intensities in \\[0, 1\\]"):
        rate_encode(x - 1, 4, seed=0)
    with pytest.raises(DatasetError, match="floating-point"):
        rate_encode(torch.ones(2, dtype=torch.int64), 4)
    with pytest.raises(DatasetError, match="T must be an integer >= 1"):
        direct_encode(x, 0)
    with pytest.raises(DatasetError, match="not both"):
        rate_encode(x, 2, torch.Generator(), seed=1)
    with pytest.raises(DatasetError, match="repeat=False is only"):
        encode(x, 2, "rate", repeat=False)
    with pytest.raises(DatasetError, match="unknown input encoding 'poisson'"):
        encode(x, 2, "poisson")
