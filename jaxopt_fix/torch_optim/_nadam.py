r"""Twin of ``torch.optim.NAdam``."""

from __future__ import annotations

import functools
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


class ScaleByTorchNAdamState(NamedTuple):
  """Per-parameter state with ``torch.optim.NAdam``'s keys.

  ``step`` and ``mu_product`` are scalars shared by every leaf (torch keeps one per
  parameter tensor, all equal).

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix import torch_optim
    >>> state = torch_optim.scale_by_torch_nadam().init(jnp.zeros(2))
    >>> state._fields
    ('step', 'mu_product', 'exp_avg', 'exp_avg_sq')
    >>> print(state.step, state.mu_product)
    0 1.0
  """

  step: jax.typing.ArrayLike  # int32 (), saturating; torch's is a float32 tensor.
  mu_product: jax.typing.ArrayLike  # float32 (), as torch's (see scale_by_torch_nadam).
  exp_avg: optax.Updates
  exp_avg_sq: optax.Updates


SCHEMA = S.StateSchema(
  ScaleByTorchNAdamState,
  S.Step(),
  S.GroupScalar("mu_product"),
  S.PerParameter("exp_avg"),
  S.PerParameter("exp_avg_sq"),
)
"""How each field maps to torch's state (see :mod:`jaxopt_fix.torch_optim._state_schema`)."""


def _momentum_cache(b1, momentum_decay, step):
  """torch's ``b1 * (1 - 0.5 * 0.96 ** (step * momentum_decay))``, in the compute dtype.

  Written ``b1 * (0.5 - 0.5 * expm1(step * momentum_decay * log(0.96)))``, with the
  constant and a Python-float ``b1`` split into two floats of the compute dtype on the host:
  rounding 0.9 to float32 alone would bias every factor of ``mu_product`` by 2.6e-8, a
  drift of 3e-6 after 100 steps. In float64 the result rounds to torch's float32
  ``mu`` bit for bit; in float32 it is within an ulp of it.
  """
  dtype = numerics.compute_dtype()
  t = jnp.asarray(step, dtype)
  if numerics.is_traced(momentum_decay):
    rate = momentum_decay * jnp.log(jnp.asarray(0.96, dtype))
  else:
    rate = jnp.asarray(np.float64(momentum_decay) * np.log(0.96), dtype)
  half_power = 0.5 - 0.5 * jnp.expm1(t * rate)
  if numerics.is_traced(b1):
    return b1 * half_power
  b1_hi = np.asarray(b1, np.float64).astype(dtype)
  b1_lo = (np.float64(b1) - b1_hi.astype(np.float64)).astype(dtype)
  return b1_hi * half_power + b1_lo * half_power


def _init(params, *, mu_product_dtype) -> ScaleByTorchNAdamState:
  return ScaleByTorchNAdamState(
    step=jnp.zeros([], jnp.int32),
    mu_product=jnp.ones([], mu_product_dtype),
    exp_avg=optax.tree.zeros_like(params),
    exp_avg_sq=optax.tree.zeros_like(params),
  )


def _nadam_step(updates, state, b1, b2, momentum_decay):
  """The new state, torch's two coefficients (without ``-lr``) and ``1 - b2**t``."""
  step = optax.safe_increment(state.step)
  dtype = numerics.compute_dtype()
  bias_correction2 = numerics.one_minus_power(b2, step)
  mu = _momentum_cache(b1, momentum_decay, step)
  # step + 1 in the compute dtype: in int32 it wraps once step saturates at 2**31 - 1.
  mu_next = _momentum_cache(b1, momentum_decay, jnp.asarray(step, dtype) + 1)
  # torch: mu_product *= mu, a float32 tensor times a Python float rounded to float32.
  mu_product = state.mu_product * mu.astype(state.mu_product.dtype)
  product = mu_product.astype(dtype)
  grad_scale = (1.0 - mu) / (1.0 - product)
  exp_avg_scale = mu_next / (1.0 - product * mu_next)
  new_state = ScaleByTorchNAdamState(
    step=step,
    mu_product=mu_product,
    exp_avg=optax.tree.cast_like(moments.lerp_moment(updates, state.exp_avg, b1), state.exp_avg),
    exp_avg_sq=optax.tree.cast_like(
      moments.ema_squared_moment(updates, state.exp_avg_sq, b2), state.exp_avg_sq
    ),
  )
  return new_state, grad_scale, exp_avg_scale, bias_correction2


