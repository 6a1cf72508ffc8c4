"""Moment updates and the Adam direction, rounded as torch rounds them.

Shared by :mod:`jaxopt_fix._src.transform` and the ``torch.optim`` twins. Each function
maps over pytrees of updates whose ``None`` leaves (optax's masked-out leaves) stay None.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxopt_fix._src import leafwise
from jaxopt_fix._src import numerics


def _is_none(x: Any) -> bool:
  return x is None


def lerp(start: jax.Array, end: jax.Array, weight: jax.typing.ArrayLike) -> jax.Array:
  """torch's ``start.lerp(end, weight)`` with a scalar weight, rounded as torch rounds it.

  ATen's ``Lerp.h``: ``start + w * (end - start)`` if ``|w| < 0.5``, else
  ``end + (w - 1) * (end - start)``; each is one fused multiply-add in torch's CPU kernels
  and in XLA's (which contracts ``a * b + c``). It is computed in
  :func:`~jaxopt_fix._src.numerics.opmath_dtype` (float32 for bfloat16 and float16 tensors)
  and rounded once, as torch computes it; ``w`` and ``w - 1`` are taken in that dtype, as
  torch does (``w - 1`` is exact by Sterbenz for ``w`` in [0.5, 2]). A concrete weight picks
  its branch when tracing; a traced one selects per call.

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix._src import moments
    >>> print(moments.lerp(jnp.float32(1.0), jnp.float32(3.0), 0.25))
    1.5
  """
  out_dtype = jnp.result_type(start, end)
  weight_dtype = numerics.opmath_dtype(start.dtype)
  w = jnp.asarray(weight, weight_dtype)
  start, end = numerics.to_opmath(start, out_dtype), numerics.to_opmath(end, out_dtype)
  diff = end - start
  concrete = None if numerics.is_traced(weight) else np.asarray(weight, weight_dtype)
  if concrete is None:
    out = jnp.where(jnp.abs(w) < 0.5, start + w * diff, end + (w - 1) * diff)
  else:
    out = start + w * diff if abs(concrete) < 0.5 else end + (w - 1) * diff
  return out.astype(out_dtype)


def add_product(x: jax.Array, alpha: jax.typing.ArrayLike, *factors: jax.Array) -> jax.Array:
  """torch's ``x.add_(a, alpha=alpha)`` (one factor) or ``x.addcmul_(a, b, value=alpha)``
  (two): ``x + alpha * a [* b]`` computed in :func:`~jaxopt_fix._src.numerics.opmath_dtype`
  and rounded once, in that order, as torch's CPU kernels compute it (a concrete ``alpha``
  of 1 is left out). As in torch, ``add_``'s ``alpha`` is first rounded to the result's
  dtype (a bfloat16 ``alpha`` for bfloat16 tensors) and ``addcmul_``'s ``value`` is not.

  Examples:
    In bfloat16 the sum is rounded once, not after each operation:

    >>> import jax.numpy as jnp
    >>> from jaxopt_fix._src import moments
    >>> x, g = jnp.bfloat16(0.5), jnp.bfloat16(1.1953125)
    >>> print(moments.add_product(x, 0.1, g, g), x + 0.1 * g * g)
    0.644531 0.640625
  """
  return opmath_add_product(x, alpha, *factors).astype(jnp.result_type(x, *factors))


def opmath_add_product(x: jax.Array, alpha: jax.typing.ArrayLike, *factors: jax.Array) -> jax.Array:
  """:func:`add_product` before its final rounding: the sum in
  :func:`~jaxopt_fix._src.numerics.opmath_dtype` (for a select to pick before rounding once)."""
  out_dtype = jnp.result_type(x, *factors)
  # One conversion per distinct factor (``addcmul_(g, g)`` squares one): each traced operation
  # costs tracing and lowering time once per leaf.
  wide: dict[int, jax.Array] = {}
  for f in factors:
    if id(f) not in wide:
      wide[id(f)] = numerics.to_opmath(f, out_dtype)
  term, *rest = (wide[id(f)] for f in factors)
  if numerics.is_traced(alpha) or np.asarray(alpha) != 1:
    if not rest:
      alpha = numerics.to_opmath(jnp.asarray(alpha, out_dtype), out_dtype)
    term = alpha * term
  for factor in rest:
    term = term * factor
  return numerics.to_opmath(x, out_dtype) + term


def add_quotient(
  x: jax.Array, value: jax.typing.ArrayLike, numerator: jax.Array, denominator: jax.Array
) -> jax.Array:
  """torch's ``x.addcdiv_(numerator, denominator, value=value)``: ``x + value * numerator /
  denominator`` computed in :func:`~jaxopt_fix._src.numerics.opmath_dtype` and rounded once, as
  torch's CPU kernel computes it. As in torch, ``value`` is not rounded to a bfloat16 tensor's
  dtype (its kernel takes it as a float32); a concrete ``value`` of 1 is left out.

  Examples:
    In bfloat16 the sum is rounded once, not after each operation:

    >>> import jax.numpy as jnp
    >>> from jaxopt_fix._src import moments
    >>> x, g, d = jnp.bfloat16(0.5), jnp.bfloat16(1.1), jnp.bfloat16(0.9)
    >>> print(moments.add_quotient(x, 0.1, g, d), x + jnp.bfloat16(0.1) * g / d)
    0.621094 0.625
  """
  out_dtype = jnp.result_type(x, numerator, denominator)
  x, numerator, denominator = (
    numerics.to_opmath(t, out_dtype) for t in (x, numerator, denominator)
  )
  if numerics.is_traced(value) or np.asarray(value) != 1:
    numerator = jnp.asarray(value).astype(numerator.dtype) * numerator
  return (x + numerator / denominator).astype(out_dtype)


def lerp_moment(
  updates: optax.Updates, moment: optax.Updates, decay: jax.typing.ArrayLike
) -> optax.Updates:
  """torch's ``m.lerp_(g, 1 - decay)`` per leaf: Adam's ``exp_avg.lerp_(grad, 1 - beta1)``.

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix._src import moments
    >>> print(moments.lerp_moment(jnp.ones(2), jnp.zeros(2), 0.9))
    [0.1 0.1]
  """
  return leafwise.map(
    lambda g, m: None if g is None else lerp(m, g, 1 - decay),
    updates,
    moment,
    is_leaf=_is_none,
  )


def ema_moment(
  updates: optax.Updates, moment: optax.Updates, decay: jax.typing.ArrayLike
) -> optax.Updates:
  """``round(m * decay) + (1 - decay) * g``: torch's ``m.mul_(decay).add_(g, alpha=1 - decay)``.

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix._src import moments
    >>> print(moments.ema_moment(jnp.ones(2), jnp.ones(2), 0.5))
    [1. 1.]
  """
  return leafwise.map(
    lambda g, m: (
      None if g is None else add_product(numerics.rounded_product(m, decay), 1 - decay, g)
    ),
    updates,
    moment,
    is_leaf=_is_none,
  )


def ema_squared_moment(
  updates: optax.Updates, moment: optax.Updates, decay: jax.typing.ArrayLike
) -> optax.Updates:
  """``round(v * decay) + (1 - decay) * g * g``: torch's
  ``v.mul_(decay).addcmul_(g, g, value=1 - decay)``.

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix._src import moments
    >>> print(moments.ema_squared_moment(jnp.full(2, 2.0), jnp.zeros(2), 0.75))
    [1. 1.]
  """
  return leafwise.map(
    lambda g, v: (
      None if g is None else add_product(numerics.rounded_product(v, decay), 1 - decay, g, g)
    ),
    updates,
    moment,
    is_leaf=_is_none,
  )


def _reciprocal_root(correction: jax.Array, dtype: jnp.dtype) -> tuple[jax.Array, jax.Array]:
  """``correction`` and ``1 / sqrt(correction)`` in :func:`~jaxopt_fix._src.numerics.opmath_dtype`
  of ``dtype``."""
  c = correction.astype(numerics.opmath_dtype(dtype))
  return c, 1 / numerics.rounded_sqrt(c)


def adam_direction(
  updates: optax.Updates,
  mu: optax.Updates,
  nu: optax.Updates,
  *,
  mu_scale: jax.Array | None,
  nu_correction: jax.Array | None,
  eps: jax.typing.ArrayLike,
  eps_root: jax.typing.ArrayLike,
) -> optax.Updates:
  r"""Per leaf: ``mu * mu_scale / (sqrt(nu + eps_root * c) / sqrt(c) + eps)``.

  ``c = nu_correction`` is the second-moment bias correction 1 - β₂ᵗ, applied
  after the square root as torch does (``sqrt(nu)/sqrt(c)``, not
  ``sqrt(nu/c)``), as a product with the reciprocal ``1 / sqrt(c)`` (a scalar, computed
  once per dtype); ``eps_root`` is scaled by it so that it sits inside the root
  of the *corrected* moment, as in optax. ``None`` for ``mu_scale`` or
  ``nu_correction`` means 1 (the operation is skipped). As in torch, each operation of
  the denominator is rounded to the moment's dtype and the quotient and its scale are
  computed in :func:`~jaxopt_fix._src.numerics.opmath_dtype` (torch's ``addcdiv``); the
  result is rounded once to the dtype of the incoming update.
  """

  # A concrete zero eps_root is left out (torch has none): ``v + 0`` changes no value but
  # -0.0, and costs an operation per element and per leaf.
  no_eps_root = not numerics.is_traced(eps_root) and np.all(np.asarray(eps_root) == 0)

  # Per leaf, XLA would rewrite ``root / sqrt(c)`` into ``root * (1 / sqrt(c))``; it is written
  # so, with the scalar first (as is ``mu_scale``): a product with a broadcast scalar as its
  # second operand made XLA fuse one leaf of each shape differently from the others (its
  # operands in another order), and each such fusion is one more kernel for LLVM to compile
  # (7 on the transformer benchmark tree). The values are the same bit for bit.
  # ``c`` and ``1 / sqrt(c)`` are taken in the opmath dtype of each moment dtype (torch's are
  # float scalars), before the per-leaf map (:mod:`~jaxopt_fix._src.leafwise`).
  reciprocal_roots = (
    {}
    if nu_correction is None
    else leafwise.per_dtype(lambda dtype: _reciprocal_root(nu_correction, dtype), nu)
  )

  def leaf(g, m, v):
    if g is None:
      return None
    if nu_correction is None:
      denom = jnp.sqrt(v if no_eps_root else v + eps_root)
    else:
      c, reciprocal_root = reciprocal_roots[jnp.dtype(v.dtype)]
      root = jnp.sqrt(v if no_eps_root else v + (eps_root * c).astype(v.dtype))
      denom = (reciprocal_root * numerics.to_opmath(root, v.dtype)).astype(v.dtype)
    denom = denom + eps  # torch's add_ of a scalar: eps rounded to the moment's dtype
    out_dtype = jnp.result_type(m, denom)
    direction = numerics.to_opmath(m, out_dtype) / numerics.to_opmath(denom, out_dtype)
    if mu_scale is not None:
      direction = mu_scale.astype(direction.dtype) * direction
    return direction.astype(g.dtype)

  return leafwise.map(leaf, updates, mu, nu, is_leaf=lambda x: x is None)
