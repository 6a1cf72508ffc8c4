r"""Twins of ``torch.optim.Adam`` and ``torch.optim.AdamW``."""

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


class ScaleByTorchAdamState(NamedTuple):
  """Per-parameter state with ``torch.optim.Adam``'s keys (``max_exp_avg_sq`` is None
  unless ``amsgrad``).

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix import torch_optim
    >>> state = torch_optim.scale_by_torch_adam().init(jnp.zeros(2))
    >>> state._fields
    ('step', 'exp_avg', 'exp_avg_sq', 'max_exp_avg_sq')
    >>> print(state.step, state.max_exp_avg_sq)  # no amsgrad: no maximum
    0 None
  """

  step: jax.typing.ArrayLike  # int32 (), saturating; torch's is a float32 tensor.
  exp_avg: optax.Updates
  exp_avg_sq: optax.Updates
  max_exp_avg_sq: Any  # a tree like exp_avg_sq, or None


SCHEMA = S.StateSchema(
  ScaleByTorchAdamState,
  S.Step(),
  S.PerParameter("exp_avg"),
  S.PerParameter("exp_avg_sq"),
  S.PerParameter("max_exp_avg_sq", optional=True),
)
"""How each field maps to torch's state (see :mod:`jaxopt_fix.torch_optim._state_schema`)."""


def scale_by_torch_adam(
  b1: jax.typing.ArrayLike | optax.Schedule = 0.9,
  b2: jax.typing.ArrayLike = 0.999,
  eps: jax.typing.ArrayLike = 1e-8,
  *,
  amsgrad: bool = False,
) -> optax.GradientTransformation:
  r"""The direction of ``torch.optim.Adam``'s single-tensor step (no lr, no weight decay).

  .. math::

    m_t = \operatorname{lerp}(m_{t-1}, g_t, 1 - \beta_1), \quad
    v_t = \beta_2 v_{t-1} + (1 - \beta_2) g_t^2, \quad
    \hat v_t = \max(\hat v_{t-1}, v_t) \text{ if amsgrad else } v_t,

    d_t = \frac{m_t}{\sqrt{\hat v_t} / \sqrt{1 - \beta_2^t} + \epsilon}
      \cdot \frac{1}{1 - \beta_1^t}.

  Args:
    b1: ``betas[0]``, or a schedule of the step count (the ``momentum`` of
      :func:`~jaxopt_fix.torch_optim.lr_scheduler.one_cycle_lr` and ``cyclic_lr``), evaluated
      at ``step`` before it is incremented: the value torch's scheduler set for this step.
    b2: ``betas[1]``.
    eps: ``eps``.
    amsgrad: ``amsgrad``: the maximum of the raw second moment, as
      :func:`jaxopt_fix.scale_by_amsgrad` with ``variant="torch"``.

  Returns:
    A :class:`optax.GradientTransformation` with a :class:`ScaleByTorchAdamState`.

  Examples:
    Chained with ``-lr``, this is :func:`adam` without weight decay:

    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> params, grads = jnp.array([1.0, -1.0]), jnp.array([0.5, -2.0])
    >>> tx = optax.chain(torch_optim.scale_by_torch_adam(), optax.scale(-0.1))
    >>> updates, state = tx.update(grads, tx.init(params))
    >>> print(updates, state[0].exp_avg)
    [-0.09999999  0.09999999] [ 0.05 -0.2 ]
    >>> twin = torch_optim.adam(lr=0.1)  # the same step
    >>> bool((twin.update(grads, twin.init(params), params)[0] == updates).all())
    True
  """

  def init_fn(params):
    return ScaleByTorchAdamState(
      step=jnp.zeros([], jnp.int32),
      exp_avg=optax.tree.zeros_like(params),
      exp_avg_sq=optax.tree.zeros_like(params),
      max_exp_avg_sq=optax.tree.zeros_like(params) if amsgrad else None,
    )

  def update_fn(updates, state, params=None):
    del params
    beta1 = b1(state.step) if callable(b1) else b1
    step = optax.safe_increment(state.step)
    exp_avg = moments.lerp_moment(updates, state.exp_avg, beta1)
    exp_avg_sq = moments.ema_squared_moment(updates, state.exp_avg_sq, b2)
    max_exp_avg_sq = (
      leafwise.map(jnp.maximum, state.max_exp_avg_sq, exp_avg_sq) if amsgrad else None
    )
    nu = exp_avg_sq if max_exp_avg_sq is None else max_exp_avg_sq
    bias_correction1, bias_correction2 = numerics.bias_corrections((beta1, b2), step)
    directions = moments.adam_direction(
      updates,
      exp_avg,
      nu,
      mu_scale=1 / bias_correction1,
      nu_correction=bias_correction2,
      eps=eps,
      eps_root=0.0,
    )
    return directions, ScaleByTorchAdamState(
      step=step,
      exp_avg=optax.tree.cast_like(exp_avg, state.exp_avg),
      exp_avg_sq=optax.tree.cast_like(exp_avg_sq, state.exp_avg_sq),
      max_exp_avg_sq=(
        optax.tree.cast_like(max_exp_avg_sq, state.max_exp_avg_sq) if amsgrad else None
      ),
    )

  return optax.GradientTransformation(init_fn, update_fn)


