"""Compile time, run time and peak memory as the run grows, one subprocess per point.

Each point runs in a fresh ``python -m benchmarks.scaling`` subprocess
(:func:`measure`), so every peak RSS (``VmHWM``) is that configuration's own. A
point reports its compile time, the best of :data:`RUN_REPEATS` runs after a
warm-up run (wall time, and the process's CPU time, which a busy machine's
preemption does not inflate), and the peak RSS after import
(the baseline), after compiling and after running.

Run as a script for one point: ``python -m benchmarks.scaling '{"kind": ...}'``.
"""

import json
import math
import sys
import time
from typing import Any

import jax
import jax.numpy as jnp

from benchmarks import common

RUN_REPEATS = 3
"""A point's run time is the minimum of this many runs (after a warm-up run)."""


def measure(spec: dict[str, Any]) -> dict[str, Any]:
  """Measures one point in this process (call it in a fresh one).

  ``spec``: ``{"kind": "online", "impl": "jaxopt_fix"|"optax"|"hand-rolled",
  "algo": "adam"|"amsgrad", "steps": int}`` or ``{"kind": "sweep", "impl":
  "jaxopt_fix"|"optax"|"hand-rolled", "configs": int, "steps": int}``.
  """
  from benchmarks import online
  from benchmarks import sweep

  baseline_kb = common.peak_rss_kb()
  steps = int(spec["steps"])
  if spec["kind"] == "online":
    if spec["impl"] == "hand-rolled":
      compiled, compile_seconds = online.hand_rolled_loop(spec["algo"], steps)
    else:
      compiled, compile_seconds = online.tx_loop(
        online.library_tx(spec["impl"], spec["algo"]), steps
      )
    args: tuple[jax.Array, ...] = (jnp.zeros((), jnp.float32),)
    work = steps
  else:
    b = sweep.betas(int(spec["configs"]))
    if spec["impl"] == "hand-rolled":
      compiled, compile_seconds = sweep.hand_rolled_loop(steps, b)
    else:
      compiled, compile_seconds = sweep.library_loop(spec["impl"], steps, b)
    args = b
    work = steps * int(spec["configs"])
  compiled_kb = common.peak_rss_kb()
  compiled(*args).block_until_ready()  # Warm-up.
  run_seconds = cpu_seconds = math.inf
  for _ in range(RUN_REPEATS):
    cpu_start = time.process_time()
    run_seconds = min(run_seconds, common.wall(lambda: compiled(*args).block_until_ready()))
    cpu_seconds = min(cpu_seconds, time.process_time() - cpu_start)
  return {
    **spec,
    "compile_seconds": compile_seconds,
    "run_seconds": run_seconds,
    "ns_per_step": run_seconds / work * 1e9,
    "cpu_seconds": cpu_seconds,
    "cpu_ns_per_step": cpu_seconds / work * 1e9,
    "peak_rss_mb_after_import": baseline_kb / 1024,
    "peak_rss_mb_after_compile": compiled_kb / 1024,
    "peak_rss_mb": common.peak_rss_kb() / 1024,
  }


def measure_in_subprocess(spec: dict[str, Any], timeout: float = 1800) -> dict[str, Any]:
  """:func:`measure` in a fresh interpreter, or ``{**spec, "error": ...}``."""
  proc = common.python_subprocess(["-m", "benchmarks.scaling", json.dumps(spec)], timeout)
  if proc.returncode:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    return {**spec, "error": lines[-1] if lines else f"exit {proc.returncode}"}
  return json.loads(proc.stdout.strip().splitlines()[-1])


def growth(points: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
  """Adds, per implementation, each point's time and memory relative to its smallest."""
  first: dict[str, dict[str, Any]] = {}
  for point in points:
    if "error" in point:
      continue
    base = first.setdefault(point["impl"], point)
    point["size"] = point[key]
    point["ns_per_step_vs_smallest"] = point["ns_per_step"] / base["ns_per_step"]
    point["cpu_ns_per_step_vs_smallest"] = point["cpu_ns_per_step"] / base["cpu_ns_per_step"]
    point["peak_rss_vs_smallest"] = point["peak_rss_mb"] / base["peak_rss_mb"]
  return points


def run(
  steps_list: list[int],
  configs_list: list[int],
  config_steps: int,
  impls: tuple[str, ...] = ("jaxopt_fix", "hand-rolled"),
) -> dict[str, Any]:
  """Every point of the two scaling series (AMSGrad)."""
  by_steps = [
    measure_in_subprocess({"kind": "online", "impl": impl, "algo": "amsgrad", "steps": s})
    for impl in impls
    for s in steps_list
  ]
  by_configs = [
    measure_in_subprocess({"kind": "sweep", "impl": impl, "configs": c, "steps": config_steps})
    for impl in impls
    for c in configs_list
  ]
  return {"steps": growth(by_steps, "steps"), "configs": growth(by_configs, "configs")}


def plot(scaling: dict[str, Any], path: Any) -> None:
  """Log-log plots of run time and peak RSS against steps and configurations."""
  from matplotlib.figure import Figure

  fig = Figure(figsize=(10, 7), layout="constrained")
  axes = fig.subplots(2, 2)
  for col, (series, xlabel) in enumerate((("steps", "steps"), ("configs", "configurations"))):
    points = [p for p in scaling[series] if "error" not in p]
    for impl in sorted({p["impl"] for p in points}):
      mine = [p for p in points if p["impl"] == impl]
      x = [p[series] for p in mine]
      axes[0][col].loglog(x, [p["run_seconds"] for p in mine], "o-", label=impl)
      axes[1][col].semilogx(x, [p["peak_rss_mb"] for p in mine], "o-", label=impl)
    axes[0][col].set_ylabel("run time (s)")
    axes[1][col].set_ylabel("peak RSS (MB)")
    axes[1][col].set_ylim(bottom=0)
    for row in (0, 1):
      axes[row][col].set_xlabel(xlabel)
      axes[row][col].legend()
      axes[row][col].grid(True, which="both", alpha=0.3)
  fig.suptitle("AMSGrad on the online problem: time and memory growth")
  fig.savefig(path, dpi=100)


if __name__ == "__main__":
  print(json.dumps(measure(json.loads(sys.argv[1]))))
