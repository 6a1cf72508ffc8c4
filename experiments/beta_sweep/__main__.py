"""Command line for the (β1, β2) sweep: ``python -m experiments.beta_sweep --help``.

Example::

  python -m experiments.beta_sweep --grid 64 --steps 100000 --out runs/beta_sweep

runs Adam and AMSGrad at every (β1, β2) of a 64 × 64 grid on Reddi et al.'s
online problem, all configurations in one compiled scan sharded over the local
devices, prints a summary per optimizer and writes ``DIR/x_final.png``,
``DIR/avg_regret.png`` and ``DIR/results.json``. Bad arguments print one
``error:`` line and exit with status 2.
"""

import argparse
from collections.abc import Sequence
import json
import math
import pathlib
import sys
from typing import Any

import jax
import numpy as np

from experiments import cli
from experiments.beta_sweep import sweep
from experiments.reddi import problems

PROG = "python -m experiments.beta_sweep"
RECORD_EVERY = 10_000
"""Steps per regret interval (the double-word sums are combined on the host)."""
FIGURES = {"x_final": "x_final.png", "avg_regret_final": "avg_regret.png"}


def _parser() -> cli.OneLineErrorParser:
  parser = cli.OneLineErrorParser(
    prog=PROG,
    description=(
      "Runs optimizers at every (beta1, beta2) of a grid on the online convex problem of"
      " Reddi, Kale & Kumar (ICLR 2018), §5 (f_t(x) = 1010 x if t mod 101 == 1 else -10 x"
      " on [-1, 1], from x_0 = 0), all configurations in one compiled scan sharded over the"
      " local devices, and plots the final iterate x_T and the average regret R_T / T."
      " beta1 is spaced linearly in [0, 0.99], beta2 linearly in log(1 - beta2) in"
      " [0.5, 0.9999]."
    ),
    epilog=(
      "On a CPU-only host, XLA_FLAGS=--xla_force_host_platform_device_count=N (N = the"
      " number of cores) makes N devices, over which the configurations are sharded. On"
      " several hosts, start one process per host with the same arguments plus"
      " --distributed (or --coordinator/--num-processes/--process-id): the grid is sharded"
      " over the devices of all hosts, and process 0 writes the outputs."
    ),
    formatter_class=argparse.ArgumentDefaultsHelpFormatter,
  )
  parser.add_argument("--steps", type=int, default=100_000, help="number of steps T")
  parser.add_argument(
    "--grid", type=int, default=64, help="number of values of beta1 and of beta2, >= 2"
  )
  parser.add_argument(
    "--optimizers",
    default=",".join(sweep.DEFAULT_OPTIMIZERS),
    help=f"comma-separated optimizer names, from: {', '.join(sweep.OPTIMIZERS)}",
  )
  parser.add_argument("--lr", type=float, default=1e-2, help="constant learning rate, >= 0")
  parser.add_argument(
    "--eps",
    type=float,
    default=argparse.SUPPRESS,
    help="eps, >= 0 (default: each optimizer's own, 1e-8 for Adam/AMSGrad, 1e-3 for Yogi)",
  )
  parser.add_argument(
    "--indexing",
    choices=problems.INDEXINGS,
    default="zero",
    help=(
      "'zero': the reproductions' 0-indexed loop, large gradient on the second step;"
      " 'paper': t starts at 1, large gradient on the first step"
    ),
  )
  parser.add_argument(
    "--out",
    type=pathlib.Path,
    default=pathlib.Path("runs/beta_sweep"),
    metavar="DIR",
    help="write the PNGs and results.json here (process 0 of a multi-process run)",
  )
  cli.add_distributed_arguments(parser)
  return parser


def _check_arguments(parser: cli.OneLineErrorParser, args: argparse.Namespace) -> None:
  """Calls ``parser.error`` (exit 2) on the first argument out of range."""
  if not 0 < args.steps <= problems.MAX_STEPS:
    parser.error(f"argument --steps: must be in [1, {problems.MAX_STEPS}], got {args.steps}")
  if args.grid < 2:
    parser.error(f"argument --grid: must be >= 2, got {args.grid}")
  if not (math.isfinite(args.lr) and args.lr >= 0):
    parser.error(f"argument --lr: must be finite and >= 0, got {args.lr}")
  eps = getattr(args, "eps", None)
  if eps is not None and not (math.isfinite(eps) and eps >= 0):
    parser.error(f"argument --eps: must be finite and >= 0, got {eps}")
  if args.out.exists() and not args.out.is_dir():
    parser.error(f"argument --out: {str(args.out)!r} exists and is not a directory")


def _json_grid(values: np.ndarray) -> list[list[float | None]]:
  """A 2-D float array as nested lists, NaN as ``null`` (strict JSON has no NaN)."""
  return [[float(v) if math.isfinite(v) else None for v in row] for row in values.tolist()]


