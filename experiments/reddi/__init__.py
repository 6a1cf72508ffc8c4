"""Reddi, Kale & Kumar (ICLR 2018), §5: the synthetic problems on which Adam fails.

Run ``python -m experiments.reddi --help`` for the command line. The
simulations are in :mod:`experiments.reddi.problems`, the checkpoints in
:mod:`experiments.reddi.checkpoint`, and the trajectory table and figure in
:mod:`experiments.reddi.outputs`.
"""
