"""Presets at small width: the same genome with every width shrunk, 1x8x8 input, 10 classes and
T = 2 (the shape of scikit-learn's digits), so that every architecture of the zoo compiles,
runs and can be planned for deployment in seconds (tests, ``bench/lava_coverage.py``)."""
from __future__ import annotations

import dataclasses

from ..genome.ast import Genome

#: Reduced value of each width attribute (0 keeps "absent" absent).
SMALL = {"channels": 4, "hidden": 16, "vote": 2, "dropout": 0.0}


def reduced(genome: Genome) -> Genome:
    """``genome`` with its widths shrunk (:data:`SMALL`), digits' input (1x8x8), 10 classes and
    T = 2; named ``<name>-small``."""
    # 8x8 halves at most 3 times: the first extra stride-2 stages (TANet-Regular's ImageNet
    # stem) keep their resolution instead
    strided = [i for i, b in enumerate(genome.blocks) if b.kind == "stage" and b["stride"] == 2]
    keep = set(strided[:max(len(strided) - 3, 0)])
    blocks = []
    for i, block in enumerate(genome.blocks):
        attrs = tuple((k, (SMALL[k] if v else v) if k in SMALL else v) for k, v in block.attrs)
        if i in keep:
            attrs = tuple((k, 1 if k == "stride" else v) for k, v in attrs)
        blocks.append(dataclasses.replace(block, attrs=attrs))
    return dataclasses.replace(genome, blocks=tuple(blocks), input_shape=(1, 8, 8), T=2,
                               classes=10, name=genome.name + "-small")
