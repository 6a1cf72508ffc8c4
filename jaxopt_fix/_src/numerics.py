"""Numerical helpers shared by the transformations."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import math
from typing import Any
from typing import TypeVar
from typing import cast

import jax
import jax.core
import jax.custom_batching
import jax.numpy as jnp
import numpy as np


def compute_dtype() -> jnp.dtype:
  """The widest float dtype JAX currently allows (float64 under x64)."""
  return jnp.dtype(jnp.float64 if jax.config.read("jax_enable_x64") else jnp.float32)


def is_traced(value: Any) -> bool:
  """Whether ``value`` is a tracer (under ``jit``, ``vmap``, ``scan`` ...), not a concrete value."""
  return isinstance(value, jax.core.Tracer)


def log_decay(decay: jax.typing.ArrayLike) -> jax.typing.ArrayLike:
  """``log(decay)``, taken in float64 on the host when ``decay`` is concrete.

  A Python float ``decay`` such as ``0.99999`` is not representable in float32:
  rounding it first makes ``1 - decay`` wrong by up to 7e-4 relative. Taking the
  logarithm of the float64 value on the host keeps that error at float32's
  ulp once the result is rounded. A traced ``decay`` (under ``vmap`` or
  ``inject_hyperparams``) is used at the precision of its array.
  """
  if is_traced(decay):
    return jnp.log(decay)
  with np.errstate(divide="ignore"):  # log(0) = -inf, and -expm1(t * -inf) = 1.
    return np.log(np.asarray(decay, dtype=np.float64))


def one_minus_power(decay: jax.typing.ArrayLike, count: jax.typing.ArrayLike) -> jax.Array:
  r"""Computes :math:`1 - \beta^t` without cancellation, as ``-expm1(t log β)``.

  This is the bias-correction denominator of Adam-type methods. optax computes
  ``1 - β**t`` with β rounded to float32, which at β = 0.99999 is off by 1.4e-3
  relative on the first step (6.8e-4 in Adam's step, through the square root); this
  form is accurate to a few float32 ulps for every β in [0, 1) and every t ≥ 1.

  For a concrete scalar β and a scalar integer count, on CPU, the ``expm1`` runs only
  before :func:`saturation_step` (172 steps at β = 0.9, 1.8M at 0.99999 in float32):
  from there on the result is exactly 1, so the values are bit for bit those of the
  plain formula, which a traced β still uses at every step. To skip the arithmetic
  that *uses* the corrections as well, see :func:`with_bias_corrections`.

  Args:
    decay: The decay rate β in [0, 1); a Python float, a concrete array or a
      tracer.
    count: The step t ≥ 1, an integer array.

  Returns:
    A scalar (or an array of ``decay``'s shape) in :func:`compute_dtype`.

  Example:
    The relative errors on the first step at β = 0.99999, against 1 - β in float64:

    >>> import jax.numpy as jnp
    >>> from jaxopt_fix import one_minus_power
    >>> exact = 1 - 0.99999  # in float64, on the host
    >>> print(f"{float(one_minus_power(0.99999, jnp.int32(1))) / exact - 1:.1e}")
    -2.5e-08
    >>> print(f"{float(1 - jnp.float32(0.99999) ** 1) / exact - 1:.1e}")  # optax's formula
    1.4e-03
    >>> float(one_minus_power(0.9, jnp.int32(10_000)))  # saturated: exactly 1
    1.0
  """
  return with_bias_corrections((decay,), count, lambda correction: correction)


T = TypeVar("T")


def with_bias_corrections(
  decays: Sequence[jax.typing.ArrayLike], count: jax.typing.ArrayLike, fn: Callable[..., T]
) -> T:
  r"""``fn(1 - β₁ᵗ, 1 - β₂ᵗ, ...)``, skipping the corrections once they are exactly 1.

  Each correction is :func:`one_minus_power`'s ``-expm1(t log β)``. For concrete
  scalar βs and a scalar integer count, on CPU, ``fn`` runs inside a ``lax.cond``:
  before the largest :func:`saturation_step` of the βs with the corrections, from
  there on with literal ones. A product, quotient or square root with an exact 1
  is exact, and XLA folds it away, so the values are bit for bit the same and a
  saturated step costs what an uncorrected one costs: no ``expm1``, and no root or
  division by the corrections. (On Reddi et al.'s problem, ``benchmarks/``: a
  hand-written Adam step takes 6.0 ns with a ``cond`` around the ``expm1`` only,
  5.6 ns with this one, 4.8 ns with no bias correction at all; the library's own
  step takes 7.8 ns, 8.7 ns without it.) ``fn`` must therefore use the corrections only
  through products, quotients and roots, as bias corrections are used, never
  additively.

  Under ``vmap`` over the count, the predicate is whether *every* count of the
  batch has saturated, so the ``cond`` stays a ``cond`` (a batched predicate
  would turn it into a select that computes both branches); until then the whole
  batch takes the first branch, whose values are the same.

  Only on CPU: XLA:GPU runs a ``cond`` by copying its predicate to the host and
  blocking the stream, a sync per step dearer than what it skips, so elsewhere
  ``fn`` always gets the computed corrections (the same values).

  Args:
    decays: The decay rates β, each as :func:`one_minus_power` takes it.
    count: The step t ≥ 1, an integer array.
    fn: Called with one correction per decay, in :func:`compute_dtype`.

  Returns:
    What ``fn`` returns.

  Example:
    >>> import jax.numpy as jnp
    >>> def debiased_ratio(bc1, bc2):
    ...   return jnp.sqrt(bc2) / bc1
    >>> float(with_bias_corrections((0.9, 0.999), jnp.int32(1), debiased_ratio))
    0.3162...
    >>> float(with_bias_corrections((0.9, 0.999), jnp.int32(100_000), debiased_ratio))
    1.0
  """
  dtype = compute_dtype()
  log_betas = [log_decay(decay) for decay in decays]

  def corrected() -> T:
    return fn(*(_one_minus_exp(log_beta, count, dtype) for log_beta in log_betas))

  count_dtype = getattr(count, "dtype", None)  # None for a Python number.
  steps = [
    None
    if is_traced(log_beta) or count_dtype is None or np.ndim(count)
    else saturation_step(log_beta, dtype, count_dtype)
    for log_beta in log_betas
  ]
  if not steps or None in steps:
    return corrected()
  saturation = jnp.asarray(max(cast(list[int], steps)), count_dtype)

  def saturating(count: jax.Array) -> T:
    ones = [jnp.ones((), dtype) for _ in decays]
    return jax.lax.cond(_all_reached(count, saturation), lambda: fn(*ones), corrected)

  return jax.lax.platform_dependent(count, cpu=saturating, default=lambda _: corrected())


@jax.custom_batching.custom_vmap
def _all_reached(count: jax.Array, step: jax.Array) -> jax.Array:
  """Whether every element of ``count`` is at least ``step``; never batched (see below)."""
  return jnp.all(count >= step)


@_all_reached.def_vmap
def _all_reached_vmap(axis_size, in_batched, count, step):
  """Under ``vmap``: all of the batch at once, so that a ``cond`` on it stays a ``cond``."""
  del axis_size, in_batched
  return _all_reached(count, step), False


def _one_minus_exp(
  log_beta: jax.typing.ArrayLike, count: jax.typing.ArrayLike, dtype: jnp.dtype
) -> jax.Array:
  """``-expm1(count * log_beta)`` in ``dtype``: the value :func:`one_minus_power` returns."""
  return -jnp.expm1(jnp.asarray(count, dtype) * jnp.asarray(log_beta, dtype))


def saturation_step(log_beta: Any, dtype: jnp.dtype, count_dtype: jnp.dtype) -> int | None:
  """The first step from which ``-expm1(t * log_beta)`` is exactly 1 in ``dtype``.

  ``log_beta`` is the float64 ``log(β)`` of a concrete scalar β. From the returned
  step on, ``t log β <= log(eps / 8)`` (eps of ``dtype``). Rounding ``t``, ``log β``
  and their product to ``dtype`` (three relative errors of at most eps / 2) leaves
  the argument ``x`` of ``expm1`` below ``log(eps / 8) (1 - 2 eps)``, so
  ``exp(x) < eps / 8 (1 + 80 eps)``: under the half-spacing of the floats just above
  -1 (eps / 4), so ``expm1(x)`` rounds to exactly -1 and skipping it changes no bit.
  ``numerics_test.py`` checks XLA:CPU's float32 ``expm1`` at every float32 below that
  bound, and the shortcut against the plain formula, bit for bit. None where
  no such step exists in ``count_dtype`` (β = 1, β > 1, NaN, a β so close to 1 that
  the step overflows ``count_dtype``, a non-integer count), so the plain formula must
  run at every step.
  """
  log_beta = np.asarray(log_beta, np.float64)
  if log_beta.ndim or not jnp.issubdtype(count_dtype, jnp.integer) or not log_beta < 0:
    return None
  tiny = np.log(np.finfo(dtype).eps / 8)
  # β = 0 (log β = -inf): 1 from t = 1 on; t = 0 keeps today's value (0 * -inf = NaN).
  step = max(1, math.ceil(float(tiny / log_beta)))
  return step if step <= np.iinfo(count_dtype).max else None


def rounded_product(x: jax.Array, factor: Any) -> jax.Array:
  """``x * factor`` rounded to ``x``'s dtype, even where a subtraction follows.

  XLA's CPU backend contracts ``x * factor - y`` into one fused multiply-add, which skips
  the rounding of the product that torch's in-place ``mul_`` performs. A select between
  the multiply and its use blocks the contraction (``x * factor`` is NaN wherever ``x``
  is, so the select changes no value).
  """
  return jnp.where(jnp.isnan(x), x, x * factor)


def rounded_sqrt(x: jax.Array) -> jax.Array:
  """``sqrt(x)`` rounded on its own, even where it divides.

  XLA's algebraic simplifier rewrites ``a / sqrt(b)`` (also ``a / (sqrt(b) + 0)``) into
  ``a * rsqrt(b)``, which rounds twice where torch rounds the root and then the quotient.
  A select between the root and its use blocks the rewrite (``sqrt(x)`` is NaN wherever
  ``x`` is, so the select changes no value).
  """
  return jnp.where(jnp.isnan(x), x, jnp.sqrt(x))
