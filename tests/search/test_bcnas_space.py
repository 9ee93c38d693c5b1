"""BCNAS-SNN search space and evolution operators (sections 4.2.1-4.2.3, Fig. 4-5): the size
formula against a brute-force enumeration, uniform sampling by chi-square over many draws, genome
round trips, mutation (distance limit, one port, 1/distance probabilities measured), crossover
(swap, addition, refusals), the alpha/beta gates measured, the evolution step and the top-k and
initial-pool merges."""
from __future__ import annotations

import itertools
import math
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from snnc.errors import SearchError
from snnc.frontend import lower
from snnc.genome import genome_id, parse, parse_file, to_text
from snnc.genome.resnet import port_names
from snnc.search.bcnas_space import (Architecture, BcSpace, crossover, evolve, from_genome,
                                     mutate, mutation_distribution, select_initial, space_of,
                                     space_size, to_genome, update_top)
from tests.frontend.test_resnet import ZOO, text

# chi-square 0.9999 quantiles (scipy.stats.chi2.ppf(0.9999, df)), so a correct sampler fails one
# run in 10,000 and a biased one (e.g. uniform over sizes) fails always.
CHI2_9999 = {7: 29.878, 8: 31.828, 21: 53.962}


def brute_space(m: int, b: int, include_empty: bool = True) -> set[frozenset]:
    """Every set of at most b pairs (j, i), j >= i, among m ports: all subsets of the m x m grid
    filtered, independent of the module's enumeration."""
    pairs = [(j, i) for j in range(m) for i in range(m) if j >= i]
    out = set()
    for bits in itertools.product((0, 1), repeat=len(pairs)):
        s = frozenset(p for p, keep in zip(pairs, bits) if keep)
        if len(s) <= b and (s or include_empty):
            out.add(s)
    return out


def chi2(counts: Counter, expected: dict) -> float:
    assert set(counts) <= set(expected)
    return sum((counts.get(k, 0) - e) ** 2 / e for k, e in expected.items())


# ------------------------------------------------------------------ the space
@pytest.mark.parametrize("m", [1, 2, 3, 4])
@pytest.mark.parametrize("b", [0, 1, 2, 3])
def test_space_size_formula_equals_brute_force(m, b):
    assert space_size(m, b) == len(brute_space(m, b))
    if b:
        assert space_size(m, b, include_empty=False) == len(brute_space(m, b, False))
        space = BcSpace(m, b)
        assert {frozenset(a.connections) for a in
                (Architecture.of(c) for k in range(b + 1)
                 for c in itertools.combinations(space.connections, k))} == brute_space(m, b)


def test_space_size_of_the_resnets():
    assert space_size(17, 2) == 1 + 153 + 153 * 152 // 2 == 11782  # the paper's i = 0..b
    assert BcSpace(17).n == 153 and BcSpace(17).size == 11782
    assert space_size(17, 2, include_empty=False) == 11781


def test_uniform_sampling_over_architectures():
    space, draws = BcSpace(3, 2), 22000  # n = 6, |A| = 1 + 6 + 15 = 22
    rng = np.random.default_rng(7)
    counts = Counter(frozenset(space.sample(rng).connections) for _ in range(draws))
    everything = brute_space(3, 2)
    assert set(counts) == everything
    assert chi2(counts, {a: draws / 22 for a in everything}) < CHI2_9999[21]
    # uniform over sizes instead (1/3 each) would give the empty set ~7333 draws, not ~1000
    assert abs(counts[frozenset()] - 1000) < 4.5 * math.sqrt(draws * (1 / 22) * (21 / 22))


def test_sampling_is_seeded_and_distinct_sampling_excludes():
    space = BcSpace(17)
    a = [space.sample(np.random.default_rng(3)) for _ in range(3)]
    assert a[0] == a[1] == a[2]
    rng = np.random.default_rng(4)
    first = space.sample_distinct(rng, 50)
    assert len(set(first)) == 50
    assert not set(space.sample_distinct(rng, 50, exclude=first)) & set(first)
    small = BcSpace(2, 1)  # {}, {0->0}, {1->0}, {1->1}
    assert sorted(small.sample_distinct(rng, 10, exclude=[Architecture()])) == [
        Architecture(((0, 0),)), Architecture(((1, 0),)), Architecture(((1, 1),))]


