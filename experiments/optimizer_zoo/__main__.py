"""Command line for the optimizer zoo: ``python -m experiments.optimizer_zoo --help``.

Example::

  python -m experiments.optimizer_zoo --out runs/zoo --epochs 100

trains the digits MLP of :mod:`experiments.optimizer_zoo.digits` with every
optimizer of the zoo in JAX and in PyTorch, runs D2L's Adam-versus-Yogi
regression of :mod:`experiments.optimizer_zoo.regression` in both, and prints
per optimizer the largest difference between the two loss curves, the final
training loss and the held-out accuracy. With ``--out DIR`` it writes
``DIR/results.json``, ``DIR/zoo_grid.png`` (one panel per optimizer, JAX solid,
PyTorch dashed), ``DIR/zoo_overlay.png`` (all optimizers, JAX) and
``DIR/adam_vs_yogi.png``. Bad arguments print one ``error:`` line and exit with
status 2.
"""

import argparse
from collections.abc import Sequence
import dataclasses
import pathlib
import sys
import time
from typing import Any

import jax
import numpy as np

from experiments import arguments
from experiments import cli
from experiments import files
from experiments.optimizer_zoo import digits
from experiments.optimizer_zoo import figures
from experiments.optimizer_zoo import regression

PROG = "python -m experiments.optimizer_zoo"
DTYPES = ("float32", "float64")
MAX_EPOCHS = 10_000
MAX_SEED = 2**32 - 1
FILES = ("results.json", "zoo_grid.png", "zoo_overlay.png", "adam_vs_yogi.png")


@dataclasses.dataclass(frozen=True)
class Config:
  """Every argument of a run; see ``--help``. The constructor raises ArgumentError.

  Attributes:
    epochs: Digits: epochs of 6 batches, in [1, :data:`MAX_EPOCHS`].
    optimizers: Distinct names of :data:`~experiments.optimizer_zoo.digits.OPTIMIZERS`.
    seed: The numpy seed of the batch order and torch seed of the initial weights.
    regression_epochs: Adam vs Yogi: epochs, in [1, :data:`MAX_EPOCHS`].
    dtype: ``"float32"`` or ``"float64"``, of both frameworks.
    out: The output directory, or ``None`` to write nothing.
    progress: Show a progress bar (on a terminal).
  """

  epochs: int = 100
  optimizers: tuple[str, ...] = tuple(digits.OPTIMIZERS)
  seed: int = 0
  regression_epochs: int = 2
  dtype: str = "float32"
  out: pathlib.Path | None = None
  progress: bool = True

  def __post_init__(self):
    arguments.in_range("epochs", self.epochs, 1, MAX_EPOCHS)
    arguments.in_range("regression_epochs", self.regression_epochs, 1, MAX_EPOCHS)
    arguments.in_range("seed", self.seed, 0, MAX_SEED)
    arguments.one_of("dtype", self.dtype, DTYPES)
    arguments.directory("out", self.out)
    arguments.distinct_names("optimizers", self.optimizers, digits.OPTIMIZERS)


def _parser() -> cli.OneLineErrorParser:
  parser = cli.OneLineErrorParser(
    prog=PROG,
    description=(
      "Trains a 64-100-100-10 ReLU MLP on scikit-learn's digits (1536 training images,"
      " 261 held out, batches of 256, log-softmax + NLL) with eleven optimizers, each with"
      " its jaxopt_fix twin (one jit-compiled lax.scan) and with PyTorch, from the same"
      " initial weights on the same batches; then D2L's Adam vs Yogi linear regression"
      " (scikit-learn's diabetes, minibatch 10, lr 0.01) in both. Prints max |Δloss|"
      " between the frameworks, the final training loss and the held-out accuracy."
    ),
    formatter_class=argparse.ArgumentDefaultsHelpFormatter,
  )
  defaults = cli.defaults(Config)
  parser.add_argument(
    "--epochs", type=int, default=defaults["epochs"], help="digits: epochs of 6 batches"
  )
  parser.add_argument(
    "--optimizers",
    default=",".join(defaults["optimizers"]),
    help=f"comma-separated optimizer names, from: {', '.join(digits.OPTIMIZERS)}",
  )
  parser.add_argument(
    "--seed",
    type=int,
    default=defaults["seed"],
    help=(
      "numpy seed of the batch order and torch seed of the initial weights (the"
      " train / held-out split is fixed)"
    ),
  )
  parser.add_argument(
    "--regression-epochs",
    type=int,
    default=defaults["regression_epochs"],
    help="Adam vs Yogi: epochs (D2L runs 2)",
  )
  parser.add_argument(
    "--dtype",
    choices=DTYPES,
    default=defaults["dtype"],
    help="dtype of both frameworks (float64 runs JAX under jax.enable_x64)",
  )
  parser.add_argument(
    "--out",
    type=cli.directory,
    default=argparse.SUPPRESS,
    metavar="DIR",
    help=f"write {', '.join(f'DIR/{name}' for name in FILES)} (default: write nothing)",
  )
  parser.add_argument(
    "--no-progress", action="store_true", help="never show a progress bar (shown on a terminal)"
  )
  return parser


