"""Resource limits (issue 15 item 18): a huge genome is a clean LimitError at file:line:col,
found before anything large is allocated, and overridable per call or by the environment."""
import glob
import time

import pytest

from snnc.compiler import compile_genome
from snnc.errors import LimitError, SnncError
from snnc.genome import parse
from snnc.limits import DEFAULTS, Limits, resolve
from snnc.search.stts import PRESETS, GraphModel, sample_stts

HEAD = 'snnc-genome 1\nname "x"\nT 2\ninput 1x8x8\nclasses 10\n'
TAIL = "classifier head\n"


def refused(text, limit, line, col, **kw):
    t0 = time.perf_counter()
    with pytest.raises(LimitError) as info:
        compile_genome(text, filename="big.genome", **kw)
    assert time.perf_counter() - t0 < 5, "refused only after a long time"
    err = info.value
    assert err.limit == limit
    assert str(err).startswith(f"big.genome:{line}:{col}: "), str(err)[:300]
    assert len(str(err)) < 1000
    return err


def test_channels_1e5_is_refused_at_the_value():
    refused(HEAD + "stage s1 node channels=100000 spiking=false\n" + TAIL, "channels", 6, 24)


def test_classes_of_400_digits():
    text = HEAD.replace("classes 10", "classes " + "9" * 400) + "stage s1 node channels=4\n" + TAIL
    err = refused(text, "classes", 5, 9)
    assert "400-digit" in str(err)


def test_a_million_nodes_does_not_hang():
    refused(HEAD + "stage s1 graph nodes=1000000 channels=4 {\n  0 -> 1\n}\n" + TAIL, "nodes", 6, 22)


def test_a_70000_character_block_name():
    refused(HEAD + "stage " + "a" * 70000 + " node channels=4\n" + TAIL, "name", 6, 7)


def test_parameters_counted_before_the_weights_are_drawn():
    # 60000 x 60000 x 3 x 3 float64 would be 259 GB: refused at the second stage's line
    text = HEAD + "stage s1 node channels=60000 spiking=false\nstage s2 node channels=60000\n" + TAIL
    err = refused(text, "params", 7, 1)
    assert "s2.conv" in str(err)


def test_macs_per_step():
    text = HEAD.replace("1x8x8", "1x2000x2000") + "stage s1 node channels=8000 spiking=false\n" + TAIL
    refused(text, "macs", 6, 1)


def test_edge_count_refused_before_the_text_is_parsed():
    n = 200
    body = "\n".join(f"  {i} -> {j}" for i in range(n) for j in range(i + 1, n))  # 19900 edges
    text = HEAD + f"stage s1 graph nodes={n} channels=4 {{\n{body}\n}}\n" + TAIL
    err = refused(text, "edges", 7 + 1000, 3, limits={"edges": 1000})
    assert "19,900" in str(err)


def test_limits_are_overridable_per_call_and_by_environment(monkeypatch):
    text = HEAD + "stage s1 node channels=70000 spiking=false kernel=1\n" + TAIL
    refused(text, "channels", 6, 24)
    assert compile_genome(text, target="train", limits={"channels": 10 ** 6}).graph
    monkeypatch.setenv("SNNC_LIMITS", "off")
    assert compile_genome(text, target="train").graph
    monkeypatch.setenv("SNNC_LIMITS", "channels=100")
    refused(HEAD + "stage s1 node channels=101 spiking=false\n" + TAIL, "channels", 6, 24)
    monkeypatch.delenv("SNNC_LIMITS")
    monkeypatch.setenv("SNNC_LIMIT_CHANNELS", "off")
    assert resolve().channels is None and resolve().params == DEFAULTS["params"][0]
    monkeypatch.setenv("SNNC_LIMIT_PARAMS", "lots")
    with pytest.raises(SnncError, match="SNNC_LIMIT_PARAMS"):
        resolve()


def test_every_preset_fits_the_defaults_with_a_margin():
    tight = Limits(**{k: max(1, v // 10) for k, (v, _) in DEFAULTS.items()
                      if k in ("params", "macs", "nodes", "edges", "channels", "classes")})
    for path in sorted(glob.glob("snnc/zoo/*.genome")) + ["examples/tanet-tiny.genome"]:
        compile_genome(open(path).read(), target="train", filename=path, limits=tight)


def test_the_sampler_refuses_what_compile_would_refuse():
    space = PRESETS["mnist-small"]
    big = space.__class__(**{**space.__dict__, "stages": (
        space.stages[0], space.stages[1].__class__(32, GraphModel("er", 4096, p=0.7), 2))})
    t0 = time.perf_counter()
    with pytest.raises(LimitError, match="edges"):
        sample_stts(big, 0)
    assert time.perf_counter() - t0 < 2
    with pytest.raises(LimitError, match="channels"):
        sample_stts(PRESETS["tanet-tiny"], 0, limits={"channels": 100})
    with pytest.raises(SnncError, match="seed"):
        sample_stts("mnist-small", -1)


def test_parse_alone_applies_the_genome_level_limits():
    with pytest.raises(LimitError, match="T is 1,000,000"):
        parse(HEAD.replace("T 2", "T 1000000") + "stage s1 node channels=4\n" + TAIL)
