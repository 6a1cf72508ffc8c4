"""A (β1, β2) phase diagram of Adam and AMSGrad on Reddi et al.'s online problem.

Run ``python -m experiments.beta_sweep --help`` for the command line; the library
code is in :mod:`experiments.beta_sweep.sweep`.
"""