def test_architecture_is_canonical_and_checked():
    assert Architecture.of([(8, 0), (3, 1)]) == Architecture.of([(3, 1), (8, 0)])
    assert Architecture.of([(8, 0), (3, 1)]).connections == ((3, 1), (8, 0))
    assert str(Architecture.of([(8, 0), (3, 1)])) == "3 -> 1, 8 -> 0"
    for bad in [((8, 0), (3, 1)), ((1, 2),), ((0, -1),), ((1, 0), (1, 0)), ((1.0, 0),)]:
        with pytest.raises(SearchError):
            Architecture(bad)
    with pytest.raises(SearchError, match="duplicate"):
        Architecture.of([(1, 0), (1, 0)])
    space = BcSpace(4, 2, include_empty=False)
    with pytest.raises(SearchError, match="port 4 out of range"):
        space.check(Architecture.of([(4, 0)]))
    with pytest.raises(SearchError, match="3 backward connections"):
        space.check(Architecture.of([(1, 0), (2, 0), (3, 0)]))
    with pytest.raises(SearchError, match="allows 1..2"):
        space.check(Architecture())
    with pytest.raises(SearchError, match="m must be"):
        BcSpace(0)


# ------------------------------------------------------------------ genomes
def backbone(depth: int = 18):
    return parse(text(depth, channels=2))


def test_genome_round_trip_and_ids():
    bb = backbone()
    assert space_of(bb).m == len(port_names("r", 18)) == 17
    archs = BcSpace(17).sample_distinct(np.random.default_rng(0), 40)
    genomes = [to_genome(a, bb) for a in archs]
    assert [from_genome(g) for g in genomes] == archs
    assert len({genome_id(g) for g in genomes}) == 40
    assert genome_id(to_genome(archs[0], bb)) == genome_id(genomes[0])
    for g in genomes[:5]:
        assert parse(to_text(g)) == g
    g = to_genome(Architecture.of([(8, 0), (3, 1)]), bb)
    assert g == parse(text(18, "back 3 -> 1 @1 ; back 8 -> 0 @1", channels=2))  # hand-written
    assert from_genome(parse_file(ZOO / "resnet18-bc.genome")) == Architecture.of([(3, 1), (8, 0)])
    assert from_genome(bb) == Architecture()


def test_genome_lowers_to_the_architectures_backward_edges():
    arch = Architecture.of([(16, 2), (5, 5)])
    g = lower(to_genome(arch, backbone(19)), seed=0)
    ports = port_names("r", 19)
    back = sorted((e.src, e.delay) for e in g.edges if e.kind == "backward")
    assert back == sorted([(ports[16], 1), (ports[5], 1)])
    assert {"r.back16_2.conv", "r.back5_5.conv"} <= set(g.nodes)


def test_genome_refusals():
    with pytest.raises(SearchError, match="already has 1 backward"):
        to_genome(Architecture(), parse(text(18, "back 3 -> 1 @1")))
    with pytest.raises(SearchError, match="out of range"):
        to_genome(Architecture.of([(17, 0)]), backbone())
    with pytest.raises(SearchError, match="marked 'choice'"):
        from_genome(parse(text(18, "back 3 -> 1 @1 choice")))
    with pytest.raises(SearchError, match="delay 2"):
        from_genome(parse(text(18, "back 3 -> 1 @2")))
    with pytest.raises(SearchError, match="exactly one resnet"):
        space_of(parse(text(18).replace("resnet r depth=18 channels=4\n", "")))


# ------------------------------------------------------------------ mutation
def moved(parent: Architecture, child: Architecture):
    """(old, new) connection: the one the mutation replaced."""
    old = set(parent.connections) - set(child.connections)
    new = set(child.connections) - set(parent.connections)
    assert len(old) == len(new) == 1 and len(child) == len(parent)
    return old.pop(), new.pop()


def test_mutation_moves_one_port_by_at_most_two_everywhere():
    space = BcSpace(6, 2)
    for conns in itertools.chain(itertools.combinations(space.connections, 1),
                                 itertools.combinations(space.connections, 2)):
        parent = Architecture.of(conns)
        dist = mutation_distribution(parent, space)
        assert dist and math.isclose(sum(dist.values()), 1.0)
        for child in dist:
            space.check(child)
            (j, i), (j2, i2) = moved(parent, child)
            assert (j == j2) != (i == i2)  # exactly one port moved
            assert 1 <= abs(j - j2) + abs(i - i2) <= 2
    assert mutation_distribution(parent, space, max_distance=1).keys() < dist.keys()


