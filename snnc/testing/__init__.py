"""Test support that tests of several packages share (random IR graphs and inputs).

Not part of the compiler: nothing under ``snnc/`` except this package imports it. It needs numpy and
networkx only, like :mod:`snnc.ir`.
"""
