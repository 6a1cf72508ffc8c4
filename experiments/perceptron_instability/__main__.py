"""Command line: ``python -m experiments.perceptron_instability --help``.

Example::

  python -m experiments.perceptron_instability --out runs/perceptron --steps 5000

trains the single linear layer of :mod:`experiments.perceptron_instability.train`
with every optimizer of :data:`~experiments.perceptron_instability.train.OPTIMIZERS`,
in JAX (one compiled scan per optimizer) and, where torch has the optimizer, in
PyTorch (eager), from the same data and initial weights. It prints a table of
(min loss, step of min, final loss) per run and the JAX-vs-torch agreement of
Adam, and writes ``DIR/results.json``, ``DIR/losses.csv`` (every step's loss),
``DIR/adam_jax_vs_torch.png`` and ``DIR/optimizers.png``. Bad arguments print one
``error:`` line and exit with status 2.
"""

import argparse
from collections.abc import Sequence
import dataclasses
import math
import pathlib
import sys
import time
from typing import Any

import numpy as np

from experiments import arguments
from experiments import cli
from experiments import files
from experiments.perceptron_instability import figures
from experiments.perceptron_instability import train

PROG = "python -m experiments.perceptron_instability"
MAX_STEPS = 1_000_000
MAX_SEED = 2**63 - 1
FIRST_STEPS = 100
"""The JAX-vs-torch relative loss difference is also reported over this many first steps."""
FIGURES = ("adam_jax_vs_torch.png", "optimizers.png")


@dataclasses.dataclass(frozen=True)
class Config:
  """Every argument of a run; see ``--help``. The constructor raises ArgumentError.

  Attributes:
    steps: Steps per run, in [1, :data:`MAX_STEPS`].
    seed: The torch seed of the data and the initial weights.
    optimizers: Distinct names of :data:`~experiments.perceptron_instability.train.OPTIMIZERS`.
    torch: Also run PyTorch (and compare).
    out: The output directory.
    progress: Show a progress bar over the runs (on a terminal).
  """

  steps: int = train.DEFAULT_STEPS
  seed: int = train.SEED
  optimizers: tuple[str, ...] = tuple(train.OPTIMIZERS)
  torch: bool = True
  out: pathlib.Path = pathlib.Path("runs/perceptron_instability")
  progress: bool = True

  def __post_init__(self):
    arguments.in_range("steps", self.steps, 1, MAX_STEPS)
    arguments.in_range("seed", self.seed, 0, MAX_SEED)
    arguments.directory("out", self.out)
    arguments.distinct_names("optimizers", self.optimizers, train.OPTIMIZERS)


def _parser() -> cli.OneLineErrorParser:
  parser = cli.OneLineErrorParser(
    prog=PROG,
    description=(
      "Why does Adam's loss go back up? Fits one linear layer (1000 inputs, 1 output, bias)"
      " to 64 random points (x, y ~ N(0, 1), generated in torch from --seed) by the summed"
      " squared error, with Adam(lr=1e-3) and the alternatives (smaller lr, larger eps,"
      " AMSGrad variants, Yogi, SGD), in JAX (one jit-compiled lax.scan per optimizer,"
      " jaxopt_fix.torch_optim twins) and in PyTorch (eager), from the same initial"
      " weights. Prints (min loss, step of min, final loss) per run."
    ),
    formatter_class=argparse.ArgumentDefaultsHelpFormatter,
  )
  defaults = cli.defaults(Config)
  parser.add_argument("--steps", type=int, default=defaults["steps"], help="number of steps")
  parser.add_argument(
    "--seed", type=int, default=defaults["seed"], help="torch seed of the data and initial weights"
  )
  parser.add_argument(
    "--optimizers",
    default=",".join(defaults["optimizers"]),
    help=f"comma-separated optimizer names, from: {', '.join(train.OPTIMIZERS)}",
  )
  parser.add_argument(
    "--no-torch",
    action="store_true",
    help="run JAX only (no PyTorch runs, no JAX-vs-torch comparison)",
  )
  parser.add_argument(
    "--out",
    type=cli.directory,
    default=defaults["out"],
    metavar="DIR",
    help="write results.json, losses.csv and the PNGs here",
  )
  parser.add_argument(
    "--no-progress",
    action="store_true",
    help="never show a progress bar (one is shown over the runs on a terminal)",
  )
  return parser


