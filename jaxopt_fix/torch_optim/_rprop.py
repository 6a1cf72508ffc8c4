r"""Twin of ``torch.optim.Rprop``."""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxopt_fix._src import leafwise
from jaxopt_fix._src import numerics
from jaxopt_fix.torch_optim import _common
from jaxopt_fix.torch_optim import _state_schema as S


class ScaleByTorchRpropState(NamedTuple):
  """Per-parameter state with ``torch.optim.Rprop``'s keys.

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix import torch_optim
    >>> state = torch_optim.scale_by_torch_rprop(lr=0.01).init(jnp.zeros(2))
    >>> state._fields
    ('step', 'prev', 'step_size')
    >>> print(state.step_size)
    [0.01 0.01]
  """

  step: jax.typing.ArrayLike  # int32 (), saturating; torch's is a float32 tensor.
  prev: optax.Updates  # the previous gradient, zeroed where its sign flipped
  step_size: optax.Updates  # per-element step sizes, initialised to lr


SCHEMA = S.StateSchema(
  ScaleByTorchRpropState, S.Step(), S.PerParameter("prev"), S.PerParameter("step_size")
)
"""How each field maps to torch's state (see :mod:`jaxopt_fix.torch_optim._state_schema`)."""


def scale_by_torch_rprop(
  lr: jax.typing.ArrayLike = 1e-2,
  etas: tuple[jax.typing.ArrayLike, jax.typing.ArrayLike] = (0.5, 1.2),
  step_sizes: tuple[jax.typing.ArrayLike, jax.typing.ArrayLike] = (1e-6, 50.0),
) -> optax.GradientTransformation:
  r"""``torch.optim.Rprop``'s single-tensor step, returning ``step_size * sign(g)``.

  Per element, with :math:`s_t = \operatorname{sign}(g_t \cdot g_{prev})`:

  .. math::

    \eta_t = \operatorname{clip}\bigl(\eta_{t-1} \cdot
      (\eta_+ \text{ if } s_t > 0,\ \eta_- \text{ if } s_t < 0,\ 1 \text{ else}),
      \Gamma_{min}, \Gamma_{max}\bigr), \quad
    \tilde g_t = 0 \text{ if } s_t < 0 \text{ else } g_t,

    d_t = \eta_t \operatorname{sign}(\tilde g_t), \quad g_{prev} \leftarrow \tilde g_t.

  The step size is clamped at every step, also where :math:`s_t = 0` (the first step), so
  an ``lr`` outside ``step_sizes`` is clamped on the first step, as in torch. The returned
  direction must be negated (``optax.scale(-1)``) to descend.

  Args:
    lr: The initial step size :math:`\eta_0`.
    etas: ``(etaminus, etaplus)``, the decrease and increase factors.
    step_sizes: ``(min, max)``, the bounds of the step size.

  Returns:
    A :class:`optax.GradientTransformation` with a :class:`ScaleByTorchRpropState`.

  Examples:
    The direction is the step size times the gradient's sign; negate it to descend.
    The step size grows by ``etaplus`` while the sign holds:

    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> params, grads = jnp.array([1.0, -1.0]), jnp.array([0.5, -2.0])
    >>> tx = optax.chain(torch_optim.scale_by_torch_rprop(), optax.scale(-1.0))
    >>> state = tx.init(params)
    >>> updates, state = tx.update(grads, state)
    >>> updates, state = tx.update(grads, state)
    >>> print(updates, state[0].step_size)
    [-0.012  0.012] [0.012 0.012]
  """
  etaminus, etaplus = etas
  step_size_min, step_size_max = step_sizes

  def init_fn(params):
    return ScaleByTorchRpropState(
      step=jnp.zeros([], jnp.int32),
      prev=optax.tree.zeros_like(params),
      step_size=optax.tree.full_like(params, lr),
    )

  def stored(dtype):
    """etaplus, etaminus and the bounds as torch stores them in a ``dtype`` tensor, in float32
    below float32: exact there, so the selects and the clip that use them need no rounding (XLA
    would round after each of them)."""
    return tuple(
      numerics.to_opmath(jnp.asarray(v).astype(dtype), dtype)
      for v in (etaplus, etaminus, step_size_min, step_size_max)
    )

  def moves(g, prev, step_size, constants):
    dtype = step_size.dtype
    plus, minus, low, high = constants[jnp.dtype(dtype)]
    sign = numerics.to_opmath(jnp.sign(g * prev), dtype)
    # torch writes etaplus, then etaminus, then 1 into `sign` in place; NaN stays NaN.
    factor = jnp.where(sign > 0, plus, jnp.where(sign < 0, minus, jnp.where(sign == 0, 1, sign)))
    product = (numerics.to_opmath(step_size, dtype) * factor).astype(dtype)
    new_step_size = jnp.clip(numerics.to_opmath(product, dtype), low, high)
    new_prev = numerics.select(sign < 0, jnp.zeros_like(g), g)  # torch: grad[sign.eq(etaminus)] = 0
    return new_prev, new_step_size.astype(dtype)

  def update_fn(updates, state, params=None):
    del params
    # Once per dtype and call, before the per-leaf map.
    constants = leafwise.per_dtype(stored, state.step_size)
    leaf_moves = functools.partial(moves, constants=constants)
    prev, step_size = _common.unzip(
      updates, leafwise.map(leaf_moves, updates, state.prev, state.step_size), 2
    )
    # Recomputed inside the parameter's update, the new step size would be taken from the old
    # one, which XLA then copies before overwriting it in place.
    step_size = numerics.computed_once(step_size, state.step)
    directions = leafwise.map(
      lambda g, kept, size: (jnp.sign(kept) * size).astype(g.dtype), updates, prev, step_size
    )
    return directions, ScaleByTorchRpropState(
      step=optax.safe_increment(state.step),
      prev=optax.tree.cast_like(prev, state.prev),
      step_size=step_size,
    )

  return optax.GradientTransformation(init_fn, update_fn)


