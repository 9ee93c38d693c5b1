"""Pass tests written as IR text: every ``cases/*.ir`` file runs one pass on a "before" graph.

A case file is IR text in sections marked by comment lines (so each section is plain IR text)::

    # pass: fold-bn                 the pass spec, as for ``snnc compile --passes``
    # ... what the case shows ...
    # ---- before                   the input graph
    # ---- after                    the expected result (compared with a small tolerance, since
                                    folded params are computed in floating point)
    # ---- error                    or: the comment lines below hold the expected error message
                                    (a parse error of "before", or the pass manager's refusal)

Sections keep their line numbers, so a parse error names the line of the case file.
"""
from pathlib import Path

import pytest

from snnc.errors import SnncError
from snnc.ir.graph import graph_differences
from snnc.ir.text import parse_ir
from snnc.ir.verify import verify
from snnc.passes import PassManager, parse_pipeline

CASES = sorted((Path(__file__).parent / "cases").glob("*.ir"))
SECTIONS = ("before", "after", "error")


def read_case(path: Path) -> tuple[str, dict[str, str]]:
    """The pass spec and each section's text, padded with empty lines to its place in the file."""
    lines = path.read_text(encoding="utf-8").split("\n")
    spec = lines[0].removeprefix("# pass:").strip()
    assert lines[0].startswith("# pass:") and spec, f"{path.name}: line 1 must be '# pass: NAME'"
    starts = {}
    for i, line in enumerate(lines):
        if line.startswith("# ---- "):
            name = line.removeprefix("# ---- ").strip()
            assert name in SECTIONS and name not in starts, f"{path.name}:{i + 1}: bad marker"
            starts[name] = i
    bounds = sorted(starts.values()) + [len(lines)]
    sections = {}
    for name, i in starts.items():
        end = bounds[bounds.index(i) + 1]
        sections[name] = "\n" * (i + 1) + "\n".join(lines[i + 1:end])
    assert "before" in sections and len(sections) == 2, \
        f"{path.name}: needs a 'before' section and one 'after' or 'error' section"
    return spec, sections


def expected_error(section: str) -> str:
    return " ".join(line.removeprefix("#").strip() for line in section.split("\n")
                    if line.startswith("#"))


def run_case(path: Path):
    spec, sections = read_case(path)
    before = parse_ir(sections["before"], filename=path.name)
    graph, _ = PassManager(parse_pipeline(spec)).run(before)
    return graph, sections


def test_there_are_cases_for_fold_bn_and_remove_dead():
    specs = {read_case(p)[0] for p in CASES}
    assert {"fold-bn", "remove-dead"} <= specs


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_case(path):
    spec, sections = read_case(path)
    if "error" in sections:
        want = expected_error(sections["error"])
        with pytest.raises(SnncError) as info:
            run_case(path)
        assert want in str(info.value), f"expected {want!r} in:\n{info.value}"
        return
    graph, _ = run_case(path)
    # verify fills in attribute defaults and shapes that a hand-written "after" may leave out
    after = verify(parse_ir(sections["after"], filename=path.name))
    for key in ("passes", "passes_changed"):  # the record of passes run is history, not the graph
        graph.meta.pop(key, None)
    assert graph_differences(after, graph, rtol=1e-12, atol=1e-12) == []
