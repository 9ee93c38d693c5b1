"""BCNAS-SNN step 2, the one-shot supernet (section 4.2.3): the supernet genome, uniform sampling
within the b limit, training (equal to plain training under a fixed assignment, bit-identical
resume) and candidate evaluation with inherited weights."""
import dataclasses
import itertools
from collections import Counter

import numpy as np
import pytest
import torch

from snnc.backends.torch import compile as compile_torch
from snnc.errors import AssignmentError, RunError, SearchError
from snnc.frontend import lower
from snnc.genome import parse
from snnc.genome.resnet import port_names
from snnc.passes import resolve_choices
from snnc.runtime.data import load_dataset
from snnc.runtime.evaluate import predict
from snnc.runtime.train import train
from snnc.search import oneshot
from snnc.search.oneshot import (CHECKPOINT, all_connections, assignment_of, choice_name,
                                 choice_nodes, evaluate_candidates, paper_backbone, paper_config,
                                 sample_assignment, search_space_size, supernet_genome,
                                 train_supernet)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def supernet():
    """ResNet-18 at width 2 on 1x8x8 digits, all 153 connections optional (seed 0 weights)."""
    return lower(supernet_genome(paper_backbone(channels=2, input_shape=(1, 8, 8), T=2)))


def tiny(**kw):
    """One or two steps per epoch, one thread (bit-identity; 2-core CI)."""
    base = dict(dataset="digits", epochs=1, batch_size=32, limit_train=40, limit_test=8,
                threads=1, seed=3)
    base.update(kw)
    return paper_config(**base)


# ---------------------------------------------------------------------- the supernet genome
@pytest.mark.parametrize("depth", [18, 19])
def test_supernet_holds_every_backward_connection(depth):
    genome = supernet_genome(paper_backbone(depth=depth, channels=4, input_shape=(1, 8, 8)))
    m = len(port_names("r", depth))
    assert m == 17
    g = lower(genome)
    nodes = choice_nodes(g)
    assert len(nodes) == m * (m + 1) // 2 == 153  # section 4.2.1: n = m(m+1)/2
    # brute force: every pair j >= i of ports, self connections (section 4.1) included
    pairs = {(j, i) for j in range(m) for i in range(m) if j >= i}
    assert set(nodes) == {choice_name("r", j, i) for j, i in pairs}
    assert "r.back5_5.choice" in nodes
    assert all(g.nodes[n].attrs["optional"] and g.nodes[n].attrs["k"] == 1 for n in nodes)
    # a sampled architecture runs, with a self connection among its two
    a = assignment_of(nodes, ["r.back5_5.choice", "r.back16_0.choice"])
    out = compile_torch(g)(torch.zeros(2, 1, 8, 8), assignment=a)
    assert out.shape == (2, 2, 10)


def test_supernet_genome_delay_and_refusals():
    backbone = paper_backbone(channels=4, input_shape=(1, 8, 8))
    g = lower(supernet_genome(backbone, delay=2))
    assert choice_name("r", 3, 1, delay=2) in g.nodes
    with_edge = parse(to_text_with_edge(backbone))
    with pytest.raises(SearchError, match="already has 1 backward connection"):
        supernet_genome(with_edge)
    with pytest.raises(SearchError, match="delay must be an integer >= 1"):
        supernet_genome(backbone, delay=0)
    no_resnet = dataclasses.replace(backbone, blocks=backbone.blocks[1:])
    with pytest.raises(SearchError, match="exactly one resnet block, found 0"):
        supernet_genome(no_resnet)


def to_text_with_edge(genome):
    from snnc.genome import to_text
    return to_text(genome).replace("resnet r depth=18 channels=4",
                                   "resnet r depth=18 channels=4 {\n  back 3 -> 1 @1\n}")


def test_paper_backbone_has_the_papers_neuron_and_surrogate():
    g = lower(paper_backbone(channels=2, input_shape=(1, 8, 8)))
    lifs = [n for n in g if n.op == "LIF"]
    assert len(lifs) == 17
    for n in lifs:  # eq. 1-2 (v = 0.5 v + I, V_th = 1, reset to 0), eq. 5 with b = 1
        assert {k: n.attrs[k] for k in ("beta", "alpha", "v_th", "v_reset", "reset", "surrogate",
                                        "surrogate_arg")} == {
            "beta": 0.5, "alpha": 1.0, "v_th": 1.0, "v_reset": 0.0, "reset": "hard",
            "surrogate": "triangle", "surrogate_arg": 1.0}
    cfg = paper_config()
    assert (cfg.optimizer, cfg.lr, cfg.weight_decay, cfg.schedule, cfg.loss, cfg.val_fraction) \
        == ("adamw", 0.01, 0.02, "cosine", "tet", 0.2)


