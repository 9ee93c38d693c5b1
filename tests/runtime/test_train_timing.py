"""``snnc train --timing hardware``: the model trains, and is saved, hop-timed; the run folder
keeps the genome as written; a resume cannot change the timing. A reduced SNASNet-Bw on
scikit-learn's 8x8 digits (a few seconds)."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")

from click.testing import CliRunner  # noqa: E402

from snnc.cli import cli  # noqa: E402
from snnc.compiler import compile_genome  # noqa: E402
from snnc.errors import RunError  # noqa: E402
from snnc.genome import to_text  # noqa: E402
from snnc.genome.snasnet_code import genome_from_code  # noqa: E402
from snnc.ir.artifact import load  # noqa: E402
from snnc.passes import HopTiming  # noqa: E402
from snnc.runtime.train import TrainConfig  # noqa: E402


def test_config_timing():
    assert TrainConfig().timing == "ir"
    assert TrainConfig.from_dict({"dataset": "digits"}).timing == "ir"  # configs of older runs
    with pytest.raises(RunError, match="timing must be one of ir, hardware, got 'chip'"):
        TrainConfig(timing="chip")


def _backward_delays(graph):
    return {(e.src, e.dst): e.delay for e in graph.edges if e.kind == "backward"}


def test_cli_hardware_timing(tmp_path):
    genome = genome_from_code("0303 0030 2002 0200", name="snasnet-bw-digits", classes=10,
                              channels=4, T=4, input_shape=(1, 8, 8), vote=2, hidden=16,
                              dropout=0.0, order="code")
    path = tmp_path / "snas.genome"
    path.write_text(to_text(genome))
    run_dir = tmp_path / "run"
    runner = CliRunner(mix_stderr=False)
    res = runner.invoke(cli, ["train", str(path), "--run-dir", str(run_dir), "--data", "digits",
                              "--epochs", "1", "--batch-size", "32", "--limit-train", "64",
                              "--limit-test", "32", "--threads", "1", "--optimizer", "adamw",
                              "--lr", "0.01", "--timing", "hardware", "--no-progress"])
    assert res.exit_code == 0, res.stderr
    model = load(run_dir / "model.snnir")
    source = compile_genome(path.read_text(), target="train", seed=0).graph
    assert set(_backward_delays(source).values()) == {1}
    want = _backward_delays(HopTiming()(source).graph)
    assert _backward_delays(model) == want and set(want.values()) == {3}
    assert model.meta["passes"] == ["hop-timing"]
    assert (run_dir / "genome.txt").read_text() == path.read_text()  # the model as given
    assert json.loads((run_dir / "config.json").read_text())["config"]["timing"] == "hardware"
    res = runner.invoke(cli, ["train", "--run-dir", str(run_dir), "--resume", "--timing", "ir"])
    assert res.exit_code == 1
    assert "cannot resume with a different config (timing: 'hardware' -> 'ir')" in res.stderr