def _denominator(v, bias_correction2, eps):
  """torch's ``exp_avg_sq.div(bias_correction2).sqrt().add_(eps)``."""
  return jnp.sqrt(v / bias_correction2.astype(v.dtype)) + eps


def scale_by_torch_nadam(
  b1: jax.typing.ArrayLike | optax.Schedule = 0.9,
  b2: jax.typing.ArrayLike = 0.999,
  eps: jax.typing.ArrayLike = 1e-8,
  momentum_decay: jax.typing.ArrayLike = 4e-3,
  *,
  mu_product_dtype: jax.typing.DTypeLike = jnp.float32,
) -> optax.GradientTransformation:
  r"""The direction of ``torch.optim.NAdam``'s single-tensor step (no lr, no weight decay).

  With :math:`\psi` = ``momentum_decay`` and the momentum schedule
  :math:`\mu_t = \beta_1 (1 - \tfrac12 \cdot 0.96^{t\psi})`:

  .. math::

    \Pi_t = \Pi_{t-1}\,\mu_t, \quad
    m_t = \operatorname{lerp}(m_{t-1}, g_t, 1 - \beta_1), \quad
    v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \quad
    D_t = \sqrt{v_t / (1 - \beta_2^t)} + \epsilon,

    d_t = \frac{1 - \mu_t}{1 - \Pi_t} \cdot \frac{g_t}{D_t}
      + \frac{\mu_{t+1}}{1 - \Pi_t\,\mu_{t+1}} \cdot \frac{m_t}{D_t}.

  ``mu_product`` (:math:`\Pi_t`) is kept as torch keeps it: a float32 scalar (torch's
  scalar dtype under its default float32 default dtype) multiplied in place by
  :math:`\mu_t` rounded to float32, whatever the parameters' dtype. The coefficients
  are then taken in the compute dtype, as torch takes them in Python floats.

  Args:
    b1: ``betas[0]``, or a schedule of the step count (the ``momentum`` of
      :func:`~jaxopt_fix.torch_optim.lr_scheduler.one_cycle_lr` and ``cyclic_lr``), evaluated
      at ``step`` before it is incremented.
    b2: ``betas[1]``.
    eps: ``eps``.
    momentum_decay: ``momentum_decay`` (:math:`\psi`).
    mu_product_dtype: The dtype of ``mu_product``. ``float32`` matches torch under its
      default dtype; ``float64`` matches torch after
      ``torch.set_default_dtype(torch.float64)`` (needs ``jax_enable_x64``).

  Returns:
    A :class:`optax.GradientTransformation` with a :class:`ScaleByTorchNAdamState`.

  Examples:
    Chained with ``-lr``, this is :func:`nadam`'s direction; ``mu_product`` is a
    float32 scalar, as torch's:

    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> params, grads = jnp.array([1.0, -1.0]), jnp.array([0.5, -2.0])
    >>> tx = optax.chain(torch_optim.scale_by_torch_nadam(), optax.scale(-0.1))
    >>> updates, state = tx.update(grads, tx.init(params))
    >>> print(updates.round(4), state[0].mu_product)
    [-0.1056  0.1056] 0.45007348
  """
  init_fn = functools.partial(_init, mu_product_dtype=jnp.dtype(mu_product_dtype))

  def update_fn(updates, state, params=None):
    del params
    new_state, grad_scale, exp_avg_scale, bias_correction2 = _nadam_step(
      updates, state, b1(state.step) if callable(b1) else b1, b2, momentum_decay
    )

    def direction(g, m, v):
      if g is None:
        return None
      denom = _denominator(v, bias_correction2, eps)
      # torch's two addcdiv_ steps: (value * tensor) / denom each, the values (Python floats
      # in torch) in float32 for bfloat16 tensors.
      grad_value = grad_scale.astype(numerics.opmath_dtype(g.dtype))
      exp_avg_value = exp_avg_scale.astype(numerics.opmath_dtype(m.dtype))
      return (grad_value * g / denom + exp_avg_value * m / denom).astype(g.dtype)

    directions = leafwise.map(
      direction, updates, new_state.exp_avg, new_state.exp_avg_sq, is_leaf=lambda x: x is None
    )
    return directions, new_state

  return optax.GradientTransformation(init_fn, update_fn)


