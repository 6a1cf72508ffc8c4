"""Timing and memory helpers shared by the benchmarks.

The machine these run on is shared and noisy, so no absolute time is trusted on
its own: competitors are timed side by side in one process, their repeats
interleaved (the order rotates every round), and each figure is the minimum over
the repeats, reported next to its ratio to the fastest competitor.
"""

from collections.abc import Callable
from collections.abc import Sequence
import contextlib
import dataclasses
import os
import pathlib
import platform
import statistics
import subprocess
import sys
import time
from typing import Any

from experiments import cli
from experiments import files


@dataclasses.dataclass
class Entry:
  """One competitor of a side-by-side comparison.

  Attributes:
    name: The label printed in the table.
    steps: Optimizer steps per timed run (configs x steps for a sweep).
    seconds: Wall time of each repeat.
    compile_seconds: Time to trace and compile (None where it does not apply).
    x_final: The final iterate (or a checksum), to check that competitors agree.
    note: Free text printed after the row.
    extrapolated_to: If set, the steps the figure is extrapolated to (torch).
  """

  name: str
  steps: int
  seconds: list[float] = dataclasses.field(default_factory=list)
  compile_seconds: float | None = None
  x_final: float | None = None
  note: str = ""
  extrapolated_to: int | None = None

  @property
  def best(self) -> float:
    return min(self.seconds)

  @property
  def ns_per_step(self) -> float:
    return self.best / self.steps * 1e9

  @property
  def median_ns_per_step(self) -> float:
    return statistics.median(self.seconds) / self.steps * 1e9

  @property
  def steps_per_second(self) -> float:
    return self.steps / self.best


def interleaved(runners: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
  """Runs every runner ``repeats`` times, interleaved, rotating the order each round.

  Each runner returns its own measured seconds (so it can exclude setup it does
  itself, or report a time measured by a subprocess).
  """
  names = list(runners)
  times: dict[str, list[float]] = {name: [] for name in names}
  for r in range(repeats):
    k = r % len(names) if names else 0
    for name in names[k:] + names[:k]:
      times[name].append(runners[name]())
  return times


def back_and_forth(runners: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
  """Runs every runner ``repeats`` times, in the given order on even rounds and reversed on odd
  ones, so that neighbours in ``runners`` run next to each other in both orders.

  For ratios of pairs measured side by side (:func:`paired_ratio`): on this machine, in six
  processes, the first of two back-to-back runs of the same program measured 0.5% faster to
  2.9% slower than the second (median of the pairs' ratios, mostly in that order).
  """
  names = list(runners)
  times: dict[str, list[float]] = {name: [] for name in names}
  for r in range(repeats):
    for name in names if r % 2 == 0 else names[::-1]:
      times[name].append(runners[name]())
  return times


def paired_ratio(ours: Sequence[Sequence[float]], theirs: Sequence[Sequence[float]]) -> float:
  """The median over pairs of ``ours[k][r] / theirs[k][r]``: ``k`` a placement, ``r`` a round.

  Each pair ran back to back, so a slow moment of the machine slows both of its runs; a
  placement is one compilation with its own buffers, and the same program measured 0.87-1.07x
  itself from one placement to another, steadily over 6 to 21 rounds.
  """
  pairs = (zip(a, b, strict=True) for a, b in zip(ours, theirs, strict=True))
  return statistics.median(x / y for pair in pairs for x, y in pair)


def wall(fn: Callable[[], Any]) -> float:
  """Seconds taken by ``fn()`` (which must block until its result is ready)."""
  start = time.perf_counter()
  fn()
  return time.perf_counter() - start


def to_json(entries: Sequence[Entry]) -> list[dict[str, Any]]:
  """The entries as JSON rows, each with its ratio to the fastest entry."""
  fastest = min(e.ns_per_step for e in entries)
  return [
    {
      "name": e.name,
      "ns_per_step": e.ns_per_step,
      "median_ns_per_step": e.median_ns_per_step,
      "steps_per_second": e.steps_per_second,
      "ratio_to_fastest": e.ns_per_step / fastest,
      "timed_steps": e.steps,
      "extrapolated_to": e.extrapolated_to,
      "repeat_seconds": e.seconds,
      "compile_seconds": e.compile_seconds,
      "x_final": e.x_final,
      "note": e.note,
    }
    for e in entries
  ]


def peak_rss_kb() -> int:
  """The process's peak resident set size (VmHWM) in kB; 0 where /proc is missing."""
  try:
    for line in pathlib.Path("/proc/self/status").read_text().splitlines():
      if line.startswith("VmHWM:"):
        return int(line.split()[1])
  except OSError:
    pass
  import resource  # Not on Windows; ru_maxrss is in kB on Linux.

  return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def cpu_model() -> str:
  try:
    for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
      if line.startswith("model name"):
        return line.split(":", 1)[1].strip()
  except OSError:
    pass
  return platform.processor() or "unknown"


def machine() -> dict[str, Any]:
  """The machine and library versions, for the JSON and the README."""
  import jax
  import optax

  info: dict[str, Any] = {
    "nproc": os.cpu_count(),
    "cpu": cpu_model(),
    "python": platform.python_version(),
    "jax": jax.__version__,
    "optax": optax.__version__,
    "platform": platform.platform(),
  }
  try:
    import torch

    info["torch"] = torch.__version__
  except ImportError:
    info["torch"] = None
  try:
    gcc = subprocess.run(["gcc", "--version"], capture_output=True, text=True, check=True)
    info["gcc"] = gcc.stdout.splitlines()[0]
  except (OSError, subprocess.CalledProcessError):
    info["gcc"] = None
  with contextlib.suppress(OSError):
    info["loadavg_at_start"] = os.getloadavg()
  return info


def python_subprocess(args: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
  """Runs ``python args...`` from the repository root (so ``benchmarks`` imports)."""
  root = pathlib.Path(__file__).resolve().parent.parent
  env = dict(os.environ)
  env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
  return subprocess.run(
    [sys.executable, *args], capture_output=True, text=True, timeout=timeout, cwd=root, env=env
  )


def in_run_directory(prog: str, directory: pathlib.Path, body: Callable[[], int]) -> int:
  """``body()`` in the locked, checked output ``directory``
  (:func:`experiments.files.run_directory`); an unusable directory is exit status 2 and a
  failed write 1, each one line on stderr."""
  try:
    with files.run_directory(directory):
      return body()
  except files.OutputError as error:
    print(f"{prog}: error: {error}", file=sys.stderr)
    return 2
  except cli.WriteError as error:
    print(f"{prog}: error: {error}", file=sys.stderr)
    return 1
