r"""Twin of ``torch.optim.LBFGS`` in its closure-free configuration (``max_iter=1``).

``torch.optim.LBFGS.step(closure)`` may evaluate the loss and gradient several times per
step: up to ``max_iter`` iterations, and more evaluations inside the ``"strong_wolfe"``
line search. An optax transformation sees one gradient per update. With ``max_iter=1`` and
``line_search_fn=None`` torch's step calls the closure exactly once, reads the gradient it
leaves in ``p.grad`` and moves the parameters at most once: that configuration, and only
it, is a function of one gradient per step, and the twin reproduces it exactly.
"""

from __future__ import annotations

from typing import Any
from typing import NamedTuple

import jax
from jax.flatten_util import ravel_pytree
import jax.numpy as jnp
import optax

from jaxopt_fix._src import numerics
from jaxopt_fix.torch_optim import _common
from jaxopt_fix.torch_optim import _state_schema as S

# torch's threshold on the curvature y.s below which a pair is not stored.
_CURVATURE_THRESHOLD = 1e-10


class ScaleByTorchLBFGSState(NamedTuple):
  """torch's LBFGS state (``optimizer.state[first_param]``), in fixed-size arrays.

  torch keeps one state for all parameters, on the flattened vector of all of them
  (``torch.cat`` of the parameters in order): here, the flat vector of the params
  pytree's leaves in ``jax.tree.leaves`` order (:func:`jax.flatten_util.ravel_pytree`).
  torch's lists ``old_dirs``, ``old_stps`` and ``ro`` (at most ``history_size`` long,
  oldest first) are the first ``num_old`` rows of fixed ``(history_size, ...)`` arrays.
  torch's ``prev_loss`` is not kept (no loss is seen; with ``max_iter=1`` torch never reads
  it), nor its scratch buffer ``al``.

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix import torch_optim
    >>> state = torch_optim.scale_by_torch_lbfgs(history_size=3).init(jnp.zeros(2))
    >>> state._fields[:5]
    ('d', 't', 'old_dirs', 'old_stps', 'ro')
    >>> print(state.old_dirs.shape, state.num_old)
    (3, 2) 0
  """

  d: jax.Array  # (n,) the last direction
  t: jax.Array  # () the last step length
  old_dirs: jax.Array  # (history_size, n) gradient differences y, oldest first
  old_stps: jax.Array  # (history_size, n) steps s = d * t, oldest first
  ro: jax.Array  # (history_size,) 1 / (y . s)
  H_diag: jax.Array  # () the initial inverse-Hessian scale ys / yy
  prev_flat_grad: jax.Array  # (n,) the previous flat gradient
  num_old: jax.Array  # int32 (): len(old_dirs), the number of stored pairs
  n_iter: jax.typing.ArrayLike  # int32 (), saturating: iterations (no early exit)
  func_evals: jax.typing.ArrayLike  # int32 (), saturating: closure calls, one per step


SCHEMA = S.UnconvertibleState(
  ScaleByTorchLBFGSState,
  reason=(
    "torch keeps its state once, on the first parameter, for the flattened vector of all "
    "parameters (lists of history tensors), not per parameter; from_torch(optimizer) builds "
    "the twin, whose fresh state (tx.init(params)) restarts the L-BFGS history"
  ),
)
"""Not converted by ``state_from_torch`` / ``state_to_torch``: see ``reason``."""


@jax.jit
def _two_loop_recursion(g, old_dirs, old_stps, ro, num_old, h_diag):
  """L-BFGS's direction from the ``num_old`` newest pairs, in torch's order.

  ``q = -g``; newest to oldest ``al[i] = s_i.q * ro_i``, ``q += -al[i] * y_i``;
  ``r = q * H_diag``; oldest to newest ``be_i = y_i.r * ro_i``, ``r += (al[i] - be_i) * s_i``.
  Jitted at module level, so an un-jitted update compiles its loops once, not per call.
  """
  h = old_dirs.shape[0]

  def backward(k, carry):
    q, al = carry
    i = h - 1 - k
    a = numerics.rounded_product(jnp.dot(old_stps[i], q), ro[i])
    q = jnp.where(i < num_old, q + (-a) * old_dirs[i], q)
    return q, al.at[i].set(a)

  q, al = jax.lax.fori_loop(0, h, backward, (-g, jnp.zeros([h], g.dtype)))

  def forward(i, r):
    be = numerics.rounded_product(jnp.dot(old_dirs[i], r), ro[i])
    return jnp.where(i < num_old, r + (al[i] - be) * old_stps[i], r)

  return jax.lax.fori_loop(0, h, forward, numerics.rounded_product(q, h_diag))


