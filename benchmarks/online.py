r"""Reddi et al.'s online problem, one run, every implementation of the same update.

:math:`f_t(x) = 1010x` if :math:`t \bmod 101 = 1` else :math:`-10x` on :math:`[-1, 1]`
(0-indexed :math:`t`, as in :func:`experiments.reddi.problems.online_gradient`),
from :math:`x_0 = 0`, clipping after every step, with the settings of the common
reproductions (lr 1e-2, betas (0.9, 0.99), eps 1e-8). Every JAX competitor runs
the same single ``lax.scan`` (carry: iterate, optimizer state, step), with no
regret bookkeeping, so what differs is the optimizer's update alone: the library
optimizers take the experiments' step (:func:`experiments.reddi.engine.projected_update`),
the hand-rolled loop writes it out.
"""

from collections.abc import Callable
import math
import pathlib
import tempfile
import time
from typing import Any
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks import baselines
from benchmarks import common
from experiments.reddi import engine
from experiments.reddi import problems
import jaxopt_fix
from jaxopt_fix import torch_optim

LR, B1, B2, EPS = baselines.LR, baselines.B1, baselines.B2, baselines.EPS
ALGOS = ("adam", "amsgrad")
BiasCorrection = Literal["expm1", "pow", "carried", "cond", "cond_expm1", "one"]


def library_tx(impl: str, algo: str) -> optax.GradientTransformation:
  """The optimizer of ``impl`` ("jaxopt_fix" or "optax") for ``algo`` ("adam" or "amsgrad")."""
  if impl == "jaxopt_fix":
    if algo == "amsgrad":
      return jaxopt_fix.amsgrad(LR, B1, B2, EPS, variant="torch")
    return torch_optim.adam(LR, (B1, B2), EPS)
  if impl == "optax":
    return (optax.amsgrad if algo == "amsgrad" else optax.adam)(LR, b1=B1, b2=B2, eps=EPS)
  raise ValueError(f"unknown implementation {impl!r}")


Compiled = Callable[[jax.Array], jax.Array]


def _compile(run: Callable[[jax.Array], jax.Array]) -> tuple[Compiled, float]:
  """``run`` jitted and compiled for a float32 scalar; the seconds it took."""
  x0 = jnp.zeros((), jnp.float32)
  start = time.perf_counter()
  compiled = jax.jit(run).lower(x0).compile()
  return compiled, time.perf_counter() - start


def tx_loop(
  tx: optax.GradientTransformation, steps: int, unroll: int = 1
) -> tuple[Compiled, float]:
  """``x0 -> x_T``: ``steps`` steps of ``tx`` on the online problem in one ``lax.scan``."""

  def run(x0: jax.Array) -> jax.Array:
    def body(carry, _):
      x, state, t = carry
      x, state = engine.projected_update(tx, x, state, problems.online_gradient(t), problems.BOUNDS)
      return (x, state, t + 1), None

    carry = (x0, tx.init(x0), jnp.zeros((), jnp.int32))
    return jax.lax.scan(body, carry, length=steps, unroll=unroll)[0][0]

  return _compile(run)


