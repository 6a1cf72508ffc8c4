r"""Twin of ``torch.optim.SparseAdam``, for dense JAX gradients."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxopt_fix._src import leafwise
from jaxopt_fix._src import numerics
from jaxopt_fix.torch_optim import _common
from jaxopt_fix.torch_optim import _state_schema as S


class ScaleByTorchSparseAdamState(NamedTuple):
  """Per-parameter state with ``torch.optim.SparseAdam``'s keys.

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix import torch_optim
    >>> state = torch_optim.scale_by_torch_sparse_adam().init(jnp.zeros(2))
    >>> state._fields
    ('step', 'exp_avg', 'exp_avg_sq')
    >>> print(state.step, state.exp_avg)
    0 [0. 0.]
  """

  step: jax.typing.ArrayLike  # int32 (), saturating; torch's is a Python int.
  exp_avg: optax.Updates
  exp_avg_sq: optax.Updates


SCHEMA = S.StateSchema(
  ScaleByTorchSparseAdamState,
  S.Step(torch_type="int"),
  S.PerParameter("exp_avg"),
  S.PerParameter("exp_avg_sq"),
)
"""How each field maps to torch's state (see :mod:`jaxopt_fix.torch_optim._state_schema`)."""


def scale_by_torch_sparse_adam(
  b1: jax.typing.ArrayLike = 0.9,
  b2: jax.typing.ArrayLike = 0.999,
  eps: jax.typing.ArrayLike = 1e-8,
) -> optax.GradientTransformation:
  r"""The direction of ``torch.optim.SparseAdam`` fed ``grad.to_sparse()`` (no lr).

  Only the elements where the gradient is non-zero (``g != 0``; NaN counts as non-zero,
  ``-0.0`` as zero) are touched; there,

  .. math::

    m_t = m_{t-1} + (1 - \beta_1)(g_t - m_{t-1}), \quad
    v_t = v_{t-1} + (1 - \beta_2)(g_t^2 - v_{t-1}), \quad
    d_t = \frac{m_t}{\sqrt{v_t} + \epsilon} \cdot \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t},

  each product rounded on its own as torch does, and elsewhere the moments keep their
  values and the direction is 0. The step :math:`t` counts every call, whether or not
  an element had a gradient (torch's ``step`` counts optimizer steps, not per-element
  updates), so the bias correction is the dense one: "lazy Adam".

  Args:
    b1: ``betas[0]``.
    b2: ``betas[1]``.
    eps: ``eps``, added after the square root (not bias-corrected).

  Returns:
    A :class:`optax.GradientTransformation` with a :class:`ScaleByTorchSparseAdamState`.

  Examples:
    Where the gradient is zero, neither the moments nor the parameter move:

    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> params, grads = jnp.array([1.0, -1.0]), jnp.array([0.5, 0.0])
    >>> tx = optax.chain(torch_optim.scale_by_torch_sparse_adam(), optax.scale(-0.1))
    >>> updates, state = tx.update(grads, tx.init(params))
    >>> print(updates, state[0].exp_avg)
    [-0.09999993 -0.        ] [0.05 0.  ]
    >>> twin = torch_optim.sparse_adam(lr=0.1)  # the same step
    >>> bool((twin.update(grads, twin.init(params), params)[0] == updates).all())
    True
  """

  def init_fn(params):
    return ScaleByTorchSparseAdamState(
      step=jnp.zeros([], jnp.int32),
      exp_avg=optax.tree.zeros_like(params),
      exp_avg_sq=optax.tree.zeros_like(params),
    )

  def update_fn(updates, state, params=None):
    del params
    step = optax.safe_increment(state.step)
    scale = jnp.sqrt(numerics.one_minus_power(b2, step)) / numerics.one_minus_power(b1, step)

    def leaf(g, m, v):
      touched = g != 0
      # torch: grad.sub(old).mul_(1 - beta1), then old + that (a rounded product, no FMA).
      new_m = m + numerics.rounded_product(g - m, jnp.asarray(1 - b1, m.dtype))
      new_v = v + numerics.rounded_product(
        numerics.rounded_product(g, g) - v, jnp.asarray(1 - b2, v.dtype)
      )
      new_m = jnp.where(touched, new_m, m)
      new_v = jnp.where(touched, new_v, v)
      ratio = new_m / (jnp.sqrt(new_v) + jnp.asarray(eps, new_v.dtype))
      direction = jnp.where(touched, ratio * scale.astype(ratio.dtype), jnp.zeros_like(ratio))
      return direction.astype(g.dtype), new_m.astype(m.dtype), new_v.astype(v.dtype)

    out = leafwise.map(leaf, updates, state.exp_avg, state.exp_avg_sq)
    directions, exp_avg, exp_avg_sq = _common.unzip(updates, out, 3)
    return directions, ScaleByTorchSparseAdamState(
      step=step, exp_avg=exp_avg, exp_avg_sq=exp_avg_sq
    )

  return optax.GradientTransformation(init_fn, update_fn)


