"""Weight initialisation: PyTorch's defaults, deterministic in the seed, float64."""
from __future__ import annotations

import numpy as np
import pytest

from snnc.frontend import init

from .genomes import HEADER, lowered

WIDE = HEADER.format(name="wide", T=1, input="16x4x4", classes=10) + """\
stage s1 node channels=64 conv=separable
stage s2 node channels=64
classifier head channels=0 vote=0
"""


def test_same_seed_same_params_other_seed_other_params():
    a, b, c = lowered(seed=3), lowered(seed=3), lowered(seed=4)
    assert list(a.nodes) == list(c.nodes)
    for name, node in a.nodes.items():
        assert node.params.keys() == c[name].params.keys()
        for key, value in node.params.items():
            assert value.dtype == np.float64
            assert np.array_equal(value, b[name].params[key])
            if node.op in ("Conv2d", "Linear"):
                assert not np.array_equal(value, c[name].params[key]), (name, key)


@pytest.mark.parametrize("name, fan_in, size", [
    ("s1.dw", 1 * 3 * 3, 16 * 9),          # depthwise: groups = C_in
    ("s1.pw", 16, 64 * 16),
    ("s2.conv", 64 * 3 * 3, 64 * 64 * 9),
    ("head.fc", 64, 10 * 64),
])
def test_uniform_bound_is_one_over_sqrt_fan_in(name, fan_in, size):
    node = lowered(WIDE)[name]
    bound = 1 / np.sqrt(fan_in)
    w, b = node.params["weight"], node.params["bias"]
    assert w.size == size
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.9 * bound
    if size > 5000:  # U(-b, b): mean 0, std b / sqrt(3)
        assert abs(w.mean()) < 0.02 * bound
        assert w.std() == pytest.approx(bound / np.sqrt(3), rel=0.03)


def test_batchnorm_starts_as_identity_statistics():
    bn = lowered(WIDE)["s2.bn"].params
    assert np.array_equal(bn["weight"], np.ones(64)) and np.array_equal(bn["bias"], np.zeros(64))
    assert np.array_equal(bn["running_mean"], np.zeros(64))
    assert np.array_equal(bn["running_var"], np.ones(64))


def test_init_helpers_shapes_and_no_bias():
    rng = np.random.default_rng(0)
    p = init.conv2d_params(rng, 6, 4, 3, groups=2, bias=False)
    assert list(p) == ["weight"] and p["weight"].shape == (4, 3, 3, 3)
    q = init.linear_params(rng, 7, 2)
    assert q["weight"].shape == (2, 7) and q["bias"].shape == (2,)
    assert init.fan_in_bound(0) == 0.0
