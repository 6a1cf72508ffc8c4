"""Command line for the (β1, β2) sweep: ``python -m experiments.beta_sweep --help``.

Example::

  python -m experiments.beta_sweep --grid 64 --steps 100000 --out runs/beta_sweep

runs Adam and AMSGrad at every (β1, β2) of a 64 × 64 grid on Reddi et al.'s
online problem, all configurations in one compiled scan sharded over the local
devices, prints a summary per optimizer and writes ``DIR/x_final.png``,
``DIR/avg_regret.png`` and ``DIR/results.json``. Bad arguments print one
``error:`` line and exit with status 2.

This module only parses: the arguments become a
:class:`~experiments.beta_sweep.config.SweepConfig`, which
:func:`~experiments.beta_sweep.train.train_and_evaluate` runs.
"""

import argparse
from collections.abc import Sequence
import sys

from experiments import cli
from experiments.beta_sweep import config as configs
from experiments.beta_sweep import train
from experiments.reddi import optimizers
from experiments.reddi import problems

PROG = "python -m experiments.beta_sweep"


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
  defaults = cli.defaults(configs.SweepConfig)
  parser.add_argument("--steps", type=int, default=defaults["steps"], help="number of steps T")
  parser.add_argument(
    "--grid",
    type=int,
    default=defaults["grid"],
    help="number of values of beta1 and of beta2, >= 2",
  )
  parser.add_argument(
    "--optimizers",
    default=",".join(defaults["optimizers"]),
    help=f"comma-separated optimizer names, from: {', '.join(optimizers.OPTIMIZERS)}",
  )
  parser.add_argument(
    "--lr", type=float, default=defaults["lr"], help="constant learning rate, >= 0"
  )
  cli.add_problem_arguments(parser, problems.INDEXINGS, defaults["indexing"])
  parser.add_argument(
    "--out",
    type=cli.directory,
    default=defaults["out"],
    metavar="DIR",
    help="write the PNGs and results.json here (process 0 of a multi-process run)",
  )
  cli.add_distributed_arguments(parser)
  return parser


def _configure(args: argparse.Namespace) -> configs.SweepConfig:
  return configs.SweepConfig(
    steps=args.steps,
    grid=args.grid,
    optimizers=cli.names(args.optimizers),
    lr=args.lr,
    eps=vars(args).get("eps"),  # No default to show.
    indexing=args.indexing,
    out=args.out,
    distributed=args.distributed,
    coordinator=args.coordinator,
    num_processes=args.num_processes,
    process_id=args.process_id,
  )


def _run(config: configs.SweepConfig) -> int:
  cli.initialize_distributed(
    config.distributed, config.coordinator, config.num_processes, config.process_id
  )
  train.train_and_evaluate(config)
  return 0


def main(argv: Sequence[str] | None = None) -> int:
  """Parses ``argv`` (default ``sys.argv[1:]``), runs, writes; returns the exit status."""
  return cli.main(_parser(), argv, _configure, _run)


if __name__ == "__main__":
  sys.exit(main())
