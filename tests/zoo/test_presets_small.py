"""Every preset at reduced width (issue "every architecture of the four papers"): the same genome
with every width shrunk, the input set to scikit-learn's 1x8x8 digits and T = 2 compiles, passes
the verifier, is interpretation-equal to its torch module in float64, and trains for an epoch on
real data with a lower loss afterwards."""
from __future__ import annotations

import numpy as np
import pytest

from snnc import zoo
from snnc.frontend import lower
from snnc.genome import to_text
from snnc.ir import run, verify
from snnc.zoo.small import SMALL, reduced  # noqa: F401 (other tests import them from here)

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")


def _small_graph(name):
    genome = reduced(zoo.load(name))
    return verify(lower(genome, seed=0)), genome


@pytest.mark.parametrize("name", zoo.names())
def test_reduced_preset_interpreter_equals_torch_float64(name):
    from snnc.backends.torch import compile as compile_torch
    graph, genome = _small_graph(name)
    assert to_text(genome)  # still a printable, valid genome
    x = np.random.default_rng(1).normal(0.5, 1.0, (2, 1, 8, 8))
    trace = run(graph, x)
    module = compile_torch(graph, dtype=torch.float64).eval()
    with torch.no_grad(), module.probing():
        y = module(torch.as_tensor(x))
    for node in graph:
        got, want = module.records[node.name].numpy(), trace.outputs[node.name]
        if node.op in ("LIF", "ALIF", "PLIF"):
            assert np.array_equal(got, want), f"{name}: {node.name} spikes differ"
        else:
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9, err_msg=node.name)
    np.testing.assert_allclose(y.numpy(), trace.output, rtol=1e-9, atol=1e-9)


@pytest.mark.slow
@pytest.mark.parametrize("name", zoo.names())
def test_reduced_preset_trains_one_epoch_on_digits(name, tmp_path):
    from snnc.backends.torch import compile as compile_torch
    from snnc.runtime.data import load_dataset
    from snnc.runtime.train import TrainConfig, ce_loss, train
    graph, _ = _small_graph(name)
    ds = load_dataset("digits")
    mean, std = np.array(ds.mean)[:, None, None], np.array(ds.std)[:, None, None]
    x = torch.as_tensor(((ds.train_x[:256] - mean) / std).astype(np.float32))
    y = torch.as_tensor(ds.train_y[:256]).long()
    with torch.no_grad():
        before = float(ce_loss(compile_torch(graph).eval()(x), y))
    config = TrainConfig(dataset="digits", epochs=1, batch_size=32, optimizer="adamw", lr=0.01,
                         threads=1, seed=0, limit_train=512, limit_test=256)
    result = train(graph, config, tmp_path / "run", progress=False)
    with torch.no_grad():
        after = float(ce_loss(result.module.eval()(x), y))
    assert np.isfinite(after) and after < before, (before, after)
