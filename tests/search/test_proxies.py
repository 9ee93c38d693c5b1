"""Training-free scores (SNASNet eq. 4-9, BCNAS-SNN eq. 9-15): kernels against a per-pair
brute force of the paper's equations, batch-order invariance, discrimination between clearly
different architectures, the E-score against its formula."""
import dataclasses
import math
from functools import lru_cache

import numpy as np
import pytest
import torch

from snnc.compiler import compile_genome
from snnc.errors import SnncError
from snnc.genome import make_spec
from snnc.runtime.data import load_digits
from snnc.search.proxies import (epe_score, hd_kernel, log_abs_det, naswot_kernels,
                                 pattern_stats, sahd_kernel, score_graph)
from snnc.search.spaces import SttsSpace

ALPHA = 0.5


# ------------------------------------------------------------------ brute force of the paper
def brute_kernels(codes: np.ndarray, alpha: float = ALPHA):
    """K_H (eq. 4) and K_SAH (eq. 9) pair by pair, straight from the equations."""
    n, a = codes.shape
    kh = np.zeros((n, n))
    ks = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            d = sum(int(codes[i, k] != codes[j, k]) for k in range(a))
            ri = sum(1 for k in range(a) if codes[i, k] == 0) / a  # sparsity: share of zeros
            rj = sum(1 for k in range(a) if codes[j, k] == 0) / a
            p = ri * (1 - rj) + (1 - ri) * rj                     # eq. 7
            dsah = alpha / p * d if p > 0 else 0.0                # eq. 9 (p = 0 only if equal)
            kh[i, j] = a - d
            ks[i, j] = a - dsah
    return kh, ks


def random_codes(rng, n=7, a=9):
    c = (rng.random((n, a)) < rng.uniform(0.05, 0.95, size=(n, 1))).astype(np.int64)
    c[0] = 0  # an all-silent sample
    c[1] = 1  # a sample where every neuron fires
    c[2] = c[3]  # two identical samples
    return c


@pytest.mark.parametrize("seed", range(8))
def test_kernels_equal_per_pair_brute_force(seed):
    codes = random_codes(np.random.default_rng(seed))
    kh, ks = brute_kernels(codes)
    st = pattern_stats(codes)
    np.testing.assert_allclose(hd_kernel(st), kh, rtol=0, atol=1e-12)
    np.testing.assert_allclose(sahd_kernel(st, ALPHA), ks, rtol=1e-12, atol=1e-12)
    assert np.array_equal(sahd_kernel(st), sahd_kernel(st).T)  # exactly symmetric


def test_summed_kernels_over_layers_and_steps_equal_brute_force():
    rng = np.random.default_rng(3)
    records = {"a": torch.from_numpy((rng.random((3, 6, 2, 2, 2)) < 0.3).astype(np.float32)),
               "b": torch.from_numpy((rng.random((3, 6, 5)) < 0.6).astype(np.float32))}
    want_h, want_s = np.zeros((6, 6)), np.zeros((6, 6))
    for spikes in records.values():
        for t in range(3):
            kh, ks = brute_kernels(spikes[t].reshape(6, -1).numpy().astype(np.int64))
            want_h += kh
            want_s += ks
    got = naswot_kernels(records)
    np.testing.assert_allclose(got["hd"], want_h, atol=1e-10)
    np.testing.assert_allclose(got["sahd"], want_s, atol=1e-10)


def test_sahd_entries_lie_between_zero_and_neurons_with_alpha_half():
    rng = np.random.default_rng(0)
    for _ in range(50):
        codes = random_codes(rng, n=10, a=int(rng.integers(1, 40)))
        k = sahd_kernel(pattern_stats(codes))
        assert k.min() >= -1e-9 and k.max() <= codes.shape[1] + 1e-9
        assert np.all(np.diag(k) == codes.shape[1])


def test_sahd_is_not_the_constant_kernel_on_independent_codes():
    # Independent Bernoulli codes of very different firing rates: HD-based entries spread with
    # the rates, SAHD entries sit near N_A / 2 off the diagonal and N_A on it, not N_A 11^T.
    rng = np.random.default_rng(1)
    a = 4000
    rates = np.linspace(0.02, 0.9, 12)[:, None]
    st = pattern_stats((rng.random((12, a)) < rates).astype(np.float32))
    k = sahd_kernel(st) / a
    off = k[~np.eye(12, dtype=bool)]
    assert abs(off.mean() - 0.5) < 0.02 and off.std() < 0.03
    assert np.all(np.diag(k) == 1.0)
    assert hd_kernel(st)[~np.eye(12, dtype=bool)].std() / a > 0.1
    # the trap (REFERENCE-NOTES, the authors' code): subtracting the dimensionless
    # 0.5 d_H / (N_A p + 1e-3) from N_A leaves N_A 11^T + ~0.5 I, the same for every network
    d = st.fired[:, None] + st.fired[None, :] - 2 * st.gram
    p = (1 - st.fired / a)[:, None] * (st.fired / a)[None, :]
    p = p + p.T
    trap = a - 0.5 * d / (a * p + 1e-3)
    assert np.abs(trap / a - 1).max() < 1e-3