def test_search_space_size_formula():
    for n, b in [(1, 2), (4, 2), (6, 3), (5, 9)]:
        brute = sum(1 for k in range(n + 1) for _ in itertools.combinations(range(n), k)
                    if k <= b)
        assert search_space_size(n, b) == brute
    assert search_space_size(153, 2) == 1 + 153 + 153 * 152 // 2 == 11782
    assert len(all_connections(18)) == 153
    with pytest.raises(SearchError, match="depth"):
        all_connections(20)


# ---------------------------------------------------------------------- sampling
def test_sample_assignment_is_uniform_within_b():
    nodes = ["a", "b", "c", "d"]
    rng = np.random.default_rng(0)
    draws = 22000
    counts = Counter()
    for _ in range(draws):
        a = sample_assignment(nodes, 2, rng)
        assert set(a) == set(nodes) and set(a.values()) <= {0, -1}
        counts[frozenset(n for n, v in a.items() if v == 0)] += 1
    assert all(len(arch) <= 2 for arch in counts)
    assert len(counts) == search_space_size(4, 2) == 11
    expected = draws / 11
    chi2 = sum((c - expected) ** 2 / expected for c in counts.values())
    assert chi2 < 35.6  # 10 degrees of freedom, p = 1e-4
    # independent coin flips capped at b would give the empty set ~1/16, not 1/11
    assert abs(counts[frozenset()] / draws - 1 / 11) < 0.01


def test_sample_assignment_edges():
    rng = np.random.default_rng(1)
    assert set(sample_assignment(["a", "b"], 0, rng).values()) == {-1}
    seen = {frozenset(k for k, v in sample_assignment(["a", "b"], 5, rng).items() if v == 0)
            for _ in range(200)}
    assert len(seen) == 4  # b >= n: every subset
    for bad in (-1, 1.5, True):
        with pytest.raises(SearchError, match="b .* must be an integer >= 0"):
            sample_assignment(["a"], bad, rng)
    with pytest.raises(SearchError, match="repeat"):
        sample_assignment(["a", "a"], 1, rng)
    with pytest.raises(SearchError, match="not a choice"):
        assignment_of(["a"], ["z"])


# ---------------------------------------------------------------------- training
def test_fixed_assignment_trains_like_the_resolved_plain_graph(supernet, digits, tmp_path):
    """One step in float64: the supernet machinery (choices, skipped chains, sampling) adds
    nothing to what train() does on the candidate's plain graph."""
    a = assignment_of(choice_nodes(supernet), ["r.back5_5.choice", "r.back12_2.choice"])
    cfg = tiny(dtype="float64")
    res = train_supernet(supernet, digits, cfg, tmp_path / "super", sampler=lambda rng: a)
    plain = train(resolve_choices(supernet, a), cfg, tmp_path / "plain", progress=False)
    assert res.history[0]["train_loss"] == plain.history[0]["train_loss"]
    got, want = res.module.state_dict(), plain.module.state_dict()
    assert set(want) < set(got)
    for key in want:
        assert torch.equal(got[key], want[key]), key
    init = compile_torch(supernet, dtype=torch.float64).state_dict()
    # the selected chains train ...
    for key in ("layers.r__back5_5__conv.weight", "layers.r__back12_2__conv.weight"):
        assert not torch.equal(got[key], init[key]), key
    for key in set(got) - set(want):  # ... and the unselected ones untouched
        assert torch.equal(got[key], init[key]), key


def test_resume_ends_bit_identical(supernet, digits, tmp_path, monkeypatch):
    cfg = tiny(epochs=2, limit_train=80)
    whole = train_supernet(supernet, digits, cfg, tmp_path / "whole")
    real = oneshot._epoch

    def killed(*args, **kw):
        if args[6] == 1:  # the second epoch dies before its checkpoint
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(oneshot, "_epoch", killed)
    with pytest.raises(KeyboardInterrupt):
        train_supernet(supernet, digits, cfg, tmp_path / "cut")
    monkeypatch.setattr(oneshot, "_epoch", real)
    assert torch.load(tmp_path / "cut" / CHECKPOINT, weights_only=True)["epoch"] == 1
    assert [p.name for p in (tmp_path / "cut").iterdir()] == [CHECKPOINT]  # no temporaries
    resumed = train_supernet(supernet, digits, cfg, tmp_path / "cut", resume=True)
    assert resumed.resumed_from == 1
    a, b = whole.module.state_dict(), resumed.module.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    drop = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert drop(whole.history) == drop(resumed.history)
    # a finished run resumes to itself
    again = train_supernet(supernet, digits, cfg, tmp_path / "cut", resume=True)
    assert again.resumed_from == 2 and torch.equal(
        again.module.state_dict()["layers.r__stem__conv.weight"], a["layers.r__stem__conv.weight"])