def _configure(args: argparse.Namespace) -> Config:
  return Config(
    epochs=args.epochs,
    optimizers=cli.names(args.optimizers),
    seed=args.seed,
    regression_epochs=args.regression_epochs,
    dtype=args.dtype,
    out=vars(args).get("out"),  # No default to show.
    progress=not args.no_progress,
  )


def _progress(config: Config, total: int):
  import tqdm

  return tqdm.tqdm(total=total, unit="run", leave=False, disable=None if config.progress else True)


def _run_digits(config: Config) -> dict[str, dict[str, Any]]:
  names = config.optimizers
  data = digits.load_data()
  weights = digits.initial_weights(config.seed)
  indices = digits.batch_indices(config.epochs, config.seed)
  steps_per_epoch = digits.TRAIN // digits.BATCH
  results: dict[str, dict[str, Any]] = {}
  with _progress(config, 2 * len(names)) as bar:
    for name in names:
      optimizer = digits.OPTIMIZERS[name]
      bar.set_description(f"{name} (JAX)")
      jax_run = digits.run_jax(optimizer, data, weights, indices, config.dtype)
      bar.update()
      bar.set_description(f"{name} (PyTorch)")
      torch_run = digits.run_torch(optimizer, data, weights, indices, config.dtype)
      bar.update()
      results[name] = {
        "optimizer": name,
        "label": optimizer.label,
        "torch": optimizer.describe(),
        "max_abs_delta_loss": float(np.max(np.abs(jax_run.losses - torch_run.losses))),
        "final_train_loss_jax": jax_run.final_loss,
        "final_train_loss_torch": torch_run.final_loss,
        "heldout_accuracy_jax": jax_run.heldout_accuracy,
        "heldout_accuracy_torch": torch_run.heldout_accuracy,
        "jax_seconds": jax_run.seconds,
        "jax_compile_seconds": jax_run.compile_seconds,
        "torch_seconds": torch_run.seconds,
        "epoch_loss_jax": figures.epoch_means(jax_run.losses, steps_per_epoch).tolist(),
        "epoch_loss_torch": figures.epoch_means(torch_run.losses, steps_per_epoch).tolist(),
      }
  return results


def _run_regression(config: Config) -> dict[str, dict[str, Any]]:
  results: dict[str, dict[str, Any]] = {}
  for name, method in regression.METHODS.items():
    jax_curve = regression.run_jax(method, config.regression_epochs, config.seed, config.dtype)
    torch_curve = regression.run_torch(method, config.regression_epochs, config.seed, config.dtype)
    results[name] = {
      "label": method.label,
      "max_abs_delta_loss": float(np.max(np.abs(jax_curve - torch_curve))),
      "final_loss_jax": float(jax_curve[-1]),
      "final_loss_torch": float(torch_curve[-1]),
      "loss_jax": jax_curve.tolist(),
      "loss_torch": torch_curve.tolist(),
    }
  return results


def _table(runs: dict[str, dict[str, Any]]) -> str:
  lines = [
    f"{'optimizer':<15} {'max|Δloss|':>10} {'loss JAX':>10} {'loss torch':>10}"
    f" {'acc JAX':>7} {'acc torch':>9} {'JAX s':>6} {'compile s':>9} {'torch s':>7}"
  ]
  for run in runs.values():
    lines.append(
      f"{run['label']:<15} {run['max_abs_delta_loss']:>10.2e} {run['final_train_loss_jax']:>10.4e}"
      f" {run['final_train_loss_torch']:>10.4e} {run['heldout_accuracy_jax']:>7.4f}"
      f" {run['heldout_accuracy_torch']:>9.4f} {run['jax_seconds']:>6.2f}"
      f" {run['jax_compile_seconds']:>9.2f} {run['torch_seconds']:>7.2f}"
    )
  return "\n".join(lines)


