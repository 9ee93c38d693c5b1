"""Where training and scoring run: ``TrainConfig.device`` / ``snnc train --device`` and the
scorers' ``device``. This machine class has no GPU: the CPU paths are checked to be the ones
``auto`` picks, a CUDA request without a GPU is a clear error, and the CUDA runs themselves are
skipped unless torch sees a GPU."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from click.testing import CliRunner  # noqa: E402

from snnc.cli import cli  # noqa: E402
from snnc.errors import BackendError, RunError  # noqa: E402
from snnc.runtime.config import TrainConfig  # noqa: E402
from snnc.runtime.launch import group_device  # noqa: E402
from snnc.runtime.train import train  # noqa: E402

from .test_train import FAST, GENOME  # noqa: E402

CUDA = torch.cuda.is_available()
ONE_EPOCH = {**FAST, "epochs": 1, "limit_train": 64, "limit_test": 32}


@pytest.fixture()
def genome_file(tmp_path):
    path = tmp_path / "tiny.genome"
    path.write_text(GENOME)
    return path


def test_device_is_validated_and_recorded(tmp_path, genome_file):
    with pytest.raises(RunError, match="device must be one of auto, cpu, cuda"):
        TrainConfig(device="tpu")
    assert TrainConfig().device == "auto"
    assert TrainConfig.from_dict({k: v for k, v in TrainConfig().to_dict().items()
                                  if k != "device"}).device == "auto"  # run folders before it


@pytest.mark.skipif(CUDA, reason="checks the CPU machine's behaviour")
def test_auto_trains_on_the_cpu_bit_identically(tmp_path, genome_file):
    a = train(genome_file, TrainConfig(**ONE_EPOCH, device="auto"), tmp_path / "a", progress=False)
    b = train(genome_file, TrainConfig(**ONE_EPOCH, device="cpu"), tmp_path / "b", progress=False)
    assert a.module.device.type == "cpu"
    assert a.history[0]["train_loss"] == b.history[0]["train_loss"]
    for k, v in a.module.state_dict().items():
        assert torch.equal(v, b.module.state_dict()[k]), k
    assert group_device(TrainConfig(device="auto"), tmp_path, False) == "cpu"


@pytest.mark.skipif(CUDA, reason="a GPU is present")
def test_cuda_without_a_gpu_is_a_clear_error(tmp_path, genome_file):
    with pytest.raises(BackendError, match="no usable CUDA device"):
        train(genome_file, TrainConfig(**ONE_EPOCH, device="cuda"), tmp_path / "r", progress=False)
    res = CliRunner().invoke(cli, ["train", str(genome_file), "--run-dir", str(tmp_path / "c"),
                                   "--data", "digits", "--epochs", "1", "--limit-train", "64",
                                   "--device", "cuda", "--no-progress"])
    assert res.exit_code == 1, res.output
    assert "no usable CUDA device" in res.output and "Traceback" not in res.output


@pytest.mark.skipif(not CUDA, reason="needs a CUDA GPU")
def test_cuda_training_agrees_with_the_cpu(tmp_path, genome_file):
    cfg = {**ONE_EPOCH, "dtype": "float64"}
    a = train(genome_file, TrainConfig(**cfg, device="cpu"), tmp_path / "a", progress=False)
    b = train(genome_file, TrainConfig(**cfg, device="cuda"), tmp_path / "b", progress=False)
    assert b.module.device.type == "cuda"
    assert abs(a.history[0]["train_loss"] - b.history[0]["train_loss"]) < 1e-8


def test_scorers_take_a_device():
    from snnc.compiler import compile_genome
    from snnc.search.fastscore import naswot_scores_fast
    from snnc.search.proxies import score_graph

    graph = compile_genome(GENOME, target="train", seed=0).graph
    x = torch.from_numpy(np.random.default_rng(0).random((16, 1, 8, 8)))
    data = [(x, np.zeros(16, dtype=np.int64))]
    ref = score_graph(graph, data, dtype=torch.float64)
    for device in ("cpu", "auto") + (("cuda",) if CUDA else ()):
        fast = naswot_scores_fast(graph, data, dtype=torch.float64, device=device)
        again = score_graph(graph, data, dtype=torch.float64, device=device)
        assert fast["sahd"] == pytest.approx(ref["sahd"], rel=1e-9)
        assert again["sahd"] == pytest.approx(ref["sahd"], rel=1e-9)
    if not CUDA:
        with pytest.raises(BackendError, match="no usable CUDA device"):
            naswot_scores_fast(graph, data, dtype=torch.float64, device="cuda")
