r"""Twin of ``torch.optim.RMSprop``."""

from __future__ import annotations

from typing import Any
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxopt_fix._src import leafwise
from jaxopt_fix._src import moments
from jaxopt_fix._src import numerics
from jaxopt_fix.torch_optim import _common
from jaxopt_fix.torch_optim import _state_schema as S


class ScaleByTorchRMSpropState(NamedTuple):
  """Per-parameter state with ``torch.optim.RMSprop``'s keys (``momentum_buffer`` is None
  unless ``momentum > 0``, ``grad_avg`` None unless ``centered``).

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix import torch_optim
    >>> state = torch_optim.scale_by_torch_rmsprop(centered=True).init(jnp.zeros(2))
    >>> state._fields
    ('step', 'square_avg', 'momentum_buffer', 'grad_avg')
    >>> print(state.momentum_buffer, state.grad_avg)  # no momentum: no buffer
    None [0. 0.]
  """

  step: jax.typing.ArrayLike  # int32 (), saturating; torch's is a float32 tensor.
  square_avg: optax.Updates
  momentum_buffer: Any  # a tree like square_avg, or None
  grad_avg: Any  # a tree like square_avg, or None


SCHEMA = S.StateSchema(
  ScaleByTorchRMSpropState,
  S.Step(),
  S.PerParameter("square_avg"),
  S.PerParameter("momentum_buffer", optional=True),
  S.PerParameter("grad_avg", optional=True),
)
"""How each field maps to torch's state (see :mod:`jaxopt_fix.torch_optim._state_schema`)."""


def _uses_momentum(momentum: Any) -> bool:
  """torch's ``momentum > 0``; a traced momentum keeps a buffer."""
  value = _common.concrete_or_none(momentum)
  return value is None or value > 0.0


def _minus_square(v: jax.Array, m: jax.Array) -> jax.Array:
  """torch's ``v.addcmul(m, m, value=-1)``: ``v - m * m`` in float32 for bfloat16 tensors,
  rounded once (rounding ``m * m`` first would cancel catastrophically where ``v ~ m * m``)."""
  out_dtype = jnp.result_type(v, m)
  m = numerics.to_opmath(m, out_dtype)
  return (numerics.to_opmath(v, out_dtype) - m * m).astype(out_dtype)