def _configure(args: argparse.Namespace) -> Config:
  return Config(
    steps=args.steps,
    seed=args.seed,
    optimizers=cli.names(args.optimizers),
    torch=not args.no_torch,
    out=args.out,
    progress=not args.no_progress,
  )


def _progress_bar(config: Config, total: int):
  """A tqdm bar over the runs, shown on a terminal only (``disable=None``)."""
  if not config.progress:
    return None
  import tqdm  # Only the command line needs it.

  return tqdm.tqdm(total=total, unit="run", leave=False, disable=None)


SHARPNESS_RUNS = {"adam": 1e-8, "adam_eps1e-1": 0.1}
"""The Adam runs (lr 1e-3) whose preconditioned sharpness is tracked, with their eps."""


def _run_one(problem: train.Problem, name: str, kind: str, steps: int) -> np.ndarray:
  """One run's losses (kind "jax" or "torch") or Adam's preconditioned sharpness."""
  optimizer = train.OPTIMIZERS[name]
  if kind == "jax":
    return train.train_jax(problem, optimizer.make_jax(), steps)
  if kind == "torch":
    assert optimizer.make_torch is not None
    return train.train_torch(problem, optimizer.make_torch, steps)
  return train.adam_sharpness(problem, steps, lr=1e-3, eps=SHARPNESS_RUNS[name])[1]


def _run_all(
  config: Config, problem: train.Problem
) -> tuple[dict[tuple[str, str], np.ndarray], dict[tuple[str, str], float], dict[str, np.ndarray]]:
  """Runs every job, with a progress bar over them.

  Returns:
    Every run's losses and its wall time (JAX's includes compilation), by (name,
    framework), and the preconditioned sharpness of the runs of
    :data:`SHARPNESS_RUNS`, by name.
  """
  names = config.optimizers
  jobs = [(name, "jax") for name in names]
  if config.torch:
    jobs += [(name, "torch") for name in names if train.OPTIMIZERS[name].make_torch is not None]
  jobs += [(name, "sharpness") for name in SHARPNESS_RUNS if name in names]
  losses: dict[tuple[str, str], np.ndarray] = {}
  seconds: dict[tuple[str, str], float] = {}
  sharpness: dict[str, np.ndarray] = {}
  bar = _progress_bar(config, len(jobs))
  try:
    for name, kind in jobs:
      if bar is not None:
        bar.set_description(f"{name} ({kind})")
      start = time.perf_counter()
      values = _run_one(problem, name, kind, config.steps)
      if kind == "sharpness":
        sharpness[name] = values
      else:
        losses[name, kind] = values
        seconds[name, kind] = time.perf_counter() - start
      if bar is not None:
        bar.update()
  finally:
    if bar is not None:
      bar.close()
  return losses, seconds, sharpness


def _sharpness_summary(values: np.ndarray) -> dict[str, Any]:
  above = np.nonzero(values > train.EDGE_OF_STABILITY)[0]
  return {
    "max": float(np.max(values)),
    "first_step_above_limit": int(above[0]) if above.size else None,
  }


def _finite(value: float) -> float | None:
  """``value``, or None (JSON ``null``) if it is NaN or infinite."""
  return value if math.isfinite(value) else None


