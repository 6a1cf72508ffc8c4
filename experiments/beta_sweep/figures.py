r"""The sweep's heatmaps: one panel per optimizer over the (β1, β2) grid.

β1 is on the horizontal axis, β2 on the vertical one, spaced linearly in
:math:`\log(1 - \beta_2)` as :func:`experiments.beta_sweep.sweep.beta_grid` spaces it.
"""

from typing import Any

import numpy as np

METRICS = {
  "x_final": "final iterate $x_T$ (optimum $x^* = -1$)",
  "avg_regret_final": "average regret $R_T / T$",
}
"""The plotted metrics (attributes of :class:`~experiments.beta_sweep.sweep.SweepResult`) and
their labels."""
_B2_TICKS = (0.5, 0.9, 0.99, 0.999, 0.9999)


def _b2_coordinate(b2: Any) -> np.ndarray:
  r"""The vertical plot coordinate of β2: :math:`-\log_{10}(1 - \beta_2)`."""
  return -np.log10(1 - np.asarray(b2, np.float64))


def _edges(centres: np.ndarray) -> np.ndarray:
  """Cell edges halfway between ``centres`` (at least two), extended by half a cell."""
  middle = (centres[1:] + centres[:-1]) / 2
  return np.concatenate([[2 * centres[0] - middle[0]], middle, [2 * centres[-1] - middle[-1]]])


def plot_metric(
  values: dict[str, np.ndarray],
  b1: np.ndarray,
  b2: np.ndarray,
  path: Any,
  *,
  label: str,
  title: str,
  cmap: str,
  vmin: float,
  vmax: float,
) -> None:
  r"""Writes a heatmap per optimizer of ``values`` over the (β1, β2) grid to ``path``.

  β1 is on the horizontal axis, β2 on the vertical one, spaced linearly in
  :math:`\log(1 - \beta_2)`. Each panel shows the curve
  :math:`\beta_1 = \sqrt{\beta_2}`, the boundary of the hypotheses of Reddi et
  al.'s Theorems 2-4 (Adam fails on some problem whenever
  :math:`\beta_1 < \sqrt{\beta_2}`, the side to the left of the curve).

  Args:
    values: Per optimizer (panel title), an array ``(len(b1), len(b2))``.
    b1: The β1 axis, increasing, at least two values.
    b2: The β2 axis, increasing, at least two values.
    path: The image file to write (its suffix selects the format, e.g. PNG).
    label: The colorbar's label.
    title: The figure's title.
    cmap: A matplotlib colormap name.
    vmin: The value at the bottom of the color scale.
    vmax: The value at the top of the color scale.
  """
  from matplotlib.figure import Figure  # Only plotting needs matplotlib.

  # Half a cell beyond the outer values, but never past beta1 in [0, 1] or beta2 >= 0.
  b1_edges = np.clip(_edges(np.asarray(b1, np.float64)), 0.0, 1.0)
  u_edges = np.maximum(_edges(_b2_coordinate(b2)), 0.0)
  panels = len(values)
  fig = Figure(figsize=(1.0 + 4.6 * panels, 4.9), layout="constrained")
  axes = fig.subplots(1, panels, sharey=True, squeeze=False)[0]
  mesh = None
  # The curve b1 = sqrt(b2) over the plotted b2 range.
  u_curve = np.linspace(u_edges[0], u_edges[-1], 400)
  b1_curve = np.sqrt(1 - 10.0**-u_curve)
  for ax, (name, value) in zip(axes, values.items(), strict=True):
    mesh = ax.pcolormesh(
      b1_edges, u_edges, np.asarray(value).T, cmap=cmap, vmin=vmin, vmax=vmax, rasterized=True
    )
    ax.plot(b1_curve, u_curve, color="black", linestyle="--", linewidth=1.6)
    ax.set_xlim(b1_edges[0], b1_edges[-1])
    ax.set_ylim(u_edges[0], u_edges[-1])
    b2_label = 0.8  # Label the curve where it is well inside the default grid.
    u_label = _b2_coordinate(b2_label)
    if u_edges[0] <= u_label <= u_edges[-1] and b1_edges[0] <= np.sqrt(b2_label) <= b1_edges[-1]:
      ax.annotate(
        "$\\beta_1 = \\sqrt{\\beta_2}$\nTheorems 2-4:\n$\\beta_1 < \\sqrt{\\beta_2}$, left of it",
        xy=(float(np.sqrt(b2_label)), float(u_label)),
        xytext=(-8, 0),
        textcoords="offset points",
        ha="right",
        va="center",
        fontsize=10,
        bbox={"boxstyle": "round,pad=0.3", "facecolor": "white", "alpha": 0.85, "linewidth": 0},
      )
    ax.set_title(name)
    ax.set_xlabel(r"$\beta_1$")
  axes[0].set_ylabel(r"$\beta_2$  (spaced linearly in $\log(1 - \beta_2)$)")
  ticks = [b for b in _B2_TICKS if u_edges[0] <= _b2_coordinate(b) <= u_edges[-1]]
  axes[0].set_yticks(_b2_coordinate(ticks), [f"{b:g}" for b in ticks])
  if mesh is not None:
    fig.colorbar(mesh, ax=list(axes), label=label, shrink=0.9)
  fig.suptitle(title)
  fig.savefig(path, dpi=120)
