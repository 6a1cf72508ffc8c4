"""A live ``torch.optim.lr_scheduler`` scheduler in the interop.

:func:`from_torch` builds each param group's twin with the group's schedule twin
(:func:`jaxopt_fix.torch_optim.lr_scheduler._registry.twin_from_torch`, the scheduler as
constructed: count 0 is torch's state right after construction) in place of the group's
current ``lr``, and ``momentum`` / ``betas[0]`` where the scheduler cycles them; a
``ReduceLROnPlateau`` becomes the twin with ``lr=1`` chained with
:func:`~jaxopt_fix.torch_optim.lr_scheduler.reduce_lr_on_plateau`.

The scheduler's *position* is the number of ``scheduler.step()`` calls so far
(``last_epoch``): with the per-iteration pattern ``opt.step(); sched.step()`` it is the
optimizer's step, and it is what every schedule count of the twin's state holds. The state
conversion proves the position before it uses it: torch's ``step`` must equal it and the
group's current ``lr`` (and momentum) must be the twin's value there, to the bit in
float64; otherwise (a scheduler stepped per epoch, an ``lr`` changed by hand,
``scheduler.step(epoch)``) it refuses. Writing a state back moves the live scheduler
forward with its own ``step()``, so every internal counter of torch's (``T_cur``,
``SequentialLR``'s sub-schedulers, ...) is torch's own.

torch is imported lazily, inside these functions only.
"""

from __future__ import annotations

from collections.abc import Iterator
import dataclasses
from typing import Any
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxopt_fix.torch_optim import _from_torch
from jaxopt_fix.torch_optim.lr_scheduler import _plateau
from jaxopt_fix.torch_optim.lr_scheduler import _registry as schedulers
from jaxopt_fix.torch_optim.lr_scheduler._schedule import TorchSchedule

# Twins whose lr only scales the final update (no decoupled weight decay, no lr inside the
# moments or step sizes): ReduceLROnPlateau's factor can multiply their update instead.
_LR_SCALES_THE_UPDATE = frozenset(
  {"SGD", "Adam", "RMSprop", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "SparseAdam"}
)
_DECOUPLED_KEYS = ("decoupled_weight_decay",)


def _torch_class_path(obj: Any) -> str:
  cls = type(obj)
  return f"{cls.__module__}.{cls.__qualname__}"


def _parts(scheduler: Any) -> Iterator[Any]:
  """The scheduler and, for ``SequentialLR`` / ``ChainedScheduler``, its sub-schedulers."""
  yield scheduler
  for sub in getattr(scheduler, "_schedulers", ()):
    yield from _parts(sub)


def check_scheduler(optimizer: Any, scheduler: Any) -> None:
  """A torch scheduler class with a twin (not a subclass), bound to ``optimizer``."""
  torch = _from_torch.torch_module()
  modules = {
    "torch.optim.lr_scheduler": torch.optim.lr_scheduler,
    "torch.optim.swa_utils": torch.optim.swa_utils,
  }
  for part in _parts(scheduler):
    cls = type(part)
    twin = schedulers.SCHEDULERS.get(cls.__name__)
    if twin is None or getattr(modules[twin.module], cls.__name__, None) is not cls:
      raise ValueError(
        f"scheduler: {_torch_class_path(part)} has no twin (a custom scheduler's stepping "
        f"rules are unknown); supported: {', '.join(schedulers.SCHEDULERS)}"
      )
    if part.optimizer is not optimizer:
      raise ValueError(
        f"scheduler: this {cls.__name__} is bound to another optimizer "
        f"({_torch_class_path(part.optimizer)} at {id(part.optimizer):#x}), not to the "
        f"optimizer given"
      )


def is_plateau(scheduler: Any) -> bool:
  return type(scheduler).__name__ == "ReduceLROnPlateau"


@dataclasses.dataclass(frozen=True)
class GroupSchedule:
  """One param group's twin keywords with the scheduler applied, and what follows the twin."""

  kwargs: dict[str, Any]
  after: optax.GradientTransformationExtraArgs | None = None


def group_schedule(twin: Any, kwargs: dict[str, Any], scheduler: Any, index: int) -> GroupSchedule:
  """The twin's keywords for param group ``index`` with the scheduler's schedules in place of
  the group's current ``lr`` (and ``momentum`` / ``betas[0]`` where it cycles them)."""
  built = schedulers.twin_from_torch(scheduler, index)
  kwargs = dict(kwargs)
  if is_plateau(scheduler):
    decoupled = any(kwargs.get(key) for key in _DECOUPLED_KEYS)
    if twin.torch_name not in _LR_SCALES_THE_UPDATE or decoupled:
      raise ValueError(
        f"scheduler: ReduceLROnPlateau with torch.optim.{twin.torch_name}"
        f"{' (decoupled weight decay)' if decoupled else ''} is not supported: its lr does "
        f"not only scale the update, so the plateau's factor cannot be applied after it"
      )
    kwargs["lr"] = 1.0
    return GroupSchedule(kwargs, after=built)
  assert isinstance(built, TorchSchedule)
  kwargs["lr"] = built
  if built.momentum is not None:
    if "betas" in kwargs:
      kwargs["betas"] = (built.momentum, kwargs["betas"][1])
    elif "momentum" in kwargs:
      kwargs["momentum"] = built.momentum
    else:
      raise ValueError(
        f"scheduler: {type(scheduler).__name__} cycles the momentum, which "
        f"torch.optim.{twin.torch_name} does not have (cycle_momentum=False?)"
      )
  return GroupSchedule(kwargs)