def _check_adam(lr, betas, eps, weight_decay) -> None:
  _common.check_lr(lr)
  _common.check_at_least("Invalid epsilon value", eps, 0.0)
  _common.check_unit_interval("Invalid beta parameter at index 0", betas[0])
  _common.check_unit_interval("Invalid beta parameter at index 1", betas[1])
  _common.check_at_least("Invalid weight_decay value", weight_decay, 0.0)


@_common.twin
def adam(
  lr: optax.ScalarOrSchedule = 1e-3,
  betas: tuple[jax.typing.ArrayLike | optax.Schedule, jax.typing.ArrayLike] = (0.9, 0.999),
  eps: jax.typing.ArrayLike = 1e-8,
  weight_decay: jax.typing.ArrayLike = 0.0,
  amsgrad: bool = False,
  *,
  foreach: bool | None = None,
  maximize: bool = False,
  capturable: bool = False,
  differentiable: bool = False,
  fused: bool | None = None,
  decoupled_weight_decay: bool = False,
) -> optax.GradientTransformationExtraArgs:
  r"""``torch.optim.Adam``, step for step: same keywords, defaults and trajectory.

  ``maximize`` negates the gradient; ``weight_decay`` is L2 (``g + wd * p``, before the
  moments) unless ``decoupled_weight_decay`` (``p *= 1 - lr * wd``, as AdamW). The
  direction is :func:`scale_by_torch_adam`; the learning rate may be a float or an optax
  schedule (evaluated at count 0 on the first step).

  Args:
    lr: Learning rate, >= 0, or an optax schedule.
    betas: ``(b1, b2)``, each in [0, 1); ``b1`` may be a schedule (see
      :func:`scale_by_torch_adam`).
    eps: Added to the denominator after the bias correction, >= 0.
    weight_decay: >= 0.
    amsgrad: Use the maximum of the raw second moment (torch's AMSGrad).
    foreach: Accepted for torch compatibility; no effect on the math.
    maximize: Maximize the objective instead of minimizing it.
    capturable: Accepted for torch compatibility; no effect on the math. torch accepts
      ``capturable=True`` at construction and refuses it at ``step`` for CPU tensors;
      the twin computes the same update on every device.
    differentiable: Accepted for torch compatibility; no effect on the math.
    fused: Accepted for torch compatibility; no effect on the math.
    decoupled_weight_decay: AdamW-style weight decay.

  Returns:
    The corresponding :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    ValueError: with torch's message, for the values torch rejects.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> tx = torch_optim.adam(lr=0.1, weight_decay=0.01)
    >>> params = jnp.array([1.0, -1.0])
    >>> updates, _ = tx.update(jnp.array([0.5, 0.5]), tx.init(params), params)
    >>> print(optax.apply_updates(params, updates).round(4))
    [ 0.9 -1.1]

  .. warning::
    Differences from ``optax.adam``: torch's AMSGrad and ``maximize`` exist, weight
    decay is coupled (L2) by default, the bias corrections are computed accurately
    (optax rounds beta to float32: 6.6e-6 relative at b2 = 0.999) and the first moment
    is updated with torch's ``lerp``. The closest plain-optax recipe is
    ``optax.chain(optax.add_decayed_weights(wd), optax.adam(lr, b1, b2, eps))``.
    Differences from torch: ``step`` is a saturating int32 (torch's float32 ``step``
    freezes at 2**24); bias corrections are ``-expm1(t log beta)`` rather than
    ``1 - beta**t`` (torch's loses up to 1e-11 relative in float64 at b2 = 0.99999).
  """
  _common.check_torch(
    not (_common.is_torch(lr) and foreach and not capturable),
    "lr as a Tensor is not supported for capturable=False and foreach=True",
  )
  del foreach, capturable, differentiable, fused
  lr, b1, b2 = (_common.hyperparameter(v) for v in (lr, *betas))
  _check_adam(lr, (b1, b2), eps, weight_decay)
  return _common.torch_chain(
    scale_by_torch_adam(b1, b2, eps, amsgrad=amsgrad),
    lr=lr,
    weight_decay=weight_decay,
    decoupled=decoupled_weight_decay,
    maximize_=maximize,
  )


