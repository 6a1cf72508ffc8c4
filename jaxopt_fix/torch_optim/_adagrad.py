r"""Twin of ``torch.optim.Adagrad``."""

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


class ScaleByTorchAdagradState(NamedTuple):
  """Per-parameter state with ``torch.optim.Adagrad``'s keys.

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix import torch_optim
    >>> state = torch_optim.scale_by_torch_adagrad(initial_accumulator_value=0.1).init(jnp.zeros(2))
    >>> state._fields
    ('step', 'sum')
    >>> print(state.sum)
    [0.1 0.1]
  """

  step: jax.typing.ArrayLike  # int32 (), saturating; torch's is a float32 tensor.
  sum: optax.Updates


SCHEMA = S.StateSchema(ScaleByTorchAdagradState, S.Step(), S.PerParameter("sum"), eager=True)
"""How each field maps to torch's state (see :mod:`jaxopt_fix.torch_optim._state_schema`)."""


def scale_by_torch_adagrad(
  eps: jax.typing.ArrayLike = 1e-10,
  *,
  initial_accumulator_value: jax.typing.ArrayLike = 0.0,
) -> optax.GradientTransformation:
  r"""The direction of ``torch.optim.Adagrad``'s single-tensor step (no lr, no weight decay).

  .. math::

    s_t = s_{t-1} + g_t^2, \quad s_0 = \text{initial\_accumulator\_value}, \quad
    d_t = \frac{g_t}{\sqrt{s_t} + \epsilon}.

  Args:
    eps: ``eps``, added outside the square root.
    initial_accumulator_value: ``initial_accumulator_value``, the start of ``sum``.

  Returns:
    A :class:`optax.GradientTransformation` with a :class:`ScaleByTorchAdagradState`.

  Examples:
    Chained with ``-lr``, this is :func:`adagrad`: the first step is ``g / |g|``.

    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> params, grads = jnp.array([1.0, -1.0]), jnp.array([0.5, -2.0])
    >>> tx = optax.chain(torch_optim.scale_by_torch_adagrad(), optax.scale(-0.1))
    >>> updates, state = tx.update(grads, tx.init(params))
    >>> print(updates, state[0].sum)
    [-0.1  0.1] [0.25 4.  ]
    >>> twin = torch_optim.adagrad(lr=0.1)  # the same step
    >>> bool((twin.update(grads, twin.init(params), params)[0] == updates).all())
    True
  """

  def init_fn(params):
    return ScaleByTorchAdagradState(
      step=jnp.zeros([], jnp.int32),
      sum=optax.tree.full_like(params, initial_accumulator_value),
    )

  def update_fn(updates, state, params=None):
    del params
    # torch: state_sum.addcmul_(grad, grad, value=1), a fused multiply-add.
    sums = leafwise.map(
      lambda g, s: None if g is None else moments.add_product(s, 1, g, g),
      updates,
      state.sum,
      is_leaf=lambda x: x is None,
    )

    def direction(g, s):
      # torch: std = state_sum.sqrt().add_(eps); param.addcdiv_(grad, std, value=-clr).
      std = numerics.sqrt_plus(s, eps)
      out_dtype = jnp.result_type(g, std)
      quotient = numerics.to_opmath(g, out_dtype) / numerics.to_opmath(std, out_dtype)
      return quotient.astype(g.dtype)

    directions = leafwise.map(
      lambda g, s: None if g is None else direction(g, s),
      updates,
      sums,
      is_leaf=lambda x: x is None,
    )
    return directions, ScaleByTorchAdagradState(
      step=optax.safe_increment(state.step),
      sum=optax.tree.cast_like(sums, state.sum),
    )

  return optax.GradientTransformation(init_fn, update_fn)


def decayed_learning_rate(
  lr: optax.ScalarOrSchedule, lr_decay: jax.typing.ArrayLike
) -> optax.ScalarOrSchedule:
  """torch's ``clr = lr / (1 + (step - 1) * lr_decay)`` as an optax schedule.

  An optax schedule counts from 0, torch's ``step - 1``. ``lr`` itself unless
  ``lr_decay`` is a concrete 0.
  """
  if _common.concrete_or_none(lr_decay) == 0.0:
    return lr

  def schedule(count):
    base = lr(count) if callable(lr) else lr
    return base / (1 + count * lr_decay)

  return schedule


