"""Reddi, Kale & Kumar (ICLR 2018), §5: the synthetic problems on which Adam fails.

Run ``python -m experiments.reddi --help`` for the command line. The problems are in
:mod:`experiments.reddi.problems`, the optimizers by name in
:mod:`experiments.reddi.optimizers`, the simulation in :mod:`experiments.reddi.engine`
(one step, shared with the sweep and the benchmarks) and
:mod:`experiments.reddi.simulation` (chunked, resumable runs), the run's configuration in
:mod:`experiments.reddi.config` and the run itself in :mod:`experiments.reddi.train`;
the checkpoints in :mod:`experiments.reddi.checkpoint`, and the trajectory table and
figure in :mod:`experiments.reddi.outputs`.
"""