def scale_by_torch_lbfgs(
  lr: optax.ScalarOrSchedule = 1.0,
  tolerance_grad: float = 1e-7,
  tolerance_change: float = 1e-9,
  history_size: int = 100,
) -> optax.GradientTransformation:
  r"""One ``torch.optim.LBFGS`` step with ``max_iter=1`` and no line search, as an update.

  With :math:`g` the flattened gradient and :math:`k` the number of earlier iterations:

  - if :math:`\max_i |g_i| \le` ``tolerance_grad``: the update is zero and only
    ``func_evals`` changes (torch returns before its loop);
  - :math:`k = 0`: :math:`d = -g`, :math:`t = \min(1, 1 / \|g\|_1) \cdot lr`;
  - :math:`k > 0`: :math:`y = g - g_{prev}`, :math:`s = d_{prev} t_{prev}`; if
    :math:`y \cdot s > 10^{-10}` the pair is appended to the history (the oldest dropped
    beyond ``history_size``), :math:`\rho = 1 / (y \cdot s)` and ``H_diag`` :math:`=
    y \cdot s / y \cdot y`; :math:`d` is torch's two-loop recursion from :math:`-g`, and
    :math:`t = lr`;
  - if :math:`g \cdot d >` ``-tolerance_change`` the update is zero (torch breaks before
    moving) but the state above is kept; otherwise the update is :math:`t d`.

  Args:
    lr: ``lr``, or an optax schedule evaluated at the number of earlier steps.
    tolerance_grad: ``tolerance_grad``.
    tolerance_change: ``tolerance_change``.
    history_size: ``history_size``, >= 1.

  Returns:
    A :class:`optax.GradientTransformation` with a :class:`ScaleByTorchLBFGSState`; its
    updates are the full parameter change (the learning rate is applied).

  Examples:
    The first step is ``-lr * g`` scaled by ``min(1, 1 / |g|_1)``, as torch's; the
    update is the parameter change itself:

    >>> import jax.numpy as jnp
    >>> from jaxopt_fix import torch_optim
    >>> params, grads = jnp.array([1.0, -1.0]), jnp.array([0.5, -2.0])
    >>> tx = torch_optim.scale_by_torch_lbfgs(lr=1.0)
    >>> updates, state = tx.update(grads, tx.init(params), params)
    >>> print(updates, state.n_iter)
    [-0.2  0.8] 1
  """
  h = int(history_size)

  def init_fn(params):
    flat, _ = ravel_pytree(params)
    n, dtype = flat.size, flat.dtype
    return ScaleByTorchLBFGSState(
      d=jnp.zeros([n], dtype),
      t=jnp.zeros([], dtype),
      old_dirs=jnp.zeros([h, n], dtype),
      old_stps=jnp.zeros([h, n], dtype),
      ro=jnp.zeros([h], dtype),
      H_diag=jnp.ones([], dtype),
      prev_flat_grad=jnp.zeros([n], dtype),
      num_old=jnp.zeros([], jnp.int32),
      n_iter=jnp.zeros([], jnp.int32),
      func_evals=jnp.zeros([], jnp.int32),
    )

  def push(history: jax.Array, row: jax.Array, num_old: jax.Array) -> jax.Array:
    """torch's ``pop(0)`` when full, then ``append``: the rows stay oldest first."""
    full = num_old == h
    shifted = jnp.where(full, jnp.roll(history, -1, axis=0), history)
    return shifted.at[jnp.where(full, h - 1, num_old)].set(row)

  def update_fn(updates, state, params=None):
    del params
    g, unravel = ravel_pytree(updates)
    dtype = state.d.dtype
    g = g.astype(dtype)

    def scalar(x):
      return jnp.asarray(x, dtype)

    lr_t = scalar(lr(state.func_evals) if callable(lr) else lr)
    first = state.n_iter == 0

    # Memory update (torch: only when n_iter > 1 and ys > 1e-10).
    y = g - state.prev_flat_grad
    s = state.d * state.t
    ys = jnp.dot(y, s)
    accept = jnp.logical_not(first) & (ys > scalar(_CURVATURE_THRESHOLD))
    old_dirs = jnp.where(accept, push(state.old_dirs, y, state.num_old), state.old_dirs)
    old_stps = jnp.where(accept, push(state.old_stps, s, state.num_old), state.old_stps)
    # Divisors of 1 where the pair is refused: 1 / 0 there would reach jax.grad as NaN.
    accepted_ys = jnp.where(accept, ys, scalar(1))
    ro = jnp.where(accept, push(state.ro, 1 / accepted_ys, state.num_old), state.ro)
    num_old = jnp.where(accept, jnp.minimum(state.num_old + 1, h), state.num_old)
    h_diag = jnp.where(
      accept, accepted_ys / jnp.where(accept, jnp.dot(y, y), scalar(1)), state.H_diag
    )

    r = _two_loop_recursion(g, old_dirs, old_stps, ro, num_old, h_diag)

    d = jnp.where(first, -g, r)
    # torch: t = min(1., 1. / |g|_1) * lr on the first iteration, lr afterwards.
    inv_l1 = 1 / jnp.sum(jnp.abs(g))
    t = jnp.where(first & (inv_l1 < 1), inv_l1 * lr_t, lr_t)
    # torch breaks before moving when the directional derivative is not negative enough.
    moves = jnp.dot(g, d) <= scalar(-tolerance_change)

    # torch returns before everything above when the gradient is already small.
    optimal = jnp.max(jnp.abs(g), initial=0) <= scalar(tolerance_grad)
    step = jnp.where(optimal | jnp.logical_not(moves), jnp.zeros_like(d), d * t)

    def keep(updated, current):
      return jnp.where(optimal, current, updated).astype(current.dtype)

    new_state = ScaleByTorchLBFGSState(
      d=keep(d, state.d),
      t=keep(t, state.t),
      old_dirs=keep(old_dirs, state.old_dirs),
      old_stps=keep(old_stps, state.old_stps),
      ro=keep(ro, state.ro),
      H_diag=keep(h_diag, state.H_diag),
      prev_flat_grad=keep(g, state.prev_flat_grad),
      num_old=keep(num_old, state.num_old),
      n_iter=keep(optax.safe_increment(state.n_iter), state.n_iter),
      func_evals=optax.safe_increment(state.func_evals),
    )
    return unravel(step), new_state

  return optax.GradientTransformation(init_fn, update_fn)


