"""Twins of ``torch.optim.swa_utils``: the ``SWALR`` schedule and ``AveragedModel``'s running
averages (SWA and EMA), with torch's formulas and rounding. Does not import torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from typing import Literal
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxopt_fix._src import leafwise
from jaxopt_fix._src import moments
from jaxopt_fix._src import numerics
from jaxopt_fix.torch_optim.lr_scheduler import _replay
from jaxopt_fix.torch_optim.lr_scheduler._schedule import Replayed
from jaxopt_fix.torch_optim.lr_scheduler._schedule import TorchSchedule
from jaxopt_fix.torch_optim.lr_scheduler._schedule import kwargs_of
from jaxopt_fix.torch_optim.lr_scheduler._schedulers import check_fresh

AvgFn = Callable[[jax.Array, jax.Array, jax.Array], jax.Array]
MultiAvgFn = Callable[[optax.Params, optax.Params, jax.Array], optax.Params]


def swalr(
  lr: float,
  swa_lr: float,
  anneal_epochs: int = 10,
  anneal_strategy: Literal["cos", "linear"] = "cos",
  last_epoch: int = -1,
) -> TorchSchedule:
  r"""``torch.optim.swa_utils.SWALR``: anneals the lr from the group's lr to ``swa_lr`` over
  ``anneal_epochs`` steps, then holds it.

  torch's recursion recovers the previous "initial" lr from the current one,
  :math:`(\mathrm{lr}_{k-1} - \alpha_{k-1} s)/(1 - \alpha_{k-1})`, and mixes it with
  :math:`s` = ``swa_lr`` by :math:`\alpha_k` (:math:`(1 - \cos \pi t)/2` or :math:`t`,
  :math:`t = \min(1, k / \text{anneal\_epochs})`). The table replays it exactly; from
  ``anneal_epochs + 1`` steps on the value is ``swa_lr``.

  Args:
    lr: The param group's lr when SWALR is built (torch anneals from the current lr).
    swa_lr: The lr to anneal to (one param group's).
    anneal_epochs: The number of annealing steps, an integer >= 0.
    anneal_strategy: ``"cos"`` or ``"linear"``.
    last_epoch: Only -1.

  Returns:
    A :class:`~jaxopt_fix.torch_optim.lr_scheduler.TorchSchedule`. To switch to SWA after
    ``swa_start`` steps of another schedule, use
    :func:`~jaxopt_fix.torch_optim.lr_scheduler.sequential_lr`, or
    ``optax.join_schedules`` (a restart from ``lr``).

  Raises:
    ValueError: torch's checks (``anneal_strategy``, ``anneal_epochs``, a list ``swa_lr``).

  Examples:
    >>> from jaxopt_fix.torch_optim import swa_utils
    >>> schedule = swa_utils.swalr(1.0, swa_lr=0.5, anneal_epochs=2, anneal_strategy="linear")
    >>> [float(schedule(k)) for k in range(4)]
    [1.0, 0.75, 0.5, 0.5]
  """
  check_fresh(last_epoch)
  if isinstance(swa_lr, (list, tuple)):
    raise ValueError("swa_lr must be one param group's lr (a float); build one per group")
  if anneal_strategy not in ("cos", "linear"):
    raise ValueError(
      f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}"
    )
  if isinstance(anneal_epochs, bool) or not isinstance(anneal_epochs, int) or anneal_epochs < 0:
    raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
  lr, swa_lr = float(lr), float(swa_lr)

  def replay(opt):
    return _replay.SWALR(opt, swa_lr, anneal_epochs, anneal_strategy)

  values = Replayed(replay, lr, anneal_epochs + 3)
  return TorchSchedule(
    "SWALR",
    kwargs_of(swa_lr=swa_lr, anneal_epochs=anneal_epochs, anneal_strategy=anneal_strategy),
    lr,
    lambda: values.lrs,
    replay=replay,
  )


def _check_decay(decay: float) -> None:
  if decay < 0.0 or decay > 1.0:
    raise ValueError(
      f"Invalid decay value {decay} provided. Please provide a value in [0,1] range."
    )


def get_swa_avg_fn() -> AvgFn:
  r"""``torch.optim.swa_utils.get_swa_avg_fn``: the running mean of one leaf,
  :math:`\bar p + (p - \bar p) / (n + 1)`.

  Returns:
    ``avg_fn(averaged, current, num_averaged)``.

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix.torch_optim import swa_utils
    >>> print(swa_utils.get_swa_avg_fn()(jnp.array(1.0), jnp.array(4.0), jnp.array(2)))
    2.0
  """

  def swa_update(averaged, current, num_averaged):
    diff = current - averaged
    # A true division: XLA turns a quotient by a broadcast scalar into a product with its
    # reciprocal (two roundings); a divisor of the quotient's shape is left alone.
    divisor = jnp.where(jnp.isnan(diff), 1, jnp.asarray(num_averaged) + 1).astype(diff.dtype)
    return averaged + diff / divisor

  return swa_update


def get_ema_avg_fn(decay: float = 0.999) -> AvgFn:
  r"""``torch.optim.swa_utils.get_ema_avg_fn``:
  :math:`\delta \bar p + (1 - \delta) p` for one leaf.

  Args:
    decay: In [0, 1].

  Returns:
    ``avg_fn(averaged, current, num_averaged)``.

  Raises:
    ValueError: for a decay outside [0, 1] (torch's check).

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix.torch_optim import swa_utils
    >>> print(swa_utils.get_ema_avg_fn(0.5)(jnp.array(1.0), jnp.array(3.0), jnp.array(1)))
    2.0
  """
  _check_decay(decay)

  def ema_update(ema, current, num_averaged):
    del num_averaged
    # Two rounded products and a sum, as torch's three kernels (no fused multiply-add).
    return numerics.rounded_product(ema, decay) + numerics.rounded_product(current, 1 - decay)

  return ema_update


def get_swa_multi_avg_fn() -> MultiAvgFn:
  r"""``torch.optim.swa_utils.get_swa_multi_avg_fn``: the running mean of a whole tree, as
  torch's ``_foreach_lerp_(averaged, current, 1 / (n + 1))``.

  Returns:
    ``multi_avg_fn(averaged, current, num_averaged)`` returning the new tree.

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix.torch_optim import swa_utils
    >>> avg = swa_utils.get_swa_multi_avg_fn()
    >>> print(avg({"w": jnp.array(1.0)}, {"w": jnp.array(4.0)}, jnp.array(2))["w"])
    2.0

  .. warning::
    torch's weight ``1 / (n + 1)`` is a float32 tensor (torch's default dtype, from the
    integer ``n_averaged``), so a float64 average is weighted by a float32-rounded
    ``1/3``, ``1/7``, ...; the twin rounds it the same way.
  """

  def swa_update(averaged, current, num_averaged):
    weight = (1 / (jnp.asarray(num_averaged) + 1)).astype(jnp.float32)
    return leafwise.map(lambda a, c: moments.lerp(a, c, weight.astype(a.dtype)), averaged, current)

  return swa_update


def get_ema_multi_avg_fn(decay: float = 0.999) -> MultiAvgFn:
  r"""``torch.optim.swa_utils.get_ema_multi_avg_fn``: the EMA of a whole tree, as torch's
  ``_foreach_lerp_(ema, current, 1 - decay)``.

  Args:
    decay: In [0, 1].

  Returns:
    ``multi_avg_fn(averaged, current, num_averaged)`` returning the new tree.

  Raises:
    ValueError: for a decay outside [0, 1] (torch's check).

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix.torch_optim import swa_utils
    >>> ema = swa_utils.get_ema_multi_avg_fn(0.75)
    >>> print(ema([jnp.array(0.0)], [jnp.array(4.0)], jnp.array(1))[0])
    1.0
  """
  _check_decay(decay)

  def ema_update(averaged, current, num_averaged):
    del num_averaged
    return leafwise.map(lambda a, c: moments.lerp(a, c, 1 - decay), averaged, current)

  return ema_update


class AveragedModelState(NamedTuple):
  """``AveragedModel``'s buffer ``n_averaged`` and its averaged parameters.

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix.torch_optim import swa_utils
    >>> state = swa_utils.averaged_model().init(jnp.ones(2))
    >>> state._fields, int(state.n_averaged)
    (('n_averaged', 'averaged'), 0)
  """

  n_averaged: jax.typing.ArrayLike  # int32 ()
  averaged: optax.Params


class AveragedModel(NamedTuple):
  """A pair of pure functions, ``init(params)`` and ``update(params, state)``.

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix.torch_optim import swa_utils
    >>> swa = swa_utils.averaged_model()
    >>> state = swa.init(jnp.zeros(1))
    >>> for p in [1.0, 2.0, 6.0]:
    ...   state = swa.update(jnp.array([p]), state)
    >>> print(state.averaged, int(state.n_averaged))
    [3.] 3
  """

  init: Callable[[optax.Params], AveragedModelState]
  update: Callable[[optax.Params, AveragedModelState], AveragedModelState]


def averaged_model(
  avg_fn: AvgFn | None = None, multi_avg_fn: MultiAvgFn | None = None
) -> AveragedModel:
  r"""``torch.optim.swa_utils.AveragedModel``'s running average of the parameters.

  ``update(params, state)`` is ``averaged.update_parameters(model)``: the first call copies
  the parameters, each later one applies ``multi_avg_fn`` to the whole tree (or ``avg_fn``
  leaf by leaf); with neither, torch's CPU default, :func:`get_swa_avg_fn`'s equal-weight
  mean. ``n_averaged`` counts the calls. Call it after the optimizer step, as torch's
  recipes do (``opt.step(); swa_model.update_parameters(model)``), and evaluate with
  ``state.averaged``.

  Args:
    avg_fn: ``avg_fn(averaged, current, num_averaged)`` per leaf, e.g.
      :func:`get_ema_avg_fn`.
    multi_avg_fn: ``multi_avg_fn(averaged, current, num_averaged)`` on the tree, e.g.
      :func:`get_ema_multi_avg_fn`.

  Returns:
    An :class:`AveragedModel` (``init``, ``update``) with an :class:`AveragedModelState`.

  Raises:
    ValueError: if both functions are given (torch's AssertionError).

  Examples:
    An EMA of the parameters of an optax run:

    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> from jaxopt_fix.torch_optim import swa_utils
    >>> ema = swa_utils.averaged_model(multi_avg_fn=swa_utils.get_ema_multi_avg_fn(0.5))
    >>> tx, params = torch_optim.sgd(lr=0.5), jnp.array([4.0])
    >>> opt_state, ema_state = tx.init(params), ema.init(params)
    >>> for _ in range(3):
    ...   updates, opt_state = tx.update(params, opt_state, params)  # the gradient of p**2 / 2
    ...   params = optax.apply_updates(params, updates)
    ...   ema_state = ema.update(params, ema_state)
    >>> print(params, ema_state.averaged)  # copies 2, then (2 + 1) / 2, then (1.5 + 0.5) / 2
    [0.5] [1.]

  .. warning::
    On CUDA torch's default is :func:`get_swa_multi_avg_fn` (a ``lerp``, a rounding apart
    from the CPU formula used here); ``use_buffers`` (averaging BatchNorm statistics) is
    up to the caller: average a tree that holds them.
  """
  if avg_fn is not None and multi_avg_fn is not None:
    raise ValueError("avg_fn, multi_avg_fn: Only one of avg_fn and multi_avg_fn should be provided")
  per_leaf = get_swa_avg_fn() if avg_fn is None else avg_fn

  def average(averaged, current, n):
    if multi_avg_fn is not None:
      return multi_avg_fn(averaged, current, n)
    return leafwise.map(lambda a, c: per_leaf(a, c, n), averaged, current)

  def init(params: Any) -> AveragedModelState:
    return AveragedModelState(
      n_averaged=jnp.zeros([], jnp.int32), averaged=jax.tree.map(jnp.asarray, params)
    )

  def update(params: Any, state: AveragedModelState) -> AveragedModelState:
    n = jnp.asarray(state.n_averaged)
    averaged = jax.lax.cond(
      n == 0,
      lambda: jax.tree.map(jnp.asarray, params),
      lambda: optax.tree.cast_like(average(state.averaged, params, n), state.averaged),
    )
    return AveragedModelState(n_averaged=optax.safe_increment(n), averaged=averaged)

  return AveragedModel(init, update)


__all__ = (
  "AveragedModel",
  "AveragedModelState",
  "averaged_model",
  "get_ema_avg_fn",
  "get_ema_multi_avg_fn",
  "get_swa_avg_fn",
  "get_swa_multi_avg_fn",
  "swalr",
)
