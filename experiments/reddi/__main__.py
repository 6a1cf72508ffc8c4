"""Command line for Reddi et al.'s synthetic problems: ``python -m experiments.reddi --help``.

Example::

  python -m experiments.reddi --steps 1000000 --optimizers adam,amsgrad --out /tmp/reddi

prints, per optimizer, the final iterate x_T, the average regret R_T / T and the
wall time (compilation reported separately), and with ``--out`` writes them to
``DIR/results.json``. Bad arguments print one ``error:`` line and exit with
status 2.
"""

import argparse
from collections.abc import Sequence
import json
import math
import pathlib
import sys
from typing import NoReturn

import jax
import jax.numpy as jnp

from experiments.reddi import problems

PROG = "python -m experiments.reddi"
PROBLEMS = ("online", "stochastic")
IMPLEMENTED_PROBLEMS = ("online",)
DTYPES = ("float32", "float64")


class _Parser(argparse.ArgumentParser):
  """An ArgumentParser whose errors are a single line on stderr (exit status 2)."""

  def error(self, message: str) -> NoReturn:
    self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def _parser() -> _Parser:
  parser = _Parser(
    prog=PROG,
    description=(
      "Runs optimizers on the online convex problem of Reddi, Kale & Kumar (ICLR 2018),"
      " §5: f_t(x) = 1010 x if t mod 101 == 1 else -10 x on [-1, 1], from x_0 = 0,"
      " clipping after every step. Prints the final iterate x_T (the optimum is -1)"
      " and the average regret R_T / T."
    ),
    formatter_class=argparse.ArgumentDefaultsHelpFormatter,
  )
  parser.add_argument(
    "--problem",
    choices=PROBLEMS,
    default="online",
    help="the synthetic problem (only 'online' is implemented so far)",
  )
  parser.add_argument("--steps", type=int, default=1_000_000, help="number of steps T")
  parser.add_argument(
    "--optimizers",
    default=",".join(problems.OPTIMIZERS),
    help=f"comma-separated optimizer names, from: {', '.join(problems.OPTIMIZERS)}",
  )
  parser.add_argument("--lr", type=float, default=1e-2, help="constant learning rate, >= 0")
  parser.add_argument("--b1", type=float, default=0.9, help="beta1, in [0, 1)")
  parser.add_argument("--b2", type=float, default=0.99, help="beta2, in [0, 1)")
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
    "--record-every",
    type=int,
    default=1000,
    help="record x_t and R_t every this many steps (must divide --steps)",
  )
  parser.add_argument(
    "--dtype",
    choices=DTYPES,
    default="float32",
    help="dtype of the simulation (float64 runs under jax.enable_x64)",
  )
  parser.add_argument(
    "--out",
    type=pathlib.Path,
    default=argparse.SUPPRESS,
    metavar="DIR",
    help="write DIR/results.json (default: write nothing)",
  )
  parser.add_argument(
    "--no-progress",
    action="store_true",
    help="never show a progress bar (one is shown for long runs on a terminal)",
  )
  return parser


def _optimizer_names(parser: _Parser, text: str) -> list[str]:
  names = [name.strip() for name in text.split(",")]
  for name in names:
    if name not in problems.OPTIMIZERS:
      parser.error(
        f"argument --optimizers: unknown optimizer {name!r}; choose from"
        f" {', '.join(problems.OPTIMIZERS)}"
      )
  if len(set(names)) != len(names):
    parser.error(f"argument --optimizers: {text!r} names an optimizer twice")
  return names


