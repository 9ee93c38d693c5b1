"""Bounded reads (issue 15, item 21): an endless or huge input file is refused by name after at
most limit + 1 bytes, never read until the machine runs out of memory."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from snnc.cli import cli
from snnc.compiler import load_model, read_text
from snnc.errors import ArtifactError, SnncError
from snnc.ir.artifact import load
from snnc.readlimit import max_bytes, read_bytes

REPO = Path(__file__).resolve().parents[1]
GENOME = REPO / "examples" / "interop.genome"


@pytest.fixture
def sparse(tmp_path) -> Path:
    """A 64 GiB file that takes no disk space (a hole)."""
    path = tmp_path / "huge.genome"
    with open(path, "wb") as fh:
        fh.truncate(64 * 2**30)
    return path


def test_dev_zero_is_refused_as_a_genome():
    with pytest.raises(SnncError, match=r"/dev/zero: larger than the 64 MiB snnc reads for a "
                                        r"genome file; set SNNC_MAX_GENOME_BYTES"):
        read_text(Path("/dev/zero"))
    # load_model looks at the first bytes first: zeros are neither an artifact nor a genome
    with pytest.raises(SnncError, match=r"/dev/zero: not a \.snnir artifact"):
        load_model("/dev/zero")


def test_cli_show_dev_zero_is_one_line_error():
    res = CliRunner(mix_stderr=False).invoke(cli, ["show", "/dev/zero"])
    assert res.exit_code == 1 and res.stderr.count("\n") == 1
    assert res.stderr.startswith("snnc: error: /dev/zero: ")


def test_a_huge_sparse_file_is_refused_and_the_limit_is_overridable(sparse, monkeypatch):
    with pytest.raises(SnncError, match="huge.genome: larger than the 1 KiB"):
        read_text(sparse, max_bytes=1024)
    monkeypatch.setenv("SNNC_MAX_GENOME_BYTES", "2K")
    with pytest.raises(SnncError, match="larger than the 2 KiB"):
        read_text(sparse)
    assert read_text(GENOME) == GENOME.read_text()  # a small file still reads
    monkeypatch.setenv("SNNC_MAX_GENOME_BYTES", "10")
    with pytest.raises(SnncError, match="larger than the 10 bytes"):
        read_text(GENOME)
    monkeypatch.setenv("SNNC_MAX_GENOME_BYTES", "lots")
    with pytest.raises(SnncError, match="SNNC_MAX_GENOME_BYTES='lots': expected a positive"):
        max_bytes("genome")


def test_read_bytes_reads_at_most_limit_plus_one(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    assert read_bytes(path, "genome", limit=100) == b"x" * 100
    with pytest.raises(SnncError):
        read_bytes(path, "genome", limit=99)


def test_artifact_parts_have_a_size_limit(tmp_path, monkeypatch):
    from snnc.compiler import compile_file
    from snnc.ir.artifact import save

    path = save(compile_file(GENOME, target="train").graph, tmp_path / "m.snnir")
    assert load(path).nodes  # under the default limit
    monkeypatch.setenv("SNNC_MAX_ARTIFACT_BYTES", "64")
    with pytest.raises(ArtifactError, match=r"m.snnir: member manifest.json is larger than the "
                                            r"64 bytes .*SNNC_MAX_ARTIFACT_BYTES"):
        load(path)


def test_an_artifact_that_is_not_a_regular_file_is_refused(tmp_path):
    fifo = tmp_path / "pipe.snnir"
    os.mkfifo(fifo)
    with pytest.raises(ArtifactError, match="pipe.snnir: not a regular file"):
        load(fifo)
