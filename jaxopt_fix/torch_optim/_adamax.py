r"""Twin of ``torch.optim.Adamax``."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxopt_fix._src import leafwise
from jaxopt_fix._src import moments
from jaxopt_fix._src import numerics
from jaxopt_fix.torch_optim import _common
from jaxopt_fix.torch_optim import _state_schema as S


class ScaleByTorchAdamaxState(NamedTuple):
  """Per-parameter state with ``torch.optim.Adamax``'s keys.

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix import torch_optim
    >>> state = torch_optim.scale_by_torch_adamax().init(jnp.zeros(2))
    >>> state._fields
    ('step', 'exp_avg', 'exp_inf')
    >>> print(state.exp_inf)
    [0. 0.]
  """

  step: jax.typing.ArrayLike  # int32 (), saturating; torch's is a float32 tensor.
  exp_avg: optax.Updates
  exp_inf: optax.Updates


SCHEMA = S.StateSchema(
  ScaleByTorchAdamaxState, S.Step(), S.PerParameter("exp_avg"), S.PerParameter("exp_inf")
)
"""How each field maps to torch's state (see :mod:`jaxopt_fix.torch_optim._state_schema`)."""


def scale_by_torch_adamax(
  b1: jax.typing.ArrayLike | optax.Schedule = 0.9,
  b2: jax.typing.ArrayLike = 0.999,
  eps: jax.typing.ArrayLike = 1e-8,
) -> optax.GradientTransformation:
  r"""The direction of ``torch.optim.Adamax``'s single-tensor step (no lr, no weight decay).

  .. math::

    m_t = \operatorname{lerp}(m_{t-1}, g_t, 1 - \beta_1), \quad
    u_t = \max(\beta_2 u_{t-1}, |g_t| + \epsilon), \quad
    d_t = \frac{1}{1 - \beta_1^t} \cdot \frac{m_t}{u_t}.

  ``eps`` is inside the maximum, as in torch and optax (the paper has none).

  Args:
    b1: ``betas[0]``, or a schedule of the step count (the ``momentum`` of
      :func:`~jaxopt_fix.torch_optim.lr_scheduler.one_cycle_lr` and ``cyclic_lr``), evaluated
      at ``step`` before it is incremented.
    b2: ``betas[1]``.
    eps: ``eps``.

  Returns:
    A :class:`optax.GradientTransformation` with a :class:`ScaleByTorchAdamaxState`.

  Examples:
    Chained with ``-lr``, this is :func:`adamax`:

    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> params, grads = jnp.array([1.0, -1.0]), jnp.array([0.5, -2.0])
    >>> tx = optax.chain(torch_optim.scale_by_torch_adamax(), optax.scale(-0.1))
    >>> updates, state = tx.update(grads, tx.init(params))
    >>> print(updates, state[0].exp_inf)
    [-0.10000002  0.10000002] [0.5 2. ]
    >>> twin = torch_optim.adamax(lr=0.1)  # the same step
    >>> bool((twin.update(grads, twin.init(params), params)[0] == updates).all())
    True
  """

  def init_fn(params):
    return ScaleByTorchAdamaxState(
      step=jnp.zeros([], jnp.int32),
      exp_avg=optax.tree.zeros_like(params),
      exp_inf=optax.tree.zeros_like(params),
    )

  def update_fn(updates, state, params=None):
    del params
    beta1 = b1(state.step) if callable(b1) else b1
    step = optax.safe_increment(state.step)
    exp_avg = moments.lerp_moment(updates, state.exp_avg, beta1)
    # torch.maximum(exp_inf.mul_(b2), grad.abs().add_(eps)): each operand rounded alone.
    exp_inf = leafwise.map(
      lambda g, u: None if g is None else jnp.maximum(u * b2, jnp.abs(g) + eps),
      updates,
      state.exp_inf,
      is_leaf=lambda x: x is None,
    )
    mu_scale = 1 / numerics.one_minus_power(beta1, step)
    directions = leafwise.map(
      lambda g, m, u: None if g is None else (m * mu_scale.astype(m.dtype) / u).astype(g.dtype),
      updates,
      exp_avg,
      exp_inf,
      is_leaf=lambda x: x is None,
    )
    return directions, ScaleByTorchAdamaxState(
      step=step,
      exp_avg=optax.tree.cast_like(exp_avg, state.exp_avg),
      exp_inf=optax.tree.cast_like(exp_inf, state.exp_inf),
    )

  return optax.GradientTransformation(init_fn, update_fn)


