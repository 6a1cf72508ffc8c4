"""Why does Adam's loss go back up? A single linear layer on 64 random points.

Run ``python -m experiments.perceptron_instability --help`` for the command line;
the problem and the PyTorch and JAX training loops are in
:mod:`experiments.perceptron_instability.train`.
"""
