"""One epoch of surrogate-gradient training of a reduced-width SNASNet-Bw (the published CIFAR-100
cell, backward connection included) on scikit-learn's 8x8 digits: the loss drops."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from snnc.backends.torch import compile as compile_torch  # noqa: E402
from snnc.frontend import lower  # noqa: E402
from snnc.genome.snasnet_code import genome_from_code  # noqa: E402
from snnc.runtime.data import load_dataset  # noqa: E402
from snnc.runtime.train import TrainConfig, ce_loss, train  # noqa: E402


def test_one_epoch_lowers_the_loss(tmp_path):
    """Width 8 (16 after the reduction), T = 2, the authors' layer order (order=code); ~5 s."""
    genome = genome_from_code("0302 0030 3003 0000", name="snasnet-digits", classes=10,
                              channels=8, T=2, input_shape=(1, 8, 8), vote=2, hidden=32,
                              dropout=0.0, order="code")
    graph = lower(genome, seed=0)
    assert graph.strongly_connected_components()  # trained step by step through the cycle
    ds = load_dataset("digits")
    mean, std = np.array(ds.mean)[:, None, None], np.array(ds.std)[:, None, None]
    x = torch.as_tensor(((ds.train_x[:300] - mean) / std).astype(np.float32))
    y = torch.as_tensor(ds.train_y[:300]).long()
    with torch.no_grad():
        before = float(ce_loss(compile_torch(graph).eval()(x), y))
    config = TrainConfig(dataset="digits", epochs=1, batch_size=16, optimizer="adamw", lr=0.02,
                         threads=1, seed=0)
    result = train(graph, config, tmp_path / "run", progress=False)
    with torch.no_grad():
        after = float(ce_loss(result.module.eval()(x), y))
    assert before > 2.2  # about log(10): the untrained network barely fires
    assert after < 0.8 * before and result.history[0]["train_loss"] < before
    assert result.test_acc > 0.3  # chance is 0.1
