"""Which presets Loihi 2's fixed point covers: every preset of ``snnc/zoo`` at small width (the
widths of ``tests/zoo/test_presets_small.py``: 4 channels, 1x8x8 input, T = 2), prepared for the
``lava-fixed`` target (``quantize-loihi``), planned for Lava, and every planned synapse checked
for an exact 8-bit mantissa and exponent (what :mod:`snnc.backends.lava.fixed` builds; no Lava
runtime is started). Prints one JSON line per preset: ``maps`` or the refusal, and the sizes.

    .venv/bin/python bench/loihi_fixed_coverage.py
"""
import dataclasses
import json

from snnc import zoo
from snnc.errors import SnncError
from snnc.frontend import lower
from snnc.ir import verify
from snnc.passes.targets import prepare


def reduced(genome):
    """The preset at small width (as ``tests/zoo/test_presets_small.py`` shrinks it)."""
    small = {"channels": 4, "hidden": 16, "vote": 2, "dropout": 0.0}
    strided = [i for i, b in enumerate(genome.blocks) if b.kind == "stage" and b["stride"] == 2]
    keep = set(strided[:max(len(strided) - 3, 0)])
    blocks = []
    for i, block in enumerate(genome.blocks):
        attrs = tuple((k, (small[k] if v else v) if k in small else v) for k, v in block.attrs)
        if i in keep:
            attrs = tuple((k, 1 if k == "stride" else v) for k, v in attrs)
        blocks.append(dataclasses.replace(block, attrs=attrs))
    return dataclasses.replace(genome, blocks=tuple(blocks), input_shape=(1, 8, 8), T=2,
                               classes=10)


def main() -> None:
    from snnc.backends.lava import compat, plan
    from snnc.backends.lava.build import lava_matrix
    compat.install()
    from snnc.backends.lava.fixed import synapse_weights

    for name in zoo.names():
        row = {"preset": name}
        try:
            graph = verify(lower(reduced(zoo.load(name)), seed=0))
            q, records = prepare(graph, "lava-fixed")
            p = plan(q)
            for s in p.synapses:
                if not s.direct:
                    m = lava_matrix(s.op, sparse=True)
                    synapse_weights(m.data, f"{s.src} -> {s.dst}")
            row.update(status="maps", neurons=len(p.neurons),
                       synapses=sum(not s.direct for s in p.synapses),
                       approximations=len(q.meta["loihi"]["approximations"]))
        except SnncError as exc:
            row.update(status="refused", why=str(exc).split("]: ", 1)[-1])
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
