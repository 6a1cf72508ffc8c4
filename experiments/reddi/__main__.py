"""Command line for Reddi et al.'s synthetic problems: ``python -m experiments.reddi --help``.

Example::

  python -m experiments.reddi --steps 1000000 --optimizers adam,amsgrad --out /tmp/reddi

runs all the optimizers in one compiled program and prints, per optimizer, the
final iterate x_T and the average regret R_T / T, then the program's wall time
(compilation reported separately). With ``--out DIR`` it writes
``DIR/results.json``, ``DIR/trajectory.csv`` (x_t and R_t / t at the record
points) and ``DIR/figure1.png`` (the paper's Figure 1), and checkpoints all the
optimizers' states after every chunk of steps in ``DIR/checkpoints/``: after an
interruption (Ctrl-C exits with status 130) the same command with ``--resume``
continues from the last checkpoint, with results bit for bit those of an
uninterrupted run. Bad arguments, and checkpoints that are damaged or from
another configuration, print one ``error:`` line and exit with status 2.
"""

import argparse
from collections.abc import Callable
from collections.abc import Sequence
import functools
import math
import pathlib
import sys
from typing import Any

import jax
import jax.numpy as jnp

from experiments import cli
from experiments.reddi import checkpoint
from experiments.reddi import outputs
from experiments.reddi import problems

PROG = "python -m experiments.reddi"
PROBLEMS = ("online", "stochastic")
DTYPES = ("float32", "float64")
CHECKPOINTS = "checkpoints"
MANIFEST = "run.json"
"""The run's configuration, in the checkpoint directory: what ``--resume`` must match."""
STATE = "state.npz"
"""The checkpoint of all the optimizers' states, in the checkpoint directory."""
INTERRUPTED = 130
"""The exit status after Ctrl-C (128 + SIGINT), as a shell reports it."""


def _parser() -> cli.OneLineErrorParser:
  parser = cli.OneLineErrorParser(
    prog=PROG,
    description=(
      "Runs optimizers on the synthetic problems of Reddi, Kale & Kumar (ICLR 2018), §5,"
      " on [-1, 1] from x_0 = 0, clipping after every step. online: f_t(x) = 1010 x if"
      " t mod 101 == 1 else -10 x; stochastic: f_t(x) = 1010 x with probability 0.01,"
      " else -10 x. Prints the final iterate x_T (the optimum is -1) and the average"
      " regret R_T / T."
    ),
    formatter_class=argparse.ArgumentDefaultsHelpFormatter,
  )
  parser.add_argument("--problem", choices=PROBLEMS, default="online", help="the synthetic problem")
  parser.add_argument("--steps", type=int, default=1_000_000, help="number of steps T")
  parser.add_argument(
    "--optimizers",
    default=",".join(problems.OPTIMIZERS),
    help=(
      f"comma-separated optimizer names, from: {', '.join(problems.OPTIMIZERS)}, or"
      " torch_optim.<name> for any jaxopt_fix.torch_optim twin (torch's defaults, with"
      " --lr and, where the twin takes them, --b1/--b2 as betas and --eps)"
    ),
  )
  parser.add_argument("--lr", type=float, default=1e-2, help="learning rate alpha, >= 0")
  parser.add_argument(
    "--lr-schedule",
    choices=problems.LR_SCHEDULES,
    default="constant",
    help="'constant': alpha at every step; 'sqrt': alpha / sqrt(t), as in the paper's analysis",
  )
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
      "online problem: 'zero': the reproductions' 0-indexed loop, large gradient on the"
      " second step; 'paper': t starts at 1, large gradient on the first step"
    ),
  )
  parser.add_argument(
    "--seed",
    type=int,
    default=0,
    help="stochastic problem: the first seed; the runs use seeds SEED, SEED+1, ...",
  )
  parser.add_argument(
    "--seeds",
    type=int,
    default=10,
    help="stochastic problem: the number of seeds, run side by side (jax.vmap)",
  )
  parser.add_argument(
    "--record-every",
    type=int,
    default=1000,
    help="record x_t and R_t every this many steps (must divide --steps)",
  )
  parser.add_argument(
    "--chunk-steps",
    type=int,
    default=problems.DEFAULT_CHUNK_STEPS,
    help="run about this many steps per compiled call; a checkpoint is saved after each",
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
    help=(
      "write DIR/results.json, DIR/trajectory.csv and DIR/figure1.png, and checkpoints"
      " in DIR/checkpoints (default: write nothing)"
    ),
  )
  parser.add_argument(
    "--resume",
    action="store_true",
    help=(
      "continue the run checkpointed in --out DIR, given the same other arguments (a run"
      " with no checkpoint yet starts from step 0; a finished one only rewrites its outputs)"
    ),
  )
  parser.add_argument(
    "--no-progress",
    action="store_true",
    help="never show a progress bar (one is shown for runs of several chunks on a terminal)",
  )
  return parser


