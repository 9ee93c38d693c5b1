"""The .snnir artifact: exact round trips, every corruption named with the file, atomic writes."""
import hashlib
import io
import json
import os
import zipfile

import numpy as np
import pytest
from tests.ir.graphs import EXAMPLES, assert_graphs_equal, mlp, recurrent_net, sample_input

from snnc.errors import ArtifactError
from snnc.ir import Graph, interpret, verify
from snnc.ir import artifact
from snnc.ir.artifact import load, read_extra, read_manifest, save


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.snnir"
    save(recurrent_net(), path)
    return path


def members(path):
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def rewrite(path, change, fix_checksums=True):
    """Rebuild the archive after ``change(members)``; by default recompute the manifest's
    checksums so that only the intended fault remains."""
    m = members(path)
    change(m)
    if fix_checksums and "manifest.json" in m:
        man = json.loads(m["manifest.json"])
        man["members"] = {k: {"sha256": hashlib.sha256(v).hexdigest(), "size": len(v)}
                          for k, v in m.items() if k != "manifest.json"}
        m["manifest.json"] = json.dumps(man).encode()
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in m.items():
            zf.writestr(name, data)


def expect_error(path, *fragments, **kw):
    with pytest.raises(ArtifactError) as info:
        load(path, **kw)
    msg = str(info.value)
    assert str(path) in msg, msg
    for f in fragments:
        assert f in msg, msg
    return msg


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_round_trip_preserves_graph_and_outputs(tmp_path, name):
    g = verify(EXAMPLES[name]())
    path = save(g, tmp_path / f"{name}.snnir")
    back = load(path)
    assert_graphs_equal(g, back)
    x = sample_input(g)
    assert np.array_equal(interpret(g, x), interpret(back, x))


def test_dtypes_survive(tmp_path):
    g = mlp()
    g["fc1"].params["weight"][0, 0] = np.float32(1 / 3)
    back = load(save(g, tmp_path / "m.snnir"))
    assert back["fc1"].params["weight"].dtype == np.float32
    weights = recurrent_net().nodes["a.conv"].params["weight"]
    assert weights.dtype == np.float64
    back = load(save(recurrent_net(), tmp_path / "r.snnir"))
    assert back["a.conv"].params["weight"].tobytes() == weights.tobytes()


