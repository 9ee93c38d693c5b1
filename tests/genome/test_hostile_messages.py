"""Messages on hostile input (issue 15 item 22): they name the right thing and stay short."""
import errno

import pytest

from snnc.atomic import atomic_write_text
from snnc.compiler import compile_file, compile_genome, load_model
from snnc.errors import ArtifactError, GenomeSyntaxError, SnncError
from snnc.genome import parse, parse_file, to_text

GOOD = ('snnc-genome 1\nname "x"\nT 2\ninput 1x8x8\nclasses 10\n'
        'stage s1 node channels=4 spiking=false\nclassifier head\n')


def test_a_31_digit_version_is_newer_not_version_1():
    with pytest.raises(GenomeSyntaxError, match=r"version 1000000000\S*\.\.\. \(31 digits\) is newer"):
        parse(GOOD.replace("snnc-genome 1", "snnc-genome 1" + "0" * 30))
    with pytest.raises(GenomeSyntaxError, match="version 2 is newer"):
        parse(GOOD.replace("snnc-genome 1", "# c\n\nsnnc-genome 0002"))
    assert parse(GOOD.replace("snnc-genome 1", "snnc-genome 01")).version == 1


def test_an_error_on_a_239000_character_line_is_cut_around_the_column():
    line = "stage s1 node channels=4 spiking=false " + "x=1 " * 60_000 + "@"
    with pytest.raises(GenomeSyntaxError) as info:
        parse(GOOD.replace("classifier head", line))
    msg = str(info.value)
    assert len(msg) < 1000
    head, shown, caret = msg.split("\n")
    assert shown.strip().startswith("...")
    assert shown[caret.index("^")] == "@"  # the caret still points at the fault


def test_a_lone_cr_is_read_the_same_by_every_reader(tmp_path):
    path = tmp_path / "cr.genome"
    path.write_bytes(GOOD.replace("\n", "\r").encode())
    assert to_text(parse_file(path)) == to_text(compile_file(path, target="train").genome)
    assert parse_file(path) == parse(GOOD)
    bad = tmp_path / "bad.genome"
    bad.write_bytes(GOOD.replace("channels=4", "channels=four").replace("\n", "\r").encode())
    with pytest.raises(GenomeSyntaxError) as a:
        parse_file(bad)
    with pytest.raises(GenomeSyntaxError) as b:
        compile_file(bad)
    assert str(a.value) == str(b.value) and ":6:" in str(a.value)


@pytest.mark.parametrize("content", [b"", b"\x00\x01\x02garbage", b"\xff\xfe\x00x" * 10])
def test_an_empty_or_binary_file_is_not_a_snnir_artifact(tmp_path, content):
    for name in ("m.snnir", "m.bin"):
        path = tmp_path / name
        path.write_bytes(content)
        if name == "m.bin" and not content:
            continue  # an empty file not named .snnir reads as an empty genome
        with pytest.raises(ArtifactError, match="not a .snnir artifact") as info:
            load_model(path)
        assert str(path) in str(info.value)


def test_write_errors_name_the_target_not_the_temporary_file(tmp_path):
    with pytest.raises(OSError) as info:
        atomic_write_text("/proc/x", "data")
    assert info.value.filename == "/proc/x"
    assert ".tmp" not in str(info.value)
    missing = tmp_path / "no" / "such" / "out.snnir"
    with pytest.raises(OSError) as info:
        atomic_write_text(missing, "data")
    assert info.value.filename == str(missing) and info.value.errno == errno.ENOENT


def test_full_disk_names_the_target(tmp_path, monkeypatch):
    import snnc.atomic as atomic

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", full)
    with pytest.raises(OSError) as info:
        atomic_write_text(tmp_path / "out.genome", "x")
    assert info.value.filename == str(tmp_path / "out.genome")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("seed", [-1, 2 ** 64, 1.5, "3", True])
def test_a_bad_seed_names_the_option(seed):
    with pytest.raises(SnncError, match="seed must be an integer"):
        compile_genome(GOOD, seed=seed)