@_common.twin
def sparse_adam(
  lr: optax.ScalarOrSchedule = 1e-3,
  betas: tuple[jax.typing.ArrayLike, jax.typing.ArrayLike] = (0.9, 0.999),
  eps: jax.typing.ArrayLike = 1e-8,
  maximize: bool = False,
) -> optax.GradientTransformationExtraArgs:
  r"""``torch.optim.SparseAdam`` for dense gradients: masked ("lazy") Adam.

  torch's SparseAdam accepts only sparse gradients and updates the moments and the
  parameters at their stored entries only. JAX gradients are dense, so this twin treats
  the *non-zero* elements of the gradient as the stored entries: it follows torch's step
  exactly for ``p.grad = g.to_sparse()`` (which stores the non-zero elements of ``g``).
  An element whose gradient is exactly zero keeps its moments and its parameter; the
  bias correction uses the global step count (see :func:`scale_by_torch_sparse_adam`).
  ``maximize`` negates the gradient first; there is no weight decay, as in torch.

  Args:
    lr: Learning rate, > 0, or an optax schedule.
    betas: ``(b1, b2)``, each in [0, 1).
    eps: Added to the denominator, > 0.
    maximize: Maximize the objective instead of minimizing it.

  Returns:
    The corresponding :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    ValueError: with torch's message, for the values torch rejects.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> tx = torch_optim.sparse_adam(lr=0.1)
    >>> params = jnp.array([1.0, -1.0])
    >>> updates, state = tx.update(jnp.array([0.5, 0.0]), tx.init(params), params)
    >>> print(optax.apply_updates(params, updates).round(4), optax.tree.get(state, "exp_avg"))
    [ 0.9 -1. ] [0.05 0.  ]

  .. warning::
    optax has no masked Adam; ``optax.adam`` (or this package's ``adam``) updates every
    element, including the moments and parameters of zero-gradient elements, which is
    what torch's SparseAdam avoids. No plain-optax recipe does this (``optax.masked``
    masks whole parameters, not elements). The moment updates are
    torch's ``old + (1 - b)(new - old)`` with each product rounded (not ``lerp``).
    Differences from torch: gradients are dense (an explicitly stored zero of a torch
    sparse gradient would update the moments there, a zero here does not); ``step`` is
    a saturating int32; bias corrections are ``-expm1(t log beta)`` rather than
    ``1 - beta**t``.
  """
  lr, b1, b2 = (_common.hyperparameter(v) for v in (lr, *betas))
  if not callable(lr):
    _common.check_at_least("Invalid learning rate", lr, 0.0, strict=True)
  _common.check_at_least("Invalid epsilon value", eps, 0.0, strict=True)
  _common.check_unit_interval("Invalid beta parameter at index 0", b1)
  _common.check_unit_interval("Invalid beta parameter at index 1", b2)
  return optax.chain(
    _common.maximize(maximize),
    scale_by_torch_sparse_adam(b1, b2, eps),
    _common.learning_rate(lr),
  )
