"""One report dialect: --format table|json on every reporting command, reports alone on stdout
(status lines on stderr), and tables that keep every digit when piped."""
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import snnc.cli
import snnc.zoo
from snnc.cli import cli

ROOT = Path(__file__).resolve().parents[2]
GENOME = str(ROOT / "examples" / "tanet-tiny.genome")


@pytest.fixture
def runner():
    return CliRunner(mix_stderr=False)


def _options(*path):
    cmd = cli
    for name in path:
        cmd = cmd.commands[name]
    return {o: p for p in cmd.params for o in p.opts}


@pytest.mark.parametrize("path", [("zoo",), ("show",), ("compile",), ("train",), ("eval",),
                                  ("energy",), ("lava",), ("search", "snasnet")])
def test_every_reporting_command_has_the_same_format_option(path):
    opts = _options(*path)
    assert "--json" not in opts
    fmt = opts["--format"]
    assert fmt.name == "fmt" and fmt.default == "table"
    assert {"table", "json"} <= set(fmt.type.choices)


def test_show_and_compile_json_is_the_whole_stdout(runner, tmp_path):
    res = runner.invoke(cli, ["show", GENOME, "--format", "json"])
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["layers"]
    res = runner.invoke(cli, ["show", GENOME, "--format", "json", "--no-layers"])
    assert "layers" not in json.loads(res.stdout)
    out = tmp_path / "m.snnir"
    res = runner.invoke(cli, ["compile", GENOME, "--format", "json", "-o", str(out)])
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["passes"]
    assert res.stderr == f"wrote {out}\n"


def test_compile_emit_ir_is_text_and_refuses_json(runner):
    res = runner.invoke(cli, ["compile", GENOME, "--passes", "none", "--emit", "ir"])
    assert res.exit_code == 0 and res.stdout.startswith("# graph ")
    res = runner.invoke(cli, ["compile", GENOME, "--emit", "ir", "--format", "json"])
    assert res.exit_code == 2 and "--emit ir prints the IR as text" in res.stderr
    res = runner.invoke(cli, ["compile", GENOME, "--emit", "json"])
    assert res.exit_code == 2  # the old spelling is gone: --format json


def test_zoo_json(runner):
    res = runner.invoke(cli, ["zoo", "--format", "json"])
    assert res.exit_code == 0, res.stderr
    names = [p["name"] for p in json.loads(res.stdout)]
    assert "tanet-tiny" in names and names == sorted(names)
    res = runner.invoke(cli, ["zoo", "tanet-tiny", "--format", "json"])
    data = json.loads(res.stdout)
    assert data["name"] == "tanet-tiny" and "snnc-genome 1" in data["genome"]


def test_piped_table_keeps_long_numbers_whole(runner, monkeypatch):
    # CliRunner's stdout is not a terminal, like a pipe: rich would otherwise fit the table into
    # 80 columns and cut or wrap the numbers next to a long "about" column.
    tiny = snnc.zoo.get("tanet-tiny")
    long = type(tiny)(name="a-preset-with-a-rather-long-name", path=tiny.path,
                      about=("word " * 60,))
    monkeypatch.setattr(snnc.zoo, "presets", lambda: [long])
    monkeypatch.setenv("COLUMNS", "80")
    res = runner.invoke(cli, ["zoo", "--counts"])
    assert res.exit_code == 0, res.stderr
    from snnc.compiler import compile_genome
    from snnc.ir.summary import summarize

    s = summarize(compile_genome(tiny.text, passes="none").graph)
    assert f"{s.macs_per_step:,}" in res.stdout and f"{s.num_params:,}" in res.stdout
    assert "a-preset-with-a-rather-long-name" in res.stdout and "…" not in res.stdout