def test_mutation_probabilities_hand_computed_and_measured():
    space, parent = BcSpace(17), Architecture.of([(8, 4)])
    # all 8 targets valid: port uniform (1/2), then 1/d normalised over {1, 1, 2, 2}: 1/3, 1/6
    expected = {Architecture.of([c]): p for c, p in [
        ((7, 4), 1 / 6), ((9, 4), 1 / 6), ((6, 4), 1 / 12), ((10, 4), 1 / 12),
        ((8, 3), 1 / 6), ((8, 5), 1 / 6), ((8, 2), 1 / 12), ((8, 6), 1 / 12)]}
    dist = mutation_distribution(parent, space)
    assert dist.keys() == expected.keys()
    assert all(math.isclose(dist[a], p) for a, p in expected.items())
    draws, rng = 20000, np.random.default_rng(11)
    children = [mutate(parent, space, rng) for _ in range(draws)]
    counts = Counter(children)
    assert chi2(counts, {a: p * draws for a, p in expected.items()}) < CHI2_9999[7]
    near = sum(sum(map(abs, np.subtract(*moved(parent, c)))) == 1 for c in children) / draws
    tol = 4.5 * math.sqrt((2 / 3) * (1 / 3) / draws)  # binomial sd of a 2/3 share
    assert abs(near - 2 / 3) < tol  # distance 1 twice as likely as distance 2
    out_port = sum(moved(parent, c)[1][1] == 4 for c in children) / draws
    assert abs(out_port - 1 / 2) < 4.5 * math.sqrt(0.25 / draws)


def test_mutation_at_the_border_and_without_moves():
    space = BcSpace(17)
    # 0 -> 0: the input port cannot move (i < 0 or i > j); the output port goes to 1 or 2
    dist = mutation_distribution(Architecture.of([(0, 0)]), space)
    assert dist == pytest.approx({Architecture.of([(1, 0)]): 2 / 3,
                                  Architecture.of([(2, 0)]): 1 / 3})
    # a target already in the architecture is never drawn: in {0 -> 0, 1 -> 0}, 1 -> 0 => 0 -> 0
    # and 0 -> 0 => 1 -> 0 would leave one connection; both may still move to 2 -> 0
    d2 = mutation_distribution(Architecture.of([(0, 0), (1, 0)]), space)
    assert Architecture.of([(0, 0), (2, 0)]) in d2 and Architecture.of([(1, 0), (2, 0)]) in d2
    assert all(len(set(c.connections)) == 2 for c in d2)
    assert mutate(Architecture(), space, np.random.default_rng(0)) is None
    assert mutate(Architecture.of([(0, 0)]), BcSpace(1, 1), np.random.default_rng(0)) is None


# ------------------------------------------------------------------ crossover
def test_crossover_swaps_input_ports():
    space, rng = BcSpace(17), np.random.default_rng(0)
    parent = Architecture.of([(8, 0), (3, 1)])
    assert crossover(parent, space, rng) == Architecture.of([(8, 1), (3, 0)])  # Fig. 5
    assert crossover(Architecture.of([(5, 4), (2, 0)]), space, rng) is None  # 2 -> 4: j < i
    assert crossover(Architecture.of([(5, 1), (2, 1)]), space, rng) is None  # nothing changes
    assert crossover(Architecture(), space, rng) is None
    three = Architecture.of([(9, 0), (6, 1), (7, 2)])
    kids = {crossover(three, BcSpace(17, 3), rng) for _ in range(200)}
    assert kids == {Architecture.of(c) for c in [[(9, 1), (6, 0), (7, 2)],
                                                 [(9, 2), (7, 0), (6, 1)],
                                                 [(6, 2), (7, 1), (9, 0)]]}


def test_crossover_with_one_connection_adds_a_uniform_other():
    space, parent, draws = BcSpace(4), Architecture.of([(2, 1)]), 9000  # n = 10: 9 others
    rng = np.random.default_rng(5)
    counts = Counter(crossover(parent, space, rng) for _ in range(draws))
    others = [c for c in space.connections if c != (2, 1)]
    expected = {Architecture.of([(2, 1), c]): draws / 9 for c in others}
    assert set(counts) == set(expected)
    assert chi2(counts, expected) < CHI2_9999[8]
    assert crossover(parent, BcSpace(4, 1), rng) is None  # b = 1: no room to add


# ------------------------------------------------------------------ evolution step
def test_alpha_and_beta_gate_each_attempt():
    space, draws = BcSpace(17), 5000
    top = [(Architecture.of([(8, 4)]), 0.9)]  # every mutation and addition yields a new child
    rng = np.random.default_rng(2)
    for kw, origin, p in ((dict(alpha=0.2, beta=0.0), "mutation", 0.2),
                          (dict(alpha=0.0, beta=0.5), "crossover", 0.5)):
        hits = sum(evolve(top, space, rng, pool=1, max_children=1, tries=1, **kw)[0].origin
                   == origin for _ in range(draws))
        assert abs(hits / draws - p) < 4.5 * math.sqrt(p * (1 - p) / draws), origin