def _summary(
  result: sweep.SweepResult, shape: tuple[int, int], eps: float | None
) -> dict[str, dict[str, Any]]:
  """Per optimizer: its settings, the final values on the grid and a few fractions."""
  below = result.b1 < np.sqrt(result.b2)  # The hypothesis of Theorems 2-4.
  summary = {}
  for name in result.names:
    optimizer = sweep.OPTIMIZERS[name]
    x = result.x_final[name]
    summary[name] = {
      "variant": optimizer.variant,
      "eps": optimizer.default_eps if eps is None else eps,
      "fraction_x_positive": float(np.mean(x > 0)),
      "fraction_x_positive_where_b1_below_sqrt_b2": float(np.mean(x[below] > 0)),
      "fraction_x_positive_where_b1_above_sqrt_b2": (
        float(np.mean(x[~below] > 0)) if np.any(~below) else None
      ),
      "median_x_final": float(np.median(x)),
      "mean_avg_regret_final": float(np.mean(result.avg_regret_final[name])),
      "x_final": _json_grid(x.reshape(shape)),
      "avg_regret_final": _json_grid(result.avg_regret_final[name].reshape(shape)),
    }
  return summary


def _table(summary: dict[str, dict[str, Any]]) -> str:
  header = (
    f"{'optimizer':<14} {'variant':<16} {'x_T>0':>7} {'x_T>0|b1<sqrt(b2)':>18}"
    f" {'median x_T':>11} {'mean R_T/T':>11}"
  )
  lines = [header]
  for name, row in summary.items():
    lines.append(
      f"{name:<14} {row['variant']:<16} {row['fraction_x_positive']:>7.1%}"
      f" {row['fraction_x_positive_where_b1_below_sqrt_b2']:>18.1%}"
      f" {row['median_x_final']:>+11.4f} {row['mean_avg_regret_final']:>11.4f}"
    )
  return "\n".join(lines)


def _plot(
  result: sweep.SweepResult, args: argparse.Namespace, b1: np.ndarray, b2: np.ndarray
) -> None:
  shape = (len(b1), len(b2))
  panels = {
    metric: {
      f"{name} ({sweep.OPTIMIZERS[name].variant})": values[name].reshape(shape)
      for name in result.names
    }
    for metric, values in (
      ("x_final", result.x_final),
      ("avg_regret_final", result.avg_regret_final),
    )
  }
  regrets = np.concatenate([v.ravel() for v in panels["avg_regret_final"].values()])
  regrets = regrets[np.isfinite(regrets)]
  low, high = (float(np.min(regrets)), float(np.max(regrets))) if regrets.size else (0.0, 1.0)
  settings = f"T = {args.steps:,}, lr = {args.lr:g}, indexing '{args.indexing}'"
  scales = {"x_final": ("RdBu_r", -1.0, 1.0), "avg_regret_final": ("viridis", low, high)}
  for metric, file_name in FIGURES.items():
    cmap, vmin, vmax = scales[metric]
    sweep.plot_metric(
      panels[metric],
      b1,
      b2,
      args.out / file_name,
      label=sweep.METRICS[metric],
      title=f"Reddi et al.'s online problem: {sweep.METRICS[metric]}, {settings}",
      cmap=cmap,
      vmin=vmin,
      vmax=vmax,
    )


def main(argv: Sequence[str] | None = None) -> int:
  """Parses ``argv`` (default ``sys.argv[1:]``), runs, writes; returns the exit status."""
  parser = _parser()
  args = parser.parse_args(argv)
  _check_arguments(parser, args)
  names = cli.optimizer_names(parser, args.optimizers, sweep.OPTIMIZERS)
  eps = getattr(args, "eps", None)
  cli.initialize_distributed(parser, args)
  writer = jax.process_index() == 0

  b1, b2 = sweep.beta_grid(args.grid)
  b1_flat, b2_flat = (a.ravel() for a in np.meshgrid(b1, b2, indexing="ij"))
  if writer:
    print(
      f"{len(names)} optimizers × {args.grid}² configurations, T = {args.steps:,} steps,"
      f" on {jax.device_count()} {jax.default_backend()} device(s)"
      f" in {jax.process_count()} process(es)",
      flush=True,
    )
  result = sweep.run_sweep(
    names,
    b1_flat,
    b2_flat,
    args.steps,
    lr=args.lr,
    eps=eps,
    indexing=args.indexing,
    record_every=min(RECORD_EVERY, args.steps),
  )
  if not writer:
    return 0
  summary = _summary(result, (args.grid, args.grid), eps)
  print(_table(summary))
  print(f"run {result.run_seconds:.2f} s, compile {result.compile_seconds:.2f} s")

  results = {
    "problem": "online",
    "steps": args.steps,
    "indexing": args.indexing,
    "lr": args.lr,
    "grid": args.grid,
    "b1": b1.tolist(),
    "b2": b2.tolist(),
    "b1_spacing": "linear",
    "b2_spacing": "linear in log(1 - b2)",
    "layout": "values[i][j] is at (b1[i], b2[j]); b1 and b2 are simulated rounded to float32",
    "devices": result.num_devices,
    "processes": jax.process_count(),
    "backend": jax.default_backend(),
    "seconds": result.run_seconds,
    "compile_seconds": result.compile_seconds,
    "optimizers": summary,
  }
  path = args.out / "results.json"
  try:
    args.out.mkdir(parents=True, exist_ok=True)
    _plot(result, args, b1, b2)
    path.write_text(json.dumps(results, indent=1) + "\n")
  except OSError as error:
    print(f"{PROG}: error: cannot write to {args.out}: {error.strerror}", file=sys.stderr)
    return 1
  for file_name in (*FIGURES.values(), "results.json"):
    print(f"wrote {args.out / file_name}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
