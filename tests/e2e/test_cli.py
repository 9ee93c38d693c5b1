"""The CLI end to end: compile the example genome, show it, and turn bad input into one message."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from snnc.cli import cli

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "tanet-tiny.genome"

SMALL = """snnc-genome 1
name "small"
T 3
input 1x8x8
classes 4
neuron lif tau=3 decay_input=false
stage s1 node channels=4 spiking=false
stage s2 graph nodes=4 channels=8 stride=2 conv=separable {
  0 -> 1
  0 -> 2 @1
  1 -> 3
  2 -> 3
  back 3 -> 1 @1
}
classifier head channels=8 dropout=0.2
"""


@pytest.fixture
def runner():
    return CliRunner(mix_stderr=False)


def write(tmp_path, text, name="g.genome"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_compile_example_writes_verified_artifact(runner, tmp_path):
    out = tmp_path / "tanet.snnir"
    res = runner.invoke(cli, ["compile", str(EXAMPLE), "-o", str(out), "--format", "json"])
    assert res.exit_code == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["num_params"] > 0 and data["macs_per_step"] > 0
    assert [p["name"] for p in data["passes"]] == ["drop-training", "freeze-plif", "remove-dead",
                                                  "fold-bn", "fold-depthwise", "fold-scale"]
    assert "BatchNorm2d" not in data["nodes_by_op"] and "Dropout" not in data["nodes_by_op"]
    from snnc.ir.artifact import load

    g = load(out)
    assert not g.nodes_of("BatchNorm2d", "Dropout", "Scale")
    res = runner.invoke(cli, ["show", str(out)])
    assert res.exit_code == 0, res.stderr
    assert "MACs per time step" in res.stdout


def test_show_genome_and_emit_ir(runner, tmp_path):
    g = write(tmp_path, SMALL)
    res = runner.invoke(cli, ["show", str(g)])
    assert res.exit_code == 0, res.stderr
    assert "backward 1" in res.stdout
    res = runner.invoke(cli, ["compile", str(g), "--passes", "none", "--emit", "ir"])
    assert res.exit_code == 0, res.stderr
    assert "s2.n1.lif" in res.stdout and "BatchNorm2d" in res.stdout


def test_syntax_error_is_one_message_with_location(runner, tmp_path):
    g = write(tmp_path, SMALL.replace("0 -> 2 @1", "0 -> -> 2"))
    res = runner.invoke(cli, ["compile", str(g)])
    assert res.exit_code == 1
    assert f"{g}:10:" in res.stderr
    assert "Traceback" not in res.stderr + res.stdout


def test_unknown_pass_is_bad_parameter(runner, tmp_path):
    g = write(tmp_path, SMALL)
    res = runner.invoke(cli, ["compile", str(g), "--passes", "fold-bn,frobnicate"])
    assert res.exit_code == 2
    assert "frobnicate" in res.stderr


def test_missing_and_corrupt_files(runner, tmp_path):
    res = runner.invoke(cli, ["show", str(tmp_path / "nope.snnir")])
    assert res.exit_code == 1 and "nope.snnir" in res.stderr
    bad = tmp_path / "bad.snnir"
    runner.invoke(cli, ["compile", str(write(tmp_path, SMALL)), "-o", str(bad), "--emit", "none"])
    bad.write_bytes(bad.read_bytes()[:200])
    res = runner.invoke(cli, ["show", str(bad)])
    assert res.exit_code == 1 and "bad.snnir" in res.stderr
    assert "Traceback" not in res.stderr


def test_failed_compile_leaves_no_output(runner, tmp_path):
    out = tmp_path / "never.snnir"
    g = write(tmp_path, SMALL.replace("channels=8 stride=2", "channels=8 stride=7"))
    res = runner.invoke(cli, ["compile", str(g), "-o", str(out)])
    assert res.exit_code == 1
    assert not out.exists() and list(tmp_path.iterdir()) == [g]


def test_print_after_shows_ir_after_each_pass(runner, tmp_path):
    g = write(tmp_path, SMALL)
    res = runner.invoke(cli, ["compile", str(g), "--passes", "drop-training,fold-bn", "--emit",
                              "none", "--print-after"])
    assert res.exit_code == 0, res.stderr
    assert "IR after drop-training" in res.stderr and "IR after fold-bn" in res.stderr
