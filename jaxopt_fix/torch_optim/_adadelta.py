r"""Twin of ``torch.optim.Adadelta``."""

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


class ScaleByTorchAdadeltaState(NamedTuple):
  """Per-parameter state with ``torch.optim.Adadelta``'s keys.

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix import torch_optim
    >>> state = torch_optim.scale_by_torch_adadelta().init(jnp.zeros(2))
    >>> state._fields
    ('step', 'square_avg', 'acc_delta')
    >>> print(state.square_avg, state.acc_delta)
    [0. 0.] [0. 0.]
  """

  step: jax.typing.ArrayLike  # int32 (), saturating; torch's is a float32 tensor.
  square_avg: optax.Updates
  acc_delta: optax.Updates


SCHEMA = S.StateSchema(
  ScaleByTorchAdadeltaState, S.Step(), S.PerParameter("square_avg"), S.PerParameter("acc_delta")
)
"""How each field maps to torch's state (see :mod:`jaxopt_fix.torch_optim._state_schema`)."""


def scale_by_torch_adadelta(
  rho: jax.typing.ArrayLike = 0.9,
  eps: jax.typing.ArrayLike = 1e-6,
) -> optax.GradientTransformation:
  r"""The direction of ``torch.optim.Adadelta``'s single-tensor step (no lr, no weight decay).

  .. math::

    v_t = \rho v_{t-1} + (1 - \rho) g_t^2, \quad
    d_t = \frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{v_t + \epsilon}}\, g_t, \quad
    u_t = \rho u_{t-1} + (1 - \rho) d_t^2,

  with :math:`v_0 = u_0 = 0`. No bias correction: ``step`` is only counted.

  Args:
    rho: ``rho``, the decay of both averages.
    eps: ``eps``, added inside both square roots.

  Returns:
    A :class:`optax.GradientTransformation` with a :class:`ScaleByTorchAdadeltaState`.

  Examples:
    Chained with ``-lr``, this is :func:`adadelta` (torch's default ``lr=1.0``); the
    state carries torch's keys:

    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> params, grads = jnp.array([1.0, -1.0]), jnp.array([0.5, -2.0])
    >>> tx = optax.chain(torch_optim.scale_by_torch_adadelta(), optax.scale(-1.0))
    >>> updates, state = tx.update(grads, tx.init(params))
    >>> print(updates)
    [-0.00316221  0.00316227]
    >>> state[0]._fields
    ('step', 'square_avg', 'acc_delta')
    >>> twin = torch_optim.adadelta()  # the same step
    >>> bool((twin.update(grads, twin.init(params), params)[0] == updates).all())
    True
  """

  def init_fn(params):
    return ScaleByTorchAdadeltaState(
      step=jnp.zeros([], jnp.int32),
      square_avg=optax.tree.zeros_like(params),
      acc_delta=optax.tree.zeros_like(params),
    )

  def update_fn(updates, state, params=None):
    del params
    none = lambda x: x is None
    square_avg = moments.ema_squared_moment(updates, state.square_avg, rho)
    # torch: delta = acc_delta.add(eps).sqrt_(); delta.div_(std).mul_(grad), rounded before
    # param.add_(delta, alpha=-lr) (XLA would fuse the product into that addition).
    deltas = leafwise.map(
      lambda g, v, u: (
        None
        if g is None
        else numerics.rounded_product(
          numerics.rounded_sqrt(u + eps) / numerics.rounded_sqrt(v + eps), g
        )
      ),
      updates,
      square_avg,
      state.acc_delta,
      is_leaf=none,
    )
    acc_delta = moments.ema_squared_moment(deltas, state.acc_delta, rho)
    directions = jax.tree.map(  # a cast: nothing to trace once
      lambda g, d: None if g is None else d.astype(g.dtype), updates, deltas, is_leaf=none
    )
    return directions, ScaleByTorchAdadeltaState(
      step=optax.safe_increment(state.step),
      square_avg=optax.tree.cast_like(square_avg, state.square_avg),
      acc_delta=optax.tree.cast_like(acc_delta, state.acc_delta),
    )

  return optax.GradientTransformation(init_fn, update_fn)