def _torch_nadam_update(
  lr: optax.ScalarOrSchedule,
  b1: jax.typing.ArrayLike | optax.Schedule,
  b2: jax.typing.ArrayLike,
  eps: jax.typing.ArrayLike,
  momentum_decay: jax.typing.ArrayLike,
  decoupled_decay: jax.typing.ArrayLike | None,
) -> optax.GradientTransformation:
  """torch's whole parameter update after the gradient's weight decay: ``new_param - param``.

  torch writes the parameter up to three times per step (``mul_`` by the decoupled decay,
  then two ``addcdiv_``), rounding it each time. A single ``param + update`` cannot land
  where three roundings land, and over hundreds of steps the differences random-walk to
  tens of float32 ulps of the parameter. So this transformation performs torch's
  sequence on the parameter and returns the difference, which is exact (Sterbenz) when
  the step is smaller than the parameter, so that ``optax.apply_updates`` lands on
  torch's parameter. A schedule ``lr`` is evaluated at ``step`` before the increment
  (0 on the first step), as :func:`optax.scale_by_learning_rate` does.
  """

  def init_fn(params):
    return _init(params, mu_product_dtype=jnp.dtype(jnp.float32))

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError("torch_optim.nadam needs the params: call update(updates, state, params)")
    lr_t = lr(state.step) if callable(lr) else lr
    new_state, grad_scale, exp_avg_scale, bias_correction2 = _nadam_step(
      updates, state, b1(state.step) if callable(b1) else b1, b2, momentum_decay
    )
    neg_lr = -jnp.asarray(lr_t, grad_scale.dtype)
    grad_value = neg_lr * grad_scale
    exp_avg_value = neg_lr * exp_avg_scale

    def new_param_minus_param(g, p, m, v):
      if g is None:
        return None
      new_p = p
      if decoupled_decay is not None:
        new_p = numerics.rounded_product(p, 1 - lr_t * decoupled_decay)
      denom = _denominator(v, bias_correction2, eps)
      new_p = moments.add_quotient(new_p, grad_value, g, denom)
      new_p = moments.add_quotient(new_p, exp_avg_value, m, denom)
      return (new_p - p).astype(g.dtype)

    deltas = leafwise.map(
      new_param_minus_param,
      updates,
      params,
      new_state.exp_avg,
      new_state.exp_avg_sq,
      is_leaf=lambda x: x is None,
    )
    return deltas, new_state

  return optax.GradientTransformation(init_fn, update_fn)


