"""Views: renderings of genomes and IR graphs for people to look at (drawings).

A view reads the source language (:mod:`snnc.genome`) and the IR (:mod:`snnc.ir`) and nothing above
them, so it sits beside the backends in the layering; unlike a backend it is no compilation target.
"""
