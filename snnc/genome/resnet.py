"""Facts about the ResNet genome family that several layers need (frontend, drawing, searchers):
the supported depths and the names and order of a ResNet's LIF-layer ports (BCNAS-SNN section 4.2.1).
"""
from __future__ import annotations

#: depth -> (blocks per stage, stride of each stage, width multiple of each stage).
DEPTHS: dict[int, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = {
    18: ((2, 2, 2, 2), (1, 2, 2, 2), (1, 2, 4, 8)),
    19: ((3, 3, 2), (1, 2, 2), (1, 2, 4)),
}


def port_names(name: str, depth: int) -> list[str]:
    """The LIF node names of ``resnet NAME depth=...`` in port order (index = port number).

    Raises:
        KeyError: an unsupported depth (see :data:`DEPTHS`).
    """
    blocks, _, _ = DEPTHS[depth]
    names = [f"{name}.stem.lif"]
    for s, n in enumerate(blocks, start=1):
        for k in range(n):
            names += [f"{name}.s{s}.b{k}.lif1", f"{name}.s{s}.b{k}.lif2"]
    return names
