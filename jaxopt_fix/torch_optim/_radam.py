r"""Twin of ``torch.optim.RAdam``."""

from __future__ import annotations

from fractions import Fraction
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxopt_fix._src import leafwise
from jaxopt_fix._src import moments
from jaxopt_fix._src import numerics
from jaxopt_fix.torch_optim import _common
from jaxopt_fix.torch_optim import _state_schema as S


class ScaleByTorchRAdamState(NamedTuple):
  """Per-parameter state with ``torch.optim.RAdam``'s keys.

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix import torch_optim
    >>> state = torch_optim.scale_by_torch_radam().init(jnp.zeros(2))
    >>> state._fields
    ('step', 'exp_avg', 'exp_avg_sq')
    >>> print(state.step, state.exp_avg_sq)
    0 [0. 0.]
  """

  step: jax.typing.ArrayLike  # int32 (), saturating; torch's is a float32 tensor.
  exp_avg: optax.Updates
  exp_avg_sq: optax.Updates


SCHEMA = S.StateSchema(
  ScaleByTorchRAdamState, S.Step(), S.PerParameter("exp_avg"), S.PerParameter("exp_avg_sq")
)
"""How each field maps to torch's state (see :mod:`jaxopt_fix.torch_optim._state_schema`)."""


def _coth_series_coefficients(terms: int) -> tuple[float, ...]:
  """``c_n = 2**(2n) B_(2n) / (2n)!``: ``coth(y) - 1/y = sum_n c_n y**(2n - 1)``, |y| < pi."""
  bernoulli: list[Fraction] = [Fraction(1)]
  for m in range(1, 2 * terms + 1):
    total = sum((math.comb(m + 1, k) * bernoulli[k] for k in range(m)), Fraction(0))
    bernoulli.append(-total / (m + 1))
  return tuple(
    float(Fraction(4**n) * bernoulli[2 * n] / math.factorial(2 * n)) for n in range(1, terms + 1)
  )


# Twelve terms reach float64's precision for |y| <= 1/2 (each term is ~(y/pi)**2 the last).
_COTH_SERIES = _coth_series_coefficients(12)
_SERIES_LIMIT = 0.5


def _coth_minus_reciprocal(y: jax.Array) -> jax.Array:
  """``coth(y) - 1/y`` for ``0 <= y <= 1/2``, by its Taylor series (no cancellation)."""
  y2 = y * y
  total = jnp.zeros_like(y)
  for c in reversed(_COTH_SERIES):
    total = total * y2 + c
  return total * y


def _max_sma_length(b2: jax.typing.ArrayLike, dtype) -> jax.Array:
  """torch's ``rho_inf = 2 / (1 - b2) - 1``, in float64 on the host when ``b2`` is concrete."""
  if numerics.is_traced(b2):
    return 2 / (1 - jnp.asarray(b2, dtype)) - 1
  return jnp.asarray(2 / (1 - np.asarray(b2, np.float64)) - 1, dtype)


def sma_length(b2: jax.typing.ArrayLike, step: jax.typing.ArrayLike) -> jax.Array:
  r"""RAdam's :math:`\rho_t = \rho_\infty - 2 t \beta_2^t / (1 - \beta_2^t)`, accurately.

  Written as torch writes it, the difference cancels: :math:`\rho_\infty = 2/(1-\beta_2) - 1`
  is 1999 at :math:`\beta_2` = 0.999 while :math:`\rho_1 = 1`, so float32 arithmetic
  (optax's) gives :math:`\rho_1` = 0.974 and :math:`\rho_6` = 5.975 (exact: 5.994), and
  torch's float64 loses up to 2e-12 relative at :math:`t` = 7. With
  :math:`x = -\log\beta_2`, :math:`\rho_\infty = \coth(x/2)` and
  :math:`2t\beta_2^t/(1 - \beta_2^t) = t(\coth(tx/2) - 1)`, so with
  :math:`G(y) = \coth y - 1/y` (a Taylor series without cancellation for small y):

  .. math::

    \rho_t = t + G(x/2) - t\,G(tx/2) \quad (tx/2 \le 1/2), \qquad
    \rho_t = \rho_\infty - \frac{2t}{\operatorname{expm1}(tx)} \quad \text{otherwise},

  where the second form loses at most a factor 2.4 of the dtype's precision.

  Args:
    b2: :math:`\beta_2` in [0, 1): a Python float, a concrete array or a tracer.
    step: The step :math:`t \ge 1`, an integer array.

  Returns:
    :math:`\rho_t` in :func:`jaxopt_fix._src.numerics.compute_dtype`.
  """
  dtype = numerics.compute_dtype()
  x = -jnp.asarray(numerics.log_decay(b2), dtype)
  rho_inf = _max_sma_length(b2, dtype)
  t = jnp.asarray(step, dtype)
  y = t * x / 2
  small = y <= _SERIES_LIMIT
  # Each branch is evaluated on an argument it is accurate for; where selects.
  y_series = jnp.where(small, y, 0.0)
  series = (
    t
    + _coth_minus_reciprocal(jnp.minimum(x / 2, _SERIES_LIMIT))
    - t * (_coth_minus_reciprocal(y_series))
  )
  direct = rho_inf - 2 * t / jnp.expm1(jnp.where(small, 1.0, t * x))
  return jnp.where(small, series, direct)


