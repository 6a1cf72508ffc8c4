"""What the experiments' command lines share: parsing into a configuration, the one error path,
comma-separated names, multi-process setup.

Every ``python -m experiments.<name>`` is :func:`main` over a parser, a function making
the run's configuration from the parsed arguments (it raises
:class:`~experiments.arguments.ArgumentError` for a value out of range) and the run
itself. Whatever goes wrong ends the same way: one ``PROG: error: ...`` line on stderr
and status 2 for bad arguments and :class:`UsageError`, 1 for a file that cannot be
written (:func:`writing`), 130 after Ctrl-C, never a traceback.
"""

import argparse
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Sequence
import contextlib
import dataclasses
import pathlib
import sys
from typing import Any
from typing import NoReturn
from typing import TypeVar

from experiments import arguments
from experiments import files

INTERRUPTED = 130
"""The exit status after Ctrl-C (128 + SIGINT), as a shell reports it."""

Config = TypeVar("Config")


class OneLineErrorParser(argparse.ArgumentParser):
  """An ArgumentParser whose errors are a single line on stderr (exit status 2)."""

  def error(self, message: str) -> NoReturn:
    self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


class UsageError(Exception):
  """The run cannot go on as asked (e.g. a checkpoint of another run): exit status 2."""


class WriteError(Exception):
  """An output could not be written: exit status 1."""


@contextlib.contextmanager
def writing(where: pathlib.Path) -> Iterator[None]:
  """Turns an OSError of the block into :class:`WriteError` ``cannot write PATH: REASON``.

  ``PATH`` is the file the error names, else ``where``.
  """
  try:
    yield
  except OSError as error:
    path = where if error.filename is None else error.filename
    raise WriteError(f"cannot write {path}: {error.strerror}") from error


def directory(text: str) -> pathlib.Path:
  """An ``--out DIR`` value: any path but the empty one (which would mean the current directory).

  Example:
    >>> directory("runs/a")
    PosixPath('runs/a')
  """
  if not text.strip():
    raise argparse.ArgumentTypeError("must name a directory, got ''")
  return pathlib.Path(text)


def defaults(config_class: type) -> dict[str, Any]:
  """The default of every field of a configuration dataclass, by name (for a parser's defaults)."""
  return {field.name: field.default for field in dataclasses.fields(config_class)}


def names(text: str) -> tuple[str, ...]:
  """A comma-separated ``--optimizers`` value, each name stripped."""
  return tuple(name.strip() for name in text.split(","))


def main(
  parser: argparse.ArgumentParser,
  argv: Sequence[str] | None,
  configure: Callable[[argparse.Namespace], Config],
  run: Callable[[Config], int],
  interrupted: Callable[[Config], str] = lambda _: "",
) -> int:
  """Parses ``argv``, makes the configuration, runs it; returns the exit status.

  Args:
    parser: The command line's parser.
    argv: The arguments (default ``sys.argv[1:]``).
    configure: The parsed arguments -> the run's configuration; an
      :class:`~experiments.arguments.ArgumentError` is a usage error of its flag.
    run: Runs the configuration and returns the exit status. It may raise
      ``ArgumentError`` too (what only the run can check), :class:`UsageError`
      or :class:`WriteError`.
    interrupted: What to add to the ``interrupted`` line after Ctrl-C (e.g.
      how to resume).

  Returns:
    ``run``'s status, 2 after a :class:`UsageError`, 1 after a :class:`WriteError`
    and 130 after Ctrl-C, each reported on one line of stderr. Argument errors
    exit through ``parser.error`` (``SystemExit(2)``).
  """
  args = parser.parse_args(argv)
  try:
    config = configure(args)
  except arguments.ArgumentError as error:
    parser.error(f"argument {error.flag}: {error.problem}")
  try:
    return run(config)
  except arguments.ArgumentError as error:
    parser.error(f"argument {error.flag}: {error.problem}")
  except (UsageError, files.OutputError) as error:
    return _fail(parser.prog, error, 2)
  except WriteError as error:
    return _fail(parser.prog, error, 1)
  except KeyboardInterrupt:
    print(f"{parser.prog}: interrupted{interrupted(config)}", file=sys.stderr)
    return INTERRUPTED


def _fail(prog: str, error: Exception, status: int) -> int:
  print(f"{prog}: error: {' '.join(str(error).split())}", file=sys.stderr)
  return status


def add_problem_arguments(
  parser: argparse.ArgumentParser, indexings: Sequence[str], indexing: str, scope: str = ""
) -> None:
  """Adds ``--eps`` (no default: each optimizer's own) and ``--indexing`` (default ``indexing``).

  ``scope`` starts the indexing's help (``"online problem: "``) where it applies to only some
  of the problems; ``--indexing`` then has no parsed default (absent unless given).
  """
  parser.add_argument(
    "--eps",
    type=float,
    default=argparse.SUPPRESS,
    help="eps, >= 0 (default: each optimizer's own, 1e-8 for Adam/AMSGrad, 1e-3 for Yogi)",
  )
  parser.add_argument(
    "--indexing",
    choices=indexings,
    # Where it applies to some problems only, whether it was given must be seen (and
    # refused for the others): no default then, the default named in the help.
    default=argparse.SUPPRESS if scope else indexing,
    help=(
      f"{scope}'zero': the reproductions' 0-indexed loop, large gradient on the second step;"
      " 'paper': t starts at 1, large gradient on the first step"
      + (f" (default: {indexing!r})" if scope else "")
    ),
  )


def add_distributed_arguments(parser: argparse.ArgumentParser) -> None:
  """Adds ``--distributed``, ``--coordinator``, ``--num-processes`` and ``--process-id``.

  See :func:`check_distributed` and :func:`initialize_distributed`.
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


def check_distributed(
  coordinator: str | None, num_processes: int | None, process_id: int | None
) -> None:
  """Raises ArgumentError unless the three explicit arguments are all given, and fit, or none."""
  explicit = (coordinator, num_processes, process_id)
  if all(value is None for value in explicit):
    return
  if coordinator is None or num_processes is None or process_id is None:
    raise arguments.ArgumentError(
      "coordinator", "--coordinator, --num-processes and --process-id go together"
    )
  arguments.at_least("num_processes", num_processes, 1)
  if not 0 <= process_id < num_processes:
    raise arguments.ArgumentError(
      "process_id", f"must be in [0, {num_processes}), got {process_id}"
    )


def initialize_distributed(
  distributed: bool, coordinator: str | None, num_processes: int | None, process_id: int | None
) -> None:
  """Calls ``jax.distributed.initialize`` if the arguments ask for it.

  Must run before the first JAX computation. With ``coordinator`` (and the
  other two, see :func:`check_distributed`) the processes meet there; with
  ``distributed`` alone JAX detects the cluster. On CPU hosts the processes
  exchange data through gloo (XLA's CPU collectives); on GPUs JAX uses NCCL.

  Raises:
    ArgumentError: if JAX cannot start (no cluster detected, an address it
      cannot use, a coordinator that never answered).
  """
  if coordinator is None and not distributed:
    return
  import jax  # Only here: parsing the arguments must not initialise a backend.

  jax.config.update("jax_cpu_collectives_implementation", "gloo")
  try:
    jax.distributed.initialize(
      coordinator_address=coordinator, num_processes=num_processes, process_id=process_id
    )
  except (ValueError, RuntimeError) as error:
    flag = "coordinator" if coordinator is not None else "distributed"
    raise arguments.ArgumentError(flag, f"jax.distributed.initialize: {error}") from error