@_common.twin
def rprop(
  lr: jax.typing.ArrayLike = 1e-2,
  etas: tuple[jax.typing.ArrayLike, jax.typing.ArrayLike] = (0.5, 1.2),
  step_sizes: tuple[jax.typing.ArrayLike, jax.typing.ArrayLike] = (1e-6, 50.0),
  *,
  capturable: bool = False,
  foreach: bool | None = None,
  maximize: bool = False,
  differentiable: bool = False,
) -> optax.GradientTransformationExtraArgs:
  r"""``torch.optim.Rprop``, step for step: same keywords, defaults and trajectory.

  ``maximize`` negates the gradient; the step is :func:`scale_by_torch_rprop`, negated.
  ``lr`` is the *initial step size*, not a multiplier: it must be a number, not a
  schedule (torch's learning-rate schedulers have no effect on Rprop after its first
  step either).

  Args:
    lr: The initial step size, >= 0.
    etas: ``(etaminus, etaplus)`` with ``0 < etaminus < 1 < etaplus``.
    step_sizes: ``(min, max)`` step size (not validated, as in torch).
    capturable: Accepted for torch compatibility; no effect on the math. torch accepts
      ``capturable=True`` at construction and refuses it at ``step`` for CPU tensors;
      the twin computes the same update on every device.
    foreach: Accepted for torch compatibility; no effect on the math.
    maximize: Maximize the objective instead of minimizing it.
    differentiable: Accepted for torch compatibility; no effect on the math.

  Returns:
    The corresponding :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    ValueError: with torch's message, for the values torch rejects, and for a schedule
      ``lr``.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> tx = torch_optim.rprop(lr=0.1)
    >>> params = jnp.array([1.0, -1.0])
    >>> state = tx.init(params)
    >>> for g in ([0.5, -0.5], [0.5, 0.5]):
    ...   updates, state = tx.update(jnp.array(g), state, params)
    ...   params = optax.apply_updates(params, updates)
    >>> print(params.round(4), optax.tree.get(state, "step_size").round(4))
    [ 0.78 -0.9 ] [0.12 0.05]

  .. warning::
    Differences from ``optax.rprop``: optax leaves the step size unclamped where the
    gradient product is zero (an ``lr`` outside ``step_sizes`` is never clamped on the
    first step), keeps the previous *step* instead of the previous gradient, and has no
    ``maximize`` and no ``step`` count. The trajectories otherwise agree, so
    ``optax.rprop(lr, etaminus, etaplus, *step_sizes)`` is the closest plain-optax recipe
    when ``step_sizes[0] <= lr <= step_sizes[1]``.
    Differences from torch: ``step`` is a saturating int32 (torch's float32 ``step``
    freezes at 2**24); complex parameters are not supported.
  """
  del capturable, foreach, differentiable
  if callable(lr):
    raise ValueError("Rprop's lr is the initial step size: a schedule is not supported")
  lr = _common.hyperparameter(lr)
  _common.check_lr(lr)
  etaminus, etaplus = (_common.concrete_or_none(v) for v in etas)
  if etaminus is not None and etaplus is not None:
    _common.check_torch(
      0.0 < etaminus < 1.0 < etaplus,
      f"Invalid eta values: {etaminus}, {etaplus} (must be 0 < etaminus < 1 < etaplus)",
    )
  return optax.chain(
    _common.maximize(maximize),
    scale_by_torch_rprop(lr, etas, step_sizes),
    optax.scale(-1.0),
  )