def hand_rolled_loop(
  algo: str,
  steps: int,
  *,
  bias_correction: BiasCorrection = "cond_expm1",
  select: bool = True,
  unroll: int = 1,
) -> tuple[Compiled, float]:
  """The same float32 update written inline: carry ``(x, m, v, vmax, t)``.

  With the defaults it is jaxopt_fix's math op for op (torch's order of
  operations, ``-expm1(t log b)`` with ``log b`` from the host inside a
  ``lax.cond`` of scalars that returns exact ones once they are 1, as
  ``numerics.bias_corrections``, the select that keeps ``v * b2`` rounded as
  torch rounds it). The switches take one piece away at a time, to see what
  each costs:

  Args:
    algo: "adam" or "amsgrad" (torch's: max of the raw v, then / sqrt(1 - b2^t)).
    steps: The number of steps.
    bias_correction: ``"cond_expm1"`` (jaxopt_fix: the ``lax.cond`` around the two
      ``expm1`` only, taken while ``b**t`` is above float32's half ulp of 1),
      ``"cond"`` (the whole direction inside the ``cond``, computed without the
      corrections once they are 1: what jaxopt_fix did before, which moved whole-tree
      work into a branch), ``"expm1"`` (in every
      step, the same values), ``"pow"`` (``1 - b**t`` in float32, as optax),
      ``"carried"`` (running float32 powers ``p *= b`` in the carry;
      inaccurate, a speed bound) or ``"one"`` (none at all; a speed bound).
    select: Keep the NaN-select that blocks the FMA contraction of ``v * b2``.
    unroll: ``lax.scan``'s unroll.
  """
  amsgrad = algo == "amsgrad"
  log_b1, log_b2 = (float(np.log(np.float64(b))) for b in (B1, B2))
  # From this step on, b**t < 2**-25 for both betas: -expm1(t log b) rounds to 1 in float32.
  saturated = math.ceil(-25 * math.log(2) / max(log_b1, log_b2)) + 1

  def run(x0: jax.Array) -> jax.Array:
    f32 = jnp.float32

    def body(carry, _):
      x, m, v, vmax, t, p1, p2 = carry
      g = problems.online_gradient(t)
      t1 = t + 1
      m = m + f32(1 - B1) * (g - m)
      vb = v * f32(B2)
      if select:
        vb = jnp.where(jnp.isnan(v), v, vb)
      v = vb + f32(1 - B2) * g * g
      s = v
      if amsgrad:
        vmax = jnp.maximum(vmax, v)
        s = vmax

      def direction_with(bc1, bc2):
        return m / (jnp.sqrt(s) / jnp.sqrt(bc2) + f32(EPS)) * (1 / bc1)

      def expm1_corrections():
        tf = t1.astype(f32)
        return -jnp.expm1(tf * f32(log_b1)), -jnp.expm1(tf * f32(log_b2))

      if bias_correction == "cond":
        direction = jax.lax.cond(
          t1 < saturated,
          lambda: direction_with(*expm1_corrections()),
          lambda: m / (jnp.sqrt(s) + f32(EPS)),
        )
      else:
        if bias_correction == "expm1":
          bc1, bc2 = expm1_corrections()
        elif bias_correction == "pow":
          tf = t1.astype(f32)
          bc1, bc2 = 1 - f32(B1) ** tf, 1 - f32(B2) ** tf
        elif bias_correction == "cond_expm1":
          bc1, bc2 = jax.lax.cond(t1 < saturated, expm1_corrections, lambda: (f32(1), f32(1)))
        elif bias_correction == "carried":
          p1, p2 = p1 * f32(B1), p2 * f32(B2)
          bc1, bc2 = 1 - p1, 1 - p2
        else:
          bc1 = bc2 = f32(1)
        direction = direction_with(bc1, bc2)
      x = jnp.clip(x + direction * f32(-LR), problems.X_MIN, problems.X_MAX)
      return (x, m, v, vmax, t1, p1, p2), None

    zero, one = jnp.zeros((), f32), jnp.ones((), f32)
    carry = (x0, zero, zero, zero, jnp.zeros((), jnp.int32), one, one)
    return jax.lax.scan(body, carry, length=steps, unroll=unroll)[0][0]

  return _compile(run)


def jax_runner(compiled: Compiled) -> tuple[Callable[[], float], Callable[[], float]]:
  """``(time_one_run, x_final)`` for a compiled loop (its result blocks until ready)."""
  x0 = jnp.zeros((), jnp.float32)
  compiled(x0).block_until_ready()  # Warm-up: first-call allocation excluded.

  def time_one() -> float:
    return common.wall(lambda: compiled(x0).block_until_ready())

  return time_one, lambda: float(compiled(x0))


# --- the comparison --------------------------------------------------------


