"""Pure IR -> IR rewrites and the :class:`PassManager` that runs them, verifying after each.

Every pass is a frozen dataclass (its fields are its options) called as ``pass_(graph) ->
PassResult(graph, changed, notes)``; it never modifies its input. ``PASSES`` maps names to pass
classes, ``PIPELINES`` names lists of passes (``deploy``, ``none``), :func:`parse_pipeline` reads
specs such as ``"fold-bn,fold-depthwise"``, and :func:`run_pipeline` does it all::

    >>> graph, records = run_pipeline(g, "deploy")
    >>> graph, records = prepare(g, "energy")      # the target table (:mod:`.targets`)

Importing this package needs numpy and networkx only.
"""
from .base import Pass, PassResult
from .dead_code import RemoveDead
from .drop_training import DropTraining
from .fold_bn import FoldBatchNorm
from .fold_depthwise import FoldDepthwise
from .fold_scale import FoldScale
from .freeze_plif import FreezePLIF
from .hop_timing import TIMINGS, HopTiming, apply_timing
from .manager import (PASSES, PIPELINES, PassManager, PassRecord, parse_pipeline, passes_run,
                      run_pipeline)
from .resolve_choices import ResolveChoices, resolve_choices
from .targets import TARGETS, Target, get_target, prepare

__all__ = ["Pass", "PassResult", "PassManager", "PassRecord", "PASSES", "PIPELINES",
           "parse_pipeline", "run_pipeline", "DropTraining", "RemoveDead", "FoldBatchNorm",
           "FoldDepthwise", "FoldScale", "FreezePLIF", "ResolveChoices", "resolve_choices",
           "TARGETS", "Target", "get_target", "prepare", "passes_run", "HopTiming", "TIMINGS",
           "apply_timing"]