def test_evolve_pool_sizes_duplicates_and_seed():
    space = BcSpace(17)
    top = [(a, 0.5 + 0.01 * k) for k, a in
           enumerate(space.sample_distinct(np.random.default_rng(1), 10))]
    seen = space.sample_distinct(np.random.default_rng(9), 30)
    temp = evolve(top, space, np.random.default_rng(3), exclude=seen)
    archs = [c.arch for c in temp]
    assert len(temp) == 20 and len(set(archs)) == 20
    assert not set(archs) & ({a for a, _ in top} | set(seen))
    kinds = Counter(c.origin for c in temp)
    assert kinds["mutation"] <= 10 and kinds["crossover"] <= 10 and sum(kinds.values()) == 20
    assert kinds["mutation"] > 0 and kinds["crossover"] > 0
    # alpha = beta = 1: mutation reaches its cap of 10; a two-BC parent has one crossover
    # child at most (its swap), so crossover yields each parent's valid swap (100 tries)
    full = evolve(top, space, np.random.default_rng(3), alpha=1, beta=1)
    assert Counter(c.origin for c in full)["mutation"] == 10
    assert all(len(a) == 2 for a, _ in top)
    swaps = {crossover(a, space, np.random.default_rng(0)) for a, _ in top} - {None}
    assert 0 < len(swaps) < 10
    assert {c.arch for c in full if c.origin == "crossover"} == swaps
    assert evolve(top, space, np.random.default_rng(3), exclude=seen) == temp
    assert evolve(top, space, np.random.default_rng(4), exclude=seen) != temp
    for c in temp:
        space.check(c.arch)


def test_evolve_in_a_tiny_space_and_refusals():
    space = BcSpace(1, 1)  # {} and {0 -> 0}
    temp = evolve([(Architecture(), 0.1)], space, np.random.default_rng(0))
    assert temp and [c.arch for c in temp] == [Architecture.of([(0, 0)])]
    with pytest.raises(SearchError, match="P_top is empty"):
        evolve([], space, np.random.default_rng(0))
    with pytest.raises(SearchError, match="alpha"):
        evolve([(Architecture(), 0.1)], space, np.random.default_rng(0), alpha=1.5)


def test_update_top_keeps_the_k_best_distinct():
    a, b, c, d = (Architecture.of([(k, 0)]) for k in range(4))
    top = [(a, 0.5), (b, 0.7)]
    new = update_top(top, [(c, 0.9), (a, 0.6), (d, float("nan")), (b, 0.2)], k=3)
    assert new == [(c, 0.9), (b, 0.7), (a, 0.6)]
    everything = update_top(top, [(c, 0.7), (d, float("nan"))], k=10)
    assert [x for x, _ in everything] == [b, c, a, d]  # tie by architecture order, NaN last


def test_select_initial_merges_the_two_lists_without_duplicates():
    archs = [Architecture.of([(k, 0)]) for k in range(6)]
    n_scores = [5.0, 1.0, 4.0, float("nan"), 3.0, 0.0]   # best: 0, 2, 4
    e_scores = [0.1, 0.9, 0.8, 0.7, float("nan"), 0.95]  # best: 5, 1, 2
    assert select_initial(archs, n_scores, e_scores, 3, 3) == [archs[k] for k in (0, 2, 4, 5, 1)]
    assert select_initial(archs, n_scores, e_scores, 0, 2) == [archs[5], archs[1]]
    assert select_initial(archs, n_scores, e_scores, 10, 0) == [archs[k] for k in
                                                                (0, 2, 4, 1, 5, 3)]
    with pytest.raises(SearchError, match="6 architectures but 5 N-scores"):
        select_initial(archs, n_scores[:5], e_scores)


# ------------------------------------------------------------------ module boundaries
def test_numpy_only_and_the_readme_example_runs():
    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text()
    section = readme[readme.index("### BCNAS-SNN search space"):]
    code = section[section.index("```python\n") + 10:section.index("```\n", 10)]
    probe = "import sys\n" + code + "\nassert 'torch' not in sys.modules, 'torch imported'\n"
    env = {**os.environ, "PYTHONPATH": str(root)}
    r = subprocess.run([sys.executable, "-c", probe], cwd=root, env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("11782 ")
