"""Command-line pieces shared by the experiments: errors, name lists, multi-process setup."""

import argparse
from collections.abc import Iterable
from typing import NoReturn


class OneLineErrorParser(argparse.ArgumentParser):
  """An ArgumentParser whose errors are a single line on stderr (exit status 2)."""

  def error(self, message: str) -> NoReturn:
    self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def optimizer_names(parser: argparse.ArgumentParser, text: str, known: Iterable[str]) -> list[str]:
  """The comma-separated ``--optimizers`` value as a list; ``parser.error`` on an unknown
  or repeated name."""
  known = list(known)
  names = [name.strip() for name in text.split(",")]
  for name in names:
    if name not in known:
      parser.error(
        f"argument --optimizers: unknown optimizer {name!r}; choose from {', '.join(known)}"
      )
  if len(set(names)) != len(names):
    parser.error(f"argument --optimizers: {text!r} names an optimizer twice")
  return names


def add_distributed_arguments(parser: argparse.ArgumentParser) -> None:
  """Adds ``--distributed``, ``--coordinator``, ``--num-processes`` and ``--process-id``.

  See :func:`initialize_distributed`.
  """
  group = parser.add_argument_group(
    "multi-process runs (one process per host, all started with the same arguments)"
  )
  group.add_argument(
    "--distributed",
    action="store_true",
    help=(
      "call jax.distributed.initialize() and detect the cluster (SLURM, Open MPI, or the"
      " JAX_COORDINATOR_ADDRESS environment variable and friends)"
    ),
  )
  group.add_argument(
    "--coordinator",
    metavar="HOST:PORT",
    default=None,
    help="the address of process 0's coordinator service (implies --distributed)",
  )
  group.add_argument(
    "--num-processes", type=int, default=None, help="the number of processes (with --coordinator)"
  )
  group.add_argument(
    "--process-id",
    type=int,
    default=None,
    help="this process's index in [0, --num-processes) (with --coordinator)",
  )


def initialize_distributed(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
  """Calls ``jax.distributed.initialize`` if the arguments ask for it (``parser.error`` if bad).

  Must run before the first JAX computation. With ``--coordinator`` the three
  explicit arguments go together; with ``--distributed`` alone JAX detects
  the cluster. On CPU hosts the processes exchange data through gloo (XLA's
  CPU collectives); on GPUs JAX uses NCCL.
  """
  explicit = (args.coordinator, args.num_processes, args.process_id)
  if any(value is not None for value in explicit):
    if any(value is None for value in explicit):
      parser.error(
        "argument --coordinator: --coordinator, --num-processes and --process-id go together"
      )
    if args.num_processes < 1:
      parser.error(f"argument --num-processes: must be >= 1, got {args.num_processes}")
    if not 0 <= args.process_id < args.num_processes:
      parser.error(
        f"argument --process-id: must be in [0, {args.num_processes}), got {args.process_id}"
      )
  elif not args.distributed:
    return
  import jax  # Only here: the parsers above must not initialise a backend.

  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  try:
    jax.distributed.initialize(
      coordinator_address=args.coordinator,
      num_processes=args.num_processes,
      process_id=args.process_id,
    )
  # No cluster detected, an address JAX cannot use, or a coordinator that never answered.
  except (ValueError, RuntimeError) as error:
    flag = "--coordinator" if args.coordinator is not None else "--distributed"
    parser.error(f"argument {flag}: jax.distributed.initialize: {error}")
