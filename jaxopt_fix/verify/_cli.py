"""``python -m jaxopt_fix.verify``: :func:`jaxopt_fix.verify.compare` from a shell.

Exit status 0 when the two agree at every dtype, 1 when they do not (the report says
where they part), 2 for bad input (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from collections.abc import Sequence
import sys
from typing import Any
from typing import NoReturn

from jaxopt_fix.verify import _compare
from jaxopt_fix.verify import _expressions
from jaxopt_fix.verify import _gradients

AGREE, DISAGREE, BAD_INPUT = 0, 1, 2

EPILOG = """\
examples:
  python -m jaxopt_fix.verify "torch.optim.Adam(lr=1e-2, amsgrad=True)"
  python -m jaxopt_fix.verify "torch.optim.Adam(lr=1e-2, amsgrad=True)" \\
      --against "optax.amsgrad(1e-2)"
  python -m jaxopt_fix.verify "torch.optim.SGD(lr=0.1, momentum=0.9)" --dtype float32 --steps 1000

Expressions may name torch.optim, optax and jaxopt_fix only, with literal arguments.
Exit status: 0 agree, 1 disagree, 2 bad input.
"""


class _Parser(argparse.ArgumentParser):
  def error(self, message: str) -> NoReturn:
    self.exit(BAD_INPUT, f"{self.prog}: error: {' '.join(message.split())}\n")


def _positive(text: str) -> int:
  try:
    value = int(text)
  except ValueError:
    raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
  if value < 1:
    raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
  return value


def parser() -> argparse.ArgumentParser:
  """The command line's parser."""
  p = _Parser(
    prog="python -m jaxopt_fix.verify",
    description=(
      "Feeds the same gradients to a torch optimizer and an optax transformation (by default "
      "its jaxopt_fix twin) and compares every step: the parameters' displacement and each "
      "state field with a counterpart, in float64 and float32."
    ),
    epilog=EPILOG,
    formatter_class=argparse.RawDescriptionHelpFormatter,
  )
  p.add_argument(
    "torch", help='the torch optimizer, e.g. "torch.optim.Adam(lr=1e-2, amsgrad=True)"'
  )
  p.add_argument(
    "--against",
    metavar="EXPR",
    help='the optax transformation, e.g. "optax.amsgrad(1e-2)" (default: the twin)',
  )
  p.add_argument(
    "--scheduler",
    metavar="EXPR",
    help="the torch learning-rate scheduler, stepped after every step, e.g. "
    '"torch.optim.lr_scheduler.StepLR(step_size=50, gamma=0.5)" (the twin takes its twin)',
  )
  p.add_argument("--steps", type=_positive, default=200, help="steps per sequence (default 200)")
  p.add_argument(
    "--dtype",
    choices=["float32", "float64"],
    action="append",
    help="compare in this dtype only (repeatable; default both)",
  )
  p.add_argument(
    "--gradients",
    choices=list(_gradients.SEQUENCES),
    action="append",
    help="a sequence of the battery (repeatable; default all)",
  )
  p.add_argument(
    "--initial",
    choices=["zeros", "normal"],
    default="zeros",
    help="starting parameters (default zeros; normal for updates that depend on them)",
  )
  p.add_argument("--png", metavar="PATH", help="also plot the errors against the step")
  return p


def _scheduler(text: str) -> Callable[[Any], Any]:
  """``optimizer -> scheduler`` from a scheduler expression without its optimizer."""
  cls, kwargs = _expressions.torch_scheduler(text)
  return lambda optimizer: cls(optimizer, **kwargs)


def _fail(message: str) -> int:
  print(f"python -m jaxopt_fix.verify: error: {' '.join(message.split())}", file=sys.stderr)
  return BAD_INPUT


def main(argv: Sequence[str] | None = None) -> int:
  """Runs the command line ``argv``; returns the exit status."""
  args = parser().parse_args(argv)
  try:
    cls, kwargs = _expressions.torch_optimizer(args.torch)
    tx = None if args.against is None else _expressions.transformation(args.against)
    scheduler = None if args.scheduler is None else _scheduler(args.scheduler)
    result = _compare.compare(
      cls,
      tx,
      kwargs=kwargs,
      steps=args.steps,
      dtypes=args.dtype or ("float64", "float32"),
      gradients=args.gradients or tuple(_gradients.SEQUENCES),
      initial=args.initial,
      tx_name=args.against,
      scheduler=scheduler,
    )
  except (TypeError, ValueError) as e:
    return _fail(str(e))
  print(result.report())
  if args.png:
    try:
      result.plot(args.png)
    except OSError as e:
      print(f"python -m jaxopt_fix.verify: cannot write {args.png}: {e.strerror}", file=sys.stderr)
      return DISAGREE if not result.agrees else BAD_INPUT
  return AGREE if result.agrees else DISAGREE
