"""Fuzzing (issue 15, "Done when"): mutated shipped genomes and damaged artifacts end in a result
or an SnncError, never another exception and never a hang. ``bench/fuzz.py`` runs thousands."""
import numpy as np
import pytest
from click.testing import CliRunner

from snnc.cli import cli
from snnc.compiler import compile_genome
from snnc.ir.artifact import load, read_extra, save
from snnc.testing import fuzz

SECONDS = 20  # per input; a mutant within the default limits compiles in well under that


def check(tally):
    assert tally.traceback == 0 and tally.hang == 0, "\n\n".join(tally.failures)
    assert tally.clean > tally.inputs // 4  # the mutants do reach the checks


@pytest.mark.slow
def test_mutated_genomes_parse_and_compile_cleanly():
    rng = np.random.default_rng(15)
    seeds = fuzz.seed_genomes()
    names = sorted(seeds)
    tally = fuzz.Tally()
    for i in range(300):
        name = names[int(rng.integers(len(names)))]
        text = fuzz.mutate_genome(seeds[name], rng)
        # full-size presets go to target train (no passes) to keep the test to seconds
        target = "lava" if name.endswith("@4") else "train"
        tally.add(*fuzz.run(lambda: compile_genome(text, target=target, filename=name), SECONDS,
                            f"#{i} {name}"))
    check(tally)


@pytest.mark.slow
def test_mutated_genomes_through_the_cli(tmp_path):
    rng = np.random.default_rng(1515)
    seeds = {k: v for k, v in fuzz.seed_genomes().items() if k.endswith("@4")}
    names = sorted(seeds)
    runner = CliRunner()
    tally = fuzz.Tally()
    for i in range(40):
        path = tmp_path / f"m{i}.genome"
        path.write_bytes(fuzz.mutate_genome(seeds[names[i % len(names)]], rng).encode("utf-8",
                                                                                    "replace"))
        result = runner.invoke(cli, ["compile", str(path), "-o", str(tmp_path / "m.snnir"),
                                     "--emit", "none"])
        bad = result.exit_code not in (0, 1) or "Traceback" in result.output
        tally.add("traceback" if bad else ("ok" if result.exit_code == 0 else "clean"),
                  f"{path.name}: exit {result.exit_code}\n{result.output[-2000:]}")
    check(tally)


@pytest.mark.slow
def test_damaged_artifacts_load_cleanly(tmp_path):
    graph = compile_genome(fuzz.seed_genomes()["interop.genome"], target="train").graph
    path = tmp_path / "good.snnir"
    save(graph, path, extra={"config": {"dataset": "digits", "lr": 0.1},
                             "preprocess": {"encoding": "direct", "T": 3, "mean": [0.5],
                                            "std": [0.2]}})
    blob = path.read_bytes()
    rng = np.random.default_rng(19)
    tally = fuzz.Tally()
    bad = tmp_path / "bad.snnir"
    for i in range(200):
        bad.write_bytes(fuzz.mutate_artifact(blob, rng))
        tally.add(*fuzz.run(lambda: (load(bad), read_extra(bad)), SECONDS, f"#{i}"))
    check(tally)
