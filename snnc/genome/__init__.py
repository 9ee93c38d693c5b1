"""The genome language: AST, grammar, schema, parser, canonical printer and genome ids.

    >>> g = parse_file("examples/tanet-tiny.genome")   # GenomeSyntaxError with file:line:col
    >>> to_text(g)                                     # canonical text; parse(to_text(g)) == g
    >>> genome_id(g)                                   # sha256 hex of the canonical text
    >>> canonical_neuron(g.neuron)                     # {"model": "lif", "beta": ..., ...}

Code that writes genomes builds them with :func:`make_block`, :func:`make_spec` and
:func:`make_genome`, which apply the parser's checks. Importing this package needs the standard
library and lark only.
"""
from __future__ import annotations

from ..errors import GenomeSyntaxError
from . import schema
from .ast import Block, Edge, Genome, Loc, Spec
from .build import default_spec, make_block, make_genome, make_spec
from .neuron import canonical_neuron
from .parser import parse, parse_file
from .printer import genome_id, to_text

__all__ = ["Block", "Edge", "Genome", "GenomeSyntaxError", "Loc", "Spec", "canonical_neuron",
           "default_spec", "genome_id", "make_block", "make_genome", "make_spec", "parse",
           "parse_file", "schema", "to_text"]
