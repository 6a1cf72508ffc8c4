r"""Twin of ``torch.optim.Muon``."""

from __future__ import annotations

import math
from typing import Any
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

# torch.optim._muon's defaults (Keller Jordan's coefficients).
_NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
_EPS = 1e-7
_NS_STEPS = 5
_ADJUST_LR_FNS = (None, "original", "match_rms_adamw")


class ScaleByTorchMuonState(NamedTuple):
  """Per-parameter state with ``torch.optim.Muon``'s key (torch keeps no ``step``).

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix import torch_optim
    >>> state = torch_optim.scale_by_torch_muon().init(jnp.zeros((2, 3)))
    >>> state._fields
    ('momentum_buffer',)
    >>> print(state.momentum_buffer.shape)
    (2, 3)
  """

  momentum_buffer: optax.Updates


SCHEMA = S.StateSchema(ScaleByTorchMuonState, S.PerParameter("momentum_buffer"))
"""How each field maps to torch's state (see :mod:`jaxopt_fix.torch_optim._state_schema`)."""


def _check_2d(tree: Any) -> None:
  """torch's constructor check: every parameter must be a matrix."""
  for leaf in jax.tree.leaves(tree):
    if jnp.ndim(leaf) != 2:
      raise ValueError(
        "Muon only supports 2D parameters whereas we found a parameter with size: "
        f"{tuple(jnp.shape(leaf))} (use a standard optimizer such as adamw for the others)"
      )


def _fma_first(x: jax.Array, beta: float, product: jax.Array, alpha: float) -> jax.Array:
  """``beta * x + alpha * product`` in float32 as torch's bfloat16 ``addmm`` rounds it:
  ``alpha * product`` rounded, then one fused multiply-add ``fma(beta, x, .)``."""
  scaled = product if alpha == 1 else numerics.rounded_product(product, jnp.float32(alpha))
  return jnp.float32(beta) * x.astype(jnp.float32) + scaled


def _matmul(a: jax.Array, b: jax.Array) -> jax.Array:
  """A bfloat16 matrix product accumulated in float32 (products of bfloat16s are exact)."""
  return jnp.matmul(a, b, preferred_element_type=jnp.float32, precision=jax.lax.Precision.HIGHEST)


def newton_schulz(
  matrix: jax.Array,
  ns_coefficients: tuple[float, float, float] = _NS_COEFFICIENTS,
  ns_steps: int = _NS_STEPS,
  eps: float = _EPS,
) -> jax.Array:
  """torch's ``_zeropower_via_newtonschulz``: the quintic iteration, in bfloat16.

  As torch: the matrix is rounded to bfloat16 (via float32, as torch converts a float64
  tensor), transposed if it has more rows than columns, divided by its Frobenius norm
  (clamped below at ``eps``), then iterated ``ns_steps`` times with
  ``G = X X^T; U = b G + c G G; X = a X + U X``, every product and every ``addmm``
  accumulated in float32 and rounded once to bfloat16. Returns bfloat16.
  """
  a, b, c = ns_coefficients
  x = matrix.astype(jnp.float32).astype(jnp.bfloat16)
  tall = matrix.shape[0] > matrix.shape[1]
  if tall:
    x = x.T
  norm = jnp.sqrt(jnp.sum(jnp.square(x.astype(jnp.float32)))).astype(jnp.bfloat16)
  norm = jnp.maximum(norm, jnp.asarray(eps, jnp.float32).astype(jnp.bfloat16))
  x = (x.astype(jnp.float32) / norm.astype(jnp.float32)).astype(jnp.bfloat16)
  for _ in range(ns_steps):
    gram = _matmul(x, x.T).astype(jnp.bfloat16)
    gram_update = _fma_first(gram, b, _matmul(gram, gram), c).astype(jnp.bfloat16)
    x = _fma_first(x, a, _matmul(gram_update, x), 1.0).astype(jnp.bfloat16)
  return x.T if tall else x


def _check_ns(ns_coefficients, ns_steps) -> None:
  """torch checks these at the first step; we check them at construction."""
  _common.check_torch(
    ns_steps < 100,
    f"Number of steps must be less than 100 for computational efficiency: {ns_steps}",
  )
  _common.check_torch(
    len(ns_coefficients) == 3,
    f"Coefficients must be a tuple of exactly 3 values: {ns_coefficients}",
  )


