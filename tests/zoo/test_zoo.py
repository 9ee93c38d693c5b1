"""Presets: every one is a canonical genome that compiles; TANet's sizes match STTS Table 2."""
import pytest
from click.testing import CliRunner

from snnc import zoo
from snnc.cli import cli
from snnc.compiler import compile_genome
from snnc.errors import SnncError
from snnc.genome import parse, to_text
from snnc.ir.summary import summarize


def _body(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))


@pytest.mark.parametrize("name", zoo.names())
def test_preset_is_canonical_cited_and_compiles(name):
    p = zoo.get(name)
    assert p.about, "a preset cites its paper in leading # lines"
    genome = zoo.load(name)
    assert to_text(genome) == _body(p.text)
    graph = compile_genome(p.text, passes="none").graph  # verified by the compiler
    assert summarize(graph).num_params > 0


@pytest.mark.parametrize("name, published_millions", [("tanet-tiny", 7), ("tanet-regular", 25)])
def test_tanet_parameter_counts_match_stts_table_2(name, published_millions):
    s = summarize(compile_genome(zoo.get(name).text, passes="none").graph)
    assert round(s.num_params / 1e6) == published_millions


def test_unknown_preset_lists_known_ones():
    with pytest.raises(SnncError, match="tanet-tiny"):
        zoo.get("no-such-net")
    with pytest.raises(SnncError):
        zoo.get("../zoo/tanet-tiny")


def test_cli_lists_and_writes(tmp_path):
    r = CliRunner().invoke(cli, ["zoo"])
    assert r.exit_code == 0 and "tanet-tiny" in r.output
    out = tmp_path / "t.genome"
    r = CliRunner().invoke(cli, ["zoo", "tanet-tiny", "-o", str(out)])
    assert r.exit_code == 0
    assert parse(out.read_text()) == zoo.load("tanet-tiny")
    r = CliRunner().invoke(cli, ["zoo", "missing"])
    assert r.exit_code == 1 and "unknown preset" in r.output
