r"""AMSGrad and Yogi as optax gradient transformations, in every published semantics.

Each ``scale_by_*`` returns an :class:`optax.GradientTransformation` whose
update is the *descent direction* (no learning rate, no sign flip), so it is
used as ``optax.chain(scale_by_amsgrad(), optax.scale(-lr))``; the aliases in
:mod:`jaxopt_fix._src.alias` do exactly that.

The variants differ in real algorithmic choices (which moment is maximised, which
is bias-corrected, where ``eps`` goes, what the accumulators start at), not in
rounding. Each variant is a row of a small table (``_AMSGRAD_VARIANTS``,
``_YOGI_VARIANTS``); the update code reads the row and never branches on the
variant's name.
"""

from __future__ import annotations

import typing
from typing import Literal
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxopt_fix._src import leafwise
from jaxopt_fix._src import moments
from jaxopt_fix._src import numerics
from jaxopt_fix._src import validation


class ScaleByAmsgradState(NamedTuple):
  """State of :func:`scale_by_amsgrad`.

  The fields map one to one onto ``torch.optim.Adam(amsgrad=True)``'s state:
  ``count`` ↔ ``step``, ``mu`` ↔ ``exp_avg``, ``nu`` ↔ ``exp_avg_sq`` and
  ``nu_max`` ↔ ``max_exp_avg_sq``. In the ``"optax"`` variant ``nu_max`` holds
  the maximum of the *bias-corrected* second moment, as optax's does.

  Examples:
    >>> import jax.numpy as jnp
    >>> import jaxopt_fix
    >>> tx = jaxopt_fix.scale_by_amsgrad()
    >>> state = tx.init({"w": jnp.zeros(2)})
    >>> state._fields
    ('count', 'mu', 'nu', 'nu_max')
    >>> _, state = tx.update({"w": jnp.array([3.0, -4.0])}, state)
    >>> print(state.count, state.nu_max["w"])
    1 [0.009 0.016]
  """

  count: jax.typing.ArrayLike  # pyright: ignore[reportIncompatibleMethodOverride]  # int32 ()
  mu: optax.Updates
  nu: optax.Updates
  nu_max: optax.Updates


class ScaleByYogiState(NamedTuple):
  """State of :func:`scale_by_yogi` (``mu`` ↔ ``exp_avg``, ``nu`` ↔ ``exp_avg_sq``).

  Examples:
    In the default ``"torch_optimizer"`` variant both moments start at
    ``initial_accumulator_value``:

    >>> import jax.numpy as jnp
    >>> import jaxopt_fix
    >>> state = jaxopt_fix.scale_by_yogi().init({"w": jnp.zeros(2)})
    >>> state._fields
    ('count', 'mu', 'nu')
    >>> print(state.mu["w"], state.nu["w"])
    [1.e-06 1.e-06] [1.e-06 1.e-06]
  """

  count: jax.typing.ArrayLike  # pyright: ignore[reportIncompatibleMethodOverride]  # int32 ()
  mu: optax.Updates
  nu: optax.Updates


class _AmsgradRow(NamedTuple):
  debias_mu: bool  # divide the first moment by 1 - b1**t
  max_of: Literal["raw", "debiased"]  # which second moment enters the max
  debias_max: bool  # divide sqrt(nu_max) by sqrt(1 - b2**t) after the max
  # Both corrections as one factor sqrt(1 - b2**t) / (1 - b1**t) of m / (sqrt(nu_max) + eps):
  # eps on the uncorrected root (Keras's epsilon-hat form).
  fold_corrections: bool = False


AmsgradVariant = Literal["torch", "paper", "optax", "keras"]
"""The names of :func:`scale_by_amsgrad`'s variants."""

_AMSGRAD_VARIANTS: dict[str, _AmsgradRow] = {
  "torch": _AmsgradRow(debias_mu=True, max_of="raw", debias_max=True),
  "paper": _AmsgradRow(debias_mu=False, max_of="raw", debias_max=False),
  "optax": _AmsgradRow(debias_mu=True, max_of="debiased", debias_max=False),
  "keras": _AmsgradRow(debias_mu=True, max_of="raw", debias_max=True, fold_corrections=True),
}
AMSGRAD_VARIANTS: tuple[str, ...] = typing.get_args(AmsgradVariant)
"""The ``variant`` names of :func:`scale_by_amsgrad` and :func:`amsgrad`, the default first."""
assert tuple(_AMSGRAD_VARIANTS) == AMSGRAD_VARIANTS