def position(scheduler: Any) -> int:
  """The number of ``scheduler.step()`` calls so far, shared by the sub-schedulers."""
  if type(scheduler).__name__ == "ChainedScheduler":
    positions = {position(sub) for sub in scheduler._schedulers}
    if len(positions) != 1:
      raise ValueError(
        f"scheduler: the ChainedScheduler's sub-schedulers were stepped different numbers of "
        f"times ({sorted(positions)})"
      )
    return positions.pop()
  return int(scheduler.last_epoch)


def _value_at(schedule: TorchSchedule, count: int) -> float:
  with jax.enable_x64(True):
    return float(schedule(np.int64(count)))


def _momentum_of(group: dict[str, Any]) -> float:
  return float(group["betas"][0] if "betas" in group else group["momentum"])


def check_on_trajectory(optimizer: Any, scheduler: Any, count: int) -> None:
  """Each group's current ``lr`` (and cycled momentum) is the twin's value at ``count``."""
  if is_plateau(scheduler):
    return  # the plateau twin starts from the group's current lr, whatever it is
  for k, group in enumerate(optimizer.param_groups):
    schedule = schedulers.twin_from_torch(scheduler, k)
    checks = [("lr", float(group["lr"]), schedule)]
    if schedule.momentum is not None:
      checks.append(("momentum", _momentum_of(group), schedule.momentum))
    for what, current, twin_schedule in checks:
      expected = _value_at(twin_schedule, count)
      if current != expected:
        raise ValueError(
          f"scheduler: param group {k}'s {what} is {current!r}, but the twin of "
          f"{type(scheduler).__name__} gives {expected!r} after {count} steps: the scheduler "
          f"is not where its {count} step() calls would put it (stepped per epoch, with an "
          f"epoch argument, or an lr changed by hand?)"
        )


def advance(scheduler: Any, count: int) -> None:
  """Steps ``scheduler`` forward to position ``count`` (checked beforehand by the caller)."""
  with warnings.catch_warnings():
    # The warning about scheduler.step() before optimizer.step(): the optimizer's state was
    # just written, not stepped, on purpose.
    warnings.filterwarnings("ignore", message=r"Detected call of `lr_scheduler.step\(\)`")
    for _ in range(count - position(scheduler)):
      scheduler.step()


def check_can_advance(scheduler: Any, count: int) -> None:
  current = position(scheduler)
  if count < current:
    raise ValueError(
      f"scheduler: the state is at step {count} but the scheduler has already been stepped "
      f"{current} times, and a torch scheduler cannot go back: pass a new one (built as this "
      f"one was)"
    )
  total = getattr(scheduler, "total_steps", None)
  if type(scheduler).__name__ == "OneCycleLR" and total is not None and count > total:
    raise ValueError(f"scheduler: OneCycleLR has total_steps={total}, the state is at {count}")


def plateau_state(scheduler: Any, like: _plateau.ReduceLROnPlateauState) -> Any:
  """torch's ``ReduceLROnPlateau`` counters as the twin's state (the twin starts from the
  group's current lr: no reduction made yet)."""
  return like._replace(
    last_epoch=jnp.asarray(scheduler.last_epoch, jnp.int32),
    best=jnp.asarray(scheduler.best, jnp.result_type(like.best)),
    num_bad_epochs=jnp.asarray(scheduler.num_bad_epochs, jnp.int32),
    cooldown_counter=jnp.asarray(scheduler.cooldown_counter, jnp.int32),
    num_reductions=jnp.zeros([], jnp.int32),
  )


def plateau_lr(scheduler: Any, index: int, node: _plateau.ReduceLROnPlateauState) -> float:
  """The lr of the twin's plateau state for the group's current lr, as ``from_torch`` builds."""
  kwargs = schedulers.SCHEDULERS["ReduceLROnPlateau"].read(scheduler, index)
  lrs = _plateau.plateau_lrs(
    kwargs["lr"], float(kwargs["factor"]), float(kwargs["min_lr"]), float(kwargs["eps"])
  )
  reductions = int(np.asarray(node.num_reductions))
  if not 0 <= reductions < len(lrs):
    raise ValueError(
      f"scheduler: param group {index}'s plateau state has made {reductions} reductions, more "
      f"than its lr allows ({len(lrs) - 1})"
    )
  return float(lrs[reductions])


@dataclasses.dataclass(frozen=True)
class PlateauWrite:
  """What writing a twin's plateau state into torch sets (checked when made)."""

  lrs: list[float]
  last_epoch: int
  best: float
  num_bad_epochs: int
  cooldown_counter: int


def plateau_write(scheduler: Any, nodes: list[Any]) -> PlateauWrite:
  """torch's ``ReduceLROnPlateau`` counters and each group's lr from the twin's states.

  torch keeps the counters once per scheduler; the state keeps them per group, where they
  must agree."""
  fields = ("last_epoch", "best", "num_bad_epochs", "cooldown_counter")
  values = {tuple(np.asarray(getattr(n, f)).item() for f in fields) for n in nodes}
  if len(values) != 1:
    raise ValueError("scheduler: the param groups' plateau states differ; torch keeps one")
  last_epoch, best, bad, cooldown = values.pop()
  lrs = [plateau_lr(scheduler, k, n) for k, n in enumerate(nodes)]
  return PlateauWrite(lrs, int(last_epoch), float(best), int(bad), int(cooldown))


def write_plateau(scheduler: Any, write: PlateauWrite) -> None:
  for group, lr in zip(scheduler.optimizer.param_groups, write.lrs, strict=True):
    group["lr"] = lr
  scheduler.last_epoch, scheduler.best = write.last_epoch, write.best
  scheduler.num_bad_epochs = write.num_bad_epochs
  scheduler.cooldown_counter = write.cooldown_counter
  scheduler._last_lr = list(write.lrs)
