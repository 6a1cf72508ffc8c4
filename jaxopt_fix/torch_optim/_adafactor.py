r"""Twin of ``torch.optim.Adafactor``."""

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


def _is_factored(shape: tuple[int, ...]) -> bool:
  """torch factors the second moment of a parameter of 2 or more dimensions."""
  return len(shape) > 1


def _factored(x) -> bool:
  return _is_factored(jnp.shape(x))


class ScaleByTorchAdafactorState(NamedTuple):
  """Per-parameter state with ``torch.optim.Adafactor``'s keys.

  torch keeps ``row_var`` and ``col_var`` for a parameter of 2 or more dimensions and
  ``variance`` for the others; each field here is a tree like the parameters, holding a
  zero-filled placeholder of shape ``(1,) * ndim`` where torch has no such key.

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix import torch_optim
    >>> params = {"b": jnp.zeros(3), "w": jnp.zeros((2, 3))}
    >>> state = torch_optim.scale_by_torch_adafactor().init(params)
    >>> state._fields
    ('step', 'row_var', 'col_var', 'variance')
    >>> print(state.row_var["w"].shape, state.col_var["w"].shape, state.variance["b"].shape)
    (2, 1) (1, 3) (3,)
  """

  step: jax.typing.ArrayLike  # int32 (), saturating; torch's is a float32 tensor.
  row_var: optax.Updates  # shape[:-1] + (1,): mean of g^2 over the last dimension
  col_var: optax.Updates  # shape[:-2] + (1, shape[-1]): mean over the second-to-last
  variance: optax.Updates  # like the parameter (fewer than 2 dimensions)


SCHEMA = S.StateSchema(
  ScaleByTorchAdafactorState,
  S.Step(),
  S.PerParameter("row_var", kept_for=_is_factored, torch_shape=lambda s: (*s[:-1], 1)),
  S.PerParameter("col_var", kept_for=_is_factored, torch_shape=lambda s: (*s[:-2], 1, s[-1])),
  S.PerParameter("variance", kept_for=lambda s: not _is_factored(s)),
)
"""How each field maps to torch's state (see :mod:`jaxopt_fix.torch_optim._state_schema`)."""


def _placeholder(p) -> jax.Array:
  return jnp.zeros((1,) * jnp.ndim(p), jnp.result_type(p))


def _rsqrt(x):
  """torch's CPU ``rsqrt_``: ``1 / sqrt(x)``, each rounded, in
  :func:`~jaxopt_fix._src.numerics.opmath_dtype` (float32 for bfloat16) and rounded once.

  XLA rewrites ``1 / sqrt(x)`` to its own ``rsqrt``, which differs from it in the last bit
  for a third of float32 inputs; :func:`~jaxopt_fix._src.numerics.rounded_sqrt` blocks the
  rewrite. Rounding the bfloat16 root before dividing (bfloat16 arithmetic) would differ from
  torch for 14% of the bfloat16 values.
  """
  root = numerics.rounded_sqrt(numerics.to_opmath(x, x.dtype))
  return (1 / root).astype(x.dtype)


def _mean_square_along(g, axis: int):
  """torch's ``torch.norm(g, dim=axis, keepdim=True).square_().div_(g.size(axis))``."""
  wide = numerics.to_opmath(g, g.dtype)  # squared in float32 for bfloat16, as in torch's norm
  norm = jnp.sqrt(jnp.sum(wide * wide, axis=axis, keepdims=True)).astype(g.dtype)
  return numerics.rounded_product(norm, norm) / g.shape[axis]


def _norm(x) -> jax.Array:
  """``x.norm(2).item()``: summed in :func:`~jaxopt_fix._src.numerics.opmath_dtype` (torch's
  reduction squares bfloat16 elements in float32, unrounded), then in the widest float dtype."""
  x = numerics.to_opmath(x, x.dtype)
  return jnp.sqrt(jnp.sum(x * x)).astype(numerics.compute_dtype())


def _rms(x) -> jax.Array:
  """``x.norm(2).item() / (x.numel() ** 0.5)``."""
  return _norm(x) / jnp.sqrt(jnp.asarray(x.size, numerics.compute_dtype()))


