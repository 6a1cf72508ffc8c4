r"""Twin of ``torch.optim.ASGD``."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxopt_fix._src import leafwise
from jaxopt_fix._src import numerics
from jaxopt_fix.torch_optim import _common
from jaxopt_fix.torch_optim import _state_schema as S


class ScaleByTorchASGDState(NamedTuple):
  """Per-parameter state with ``torch.optim.ASGD``'s keys.

  ``eta`` and ``mu`` are float32 scalars, as torch's (whatever the parameters' dtype).

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix import torch_optim
    >>> state = torch_optim.scale_by_torch_asgd().init(jnp.zeros(2))
    >>> state._fields
    ('step', 'eta', 'mu', 'ax')
    >>> print(state.eta, state.mu)
    0.01 1.0
  """

  step: jax.typing.ArrayLike  # int32 (), saturating; torch's is a float32 tensor.
  eta: jax.typing.ArrayLike  # float32 (): the step size of the next step
  mu: jax.typing.ArrayLike  # float32 (): the averaging weight of the next step
  ax: optax.Params  # the averaged parameters


SCHEMA = S.StateSchema(
  ScaleByTorchASGDState,
  S.Step(device="param"),
  S.GroupScalar("eta", device="param"),
  S.GroupScalar("mu", device="param"),
  S.PerParameter("ax"),
)
"""How each field maps to torch's state (see :mod:`jaxopt_fix.torch_optim._state_schema`)."""


def _scalar(value) -> jax.Array:
  """A float32 scalar holding ``value`` (computed in the widest dtype) rounded once."""
  return jnp.asarray(value, numerics.compute_dtype()).astype(jnp.float32)


def _delta(new: jax.Array, old: jax.Array) -> jax.Array:
  """An update ``u`` with ``old + u == new`` in ``old``'s dtype wherever one exists.

  ``new - old`` alone is rounded when ``new`` and ``old`` are not within a factor 2 of each
  other (a step much larger than the parameter), and ``old + (new - old)`` can then land an
  ulp away from ``new``; adding back the miss ``new - (old + u)`` (exact: both are close
  to ``new``) puts it back.
  """
  u = new - old
  return (u + (new - (old + u))).astype(old.dtype)


def scale_by_torch_asgd(
  lr: jax.typing.ArrayLike = 1e-2,
  lambd: jax.typing.ArrayLike = 1e-4,
  alpha: jax.typing.ArrayLike = 0.75,
  t0: jax.typing.ArrayLike = 1e6,
) -> optax.GradientTransformation:
  r"""``torch.optim.ASGD``'s single-tensor step after weight decay, as a parameter update.

  With :math:`\eta_0 = \text{lr}` and :math:`\mu_0 = 1`, step :math:`t` computes

  .. math::

    \theta_t = \theta_{t-1} (1 - \lambda \eta_{t-1}) - \eta_{t-1} g_t, \quad
    \bar\theta_t = \bar\theta_{t-1} + \mu_{t-1} (\theta_t - \bar\theta_{t-1})
      \text{ (} \theta_t \text{ if } \mu_{t-1} = 1 \text{)},

    \eta_t = \frac{\text{lr}}{(1 + \lambda \, \text{lr} \, t)^\alpha}, \quad
    \mu_t = \frac{1}{\max(1, t - t_0)},

  and returns :math:`\theta_t - \theta_{t-1}`: the step size comes from the state, so
  there is no learning-rate link after this one. :math:`\bar\theta` (``ax``) is the
  averaged iterate, read it from the state. Needs the parameters.

  Args:
    lr: The initial step size (a number).
    lambd: The decay term :math:`\lambda`.
    alpha: The power of the step-size decay.
    t0: The step at which averaging starts.

  Returns:
    A :class:`optax.GradientTransformation` with a :class:`ScaleByTorchASGDState`.

  Examples:
    The update already holds the step size, and the averaged iterate is in the state:

    >>> import jax.numpy as jnp
    >>> from jaxopt_fix import torch_optim
    >>> params, grads = jnp.array([1.0, -1.0]), jnp.array([0.5, -2.0])
    >>> tx = torch_optim.scale_by_torch_asgd(lr=0.1)
    >>> updates, state = tx.update(grads, tx.init(params), params)
    >>> print(updates, state.ax)
    [-0.05001003  0.20001   ] [ 0.94999 -0.79999]
    >>> twin = torch_optim.asgd(lr=0.1)  # the same step
    >>> bool((twin.update(grads, twin.init(params), params)[0] == updates).all())
    True
  """

  def init_fn(params):
    return ScaleByTorchASGDState(
      step=jnp.zeros([], jnp.int32),
      eta=_scalar(lr),
      mu=jnp.ones([], jnp.float32),
      ax=optax.tree.zeros_like(params),
    )

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError("ASGD needs the params: call update(updates, state, params)")
    step = optax.safe_increment(state.step)
    dtype = numerics.compute_dtype()
    eta = jnp.asarray(state.eta, dtype)
    # torch: param.mul_(1 - lambd * eta); param.add_(grad, alpha=-eta), eta a Python float.
    decay = 1 - lambd * eta

    def new_param(g, p):
      return (numerics.rounded_product(p, decay.astype(p.dtype)) - eta.astype(p.dtype) * g).astype(
        p.dtype
      )

    new_params = leafwise.map(new_param, updates, params)
    # torch: ax.add_(param.sub(ax).mul_(mu)) unless mu == 1, where ax.copy_(param).
    averaging = state.mu != 1
    ax = leafwise.map(
      lambda p, a: jnp.where(
        averaging, a + numerics.rounded_product(p - a, state.mu.astype(p.dtype)), p
      ).astype(a.dtype),
      new_params,
      state.ax,
    )
    t = jnp.asarray(step, dtype)
    new_eta = _scalar(lr / (1 + (lambd * lr) * t) ** alpha)
    new_mu = _scalar(1 / jnp.maximum(1, t - t0))
    deltas = leafwise.map(_delta, new_params, params)
    return deltas, ScaleByTorchASGDState(step=step, eta=new_eta, mu=new_mu, ax=ax)

  return optax.GradientTransformation(init_fn, update_fn)