@_common.twin
def adamax(
  lr: optax.ScalarOrSchedule = 2e-3,
  betas: tuple[jax.typing.ArrayLike | optax.Schedule, jax.typing.ArrayLike] = (0.9, 0.999),
  eps: jax.typing.ArrayLike = 1e-8,
  weight_decay: jax.typing.ArrayLike = 0.0,
  foreach: bool | None = None,
  *,
  maximize: bool = False,
  differentiable: bool = False,
  capturable: bool = False,
) -> optax.GradientTransformationExtraArgs:
  r"""``torch.optim.Adamax``, step for step: same keywords, defaults and trajectory.

  ``maximize`` negates the gradient; ``weight_decay`` is L2 (``g + wd * p``, before the
  moments; torch's Adamax has no decoupled variant). The direction is
  :func:`scale_by_torch_adamax`; the learning rate may be a float or an optax schedule
  (evaluated at count 0 on the first step).

  Args:
    lr: Learning rate, >= 0, or an optax schedule (torch's default 2e-3).
    betas: ``(b1, b2)``, each in [0, 1).
    eps: Added to ``|g|`` inside the maximum, >= 0.
    weight_decay: L2 penalty, >= 0.
    foreach: Accepted for torch compatibility; no effect on the math.
    maximize: Maximize the objective instead of minimizing it.
    differentiable: Accepted for torch compatibility; no effect on the math.
    capturable: Accepted for torch compatibility; no effect on the math. torch accepts
      ``capturable=True`` at construction and refuses it at ``step`` for CPU tensors;
      the twin computes the same update on every device.

  Returns:
    The corresponding :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    ValueError: with torch's message, for the values torch rejects.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> tx = torch_optim.adamax(lr=0.1)
    >>> params = jnp.array([1.0, -1.0])
    >>> updates, _ = tx.update(jnp.array([0.5, -2.0]), tx.init(params), params)
    >>> print(optax.apply_updates(params, updates).round(4))
    [ 0.9 -0.9]

  .. warning::
    Differences from ``optax.adamax``: it has no default learning rate (torch's is
    2e-3), no weight decay (``optax.adamaxw`` decays decoupled; torch's is L2) and no
    ``maximize``; the first moment is updated with torch's ``lerp`` and the bias
    correction is computed accurately. The closest plain-optax recipe is
    ``optax.chain(optax.add_decayed_weights(wd), optax.adamax(lr, b1, b2, eps))``, equal
    up to rounding. Differences from torch: ``step`` is a saturating int32 (torch's
    float32 ``step`` freezes at 2**24); the bias correction is ``-expm1(t log b1)``
    rather than ``1 - b1**t``.
  """
  del foreach, differentiable, capturable
  lr, b1, b2 = (_common.hyperparameter(v) for v in (lr, *betas))
  _common.check_lr(lr)
  _common.check_at_least("Invalid epsilon value", eps, 0.0)
  _common.check_unit_interval("Invalid beta parameter at index 0", b1)
  _common.check_unit_interval("Invalid beta parameter at index 1", b2)
  _common.check_at_least("Invalid weight_decay value", weight_decay, 0.0)
  return _common.torch_chain(
    scale_by_torch_adamax(b1, b2, eps),
    lr=lr,
    weight_decay=weight_decay,
    maximize_=maximize,
  )