def scale_by_torch_adafactor(
  lr: optax.ScalarOrSchedule = 1e-2,
  beta2_decay: jax.typing.ArrayLike = -0.8,
  eps: tuple[jax.typing.ArrayLike | None, jax.typing.ArrayLike] = (None, 1e-3),
  d: jax.typing.ArrayLike = 1.0,
) -> optax.GradientTransformation:
  r"""``torch.optim.Adafactor``'s single-tensor direction :math:`\alpha_t \hat U_t`.

  At step :math:`t`, with :math:`\hat\beta_{2,t} = 1 - t^{\tau}` (``tau = beta2_decay``),
  :math:`\rho_t = \min(\text{lr}, 1/\sqrt t)` and
  :math:`\alpha_t = \max(\epsilon_2, \operatorname{RMS}(\theta_{t-1})) \rho_t`: for a
  parameter of 2 or more dimensions (factored along the last two)

  .. math::

    R_t = \operatorname{lerp}(R_{t-1}, \operatorname{mean}_{-1} G_t^2, t^{\tau}), \quad
    C_t = \operatorname{lerp}(C_{t-1}, \operatorname{mean}_{-2} G_t^2, t^{\tau}), \quad
    \hat V_t = \frac{R_t C_t}{\max(\operatorname{mean}_{-2} R_t, \epsilon_1)},

  otherwise :math:`\hat V_t = \operatorname{lerp}(\hat V_{t-1}, G_t^2, t^{\tau})`; then
  :math:`U_t = G_t / \sqrt{\max(\hat V_t, \epsilon_1^2)}`,
  :math:`\hat U_t = U_t / \max(1, \operatorname{RMS}(U_t) / d)`, and the direction is
  :math:`\alpha_t \hat U_t` (negate it to descend). Needs the parameters (for
  :math:`\alpha_t`).

  Args:
    lr: ``lr``: the cap of the relative step size :math:`\rho_t`; a float or an optax
      schedule (evaluated at count 0 on the first step).
    beta2_decay: :math:`\tau`, <= 0.
    eps: ``(eps1, eps2)``; ``eps1=None`` means the machine epsilon of each parameter's
      dtype.
    d: The clipping threshold of the update's RMS.

  Returns:
    A :class:`optax.GradientTransformation` with a :class:`ScaleByTorchAdafactorState`.

  Examples:
    A vector keeps one ``variance``; a matrix keeps row and column factors instead:

    >>> import jax
    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> params, grads = jnp.array([1.0, -1.0]), jnp.array([0.5, -2.0])
    >>> tx = optax.chain(torch_optim.scale_by_torch_adafactor(), optax.scale(-1.0))
    >>> updates, state = jax.jit(tx.update)(grads, tx.init(params), params)  # as the twin runs
    >>> print(updates, state[0].variance)
    [-0.01  0.01] [0.25 4.  ]
    >>> matrix_state = tx.init(jnp.ones((3, 2)))[0]
    >>> matrix_state.row_var.shape, matrix_state.col_var.shape
    ((3, 1), (1, 2))
    >>> twin = torch_optim.adafactor()  # the same step
    >>> bool((twin.update(grads, twin.init(params), params)[0] == updates).all())
    True
  """
  eps1, eps2 = eps

  def init_fn(params):
    def row(p):
      return jnp.zeros((*jnp.shape(p)[:-1], 1), p.dtype) if _factored(p) else _placeholder(p)

    def col(p):
      shape = jnp.shape(p)
      return jnp.zeros((*shape[:-2], 1, shape[-1]), p.dtype) if _factored(p) else _placeholder(p)

    return ScaleByTorchAdafactorState(
      step=jnp.zeros([], jnp.int32),
      row_var=jax.tree.map(row, params),
      col_var=jax.tree.map(col, params),
      variance=jax.tree.map(
        lambda p: _placeholder(p) if _factored(p) else jnp.zeros_like(p), params
      ),
    )

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError("Adafactor needs the params: call update(updates, state, params)")
    dtype = numerics.compute_dtype()
    lr_t = lr(state.step) if callable(lr) else lr
    step = optax.safe_increment(state.step)
    t = jnp.asarray(step, dtype)
    weight = t**beta2_decay  # torch's one_minus_beta2_t
    rho = jnp.minimum(lr_t, 1 / jnp.sqrt(t))

    def leaf(g, p, r, c, v) -> tuple[Any, Any, Any, Any]:
      e1 = jnp.finfo(p.dtype).eps if eps1 is None else eps1
      alpha = jnp.maximum(eps2, _rms(p)) * rho
      if _factored(g):
        r = moments.lerp(r, _mean_square_along(g, -1), weight)
        c = moments.lerp(c, _mean_square_along(g, -2), weight)
        var_estimate = numerics.rounded_product(r, c) / jnp.maximum(
          jnp.mean(r, axis=-2, keepdims=True), jnp.asarray(e1, r.dtype)
        )
      else:
        v = moments.lerp(v, numerics.rounded_product(g, g), weight)
        var_estimate = v
      clamped = jnp.maximum(var_estimate, jnp.asarray(e1 * e1, g.dtype))
      update = _rsqrt(clamped) * g
      denom = jnp.maximum(1.0, _norm(update) / (jnp.sqrt(jnp.asarray(update.size, dtype)) * d))
      direction = update * (alpha / denom).astype(g.dtype)
      return direction.astype(g.dtype), r, c, v

    # One leaf after another: each factored leaf's reductions keep float32 copies of the
    # gradient, the update and the parameter in memory (see leafwise.map_in_sequence).
    out = leafwise.map_in_sequence(
      leaf, updates, params, state.row_var, state.col_var, state.variance
    )
    directions, row_var, col_var, variance = _common.unzip(updates, out, 4)
    return directions, ScaleByTorchAdafactorState(
      step=step,
      row_var=optax.tree.cast_like(row_var, state.row_var),
      col_var=optax.tree.cast_like(col_var, state.col_var),
      variance=optax.tree.cast_like(variance, state.variance),
    )

  return optax.GradientTransformation(init_fn, update_fn)


