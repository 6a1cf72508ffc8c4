"""Command-line pieces shared by the experiments: one-line errors and name lists."""

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
