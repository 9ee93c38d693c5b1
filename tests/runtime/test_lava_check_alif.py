"""A model with ALIF and IF layers, trained on real digits, runs on Lava (snnc's ALIFReset process
for ALIF, Lava's LIF with dv = 0 for IF): every layer's spike trains equal to the float64
reference, predictions equal to PyTorch's."""
import pytest

from snnc.runtime.lava_check import lava_check
from snnc.runtime.train import TrainConfig, train

GENOME = """snnc-genome 1
name "tiny-alif-if"
T 3
input 1x8x8
classes 10
neuron lif tau=2
stage s1 node channels=8 spiking=false
stage s2 graph nodes=3 channels=12 stride=2 {
  0 -> 1
  0 -> 2 @1
  1 -> 2
  neuron alif tau=2 rho=0.5 adapt=0.3
}
stage s3 node channels=12 {
  neuron if v_th=1
}
classifier head channels=0
"""


@pytest.mark.slow
def test_alif_and_if_layers_agree_on_lava(tmp_path):
    genome = tmp_path / "g.genome"
    genome.write_text(GENOME)
    cfg = TrainConfig(dataset="digits", epochs=2, optimizer="adamw", lr=0.01, batch_size=16,
                      threads=1, seed=0)
    train(str(genome), cfg, tmp_path / "run", progress=False)
    report = lava_check(tmp_path / "run", samples=20)
    ops = {layer.name.split(".")[0] for layer in report.layers}
    assert {"s2", "s3"} <= ops  # the ALIF stage and the IF stage are compared
    assert all(layer.equal for layer in report.layers), [
        (layer.name, layer.mismatches) for layer in report.layers]
    assert sum(layer.lava_spikes for layer in report.layers if layer.name.startswith("s2")) > 0
    assert report.prediction_agreement >= 0.95 and report.lava_accuracy > 0.3