def _check_arguments(parser: cli.OneLineErrorParser, args: argparse.Namespace) -> None:
  """Calls ``parser.error`` (exit 2) on the first argument out of range."""
  if not 0 < args.steps <= problems.MAX_STEPS:
    parser.error(f"argument --steps: must be in [1, {problems.MAX_STEPS}], got {args.steps}")
  if args.record_every <= 0 or args.steps % args.record_every:
    parser.error(
      f"argument --record-every: must be positive and divide --steps {args.steps},"
      f" got {args.record_every}"
    )
  if args.chunk_steps <= 0:
    parser.error(f"argument --chunk-steps: must be positive, got {args.chunk_steps}")
  if not (math.isfinite(args.lr) and args.lr >= 0):
    parser.error(f"argument --lr: must be finite and >= 0, got {args.lr}")
  for flag in ("b1", "b2"):
    value = getattr(args, flag)
    if not 0 <= value < 1:
      parser.error(f"argument --{flag}: must be in [0, 1), got {value}")
  eps = getattr(args, "eps", None)
  if eps is not None and not (math.isfinite(eps) and eps >= 0):
    parser.error(f"argument --eps: must be finite and >= 0, got {eps}")
  if args.seeds < 1:
    parser.error(f"argument --seeds: must be >= 1, got {args.seeds}")
  if not 0 <= args.seed <= problems.MAX_SEED - args.seeds + 1:
    parser.error(
      f"argument --seed: SEED..SEED+SEEDS-1 must be in [0, {problems.MAX_SEED}], got {args.seed}"
    )
  out = getattr(args, "out", None)
  if out is not None and out.exists() and not out.is_dir():
    parser.error(f"argument --out: {str(out)!r} exists and is not a directory")
  if args.resume:
    if out is None:
      parser.error("argument --resume: needs --out DIR, where the checkpoints are")
  elif out is not None and (out / CHECKPOINTS / MANIFEST).exists():
    parser.error(
      f"argument --out: {str(out)!r} holds the checkpoints of an earlier run; pass --resume"
      f" to continue it, or remove {str(out / CHECKPOINTS)!r}"
    )


