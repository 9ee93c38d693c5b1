"""`snnc train` without --loss trains a ResNet genome with TET (BCNAS-SNN section 3.3) and every
other genome with cross-entropy; --loss always wins."""
import json

import pytest
from click.testing import CliRunner

from snnc.cli import cli
from snnc.genome import parse
from snnc.runtime.config import default_loss

RESNET = """\
snnc-genome 1
name "tiny-resnet"
T 2
input 1x8x8
classes 10
neuron lif leak=0.5
surrogate triangle gamma=1

resnet r depth=18 channels=2
classifier
"""

STAGE = """\
snnc-genome 1
name "tiny-stage"
T 2
input 1x8x8
classes 10
neuron lif tau=2

stage s1 node channels=4 spiking=false
classifier head channels=0
"""


def test_default_loss_by_family():
    assert default_loss(parse(RESNET)) == "tet"
    assert default_loss(parse(STAGE)) == "ce"
    assert default_loss(None) == "ce"


@pytest.mark.parametrize("text, given, want", [(RESNET, None, "tet"), (STAGE, None, "ce"),
                                               (RESNET, "ce", "ce")])
def test_cli_train_picks_the_family_default(tmp_path, text, given, want):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    genome = tmp_path / "m.genome"
    genome.write_text(text)
    args = ["train", str(genome), "--data", "digits", "--epochs", "1", "--limit-train", "32",
            "--limit-test", "16", "--batch-size", "16", "--threads", "1",
            "--run-dir", str(tmp_path / "run"), "--no-progress"]
    res = CliRunner(mix_stderr=False).invoke(cli, args + (["--loss", given] if given else []))
    assert res.exit_code == 0, res.stderr
    assert json.loads((tmp_path / "run" / "config.json").read_text())["config"]["loss"] == want
