"""A vmapped (β1, β2) sweep on the online problem: optimizer-steps per second.

Every configuration runs the online problem of :mod:`benchmarks.online` with its
own traced (β1, β2) (float32 arrays of shape ``(configs,)``, from
:func:`experiments.beta_sweep.sweep.beta_grid`), all in one ``lax.scan``: the
library optimizers are built inside a ``jax.vmap`` over the betas, as
:mod:`experiments.beta_sweep.sweep` does, and the hand-rolled loop works on the
arrays directly.
"""

from collections.abc import Callable
import math
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from benchmarks import common
from benchmarks import online
from experiments.beta_sweep import sweep as beta_sweep
from experiments.reddi import engine
from experiments.reddi import problems
import jaxopt_fix

Betas = tuple[jax.Array, jax.Array]
Compiled = Callable[[jax.Array, jax.Array], jax.Array]


def betas(configs: int) -> Betas:
  """``configs`` (β1, β2) pairs from the sweep's grid, as float32 arrays."""
  k = math.isqrt(configs - 1) + 1
  b1, b2 = beta_sweep.beta_grid(k)
  g1, g2 = np.meshgrid(b1, b2, indexing="ij")
  return (
    jnp.asarray(g1.ravel()[:configs], jnp.float32),
    jnp.asarray(g2.ravel()[:configs], jnp.float32),
  )


def _library_maker(impl: str) -> Callable[[jax.Array, jax.Array], optax.GradientTransformation]:
  def make(b1: jax.Array, b2: jax.Array) -> optax.GradientTransformation:
    if impl == "jaxopt_fix":
      return jaxopt_fix.amsgrad(online.LR, b1, b2, online.EPS, variant="torch")
    return optax.amsgrad(online.LR, b1=b1, b2=b2, eps=online.EPS)  # pyright: ignore[reportArgumentType]

  return make


def library_loop(impl: str, steps: int, b: Betas) -> tuple[Compiled, float]:
  """``(b1, b2) -> x_T``: AMSGrad of ``impl`` vmapped over the configurations."""
  make = _library_maker(impl)

  def one_update(b1, b2, x, state, g):
    return engine.projected_update(make(b1, b2), x, state, g, problems.BOUNDS)

  def run(b1: jax.Array, b2: jax.Array) -> jax.Array:
    x = jnp.zeros_like(b1)
    states = jax.vmap(lambda b1, b2, x: make(b1, b2).init(x))(b1, b2, x)

    def body(carry, _):
      x, states, t = carry
      g = problems.online_gradient(t)  # The same for every configuration.
      x, states = jax.vmap(one_update, in_axes=(0, 0, 0, 0, None))(b1, b2, x, states, g)
      return (x, states, t + 1), None

    return jax.lax.scan(body, (x, states, jnp.zeros((), jnp.int32)), length=steps)[0][0]

  return _compile(run, b)


def hand_rolled_loop(steps: int, b: Betas, *, log_in_step: bool = False) -> tuple[Compiled, float]:
  """The same math on ``(configs,)`` arrays: carry ``(x, m, v, vmax, t)``.

  ``log b`` is taken once before the scan, as one writes it by hand;
  ``log_in_step`` takes it inside every step instead, as the library does for a
  traced β (``numerics.log_decay``), to see whether XLA hoists it.
  """

  def run(b1: jax.Array, b2: jax.Array) -> jax.Array:
    log_b1, log_b2 = jnp.log(b1), jnp.log(b2)

    def body(carry, _):
      x, m, v, vmax, t = carry
      g = problems.online_gradient(t)
      t1 = t + 1
      m = m + (1 - b1) * (g - m)
      v = jnp.where(jnp.isnan(v), v, v * b2) + (1 - b2) * g * g
      vmax = jnp.maximum(vmax, v)
      l1, l2 = (jnp.log(b1), jnp.log(b2)) if log_in_step else (log_b1, log_b2)
      tf = t1.astype(jnp.float32)
      bc1, bc2 = -jnp.expm1(tf * l1), -jnp.expm1(tf * l2)
      direction = m / (jnp.sqrt(vmax) / jnp.sqrt(bc2) + online.EPS) * (1 / bc1)
      x = jnp.clip(x + direction * -online.LR, problems.X_MIN, problems.X_MAX)
      return (x, m, v, vmax, t1), None

    zero = jnp.zeros_like(b1)
    carry = (zero, zero, zero, zero, jnp.zeros((), jnp.int32))
    return jax.lax.scan(body, carry, length=steps)[0][0]

  return _compile(run, b)


def _compile(run: Callable[[jax.Array, jax.Array], jax.Array], b: Betas) -> tuple[Compiled, float]:
  start = time.perf_counter()
  compiled = jax.jit(run).lower(*b).compile()
  return compiled, time.perf_counter() - start


def loops(steps: int, b: Betas, *, variants: bool = True) -> dict[str, tuple[Compiled, float]]:
  """The competitors (and, with ``variants``, the hand-rolled diagnosis variant)."""
  out = {
    "jaxopt_fix amsgrad": library_loop("jaxopt_fix", steps, b),
    "optax amsgrad": library_loop("optax", steps, b),
    "hand-rolled JAX": hand_rolled_loop(steps, b),
  }
  if variants:
    out["hand-rolled, log(b) in every step"] = hand_rolled_loop(steps, b, log_in_step=True)
  return out


def compare(configs: int, steps: int, repeats: int) -> dict[str, Any]:
  """All competitors on ``configs`` configurations x ``steps`` steps, side by side."""
  b = betas(configs)
  entries: dict[str, common.Entry] = {}
  runners: dict[str, Callable[[], float]] = {}
  finals: dict[str, np.ndarray] = {}
  for name, (compiled, compile_seconds) in loops(steps, b).items():
    entries[name] = common.Entry(name, configs * steps, compile_seconds=compile_seconds)
    finals[name] = np.asarray(compiled(*b))  # Warm-up.
    runners[name] = lambda compiled=compiled: common.wall(lambda: compiled(*b).block_until_ready())
  for name, seconds in common.interleaved(runners, repeats).items():
    entries[name].seconds = seconds
    entries[name].x_final = float(np.mean(finals[name]))
  rows = common.to_json(list(entries.values()))
  by_name = {row["name"]: row for row in rows}
  reference = finals["hand-rolled JAX"]
  return {
    "configs": configs,
    "steps": steps,
    "entries": rows,
    "ratios": {
      "jaxopt_fix/hand-rolled": by_name["jaxopt_fix amsgrad"]["ns_per_step"]
      / by_name["hand-rolled JAX"]["ns_per_step"],
      "jaxopt_fix/optax": by_name["jaxopt_fix amsgrad"]["ns_per_step"]
      / by_name["optax amsgrad"]["ns_per_step"],
    },
    "x_final_max_abs_diff_jaxopt_fix_vs_hand": float(
      np.max(np.abs(finals["jaxopt_fix amsgrad"] - reference))
    ),
  }
