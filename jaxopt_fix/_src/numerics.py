"""Numerical helpers shared by the transformations."""

from __future__ import annotations

from collections.abc import Sequence
import functools
import math
from typing import Any
from typing import cast

import jax
import jax.core
import jax.numpy as jnp
import numpy as np

from jaxopt_fix._src import leafwise


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
  :func:`bias_corrections` computes several at once, with a shortcut once they are 1.

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
  return bias_corrections((decay,), count)[0]


def bias_corrections(
  decays: Sequence[jax.typing.ArrayLike], count: jax.typing.ArrayLike
) -> tuple[jax.Array, ...]:
  r"""The corrections ``1 - βᵢᵗ`` of :func:`one_minus_power`, one per decay, skipped once 1.

  Each is ``-expm1(t log βᵢ)``. For concrete scalar βs and a scalar integer count, on
  CPU, the ``expm1`` runs inside a ``lax.cond`` only before the largest
  :func:`saturation_step` of the βs; from there on the corrections are literal ones,
  the values ``expm1`` would have rounded to (so every bit is the same). The ``cond``
  holds scalars only: the arithmetic that uses the corrections runs outside it, so a
  large tree pays nothing for the shortcut, and on Reddi et al.'s scalar problem
  (``benchmarks/``) a step skips the two ``expm1``, the largest cost of its
  iteration. The ``cond`` is a function jitted once per βs and dtypes, so an
  un-jitted ``update`` compiles it once, not at every call. Elsewhere (a traced β,
  a batch of βs, a float count, a GPU, where a ``cond`` costs a host round trip) the
  corrections are computed at every step, with the same values.

  How the corrections may be used (the rules the transformations follow):

  - **Only through products, quotients and roots.** ``-expm1`` is accurate
    *relatively*, to a few ulps of ``1 - βᵗ``, and a product, quotient or root keeps
    a relative error as it is. A sum with something of comparable size does not:
    ``1 - correction`` (to recover ``βᵗ``) cancels, and past the saturation step it
    is 0 where ``βᵗ`` is not. Use :func:`log_decay` and ``exp`` for ``βᵗ``.
  - **Rounded where torch rounds.** torch divides by ``sqrt(1 - β₂ᵗ)`` after the
    root of the moment and multiplies by ``1 / (1 - β₁ᵗ)`` at the end; XLA would
    rewrite ``a / sqrt(c)`` into ``a * rsqrt(c)`` and contract ``a * c - b`` into a
    fused multiply-add, so the twins put :func:`rounded_sqrt` and
    :func:`rounded_product` where the order of roundings matters.

  Args:
    decays: The decay rates β, each as :func:`one_minus_power` takes it.
    count: The step t ≥ 1, an integer array.

  Returns:
    One correction per decay, each of ``decay``'s shape, in :func:`compute_dtype`.

  Example:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix._src import numerics
    >>> bc1, bc2 = numerics.bias_corrections((0.9, 0.999), jnp.int32(1))
    >>> print(f"{float(bc1):.6f} {float(bc2):.6f}")
    0.100000 0.001000
    >>> [float(c) for c in numerics.bias_corrections((0.9, 0.999), jnp.int32(100_000))]
    [1.0, 1.0]
  """
  dtype = compute_dtype()
  log_betas = [log_decay(decay) for decay in decays]
  count_dtype = getattr(count, "dtype", None)  # None for a Python number.
  steps = [
    None
    if is_traced(log_beta) or count_dtype is None or np.ndim(count)
    else saturation_step(log_beta, dtype, count_dtype)
    for log_beta in log_betas
  ]
  if not steps or None in steps:
    return tuple(_one_minus_exp(log_beta, count, dtype) for log_beta in log_betas)
  return _saturating_corrections(
    count, tuple(float(cast(float, b)) for b in log_betas), max(cast(list[int], steps)), dtype
  )


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _saturating_corrections(
  count: jax.Array, log_betas: tuple[float, ...], saturation: int, dtype: jnp.dtype
) -> tuple[jax.Array, ...]:
  """:func:`bias_corrections` for concrete βs: ones from step ``saturation`` on, on CPU."""

  def corrected(count: jax.Array) -> tuple[jax.Array, ...]:
    return tuple(_one_minus_exp(log_beta, count, dtype) for log_beta in log_betas)

  def saturating(count: jax.Array) -> tuple[jax.Array, ...]:
    ones = tuple(jnp.ones((), dtype) for _ in log_betas)
    return jax.lax.cond(count >= saturation, lambda: ones, lambda: corrected(count))

  return jax.lax.platform_dependent(count, cpu=saturating, default=corrected)


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