def compare(
  algo: str, steps: int, torch_steps: int, repeats: int, *, torch_compile_timeout: float
) -> dict[str, Any]:
  """Every implementation of ``algo`` on one run of ``steps`` steps, side by side."""
  entries: dict[str, common.Entry] = {}
  runners: dict[str, Callable[[], float]] = {}
  finals: dict[str, Callable[[], float]] = {}

  loops = {
    "jaxopt_fix": tx_loop(library_tx("jaxopt_fix", algo), steps),
    "optax": tx_loop(library_tx("optax", algo), steps),
    "hand-rolled JAX": hand_rolled_loop(algo, steps),
  }
  for name, (compiled, compile_seconds) in loops.items():
    entries[name] = common.Entry(name, steps, compile_seconds=compile_seconds)
    runners[name], finals[name] = jax_runner(compiled)

  with tempfile.TemporaryDirectory() as tmp:
    start = time.perf_counter()
    binary = baselines.build_c(pathlib.Path(tmp))
    build_seconds = time.perf_counter() - start
    c_entries: dict[str, common.Entry] = {}
    c_x: dict[str, list[float]] = {}
    for mode, label, note in (
      ("split", baselines.C_NAME, "bias corrections only while != 1"),
      ("perstep", "C, bias corrections every step", "same op count as the JAX loops"),
    ):
      entry = common.Entry(label, steps, compile_seconds=build_seconds, note=note)
      c_entries[mode] = entries[label] = entry
      c_x[mode] = []

      def c_runner(mode: str = mode) -> float:
        seconds, x = baselines.run_c(binary, algo, steps, mode)
        c_x[mode].append(x)
        return seconds

      runners[label] = c_runner
    c_entry = c_entries["split"]

    torch_entry = None
    try:
      torch_run, _ = baselines.torch_setup(algo)
      torch_run(10)  # Warm-up.
      torch_entry = common.Entry("torch eager", torch_steps, extrapolated_to=steps)
      torch_entry.note = f"timed on {torch_steps} steps; x_T n/a"
      entries[torch_entry.name] = torch_entry
      runners[torch_entry.name] = lambda: torch_run(torch_steps)
    except ImportError:
      pass

    times = common.interleaved(runners, repeats)
  for name, seconds in times.items():
    entries[name].seconds = seconds
  for name, final in finals.items():
    entries[name].x_final = final()
  for mode, entry in c_entries.items():
    entry.x_final = c_x[mode][-1]
  # torch's x (after repeats * torch_steps + 10 steps) is not comparable: left out.

  result: dict[str, Any] = {"steps": steps}
  if torch_entry is not None and torch_compile_timeout > 0:
    tc = baselines.torch_compiled(algo, torch_steps, max(2, repeats // 2), torch_compile_timeout)
    result["torch_compile"] = tc
    if "error" not in tc:
      # Scale by the eager time measured in the same process as the compiled one.
      ratio = min(tc["compiled_seconds"]) / min(tc["eager_seconds"])
      entry = common.Entry(
        "torch.compile(opt.step)",
        torch_steps,
        seconds=[s * ratio for s in torch_entry.seconds],
        compile_seconds=tc["compile_seconds"],
        x_final=None,  # Like torch eager's, after a different number of steps.
        note=f"{ratio:.2f}x eager, side by side in a subprocess",
        extrapolated_to=steps,
      )
      entries[entry.name] = entry

  rows = common.to_json(list(entries.values()))
  result["entries"] = rows
  by_name = {row["name"]: row for row in rows}
  c_ns = by_name[c_entry.name]["ns_per_step"]
  ratios = {
    "jaxopt_fix/C": by_name["jaxopt_fix"]["ns_per_step"] / c_ns,
    "optax/C": by_name["optax"]["ns_per_step"] / c_ns,
    "hand-rolled/C": by_name["hand-rolled JAX"]["ns_per_step"] / c_ns,
    "jaxopt_fix/C every-step": by_name["jaxopt_fix"]["ns_per_step"]
    / by_name[c_entries["perstep"].name]["ns_per_step"],
    "jaxopt_fix/optax": by_name["jaxopt_fix"]["ns_per_step"] / by_name["optax"]["ns_per_step"],
    "jaxopt_fix/hand-rolled": (
      by_name["jaxopt_fix"]["ns_per_step"] / by_name["hand-rolled JAX"]["ns_per_step"]
    ),
  }
  if "torch eager" in by_name:
    ratios["torch eager/jaxopt_fix (speed-up)"] = (
      by_name["torch eager"]["ns_per_step"] / by_name["jaxopt_fix"]["ns_per_step"]
    )
  result["ratios"] = ratios
  jax_x = by_name["jaxopt_fix"]["x_final"]
  result["x_final_abs_diff_c_vs_jaxopt_fix"] = abs(c_entry.x_final - jax_x)
  result["x_final_abs_diff_hand_vs_jaxopt_fix"] = abs(by_name["hand-rolled JAX"]["x_final"] - jax_x)
  return result


DIAGNOSIS_VARIANTS: dict[str, dict[str, Any]] = {
  "hand: jaxopt_fix math (cond around the expm1, select)": {},
  "hand: no FMA-blocking select": {"select": False},
  "hand: cond around the whole direction (jaxopt_fix before)": {"bias_correction": "cond"},
  "hand: expm1 in every step (no cond)": {"bias_correction": "expm1"},
  "hand: 1 - b**t (optax's)": {"bias_correction": "pow"},
  "hand: carried float32 powers": {"bias_correction": "carried", "select": False},
  "hand: no bias correction": {"bias_correction": "one", "select": False},
  "hand: expm1 in every step, unroll=8": {"bias_correction": "expm1", "unroll": 8},
  "hand: jaxopt_fix math, unroll=8": {"unroll": 8},
  "hand: no bias correction, unroll=8": {"bias_correction": "one", "select": False, "unroll": 8},
}


def diagnose(algo: str, steps: int, repeats: int) -> dict[str, Any]:
  """jaxopt_fix against variants of the hand-rolled loop, each removing one cost."""
  runners: dict[str, Callable[[], float]] = {}
  entries: dict[str, common.Entry] = {}
  loops: dict[str, tuple[Compiled, float]] = {
    "jaxopt_fix": tx_loop(library_tx("jaxopt_fix", algo), steps),
    "jaxopt_fix, unroll=8": tx_loop(library_tx("jaxopt_fix", algo), steps, unroll=8),
    "optax": tx_loop(library_tx("optax", algo), steps),
  }
  for name, kwargs in DIAGNOSIS_VARIANTS.items():
    loops[name] = hand_rolled_loop(algo, steps, **kwargs)
  finals = {}
  for name, (compiled, compile_seconds) in loops.items():
    entries[name] = common.Entry(name, steps, compile_seconds=compile_seconds)
    runners[name], finals[name] = jax_runner(compiled)
  for name, seconds in common.interleaved(runners, repeats).items():
    entries[name].seconds = seconds
    entries[name].x_final = finals[name]()
  return {"algo": algo, "steps": steps, "entries": common.to_json(list(entries.values()))}


def bias_correction_error() -> dict[str, float]:
  """Max relative error of float32 ``1 - b**t`` and carried powers vs float64, t <= 1e5.

  Shows why the fast hand-rolled variants are not an option for the library.
  """
  t = np.arange(1, 100_001, dtype=np.float64)
  out = {}
  for b in (0.9, 0.99, 0.999, 0.99999):
    exact = -np.expm1(t * np.log(b))
    pow32 = 1 - np.float32(b) ** t.astype(np.float32)
    carried = 1 - np.cumprod(np.full(t.shape, np.float32(b), np.float32))
    out[f"pow32 b={b}"] = float(np.max(np.abs(pow32 / exact - 1)))
    out[f"carried32 b={b}"] = float(np.max(np.abs(carried / exact - 1)))
  return out
