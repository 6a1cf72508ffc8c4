"""The figures of ``python -m experiments.perceptron_instability``.

:func:`plot_adam` draws Adam's loss in JAX and PyTorch, their difference and the
preconditioned sharpness against its stability limit; :func:`plot_optimizers`
one panel per optimizer.
"""

from collections.abc import Sequence
import math
import pathlib
from typing import Any

import numpy as np

from experiments.perceptron_instability import train


def _pyplot():
  import matplotlib  # Only the command line's outputs need it.

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  return plt


def _log10(losses: np.ndarray) -> np.ndarray:
  with np.errstate(divide="ignore", invalid="ignore"):
    return np.log10(losses)


def plot_adam(
  path: pathlib.Path,
  jax_losses: np.ndarray,
  torch_losses: np.ndarray,
  comparison: dict[str, Any],
  sharpness: dict[str, np.ndarray],
  seed: int,
) -> None:
  """Adam's loss in JAX and PyTorch, their |Δ log10 loss| and the preconditioned sharpness."""
  plt = _pyplot()
  steps = np.arange(len(jax_losses))
  figure, (top, middle, bottom) = plt.subplots(
    3, 1, figsize=(10, 9.5), sharex=True, height_ratios=(2.2, 1, 1), layout="constrained"
  )
  top.plot(steps, _log10(torch_losses), "--", color="tab:orange", lw=1.0, label="PyTorch (eager)")
  top.plot(steps, _log10(jax_losses), "-", color="tab:blue", lw=0.8, alpha=0.85, label="JAX scan")
  top.axhline(math.log10(train.FLOOR), color="gray", ls=":", lw=1)
  top.text(
    steps[-1], math.log10(train.FLOOR), f" {train.FLOOR:g}: float32 round-off below",
    ha="right", va="bottom", color="gray", fontsize=9,
  )  # fmt: skip
  top.set_ylabel("log10(summed squared error)")
  top.set_title(
    f"Adam(lr=1e-3), one linear layer (1000 inputs, 64 random points, seed {seed}):\n"
    "the loss reaches float32's floor, then climbs back up",
    fontsize=10,
  )
  top.legend(loc="upper right")
  top.grid(alpha=0.3)

  delta = np.abs(_log10(jax_losses) - _log10(torch_losses))
  middle.semilogy(steps, np.maximum(delta, 1e-8), color="black", lw=0.5)
  descent = comparison["descent_steps"]
  middle.axvline(descent, color="tab:red", ls=":", lw=1)
  middle.text(
    descent, 1e-7,
    f"  step {descent}: first loss ≤ {train.FLOOR:g};"
    f" before it max |Δ| = {comparison['max_abs_delta_log10_descent']:.3f}",
    color="tab:red", fontsize=9, va="bottom",
  )  # fmt: skip
  middle.set_ylim(1e-8, 20)
  middle.set_ylabel("|Δ log10 loss|\nJAX vs torch")
  middle.grid(alpha=0.3)

  colors = {"adam": "tab:blue", "adam_eps1e-1": "tab:green"}
  for name, values in sharpness.items():
    bottom.plot(steps[: len(values)], values, color=colors.get(name, "black"), lw=1.0,
                label=f"{train.OPTIMIZERS[name].label} (JAX)")  # fmt: skip
  bottom.axhline(train.EDGE_OF_STABILITY, color="tab:red", ls="--", lw=1)
  bottom.text(
    0, train.EDGE_OF_STABILITY, "  stability limit 2(1+β1)/(1-β1) = 38", color="tab:red",
    fontsize=9, va="bottom",
  )  # fmt: skip
  bottom.set_ylim(0, 1.35 * train.EDGE_OF_STABILITY)
  bottom.set_ylabel("λ_max(diag(lr/(√v̂+ε)) H)\npreconditioned sharpness")
  bottom.set_xlabel("step")
  bottom.legend(loc="lower right", fontsize=8)
  bottom.grid(alpha=0.3)
  figure.savefig(path, dpi=120)
  plt.close(figure)


def plot_optimizers(
  path: pathlib.Path, losses: dict[tuple[str, str], np.ndarray], names: Sequence[str], seed: int
) -> None:
  """One panel per optimizer of ``names``: its loss in JAX and (where it runs) PyTorch."""
  plt = _pyplot()
  columns = min(3, len(names))
  rows = math.ceil(len(names) / columns)
  figure, axes = plt.subplots(
    rows,
    columns,
    figsize=(4.2 * columns, 2.9 * rows + 0.6),
    sharex=True,
    sharey=True,
    squeeze=False,
    layout="constrained",
  )
  reference = losses.get(("adam", "jax"))
  for axis, name in zip(axes.flat, names, strict=False):
    jax_losses = losses[name, "jax"]
    steps = np.arange(len(jax_losses))
    if reference is not None and name != "adam":
      axis.plot(steps, _log10(reference), color="0.8", lw=0.8, label="Adam lr=1e-3 (JAX)")
    if (name, "torch") in losses:
      axis.plot(steps, _log10(losses[name, "torch"]), "--", color="tab:orange", lw=1.0,
                label="PyTorch")  # fmt: skip
    axis.plot(steps, _log10(jax_losses), "-", color="tab:blue", lw=0.8, label="JAX")
    axis.axhline(math.log10(train.FLOOR), color="gray", ls=":", lw=1)
    summary = train.summarize(jax_losses)
    axis.set_title(
      f"{train.OPTIMIZERS[name].label}\nJAX: min {summary.min_loss:.1e} @ {summary.step_of_min},"
      f" final {summary.final_loss:.1e}",
      fontsize=9,
    )
    axis.grid(alpha=0.3)
    axis.legend(loc="upper right", fontsize=7)
  for axis in axes.flat[len(names) :]:
    axis.set_visible(False)
  for axis in axes[-1]:
    axis.set_xlabel("step")
  for axis in axes[:, 0]:
    axis.set_ylabel("log10(loss)")
  figure.suptitle(
    f"What stops the climb back up (same data and initial weights, seed {seed}; JAX solid,"
    " PyTorch dashed where torch has the optimizer; dotted: 1e-10)",
    fontsize=10,
  )
  figure.savefig(path, dpi=110)
  plt.close(figure)
