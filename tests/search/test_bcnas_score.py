"""N-score and E-score of BCNAS-SNN architectures (section 4.2.2) on a tiny ResNet-18 and real
images (scikit-learn's 8x8 digits): equal to scoring the genome by hand, deterministic, and
different for different connections."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from snnc.compiler import compile_genome
from snnc.errors import SearchError
from snnc.genome import parse
from snnc.runtime.data import load_digits
from snnc.search.bcnas_score import candidate_graph, score_architectures
from snnc.search.bcnas_space import Architecture, select_initial, to_genome
from snnc.search.proxies import score_graph
from tests.frontend.test_resnet import text

pytestmark = pytest.mark.slow  # three ResNet-18s scored: ~10 s on two cores

ARCHS = [Architecture(), Architecture.of([(16, 0)]), Architecture.of([(4, 1), (12, 3)])]


def batch(n: int = 32):
    ds = load_digits()
    x = (ds.train_x[:n] - ds.mean[0]) / ds.std[0]
    return torch.from_numpy(x), ds.train_y[:n]


@pytest.fixture(scope="module")
def setup():
    backbone = parse(text(18, channels=2, T=2, inp="1x8x8", classes=10))
    data = [batch()]
    return backbone, data, score_architectures(ARCHS, backbone, data)


def test_scores_equal_scoring_each_genome(setup):
    backbone, data, scores = setup
    assert len(scores) == 3 and all(set(s) >= {"sahd", "escore"} for s in scores)
    base = compile_genome(backbone, target="train", seed=0).graph
    g = candidate_graph(ARCHS[2], backbone, base=base)
    assert score_graph(g, data, kinds=("sahd", "escore")) == scores[2]  # and deterministic


def test_every_candidate_carries_the_backbones_weights(setup):
    backbone = setup[0]
    base = compile_genome(backbone, target="train", seed=0).graph
    g = candidate_graph(ARCHS[2], backbone, base=base)
    own = {n.name for n in g if n.name not in set(base.nodes)}
    assert own and all(".back" in name for name in own)
    for n in base:
        for k, v in n.params.items():
            assert np.array_equal(g[n.name].params[k], v), (n.name, k)
    # lowering alone is not enough: the head is initialised after the connections
    alone = compile_genome(to_genome(ARCHS[2], backbone), target="train", seed=0).graph
    assert not np.array_equal(alone["head.fc"].params["weight"], base["head.fc"].params["weight"])


def test_connections_change_the_scores_and_feed_the_merge(setup):
    _, _, scores = setup
    n = [s["sahd"] for s in scores]
    e = [s["escore"] for s in scores]
    assert all(math.isfinite(v) for v in n + e)
    assert len(set(n)) == 3 and len(set(e)) == 3
    pool = select_initial(ARCHS, n, e, 1, 1)
    assert pool[0] == ARCHS[int(np.argmax(n))] and ARCHS[int(np.argmax(e))] in pool


def test_an_architecture_outside_the_space_is_refused(setup):
    backbone, data, _ = setup
    with pytest.raises(SearchError, match="out of range"):
        score_architectures([Architecture.of([(17, 0)])], backbone, data)