def test_log_abs_det():
    k = np.array([[2.0, 1.0], [1.0, -3.0]])
    assert math.isclose(log_abs_det(k), math.log(7.0), rel_tol=1e-12)
    assert log_abs_det(np.ones((3, 3))) == float("-inf")


def test_pattern_stats_rejects_bad_shapes():
    with pytest.raises(SnncError, match=r"\[N, neurons\]"):
        pattern_stats(np.zeros((2, 3, 4)))
    with pytest.raises(SnncError, match="no spiking neuron layer"):
        naswot_kernels({})


# ------------------------------------------------------------------ E-score
def epe_reference(jac, labels, classes, k=1e-5):
    """EPE-NAS as the equations read, with numpy's corrcoef for eq. 11-13."""
    e = []
    for c in np.unique(labels):
        rows = jac[labels == c]
        corr = np.corrcoef(rows) if len(rows) > 1 else np.ones((1, 1))
        s = np.log(np.abs(corr) + k).sum()
        e.append(s / corr.size if classes > 100 else s)
    e = np.asarray(e)
    if classes <= 100:
        return np.abs(e).sum()
    return sum(abs(e[i] - e[j]) for i in range(len(e)) for j in range(i, len(e))) / len(e)


@pytest.mark.parametrize("classes", [3, 150])
def test_escore_equals_its_formula(classes):
    rng = np.random.default_rng(classes)
    jac = rng.normal(size=(20, 13))
    labels = rng.integers(0, 4, size=20)
    labels[0] = 5  # a class with one sample
    assert math.isclose(epe_score(jac, labels, classes=classes),
                        epe_reference(jac, labels, classes), rel_tol=1e-10)


def test_escore_rewards_decorrelated_gradients_and_is_nan_for_constant_ones():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(2), 8)
    base = rng.normal(size=(1, 30))
    similar = base + 0.01 * rng.normal(size=(16, 30))
    assert epe_score(rng.normal(size=(16, 30)), labels) > 10 * epe_score(similar, labels)
    flat = rng.normal(size=(16, 30))
    flat[3] = 0.0
    assert math.isnan(epe_score(flat, labels))
    with pytest.raises(SnncError, match="Jacobian"):
        epe_score(np.zeros((3, 2)), np.zeros(4))


# ------------------------------------------------------------------ on networks
@lru_cache(maxsize=None)
def digits_batch(n=48):
    ds = load_digits()
    x = (ds.train_x[:n] - ds.mean[0]) / ds.std[0]
    return torch.from_numpy(x), ds.train_y[:n]


def stts_graph(seed, channels=8, T=3, **neuron):
    space = SttsSpace(channels, T, (1, 8, 8), 10)
    genome = space.sample(seed).genome
    if neuron:
        genome = dataclasses.replace(genome, neuron=make_spec("lif", tau=4 / 3, **neuron))
    return compile_genome(genome, passes="none").graph


def test_scores_do_not_depend_on_batch_order():
    torch.manual_seed(0)
    x, y = digits_batch()
    perm = np.random.default_rng(0).permutation(len(y))
    g = stts_graph(2)
    kinds = ("sahd", "hd", "escore")
    a = score_graph(g, [(x, y)], kinds=kinds, dtype=torch.float64)
    b = score_graph(g, [(x[perm], y[perm])], kinds=kinds, dtype=torch.float64)
    assert set(a) == set(kinds)
    for k in kinds:
        assert math.isfinite(a[k])
        assert math.isclose(a[k], b[k], rel_tol=1e-9), k


