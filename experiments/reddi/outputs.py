"""The files a run writes besides ``results.json``: the trajectory table and the figure.

Both take the runs by optimizer name, as :func:`experiments.reddi.problems.run_online`
and :func:`~experiments.reddi.problems.run_stochastic` return them; a run whose
arrays have a second axis (the seeds of the stochastic problem) is summarised by
its mean and standard deviation over the seeds.
"""

from collections.abc import Mapping
import csv
import pathlib

import numpy as np

from experiments import files
from experiments.reddi import problems
from experiments.reddi import simulation


def _columns(name: str, run: simulation.OnlineRun) -> dict[str, np.ndarray]:
  if run.x.ndim == 1:
    return {f"x_{name}": run.x, f"avg_regret_{name}": run.avg_regret}
  return {
    f"x_mean_{name}": run.x.mean(axis=1),
    f"x_std_{name}": run.x.std(axis=1),
    f"avg_regret_mean_{name}": run.avg_regret.mean(axis=1),
  }


def write_trajectory(path: pathlib.Path, runs: Mapping[str, simulation.OnlineRun]) -> None:
  """Writes ``t`` and, per optimizer, ``x_t`` and ``R_t / t`` at the record points as CSV.

  Per optimizer ``NAME`` the columns are ``x_NAME, avg_regret_NAME``, or for
  several seeds ``x_mean_NAME, x_std_NAME, avg_regret_mean_NAME``. Values are
  written with ``repr``, so they read back exactly.

  Args:
    path: The CSV file.
    runs: The runs by optimizer name, all with the same record points.

  Raises:
    ValueError: if the runs have different record points.

  Example:
    >>> import pathlib, tempfile
    >>> from experiments.reddi import optimizers
    >>> tx = optimizers.OPTIMIZERS["adam"](lr=1e-2)
    >>> runs = problems.run_online({"adam": tx}, steps=300, record_every=100)
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "trajectory.csv"
    >>> write_trajectory(path, runs)
    >>> print(path.read_text().splitlines()[0])
    t,x_adam,avg_regret_adam
  """
  t = next(iter(runs.values())).t
  columns: dict[str, np.ndarray] = {"t": t}
  for name, run in runs.items():
    if not np.array_equal(run.t, t):
      raise ValueError(f"run {name!r} has other record points than the first run.")
    columns.update(_columns(name, run))
  with files.replacing(path) as temporary, temporary.open("w", newline="") as file:
    writer = csv.writer(file)
    writer.writerow(columns)
    for row in zip(*columns.values(), strict=True):
      writer.writerow([repr(int(row[0])), *(repr(float(value)) for value in row[1:])])


def _style(name: str) -> dict[str, object]:
  """Adam solid, AMSGrad dashed, Yogi dotted; the variants in different colours."""
  if name.startswith("amsgrad"):
    return {"linestyle": "--"}
  if name.startswith("yogi"):
    return {"linestyle": ":"}
  return {"linestyle": "-", "linewidth": 2.2}


def write_figure(
  path: pathlib.Path, runs: Mapping[str, simulation.OnlineRun], title: str, log_t: bool = True
) -> None:
  """Draws the average regret and the iterate against t, as the paper's Figure 1, to a PNG.

  Left panel: :math:`R_t / t`; right panel: :math:`x_t`, with the optimum
  :math:`x^* = -1` marked. For several seeds the lines are the means over
  seeds and the shaded bands the mean plus or minus one standard deviation.

  Args:
    path: The image file (its suffix picks the format, e.g. ``.png``).
    runs: The runs by optimizer name.
    title: The figure's title (the problem and hyperparameters).
    log_t: Whether the t axis is logarithmic.
  """
  import matplotlib  # Only the command line's outputs need it.

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  figure, (regret_axes, x_axes) = plt.subplots(1, 2, figsize=(13, 5.8), layout="constrained")
  colours = plt.get_cmap("tab10")
  for i, (name, run) in enumerate(runs.items()):
    style = {"color": colours(i % 10), "label": name, **_style(name)}
    if run.x.ndim == 1:
      regret_axes.plot(run.t, run.avg_regret, **style)
      x_axes.plot(run.t, run.x, **style)
      continue
    seeds = run.x.shape[1]
    regret_axes.plot(run.t, run.avg_regret.mean(axis=1), **style)
    mean, std = run.x.mean(axis=1), run.x.std(axis=1)
    x_axes.plot(run.t, mean, **{**style, "label": f"{name} (mean ± sd of {seeds} seeds)"})
    low, high = np.clip(mean - std, -1, 1), np.clip(mean + std, -1, 1)
    x_axes.fill_between(run.t, low, high, color=style["color"], alpha=0.15, linewidth=0)

  regret_axes.set_ylabel("average regret  $R_t / t$")
  stochastic = any(run.x.ndim == 2 for run in runs.values())
  regret_axes.set_title(
    "Average regret on the drawn losses (mean of seeds)" if stochastic else "Average regret"
  )
  x_axes.axhline(problems.X_STAR, color="black", linewidth=0.8, alpha=0.6)
  x_axes.annotate(
    "optimum $x^* = -1$",
    (0.01, problems.X_STAR),
    xycoords=("axes fraction", "data"),
    xytext=(0, 4),
    textcoords="offset points",
    fontsize=9,
  )
  x_axes.set_ylim(-1.08, 1.08)
  x_axes.set_ylabel("iterate  $x_t$")
  x_axes.set_title("Iterate")
  t = np.concatenate([run.t for run in runs.values()])
  for axes in (regret_axes, x_axes):
    axes.set_xlabel("iteration  $t$")
    # The t range set, not found from the data: a run that diverged (NaN) has none to show.
    axes.set_xlim(float(t.min()), float(t.max()))
    if log_t:
      axes.set_xscale("log")
    axes.grid(True, which="major", alpha=0.3)
  handles, labels = x_axes.get_legend_handles_labels()
  columns = min(len(labels), 4 if stochastic else 8)
  figure.legend(handles, labels, loc="outside lower center", ncol=columns, fontsize=10)
  figure.suptitle(title, fontsize=12)
  try:
    with files.replacing(path) as temporary:
      figure.savefig(temporary, dpi=110, format=path.suffix.lstrip(".") or "png")
  finally:
    plt.close(figure)
