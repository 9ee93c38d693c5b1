"""The deploy pipeline end to end on random graphs: same spikes, nothing left to fold."""
import numpy as np
import pytest

from snnc.ir import verify
from snnc.passes import PIPELINES, run_pipeline

from .helpers import SEEDS, assert_equivalent, case, snapshot, v_scale


def deploy(seed):
    g, x, trace = case(seed)
    out, records = run_pipeline(g, "deploy")
    return g, out, records, x, trace


@pytest.mark.parametrize("seed", SEEDS)
def test_random_graphs(seed):
    g, out, records, x, trace = deploy(seed)
    assert not out.nodes_of("Dropout")
    assert out.reaching(out.output_node.name) == set(out.nodes)  # nothing dead
    for bn in out.nodes_of("BatchNorm2d"):  # what is left was left for a reason
        fold_bn = records[PIPELINES["deploy"].index("fold-bn")]
        assert any(n.startswith(f"kept {bn.name}: ") for n in fold_bn.notes)
    assert not out.nodes_of("PLIF")  # frozen into LIF
    scale = v_scale(g, out)
    assert_equivalent(g, out, x, trace, same={}, v_scale=scale)
    # and on a second input, direct encoding this time
    x2 = np.random.default_rng(seed).normal(0.3, 0.8, (2,) + g.input_node.shape)
    assert_equivalent(g, out, x2, same={}, v_scale=scale)


@pytest.mark.parametrize("seed", SEEDS[:10])
def test_idempotent(seed):
    """Running deploy (or any of its passes) again changes nothing: the order leaves no folds."""
    _, out, _, _, _ = deploy(seed)
    again, records = run_pipeline(out, "deploy," + ",".join(reversed(PIPELINES["deploy"])))
    assert not any(r.changed for r in records), [str(r) for r in records if r.changed]
    assert snapshot(again) == snapshot(out)


def test_generator_exercises_every_pass():
    changed = {name: 0 for name in PIPELINES["deploy"]}
    for seed in SEEDS:
        for r in deploy(seed)[2]:
            changed[r.name] += r.changed
    assert min(changed.values()) >= 5, changed


def test_order_matters_for_the_generator():
    """Passes that enable each other: dropping training ops and dead nodes first lets more fold."""
    gained = 0
    for seed in SEEDS:
        g = case(seed)[0]
        late, _ = run_pipeline(g, "fold-bn,fold-depthwise,fold-scale,drop-training,remove-dead")
        early, _ = run_pipeline(g, "deploy")
        assert len(early) <= len(late)
        gained += len(early) < len(late)
        verify(late)
    assert gained >= 3