class _YogiRow(NamedTuple):
  mu_starts_at_accumulator: bool  # else m_0 = 0
  nu_starts_at_accumulator: bool  # else v_0 = 0
  # "adam": m/(1-b1**t) / (sqrt(v/(1-b2**t)) + eps), eps after the correction;
  # "tfa": sqrt(1-b2**t)/(1-b1**t) * m / (sqrt(v) + eps), eps before it;
  # "none": m / (sqrt(v) + eps).
  debias: Literal["adam", "tfa", "none"]


YogiVariant = Literal["torch_optimizer", "tfa", "d2l", "paper"]
"""The names of :func:`scale_by_yogi`'s variants."""

_YOGI_VARIANTS: dict[str, _YogiRow] = {
  "torch_optimizer": _YogiRow(True, True, "adam"),
  "tfa": _YogiRow(False, True, "tfa"),
  "d2l": _YogiRow(False, False, "adam"),
  "paper": _YogiRow(False, True, "none"),
}
YOGI_VARIANTS: tuple[str, ...] = typing.get_args(YogiVariant)
"""The ``variant`` names of :func:`scale_by_yogi` and :func:`yogi`, the default first."""
assert tuple(_YOGI_VARIANTS) == YOGI_VARIANTS


def _check_moment_hyperparameters(b1, b2, eps, eps_root) -> None:
  validation.check_unit_interval("b1", b1)
  validation.check_unit_interval("b2", b2)
  validation.check_non_negative("eps", eps)
  validation.check_non_negative("eps_root", eps_root)