def test_clearly_different_architectures_get_clearly_different_scores():
    x, y = digits_batch()
    scores = [score_graph(stts_graph(s), [(x, y)], kinds=("sahd",))["sahd"] for s in range(5)]
    assert len(set(np.round(scores, 6))) == 5
    assert max(scores) - min(scores) > 2.0  # log units: a factor e^2 in the determinant
    # a wider network of the same topology represents more: its score is far higher
    wide = score_graph(stts_graph(0, channels=32), [(x, y)], kinds=("sahd",))["sahd"]
    assert wide > scores[0] + 50
    # a network whose neurons never fire cannot tell any two samples apart
    silent = score_graph(stts_graph(0, v_th=1e6), [(x, y)], kinds=("sahd", "hd"))
    assert silent == {"sahd": float("-inf"), "hd": float("-inf")}


def test_repeats_average_and_running_bn_option():
    x, y = digits_batch(64)
    g = stts_graph(1)
    one = score_graph(g, [(x[:32], y[:32])])["sahd"]
    two = score_graph(g, [(x[:32], y[:32]), (x[32:], y[32:])])["sahd"]
    other = score_graph(g, [(x[32:], y[32:])])["sahd"]
    assert math.isclose(two, (one + other) / 2, rel_tol=1e-12)
    assert score_graph(g, [(x[:32], y[:32])], bn="running")["sahd"] != one
    with pytest.raises(SnncError, match="unknown score"):
        score_graph(g, [(x, y)], kinds=("naswot",))
    with pytest.raises(SnncError, match="bn must be"):
        score_graph(g, [(x, y)], bn="frozen")


# ------------------------------------------------------------------ the authors' protocol
def brute_code_kernel(codes: np.ndarray) -> np.ndarray:
    """The authors' kernel pair by pair: N_A - 0.5 d_H / (N_A (s_i (1-s_j) + (1-s_i) s_j) + 1e-3)
    with s the per-sample firing rate (REFERENCE-NOTES, SNASNet)."""
    n, a = codes.shape
    k = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            d = sum(int(codes[i, m] != codes[j, m]) for m in range(a))
            si, sj = codes[i].sum() / a, codes[j].sum() / a
            k[i, j] = a - 0.5 * d / (a * (si * (1 - sj) + (1 - si) * sj) + 1e-3)
    return k


def test_code_protocol_kernel_is_the_authors_averaged_over_calls():
    rng = np.random.default_rng(3)
    layers = {"a": torch.from_numpy((rng.random((2, 6, 5)) < 0.4).astype(np.float32)),
              "b": torch.from_numpy((rng.random((2, 6, 3, 2)) < 0.2).astype(np.float32))}
    want = sum(brute_code_kernel(v[t].reshape(6, -1).numpy()) for v in layers.values()
               for t in range(2)) / 4
    got = naswot_kernels(layers, protocol="code")["sahd"]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    paper = naswot_kernels(layers)["sahd"]
    assert not np.allclose(paper / 4, got)  # a different kernel, not only a different scale
    with pytest.raises(SnncError, match="protocol"):
        naswot_kernels(layers, protocol="both")


def test_code_protocol_uses_per_step_batchnorm_statistics():
    """The paper protocol pools BatchNorm statistics over T x B; the code's runs each step with
    its own batch statistics: on a network whose BN sees different inputs at each step (behind a
    neuron) the kernels differ."""
    x, y = digits_batch()
    g = stts_graph(1)
    paper = score_graph(g, [(x, y)], kinds=("hd",), dtype=torch.float64)["hd"]
    code = score_graph(g, [(x, y)], kinds=("hd",), dtype=torch.float64, protocol="code")["hd"]
    assert math.isfinite(paper) and math.isfinite(code) and paper != code


def test_every_spiking_neuron_is_probed():
    """A network of PLIF (and ALIF) neurons scores (before, only LIF was recorded)."""
    x, y = digits_batch()
    space = SttsSpace(8, 3, (1, 8, 8), 10)
    for model, extra in (("plif", {"tau": 2.0}), ("alif", {"tau": 2.0})):
        genome = dataclasses.replace(space.sample(1).genome, neuron=make_spec(model, **extra))
        g = compile_genome(genome, passes="none").graph
        assert {n.op for n in g} & {"PLIF", "ALIF"}
        s = score_graph(g, [(x, y)], kinds=("sahd",))["sahd"]
        assert math.isfinite(s)


def test_search_config_repeats_follow_the_protocol():
    from snnc.search.snasnet import SearchConfig

    assert SearchConfig().repeats == 1 and SearchConfig(protocol="code").repeats == 2
    assert SearchConfig(protocol="code", repeats=3).repeats == 3
    from snnc.errors import SearchError
    with pytest.raises(SearchError, match="protocol"):
        SearchConfig(protocol="theirs")
