"""Lava coverage of every genome family: each zoo preset and example genome at small width
(``snnc.zoo.small.reduced``: channels 4, 1x8x8 input, T = 2), plus variants the presets do not
contain: ResNet-18-BC with backward delays that cover their cycles' hops (so its upsampled
connection is planned), SpikeDHS with ALIF and IF layers, with a ReLU layer of a hybrid network,
and the layer-level trellis supernet. Each goes through the ``lava`` target's passes and
:func:`snnc.backends.lava.coverage`: per genome whether it maps (and its Lava processes) or why
it is refused, and per op how it runs.
Planning only: Lava is never started. Prints markdown (the README's table) or JSON.

    .venv/bin/python bench/lava_coverage.py [--format markdown|json]
"""
import argparse
import json
from collections import Counter
from pathlib import Path

from snnc import zoo
from snnc.backends.lava.coverage import coverage_of
from snnc.frontend import lower
from snnc.genome import parse
from snnc.ir import verify
from snnc.zoo.small import reduced

ROOT = Path(__file__).resolve().parent.parent

#: SpikeDHS variants of examples/spikedhs-small.genome: (name, layer -> neuron block).
DHS_VARIANTS = [
    ("spikedhs-small, ALIF + IF layers", {"l2": "neuron alif leak=0.2 v_th=0.5 rho=0.2",
                                          "l3": "neuron if v_th=0.5"}),
    ("spikedhs-small, ReLU layer (HNS hybrid)", {"l2": "neuron relu"}),
]

TRELLIS = """snnc-genome 1
name "spikedhs-trellis"
T 2
input 1x8x8
classes 10
neuron lif leak=0.2 v_th=0.5
surrogate dspike b=3

cell c dhs channels=4 nodes=2 {
  -2 -> 0 mix
  -1 -> 0 mix
  -1 -> 1 mix
  0 -> 1 mix
}
trellis t cell=c layers=3 levels=3
"""


def family(genome) -> str:
    kinds = {b.kind for b in genome.blocks}
    forms = {b.form for b in genome.blocks if b.kind == "cell"}
    if "resnet" in kinds:
        return "BCNAS-SNN ResNet"
    if "snasnet" in forms:
        return "SNASNet"
    if forms & {"dhs"} or kinds & {"layer", "trellis"}:
        return "SpikeDHS"
    return "STTS / TANet"


def genomes():
    """(label, genome) of every preset, example and variant, at small width."""
    out = [(f"zoo {n}", reduced(zoo.load(n))) for n in zoo.names()]
    for path in sorted((ROOT / "examples").glob("*.genome")):
        out.append((f"examples/{path.name}", reduced(parse(path.read_text(), filename=str(path)))))
    text = zoo.get("resnet18-bc").text.replace("back 3 -> 1 @1", "back 3 -> 1 @3")
    out.append(("resnet18-bc, backward delays 3 and 10", reduced(parse(
        text.replace("back 8 -> 0 @1", "back 8 -> 0 @10")))))
    base = (ROOT / "examples" / "spikedhs-small.genome").read_text()
    for label, blocks in DHS_VARIANTS:
        text = base
        for layer, body in blocks.items():
            line = next(ln for ln in text.splitlines() if ln.startswith(f"layer {layer} "))
            text = text.replace(line, f"{line} {{\n  {body}\n}}")
        out.append((label, reduced(parse(text))))
    out.append(("spikedhs trellis (supernet)", parse(TRELLIS)))
    return out


def rows():
    result = []
    for label, genome in genomes():
        cov = coverage_of(verify(lower(genome, seed=0)), name=label)
        ops = Counter(r.op for r in cov.nodes)
        result.append({"genome": label, "family": family(genome), "ops": dict(ops),
                       "coverage": cov})
    return result


def _cut(text: str, n: int = 230) -> str:
    text = text.replace("|", "/").replace("\n", " ")
    return text if len(text) <= n else text[:n - 1] + "…"


def markdown(result) -> str:
    lines = ["| genome (small width) | family | Lava | processes / why refused |",
             "|---|---|---|---|"]
    for r in result:
        cov = r["coverage"]
        if cov.maps:
            what = (f"{cov.neurons} neuron, {cov.synapses} synapse, {cov.injectors} injector, "
                    f"{cov.delay_hops} delay-line processes")
        else:
            what = _cut(cov.refusal)
        lines.append(f"| {r['genome']} | {r['family']} | {'maps' if cov.maps else 'refused'} "
                     f"| {what} |")
    per_op: dict[str, Counter] = {}
    where: dict[str, set] = {}
    for r in result:
        for op, c in r["coverage"].by_op().items():
            per_op.setdefault(op, Counter()).update(c)
            where.setdefault(op, set()).add(r["family"])
    lines += ["", "| op | how it runs on Lava (nodes) | families |", "|---|---|---|"]
    for op in sorted(per_op):
        how = "; ".join(f"{st}: {_cut(h, 200)} ({n})" for (st, h), n in per_op[op].most_common())
        lines.append(f"| {op} | {how} | {', '.join(sorted(where[op]))} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--format", choices=["markdown", "json"], default="markdown")
    args = ap.parse_args()
    result = rows()
    if args.format == "json":
        print(json.dumps([{**{k: v for k, v in r.items() if k != "coverage"},
                           **r["coverage"].to_dict()} for r in result], indent=1))
    else:
        print(markdown(result))


if __name__ == "__main__":
    main()