def scale_by_amsgrad(
  b1: jax.typing.ArrayLike = 0.9,
  b2: jax.typing.ArrayLike = 0.999,
  eps: jax.typing.ArrayLike = 1e-8,
  eps_root: jax.typing.ArrayLike = 0.0,
  *,
  variant: AmsgradVariant = "torch",
  mu_dtype: jax.typing.DTypeLike | None = None,
) -> optax.GradientTransformation:
  r"""Rescales updates by the AMSGrad rule, in torch's, the paper's or optax's semantics.

  The update is the descent direction :math:`d_t` (:math:`x_{t+1} = x_t - \alpha d_t`
  once chained with the learning rate), with Adam's moments :math:`m_t, v_t` from zero
  and :math:`b_{k,t} = 1 - \beta_k^t`:

  .. math::

    \text{torch:} \quad \hat v^{\max}_t = \max(\hat v^{\max}_{t-1}, v_t), \qquad
    d_t = \frac{1}{b_{1,t}} \,
      \frac{m_t}{\sqrt{\hat v^{\max}_t + \epsilon_{root} b_{2,t}} / \sqrt{b_{2,t}} + \epsilon},

    \text{paper:} \quad \hat v^{\max}_t = \max(\hat v^{\max}_{t-1}, v_t), \qquad
    d_t = \frac{m_t}{\sqrt{\hat v^{\max}_t + \epsilon_{root}} + \epsilon},

    \text{optax:} \quad \hat v^{\max}_t = \max(\hat v^{\max}_{t-1}, v_t / b_{2,t}), \qquad
    d_t = \frac{1}{b_{1,t}} \, \frac{m_t}{\sqrt{\hat v^{\max}_t + \epsilon_{root}} + \epsilon},

    \text{keras:} \quad \hat v^{\max}_t = \max(\hat v^{\max}_{t-1}, v_t), \qquad
    d_t = \frac{\sqrt{b_{2,t}}}{b_{1,t}} \,
      \frac{m_t}{\sqrt{\hat v^{\max}_t + \epsilon_{root}} + \epsilon}.

  See :func:`jaxopt_fix.amsgrad` for the differences between the variants.

  Args:
    b1: Decay rate of the first moment, in [0, 1).
    b2: Decay rate of the second moment, in [0, 1).
    eps: A small constant added to the denominator outside the square root (as
      in the Adam paper) to avoid dividing by zero; >= 0 (0 is the paper's
      exact algorithm).
    eps_root: A small constant added inside the square root of the
      (bias-corrected) second moment, useful when differentiating through the
      update; >= 0.
    variant: ``"torch"`` (default; ``torch.optim.Adam(amsgrad=True)``),
      ``"paper"`` (Reddi et al., Algorithm 2), ``"optax"``
      (``optax.scale_by_amsgrad``) or ``"keras"`` (Keras / TF ``Adam(amsgrad=True)``,
      labml_nn's ``AMSGrad``: ε on the uncorrected root).
    mu_dtype: Optional dtype of the first moment; if ``None`` it is the dtype of
      the params.

  Returns:
    A :class:`optax.GradientTransformation` whose state is a
    :class:`ScaleByAmsgradState`.

  Examples:
    The update is the descent direction; chain a negative scale to descend.
    On a first step the direction is ``g / (|g| + eps)`` in every variant:

    >>> import jax.numpy as jnp
    >>> import optax
    >>> import jaxopt_fix
    >>> tx = optax.chain(jaxopt_fix.scale_by_amsgrad(b2=0.99), optax.scale(-0.1))
    >>> params = jnp.array([1.0, -2.0])
    >>> updates, state = tx.update(jnp.array([4.0, -0.5]), tx.init(params))
    >>> print(updates.round(6))
    [-0.1  0.1]
    >>> print(optax.tree.get(state, "nu_max").round(6))
    [0.16   0.0025]

  References:
    Reddi et al., `On the Convergence of Adam and Beyond
    <https://openreview.net/forum?id=ryQu7f-RZ>`_, ICLR 2018

  .. warning::
    The four variants are different algorithms, and none matches every
    framework; see the warnings of :func:`jaxopt_fix.amsgrad`.

  Raises:
    ValueError: if a concrete hyperparameter is out of range or the variant is
      unknown.
    TypeError: (at ``init``) if a params leaf is not a real float array.
  """
  _check_moment_hyperparameters(b1, b2, eps, eps_root)
  validation.check_choice("variant", variant, AMSGRAD_VARIANTS)
  spec = _AMSGRAD_VARIANTS[variant]
  mu_dtype = None if mu_dtype is None else jax.dtypes.canonicalize_dtype(mu_dtype)

  def init_fn(params):
    validation.check_float_leaves(params, "scale_by_amsgrad")
    validation.warn_if_eps_vanishes(params, eps, "scale_by_amsgrad")
    return ScaleByAmsgradState(
      count=jnp.zeros([], jnp.int32),
      mu=optax.tree.zeros_like(params, dtype=mu_dtype),
      nu=optax.tree.zeros_like(params),
      nu_max=optax.tree.zeros_like(params),
    )

  def update_fn(updates, state, params=None):
    del params
    count_inc = optax.safe_increment(state.count)
    mu = moments.lerp_moment(updates, state.mu, b1)
    nu = moments.ema_squared_moment(updates, state.nu, b2)

    bc1, bc2 = numerics.bias_corrections((b1, b2), count_inc)
    if spec.max_of == "raw":
      nu_max = leafwise.map(jnp.maximum, state.nu_max, nu)
    else:
      nu_max = leafwise.map(lambda m, v: jnp.maximum(m, v / bc2.astype(v.dtype)), state.nu_max, nu)
    nu_max = optax.tree.cast_like(nu_max, state.nu_max)
    if spec.fold_corrections:
      mu_scale, nu_correction = jnp.sqrt(bc2) / bc1, None
    else:
      mu_scale = 1 / bc1 if spec.debias_mu else None
      nu_correction = bc2 if spec.debias_max else None
    directions = moments.adam_direction(
      updates,
      mu,
      nu_max,
      mu_scale=mu_scale,
      nu_correction=nu_correction,
      eps=eps,
      eps_root=eps_root,
    )
    return directions, ScaleByAmsgradState(
      count=count_inc,
      mu=optax.tree.cast_like(mu, state.mu),
      nu=optax.tree.cast_like(nu, state.nu),
      nu_max=nu_max,
    )

  return optax.GradientTransformation(init_fn, update_fn)


