"""The configuration of a run of ``python -m experiments.beta_sweep``: one typed, validated value.

Example:
  >>> config = SweepConfig(grid=4, steps=2020)
  >>> config.record_every, config.settings()["grid"]
  (2020, 4)
  >>> SweepConfig(grid=1)
  Traceback (most recent call last):
  ...
  experiments.arguments.ArgumentError: grid must be >= 2, got 1.
"""

import dataclasses
import os
import pathlib
from typing import Any

from experiments import arguments
from experiments import cli
from experiments.beta_sweep import sweep
from experiments.reddi import optimizers

RECORD_EVERY = 10_000
"""Steps per regret interval (the double-word sums are combined on the host)."""
BYTES_PER_RUN = 512
"""Peak memory per configuration and optimizer, rounded up: measured 500 bytes (the peak
resident size of ``--grid 512`` minus that of ``--grid 64``, two optimizers, 2026-12)."""


def memory_needed(grid: int, optimizers: int) -> int:
  """An estimate of the peak memory of a sweep, in bytes (see :data:`BYTES_PER_RUN`)."""
  return grid * grid * optimizers * BYTES_PER_RUN


def physical_memory() -> int:
  """This machine's physical memory, in bytes."""
  return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


@dataclasses.dataclass(frozen=True)
class SweepConfig:
  """Every argument of a sweep; see ``python -m experiments.beta_sweep --help``.

  Attributes:
    steps: The number of steps T, in [1, 2**31 - 1].
    grid: The number of values of β1 and of β2, >= 2.
    optimizers: Distinct names from :data:`experiments.reddi.optimizers.OPTIMIZERS`.
    lr: The constant learning rate, finite and >= 0.
    eps: eps, finite and >= 0, or ``None`` for each optimizer's own.
    indexing: ``"zero"`` or ``"paper"``.
    out: The output directory (process 0 writes it).
    distributed: Call ``jax.distributed.initialize`` and detect the cluster.
    coordinator: Process 0's coordinator ``HOST:PORT`` (with the next two).
    num_processes: The number of processes.
    process_id: This process's index.

  Raises:
    ArgumentError: (from the constructor) naming the first argument out of range.
  """

  steps: int = 100_000
  grid: int = 64
  optimizers: tuple[str, ...] = sweep.DEFAULT_OPTIMIZERS
  lr: float = 1e-2
  eps: float | None = None
  indexing: str = "zero"
  out: pathlib.Path = pathlib.Path("runs/beta_sweep")
  distributed: bool = False
  coordinator: str | None = None
  num_processes: int | None = None
  process_id: int | None = None

  def __post_init__(self):
    arguments.at_least("grid", self.grid, 2)
    sweep.check_settings(self.steps, lr=self.lr, eps=self.eps, indexing=self.indexing)
    arguments.distinct_names("optimizers", self.optimizers, optimizers.OPTIMIZERS)
    needed, available = memory_needed(self.grid, len(self.optimizers)), physical_memory()
    if needed > available:
      raise arguments.ArgumentError(
        "grid",
        f"{self.grid}² configurations of {len(self.optimizers)} optimizers need about"
        f" {needed / 2**30:.3g} GiB, more than this machine's {available / 2**30:.3g} GiB",
      )
    arguments.directory("out", self.out)
    cli.check_distributed(self.coordinator, self.num_processes, self.process_id)

  @property
  def record_every(self) -> int:
    """Steps per record interval: :data:`RECORD_EVERY`, or all of them if fewer."""
    return min(RECORD_EVERY, self.steps)

  def settings(self) -> dict[str, Any]:
    """The settings at the top of ``results.json``."""
    return {
      "problem": "online",
      "steps": self.steps,
      "indexing": self.indexing,
      "lr": self.lr,
      "grid": self.grid,
    }
