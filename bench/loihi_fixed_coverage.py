"""Which presets Loihi 2's fixed point covers: every preset of ``snnc/zoo`` at small width (the
widths of ``snnc.zoo.small.reduced``: 4 channels, 1x8x8 input, T = 2), prepared for the
``lava-fixed`` target (``quantize-loihi``), planned for Lava, and every planned synapse checked
for an exact 8-bit mantissa and exponent (what :mod:`snnc.backends.lava.fixed` builds; no Lava
runtime is started). Prints one JSON line per preset: ``maps`` or the refusal, and the sizes.

    .venv/bin/python bench/loihi_fixed_coverage.py
"""
import json

from snnc import zoo
from snnc.errors import SnncError
from snnc.frontend import lower
from snnc.ir import verify
from snnc.zoo.small import reduced
from snnc.passes.targets import prepare


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
