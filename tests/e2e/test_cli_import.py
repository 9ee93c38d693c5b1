"""``snnc import snasnet-code``: the authors' 4x4 cell code to a genome file, and its errors."""
from pathlib import Path

from click.testing import CliRunner

from snnc.cli import cli
from snnc.genome import parse_file
from snnc.genome.snasnet_code import code_from_genome, genome_from_code


def test_import_writes_the_canonical_genome(tmp_path: Path):
    out = tmp_path / "bw.genome"
    r = CliRunner().invoke(cli, ["import", "snasnet-code", "0302", "0030", "3003", "0000",
                                 "-o", str(out), "--name", "bw", "--classes", "100",
                                 "--vote", "5", "--input", "3x32x32"])
    assert r.exit_code == 0, r.output
    g = parse_file(out)
    assert g == genome_from_code("0302 0030 3003 0000", name="bw", classes=100, channels=128,
                                 vote=5)
    assert code_from_genome(g) == "0302 0030 3003 0000"


def test_import_prints_without_output_and_reports_bad_codes():
    r = CliRunner().invoke(cli, ["import", "snasnet-code", "0303 0030 2002 0200", "--order",
                                 "code", "--pool", "4"])
    assert r.exit_code == 0 and "skeleton snasnet cell=c1 pool=4 order=code" in r.output
    r = CliRunner().invoke(cli, ["import", "snasnet-code", "0302", "0030", "3503", "0000"])
    assert r.exit_code == 1
    assert "<snasnet-code>:1:12: row 2: '5' is not an operation digit" in r.output
    r = CliRunner().invoke(cli, ["import", "snasnet-code", "0302 0030 3003 0000", "--input", "3x"])
    assert r.exit_code == 2 and "expected a shape like 3x32x32" in r.output