def scale_by_torch_radam(
  b1: jax.typing.ArrayLike | optax.Schedule = 0.9,
  b2: jax.typing.ArrayLike = 0.999,
  eps: jax.typing.ArrayLike = 1e-8,
) -> optax.GradientTransformation:
  r"""The direction of ``torch.optim.RAdam``'s single-tensor step (no lr, no weight decay).

  .. math::

    m_t = \operatorname{lerp}(m_{t-1}, g_t, 1 - \beta_1), \quad
    v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \quad
    \hat m_t = m_t / (1 - \beta_1^t),

    d_t = \hat m_t \cdot \frac{\sqrt{1 - \beta_2^t}}{\sqrt{v_t} + \epsilon} \cdot r_t
      \text{ if } \rho_t > 5 \text{ else } \hat m_t, \qquad
    r_t = \sqrt{\frac{(\rho_t - 4)(\rho_t - 2)\rho_\infty}
      {(\rho_\infty - 4)(\rho_\infty - 2)\rho_t}},

  with :math:`\rho_t` from :func:`sma_length`. The threshold is strict and ``eps`` is added
  to the *uncorrected* :math:`\sqrt{v_t}`, as in torch.

  Args:
    b1: ``betas[0]``, or a schedule of the step count (the ``momentum`` of
      :func:`~jaxopt_fix.torch_optim.lr_scheduler.one_cycle_lr` and ``cyclic_lr``), evaluated
      at ``step`` before it is incremented.
    b2: ``betas[1]``.
    eps: ``eps``.

  Returns:
    A :class:`optax.GradientTransformation` with a :class:`ScaleByTorchRAdamState`.

  Examples:
    Before the rectifier's threshold (the first five steps at ``b2=0.999``) the
    direction is the bias-corrected first moment, not normalised:

    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> params, grads = jnp.array([1.0, -1.0]), jnp.array([0.5, -2.0])
    >>> tx = optax.chain(torch_optim.scale_by_torch_radam(), optax.scale(-0.1))
    >>> updates, state = tx.update(grads, tx.init(params))
    >>> print(updates)
    [-0.05000001  0.20000003]
    >>> twin = torch_optim.radam(lr=0.1)  # the same step
    >>> bool((twin.update(grads, twin.init(params), params)[0] == updates).all())
    True
  """

  def init_fn(params):
    return ScaleByTorchRAdamState(
      step=jnp.zeros([], jnp.int32),
      exp_avg=optax.tree.zeros_like(params),
      exp_avg_sq=optax.tree.zeros_like(params),
    )

  def update_fn(updates, state, params=None):
    del params
    beta1 = b1(state.step) if callable(b1) else b1
    step = optax.safe_increment(state.step)
    exp_avg = moments.lerp_moment(updates, state.exp_avg, beta1)
    exp_avg_sq = moments.ema_squared_moment(updates, state.exp_avg_sq, b2)
    bias_correction1 = numerics.one_minus_power(beta1, step)
    sqrt_bias_correction2 = jnp.sqrt(numerics.one_minus_power(b2, step))
    rho_t = numerics.computed_once(sma_length(b2, step), step)
    rho_inf = _max_sma_length(b2, rho_t.dtype)
    rectified = rho_t > 5.0
    # 1 where not selected: the ratio is negative where rho_t < 4, and a NaN there would
    # reach jax.grad through the unselected branch of the where below.
    ratio = (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
    rect = jnp.sqrt(jnp.where(rectified, ratio, 1.0))

    def direction(g, m, v):
      if g is None:
        return None
      # The scalars stay in float32 for bfloat16 moments (torch's are Python floats).
      scalar_dtype = numerics.opmath_dtype(m.dtype)
      corrected = m / bias_correction1.astype(scalar_dtype)
      adaptive = 1 / (jnp.sqrt(v) + eps) * sqrt_bias_correction2.astype(scalar_dtype)
      return numerics.select(
        rectified, corrected * adaptive * rect.astype(scalar_dtype), corrected
      ).astype(g.dtype)

    directions = leafwise.map(direction, updates, exp_avg, exp_avg_sq, is_leaf=lambda x: x is None)
    return directions, ScaleByTorchRAdamState(
      step=step,
      exp_avg=optax.tree.cast_like(exp_avg, state.exp_avg),
      exp_avg_sq=optax.tree.cast_like(exp_avg_sq, state.exp_avg_sq),
    )

  return optax.GradientTransformation(init_fn, update_fn)


@_common.twin
def radam(
  lr: optax.ScalarOrSchedule = 1e-3,
  betas: tuple[jax.typing.ArrayLike | optax.Schedule, jax.typing.ArrayLike] = (0.9, 0.999),
  eps: jax.typing.ArrayLike = 1e-8,
  weight_decay: jax.typing.ArrayLike = 0.0,
  decoupled_weight_decay: bool = False,
  *,
  foreach: bool | None = None,
  maximize: bool = False,
  capturable: bool = False,
  differentiable: bool = False,
) -> optax.GradientTransformationExtraArgs:
  r"""``torch.optim.RAdam``, step for step: same keywords, defaults and trajectory.

  ``maximize`` negates the gradient; ``weight_decay`` is L2 (``g + wd * p``, before the
  moments) unless ``decoupled_weight_decay`` (``p *= 1 - lr * wd``, as AdamW). The
  direction is :func:`scale_by_torch_radam`; the learning rate may be a float or an optax
  schedule (evaluated at count 0 on the first step).

  Args:
    lr: Learning rate, >= 0, or an optax schedule.
    betas: ``(b1, b2)``, each in [0, 1).
    eps: Added to the uncorrected ``sqrt(v)`` in the rectified steps, >= 0.
    weight_decay: >= 0.
    decoupled_weight_decay: AdamW-style weight decay.
    foreach: Accepted for torch compatibility; no effect on the math.
    maximize: Maximize the objective instead of minimizing it.
    capturable: Accepted for torch compatibility; no effect on the math. torch accepts
      ``capturable=True`` at construction and refuses it at ``step`` for CPU tensors;
      the twin computes the same update on every device.
    differentiable: Accepted for torch compatibility; no effect on the math.

  Returns:
    The corresponding :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    ValueError: with torch's message, for the values torch rejects.

  Examples:
    The first steps (:math:`\rho_t \le 5`) are bias-corrected momentum SGD:

    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> tx = torch_optim.radam(lr=0.5)
    >>> params = jnp.array([1.0, -1.0])
    >>> updates, _ = tx.update(jnp.array([0.5, -1.0]), tx.init(params), params)
    >>> print(optax.apply_updates(params, updates).round(4))
    [ 0.75 -0.5 ]
    >>> from jaxopt_fix.torch_optim._radam import sma_length
    >>> print([round(float(sma_length(0.999, t)), 4) for t in (1, 5, 6)])
    [1.0, 4.996, 5.9942]

  .. warning::
    Differences from ``optax.radam``: optax rectifies when :math:`\rho_t \ge 5`
    (torch: :math:`> 5`), adds ``eps`` to the bias-corrected :math:`\sqrt{\hat v_t}`
    (torch: to the uncorrected :math:`\sqrt{v_t}`, i.e. an effective
    :math:`\epsilon / \sqrt{1 - \beta_2^t}`) and computes :math:`\rho_t` in float32 with
    cancellation (:math:`\rho_6` = 5.975 instead of 5.994 at :math:`\beta_2` = 0.999, a
    0.6% smaller first rectifier); it has no weight decay and no ``maximize``. The closest
    plain-optax recipe is ``optax.chain(optax.add_decayed_weights(wd),
    optax.radam(lr, b1, b2, eps))``, equal only up to those differences. Differences from
    torch: ``step`` is a saturating int32 (torch's float32 ``step`` freezes at 2**24); the
    bias corrections are ``-expm1(t log beta)`` rather than ``1 - beta**t``;
    :math:`\rho_t` comes from :func:`sma_length`, accurate in the compute dtype, where
    torch's float64 formula loses up to 2e-12 to cancellation: a step whose :math:`\rho_t` is
    within that (or, in float32, within ~2e-7 relative) of 5 may be rectified on one side
    only.
  """
  del foreach, capturable, differentiable
  lr, b1, b2 = (_common.hyperparameter(v) for v in (lr, *betas))
  _common.check_lr(lr)
  _common.check_at_least("Invalid epsilon value", eps, 0.0)
  _common.check_unit_interval("Invalid beta parameter at index 0", b1)
  _common.check_unit_interval("Invalid beta parameter at index 1", b2)
  _common.check_at_least("Invalid weight_decay value", weight_decay, 0.0)
  return _common.torch_chain(
    scale_by_torch_radam(b1, b2, eps),
    lr=lr,
    weight_decay=weight_decay,
    decoupled=decoupled_weight_decay,
    maximize_=maximize,
  )