@_common.twin
def lbfgs(
  lr: float | Any = 1,
  max_iter: int = 20,
  max_eval: int | None = None,
  tolerance_grad: float = 1e-7,
  tolerance_change: float = 1e-9,
  history_size: int = 100,
  line_search_fn: str | None = None,
) -> optax.GradientTransformationExtraArgs:
  r"""``torch.optim.LBFGS`` with ``max_iter=1`` and no line search, step for step.

  torch's ``step(closure)`` may evaluate the closure several times; an optax update sees
  one gradient. With ``max_iter=1`` and ``line_search_fn=None``, torch's step calls the
  closure once, reads the gradient it leaves in ``p.grad``, and moves the parameters at
  most once: ``tx.update(grads, state)`` with that gradient gives the same move
  (:func:`scale_by_torch_lbfgs`). Every other configuration needs the closure inside the
  step and is rejected: the keywords and defaults are torch's (``max_iter=20``), so
  ``max_iter=1`` must be passed.

  Args:
    lr: Learning rate (the fixed step length after the first step), >= 0, or an optax
      schedule evaluated at the number of earlier steps.
    max_iter: Must be 1: more iterations re-evaluate the closure within a step.
    max_eval: Accepted for torch compatibility; with ``max_iter=1`` and no line search
      torch evaluates the closure once whatever its value.
    tolerance_grad: A step whose gradient has ``max |g_i| <= tolerance_grad`` changes
      nothing but ``func_evals`` (update zero).
    tolerance_change: A step whose direction ``d`` has ``g . d > -tolerance_change``
      updates the state but not the parameters (update zero). torch's other uses (loss and
      parameter changes between iterations) need ``max_iter > 1``.
    history_size: Number of curvature pairs kept, >= 1.
    line_search_fn: Must be None: ``"strong_wolfe"`` evaluates the closure at trial
      points; use ``optax.lbfgs`` (zoom line search) for a line-searched L-BFGS.

  Returns:
    The corresponding :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    ValueError: for a negative ``lr`` (torch's message), ``history_size < 1`` (torch
      fails at its second step), and for ``max_iter != 1`` or a ``line_search_fn``,
      which are not closure-free.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> tx = torch_optim.lbfgs(lr=0.5, max_iter=1)
    >>> params = jnp.array([1.0, -1.0])
    >>> state = tx.init(params)
    >>> updates, state = tx.update(jnp.array([0.5, 0.5]), state)  # t = min(1, 1/|g|_1) lr
    >>> params = optax.apply_updates(params, updates)
    >>> print(params)
    [ 0.75 -1.25]
    >>> updates, state = tx.update(jnp.array([0.25, 0.5]), state)  # stores (y, s), t = lr
    >>> print(optax.apply_updates(params, updates), int(state.num_old))
    [ 0.375 -2.125] 1

  .. warning::
    Differences from torch: only the closure-free configuration exists (see above).
    ``state.n_iter``, ``func_evals`` and ``num_old`` are saturating int32 arrays; the
    history is a fixed ``(history_size, n)`` array whose first ``num_old`` rows are
    torch's lists, so memory is ``2 * history_size`` parameter copies from the start.
    torch's ``prev_loss`` and scratch ``al`` are not kept. The parameters are one flat
    vector of the leaves in ``jax.tree.leaves`` order, as torch concatenates its
    parameters: ``state_from_torch``/``state_to_torch`` do not convert this state.
    Differences from ``optax.lbfgs``: optax's L-BFGS has no first-step scaling
    ``min(1, 1/|g|_1)``, no ``ys > 1e-10`` test nor tolerances, and by default a zoom
    line search that needs the loss (``optax.value_and_grad_from_state``); the closest
    plain-optax recipe is ``optax.chain(optax.scale_by_lbfgs(memory_size=history_size),
    optax.scale_by_learning_rate(lr))``, which also scales the first step differently.
  """
  del max_eval
  lr = _common.hyperparameter(lr)
  _common.check_lr(lr)
  _common.check_torch(
    max_iter == 1,
    f"max_iter={max_iter} is not supported: with max_iter > 1, torch.optim.LBFGS "
    f"re-evaluates the closure within one step, and an optax update sees one gradient; "
    f"pass max_iter=1 (one closure call, one update, which this twin reproduces exactly)",
  )
  _common.check_torch(
    line_search_fn is None,
    f"line_search_fn={line_search_fn!r} is not supported: the line search evaluates the "
    f"closure at trial points within one step, and an optax update sees one gradient; "
    f"use optax.lbfgs (zoom line search, with optax.value_and_grad_from_state) for an "
    f"L-BFGS with a line search",
  )
  _common.check_torch(
    isinstance(history_size, int) and history_size >= 1,
    f"Invalid history_size: {history_size} (must be an int >= 1)",
  )
  return optax.with_extra_args_support(
    scale_by_torch_lbfgs(lr, tolerance_grad, tolerance_change, history_size)
  )