def scale_by_torch_rmsprop(
  alpha: jax.typing.ArrayLike = 0.99,
  eps: jax.typing.ArrayLike = 1e-8,
  momentum: jax.typing.ArrayLike | optax.Schedule = 0.0,
  *,
  centered: bool = False,
) -> optax.GradientTransformation:
  r"""The direction of ``torch.optim.RMSprop``'s single-tensor step (no lr, no weight decay).

  .. math::

    v_t = \alpha v_{t-1} + (1 - \alpha) g_t^2, \quad
    \bar g_t = \operatorname{lerp}(\bar g_{t-1}, g_t, 1 - \alpha), \quad
    a_t = \sqrt{v_t - \bar g_t^2 \text{ if centered else } v_t} + \epsilon,

    b_t = \mu b_{t-1} + g_t / a_t, \quad
    d_t = b_t \text{ if } \mu > 0 \text{ else } g_t / a_t,

  with :math:`v_0 = \bar g_0 = b_0 = 0`. No bias correction: ``step`` is only counted.

  Args:
    alpha: ``alpha``, the decay of both averages.
    eps: ``eps``, added outside the square root.
    momentum: ``momentum``; 0 keeps no buffer. Or a schedule of the step count (the
      ``momentum`` of :func:`~jaxopt_fix.torch_optim.lr_scheduler.one_cycle_lr` and
      ``cyclic_lr``), evaluated at ``step`` before it is incremented.
    centered: ``centered``: divide by the root of the variance estimate.

  Returns:
    A :class:`optax.GradientTransformation` with a :class:`ScaleByTorchRMSpropState`.

  Examples:
    No bias correction: the first step divides by ``sqrt(1 - alpha) |g|``, ten times
    ``lr`` at ``alpha=0.99``:

    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> params, grads = jnp.array([1.0, -1.0]), jnp.array([0.5, -2.0])
    >>> tx = optax.chain(torch_optim.scale_by_torch_rmsprop(), optax.scale(-0.01))
    >>> updates, state = tx.update(grads, tx.init(params))
    >>> print(updates, optax.tree.get(state, "square_avg"))
    [-0.09999998  0.09999999] [0.0025 0.04  ]
    >>> twin = torch_optim.rmsprop(lr=0.01)  # the same step
    >>> bool((twin.update(grads, twin.init(params), params)[0] == updates).all())
    True
  """
  uses_momentum = _uses_momentum(momentum)

  def init_fn(params):
    return ScaleByTorchRMSpropState(
      step=jnp.zeros([], jnp.int32),
      square_avg=optax.tree.zeros_like(params),
      momentum_buffer=optax.tree.zeros_like(params) if uses_momentum else None,
      grad_avg=optax.tree.zeros_like(params) if centered else None,
    )

  def update_fn(updates, state, params=None):
    del params
    mu = momentum(state.step) if callable(momentum) else momentum
    none = lambda x: x is None
    square_avg = moments.ema_squared_moment(updates, state.square_avg, alpha)
    if centered:
      grad_avg = moments.lerp_moment(updates, state.grad_avg, alpha)
      # torch: avg = square_avg.addcmul(grad_avg, grad_avg, value=-1).sqrt_().add_(eps).
      avgs = leafwise.map(
        lambda v, m: None if v is None else numerics.sqrt_plus(_minus_square(v, m), eps),
        square_avg,
        grad_avg,
        is_leaf=none,
      )
    else:
      grad_avg = None
      avgs = leafwise.map(  # torch: avg = square_avg.sqrt().add_(eps)
        lambda v: None if v is None else numerics.sqrt_plus(v, eps), square_avg, is_leaf=none
      )
    old_buffers = state.momentum_buffer
    if old_buffers is not None:
      # torch: buf.mul_(momentum).addcdiv_(grad, avg). A traced momentum keeps the buffer:
      # at 0 it holds g / avg, the same direction as without one.
      buffers = leafwise.map(
        lambda g, b, avg: (
          None if g is None else moments.add_quotient(numerics.rounded_product(b, mu), 1, g, avg)
        ),
        updates,
        old_buffers,
        avgs,
        is_leaf=none,
      )
      directions = jax.tree.map(  # a cast: nothing to trace once
        lambda g, b: None if g is None else b.astype(g.dtype), updates, buffers, is_leaf=none
      )
      buffers = optax.tree.cast_like(buffers, old_buffers)
    else:
      buffers = None
      directions = leafwise.map(
        lambda g, avg: None if g is None else (g / avg).astype(g.dtype),
        updates,
        avgs,
        is_leaf=none,
      )
    return directions, ScaleByTorchRMSpropState(
      step=optax.safe_increment(state.step),
      square_avg=optax.tree.cast_like(square_avg, state.square_avg),
      momentum_buffer=buffers,
      grad_avg=optax.tree.cast_like(grad_avg, state.grad_avg) if centered else None,
    )

  return optax.GradientTransformation(init_fn, update_fn)


def _check_rmsprop(lr, alpha, eps, weight_decay, momentum) -> None:
  _common.check_lr(lr)
  _common.check_at_least("Invalid epsilon value", eps, 0.0)
  _common.check_at_least("Invalid momentum value", momentum, 0.0)
  _common.check_at_least("Invalid weight_decay value", weight_decay, 0.0)
  _common.check_at_least("Invalid alpha value", alpha, 0.0)


