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

This module only parses: the arguments become a
:class:`~experiments.reddi.config.RunConfig`, which
:func:`~experiments.reddi.train.train_and_evaluate` runs.
"""

import argparse
from collections.abc import Sequence
import sys

from experiments import arguments
from experiments import cli
from experiments.reddi import config as configs
from experiments.reddi import optimizers
from experiments.reddi import presets
from experiments.reddi import problems
from experiments.reddi import train

PROG = "python -m experiments.reddi"
INTERRUPTED = cli.INTERRUPTED


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
  defaults = cli.defaults(configs.RunConfig)
  # The flags a preset fills have no parsed default: whether they were given must be seen.
  parser.add_argument(
    "--preset",
    choices=presets.NAMES,
    default=argparse.SUPPRESS,
    help=(
      "run a seed's own experiment: 'labml' (labml_nn's _synthetic_experiment: its Adam and"
      " AMSGrad, lr 1e-2, eps 1e-16, 10M steps) or 'torchbearer' (torchbearer's example:"
      " torch.optim.Adam with and without amsgrad, lr 1e-3, 6M steps, --problem online or"
      " stochastic); it sets the flags below but --problem, --seed(s), --chunk-steps, --out,"
      " --resume and --no-progress (giving one another value is an error), and compares the"
      " results with what the seed says"
    ),
  )
  parser.add_argument(
    "--check-seed",
    type=int,
    default=0,
    metavar="N",
    help="with --preset: also run the seed's own torch code for the first N steps and compare"
    " x step by step",
  )
  parser.add_argument(
    "--problem",
    choices=configs.PROBLEMS,
    default=argparse.SUPPRESS,
    help=f"the synthetic problem (default: {defaults['problem']!r})",
  )
  parser.add_argument(
    "--steps",
    type=int,
    default=argparse.SUPPRESS,
    help=f"number of steps T (default: {defaults['steps']})",
  )
  parser.add_argument(
    "--optimizers",
    type=cli.names,
    default=argparse.SUPPRESS,
    help=(
      f"comma-separated optimizer names, from: {', '.join(optimizers.OPTIMIZERS)},"
      f" {', '.join(optimizers.SEED_OPTIMIZERS)}, or"
      " torch_optim.<name> for any jaxopt_fix.torch_optim twin (torch's defaults, with"
      " --lr and, where the twin takes them, --b1/--b2 as betas and --eps)"
      f" (default: {','.join(defaults['optimizers'])})"
    ),
  )
  parser.add_argument(
    "--lr",
    type=float,
    default=argparse.SUPPRESS,
    help=f"learning rate alpha, >= 0 (default: {defaults['lr']})",
  )
  parser.add_argument(
    "--lr-schedule",
    choices=optimizers.LR_SCHEDULES,
    default=argparse.SUPPRESS,
    help=(
      "'constant': alpha at every step; 'sqrt': alpha / sqrt(t), as in the paper's analysis"
      f" (default: {defaults['lr_schedule']!r})"
    ),
  )
  for beta in ("b1", "b2"):
    parser.add_argument(
      f"--{beta}",
      type=float,
      default=argparse.SUPPRESS,
      help=f"beta{beta[1]}, in [0, 1) (default: {defaults[beta]})",
    )
  cli.add_problem_arguments(
    parser, problems.INDEXINGS, defaults["indexing"], scope="online problem: "
  )
  parser.add_argument(
    "--seed",
    type=int,
    default=argparse.SUPPRESS,
    help=(
      f"stochastic problem: the first seed; the runs use seeds SEED, SEED+1, ..."
      f" (default: {defaults['seed']})"
    ),
  )
  parser.add_argument(
    "--seeds",
    type=int,
    default=argparse.SUPPRESS,
    help=(
      "stochastic problem: the number of seeds, run side by side (jax.vmap)"
      f" (default: {defaults['seeds']})"
    ),
  )
  parser.add_argument(
    "--record-every",
    type=int,
    default=argparse.SUPPRESS,
    help=(
      "record x_t and R_t every this many steps (must divide --steps)"
      f" (default: {defaults['record_every']})"
    ),
  )
  parser.add_argument(
    "--chunk-steps",
    type=int,
    default=defaults["chunk_steps"],
    help="run about this many steps per compiled call; a checkpoint is saved after each",
  )
  parser.add_argument(
    "--dtype",
    choices=configs.DTYPES,
    default=argparse.SUPPRESS,
    help=(
      "dtype of the simulation (float64 runs under jax.enable_x64)"
      f" (default: {defaults['dtype']!r})"
    ),
  )
  parser.add_argument(
    "--out",
    type=cli.directory,
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


def _refuse_ineffective(problem: str, names: tuple[str, ...], given: dict[str, object]) -> None:
  """A flag that would change nothing is an error, not silently ignored: a flag of the other
  problem, or a hyperparameter that none of the optimizers takes."""
  ineffective = {"online": ("seed", "seeds"), "stochastic": ("indexing",)}[problem]
  for name in ineffective:
    if name in given:
      raise arguments.ArgumentError(name, f"has no effect on the {problem} problem")
  known = [optimizers.get_optimizer(name) for name in names if name in optimizers.NAMES]
  for name in ("b1", "b2", "eps"):
    if name in given and known and not any(name in optimizer.takes for optimizer in known):
      raise arguments.ArgumentError(name, f"has no effect: none of {', '.join(names)} takes it")


_FILLED = (
  "problem",
  "steps",
  "optimizers",
  "lr",
  "lr_schedule",
  "b1",
  "b2",
  "eps",
  "indexing",
  "seed",
  "seeds",
  "record_every",
  "dtype",
)
"""The configuration's fields that are flags without a parsed default (a preset may fill them)."""


def _configure(args: argparse.Namespace) -> configs.RunConfig:
  given = {name: value for name, value in vars(args).items() if name in _FILLED}
  defaults = cli.defaults(configs.RunConfig)
  preset = getattr(args, "preset", None)
  fields = given if preset is None else presets.fill(preset, given)
  fields = {name: fields.get(name, defaults[name]) for name in _FILLED}
  _refuse_ineffective(fields["problem"], fields["optimizers"], given)
  return configs.RunConfig(
    **fields,
    chunk_steps=args.chunk_steps,
    out=getattr(args, "out", None),
    resume=args.resume,
    progress=not args.no_progress,
    preset=preset,
    check_seed=args.check_seed,
  )


def _run(config: configs.RunConfig) -> int:
  train.train_and_evaluate(config)
  return 0


def _resume_hint(config: configs.RunConfig) -> str:
  if config.checkpoints is None:
    return ""
  return f"; the checkpoints are in {config.checkpoints}: rerun with --resume to continue"


def main(argv: Sequence[str] | None = None) -> int:
  """Parses ``argv`` (default ``sys.argv[1:]``), runs, prints; returns the exit status."""
  return cli.main(_parser(), argv, _configure, _run, interrupted=_resume_hint)


if __name__ == "__main__":
  sys.exit(main())
