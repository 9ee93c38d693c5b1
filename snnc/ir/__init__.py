"""The spiking dataflow IR: graph, op catalogue, shape inference, verifier, reference interpreter.

Importing this package needs numpy and networkx only.
"""
from .artifact import load, save
from .dump import dump
from .graph import BACKWARD, FORWARD, Edge, Graph, Node, graph_differences, graphs_equal
from .interpret import Interpreter, Trace, interpret, run
from .ops import OPS, Op, op_def
from .shapes import infer_shapes
from .summary import Summary, summarize
from .text import parse_ir, parse_ir_file
from .verify import verify

__all__ = ["BACKWARD", "FORWARD", "Edge", "Graph", "Node", "Interpreter", "Trace", "interpret", "run",
           "OPS", "Op", "op_def", "infer_shapes", "verify", "load", "save", "dump", "Summary",
           "summarize", "parse_ir", "parse_ir_file", "graphs_equal", "graph_differences"]