@_common.twin
def rmsprop(
  lr: optax.ScalarOrSchedule = 1e-2,
  alpha: jax.typing.ArrayLike = 0.99,
  eps: jax.typing.ArrayLike = 1e-8,
  weight_decay: jax.typing.ArrayLike = 0.0,
  momentum: jax.typing.ArrayLike | optax.Schedule = 0.0,
  centered: bool = False,
  capturable: bool = False,
  foreach: bool | None = None,
  maximize: bool = False,
  differentiable: bool = False,
) -> optax.GradientTransformationExtraArgs:
  r"""``torch.optim.RMSprop``, step for step: same keywords, defaults and trajectory.

  ``maximize`` negates the gradient; ``weight_decay`` is L2 (``g + wd * p``, before the
  averages). The direction is :func:`scale_by_torch_rmsprop`; the learning rate may be a
  float or an optax schedule (evaluated at count 0 on the first step) and multiplies the
  momentum buffer *after* it is accumulated, as in torch:
  :math:`p_t = p_{t-1} - \mathrm{lr}_t\, d_t`.

  Args:
    lr: Learning rate, >= 0, or an optax schedule.
    alpha: Decay of the averages, >= 0 (torch accepts values above 1).
    eps: Added to the square root, >= 0.
    weight_decay: L2 penalty, >= 0.
    momentum: Momentum factor, >= 0; 0 keeps no buffer; or a schedule (see
      :func:`scale_by_torch_rmsprop`).
    centered: Divide by the root of the variance estimate ``v - mean(g)**2``.
    capturable: Accepted for torch compatibility; no effect on the math. torch accepts
      ``capturable=True`` at construction and refuses it at ``step`` for CPU tensors;
      the twin computes the same update on every device.
    foreach: Accepted for torch compatibility; no effect on the math.
    maximize: Maximize the objective instead of minimizing it.
    differentiable: Accepted for torch compatibility; no effect on the math.

  Returns:
    The corresponding :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    ValueError: with torch's message, for the values torch rejects.

  Examples:
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> tx = torch_optim.rmsprop(lr=0.01, alpha=0.75, eps=0.0)
    >>> params = jnp.array([1.0, -1.0])
    >>> updates, _ = tx.update(jnp.array([3.0, -4.0]), tx.init(params), params)
    >>> print(np.asarray(optax.apply_updates(params, updates)).round(4))  # 0.01 * g / (|g| / 2)
    [ 0.98 -0.98]

  .. warning::
    Differences from ``optax.rmsprop``: optax's default ``eps_in_sqrt=True`` puts
    ``eps`` inside the square root (torch: outside), its ``decay`` defaults to 0.9
    (torch's ``alpha``: 0.99), it has ``initial_scale``, ``nesterov`` and
    ``bias_correction`` that torch lacks and no ``maximize`` or weight decay; its
    momentum ``trace`` comes *after* the learning rate, so the buffer accumulates
    lr-scaled steps (torch multiplies the buffer by lr afterwards): the same for a
    constant lr, different under a schedule. The closest plain-optax recipe is
    ``optax.chain(optax.add_decayed_weights(wd), optax.rmsprop(lr, decay=alpha,
    eps=eps, eps_in_sqrt=False, centered=centered, momentum=momentum or None))``.
    Differences from torch: ``step`` is a saturating int32 (torch's is a float32 tensor
    that freezes at 2**24; neither uses it); without momentum the update is
    ``-lr * (g / avg)`` (torch: ``(-lr * g) / avg``); torch's CPU square root is not
    correctly rounded (in float32 one ulp off in about 20% of elements), XLA's is. Each
    costs at most an ulp of a step, which weight decay feeds back into the averages.
  """
  del capturable, foreach, differentiable
  lr, alpha, eps, weight_decay, momentum = (
    _common.hyperparameter(v) for v in (lr, alpha, eps, weight_decay, momentum)
  )
  _check_rmsprop(lr, alpha, eps, weight_decay, momentum)
  return _common.torch_chain(
    scale_by_torch_rmsprop(alpha, eps, momentum, centered=centered),
    lr=lr,
    weight_decay=weight_decay,
    maximize_=maximize,
  )