def test_manifest_extra_and_reproducible_bytes(tmp_path, saved):
    man = read_manifest(saved)
    assert (man["format"], man["format_version"]) == ("snnc-ir", 1)
    assert man["snnc_version"] and man["created_by"].startswith("snnc ")
    stored = members(saved)
    assert set(stored) == {"manifest.json", "graph.json", "weights.npz"}
    for name, rec in man["members"].items():
        data = stored[name]
        assert rec == {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    with np.load(io.BytesIO(stored["weights.npz"]), allow_pickle=False) as npz:
        assert "a.conv/weight" in npz.files
    assert read_extra(saved) == {}
    again = save(recurrent_net(), tmp_path / "again.snnir")
    assert again.read_bytes() == saved.read_bytes()
    extra = {"epochs": 3, "acc": 0.5, "lr": (0.1, 0.01), "notes": None}
    save(recurrent_net(), saved, extra=extra)
    assert read_extra(saved) == extra and isinstance(read_extra(saved)["lr"], tuple)
    load(saved)


def test_graph_without_params(tmp_path):
    g = Graph({"T": 2})
    g.add_node("in", "Input", {"shape": (3,)})
    g.add_node("lif", "LIF", {"beta": 0.5})
    g.add_node("out", "Output")
    g.add_edge("in", "lif")
    g.add_edge("lif", "out")
    assert_graphs_equal(verify(g), load(save(g, tmp_path / "p.snnir")))


def test_missing_file_and_directory(tmp_path):
    expect_error(tmp_path / "nope.snnir", "no such file")
    expect_error(tmp_path, "is a directory")


@pytest.mark.parametrize("cut", [0, 1, 4, 30, 100, 0.5, -200, -22, -1])
def test_truncated_file(saved, cut):
    data = saved.read_bytes()
    n = int(len(data) * cut) if isinstance(cut, float) else cut % len(data) if cut < 0 else cut
    saved.write_bytes(data[:n])
    expect_error(saved, "truncated")


def test_not_a_zip(saved):
    saved.write_text("snnc-genome 1\n")
    expect_error(saved, "not a .snnir artifact")


@pytest.mark.parametrize("member", ["manifest.json", "graph.json", "weights.npz"])
def test_flipped_byte_inside_a_member(saved, member):
    data = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as zf:
        info = zf.getinfo(member)
    at = info.header_offset  # local header: 30 fixed bytes, then name and extra field
    name_len, extra_len = np.frombuffer(data[at + 26:at + 30], "<u2")
    start = at + 30 + int(name_len) + int(extra_len)
    data[start + info.compress_size // 2] ^= 0x10
    saved.write_bytes(bytes(data))
    expect_error(saved, member)


def test_damage_anywhere_is_an_artifact_error_or_harmless(saved):
    """Every 37th truncation and byte flip: an ArtifactError naming the file, or (a flip in a
    ZIP header field readers ignore, such as a date) the very same graph."""
    data, want = saved.read_bytes(), load(saved)
    damaged = saved.with_name("damaged.snnir")
    cases = [data[:n] for n in range(0, len(data), 37)]
    cases += [data[:i] + bytes([data[i] ^ 0x04]) + data[i + 1:] for i in range(0, len(data), 37)]
    for case in cases:
        damaged.write_bytes(case)
        try:
            got = load(damaged)
        except ArtifactError as exc:
            assert "damaged.snnir: " in str(exc)
        else:
            assert_graphs_equal(want, got)


def test_checksum_mismatch(saved):
    rewrite(saved, lambda m: m.update({"graph.json": m["graph.json"].replace(b"0.6", b"0.7")}),
            fix_checksums=False)
    expect_error(saved, "checksum mismatch in graph.json")


@pytest.mark.parametrize("member", ["graph.json", "weights.npz", "manifest.json"])
def test_missing_member(saved, member):
    rewrite(saved, lambda m: m.pop(member), fix_checksums=False)
    expect_error(saved, member)


def test_unexpected_member(saved):
    rewrite(saved, lambda m: m.update({"payload.pkl": b"x"}))
    expect_error(saved, "unexpected member(s) 'payload.pkl'")


@pytest.mark.parametrize("member", ["graph.json", "manifest.json"])
def test_invalid_json(saved, member):
    rewrite(saved, lambda m: m.update({member: b'{"nodes": ['}),
            fix_checksums=member != "manifest.json")
    expect_error(saved, f"{member} is not valid JSON")


def edit_json(member, change):
    def go(m):
        d = json.loads(m[member])
        change(d)
        m[member] = json.dumps(d).encode()
    return go


def test_newer_format_version(saved):
    rewrite(saved, edit_json("manifest.json", lambda d: d.update(format_version=2)))
    msg = expect_error(saved, "was written by a newer snnc (format 2", "reads format 1",
                       "upgrade snnc")
    assert msg == str(pytest.raises(ArtifactError, read_manifest, saved).value)


@pytest.mark.parametrize("change, fragment", [
    (lambda d: d.update(format="onnx"), "format 'onnx', expected 'snnc-ir'"),
    (lambda d: d.update(format_version="1"), "invalid format_version '1'"),
    (lambda d: d.update(members=[]), "no valid 'members' table"),
])
def test_bad_manifest(saved, change, fragment):
    rewrite(saved, edit_json("manifest.json", change), fix_checksums=False)
    expect_error(saved, fragment)


def edit_weights(change):
    def go(m):
        with np.load(io.BytesIO(m["weights.npz"]), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        change(arrays)
        buf = io.BytesIO()
        np.savez(buf, **arrays)  # keys like "fc/bias" become members "fc/bias.npy"
        m["weights.npz"] = buf.getvalue()
    return go


@pytest.mark.parametrize("change, fragment", [
    (lambda a: a.pop("fc/bias"), "array 'fc/bias' is missing"),
    (lambda a: a.update(stray=np.zeros(2)), "not referenced by any node: stray"),
    (lambda a: a.update({"fc/bias": np.zeros(5)}), "recorded as float64[3]"),
])
def test_params_missing_extra_or_misshapen(saved, change, fragment):
    rewrite(saved, edit_weights(change))
    expect_error(saved, fragment)


def test_param_shape_disagreeing_with_its_op(saved):
    def both(m):
        edit_weights(lambda a: a.update({"fc/bias": np.zeros(5)}))(m)
        edit_json("graph.json", lambda d: next(n for n in d["nodes"] if n["name"] == "fc")
                  ["params"]["bias"].update(shape=[5]))(m)
    rewrite(saved, both)
    expect_error(saved, "stored graph is invalid", "'fc'", "expected (3,)")


def test_graph_failing_verify(saved):
    def zero_delay_back_edge(d):
        for e in d["edges"]:
            if e["kind"] == "backward":
                e["delay"] = 0
    rewrite(saved, edit_json("graph.json", zero_delay_back_edge))
    expect_error(saved, "stored graph is invalid", "backward edge needs delay >= 1")
    assert load(saved, verify=False)["a.lif"].op == "LIF"


# ----------------------------------------------------------------- atomic writes
def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_failed_save_leaves_nothing(tmp_path):
    g = recurrent_net()
    g["fc"].params["weight"] = g["fc"].params["weight"].astype(object)
    with pytest.raises(ArtifactError, match="model.snnir: cannot save.*'fc'.*object"):
        save(g, tmp_path / "model.snnir")
    assert list(tmp_path.iterdir()) == []


def test_invalid_graph_is_not_saved(tmp_path):
    g = recurrent_net()
    g.add_edge("in", "out")
    with pytest.raises(ArtifactError, match="model.snnir: cannot save: .*'out'"):
        save(g, tmp_path / "model.snnir")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where, exc", [("os.replace", OSError("disk full")),
                                        ("os.fsync", OSError("io error")),
                                        ("zipfile.ZipFile.writestr", KeyboardInterrupt())])
def test_interrupted_write_keeps_old_file(saved, monkeypatch, where, exc):
    before = saved.read_bytes()
    module, _, attr = where.rpartition(".")
    target = {"os": artifact.os, "zipfile.ZipFile": zipfile.ZipFile}[module]

    def boom(*args, **kwargs):
        raise exc
    monkeypatch.setattr(target, attr, boom)
    with pytest.raises((ArtifactError, KeyboardInterrupt)) as info:
        save(mlp(), saved)
    monkeypatch.undo()
    if isinstance(exc, OSError):
        assert "model.snnir: cannot write" in str(info.value)
    assert saved.read_bytes() == before and leftovers(saved.parent) == []
    load(saved)


def test_extra_must_be_json_dict(tmp_path):
    with pytest.raises(ArtifactError, match="m.snnir: cannot save: extra must be a dict"):
        save(mlp(), tmp_path / "m.snnir", extra=[1])
    with pytest.raises(ArtifactError, match=r"extra\['run'\]: cannot serialise .* set"):
        save(mlp(), tmp_path / "m.snnir", extra={"run": {1, 2}})
    assert list(tmp_path.iterdir()) == []


def test_unwritable_destination(tmp_path):
    with pytest.raises(ArtifactError, match="cannot write"):
        save(mlp(), tmp_path / "missing-dir" / "m.snnir")
    with pytest.raises(ArtifactError, match="cannot write"):
        save(mlp(), tmp_path)  # a directory


def test_file_mode_follows_umask(tmp_path):
    old = os.umask(0o027)
    try:
        path = save(mlp(), tmp_path / "m.snnir")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640
