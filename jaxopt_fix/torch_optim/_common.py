"""Building blocks shared by the torch.optim twins.

A twin is ``optax.chain(maximize, coupled weight decay, scale_by_torch_<algo>,
learning rate, decoupled weight decay)``, each link an identity when unused: the
same order of operations as torch's single-tensor step, so one kwargs dict gives
the same trajectory in both frameworks.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxopt_fix._src import numerics
from jaxopt_fix._src import validation


def hyperparameter(value: Any) -> Any:
  """torch accepts 1-element tensors for ``lr`` and betas: take their float value.

  Detected by type, so that torch is never imported here.
  """
  if type(value).__module__.startswith("torch"):
    return float(value)
  return value


def check_torch(condition_ok: bool, message: str) -> None:
  """Raises ``ValueError(message)`` (torch's wording) unless ``condition_ok``."""
  if not condition_ok:
    raise ValueError(message)


def concrete_or_none(value: Any) -> float | None:
  """A concrete scalar hyperparameter as a float; None if traced or a schedule."""
  array = validation.concrete(value)
  return None if array is None else float(array)


def check_at_least(message: str, value: Any, minimum: float, *, strict: bool = False) -> None:
  """torch's ``if not minimum <= value: raise ValueError(message)`` on concrete values."""
  v = concrete_or_none(value)
  if v is not None:
    ok = v > minimum if strict else v >= minimum
    check_torch(ok, f"{message}: {value} (must be {'>' if strict else '>='} {minimum})")


def check_unit_interval(message: str, value: Any) -> None:
  """torch's ``if not 0.0 <= value < 1.0: raise ValueError(message)`` on concrete values."""
  v = concrete_or_none(value)
  if v is not None:
    check_torch(0.0 <= v < 1.0, f"{message}: {value} (must be in [0, 1))")


def check_lr(lr: Any) -> None:
  """torch's learning-rate check; a schedule (callable) is not checked."""
  if not callable(lr):
    check_at_least("Invalid learning rate", lr, 0.0)


def maximize(enabled: bool) -> optax.GradientTransformation:
  """torch's ``maximize=True``: negate the gradient first, before weight decay."""
  return optax.scale(-1.0) if enabled else optax.identity()


def _is_zero(value: Any) -> bool:
  return concrete_or_none(value) == 0.0


def coupled_weight_decay(weight_decay: Any) -> optax.GradientTransformation:
  """torch's L2 ``weight_decay``: ``grad + weight_decay * param``, before the moments."""
  return optax.identity() if _is_zero(weight_decay) else optax.add_decayed_weights(weight_decay)


def decoupled_weight_decay(
  lr: optax.ScalarOrSchedule, weight_decay: Any
) -> optax.GradientTransformation:
  """torch's decoupled decay ``param *= 1 - lr * weight_decay``, after the learning rate.

  The update gains ``param * (1 - lr * weight_decay) - param``: the decayed parameter is
  rounded exactly as torch rounds it and the difference is exact (Sterbenz), so
  ``param + update`` lands where torch's two in-place steps land, not an ulp of the
  parameter away as ``-lr * (direction + weight_decay * param)`` would. A schedule ``lr``
  is evaluated at this transformation's own count, in step with the learning-rate link.
  """
  if _is_zero(weight_decay):
    return optax.identity()

  def init_fn(params):
    del params
    return optax.ScaleByScheduleState(count=jnp.zeros([], jnp.int32))

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError(
        "decoupled weight decay needs the params: call update(updates, state, params)"
      )
    lr_t = lr(state.count) if callable(lr) else lr
    factor = 1 - lr_t * weight_decay
    updates = jax.tree.map(
      lambda u, p: (
        None if u is None else (u + (numerics.rounded_product(p, factor) - p)).astype(u.dtype)
      ),
      updates,
      params,
      is_leaf=lambda x: x is None,
    )
    return updates, optax.ScaleByScheduleState(count=optax.safe_increment(state.count))

  return optax.GradientTransformation(init_fn, update_fn)


def learning_rate(lr: optax.ScalarOrSchedule) -> optax.GradientTransformation:
  """Multiplies by ``-lr``; a schedule is evaluated at count 0 on the first step."""
  return optax.scale_by_learning_rate(lr)


def torch_chain(
  scaler: optax.GradientTransformation,
  *,
  lr: optax.ScalarOrSchedule,
  weight_decay: jax.typing.ArrayLike = 0.0,
  decoupled: bool = False,
  maximize_: bool = False,
) -> optax.GradientTransformationExtraArgs:
  """The twin of a torch optimizer step around ``scaler`` (see the module docstring)."""
  return optax.chain(
    maximize(maximize_),
    optax.identity() if decoupled else coupled_weight_decay(weight_decay),
    scaler,
    learning_rate(lr),
    decoupled_weight_decay(lr, weight_decay) if decoupled else optax.identity(),
  )