@_common.twin
def adafactor(
  lr: optax.ScalarOrSchedule = 1e-2,
  beta2_decay: jax.typing.ArrayLike = -0.8,
  eps: tuple[jax.typing.ArrayLike | None, jax.typing.ArrayLike] = (None, 1e-3),
  d: jax.typing.ArrayLike = 1.0,
  weight_decay: jax.typing.ArrayLike = 0.0,
  *,
  foreach: bool | None = None,
  maximize: bool = False,
) -> optax.GradientTransformationExtraArgs:
  r"""``torch.optim.Adafactor``, step for step: same keywords, defaults and trajectory.

  ``maximize`` negates the gradient; the step is :func:`scale_by_torch_adafactor`, negated
  (its scale :math:`\alpha_t` comes from the parameters' RMS and :math:`\rho_t`, so there
  is no learning-rate multiplier); ``weight_decay`` is decoupled, ``p *= 1 - lr * wd``,
  with :math:`\alpha_t` taken from the parameters before the decay, as torch does.

  Args:
    lr: The cap of the relative step size, >= 0 (a float or an optax schedule).
    beta2_decay: The decay exponent of beta2, <= 0.
    eps: ``(eps1, eps2)``: ``eps1`` >= 0 or None (the dtype's machine epsilon), the
      floor of the variance estimate; ``eps2`` >= 0, the floor of the parameters' RMS.
    d: The clipping threshold, >= 1.
    weight_decay: Decoupled weight decay coefficient, >= 0.
    foreach: Accepted for torch compatibility; the twin follows torch's single-tensor
      step (torch's default for Adafactor), from which ``foreach=True`` differs in the
      last bits.
    maximize: Maximize the objective instead of minimizing it.

  Returns:
    The corresponding :class:`optax.GradientTransformationExtraArgs`; ``update`` needs
    the params.

  Raises:
    ValueError: with torch's message, for the values torch rejects.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> tx = torch_optim.adafactor(lr=0.1)
    >>> params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}
    >>> state = tx.init(params)
    >>> grads = {"w": jnp.ones((2, 3)), "b": jnp.ones(3)}
    >>> updates, state = tx.update(grads, state, params)
    >>> print(optax.apply_updates(params, updates)["w"][0].round(4))
    [0.9 0.9 0.9]
    >>> row_var, col_var = optax.tree.get(state, "row_var"), optax.tree.get(state, "col_var")
    >>> print(row_var["w"].shape, col_var["w"].shape)
    (2, 1) (1, 3)

  .. warning::
    Differences from ``optax.adafactor`` (same decay :math:`1 - t^{-0.8}`): optax adds
    ``eps`` (1e-30) to the squared gradient before averaging instead of flooring the
    variance estimate at ``eps1``; it factors only parameters with two dimensions
    >= ``min_dim_size_to_factor`` (128), along their two largest dimensions (torch: every
    parameter of 2 or more dimensions, along the last two); it has no relative step size
    :math:`\rho_t`, scaling the clipped update by ``learning_rate`` (default None: none)
    and by ``max(1e-3, RMS(param))``; its ``weight_decay_rate`` adds ``wd * param`` to the
    scaled update (torch: ``param *= 1 - lr * wd``). No plain-optax recipe reproduces
    torch's trajectory.
    Differences from torch: ``step`` is a saturating int32; the parameter and update
    RMS use XLA's reduction order (torch's differs in the last bit); without float64
    (``jax_enable_x64``) the scalar arithmetic (:math:`t^{\tau}`, :math:`\alpha_t`, the
    clipping denominator) is float32 where torch uses Python floats; fields torch does
    not have for a parameter hold zero placeholders.
  """
  del foreach
  lr = _common.hyperparameter(lr)
  if not callable(lr):
    _common.check_at_least("Learning rate should be >= 0 but is", lr, 0.0)
  beta2 = _common.concrete_or_none(beta2_decay)
  if beta2 is not None:
    _common.check_torch(
      beta2 <= 0.0, f"beta2_decay should be <= 0 but is: {beta2_decay} (must be <= 0)"
    )
  if eps[0] is not None:
    _common.check_at_least("epsilon1 should be >= 0 but is", eps[0], 0.0)
  _common.check_at_least("epsilon2 should be >= 0 but is", eps[1], 0.0)
  _common.check_at_least("Clipping threshold d should be >= 1 but is", d, 1.0)
  _common.check_at_least("weight_decay should be >= 0 but is", weight_decay, 0.0)
  return optax.chain(
    _common.maximize(maximize),
    scale_by_torch_adafactor(lr, beta2_decay, eps, d),
    optax.scale(-1.0),
    _common.decoupled_weight_decay(lr, weight_decay),
  )