@_common.twin
def adamw(
  lr: optax.ScalarOrSchedule = 1e-3,
  betas: tuple[jax.typing.ArrayLike | optax.Schedule, jax.typing.ArrayLike] = (0.9, 0.999),
  eps: jax.typing.ArrayLike = 1e-8,
  weight_decay: jax.typing.ArrayLike = 1e-2,
  amsgrad: bool = False,
  *,
  maximize: bool = False,
  foreach: bool | None = None,
  capturable: bool = False,
  differentiable: bool = False,
  fused: bool | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""``torch.optim.AdamW``: :func:`adam` with ``decoupled_weight_decay=True``.

  Args:
    lr: Learning rate, >= 0, or an optax schedule.
    betas: ``(b1, b2)``, each in [0, 1); ``b1`` may be a schedule (see
      :func:`scale_by_torch_adam`).
    eps: Added to the denominator after the bias correction, >= 0.
    weight_decay: Decoupled weight decay, >= 0 (torch's default 1e-2; optax's is 1e-4).
    amsgrad: Use the maximum of the raw second moment (torch's AMSGrad).
    maximize: Maximize the objective instead of minimizing it.
    foreach: Accepted for torch compatibility; no effect on the math.
    capturable: Accepted for torch compatibility; no effect on the math. torch accepts
      ``capturable=True`` at construction and refuses it at ``step`` for CPU tensors;
      the twin computes the same update on every device.
    differentiable: Accepted for torch compatibility; no effect on the math.
    fused: Accepted for torch compatibility; no effect on the math.

  Returns:
    The corresponding :class:`optax.GradientTransformationExtraArgs`.

  Examples:
    The decay is decoupled from the gradient: with a zero gradient the parameters still
    shrink by a factor ``1 - lr * weight_decay``:

    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> tx = torch_optim.adamw(lr=0.1, weight_decay=0.5)
    >>> params = jnp.array([1.0, -2.0])
    >>> updates, _ = tx.update(jnp.zeros(2), tx.init(params), params)
    >>> print(optax.apply_updates(params, updates))
    [ 0.95 -1.9 ]

  .. warning::
    ``optax.adamw`` defaults to ``weight_decay=1e-4`` (torch: 1e-2) and has no AMSGrad;
    otherwise it is the same algorithm up to rounding.
  """
  return adam(
    lr,
    betas,
    eps,
    weight_decay,
    amsgrad,
    foreach=foreach,
    maximize=maximize,
    capturable=capturable,
    differentiable=differentiable,
    fused=fused,
    decoupled_weight_decay=True,
  )
