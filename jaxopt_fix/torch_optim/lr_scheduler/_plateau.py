"""The twin of ``torch.optim.lr_scheduler.ReduceLROnPlateau``: a transformation reading
``value=``."""

from __future__ import annotations

from typing import Literal
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxopt_fix._src import leafwise
from jaxopt_fix._src import numerics
from jaxopt_fix.torch_optim.lr_scheduler._schedule import MAX_TABLE
from jaxopt_fix.torch_optim.lr_scheduler._schedule import frozen


class ReduceLROnPlateauState(NamedTuple):
  """``ReduceLROnPlateau``'s counters, named as torch's attributes.

  ``num_reductions`` counts the reductions that changed the lr: the lr is the float64 table
  entry it indexes (torch's ``max(lr * factor, min_lr)`` replayed on the host).

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix.torch_optim import lr_scheduler
    >>> state = lr_scheduler.reduce_lr_on_plateau(0.1).init(jnp.zeros(2))
    >>> state._fields
    ('last_epoch', 'best', 'num_bad_epochs', 'cooldown_counter', 'num_reductions')
    >>> print(state.best, state.num_reductions)  # torch's mode_worse for mode="min"
    inf 0
  """

  last_epoch: jax.typing.ArrayLike  # int32 (): calls of torch's step(metric)
  best: jax.typing.ArrayLike  # the compute dtype
  num_bad_epochs: jax.typing.ArrayLike  # int32 ()
  cooldown_counter: jax.typing.ArrayLike  # int32 ()
  num_reductions: jax.typing.ArrayLike  # int32 ()


def plateau_lrs(lr: float, factor: float, min_lr: float, eps: float) -> np.ndarray:
  """torch's lr after 0, 1, ... effective reductions (until a reduction changes nothing)."""
  lrs = [lr]
  while len(lrs) < MAX_TABLE:
    new_lr = max(lrs[-1] * factor, min_lr)
    if not lrs[-1] - new_lr > eps:
      break
    lrs.append(new_lr)
  return frozen(lrs)