def scale_by_torch_muon(
  momentum: float = 0.95,
  *,
  nesterov: bool = True,
  ns_coefficients: tuple[float, float, float] = _NS_COEFFICIENTS,
  eps: float = _EPS,
  ns_steps: int = _NS_STEPS,
) -> optax.GradientTransformation:
  r"""The direction of ``torch.optim.Muon``'s step (no lr, no shape adjustment, no decay).

  .. math::

    B_t = \operatorname{lerp}(B_{t-1}, g_t, 1 - \mu), \quad
    \tilde B_t = \operatorname{lerp}(g_t, B_t, \mu) \text{ if nesterov else } B_t, \quad
    d_t = \mathrm{NS}^{(a, b, c)}_k(\tilde B_t; \varepsilon),

  with :func:`newton_schulz` computed in bfloat16, as torch does, and cast back to the
  parameter's dtype.

  Args:
    momentum: ``momentum``.
    nesterov: ``nesterov``.
    ns_coefficients: ``(a, b, c)``.
    eps: Lower clamp of the norm the matrix is divided by.
    ns_steps: Newton–Schulz iterations.

  Returns:
    A :class:`optax.GradientTransformation` with a :class:`ScaleByTorchMuonState`.

  Raises:
    ValueError: at ``init`` for a parameter that is not 2-D.

  Examples:
    The direction of a matrix gradient is close to an orthogonal matrix (Newton–Schulz
    in bfloat16, so only roughly):

    >>> import jax.numpy as jnp
    >>> from jaxopt_fix import torch_optim
    >>> tx = torch_optim.scale_by_torch_muon()
    >>> params, grads = jnp.zeros((2, 2)), jnp.array([[1.0, 2.0], [3.0, 4.0]])
    >>> updates, state = tx.update(grads, tx.init(params))
    >>> print(jnp.linalg.svd(updates, compute_uv=False).round(1))
    [1.1 0.7]
  """
  _check_ns(ns_coefficients, ns_steps)

  def init_fn(params):
    _check_2d(params)
    return ScaleByTorchMuonState(momentum_buffer=optax.tree.zeros_like(params))

  def update_fn(updates, state, params=None):
    del params
    _check_2d(updates)
    buf = moments.lerp_moment(updates, state.momentum_buffer, momentum)
    directions = leafwise.map(
      lambda g, m: (
        newton_schulz(
          moments.lerp(g, m, momentum) if nesterov else m, ns_coefficients, ns_steps, eps
        )
      ).astype(g.dtype),
      updates,
      buf,
    )
    return directions, ScaleByTorchMuonState(
      momentum_buffer=optax.tree.cast_like(buf, state.momentum_buffer)
    )

  return optax.GradientTransformation(init_fn, update_fn)


def _lr_ratio(adjust_lr_fn: str | None, shape: tuple[int, ...]) -> float:
  """torch's ``_adjust_lr`` factor for a parameter of ``shape``."""
  rows, cols = shape[:2]
  if adjust_lr_fn is None or adjust_lr_fn == "original":
    return math.sqrt(max(1, rows / cols))
  return 0.2 * math.sqrt(max(rows, cols))


def _scalar_dtype(lr: Any) -> np.dtype | None:
  """The dtype of a torch tensor ``lr`` (torch's Muon keeps it a tensor), else None."""
  if type(lr).__module__.startswith("torch"):
    return jnp.dtype(str(lr.dtype).removeprefix("torch."))
  return None


def adjusted_learning_rate(
  lr: optax.ScalarOrSchedule,
  adjust_lr_fn: str | None = None,
  *,
  lr_dtype: np.dtype | None = None,
) -> optax.GradientTransformation:
  """Multiplies each matrix by ``-lr * ratio(shape)``, the factor formed first as torch
  forms ``adjusted_lr`` (one rounding of the update, not two); a schedule is evaluated at
  count 0 on the first step. ``lr_dtype``: torch was given ``lr`` as a tensor of that
  dtype, so ``lr * ratio`` is rounded to it."""

  def init_fn(params):
    del params
    return optax.ScaleByScheduleState(count=jnp.zeros([], jnp.int32))

  def factor(lr_t, shape):
    if lr_dtype is None:
      return -lr_t * _lr_ratio(adjust_lr_fn, shape)
    return -float(lr_dtype.type(lr_t) * lr_dtype.type(_lr_ratio(adjust_lr_fn, shape)))

  def update_fn(updates, state, params=None):
    del params
    lr_t = lr(state.count) if callable(lr) else lr
    updates = leafwise.map(lambda u: (u * factor(lr_t, u.shape)).astype(u.dtype), updates)
    return updates, optax.ScaleByScheduleState(count=optax.safe_increment(state.count))

  return optax.GradientTransformation(init_fn, update_fn)


def _decoupled_weight_decay_in(lr: Any, weight_decay: Any, dtype: np.dtype):
  """torch's ``param.mul_(1 - lr * weight_decay)`` with ``lr`` a tensor of ``dtype``: the
  factor is computed in that dtype (float32 for ``lr=torch.tensor(0.001)``)."""
  wd = _common.concrete_or_none(weight_decay)
  if wd == 0.0:
    return optax.identity()
  if wd is None:
    return _common.decoupled_weight_decay(lr, weight_decay)
  factor = float(dtype.type(1) - dtype.type(lr) * dtype.type(wd))

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError("decoupled weight decay needs the params")
    updates = leafwise.map(
      lambda u, p: (u + (numerics.rounded_product(p, factor) - p)).astype(u.dtype), updates, params
    )
    return updates, state

  return optax.GradientTransformation(lambda params: optax.EmptyState(), update_fn)


