"""``fold-depthwise``: fuse a depthwise (or grouped) conv and the pointwise conv after it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir.graph import Graph, Node
from .base import Pass, plural


@dataclass(frozen=True)
class FoldDepthwise(Pass):
    """Fuse depthwise-separable convolutions into one standard Conv2d.

    Expects: a verified graph; run after ``fold-bn``, which removes a BatchNorm between the two
    convs (it follows the depthwise conv, so it folds into it) and one after the pointwise conv.
    Matches: a depthwise Conv2d ``dw`` (``groups == in_channels``, any channel multiplier
    ``out_channels = mult * in_channels``; with ``grouped=True`` any ``groups > 1``) whose only
    out-edge is one delay-0 edge into a pointwise Conv2d ``pw`` (1x1, stride 1, padding 0,
    groups 1) that has no other in-edge. The pair becomes one Conv2d with dw's kernel, stride and
    padding, ``groups=1`` and::

        W[o, c] = sum_m pw[o, c*mult + m] * dw[c*mult + m, 0]      (kxk each)
        b[o]    = sum_j pw[o, j] * dw_bias[j] + pw_bias[o]

    The fused node keeps ``pw``'s name, out-edges and value; dw's in-edges now enter it; dw is
    removed. The fused conv has more MACs than the pair (it is what a target without grouped
    convolutions needs). Leaves alone, with a note, depthwise convs that do not match.
    Guarantees: every surviving node's value is unchanged (up to float rounding).
    """

    name: ClassVar[str] = "fold-depthwise"
    grouped: bool = False  # also fuse grouped convs with 1 < groups < in_channels

    def apply(self, graph: Graph, notes: list[str]) -> bool:
        fused, kept = [], []
        for dw in graph.nodes_of("Conv2d"):
            a = dw.attrs
            if a["groups"] == 1 or (a["groups"] != a["in_channels"] and not self.grouped):
                continue
            why = self._blocker(graph, dw)
            if why:
                kept.append(f"kept {dw.name}: {why}")
                continue
            edge = graph.out_edges(dw.name)[0]
            pw = graph[edge.dst]
            fuse(dw, pw)
            graph.remove_edge(edge)
            for e in graph.in_edges(dw.name):  # (pw has no other in-edge: no duplicates)
                graph.remove_edge(e)
                graph.add_edge(e.src, pw.name, e.port, e.delay, e.kind)
            graph.remove_node(dw.name)
            fused.append(f"{dw.name}+{pw.name}")
        if fused:
            shown = ", ".join(fused[:6]) + (", ..." if len(fused) > 6 else "")
            notes.append(f"fused {plural(len(fused), 'depthwise-separable conv')} into standard "
                         f"Conv2d ({shown})")
        notes.extend(kept)
        return bool(fused)

    @staticmethod
    def _blocker(graph: Graph, dw: Node) -> str | None:
        outs = graph.out_edges(dw.name)
        if len(outs) != 1:
            return f"it has {len(outs)} out-edges, not one"
        e = outs[0]
        pw = graph[e.dst]
        a = pw.attrs
        pointwise = (a.get("kernel"), a.get("stride"), a.get("padding"), a.get("groups"))
        if pw.op != "Conv2d" or pointwise != (1, 1, 0, 1):
            return f"its consumer {pw.name} ({pw.op}) is not a pointwise 1x1 Conv2d"
        if e.delay:
            return f"its edge into {pw.name} has delay {e.delay}"
        if len(graph.in_edges(pw.name)) != 1:
            return f"{pw.name} has other inputs"
        return None


def fuse(dw: Node, pw: Node) -> None:
    """Turn ``pw`` into the fusion of ``dw`` followed by ``pw`` (params and attrs, in place)."""
    a = dw.attrs
    g, cin, j = a["groups"], a["in_channels"], a["out_channels"]
    wd = dw.params["weight"].astype(np.float64, copy=False)  # [J, C/g, k, k]
    jg, cg = j // g, cin // g
    wp = pw.params["weight"].astype(np.float64, copy=False)[:, :, 0, 0]  # [O, J]
    dtype = np.result_type(*dw.params.values(), *pw.params.values())
    # Output channel o reads group gi only through the pointwise weights of gi's J/g channels:
    # W[o, gi, c] = sum_j wp[o, gi, j] wd[gi, j, c]  (no dense [J, C] expansion: O J C/g k^2 work)
    if jg == 1 and cg == 1:  # plain depthwise: W[o, c] = wp[o, c] wd[c], a broadcast product
        w = wp[:, :, None, None] * wd[None, :, 0]
    else:
        w = np.einsum("ogj,gjckl->ogckl", wp.reshape(len(wp), g, jg),
                      wd.reshape((g, jg, cg) + wd.shape[2:]), optimize=True)
    params = {"weight": w.reshape((len(wp), cin) + wd.shape[2:]).astype(dtype, copy=False)}
    bias = "bias" in dw.params or "bias" in pw.params
    if bias:
        b = np.zeros(len(wp))
        if "bias" in dw.params:
            b += wp @ dw.params["bias"].astype(np.float64, copy=False)
        if "bias" in pw.params:
            b += pw.params["bias"].astype(np.float64, copy=False)
        params["bias"] = b.astype(dtype, copy=False)
    pw.params = params
    pw.attrs.update(in_channels=cin, kernel=a["kernel"], stride=a["stride"], padding=a["padding"],
                    groups=1, bias=bias)
