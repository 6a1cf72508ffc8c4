"""Argument checks shared by the experiments' functions and their run configurations.

Each check raises :class:`ArgumentError` naming the argument, so the same check
serves a library call (``ValueError: steps must be in [1, 2147483647], got 0.``)
and a command line, which reports it as the flag of that name
(``error: argument --steps: must be in [1, 2147483647], got 0``, see
:func:`experiments.cli.main`).
"""

from collections.abc import Collection
from collections.abc import Sequence
import math
import pathlib


class ArgumentError(ValueError):
  """An argument out of range.

  Attributes:
    name: The argument's name, as a keyword (``"record_every"``); the command
      lines' flags are these names with dashes (``--record-every``).
    problem: What is wrong with it, starting with "must" (``"must be >= 1, got 0"``).
  """

  def __init__(self, name: str, problem: str):
    super().__init__(f"{name} {problem}.")
    self.name = name
    self.problem = problem

  @property
  def flag(self) -> str:
    """The command-line flag of the argument (``--record-every``)."""
    return "--" + self.name.replace("_", "-")


def in_range(name: str, value: int, low: int, high: int) -> None:
  """``low <= value <= high``."""
  if not low <= value <= high:
    raise ArgumentError(name, f"must be in [{low}, {high}], got {value}")


def at_least(name: str, value: int, low: int) -> None:
  """``value >= low``."""
  if value < low:
    raise ArgumentError(name, f"must be >= {low}, got {value}")


def positive(name: str, value: int) -> None:
  """``value > 0``."""
  if value <= 0:
    raise ArgumentError(name, f"must be positive, got {value}")


def finite_nonnegative(name: str, value: float | None) -> None:
  """``value`` is finite and >= 0 (``None``, a default, passes)."""
  if value is not None and not (math.isfinite(value) and value >= 0):
    raise ArgumentError(name, f"must be finite and >= 0, got {value}")


def unit_interval(name: str, value: float) -> None:
  """``0 <= value < 1`` (a β)."""
  if not 0 <= value < 1:
    raise ArgumentError(name, f"must be in [0, 1), got {value}")


def one_of(name: str, value: str, choices: Sequence[str]) -> None:
  """``value`` is one of ``choices``."""
  if value not in choices:
    raise ArgumentError(name, f"must be one of {tuple(choices)}, got {value!r}")


def distinct_names(name: str, names: Sequence[str], known: Collection[str]) -> None:
  """``names`` holds at least one name, each in ``known``, none twice."""
  if not names:
    raise ArgumentError(name, "must name at least one optimizer")
  for item in names:
    if item not in known:
      raise ArgumentError(name, f"unknown optimizer {item!r}; choose from {', '.join(known)}")
  if len(set(names)) != len(names):
    raise ArgumentError(
      name, f"{','.join(names)!r} names an optimizer twice (they must be distinct)"
    )


def directory(name: str, path: pathlib.Path | None) -> None:
  """``path`` is a directory or does not exist yet (``None`` passes)."""
  if path is not None and path.exists() and not path.is_dir():
    raise ArgumentError(name, f"{str(path)!r} exists and is not a directory")