def scale_by_yogi(
  b1: jax.typing.ArrayLike = 0.9,
  b2: jax.typing.ArrayLike = 0.999,
  eps: jax.typing.ArrayLike = 1e-3,
  eps_root: jax.typing.ArrayLike = 0.0,
  *,
  initial_accumulator_value: jax.typing.ArrayLike = 1e-6,
  variant: YogiVariant = "torch_optimizer",
) -> optax.GradientTransformation:
  r"""Rescales updates by the Yogi rule, in any of its four published semantics.

  See :func:`jaxopt_fix.yogi` for the math of every variant and the
  differences between them.

  Args:
    b1: Decay rate of the first moment, in [0, 1).
    b2: Rate of the additive second-moment update, in [0, 1).
    eps: A small constant added to the denominator outside the square root;
      >= 0. Yogi's published default is 1e-3, not Adam's 1e-8.
    eps_root: A small constant added inside the square root of the
      (bias-corrected) second moment; >= 0.
    initial_accumulator_value: The starting value of the accumulators the
      variant initialises (see :func:`jaxopt_fix.yogi`); >= 0.
    variant: ``"torch_optimizer"`` (default; ``torch_optimizer.Yogi`` and
      ``optax.scale_by_yogi``), ``"tfa"`` (TensorFlow Addons), ``"d2l"`` (Dive
      into Deep Learning) or ``"paper"`` (Zaheer et al., no bias correction).

  Returns:
    A :class:`optax.GradientTransformation` whose state is a
    :class:`ScaleByYogiState`.

  Examples:
    The variants start from different accumulators (here ``initial_accumulator_value=1e-6``):

    >>> import jax.numpy as jnp
    >>> import jaxopt_fix
    >>> for variant in jaxopt_fix.YOGI_VARIANTS:
    ...   tx = jaxopt_fix.scale_by_yogi(variant=variant)
    ...   state = tx.init(jnp.zeros(2))
    ...   print(f"{variant:16s} m0 = {state.mu[0]:.0e}  v0 = {state.nu[0]:.0e}")
    torch_optimizer  m0 = 1e-06  v0 = 1e-06
    tfa              m0 = 0e+00  v0 = 1e-06
    d2l              m0 = 0e+00  v0 = 0e+00
    paper            m0 = 0e+00  v0 = 1e-06

  References:
    Zaheer et al., `Adaptive Methods for Nonconvex Optimization
    <https://papers.nips.cc/paper/2018/hash/90365351ccc7437a1309dc64e4db32a3-Abstract.html>`_,
    NeurIPS 2018

  .. warning::
    The four variants are different algorithms; see the warnings of
    :func:`jaxopt_fix.yogi`.

  Raises:
    ValueError: if a concrete hyperparameter is out of range or the variant is
      unknown.
    TypeError: (at ``init``) if a params leaf is not a real float array.
  """
  _check_moment_hyperparameters(b1, b2, eps, eps_root)
  validation.check_non_negative("initial_accumulator_value", initial_accumulator_value)
  validation.check_choice("variant", variant, YOGI_VARIANTS)
  spec = _YOGI_VARIANTS[variant]

  def initial_moment(params, starts_at_accumulator):
    if starts_at_accumulator:
      return optax.tree.full_like(params, initial_accumulator_value)
    return optax.tree.zeros_like(params)

  def init_fn(params):
    validation.check_float_leaves(params, "scale_by_yogi")
    return ScaleByYogiState(
      count=jnp.zeros([], jnp.int32),
      mu=initial_moment(params, spec.mu_starts_at_accumulator),
      nu=initial_moment(params, spec.nu_starts_at_accumulator),
    )

  def update_fn(updates, state, params=None):
    del params
    count_inc = optax.safe_increment(state.count)
    mu = moments.ema_moment(updates, state.mu, b1)

    def yogi_nu(g, v):
      if g is None:
        return None
      g2 = g * g
      return v - (1 - b2) * jnp.sign(v - g2) * g2

    nu = leafwise.map(yogi_nu, updates, state.nu, is_leaf=lambda x: x is None)

    bc1, bc2 = numerics.bias_corrections((b1, b2), count_inc)
    if spec.debias == "adam":
      mu_scale = 1 / bc1
    elif spec.debias == "tfa":
      mu_scale = jnp.sqrt(bc2) / bc1
    else:
      mu_scale = None
    directions = moments.adam_direction(
      updates,
      mu,
      nu,
      mu_scale=mu_scale,
      nu_correction=bc2 if spec.debias == "adam" else None,
      eps=eps,
      eps_root=eps_root,
    )
    return directions, ScaleByYogiState(
      count=count_inc,
      mu=optax.tree.cast_like(mu, state.mu),
      nu=optax.tree.cast_like(nu, state.nu),
    )

  return optax.GradientTransformation(init_fn, update_fn)