@_common.twin
def asgd(
  lr: jax.typing.ArrayLike = 1e-2,
  lambd: jax.typing.ArrayLike = 1e-4,
  alpha: jax.typing.ArrayLike = 0.75,
  t0: jax.typing.ArrayLike = 1e6,
  weight_decay: jax.typing.ArrayLike = 0.0,
  foreach: bool | None = None,
  maximize: bool = False,
  differentiable: bool = False,
  capturable: bool = False,
) -> optax.GradientTransformationExtraArgs:
  r"""``torch.optim.ASGD``, step for step: same keywords, defaults and trajectory.

  ``maximize`` negates the gradient; ``weight_decay`` is L2 (``g + wd * p``); then
  :func:`scale_by_torch_asgd` moves the parameters with its own decaying step size
  :math:`\eta_t = \text{lr} / (1 + \lambda \, \text{lr} \, t)^\alpha` and keeps the
  averaged iterate in the state field ``ax`` (averaging starts after step ``t0``).
  ``lr`` is the initial step size, a number: not a schedule.

  Args:
    lr: Initial step size, >= 0.
    lambd: Decay term.
    alpha: Power for the step-size update.
    t0: The step at which averaging starts.
    weight_decay: L2 penalty, >= 0.
    foreach: Accepted for torch compatibility; no effect on the math.
    maximize: Maximize the objective instead of minimizing it.
    differentiable: Accepted for torch compatibility; no effect on the math.
    capturable: Accepted for torch compatibility; no effect on the math. torch accepts
      ``capturable=True`` at construction and refuses it at ``step`` for CPU tensors;
      the twin computes the same update on every device.

  Returns:
    The corresponding :class:`optax.GradientTransformationExtraArgs`; ``update`` needs
    the params.

  Raises:
    ValueError: with torch's message, for the values torch rejects, and for a schedule
      ``lr``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> tx = torch_optim.asgd(lr=0.1, t0=0)
    >>> params = jnp.array([1.0, -1.0])
    >>> state = tx.init(params)
    >>> for _ in range(2):
    ...   updates, state = tx.update(jnp.array([0.5, 0.5]), state, params)
    ...   params = optax.apply_updates(params, updates)
    >>> print(params.round(4), optax.tree.get(state, "ax").round(4))
    [ 0.9 -1.1] [ 0.9 -1.1]

  .. warning::
    optax has no ASGD. Without averaging (``t0`` beyond the run) the parameters follow
    SGD with the decaying step size above and a decay ``1 - lambd * eta`` of the
    parameters; ``optax.sgd`` with a schedule ``lr / (1 + lambd * lr * t) ** alpha``
    plus ``optax.add_decayed_weights(lambd)`` is the closest plain-optax recipe (it
    differs in rounding and in the step the schedule is evaluated at).
    Differences from torch: ``step`` is a saturating int32 (torch's float32 ``step``
    freezes at 2**24); without float64 (``jax_enable_x64``), :math:`\eta_t`,
    :math:`\mu_t` and ``1 - lambd * eta`` are computed in float32, where torch uses
    Python floats, so ``eta`` can differ from torch's by an ulp. Complex parameters
    are not supported.
  """
  del foreach, differentiable, capturable
  if callable(lr):
    raise ValueError(
      "lr: the ASGD twin computes eta from a constant lr; a schedule is not supported "
      "(torch recomputes eta from the group's current lr after each step)"
    )
  lr = _common.hyperparameter(lr)
  _common.check_lr(lr)
  _common.check_at_least("Invalid weight_decay value", weight_decay, 0.0)
  return optax.chain(
    _common.maximize(maximize),
    _common.coupled_weight_decay(weight_decay),
    scale_by_torch_asgd(lr, lambd, alpha, t0),
  )
