"""Numerical helpers shared by the transformations."""

from typing import Any

import jax
import jax.core
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
  ``1 - β**t`` with β rounded to float32, which at β = 0.99999 is off by 6.8e-4
  relative on the first step; this form is accurate to a few float32 ulps for
  every β in [0, 1) and every t ≥ 1.

  Args:
    decay: The decay rate β in [0, 1); a Python float, a concrete array or a
      tracer.
    count: The step t ≥ 1, an integer array.

  Returns:
    A scalar (or an array of ``decay``'s shape) in :func:`compute_dtype`.
  """
  dtype = compute_dtype()
  log_beta = jnp.asarray(log_decay(decay), dtype)
  return -jnp.expm1(jnp.asarray(count, dtype) * log_beta)


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
