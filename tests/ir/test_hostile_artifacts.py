"""Crafted .snnir files (issue 15 item 19): every fault is an ArtifactError naming the file and
the node or field, found on load, before any backend sees the graph."""
import json

import pytest
from tests.ir.graphs import conv_net
from tests.ir.test_artifact import members, rewrite

from snnc.errors import ArtifactError, DatasetError
from snnc.ir.artifact import load, read_extra, save
from snnc.runtime.data import load_dataset
from snnc.runtime.evaluate import Preprocess


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.snnir"
    save(conv_net(), path, extra={"config": {"dataset": "digits"}})
    return path


def edit_graph(path, change):
    def apply(m):
        data = json.loads(m["graph.json"])
        change(data)
        m["graph.json"] = json.dumps(data).encode()
    rewrite(path, apply)


def node(data, name):
    return next(n for n in data["nodes"] if n["name"] == name)


def refused(path, *fragments):
    with pytest.raises(ArtifactError) as info:
        load(path)
    msg = str(info.value)
    assert str(path) in msg
    for f in fragments:
        assert f in msg, msg
    return msg


@pytest.mark.parametrize("depth", [100, 100_000])
def test_deeply_nested_json_is_refused_without_recursion(saved, depth):
    def apply(m):
        data = json.loads(m["graph.json"])
        data["meta"]["x"] = "@"
        m["graph.json"] = json.dumps(data).encode().replace(b'"@"', b"[" * depth + b"]" * depth)
    rewrite(saved, apply)
    refused(saved, "graph.json", "deep")


def test_deeply_nested_extra_json(saved):
    rewrite(saved, lambda m: m.__setitem__("extra.json", b"[" * 50_000 + b"]" * 50_000))
    with pytest.raises(ArtifactError, match="extra.json nests"):
        read_extra(saved)


def test_brackets_inside_strings_do_not_count(saved):
    edit_graph(saved, lambda d: d["meta"].__setitem__("name", "[" * 1000 + '\\"{'))
    assert load(saved).meta["name"].startswith("[[[")


@pytest.mark.parametrize("attr,value,fragment", [
    ("v_th", {"$float": "nan"}, "'v_th' must be finite"),
    ("v_th", {"$float": "inf"}, "'v_th' must be finite"),
    ("beta", 1.5, "'beta' must be in [0.0, 1.0]"),
    ("beta", -0.2, "'beta' must be in [0.0, 1.0]"),
])
def test_neuron_attributes_out_of_range(saved, attr, value, fragment):
    edit_graph(saved, lambda d: node(d, "c1.lif")["attrs"].__setitem__(attr, value))
    refused(saved, "c1.lif", fragment)


def test_conv_padding_of_1e9(saved):
    edit_graph(saved, lambda d: node(d, "c1.conv")["attrs"].__setitem__("padding", 10 ** 9))
    refused(saved, "c1.conv", "'padding' must be in")


@pytest.mark.parametrize("key,value", [("T", 0), ("T", -5), ("T", "3"), ("T", {"$float": "nan"}),
                                       ("T", True), ("classes", 0)])
def test_meta_T_and_classes(saved, key, value):
    edit_graph(saved, lambda d: d["meta"].__setitem__(key, value))
    refused(saved, f"meta['{key}'] must be an integer >= 1")


def test_sizes_over_the_limits(saved, monkeypatch):
    monkeypatch.setenv("SNNC_LIMIT_CHANNELS", "3")
    refused(saved, "c1.conv", "over the limit of 3 channels")
    monkeypatch.setenv("SNNC_LIMIT_CHANNELS", "off")
    assert load(saved)


def test_extra_fields_of_the_wrong_type():
    for bad, fragment in [(5, "must be an object"), ({"encoding": 3, "T": 4}, "encoding"),
                          ({"encoding": "direct", "T": "3"}, "T must be"),
                          ({"encoding": "direct", "T": 0}, "T must be"),
                          ({"encoding": "direct", "T": 4, "mean": "abc"}, "mean"),
                          ({"encoding": "direct", "T": 4, "std": [0.0]}, "std must be positive")]:
        with pytest.raises(ArtifactError, match=fragment) as info:
            Preprocess.from_dict(bad, "m.snnir")
        assert "m.snnir" in str(info.value)
    pre = Preprocess(encoding="direct", T=4, mean=(0.5,), std=(0.25,))
    assert Preprocess.from_dict(pre.to_dict()) == pre


@pytest.mark.parametrize("name", [5, None, ["digits"], {"a": 1}])
def test_dataset_name_of_the_wrong_type(name):
    with pytest.raises(DatasetError, match="dataset name is a string"):
        load_dataset(name)


def test_a_good_file_still_loads(saved):
    assert set(members(saved)) == {"manifest.json", "graph.json", "weights.npz", "extra.json"}
    assert load(saved).meta["T"] == 4