def _rows(
  losses: dict[tuple[str, str], np.ndarray], seconds: dict[tuple[str, str], float]
) -> list[dict[str, Any]]:
  rows = []
  for (name, framework), run in losses.items():
    summary = train.summarize(run)
    rows.append(
      {
        "optimizer": name,
        "label": train.OPTIMIZERS[name].label,
        "framework": framework,
        "min_loss": _finite(summary.min_loss),
        "step_of_min": summary.step_of_min,
        "final_loss": _finite(summary.final_loss),
        "rebound_step": summary.rebound_step,
        "seconds": seconds[name, framework],
      }
    )
  order = {name: i for i, name in enumerate(train.OPTIMIZERS)}
  return sorted(rows, key=lambda row: (order[row["optimizer"]], row["framework"]))


def _table(rows: Sequence[dict[str, Any]]) -> str:
  def number(value: float | None) -> str:
    return "nan" if value is None else f"{value:.3g}"

  lines = [
    f"{'optimizer':<14} {'framework':<9} {'min loss':>9} {'at step':>7} {'final loss':>10}"
    f" {'rebound':>7} {'seconds':>7}"
  ]
  for row in rows:
    rebound = "-" if row["rebound_step"] is None else str(row["rebound_step"])
    lines.append(
      f"{row['optimizer']:<14} {row['framework']:<9} {number(row['min_loss']):>9}"
      f" {row['step_of_min']:>7} {number(row['final_loss']):>10} {rebound:>7}"
      f" {row['seconds']:>7.2f}"
    )
  return "\n".join(lines)


