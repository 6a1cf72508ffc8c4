"""The classic optimizer comparison, in JAX and PyTorch side by side.

:mod:`~experiments.optimizer_zoo.digits` trains one ReLU MLP on scikit-learn's
digits with eleven optimizers, each twice: with its :mod:`jaxopt_fix` twin (the
whole run one jit-compiled ``lax.scan``) and with the PyTorch original, from the
same initial weights on the same batches. :mod:`~experiments.optimizer_zoo.regression`
is Dive into Deep Learning's Adam-versus-Yogi comparison on a small regression.
``python -m experiments.optimizer_zoo --help`` runs both.
"""