def _regression_table(runs: dict[str, dict[str, Any]]) -> str:
  lines = [f"{'optimizer':<9} {'max|Δloss|':>10} {'loss JAX':>10} {'loss torch':>10}"]
  for run in runs.values():
    lines.append(
      f"{run['label']:<9} {run['max_abs_delta_loss']:>10.2e} {run['final_loss_jax']:>10.4e}"
      f" {run['final_loss_torch']:>10.4e}"
    )
  return "\n".join(lines)


def _write_outputs(out: pathlib.Path, results: dict[str, Any]) -> None:
  paths = [out / name for name in FILES]
  files.write_json(paths[0], results, indent=1)
  runs = results["digits"]["runs"]
  labels = {name: run["label"] for name, run in runs.items()}
  setting = (
    f"digits MLP 64-100-100-10 ReLU, batch 256, {results['epochs']} epochs,"
    f" seed {results['seed']}, {results['dtype']}"
  )
  figures.write_grid(
    paths[1],
    {
      name: (np.array(r["epoch_loss_jax"]), np.array(r["epoch_loss_torch"]))
      for name, r in runs.items()
    },
    labels,
    {name: run["max_abs_delta_loss"] for name, run in runs.items()},
    f"JAX twins (solid) vs PyTorch (dashed): {setting}",
  )
  figures.write_overlay(
    paths[2],
    {name: np.array(run["epoch_loss_jax"]) for name, run in runs.items()},
    labels,
    f"Optimizer zoo (JAX): {setting}",
  )
  reg = results["regression"]["runs"]
  figures.write_regression(
    paths[3],
    {
      run["label"]: (np.array(run["loss_jax"]), np.array(run["loss_torch"])) for run in reg.values()
    },
    (
      "D2L §12.10, Adam vs Yogi: linear regression on standardized diabetes, minibatch 10,"
      f" lr 0.01, {results['regression']['epochs']} epochs, {results['dtype']}"
    ),
  )


def _run(config: Config) -> int:
  with files.run_directory(config.out):
    return _run_in(config)


def _run_in(config: Config) -> int:
  start = time.perf_counter()
  with jax.enable_x64(config.dtype == "float64"):
    runs = _run_digits(config)
    regression_runs = _run_regression(config)
  seconds = time.perf_counter() - start
  print(
    f"digits MLP 64-100-100-10 ReLU, {config.epochs} epochs of {digits.TRAIN // digits.BATCH}"
    f" batches of {digits.BATCH}, seed {config.seed}, {config.dtype}"
  )
  print(_table(runs))
  print(f"D2L Adam vs Yogi, diabetes linear regression, {config.regression_epochs} epochs")
  print(_regression_table(regression_runs))
  print(f"total {seconds:.1f} s")
  out = config.out
  if out is None:
    return 0
  results = {
    "epochs": config.epochs,
    "seed": config.seed,
    "dtype": config.dtype,
    "seconds": seconds,
    "digits": {
      "model": "MLP 64-100-100-10, ReLU, log-softmax + NLL",
      "train": digits.TRAIN,
      "heldout": len(digits.load_data().y_heldout),
      "batch": digits.BATCH,
      "split_seed": digits.SPLIT_SEED,
      "runs": runs,
    },
    "regression": {
      "model": "linear regression, loss (y_hat - y)^2 / 2",
      "data": "sklearn load_diabetes, standardized",
      "batch": regression.BATCH,
      "lr": regression.LR,
      "epochs": config.regression_epochs,
      "runs": regression_runs,
    },
  }
  with cli.writing(out), files.output_set(out) as staging:
    _write_outputs(staging, results)
  print(f"wrote {', '.join(str(out / name) for name in FILES)}")
  return 0


def main(argv: Sequence[str] | None = None) -> int:
  """Parses ``argv`` (default ``sys.argv[1:]``), runs, prints; returns the exit status."""
  return cli.main(_parser(), argv, _configure, _run)


if __name__ == "__main__":
  sys.exit(main())
