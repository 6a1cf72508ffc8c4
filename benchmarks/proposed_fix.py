"""The proposed fix of ``one_minus_power``, measured without touching the library.

``python -m benchmarks.proposed_fix [--steps N] [--repeats R]`` times jaxopt_fix's
Adam and AMSGrad on the online problem as shipped and with
:func:`one_minus_power_saturating` monkeypatched in, next to optax and the C loop,
interleaved, and checks that the iterate is bit for bit the same.

The fix: for a concrete β, ``1 - β**t`` rounds to exactly 1 once ``β**t`` is
below an eighth of the dtype's epsilon, so the two ``expm1`` per step (most of
the step's time on CPU) are only needed before that step. A ``lax.cond`` skips
them afterwards; under ``vmap`` with a batched count it becomes a select (both
sides computed, as today). A traced β keeps today's code.
"""

import argparse
from collections.abc import Callable
import math
import pathlib
import tempfile

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common
from benchmarks import online
from jaxopt_fix._src import numerics

_original = numerics.one_minus_power


def one_minus_power_saturating(
  decay: jax.typing.ArrayLike, count: jax.typing.ArrayLike
) -> jax.Array:
  """``numerics.one_minus_power`` that stops computing once the result is exactly 1."""
  if numerics.is_traced(decay) or np.ndim(decay):
    return _original(decay, count)
  dtype = numerics.compute_dtype()
  log_beta = float(np.asarray(numerics.log_decay(decay)))
  tiny = float(np.finfo(dtype).eps) / 8  # beta**t below this: 1 - beta**t rounds to 1.
  saturated = 1 if log_beta == -math.inf else math.ceil(math.log(tiny) / log_beta)
  saturated = min(saturated, 2**31 - 1)
  count = jnp.asarray(count)
  return jax.lax.cond(
    count < saturated,
    lambda: -jnp.expm1(count.astype(dtype) * jnp.asarray(log_beta, dtype)),
    lambda: jnp.ones((), dtype),
  )


def main() -> None:
  parser = argparse.ArgumentParser(prog="python -m benchmarks.proposed_fix")
  parser.add_argument("--steps", type=int, default=10_000_000)
  parser.add_argument("--repeats", type=int, default=5)
  args = parser.parse_args()
  with tempfile.TemporaryDirectory() as tmp:
    binary = online.build_c(pathlib.Path(tmp))
    for algo in online.ALGOS:
      loops = {"jaxopt_fix": online.tx_loop(online.library_tx("jaxopt_fix", algo), args.steps)}
      numerics.one_minus_power = one_minus_power_saturating
      try:
        loops["jaxopt_fix + fix"] = online.tx_loop(
          online.library_tx("jaxopt_fix", algo), args.steps
        )
      finally:
        numerics.one_minus_power = _original
      loops["optax"] = online.tx_loop(online.library_tx("optax", algo), args.steps)
      runners: dict[str, Callable[[], float]] = {}
      finals: dict[str, Callable[[], float]] = {}
      for name, (compiled, _) in loops.items():
        runners[name], finals[name] = online.jax_runner(compiled)
      runners["C"] = lambda algo=algo: online.run_c(binary, algo, args.steps)[0]
      times = common.interleaved(runners, args.repeats)
      c_best = min(times["C"])
      same = finals["jaxopt_fix"]() == finals["jaxopt_fix + fix"]()
      print(f"{algo}: x_T identical with the fix: {same}")
      for name, seconds in times.items():
        best = min(seconds)
        print(f"  {name:18s} {best / args.steps * 1e9:7.2f} ns/step  {best / c_best:6.2f}x C")


if __name__ == "__main__":
  main()
