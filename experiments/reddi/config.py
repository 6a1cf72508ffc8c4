"""The configuration of a run of ``python -m experiments.reddi``: one typed, validated value.

:class:`RunConfig` holds every argument of the command line. It is checked once,
when it is made, and it is what the run's files record: :meth:`RunConfig.manifest`
is the checkpoint manifest (what ``--resume`` must match) and
:meth:`RunConfig.results` the settings at the top of ``results.json``.

Example:
  >>> config = RunConfig(steps=2020, record_every=101, optimizers=("adam", "amsgrad"))
  >>> config.description()
  "online problem, T = 2,020 steps, indexing 'zero', lr 0.01, betas (0.9, 0.99), float32"
  >>> RunConfig(steps=2020, record_every=100)
  Traceback (most recent call last):
  ...
  experiments.arguments.ArgumentError: record_every must be positive and divide steps (2020), ...
"""

import dataclasses
import pathlib
from typing import Any

import optax

from experiments import arguments
from experiments.reddi import checkpoint
from experiments.reddi import optimizers
from experiments.reddi import presets
from experiments.reddi import problems
from experiments.reddi import simulation

PROBLEMS = ("online", "stochastic")
DTYPES = ("float32", "float64")
CHECKPOINTS = "checkpoints"
"""The directory of the checkpoints, in the output directory."""
MANIFEST = "run.json"
"""The run's configuration, in the checkpoint directory: what ``--resume`` must match."""
STATE = "state.npz"
"""The checkpoint of all the optimizers' states, in the checkpoint directory."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
  """Every argument of a run; see ``python -m experiments.reddi --help``.

  Attributes:
    problem: ``"online"`` or ``"stochastic"``.
    steps: The number of steps T, in [1, 2**31 - 1].
    optimizers: Names from :data:`experiments.reddi.optimizers.NAMES`, distinct.
    lr: The learning rate, finite and >= 0.
    lr_schedule: One of :data:`~experiments.reddi.optimizers.LR_SCHEDULES`.
    b1: β1, in [0, 1).
    b2: β2, in [0, 1).
    eps: eps, finite and >= 0, or ``None`` for each optimizer's own.
    indexing: The online problem's indexing (``"zero"`` or ``"paper"``).
    seed: The stochastic problem's first seed.
    seeds: The stochastic problem's number of seeds, run side by side.
    record_every: Record every this many steps; divides ``steps``.
    chunk_steps: About this many steps per compiled call (and checkpoint), > 0.
    dtype: ``"float32"`` or ``"float64"``.
    out: The output directory, or ``None`` to write nothing.
    resume: Continue the run checkpointed in ``out``.
    progress: Show a progress bar (on a terminal, for runs of several chunks).
    preset: A seed's experiment (:data:`experiments.reddi.presets.NAMES`) whose claims
      the results are compared with, or ``None``. ``--preset`` also fills the other
      fields with the seed's settings (:func:`experiments.reddi.presets.fill`).
    check_seed: Also run the preset seed's own torch code for this many first steps and
      compare the trajectories step by step (0: do not), in [0, steps], online only.

  Raises:
    ArgumentError: (from the constructor) naming the first argument out of
      range, or an ``out`` that is a file, holds another run's checkpoints
      without ``resume``, or is missing with ``resume``.
  """

  problem: str = "online"
  steps: int = 1_000_000
  optimizers: tuple[str, ...] = tuple(optimizers.OPTIMIZERS)
  lr: float = 1e-2
  lr_schedule: str = "constant"
  b1: float = 0.9
  b2: float = 0.99
  eps: float | None = None
  indexing: str = "zero"
  seed: int = 0
  seeds: int = 10
  record_every: int = 1000
  chunk_steps: int = simulation.DEFAULT_CHUNK_STEPS
  dtype: str = "float32"
  out: pathlib.Path | None = None
  resume: bool = False
  progress: bool = True
  preset: str | None = None
  check_seed: int = 0

  def __post_init__(self):
    arguments.one_of("problem", self.problem, PROBLEMS)
    simulation.check_steps(self.steps, self.record_every)
    arguments.positive("chunk_steps", self.chunk_steps)
    arguments.finite_nonnegative("lr", self.lr)
    arguments.one_of("lr_schedule", self.lr_schedule, optimizers.LR_SCHEDULES)
    arguments.unit_interval("b1", self.b1)
    arguments.unit_interval("b2", self.b2)
    arguments.finite_nonnegative("eps", self.eps)
    arguments.one_of("indexing", self.indexing, problems.INDEXINGS)
    problems.check_seeds(self.seed, self.seeds)  # Also for the online problem: the flags are.
    arguments.one_of("dtype", self.dtype, DTYPES)
    arguments.distinct_names("optimizers", self.optimizers, optimizers.NAMES)
    self._check_optimizers_take_the_settings()
    arguments.directory("out", self.out)
    self._check_preset()
    if self.resume and self.out is None:
      raise arguments.ArgumentError("resume", "needs --out DIR, where the checkpoints are")
    checkpoints = self.checkpoints
    if not self.resume and checkpoints is not None and (checkpoints / MANIFEST).exists():
      raise arguments.ArgumentError(
        "out",
        f"{str(self.out)!r} holds the checkpoints of an earlier run; pass --resume to continue"
        f" it, or remove {str(checkpoints)!r}",
      )

  def _check_preset(self) -> None:
    if self.preset is not None:
      arguments.one_of("preset", self.preset, presets.NAMES)
      claimed = [claim.optimizer for claim in presets.PRESETS[self.preset].claims]
      if missing := [name for name in claimed if name not in self.optimizers]:
        raise arguments.ArgumentError(
          "optimizers", f"--preset {self.preset} compares {', '.join(missing)}, not run"
        )
    arguments.in_range("check_seed", self.check_seed, 0, self.steps)
    if self.check_seed:
      if self.preset is None:
        raise arguments.ArgumentError("check_seed", "needs --preset, the seed to compare with")
      if self.problem != "online":
        raise arguments.ArgumentError(
          "check_seed", "compares the online problem only (the seeds draw their own losses)"
        )

  def _check_optimizers_take_the_settings(self) -> None:
    """Builds each optimizer: one that refuses the settings (torch's SparseAdam an eps or lr
    of 0, Rprop and ASGD a schedule) is an error of ``--optimizers``, before any run."""
    lr = optimizers.learning_rate(self.lr, self.lr_schedule)
    for name in self.optimizers:
      try:
        optimizers.get_optimizer(name)(lr, self.b1, self.b2, self.eps)
      except (ValueError, TypeError) as error:
        raise arguments.ArgumentError(
          "optimizers", f"{name} does not take these settings: {error}"
        ) from error

  @property
  def definition(self) -> problems.Online | problems.Stochastic:
    """The problem run."""
    if self.problem == "online":
      return problems.Online(self.indexing)
    return problems.Stochastic(self.seed, self.seeds)

  @property
  def checkpoints(self) -> pathlib.Path | None:
    """The checkpoint directory, ``out/checkpoints`` (``None`` without ``out``)."""
    return None if self.out is None else self.out / CHECKPOINTS

  def transformations(self) -> dict[str, optax.GradientTransformation]:
    """The optimizers with the run's hyperparameters, by name."""
    lr = optimizers.learning_rate(self.lr, self.lr_schedule)
    return {
      name: optimizers.get_optimizer(name)(lr, self.b1, self.b2, self.eps)
      for name in self.optimizers
    }

  def manifest(self) -> dict[str, Any]:
    """What a checkpoint must match: every argument that changes the results, as JSON."""
    return {
      "checkpoint_format": checkpoint.FORMAT,
      "problem": self.problem,
      "optimizers": list(self.optimizers),
      "variants": [optimizers.get_optimizer(name).variant for name in self.optimizers],
      "steps": self.steps,
      "record_every": self.record_every,
      "chunk_steps": self.chunk_steps,
      "lr": self.lr,
      "lr_schedule": self.lr_schedule,
      "b1": self.b1,
      "b2": self.b2,
      "eps": self.eps,
      "dtype": self.dtype,
      **self.definition.settings(),
    }

  def results(self, runs: list[dict[str, Any]], **seed: Any) -> dict[str, Any]:
    """``results.json``: the run's settings and, per optimizer, its summary in ``runs``;
    with a preset, its name and ``seed`` (the comparisons with the seed)."""
    settings = self.definition.settings()
    preset = {} if self.preset is None else {"preset": self.preset, **seed}
    return {
      **preset,
      "problem": self.problem,
      "steps": self.steps,
      "indexing": settings.pop("indexing", None),  # null for the stochastic problem.
      "lr": self.lr,
      "lr_schedule": self.lr_schedule,
      "b1": self.b1,
      "b2": self.b2,
      "record_every": self.record_every,
      "dtype": self.dtype,
      "runs": runs,
      **settings,  # The stochastic problem's seeds.
    }

  def description(self) -> str:
    """The run's settings in one line, printed above the table."""
    lr = f"{self.lr:g}" + (" / sqrt(t)" if self.lr_schedule == "sqrt" else "")
    preset = "" if self.preset is None else f"preset {self.preset}: "
    return (
      f"{preset}{self.problem} problem, T = {self.steps:,} steps, {self.definition.describe()},"
      f" lr {lr}, betas ({self.b1:g}, {self.b2:g}), {self.dtype}"
    )

  def title(self) -> str:
    """The figure's title."""
    lr = rf"$\alpha = {self.lr:g}$" + (r"$/\sqrt{t}$" if self.lr_schedule == "sqrt" else "")
    return (
      f"Reddi et al. (2018), {self.problem} problem: T = {self.steps:,}, {lr},"
      rf" $\beta_1 = {self.b1:g}$, $\beta_2 = {self.b2:g}$, {self.definition.caption()},"
      f" {self.dtype}"
    )