def _check_adagrad(lr, lr_decay, weight_decay, initial_accumulator_value, eps) -> None:
  _common.check_lr(lr)
  _common.check_at_least("Invalid lr_decay value", lr_decay, 0.0)
  _common.check_at_least("Invalid weight_decay value", weight_decay, 0.0)
  _common.check_at_least("Invalid initial_accumulator_value value", initial_accumulator_value, 0.0)
  _common.check_at_least("Invalid epsilon value", eps, 0.0)


@_common.twin
def adagrad(
  lr: optax.ScalarOrSchedule = 1e-2,
  lr_decay: jax.typing.ArrayLike = 0.0,
  weight_decay: jax.typing.ArrayLike = 0.0,
  initial_accumulator_value: jax.typing.ArrayLike = 0.0,
  eps: jax.typing.ArrayLike = 1e-10,
  foreach: bool | None = None,
  *,
  maximize: bool = False,
  differentiable: bool = False,
  fused: bool | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""``torch.optim.Adagrad``, step for step: same keywords, defaults and trajectory.

  ``maximize`` negates the gradient; ``weight_decay`` is L2 (``g + wd * p``, before the
  accumulator). The direction is :func:`scale_by_torch_adagrad`; the learning rate at step
  :math:`t` is :math:`\mathrm{lr} / (1 + (t - 1)\,\mathrm{lr\_decay})`, an optax schedule
  (``decayed_learning_rate``) when ``lr_decay`` is not 0. ``lr`` may itself be an
  optax schedule, evaluated at count 0 on the first step.

  Args:
    lr: Learning rate, >= 0, or an optax schedule.
    lr_decay: Learning-rate decay, >= 0.
    weight_decay: L2 penalty, >= 0.
    initial_accumulator_value: Start of the sum of squared gradients, >= 0.
    eps: Added to the square root of the sum, >= 0.
    foreach: Accepted for torch compatibility; no effect on the math.
    maximize: Maximize the objective instead of minimizing it.
    differentiable: Accepted for torch compatibility; no effect on the math.
    fused: Accepted for torch compatibility; no effect on the math.

  Returns:
    The corresponding :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    ValueError: with torch's message, for the values torch rejects.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> tx = torch_optim.adagrad(lr=0.1, lr_decay=1.0)
    >>> params = jnp.array([1.0, -1.0])
    >>> state = tx.init(params)
    >>> for _ in range(2):
    ...   updates, state = tx.update(jnp.array([3.0, -4.0]), state, params)
    ...   params = optax.apply_updates(params, updates)
    >>> print(params.round(4))  # 0.1 * 1, then 0.05 / sqrt(2)
    [ 0.8646 -0.8646]

  .. warning::
    Differences from ``optax.adagrad``: optax starts the sum at
    ``initial_accumulator_value=0.1`` (torch: 0) and puts ``eps`` (1e-7) *inside* the
    square root, ``rsqrt(sum + eps)`` (torch: ``sqrt(sum) + eps`` with 1e-10); optax has
    no ``lr_decay`` (the schedule ``lambda c: lr / (1 + c * lr_decay)`` is equivalent),
    no ``maximize`` and no weight decay. The closest plain-optax recipe is
    ``optax.chain(optax.add_decayed_weights(wd), optax.adagrad(schedule,
    initial_accumulator_value=0.0, eps=0.0))``, exact when torch's ``eps`` is 0.
    Differences from torch: ``step`` is a saturating int32 (torch's float32 ``step``
    freezes at 2**24, and with it the learning-rate decay); the decayed learning rate is
    computed at the parameters' precision (torch: in float64 on the host); the update is
    ``-clr * (g / std)`` (torch: ``(-clr * g) / std``); torch's CPU square root is not
    correctly rounded (in float32 one ulp off in about 20% of elements), XLA's is. Each
    costs at most an ulp of a step.
  """
  del foreach, differentiable, fused
  lr, lr_decay, weight_decay, initial_accumulator_value, eps = (
    _common.hyperparameter(v) for v in (lr, lr_decay, weight_decay, initial_accumulator_value, eps)
  )
  _check_adagrad(lr, lr_decay, weight_decay, initial_accumulator_value, eps)
  return _common.torch_chain(
    scale_by_torch_adagrad(eps, initial_accumulator_value=initial_accumulator_value),
    lr=decayed_learning_rate(lr, lr_decay),
    weight_decay=weight_decay,
    maximize_=maximize,
  )
