"""Reddi, Kale & Kumar (ICLR 2018), §5: the synthetic problems on which Adam fails.

Run ``python -m experiments.reddi --help`` for the command line; the library
code is in :mod:`experiments.reddi.problems`.
"""