def opmath_dtype(dtype: Any) -> jnp.dtype:
  """The dtype torch computes an elementwise operation on ``dtype`` tensors in (its
  ``opmath_type``): float32 for the floats narrower than float32, ``dtype`` itself otherwise.

  torch's CPU kernels convert bfloat16 and float16 operands to float32, compute a whole
  operation (``lerp_``, ``addcmul_``, ``addcdiv_`` ...) there and round its result once; the
  helpers of :mod:`jaxopt_fix._src.moments` do the same, which also spares XLA a rounding
  between every pair of operations.
  """
  dtype = jnp.dtype(dtype)
  if jnp.issubdtype(dtype, jnp.floating) and jnp.finfo(dtype).bits < 32:
    return jnp.dtype(jnp.float32)
  return dtype


def to_opmath(x: jax.Array, dtype: Any) -> jax.Array:
  """``x`` in :func:`opmath_dtype` of ``dtype`` (unchanged where that is its own dtype)."""
  op = opmath_dtype(dtype)
  return x if jnp.dtype(x.dtype) == op else x.astype(op)


def blocks_contraction_by_rounding(dtype: Any) -> bool:
  """Whether XLA rounds a product in ``dtype`` before a sum uses it, with no help.

  True for the floats narrower than float32 (bfloat16, float16): XLA's CPU backend computes each
  of their operations in float32 and converts the result back to ``dtype``, and the conversion
  between the multiply and the add keeps LLVM from fusing them, so :func:`rounded_product` needs
  no select there (it would cost two more conversions per element, in a loop that is
  compute-bound in bfloat16).
  """
  return opmath_dtype(dtype) != jnp.dtype(dtype)


def rounded_product(x: jax.Array, factor: Any) -> jax.Array:
  """``x * factor`` rounded to ``x``'s dtype, even where a subtraction follows.

  XLA's CPU backend contracts ``x * factor - y`` into one fused multiply-add, which skips
  the rounding of the product that torch's in-place ``mul_`` performs. A select between
  the multiply and its use blocks the contraction (``x * factor`` is NaN wherever ``x``
  is, so the select changes no value). Below float32 (bfloat16, float16) the product is
  taken in float32 with the factor unrounded and rounded once, as torch's ``mul_`` takes it,
  and needs no select (:func:`blocks_contraction_by_rounding`).
  """
  out_dtype = jnp.result_type(x, factor)
  if blocks_contraction_by_rounding(out_dtype):
    # torch's ``mul_`` by a scalar: the factor stays in float32 (not rounded to bfloat16).
    return (to_opmath(x, out_dtype) * factor).astype(out_dtype)
  return _unless_nan(x, x * factor)


def rounded_sqrt(x: jax.Array) -> jax.Array:
  """``sqrt(x)`` rounded on its own, even where it divides.

  XLA's algebraic simplifier rewrites ``a / sqrt(b)`` (also ``a / (sqrt(b) + 0)``) into
  ``a * rsqrt(b)``, which rounds twice where torch rounds the root and then the quotient.
  A select between the root and its use blocks the rewrite (``sqrt(x)`` is NaN wherever
  ``x`` is, so the select changes no value).
  """
  return _unless_nan(x, jnp.sqrt(x))


