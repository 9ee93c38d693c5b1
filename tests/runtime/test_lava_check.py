"""A model trained on real digits runs on Lava: same predictions as PyTorch, equal spike trains."""
import json

import numpy as np

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


@pytest.mark.slow
def test_spike_trains_compared_element_by_element(run_dir, monkeypatch):
    """Lava's spikes shifted by one step keep every count but not the trains: the layers must
    not be reported equal, and the mismatches are counted per element."""
    from snnc.backends.lava.build import LavaNetwork
    from snnc.backends.lava.fused_process import FusedLavaNetwork

    def shift(real_run):
        def shifted(self, x):
            res = real_run(self, x)
            res.spikes = {k: np.roll(v, 1, axis=0) for k, v in res.spikes.items()}
            return res
        return shifted

    for cls in (LavaNetwork, FusedLavaNetwork):  # whichever mapping lava_check builds
        monkeypatch.setattr(cls, "run", shift(cls.run))
    report = lava_check(run_dir, samples=10)
    moved = [a for a in report.layers if a.lava_spikes]
    assert moved and all(a.lava_spikes == a.reference_spikes for a in report.layers)
    assert all(not a.equal and a.mismatches > 0 for a in moved)
    d = report.to_dict()
    assert d["layers_equal"] == len(report.layers) - len(moved)
    row = d["layers"][0]
    assert row["elements"] == 10 * 3 * row["neurons"] and "mismatches" in row


@pytest.mark.slow
def test_lava_fixed_point_cli(run_dir):
    """--fixed-point: quantised, run on Lava's fixed_pt models, bit-exact against the integer
    reference; the three accuracies and the approximations are reported."""
    res = CliRunner(mix_stderr=False).invoke(cli, ["lava", str(run_dir), "--samples", "6",
                                                   "--fixed-point", "--format", "json"])
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["fixed_point"] and data["layers_equal"] == len(data["layers"]) > 0
    assert all(layer["mismatches"] == 0 and layer["elements"] > 0 for layer in data["layers"])
    assert data["reference_accuracy"] == data["lava_accuracy"]  # equal spikes, equal classes
    assert any("mantissa" in note for note in data["approximations"])
    text = CliRunner(mix_stderr=False).invoke(cli, ["lava", str(run_dir), "--samples", "2",
                                                    "--fixed-point"])
    assert text.exit_code == 0, text.stderr
    assert "fixed-point reference accuracy" in text.stdout
