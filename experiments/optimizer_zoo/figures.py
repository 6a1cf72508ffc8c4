"""The figures of ``python -m experiments.optimizer_zoo``, drawn with matplotlib's Agg backend."""

from collections.abc import Mapping
import math
import pathlib

import numpy as np


def _pyplot():
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  return plt


def epoch_means(losses: np.ndarray, steps_per_epoch: int) -> np.ndarray:
  """The mean minibatch loss of each epoch.

  Examples:
    >>> epoch_means(np.arange(6.0), 3).tolist()
    [1.0, 4.0]
  """
  return losses.reshape(-1, steps_per_epoch).mean(axis=1)


def write_grid(
  path: pathlib.Path,
  curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
  labels: Mapping[str, str],
  deltas: Mapping[str, float],
  title: str,
) -> None:
  """One panel per optimizer: the epoch-mean loss in JAX (solid) and PyTorch (dashed).

  Args:
    path: The PNG file.
    curves: By optimizer name, the (JAX, PyTorch) epoch-mean losses.
    labels: By optimizer name, the panel title.
    deltas: By optimizer name, max |Δloss| over the steps, shown in the panel.
    title: The figure title.
  """
  plt = _pyplot()
  columns = 4
  rows = math.ceil(len(curves) / columns)
  figure, axes = plt.subplots(
    rows, columns, figsize=(4 * columns, 3.2 * rows), sharex=True, sharey=True, squeeze=False
  )
  for ax, (name, (jax_curve, torch_curve)) in zip(axes.flat, curves.items(), strict=False):
    epochs = np.arange(1, len(jax_curve) + 1)
    ax.plot(epochs, jax_curve, "-", color="tab:blue", lw=2.2, label="JAX (jaxopt_fix)")
    ax.plot(epochs, torch_curve, "--", color="tab:orange", lw=1.6, label="PyTorch")
    ax.set_yscale("log")
    ax.set_title(labels[name], fontsize=12)
    ax.text(
      0.03,
      0.04,
      f"max |Δloss| = {deltas[name]:.1e}",
      transform=ax.transAxes,
      ha="left",
      va="bottom",
      fontsize=9,
      bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"},
    )
    ax.grid(True, which="both", alpha=0.3)
    ax.tick_params(labelbottom=True)
    ax.set_xlabel("epoch")
  for ax in axes[:, 0]:
    ax.set_ylabel("training loss (epoch mean)")
  for ax in list(axes.flat)[len(curves) :]:
    ax.axis("off")
  handles, legend_labels = axes.flat[0].get_legend_handles_labels()
  if len(curves) < rows * columns:
    axes.flat[-1].legend(handles, legend_labels, loc="center", fontsize=12, frameon=False)
  else:
    figure.legend(handles, legend_labels, loc="lower center", ncol=2)
  figure.suptitle(title, fontsize=13)
  figure.tight_layout()
  figure.savefig(path, dpi=110)
  plt.close(figure)


def write_overlay(
  path: pathlib.Path,
  curves: Mapping[str, np.ndarray],
  labels: Mapping[str, str],
  title: str,
) -> None:
  """All optimizers' JAX epoch-mean losses on one log-scale plot."""
  plt = _pyplot()
  figure, ax = plt.subplots(figsize=(10, 6.5))
  cmap = plt.get_cmap("tab10")
  styles = ["-", "--", "-.", ":"]
  for i, (name, curve) in enumerate(curves.items()):
    epochs = np.arange(1, len(curve) + 1)
    ax.plot(
      epochs, curve, styles[i // 4 % len(styles)], color=cmap(i % 10), lw=2, label=labels[name]
    )
  ax.set_yscale("log")
  ax.set_xlabel("epoch")
  ax.set_ylabel("training loss (epoch mean of minibatch NLL)")
  ax.grid(True, which="both", alpha=0.3)
  ax.legend(ncol=2, fontsize=10)
  ax.set_title(title, fontsize=12)
  figure.tight_layout()
  figure.savefig(path, dpi=110)
  plt.close(figure)


def write_regression(
  path: pathlib.Path,
  curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
  title: str,
) -> None:
  """Full-data loss vs step per method (JAX solid, PyTorch dashed), and the difference.

  Args:
    path: The PNG file.
    curves: By label (the first two are compared), the (JAX, PyTorch) loss after every step.
    title: The figure title.
  """
  plt = _pyplot()
  figure, axes = plt.subplots(1, 2, figsize=(13, 5))
  colors = ["tab:blue", "tab:red", "tab:green", "tab:purple"]
  for color, (label, (jax_curve, torch_curve)) in zip(colors, curves.items(), strict=False):
    steps = np.arange(len(jax_curve))
    axes[0].plot(steps, jax_curve, "-", color=color, lw=2.2, label=f"{label} (JAX)")
    axes[0].plot(steps, torch_curve, "--", color="black", lw=0.9, label=f"{label} (PyTorch)")
  axes[0].set_ylabel("loss on all examples")
  axes[0].set_title("loss")
  (first, (jax_a, torch_a)), (second, (jax_b, torch_b)) = list(curves.items())[:2]
  steps = np.arange(len(jax_a))
  axes[1].plot(steps, jax_b - jax_a, "-", color="tab:purple", lw=2.2, label="JAX")
  axes[1].plot(steps, torch_b - torch_a, "--", color="black", lw=0.9, label="PyTorch")
  axes[1].axhline(0, color="gray", lw=0.8)
  axes[1].set_ylabel(f"loss({second}) − loss({first})")
  axes[1].set_title(f"{second} minus {first}")
  for ax in axes:
    ax.set_xlabel("step (minibatch of 10)")
    ax.grid(True, alpha=0.3)
    ax.legend()
  figure.suptitle(title, fontsize=12)
  figure.tight_layout()
  figure.savefig(path, dpi=110)
  plt.close(figure)
