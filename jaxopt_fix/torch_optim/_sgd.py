r"""Twin of ``torch.optim.SGD``."""

from __future__ import annotations

import math
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


class ScaleByTorchSGDState(NamedTuple):
  """Per-parameter state with ``torch.optim.SGD``'s key (torch keeps no ``step``).

  ``momentum_buffer`` is None when ``momentum == 0`` (torch keeps no buffer then).
  ``has_momentum_buffer`` is what torch reads from the buffer's absence: False until the
  first step, whose buffer is the gradient itself (no dampening). Until then the buffer holds
  -0.0, the identity of addition (see :func:`scale_by_torch_sgd`).

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix import torch_optim
    >>> state = torch_optim.scale_by_torch_sgd(momentum=0.9).init(jnp.zeros(2))
    >>> state._fields
    ('momentum_buffer', 'has_momentum_buffer')
    >>> print(state.has_momentum_buffer)  # torch creates it at the first step
    False
  """

  momentum_buffer: Any  # a tree like the params, or None
  has_momentum_buffer: jax.typing.ArrayLike  # bool ()


SCHEMA = S.StateSchema(
  ScaleByTorchSGDState,
  S.PerParameter("momentum_buffer", optional=True),
  S.PresenceFlag("has_momentum_buffer", of="momentum_buffer"),
)
"""How each field maps to torch's state (see :mod:`jaxopt_fix.torch_optim._state_schema`)."""


def _uses_momentum(momentum: Any) -> bool:
  """torch's ``momentum != 0``; a traced momentum keeps a buffer."""
  return _common.concrete_or_none(momentum) != 0.0


def scale_by_torch_sgd(
  momentum: jax.typing.ArrayLike | optax.Schedule = 0.0,
  dampening: jax.typing.ArrayLike = 0.0,
  *,
  nesterov: bool = False,
) -> optax.GradientTransformation:
  r"""The direction of ``torch.optim.SGD``'s single-tensor step (no lr, no weight decay).

  With ``momentum`` :math:`\mu \ne 0` and ``dampening`` :math:`\tau`:

  .. math::

    b_1 = g_1, \quad b_t = \mu b_{t-1} + (1 - \tau) g_t \ (t > 1), \quad
    d_t = g_t + \mu b_t \text{ if nesterov else } b_t;

  with :math:`\mu = 0`, :math:`d_t = g_t` and no buffer is kept.

  Args:
    momentum: ``momentum``, or a schedule of the step count (the ``momentum`` of
      :func:`~jaxopt_fix.torch_optim.lr_scheduler.one_cycle_lr` and ``cyclic_lr``): then the
      transformation is ``optax.inject_hyperparams`` of this one, whose ``count`` gives the
      momentum of each step (torch's SGD keeps no step count).
    dampening: ``dampening`` (not applied on the first step).
    nesterov: ``nesterov``.

  Returns:
    A :class:`optax.GradientTransformation` with a :class:`ScaleByTorchSGDState` (inside an
    ``optax.InjectHyperparamsState`` for a scheduled momentum).

  Examples:
    The first buffer is the gradient itself (no dampening), then it accumulates:

    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> params, grads = jnp.array([1.0, -1.0]), jnp.array([0.5, -2.0])
    >>> tx = optax.chain(torch_optim.scale_by_torch_sgd(momentum=0.9), optax.scale(-0.1))
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state)
    >>> updates, state = tx.update(grads, state)
    >>> print(updates, optax.tree.get(state, "momentum_buffer"))
    [-0.095  0.38 ] [ 0.95 -3.8 ]
  """
  if callable(momentum):
    return optax.inject_hyperparams(scale_by_torch_sgd, static_args="nesterov")(
      momentum, dampening, nesterov=nesterov
    )
  uses_momentum = _uses_momentum(momentum)
  mu = _common.concrete_or_none(momentum)
  traced_momentum = mu is None
  # The buffer starts at -0.0, the identity of addition (-0.0 + g is g for every g, -0.0 and
  # NaN included). With no dampening and a finite positive momentum (-0.0 * mu is then -0.0),
  # the first step's `-0.0 * momentum + g` is torch's `grad.clone()` bit for bit, and no select
  # on `has_momentum_buffer` is compiled into every leaf's loop (each operation per element
  # costs about 0.4 ms of compile time per leaf: 0.06 s on a transformer's 148 leaves).
  first_step_by_identity = (
    mu is not None and 0.0 < mu < math.inf and _common.concrete_or_none(dampening) == 0.0
  )

  def init_fn(params):
    return ScaleByTorchSGDState(
      momentum_buffer=optax.tree.full_like(params, -0.0) if uses_momentum else None,
      has_momentum_buffer=jnp.zeros([], bool),
    )

  def update_fn(updates, state, params=None):
    del params
    if state.momentum_buffer is None:  # torch's momentum == 0: no buffer
      return updates, state

    def buffer(g, b):
      if g is None:
        return None
      # torch: buf.mul_(momentum).add_(grad, alpha=1 - dampening), or grad.clone() at first;
      # chosen before the sum's one rounding (a bfloat16 gradient is exact in float32).
      decayed = numerics.rounded_product(b, momentum)
      damped = moments.opmath_add_product(decayed, 1 - dampening, g)
      if not first_step_by_identity:
        grad = numerics.to_opmath(g, damped.dtype)
        damped = numerics.select(state.has_momentum_buffer, damped, grad)
      return damped.astype(jnp.result_type(b, g))

    buffers = leafwise.map(buffer, updates, state.momentum_buffer, is_leaf=lambda x: x is None)
    if nesterov:
      # torch: grad.add(buf, alpha=momentum).
      directions = leafwise.map(
        lambda g, b: None if g is None else (g + momentum * b).astype(g.dtype),
        updates,
        buffers,
        is_leaf=lambda x: x is None,
      )
    else:
      directions = jax.tree.map(  # a cast: nothing to trace once
        lambda g, b: None if g is None else b.astype(g.dtype),
        updates,
        buffers,
        is_leaf=lambda x: x is None,
      )
    if traced_momentum:  # a momentum of 0 is known only now: torch then ignores the buffer.
      directions = leafwise.map(
        lambda g, d: None if g is None else numerics.select(momentum != 0, d, g),
        updates,
        directions,
        is_leaf=lambda x: x is None,
      )
    return directions, ScaleByTorchSGDState(
      momentum_buffer=optax.tree.cast_like(buffers, state.momentum_buffer),
      has_momentum_buffer=jnp.ones([], bool),
    )

  return optax.GradientTransformation(init_fn, update_fn)