def _tail(steps: int) -> int:
  """The number of last steps over which a run's typical (median) loss is taken."""
  return max(1, steps // 5)


def _comparison(jax_losses: np.ndarray, torch_losses: np.ndarray) -> dict[str, Any]:
  """Adam's JAX-vs-torch agreement, step by step and, in the chaotic tail, in distribution."""
  result = train.agreement(jax_losses, torch_losses)
  first = min(FIRST_STEPS, len(jax_losses))
  tail = _tail(len(jax_losses))
  relative = np.abs(jax_losses[:first] / torch_losses[:first] - 1)
  return {
    "floor": train.FLOOR,
    "descent_steps": result.descent_steps,
    "max_abs_delta_log10_descent": result.max_delta_descent,
    "above_floor_steps": result.above_floor_steps,
    "max_abs_delta_log10_above_floor": result.max_delta_above_floor,
    "max_abs_delta_log10_all": result.max_delta_all,
    "first_steps": first,
    "max_relative_difference_first_steps": float(np.max(relative)),
    "tail_steps": tail,
    "median_log10_loss_tail_jax": float(np.median(np.log10(jax_losses[-tail:]))),
    "median_log10_loss_tail_torch": float(np.median(np.log10(torch_losses[-tail:]))),
  }


def _comparison_text(comparison: dict[str, Any]) -> str:
  return (
    f"Adam, JAX vs torch: max |Δ log10 loss| {comparison['max_abs_delta_log10_descent']:.3g}"
    f" over the descent (steps 0-{comparison['descent_steps'] - 1}, loss > {train.FLOOR:g});"
    f" {comparison['max_abs_delta_log10_above_floor']:.3g} over all"
    f" {comparison['above_floor_steps']} steps where both losses are > {train.FLOOR:g};"
    f" max relative loss difference over the first {comparison['first_steps']} steps"
    f" {comparison['max_relative_difference_first_steps']:.2g}; median log10 loss over the"
    f" last {comparison['tail_steps']} steps: JAX {comparison['median_log10_loss_tail_jax']:.2f},"
    f" torch {comparison['median_log10_loss_tail_torch']:.2f}"
  )


def _write_csv(path: pathlib.Path, losses: dict[tuple[str, str], np.ndarray]) -> None:
  columns = ["step", *(f"{name}_{framework}" for name, framework in losses)]
  steps = len(next(iter(losses.values())))
  table = np.column_stack([np.arange(steps), *losses.values()])
  formats = ["%d", *["%.9g"] * len(losses)]
  np.savetxt(path, table, fmt=formats, delimiter=",", header=",".join(columns), comments="")


def _run(config: Config) -> int:
  with files.run_directory(config.out):
    return _run_in(config)


def _run_in(config: Config) -> int:
  problem = train.make_problem(config.seed)
  lam_min, lam_max = train.hessian_extremes(problem)
  print(
    f"{train.N_POINTS} points, {train.N_INPUTS} inputs, seed {config.seed}, {config.steps:,} steps;"
    f" Hessian eigenvalues (nonzero) in [{lam_min:.4g}, {lam_max:.4g}]: gradient descent is"
    f" stable for lr < {2 / lam_max:.3g}, Adam (β1 = 0.9, lr 1e-3) whatever v for eps >"
    f" {train.adam_stable_eps(1e-3, lam_max):.3g}",
    flush=True,
  )
  start = time.perf_counter()
  losses, seconds, sharpness = _run_all(config, problem)
  total_seconds = time.perf_counter() - start
  rows = _rows(losses, seconds)
  print(_table(rows))
  for name, values in sharpness.items():
    summary = _sharpness_summary(values)
    crossing = summary["first_step_above_limit"]
    print(
      f"{name}: preconditioned sharpness max {summary['max']:.3g} (limit"
      f" {train.EDGE_OF_STABILITY:g}), first above the limit at step"
      f" {'-' if crossing is None else crossing}"
    )
  comparison = None
  if ("adam", "jax") in losses and ("adam", "torch") in losses:
    comparison = _comparison(losses["adam", "jax"], losses["adam", "torch"])
    print(_comparison_text(comparison))
  print(f"total {total_seconds:.1f} s")

  results = {
    "problem": {
      "n_points": train.N_POINTS,
      "n_inputs": train.N_INPUTS,
      "loss": "sum of squared errors (torch.nn.MSELoss(reduction='sum'))",
      "seed": config.seed,
      "generation_order": "torch.manual_seed; x = randn(64, 1000); y = randn(64, 1); Linear",
      "initial_loss": float(next(iter(losses.values()))[0]),
      "hessian_eigenvalue_min_nonzero": lam_min,
      "hessian_eigenvalue_max": lam_max,
      "gradient_descent_max_stable_lr": 2 / lam_max,
      "adam_lr1e-3_stable_eps": train.adam_stable_eps(1e-3, lam_max),
    },
    "steps": config.steps,
    "loss_recorded": "loss[t] at the parameters after t updates, float32",
    "floor": train.FLOOR,
    "runs": rows,
    "adam_jax_vs_torch": comparison,
    "preconditioned_sharpness": {
      "limit": train.EDGE_OF_STABILITY,
      "definition": "largest eigenvalue of diag(lr / (sqrt(v_hat) + eps)) H, H = 2 A^T A",
      **{name: _sharpness_summary(values) for name, values in sharpness.items()},
    },
    "seconds": total_seconds,
  }
  out = config.out
  with cli.writing(out), files.output_set(out) as staging:
    written = [staging / "results.json", staging / "losses.csv"]
    files.write_json(written[0], results, indent=1)
    _write_csv(written[1], losses)
    if comparison is not None:
      written.append(staging / FIGURES[0])
      figures.plot_adam(
        written[-1],
        losses["adam", "jax"],
        losses["adam", "torch"],
        comparison,
        sharpness,
        config.seed,
      )
    written.append(staging / FIGURES[1])
    figures.plot_optimizers(written[-1], losses, config.optimizers, config.seed)
  print(f"wrote {', '.join(str(out / path.name) for path in written)}")
  return 0


def main(argv: Sequence[str] | None = None) -> int:
  """Parses ``argv`` (default ``sys.argv[1:]``), runs, writes; returns the exit status."""
  return cli.main(_parser(), argv, _configure, _run)


if __name__ == "__main__":
  sys.exit(main())