def reduce_lr_on_plateau(
  lr: float,
  mode: Literal["min", "max"] = "min",
  factor: float = 0.1,
  patience: int = 10,
  threshold: float = 1e-4,
  threshold_mode: Literal["rel", "abs"] = "rel",
  cooldown: int = 0,
  min_lr: float = 0,
  eps: float = 1e-8,
) -> optax.GradientTransformationExtraArgs:
  r"""``torch.optim.lr_scheduler.ReduceLROnPlateau``: multiplies the updates by torch's lr,
  cut by ``factor`` when the metric stops improving.

  ``update(updates, state, params, value=m)`` at optimizer step :math:`t` first scales the
  updates by the current lr, then does what torch's ``scheduler.step(m)`` does after
  ``optimizer.step()`` :math:`t`: ``m`` is better than ``best`` if
  :math:`m < \mathrm{best}(1 - \theta)` (``min``/``rel``), :math:`m < \mathrm{best} - \theta`
  (``min``/``abs``), :math:`m > \mathrm{best}(1 + \theta)` or :math:`m > \mathrm{best} +
  \theta` (``max``); after more than ``patience`` bad steps (none counted during
  ``cooldown``) the lr becomes :math:`\max(\mathrm{lr} f, \mathrm{min\_lr})` if that changes
  it by more than ``eps``. The new lr applies from step :math:`t + 1` on. The lrs are a
  float64 host table of torch's reductions, exact in any dtype.

  Chain it after a twin built with ``lr=1.0``:
  ``optax.chain(torch_optim.sgd(lr=1.0, momentum=0.9), reduce_lr_on_plateau(0.1))``.

  Args:
    lr: The param group's learning rate.
    mode: ``"min"`` (the metric should decrease) or ``"max"``.
    factor: The reduction factor, < 1.
    patience: The number of bad steps tolerated.
    threshold: The improvement threshold :math:`\theta`.
    threshold_mode: ``"rel"`` or ``"abs"``.
    cooldown: Steps after a reduction during which bad steps are not counted.
    min_lr: The lower bound of the lr (one param group's).
    eps: The smallest change of the lr that is made.

  Returns:
    An :class:`optax.GradientTransformationExtraArgs` whose ``update`` requires ``value=``,
    with a :class:`ReduceLROnPlateauState`.

  Raises:
    ValueError: torch's checks (``factor >= 1``, ``mode``, ``threshold_mode``).

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> from jaxopt_fix import torch_optim
    >>> from jaxopt_fix.torch_optim import lr_scheduler
    >>> plateau = lr_scheduler.reduce_lr_on_plateau(0.1, patience=1)
    >>> tx = optax.chain(torch_optim.sgd(lr=1.0), plateau)
    >>> params = jnp.zeros(1)
    >>> state = tx.init(params)
    >>> for loss in [1.0, 1.0, 1.0, 1.0]:
    ...   updates, state = tx.update(jnp.ones(1), state, params, value=loss)
    ...   print(updates)
    [-0.1]
    [-0.1]
    [-0.1]
    [-0.01]

  .. warning::
    The lr multiplies the twin's update, which is torch's step only where the lr scales the
    direction (SGD, Adam, RMSprop, ...): not AdamW's decoupled decay ``p *= 1 - lr * wd``,
    which would see ``lr=1``. Without x64 the metric comparisons are in float32 (torch:
    float64). ``optax.contrib.reduce_on_plateau`` averages the value over
    ``accumulation_size`` calls and starts its scale at 1.
  """
  factor = float(factor)
  if factor >= 1.0:
    raise ValueError(f"factor={factor}: Factor should be < 1.0.")
  if isinstance(min_lr, (list, tuple)):
    raise ValueError("min_lr: one param group's min_lr (a float); build one per group")
  if mode not in ("min", "max"):
    raise ValueError(f"mode {mode} is unknown!")
  if threshold_mode not in ("rel", "abs"):
    raise ValueError(f"threshold mode {threshold_mode} is unknown!")
  lrs = plateau_lrs(float(lr), factor, float(min_lr), float(eps))
  worse = np.inf if mode == "min" else -np.inf

  def is_better(a: jax.Array, best: jax.Array) -> jax.Array:
    if mode == "min" and threshold_mode == "rel":
      return a < best * (1.0 - threshold)
    if mode == "min":
      return a < best - threshold
    if threshold_mode == "rel":
      return a > best * (threshold + 1.0)
    return a > best + threshold

  def init_fn(params):
    del params
    zero = jnp.zeros([], jnp.int32)
    return ReduceLROnPlateauState(
      last_epoch=zero,
      best=jnp.asarray(worse, numerics.compute_dtype()),
      num_bad_epochs=zero,
      cooldown_counter=zero,
      num_reductions=zero,
    )

  def update_fn(updates, state, params=None, **extra_args):
    del params
    if "value" not in extra_args:
      raise TypeError("reduce_lr_on_plateau: update(updates, state, params, value=metric)")
    value = extra_args["value"]
    table = jnp.asarray(lrs, numerics.compute_dtype())
    current_lr = table[state.num_reductions]
    updates = leafwise.map(lambda g: jnp.asarray(current_lr, g.dtype) * g, updates)
    current = jnp.asarray(value, numerics.compute_dtype())
    better = is_better(current, state.best)
    best = jnp.where(better, current, state.best)
    bad = jnp.where(better, 0, state.num_bad_epochs + 1)
    in_cooldown = state.cooldown_counter > 0
    cooldown_counter = jnp.where(in_cooldown, state.cooldown_counter - 1, state.cooldown_counter)
    bad = jnp.where(in_cooldown, 0, bad)
    reduce = bad > patience
    reductions = jnp.where(
      reduce, jnp.minimum(state.num_reductions + 1, len(lrs) - 1), state.num_reductions
    )
    return updates, ReduceLROnPlateauState(
      last_epoch=optax.safe_increment(state.last_epoch),
      best=best,
      num_bad_epochs=jnp.where(reduce, 0, bad).astype(jnp.int32),
      cooldown_counter=jnp.where(reduce, cooldown, cooldown_counter).astype(jnp.int32),
      num_reductions=reductions.astype(jnp.int32),
    )

  return optax.GradientTransformationExtraArgs(init_fn, update_fn)