def test_training_refusals(supernet, digits, tmp_path):
    cfg = tiny()
    train_supernet(supernet, digits, cfg, tmp_path / "r")
    with pytest.raises(RunError, match="already there; pass resume=True"):
        train_supernet(supernet, digits, cfg, tmp_path / "r")
    with pytest.raises(RunError, match="another config"):
        train_supernet(supernet, digits, tiny(lr=0.02), tmp_path / "r", resume=True)
    with pytest.raises(RunError, match="another b"):
        train_supernet(supernet, digits, cfg, tmp_path / "r", resume=True, b=1)
    (tmp_path / "r" / CHECKPOINT).write_bytes(b"not a checkpoint")
    with pytest.raises(RunError, match="cannot read the supernet checkpoint"):
        train_supernet(supernet, digits, cfg, tmp_path / "r", resume=True)
    with pytest.raises(RunError, match="validation part"):
        train_supernet(supernet, digits, tiny(val_fraction=0.0), tmp_path / "v")
    plain = resolve_choices(supernet, assignment_of(choice_nodes(supernet), []))
    with pytest.raises(RunError, match="not a supernet"):
        train_supernet(plain, digits, cfg, tmp_path / "p")
    with pytest.raises(SearchError, match="must be an integer >= 0"):
        train_supernet(supernet, digits, cfg, tmp_path / "b", b=-1)
    assert not (tmp_path / "b").exists()


# ---------------------------------------------------------------------- evaluation
def test_candidates_score_as_their_plain_graphs_with_inherited_weights(supernet, digits,
                                                                       tmp_path):
    res = train_supernet(supernet, digits, tiny(epochs=2, limit_train=120), tmp_path / "r")
    assert len(res.val_y) == 24 and len(res.history) == 2
    nodes = res.choices
    cands = [assignment_of(nodes, []), assignment_of(nodes, ["r.back16_0.choice"]),
             assignment_of(nodes, ["r.back3_3.choice", "r.back9_4.choice"])]
    before = {k: v.clone() for k, v in res.module.state_dict().items()}
    accs = evaluate_candidates(res, cands, batch_size=10)
    after = res.module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # BN statistics kept
    trained = res.module.to_ir()
    for a, acc in zip(cands, accs):
        module = compile_torch(resolve_choices(trained, a))
        pred = predict(module, res.val_x, res.pre)
        assert acc == pytest.approx(float((pred == res.val_y).mean()), abs=0)
    x, y = digits.test_x[:16], digits.test_y[:16]
    assert len(evaluate_candidates(res, cands[:1], (x, y))) == 1
    with pytest.raises(AssignmentError):
        evaluate_candidates(res, [{"r.back16_0.choice": 0}])


def test_batchnorm_recalibration_per_candidate(supernet, digits, tmp_path):
    """recalibrate=N: each candidate's BN statistics are the average over N training batches, as
    for its plain graph reset and run on the same batches; the supernet's are restored."""
    from snnc.runtime.loader import batches

    res = train_supernet(supernet, digits, tiny(limit_train=120), tmp_path / "r")
    nodes = res.choices
    cands = [assignment_of(nodes, ["r.back16_0.choice"]),
             assignment_of(nodes, ["r.back3_3.choice", "r.back9_4.choice"])]
    before = {k: v.clone() for k, v in res.module.state_dict().items()}
    rng_before = torch.get_rng_state()
    accs = evaluate_candidates(res, cands, recalibrate=2)
    after = res.module.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert torch.equal(torch.get_rng_state(), rng_before)
    bns = [m for m in res.module.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(m.momentum == 0.1 for m in bns)
    trained = res.module.to_ir()
    for a, acc in zip(cands, accs):
        plain = compile_torch(resolve_choices(trained, a))
        for m in plain.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.reset_running_stats()
                m.momentum = None
        plain.train()
        data = batches(res.train_x, res.train_y, res.config.batch_size, shuffle=True,
                       seed=res.config.seed, epoch=0, mean=res.pre.mean, std=res.pre.std)
        with torch.no_grad():
            for _, (xb, _) in zip(range(2), data):
                plain(xb, T=res.pre.T)
        pred = predict(plain, res.val_x, res.pre)
        assert acc == float((pred == res.val_y).mean())
    assert accs != evaluate_candidates(res, cands)  # measured: [0.083, 0.208] vs [0.125, 0.125]
    with pytest.raises(SearchError, match="recalibrate must be an integer >= 0"):
        evaluate_candidates(res, cands, recalibrate=-1)