@_common.twin
def muon(
  lr: optax.ScalarOrSchedule = 1e-3,
  weight_decay: jax.typing.ArrayLike = 0.1,
  momentum: float = 0.95,
  nesterov: bool = True,
  ns_coefficients: tuple[float, float, float] = _NS_COEFFICIENTS,
  eps: float = _EPS,
  ns_steps: int = _NS_STEPS,
  adjust_lr_fn: str | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""``torch.optim.Muon``, step for step: same keywords, defaults and trajectory.

  For every (2-D) parameter :math:`\theta` of shape :math:`A \times B`:

  .. math::

    \theta_t = \theta_{t-1} (1 - \gamma \lambda) - \gamma\, r(A, B)\, d_t,

  with :math:`d_t` from :func:`scale_by_torch_muon` (momentum, Nesterov, Newton–Schulz in
  bfloat16) and :math:`r = \sqrt{\max(1, A/B)}` (``adjust_lr_fn`` None or
  ``"original"``) or :math:`0.2 \sqrt{\max(A, B)}` (``"match_rms_adamw"``). Weight decay
  is decoupled and uses the unadjusted :math:`\gamma`.

  Args:
    lr: Learning rate, >= 0, or an optax schedule.
    weight_decay: Decoupled weight decay, >= 0 (torch's default 0.1).
    momentum: >= 0.
    nesterov: Nesterov momentum.
    ns_coefficients: ``(a, b, c)`` of the Newton–Schulz polynomial (exactly 3 values).
    eps: Lower clamp of the norm the matrix is divided by.
    ns_steps: Newton–Schulz iterations, < 100.
    adjust_lr_fn: None, ``"original"`` or ``"match_rms_adamw"``.

  Returns:
    The corresponding :class:`optax.GradientTransformationExtraArgs`. Its ``init`` raises
    ``ValueError`` for a parameter that is not 2-D, as torch's constructor does.

  Raises:
    ValueError: with torch's message, for the values torch rejects.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> tx = torch_optim.muon(lr=0.1, weight_decay=0.0)
    >>> params = jnp.zeros((2, 2))
    >>> grads = jnp.array([[1.0, 0.0], [0.0, 1.0]])
    >>> updates, _ = tx.update(grads, tx.init(params), params)
    >>> print(optax.apply_updates(params, updates))
    [[-0.1125  0.    ]
     [ 0.     -0.1125]]

  .. warning::
    Differences from ``optax.contrib.muon``: torch's Newton–Schulz runs in bfloat16
    (optax's in the parameter's dtype) and divides by the Frobenius norm clamped at
    ``eps`` (optax adds ``eps``, default 1e-8); optax bias-corrects its momentum average
    (torch's ``lerp`` buffer is not); weight decay is decoupled and on by default (0.1);
    the learning rate is scaled by ``adjust_lr_fn``'s shape ratio; non-2-D parameters
    are rejected rather than handed to Adam. The
    closest plain-optax recipe is ``optax.contrib.muon(lr, beta=momentum,
    nesterov=nesterov, weight_decay=weight_decay, ns_coeffs=ns_coefficients,
    ns_steps=ns_steps)`` on 2-D parameters only.
    Differences from torch: ``ns_steps`` and ``ns_coefficients`` are checked at
    construction (torch: at the first step); XLA flushes subnormal buffers to zero. The
    float32 sums inside the bfloat16 matrix products may be ordered differently from
    oneDNN's: on matrices with 16 or more columns this flips a bfloat16 rounding of the
    direction in about 1 call in 70 (measured 3 in 200 at 16 x 32 and at 32 x 16; none
    in 200 at the parity suite's 3 x 5 and 5 x 3).
  """
  lr_dtype = _scalar_dtype(lr)
  lr = _common.hyperparameter(lr)
  if not callable(lr):
    _common.check_at_least("Learning rate should be >= 0 but is", lr, 0.0)
  _common.check_at_least("momentum should be >= 0 but is", momentum, 0.0)
  _common.check_at_least("weight decay should be >= 0 but is", weight_decay, 0.0)
  _common.check_torch(
    adjust_lr_fn in _ADJUST_LR_FNS,
    f"Adjust learning rate function {adjust_lr_fn} is not supported "
    "(must be None, 'original' or 'match_rms_adamw')",
  )
  return optax.chain(
    scale_by_torch_muon(
      momentum,
      nesterov=nesterov,
      ns_coefficients=ns_coefficients,
      eps=eps,
      ns_steps=ns_steps,
    ),
    adjusted_learning_rate(lr, adjust_lr_fn, lr_dtype=lr_dtype),
    _common.decoupled_weight_decay(lr, weight_decay)
    if lr_dtype is None
    else _decoupled_weight_decay_in(lr, weight_decay, lr_dtype),
  )
