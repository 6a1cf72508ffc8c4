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

from jaxopt_fix._src import numerics


def _is_none(x: Any) -> bool:
  return x is None


def lerp(start: jax.Array, end: jax.Array, weight: jax.typing.ArrayLike) -> jax.Array:
  """torch's ``start.lerp(end, weight)`` with a scalar weight, rounded as torch rounds it.

  ATen's ``Lerp.h``: ``start + w * (end - start)`` if ``|w| < 0.5``, else
  ``end + (w - 1) * (end - start)``; each is one fused multiply-add in torch's CPU kernels
  and in XLA's (which contracts ``a * b + c``). ``w`` and ``w - 1`` are taken in the
  tensor's dtype, as torch does (``w - 1`` is exact by Sterbenz for ``w`` in [0.5, 2]). A
  concrete weight picks its branch when tracing; a traced one selects per call.

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix._src import moments
    >>> print(moments.lerp(jnp.float32(1.0), jnp.float32(3.0), 0.25))
    1.5
  """
  w = jnp.asarray(weight, start.dtype)
  diff = end - start
  concrete = None if numerics.is_traced(weight) else np.asarray(weight, start.dtype)
  if concrete is None:
    return jnp.where(jnp.abs(w) < 0.5, start + w * diff, end + (w - 1) * diff)
  return start + w * diff if abs(concrete) < 0.5 else end + (w - 1) * diff


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
  return jax.tree.map(
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
  return jax.tree.map(
    lambda g, m: None if g is None else numerics.rounded_product(m, decay) + (1 - decay) * g,
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
  return jax.tree.map(
    lambda g, v: None if g is None else numerics.rounded_product(v, decay) + (1 - decay) * g * g,
    updates,
    moment,
    is_leaf=_is_none,
  )


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
  ``sqrt(nu/c)``); ``eps_root`` is scaled by it so that it sits inside the root
  of the *corrected* moment, as in optax. ``None`` for ``mu_scale`` or
  ``nu_correction`` means 1 (the operation is skipped). The result has the
  dtype of the incoming update.
  """

  def leaf(g, m, v):
    if g is None:
      return None
    if nu_correction is None:
      denom = jnp.sqrt(v + eps_root)
    else:
      c = nu_correction.astype(v.dtype)
      denom = jnp.sqrt(v + eps_root * c) / numerics.rounded_sqrt(c)
    direction = m / (denom + eps)
    if mu_scale is not None:
      direction = direction * mu_scale.astype(direction.dtype)
    return direction.astype(g.dtype)

  return jax.tree.map(leaf, updates, mu, nu, is_leaf=lambda x: x is None)