def _check_sgd(lr, momentum, dampening, weight_decay, nesterov) -> None:
  _common.check_lr(lr)
  _common.check_at_least("Invalid momentum value", momentum, 0.0)
  _common.check_at_least("Invalid weight_decay value", weight_decay, 0.0)
  if nesterov:
    mu, tau = _common.concrete_or_none(momentum), _common.concrete_or_none(dampening)
    _common.check_torch(
      (mu is None or mu > 0) and (tau is None or tau == 0),
      "Nesterov momentum requires a momentum and zero dampening: "
      f"momentum={momentum}, dampening={dampening} (must be > 0 and == 0)",
    )


@_common.twin
def sgd(
  lr: optax.ScalarOrSchedule = 1e-3,
  momentum: jax.typing.ArrayLike | optax.Schedule = 0.0,
  dampening: jax.typing.ArrayLike = 0.0,
  weight_decay: jax.typing.ArrayLike = 0.0,
  nesterov: bool = False,
  *,
  maximize: bool = False,
  foreach: bool | None = None,
  differentiable: bool = False,
  fused: bool | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""``torch.optim.SGD``, step for step: same keywords, defaults and trajectory.

  ``maximize`` negates the gradient; ``weight_decay`` is L2 (``g + wd * p``, before the
  momentum). The direction is :func:`scale_by_torch_sgd`; the learning rate may be a float
  or an optax schedule (evaluated at count 0 on the first step):
  :math:`p_t = p_{t-1} - \mathrm{lr}\, d_t`.

  Args:
    lr: Learning rate, >= 0, or an optax schedule.
    momentum: Momentum factor, >= 0; 0 keeps no buffer; or a schedule (see
      :func:`scale_by_torch_sgd`).
    dampening: Dampening of the gradient in the buffer (from the second step on).
    weight_decay: L2 penalty, >= 0.
    nesterov: Nesterov momentum (needs ``momentum > 0`` and ``dampening == 0``).
    maximize: Maximize the objective instead of minimizing it.
    foreach: Accepted for torch compatibility; no effect on the math.
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
    >>> tx = torch_optim.sgd(lr=0.1, momentum=0.9, dampening=0.5)
    >>> params = jnp.array([1.0, -1.0])
    >>> state = tx.init(params)
    >>> for _ in range(2):
    ...   updates, state = tx.update(jnp.array([1.0, -2.0]), state, params)
    ...   params = optax.apply_updates(params, updates)
    >>> print(params.round(4))  # buffers: g, then 0.9 g + 0.5 g
    [ 0.76 -0.52]

  .. warning::
    Differences from ``optax.sgd``: optax has no ``dampening`` (its trace is
    ``g + mu * trace``, i.e. torch with ``dampening=0``), no ``maximize``, no weight
    decay (torch's is L2, before the momentum) and no default learning rate (torch:
    1e-3). The closest plain-optax recipe, exact only for ``dampening=0``, is
    ``optax.chain(optax.add_decayed_weights(wd), optax.sgd(lr, momentum, nesterov))``.
    Differences from torch: the state holds ``has_momentum_buffer`` (torch tests whether
    the buffer exists) and a buffer of -0.0 from ``init``; the first step still sets the
    buffer to the gradient, undamped, as torch does.
  """
  del foreach, differentiable, fused
  lr, momentum, dampening, weight_decay = (
    _common.hyperparameter(v) for v in (lr, momentum, dampening, weight_decay)
  )
  _check_sgd(lr, momentum, dampening, weight_decay, nesterov)
  return _common.torch_chain(
    scale_by_torch_sgd(momentum, dampening, nesterov=nesterov),
    lr=lr,
    weight_decay=weight_decay,
    maximize_=maximize,
  )
