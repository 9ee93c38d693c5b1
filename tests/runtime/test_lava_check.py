"""A model trained on real digits runs on Lava: same predictions as PyTorch, equal spike counts."""
import json

import pytest
from click.testing import CliRunner

from snnc.cli import cli
from snnc.runtime.lava_check import lava_check
from snnc.runtime.train import TrainConfig, train

GENOME = """snnc-genome 1
name "tiny-delays"
T 3
input 1x8x8
classes 10
neuron lif tau=2
stage s1 node channels=8 spiking=false
stage s2 graph nodes=4 channels=16 stride=2 {
  0 -> 1
  0 -> 2 @1
  1 -> 3
  2 -> 3 @2
  0 -> 3
}
classifier head channels=0
"""


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lava")
    genome = tmp / "g.genome"
    genome.write_text(GENOME)
    cfg = TrainConfig(dataset="digits", epochs=2, optimizer="adamw", lr=0.01, batch_size=16,
                      threads=1)
    train(str(genome), cfg, tmp / "run", progress=False)
    return tmp / "run"


@pytest.mark.slow
def test_lava_agrees_with_torch_layer_by_layer(run_dir):
    report = lava_check(run_dir, samples=30)
    assert report.samples == 30 and report.dataset == "digits"
    assert report.prediction_agreement >= 0.99
    assert report.layers and all(layer.equal for layer in report.layers)
    assert sum(layer.lava_spikes for layer in report.layers) > 0
    assert report.lava_accuracy > 0.5


@pytest.mark.slow
def test_lava_cli_json(run_dir):
    res = CliRunner(mix_stderr=False).invoke(cli, ["lava", str(run_dir), "--samples", "10",
                                                   "--format", "json"])
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["layers_equal"] == len(data["layers"]) and data["samples"] == 10


def test_lava_cli_missing_model_is_one_message(tmp_path):
    res = CliRunner(mix_stderr=False).invoke(cli, ["lava", str(tmp_path / "nope")])
    assert res.exit_code == 1 and "nope" in res.stderr and "Traceback" not in res.stderr
