"""The target table: which passes make a graph ready for each consumer, in one place.

Every caller that hands a graph to a backend (the CLI, training, the Lava check, the energy
report, NIR and ONNX export) asks :func:`prepare` for its target by name. Each target's pipeline
and why:

==========  ================================================  ======================================
target      passes                                            why
==========  ================================================  ======================================
``train``   none                                              BatchNorm statistics, Dropout and a
                                                              PLIF's trainable leak are what
                                                              training updates
``energy``  drop-training, freeze-plif, remove-dead,          the network as the papers count it
            fold-bn, fold-scale                               (STTS Appendix C, Table 5): separable
                                                              convolutions stay depthwise +
                                                              pointwise (fold-depthwise would count
                                                              a dense k x k conv, about 7x the MACs
                                                              of TANet-Tiny)
``lava``    the ``deploy`` pipeline (``energy`` plus          Loihi through Lava: no grouped
            fold-depthwise, in the order of                   convolutions, BatchNorm and the sink
            :mod:`.manager`'s docstring)                      mean folded into synapses/thresholds
``lava-      ``lava``'s passes, then quantize-loihi            Loihi 2's integer formats (8-bit
fixed``                                                       weights, 24-bit state), as Lava's
                                                              ``fixed_pt`` models run them
``nir``     ``deploy``                                        NIR has no BatchNorm; the consumers
                                                              (snnTorch, Norse, SpikingJelly)
                                                              run what Lava runs
``onnx``    ``deploy``                                        one folded time step, as deployed
``netx``    ``deploy``                                        lava-dl netx blocks for Loihi 2: the
                                                              graph Lava runs, as one chain
==========  ================================================  ======================================

An artifact records the passes already run on it (``graph.meta["passes"]``); :func:`prepare` runs
only the target's passes that are not recorded yet, so nothing is folded twice, and it refuses a
graph that a pass the target must not see has already changed (``fold-depthwise`` for ``energy``),
since no pass undoes a fold. Only ``train`` takes a supernet (Choice or WeightedMix nodes, which the
torch backend runs under an assignment); every other target refuses one, naming the node, until
``resolve-choices`` has made it one plain candidate.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import PassError
from ..ir.choices import UNRESOLVED
from ..ir.graph import Graph
from ..ir.ops import CHOICE_OPS
from .manager import PIPELINES, Hook, PassRecord, passes_run, run_pipeline


@dataclass(frozen=True)
class Target:
    """One consumer of graphs: its ``name``, the ``passes`` it needs in order, and the passes it
    must not see (``forbids``: a fold that changes what the target measures)."""

    name: str
    passes: tuple[str, ...]
    purpose: str
    forbids: tuple[str, ...] = ()


_DEPLOY = tuple(PIPELINES["deploy"])
#: Every target by name.
TARGETS: dict[str, Target] = {t.name: t for t in (
    Target("train", (), "training: BatchNorm, Dropout and trainable leaks kept"),
    Target("energy", tuple(p for p in _DEPLOY if p != "fold-depthwise"),
           "the papers' energy count (STTS Appendix C): separable convolutions kept",
           forbids=("fold-depthwise",)),
    Target("lava", _DEPLOY, "Loihi 2 through Lava: every fold, no grouped convolutions"),
    Target("lava-fixed", _DEPLOY + ("quantize-loihi",),
           "Loihi 2's integer formats (Lava fixed_pt): the lava target, then quantize-loihi"),
    Target("nir", _DEPLOY, "NIR interchange: BatchNorm folded, Dropout dropped"),
    Target("onnx", _DEPLOY, "ONNX, one time step of the folded network"),
    Target("netx", _DEPLOY, "lava-dl netx (Loihi 2 blocks): every fold, no grouped convolutions"),
)}


def get_target(name: str) -> Target:
    """The target called ``name``.

    Raises:
        PassError: an unknown name (the message lists the known targets).
    """
    try:
        return TARGETS[name]
    except KeyError:
        raise PassError(f"unknown target {name!r}; known targets: {', '.join(TARGETS)}") from None


def prepare(graph: Graph, target: str, *, hook: Hook | None = None
            ) -> tuple[Graph, list[PassRecord]]:
    """``graph`` made ready for ``target``: a new verified graph and one record per pass run.

    Passes already recorded in ``graph.meta["passes"]`` are not run again; the result records
    every pass it has been through. ``graph`` itself is not modified.

    Raises:
        PassError: an unknown target, a graph that has been through a pass the target forbids
            (``"... was folded by fold-depthwise; the energy target counts separable convolutions
            ..."``), a supernet for any target but ``train`` (the message names a choice node),
            or a pass that failed (see :class:`~.manager.PassManager`).
    """
    tgt = get_target(target)
    choices = graph.nodes_of(*CHOICE_OPS) if tgt.name != "train" else []
    if choices:
        more = f" (and {len(choices) - 1} more)" if len(choices) > 1 else ""
        raise PassError(f"node {choices[0].name!r} ({choices[0].op}){more}: the {tgt.name} target "
                        f"({tgt.purpose}) takes no supernet: {UNRESOLVED}")
    base = {p.split("{", 1)[0] for p in passes_run(graph)}
    changed = {p.split("{", 1)[0] for p in passes_run(graph, changed=True)}
    bad = [p for p in tgt.forbids if p in changed]
    if bad:
        raise PassError(f"the graph has been through {', '.join(bad)} already, which the "
                        f"{tgt.name} target must not see ({tgt.purpose}); start from the "
                        f"unfolded model (a genome, or an artifact compiled with --target train)")
    todo = [p for p in tgt.passes if p not in base]
    return run_pipeline(graph, ",".join(todo), hook=hook)

