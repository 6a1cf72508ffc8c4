"""The baselines of the online benchmark: a C loop and PyTorch (eager and ``torch.compile``).

The same problem and settings as :mod:`benchmarks.online` (whose JAX loops they are
compared with): the C loop, built with ``gcc -O3 -march=native``, is the hardware's
limit; the torch loop is the common reproductions' ``loss.backward(); opt.step();
clamp``.
"""

from collections.abc import Callable
import json
import pathlib
import subprocess
import time
from typing import Any

from benchmarks import common
from experiments.reddi import problems

LR, B1, B2, EPS = 1e-2, 0.9, 0.99, 1e-8
"""The settings of the common reproductions (those of :mod:`benchmarks.online`)."""
C_SOURCE = pathlib.Path(__file__).with_name("online_loop.c")
C_NAME = "C (gcc -O3 -march=native)"


# --- C ---------------------------------------------------------------------


def build_c(workdir: pathlib.Path) -> pathlib.Path:
  """Compiles ``online_loop.c`` with ``gcc -O3 -march=native`` into ``workdir``."""
  binary = workdir / "online_loop"
  subprocess.run(
    ["gcc", "-O3", "-march=native", "-o", str(binary), str(C_SOURCE), "-lm"],
    check=True,
    capture_output=True,
    text=True,
  )
  return binary


def run_c(binary: pathlib.Path, algo: str, steps: int, mode: str = "split") -> tuple[float, float]:
  """``(seconds, x_T)`` of one run of the C loop, as measured by the program itself.

  ``mode``: ``"split"`` (bias corrections only while they differ from 1) or
  ``"perstep"`` (on every step, as the JAX loops).
  """
  out = subprocess.run(
    [str(binary), algo, str(steps), repr(LR), repr(B1), repr(B2), repr(EPS), mode],
    check=True,
    capture_output=True,
    text=True,
  ).stdout
  fields = dict(item.split("=") for item in out.split())
  return float(fields["ns_per_step"]) * steps * 1e-9, float(fields["x"])


# --- torch -----------------------------------------------------------------


def torch_setup(algo: str, compiled: bool = False) -> tuple[Callable[[int], float], Any]:
  """``(run(steps) -> seconds, x)``: the eager loop of the common reproductions.

  ``compiled`` wraps ``opt.step()`` and the clamp in ``torch.compile`` (the
  backward stays eager, as in torch's "compiled optimizer" recipe).
  """
  import torch

  x = torch.zeros(1, requires_grad=True)
  opt = torch.optim.Adam([x], lr=LR, betas=(B1, B2), eps=EPS, amsgrad=algo == "amsgrad")

  def step_and_clamp() -> None:
    opt.step()
    with torch.no_grad():
      x.clamp_(-1.0, 1.0)

  step = torch.compile(step_and_clamp) if compiled else step_and_clamp
  done = [0]

  def run(steps: int) -> float:
    start = time.perf_counter()
    t0 = done[0]
    for t in range(t0, t0 + steps):
      g = problems.LARGE_GRADIENT if t % problems.PERIOD == 1 else problems.SMALL_GRADIENT
      loss = g * x
      opt.zero_grad()
      loss.backward()
      step()
    done[0] = t0 + steps
    return time.perf_counter() - start

  return run, x


def torch_compiled_main(algo: str, steps: int, repeats: int) -> dict[str, Any]:
  """Times eager and ``torch.compile``d steps side by side (run in a subprocess)."""
  import torch

  torch.set_num_threads(1)
  eager, x_eager = torch_setup(algo)
  compiled, x_compiled = torch_setup(algo, compiled=True)
  start = time.perf_counter()
  compiled(3)  # Compiles (and recompiles, as the step count becomes a tensor).
  eager(3)
  compile_seconds = time.perf_counter() - start
  times = common.interleaved(
    {"eager": lambda: eager(steps), "compiled": lambda: compiled(steps)}, repeats
  )
  return {
    "eager_seconds": times["eager"],
    "compiled_seconds": times["compiled"],
    "compile_seconds": compile_seconds,
    "steps": steps,
    "x_eager": float(x_eager.item()),
    "x_compiled": float(x_compiled.item()),
  }


def torch_compiled(algo: str, steps: int, repeats: int, timeout: float) -> dict[str, Any]:
  """:func:`torch_compiled_main` in a subprocess, or ``{"error": why}``."""
  code = (
    "import json; from benchmarks import baselines; "
    f"print(json.dumps(baselines.torch_compiled_main({algo!r}, {steps}, {repeats})))"
  )
  try:
    proc = common.python_subprocess(["-c", code], timeout)
  except subprocess.TimeoutExpired:
    return {"error": f"torch.compile did not finish within {timeout:.0f} s"}
  if proc.returncode:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    return {"error": "torch.compile failed: " + (lines[-1] if lines else f"exit {proc.returncode}")}
  return json.loads(proc.stdout.strip().splitlines()[-1])
