"""A sweep from its configuration: :func:`train_and_evaluate`.

Every process runs the sweep (its share of the configurations); process 0
prints a summary per optimizer and writes ``x_final.png``, ``avg_regret.png``
and ``results.json`` to the output directory.
"""

import math
import pathlib
from typing import Any

import jax
import numpy as np

from experiments import cli
from experiments import files
from experiments.beta_sweep import config as configs
from experiments.beta_sweep import figures
from experiments.beta_sweep import sweep
from experiments.reddi import optimizers

FIGURES = {"x_final": "x_final.png", "avg_regret_final": "avg_regret.png"}


def _json_grid(values: np.ndarray) -> list[list[float | None]]:
  """A 2-D float array as nested lists, NaN as ``null`` (strict JSON has no NaN)."""
  return [[float(v) if math.isfinite(v) else None for v in row] for row in values.tolist()]


def summary(
  result: sweep.SweepResult, shape: tuple[int, int], eps: float | None
) -> dict[str, dict[str, Any]]:
  """Per optimizer: its settings, the final values on the grid and a few fractions."""
  below = result.b1 < np.sqrt(result.b2)  # The hypothesis of Theorems 2-4.
  entries = {}
  for name in result.names:
    optimizer = optimizers.OPTIMIZERS[name]
    x = result.x_final[name]
    entries[name] = {
      "variant": optimizer.variant,
      "eps": optimizer.eps_or_default(eps),
      "fraction_x_positive": float(np.mean(x > 0)),
      "fraction_x_positive_where_b1_below_sqrt_b2": float(np.mean(x[below] > 0)),
      "fraction_x_positive_where_b1_above_sqrt_b2": (
        float(np.mean(x[~below] > 0)) if np.any(~below) else None
      ),
      "median_x_final": float(np.median(x)),
      "mean_avg_regret_final": float(np.mean(result.avg_regret_final[name])),
      "x_final": _json_grid(x.reshape(shape)),
      "avg_regret_final": _json_grid(result.avg_regret_final[name].reshape(shape)),
    }
  return entries


def table(entries: dict[str, dict[str, Any]]) -> str:
  """The printed table: per optimizer, where Adam's failure shows."""
  header = (
    f"{'optimizer':<14} {'variant':<16} {'x_T>0':>7} {'x_T>0|b1<sqrt(b2)':>18}"
    f" {'median x_T':>11} {'mean R_T/T':>11}"
  )
  lines = [header]
  for name, row in entries.items():
    lines.append(
      f"{name:<14} {row['variant']:<16} {row['fraction_x_positive']:>7.1%}"
      f" {row['fraction_x_positive_where_b1_below_sqrt_b2']:>18.1%}"
      f" {row['median_x_final']:>+11.4f} {row['mean_avg_regret_final']:>11.4f}"
    )
  return "\n".join(lines)


def _plot(
  config: configs.SweepConfig,
  result: sweep.SweepResult,
  b1: np.ndarray,
  b2: np.ndarray,
  directory: pathlib.Path,
) -> None:
  shape = (len(b1), len(b2))
  panels = {
    metric: {
      f"{name} ({optimizers.OPTIMIZERS[name].variant})": values[name].reshape(shape)
      for name in result.names
    }
    for metric, values in (
      ("x_final", result.x_final),
      ("avg_regret_final", result.avg_regret_final),
    )
  }
  regrets = np.concatenate([v.ravel() for v in panels["avg_regret_final"].values()])
  regrets = regrets[np.isfinite(regrets)]
  low, high = (float(np.min(regrets)), float(np.max(regrets))) if regrets.size else (0.0, 1.0)
  settings = f"T = {config.steps:,}, lr = {config.lr:g}, indexing '{config.indexing}'"
  scales = {"x_final": ("RdBu_r", -1.0, 1.0), "avg_regret_final": ("viridis", low, high)}
  for metric, file_name in FIGURES.items():
    cmap, vmin, vmax = scales[metric]
    figures.plot_metric(
      panels[metric],
      b1,
      b2,
      directory / file_name,
      label=figures.METRICS[metric],
      title=f"Reddi et al.'s online problem: {figures.METRICS[metric]}, {settings}",
      cmap=cmap,
      vmin=vmin,
      vmax=vmax,
    )


def train_and_evaluate(config: configs.SweepConfig) -> sweep.SweepResult:
  """Runs the sweep of ``config``; process 0 prints the summary and writes the outputs.

  Raises:
    OutputError: if the output directory cannot be written or another run holds it
      (before anything is computed).
    WriteError: if an output cannot be written.
  """
  writer = jax.process_index() == 0
  with files.run_directory(config.out if writer else None):
    return _train_and_evaluate(config, writer)


def _train_and_evaluate(config: configs.SweepConfig, writer: bool) -> sweep.SweepResult:
  b1, b2 = sweep.beta_grid(config.grid)
  b1_flat, b2_flat = (a.ravel() for a in np.meshgrid(b1, b2, indexing="ij"))
  if writer:
    print(
      f"{len(config.optimizers)} optimizers × {config.grid}² configurations,"
      f" T = {config.steps:,} steps, on {jax.device_count()} {jax.default_backend()} device(s)"
      f" in {jax.process_count()} process(es)",
      flush=True,
    )
  result = sweep.run_sweep(
    config.optimizers,
    b1_flat,
    b2_flat,
    config.steps,
    lr=config.lr,
    eps=config.eps,
    indexing=config.indexing,
    record_every=config.record_every,
  )
  if not writer:
    return result
  entries = summary(result, (config.grid, config.grid), config.eps)
  print(table(entries))
  print(f"run {result.run_seconds:.2f} s, compile {result.compile_seconds:.2f} s")

  results = {
    **config.settings(),
    "b1": b1.tolist(),
    "b2": b2.tolist(),
    "b1_spacing": "linear",
    "b2_spacing": "linear in log(1 - b2)",
    "layout": "values[i][j] is at (b1[i], b2[j]); b1 and b2 are simulated rounded to float32",
    "devices": result.num_devices,
    "processes": jax.process_count(),
    "backend": jax.default_backend(),
    "seconds": result.run_seconds,
    "compile_seconds": result.compile_seconds,
    "optimizers": entries,
  }
  with cli.writing(config.out), files.output_set(config.out) as staging:
    _plot(config, result, b1, b2, staging)
    files.write_json(staging / "results.json", results, indent=1)
  for file_name in (*FIGURES.values(), "results.json"):
    print(f"wrote {config.out / file_name}")
  return result