@_common.twin
def nadam(
  lr: optax.ScalarOrSchedule = 2e-3,
  betas: tuple[jax.typing.ArrayLike | optax.Schedule, jax.typing.ArrayLike] = (0.9, 0.999),
  eps: jax.typing.ArrayLike = 1e-8,
  weight_decay: jax.typing.ArrayLike = 0.0,
  momentum_decay: jax.typing.ArrayLike = 4e-3,
  decoupled_weight_decay: bool = False,
  *,
  foreach: bool | None = None,
  maximize: bool = False,
  capturable: bool = False,
  differentiable: bool = False,
) -> optax.GradientTransformationExtraArgs:
  r"""``torch.optim.NAdam``, step for step: same keywords, defaults and trajectory.

  ``maximize`` negates the gradient; ``weight_decay`` is L2 (``g + wd * p``, before the
  moments) unless ``decoupled_weight_decay`` (``p *= 1 - lr * wd``, as NAdamW). The
  direction is that of :func:`scale_by_torch_nadam`, with Dozat's momentum schedule
  :math:`\mu_t = \beta_1 (1 - \tfrac12 \cdot 0.96^{t\psi})`; the learning rate may be a
  float or an optax schedule (evaluated at count 0 on the first step).

  Unlike the other twins, the chain is ``maximize → coupled weight decay → torch's whole
  parameter update``: torch writes the parameter up to three times per step (the
  decoupled ``mul_``, then one ``addcdiv_`` for the gradient term and one for the momentum
  term), and ``param + direction * -lr`` cannot land where those three roundings land
  (the difference random-walks to ~30 float32 ulps of the parameter in 500 steps). The
  last link replays torch's writes and returns ``new_param - param``, so it needs
  ``update(updates, state, params)``; its state, a :class:`ScaleByTorchNAdamState`, carries
  torch's keys.

  Args:
    lr: Learning rate, >= 0, or an optax schedule (torch's default 2e-3).
    betas: ``(b1, b2)``, each in [0, 1).
    eps: Added to the bias-corrected ``sqrt(v)``, >= 0.
    weight_decay: >= 0.
    momentum_decay: :math:`\psi` of the momentum schedule, >= 0.
    decoupled_weight_decay: NAdamW-style weight decay.
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
    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> tx = torch_optim.nadam(lr=0.1)
    >>> params = jnp.array([1.0, -1.0])
    >>> updates, state = tx.update(jnp.array([0.5, -2.0]), tx.init(params), params)
    >>> print(optax.apply_updates(params, updates).round(4))
    [ 0.8944 -0.8944]
    >>> print(optax.tree.get(state, "mu_product").round(6))
    0.450073

  .. warning::
    The update is already ``new_param - param`` (scaled by ``-lr``, decay included), not a
    direction: a transformation chained *after* ``nadam`` (``optax.clip``,
    ``optax.scale``, ...) acts on that difference, as it would after any optax
    optimizer. To transform the direction itself, chain your transformation between
    :func:`scale_by_torch_nadam` and ``optax.scale_by_learning_rate(lr)``; that chain
    follows torch to ~30 float32 ulps over 500 steps instead of bit for bit.

  .. warning::
    ``optax.nadam`` is a different algorithm: the constant-momentum version
    :math:`\mu_t = \beta_1` (torch with ``momentum_decay`` → ∞; ``momentum_decay=0``
    gives :math:`\beta_1/2` instead). At torch's default :math:`\psi` = 4e-3,
    :math:`\mu_t` is 0.45 at the first step and reaches 0.81 only after 10 000 steps, so
    the two differ by several percent of the update. It also has no default learning
    rate (torch's is 2e-3), no weight decay (``optax.nadamw`` is decoupled) and no
    ``maximize``. No plain-optax recipe reproduces the schedule; the closest is
    ``optax.chain(optax.add_decayed_weights(wd), optax.nadam(lr, b1, b2, eps))``, equal to
    torch's ``NAdam(momentum_decay=1e6)`` up to rounding.
    Differences from torch: ``step`` is a saturating int32 (torch's float32 ``step``
    freezes at 2**24); the bias correction is ``-expm1(t log b2)`` rather than
    ``1 - b2**t``; ``mu_product`` is float32 even under ``jax_enable_x64``, because
    torch's is (torch's scalar dtype under its default float32 default dtype): with
    float64 parameters its float32 rounding, 6e-8 relative per step, is part of torch's
    trajectory, and it is reproduced bit for bit (:math:`\mu_t` is taken in float64 and
    rounded, as torch does). Without x64, :math:`\mu_t` is taken in float32 and rounds to
    a neighbour of torch's float32 value at about one step in three, so ``mu_product``
    drifts from torch's by up to 2e-6 relative over the ~100 steps before it underflows;
    it enters the update as ``1 - mu_product``, where that is below 1e-7 relative. XLA
    on CPU flushes subnormal floats to zero, so ``mu_product`` becomes 0 where torch's
    is still subnormal (after ~110 steps at the defaults); ``1 - mu_product`` is 1 in
    both. torch under ``torch.set_default_dtype(torch.float64)`` keeps a float64
    ``mu_product``; this twin follows torch's default (the direction
    :func:`scale_by_torch_nadam` takes a ``mu_product_dtype``).
  """
  del foreach, capturable, differentiable
  lr, b1, b2 = (_common.hyperparameter(v) for v in (lr, *betas))
  _common.check_lr(lr)
  _common.check_at_least("Invalid epsilon value", eps, 0.0)
  _common.check_unit_interval("Invalid beta parameter at index 0", b1)
  _common.check_unit_interval("Invalid beta parameter at index 1", b2)
  _common.check_at_least("Invalid weight_decay value", weight_decay, 0.0)
  _common.check_at_least("Invalid momentum_decay value", momentum_decay, 0.0)
  return optax.chain(
    _common.maximize(maximize),
    optax.identity() if decoupled_weight_decay else _common.coupled_weight_decay(weight_decay),
    _torch_nadam_update(
      lr,
      b1,
      b2,
      eps,
      momentum_decay,
      None
      if not decoupled_weight_decay or _common.concrete_or_none(weight_decay) == 0.0
      else weight_decay,
    ),
  )