def _check_adadelta(lr, rho, eps, weight_decay) -> None:
  _common.check_lr(lr)
  value = _common.concrete_or_none(rho)
  if value is not None:
    _common.check_torch(0.0 <= value <= 1.0, f"Invalid rho value: {rho} (must be in [0, 1])")
  _common.check_at_least("Invalid epsilon value", eps, 0.0)
  _common.check_at_least("Invalid weight_decay value", weight_decay, 0.0)


@_common.twin
def adadelta(
  lr: optax.ScalarOrSchedule = 1.0,
  rho: jax.typing.ArrayLike = 0.9,
  eps: jax.typing.ArrayLike = 1e-6,
  weight_decay: jax.typing.ArrayLike = 0.0,
  foreach: bool | None = None,
  *,
  capturable: bool = False,
  maximize: bool = False,
  differentiable: bool = False,
) -> optax.GradientTransformationExtraArgs:
  r"""``torch.optim.Adadelta``, step for step: same keywords, defaults and trajectory.

  ``maximize`` negates the gradient; ``weight_decay`` is L2 (``g + wd * p``, before the
  averages). The direction is :func:`scale_by_torch_adadelta`; the learning rate may be a
  float or an optax schedule (evaluated at count 0 on the first step):
  :math:`p_t = p_{t-1} - \mathrm{lr}\, d_t`.

  Args:
    lr: Learning rate (a factor on the Adadelta step), >= 0, or an optax schedule.
    rho: Decay of the averages, in [0, 1].
    eps: Added inside both square roots, >= 0.
    weight_decay: L2 penalty, >= 0.
    foreach: Accepted for torch compatibility; no effect on the math.
    capturable: Accepted for torch compatibility; no effect on the math. torch accepts
      ``capturable=True`` at construction and refuses it at ``step`` for CPU tensors;
      the twin computes the same update on every device.
    maximize: Maximize the objective instead of minimizing it.
    differentiable: Accepted for torch compatibility; no effect on the math.

  Returns:
    The corresponding :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    ValueError: with torch's message, for the values torch rejects.

  Examples:
    The first step is :math:`\sqrt{\epsilon / (\epsilon + (1 - \rho) g^2)}\, g`:

    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> tx = torch_optim.adadelta(rho=0.75, eps=0.5625)
    >>> params = jnp.array([1.0, -1.0])
    >>> updates, _ = tx.update(jnp.array([2.0, -2.0]), tx.init(params), params)
    >>> print(np.asarray(optax.apply_updates(params, updates)).round(4))  # 1 - 0.75 / 1.25 * 2
    [-0.2  0.2]

  .. warning::
    Differences from ``optax.adadelta``: its default ``learning_rate=None`` skips the
    learning-rate link *and its sign flip*, so ``optax.adadelta()`` performs gradient
    ascent; pass ``learning_rate=1.0`` (torch's default). It has no ``maximize``. With
    an explicit learning rate the algorithm is the same: the closest plain-optax recipe
    is ``optax.adadelta(lr, rho, eps, weight_decay=wd)``.
    Differences from torch: ``step`` is a saturating int32 (torch's is a float32 tensor
    that freezes at 2**24; neither uses it); torch's CPU square root is not correctly
    rounded (in float32 one ulp off in about 20% of elements), XLA's is: the step differs
    by an ulp there, and its square accumulates in ``acc_delta``.
  """
  del foreach, capturable, differentiable
  lr, rho, eps, weight_decay = (_common.hyperparameter(v) for v in (lr, rho, eps, weight_decay))
  _check_adadelta(lr, rho, eps, weight_decay)
  return _common.torch_chain(
    scale_by_torch_adadelta(rho, eps),
    lr=lr,
    weight_decay=weight_decay,
    maximize_=maximize,
  )