def sqrt_plus(x: jax.Array, eps: jax.typing.ArrayLike) -> jax.Array:
  """``sqrt(x) + eps`` with the root rounded on its own: torch's ``x.sqrt().add_(eps)``, a
  divisor.

  XLA rewrites a quotient by a root into a product with ``rsqrt`` only where the root divides
  directly. A concrete ``eps`` of 0 is folded away (``sqrt(x) + 0`` becomes ``sqrt(x)``), so
  the root then needs :func:`rounded_sqrt`'s select; any other ``eps``, concrete or traced,
  keeps the sum between the root and the quotient, and the root is left plain (a compare and
  a select fewer in every leaf's loop: less compile time on a tree of many leaves).

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix._src import numerics
    >>> print(numerics.sqrt_plus(jnp.array([4.0, 0.0]), 1e-8))
    [2.e+00 1.e-08]
  """
  if not is_traced(eps) and not np.any(np.asarray(eps)):
    return rounded_sqrt(x) + eps
  return jnp.sqrt(x) + eps


def computed_once(values: Any, count: jax.typing.ArrayLike) -> Any:
  """``values`` (a pytree of float arrays), unchanged, as results XLA computes once and does
  not recompute inside each of their users.

  XLA fuses a chain of cheap elementwise operations (multiplies, adds, selects) into every
  fusion that uses its result, recomputing it there, but not a division. That is right for
  one use and costly for two:

  - a scalar derived from the step count (RAdam's :math:`\rho_t`: a 12-term series) is
    compiled into each of a tree's leaf loops (148 on a transformer), which doubled the
    compiled program's size and took its compile time from 1.2x to 1.5x optax's;
  - a new state array that the parameter update also reads (Rprop's step size) is
    recomputed there from the *old* state, so the update must run before the state is
    overwritten in place, which XLA cannot prove: it copies the old state first.

  Each leaf is divided by a one computed at run time from ``count`` (``count * 0 + 1``, which
  XLA cannot fold: ``x * 0`` is not 0 for every float), one per dtype, shared by all leaves
  (with a one per leaf, XLA:CPU fuses Rprop's update as before, copies included). Every
  float divided by 1 is itself (NaN, infinities and signed zeros included), so no value
  changes; the cost is one division per element.

  Args:
    values: A pytree of float arrays.
    count: An integer array known only at run time (the step count).

  Returns:
    ``values``, bit for bit.

  Example:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix._src import numerics
    >>> print(numerics.computed_once(jnp.array([1.5, -0.0, jnp.inf]), jnp.int32(3)))
    [ 1.5 -0.   inf]
  """
  # In float32, where every count is finite (a float16 count past 65504 is inf; inf * 0 is
  # NaN), then converted: 1 is exact in every float dtype.
  one = jnp.asarray(count).astype(jnp.float32) * 0 + 1
  ones = leafwise.per_dtype(one.astype, values)
  return leafwise.map(lambda value: value / ones[jnp.dtype(value.dtype)], values)


def _unless_nan(x: jax.Array, value: jax.Array) -> jax.Array:
  """``where(isnan(x), x, value)``: ``value``, through a select XLA cannot look past."""
  return select(jax.lax.ne(x, x), x, value)  # isnan, bound directly (not a jitted ufunc)


def select(pred: jax.typing.ArrayLike, on_true: Any, on_false: Any) -> jax.Array:
  """``jnp.where(pred, on_true, on_false)``, as a plain ``lax.select`` where it can be one.

  ``jnp.where`` wraps its select in a nested jitted call, which costs tracing and lowering
  time once per leaf (148 calls per step on a transformer's tree). Where both operands are
  arrays of one dtype and shape and ``pred`` is a scalar or of that shape, this binds the
  select directly (the same compiled program); otherwise it is ``jnp.where``.

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix._src import numerics
    >>> print(numerics.select(jnp.bool_(True), jnp.ones(2), jnp.zeros(2)))
    [1. 1.]
  """
  if (
    isinstance(on_true, jax.Array)
    and isinstance(on_false, jax.Array)
    and on_true.dtype == on_false.dtype
    and on_true.shape == on_false.shape
    and jnp.shape(pred) in ((), on_true.shape)
    and jnp.result_type(pred) == jnp.bool_
  ):
    return jax.lax.select(pred, on_true, on_false)
  return jnp.where(pred, on_true, on_false)