def _check_arguments(parser: _Parser, args: argparse.Namespace) -> None:
  """Calls ``parser.error`` (exit 2) on the first argument out of range."""
  if args.problem not in IMPLEMENTED_PROBLEMS:
    parser.error(f"argument --problem: {args.problem!r} is not implemented yet (only 'online' is)")
  if not 0 < args.steps <= problems.MAX_STEPS:
    parser.error(f"argument --steps: must be in [1, {problems.MAX_STEPS}], got {args.steps}")
  if args.record_every <= 0 or args.steps % args.record_every:
    parser.error(
      f"argument --record-every: must be positive and divide --steps {args.steps},"
      f" got {args.record_every}"
    )
  if not (math.isfinite(args.lr) and args.lr >= 0):
    parser.error(f"argument --lr: must be finite and >= 0, got {args.lr}")
  for flag in ("b1", "b2"):
    value = getattr(args, flag)
    if not 0 <= value < 1:
      parser.error(f"argument --{flag}: must be in [0, 1), got {value}")
  eps = getattr(args, "eps", None)
  if eps is not None and not (math.isfinite(eps) and eps >= 0):
    parser.error(f"argument --eps: must be finite and >= 0, got {eps}")
  out = getattr(args, "out", None)
  if out is not None and out.exists() and not out.is_dir():
    parser.error(f"argument --out: {str(out)!r} exists and is not a directory")


def _progress_bar(args: argparse.Namespace, name: str):
  """A tqdm bar over the steps if the run has several chunks, else None."""
  if args.no_progress or args.steps <= problems.DEFAULT_CHUNK_STEPS:
    return None
  import tqdm  # Only long runs need it.

  return tqdm.tqdm(
    total=args.steps, desc=name, unit="step", unit_scale=True, leave=False, disable=None
  )


def _run(args: argparse.Namespace, names: Sequence[str]) -> list[dict[str, object]]:
  dtype = jnp.dtype(args.dtype)
  eps = getattr(args, "eps", None)
  runs = []
  for name in names:
    optimizer = problems.OPTIMIZERS[name]
    tx = optimizer(args.lr, args.b1, args.b2, eps)
    bar = _progress_bar(args, name)
    try:
      with jax.enable_x64(dtype == jnp.float64):
        run = problems.run_online(
          tx,
          args.steps,
          args.record_every,
          args.indexing,
          dtype,
          progress=None if bar is None else bar.update,
        )
    finally:
      if bar is not None:
        bar.close()
    runs.append(
      {
        "optimizer": name,
        "variant": optimizer.variant,
        "eps": optimizer.default_eps if eps is None else eps,
        "x_final": run.x_final,
        "avg_regret_final": run.avg_regret_final,
        "seconds": run.run_seconds,
        "compile_seconds": run.compile_seconds,
      }
    )
  return runs


def _table(runs: Sequence[dict[str, object]]) -> str:
  header = (
    f"{'optimizer':<14} {'variant':<16} {'x_T':>9} {'R_T/T':>9} {'seconds':>8} {'compile_s':>9}"
  )
  lines = [header]
  for run in runs:
    lines.append(
      f"{run['optimizer']:<14} {run['variant']:<16} {run['x_final']:>+9.5f}"
      f" {run['avg_regret_final']:>9.5f} {run['seconds']:>8.2f} {run['compile_seconds']:>9.2f}"
    )
  return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
  """Parses ``argv`` (default ``sys.argv[1:]``), runs, prints; returns the exit status."""
  parser = _parser()
  args = parser.parse_args(argv)
  _check_arguments(parser, args)
  names = _optimizer_names(parser, args.optimizers)

  runs = _run(args, names)
  print(
    f"{args.problem} problem, T = {args.steps:,} steps, indexing {args.indexing!r},"
    f" lr {args.lr:g}, betas ({args.b1:g}, {args.b2:g}), {args.dtype}"
  )
  print(_table(runs))

  out = getattr(args, "out", None)
  if out is not None:
    results = {
      "problem": args.problem,
      "steps": args.steps,
      "indexing": args.indexing,
      "lr": args.lr,
      "b1": args.b1,
      "b2": args.b2,
      "record_every": args.record_every,
      "dtype": args.dtype,
      "runs": runs,
    }
    path = out / "results.json"
    try:
      out.mkdir(parents=True, exist_ok=True)
      path.write_text(json.dumps(results, indent=2) + "\n")
    except OSError as error:
      print(f"{PROG}: error: cannot write {path}: {error.strerror}", file=sys.stderr)
      return 1
    print(f"wrote {path}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