def _config(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
  """What a checkpoint must match: every argument that changes the results."""
  config: dict[str, Any] = {
    "checkpoint_format": checkpoint.FORMAT,
    "problem": args.problem,
    "optimizers": list(names),
    "variants": [problems.get_optimizer(name).variant for name in names],
    "steps": args.steps,
    "record_every": args.record_every,
    "chunk_steps": args.chunk_steps,
    "lr": args.lr,
    "lr_schedule": args.lr_schedule,
    "b1": args.b1,
    "b2": args.b2,
    "eps": getattr(args, "eps", None),
    "dtype": args.dtype,
  }
  if args.problem == "online":
    config["indexing"] = args.indexing
  else:
    config.update(seed=args.seed, seeds=args.seeds)
  return config


def _progress_bar(args: argparse.Namespace, names: Sequence[str], done: int):
  """A tqdm bar over the steps (rate and ETA) if the run has several chunks, else None."""
  if args.no_progress or args.steps <= args.chunk_steps or done == args.steps:
    return None
  import tqdm  # Only long runs need it.

  return tqdm.tqdm(
    total=args.steps,
    initial=done,
    desc=names[0] if len(names) == 1 else f"{len(names)} optimizers",
    unit="step",
    unit_scale=True,
    leave=False,
    disable=None,
    smoothing=0.1,
  )


def _run(
  args: argparse.Namespace,
  names: Sequence[str],
  config: dict[str, Any],
  directory: pathlib.Path | None,
) -> dict[str, problems.OnlineRun]:
  """Runs all the optimizers in one program, from the checkpoint under ``--resume``.

  A checkpoint of all their states is saved after each chunk.
  """
  eps = getattr(args, "eps", None)
  lr = problems.learning_rate(args.lr, args.lr_schedule)
  txs = {name: problems.get_optimizer(name)(lr, args.b1, args.b2, eps) for name in names}
  dtype = jnp.dtype(args.dtype)
  seed = None if args.problem == "online" else args.seed
  template = problems.initial_snapshot(
    txs, args.steps, args.record_every, dtype, seed=seed, seeds=args.seeds
  )
  snapshot: problems.Snapshot | None = None
  on_chunk: Callable[[problems.Snapshot], None] | None = None
  if directory is not None:
    path = directory / STATE
    if args.resume and path.exists():
      snapshot = checkpoint.load(path, template, config)
    on_chunk = functools.partial(checkpoint.save, path, config=config)

  done = 0 if snapshot is None else snapshot.records_done * args.record_every
  bar = _progress_bar(args, names, done)
  kwargs: dict[str, Any] = {
    "chunk_steps": args.chunk_steps,
    "progress": None if bar is None else bar.update,
    "resume_from": snapshot,
    "on_chunk": on_chunk,
  }
  try:
    if args.problem == "online":
      return problems.run_online(txs, args.steps, args.record_every, args.indexing, dtype, **kwargs)
    return problems.run_stochastic(
      txs, args.steps, args.record_every, args.seed, args.seeds, dtype, **kwargs
    )
  finally:
    if bar is not None:
      bar.close()


def _summary(args: argparse.Namespace, name: str, run: problems.OnlineRun) -> dict[str, Any]:
  optimizer = problems.get_optimizer(name)
  eps = getattr(args, "eps", None)
  summary: dict[str, Any] = {
    "optimizer": name,
    "variant": optimizer.variant,
    "eps": optimizer.default_eps if eps is None else eps,
    "x_final": run.x_final,
    "avg_regret_final": run.avg_regret_final,
    "seconds": run.run_seconds,
    "compile_seconds": run.compile_seconds,
  }
  if run.x.ndim == 2:
    summary["x_final_per_seed"] = run.x[-1].tolist()
    summary["avg_regret_final_per_seed"] = run.avg_regret[-1].tolist()
  return summary


def _table(runs: Sequence[dict[str, Any]]) -> str:
  width = max(14, *(len(str(run["optimizer"])) for run in runs))
  lines = [f"{'optimizer':<{width}} {'variant':<16} {'x_T':>9} {'R_T/T':>9}"]
  for run in runs:
    lines.append(
      f"{run['optimizer']:<{width}} {run['variant']:<16} {run['x_final']:>+9.5f}"
      f" {run['avg_regret_final']:>9.5f}"
    )
  lines.append(
    f"{len(runs)} optimizer{'s' * (len(runs) > 1)} in one compiled program:"
    f" {runs[0]['seconds']:.2f} s, plus {runs[0]['compile_seconds']:.2f} s compiling"
  )
  return "\n".join(lines)


def _description(args: argparse.Namespace) -> str:
  lr = f"{args.lr:g}" + (" / sqrt(t)" if args.lr_schedule == "sqrt" else "")
  problem = (
    f"indexing {args.indexing!r}"
    if args.problem == "online"
    else f"seeds {args.seed}..{args.seed + args.seeds - 1}"
  )
  return (
    f"{args.problem} problem, T = {args.steps:,} steps, {problem}, lr {lr},"
    f" betas ({args.b1:g}, {args.b2:g}), {args.dtype}"
  )


def _title(args: argparse.Namespace) -> str:
  lr = rf"$\alpha = {args.lr:g}$" + (r"$/\sqrt{t}$" if args.lr_schedule == "sqrt" else "")
  setting = (
    f"indexing '{args.indexing}'"
    if args.problem == "online"
    else f"{args.seeds} seed{'s' * (args.seeds > 1)} from {args.seed}"
  )
  return (
    f"Reddi et al. (2018), {args.problem} problem: T = {args.steps:,}, {lr},"
    rf" $\beta_1 = {args.b1:g}$, $\beta_2 = {args.b2:g}$, {setting}, {args.dtype}"
  )


def _write_outputs(
  args: argparse.Namespace, summaries: list[dict[str, Any]], runs: dict[str, problems.OnlineRun]
) -> list[pathlib.Path]:
  out: pathlib.Path = args.out
  results = {
    "problem": args.problem,
    "steps": args.steps,
    "indexing": args.indexing if args.problem == "online" else None,
    "lr": args.lr,
    "lr_schedule": args.lr_schedule,
    "b1": args.b1,
    "b2": args.b2,
    "record_every": args.record_every,
    "dtype": args.dtype,
    "runs": summaries,
  }
  if args.problem == "stochastic":
    results.update(seed=args.seed, seeds=args.seeds)
  paths = [out / "results.json", out / "trajectory.csv", out / "figure1.png"]
  checkpoint.write_json(paths[0], results)
  outputs.write_trajectory(paths[1], runs)
  outputs.write_figure(paths[2], runs, _title(args))
  return paths


def _main(args: argparse.Namespace, names: list[str]) -> int:
  out: pathlib.Path | None = getattr(args, "out", None)
  config = _config(args, names)
  directory = None
  if out is not None:
    directory = out / CHECKPOINTS
    try:
      directory.mkdir(parents=True, exist_ok=True)
      if not (args.resume and (directory / MANIFEST).exists()):
        checkpoint.write_json(directory / MANIFEST, config)
    except OSError as error:
      print(f"{PROG}: error: cannot write {directory}: {error.strerror}", file=sys.stderr)
      return 1
    checkpoint.check_manifest(directory / MANIFEST, config)

  try:
    with jax.enable_x64(args.dtype == "float64"):
      runs = _run(args, names, config, directory)
  except OSError as error:  # A checkpoint could not be written.
    print(f"{PROG}: error: cannot write {error.filename}: {error.strerror}", file=sys.stderr)
    return 1
  summaries = [_summary(args, name, run) for name, run in runs.items()]
  print(_description(args))
  print(_table(summaries))

  if out is not None:
    try:
      paths = _write_outputs(args, summaries, runs)
    except OSError as error:
      print(f"{PROG}: error: cannot write to {out}: {error.strerror}", file=sys.stderr)
      return 1
    print(f"wrote {', '.join(str(path) for path in paths)}")
  return 0


def main(argv: Sequence[str] | None = None) -> int:
  """Parses ``argv`` (default ``sys.argv[1:]``), runs, prints; returns the exit status."""
  parser = _parser()
  args = parser.parse_args(argv)
  _check_arguments(parser, args)
  names = cli.optimizer_names(
    parser, args.optimizers, [*problems.OPTIMIZERS, *problems.torch_optim_names()]
  )
  try:
    return _main(args, names)
  except checkpoint.CheckpointError as error:
    print(f"{PROG}: error: {' '.join(str(error).split())}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    out = getattr(args, "out", None)
    where = (
      f"; the checkpoints are in {out / CHECKPOINTS}: rerun with --resume to continue"
      if out is not None
      else ""
    )
    print(f"{PROG}: interrupted{where}", file=sys.stderr)
    return INTERRUPTED


if __name__ == "__main__":
  sys.exit(main())
