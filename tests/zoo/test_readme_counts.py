"""The README's preset table states what the presets hold: parameters without BatchNorm running
statistics (as its text says) and MACs per step, rounded as printed."""
import re
from pathlib import Path

import pytest

from snnc import zoo
from snnc.compiler import compile_genome
from snnc.ir.summary import summarize

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| `([\w-]+)`(?: / `([\w-]+)`)? \([^)]*\) \| ([\d.]+)M(?: / ([\d.]+)M)? \|"
                 r" [^|]* \| ([\d.]+[MG])(?: / ([\d.]+[MG]))? \|$")


def _rows():
    rows = {}
    for line in README.read_text().splitlines():
        m = ROW.match(line)
        if m:
            names = [m.group(1)] + ([m.group(2)] if m.group(2) else [])
            params = [m.group(3)] + ([m.group(4)] if m.group(4) else [])
            macs = [m.group(5)] + ([m.group(6)] if m.group(6) else [])
            for i, name in enumerate(names):
                rows[name] = (params[min(i, len(params) - 1)], macs[min(i, len(macs) - 1)])
    return rows


def _si(x: float) -> str:
    return f"{x / 1e9:.2f}G" if x >= 1e9 else f"{x / 1e6:.0f}M"


def test_every_preset_has_a_row():
    assert set(_rows()) == set(zoo.names())


@pytest.mark.parametrize("name", zoo.names())
def test_row_matches_the_preset(name):
    params, macs = _rows()[name]
    g = compile_genome(zoo.load(name), target="train").graph
    weights = sum(p.size for n in g for k, p in n.params.items()
                  if k not in ("running_mean", "running_var"))
    assert f"{weights / 1e6:.2f}" == params, (name, weights)
    assert _si(summarize(g).macs_per_step) == macs, name
