"""The one table of scheduler twins: torch class name -> twin factory and how to read its
keywords from a live torch scheduler.

``twin_from_torch(scheduler, group)`` rebuilds, for one param group, the twin of a torch
scheduler as it was constructed (count 0 is torch's state right after construction): the
readers below take every value from the scheduler's attributes (and the optimizer's
``param_groups`` entries the scheduler set), and where torch keeps only a derived float
(``OneCycleLR``'s ``pct_start``, ``div_factor``), they invert it so that the twin
recomputes torch's stored value to the bit. Reading torch is duck-typed: torch is never
imported here.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
import dataclasses
import math
import types
from typing import Any

from jaxopt_fix.torch_optim.lr_scheduler import _plateau
from jaxopt_fix.torch_optim.lr_scheduler import _schedulers as S


@dataclasses.dataclass(frozen=True)
class SchedulerTwin:
  """One torch scheduler class and its twin.

  Attributes:
    torch_name: The class name (``"OneCycleLR"``), in ``module``.
    factory: The twin (:func:`~jaxopt_fix.torch_optim.lr_scheduler.one_cycle_lr`).
    read: ``read(scheduler, group)``: the factory's keywords for param group ``group``.
    module: ``"torch.optim.lr_scheduler"`` or ``"torch.optim.swa_utils"``.
  """

  torch_name: str
  factory: Callable[..., Any]
  read: Callable[[Any, int], dict[str, Any]]
  module: str = "torch.optim.lr_scheduler"


def _float(x: Any) -> float:
  return float(x)


def _base(s: Any, g: int) -> dict[str, Any]:
  return {"lr": _float(s.base_lrs[g])}


def _inverted(forward: Callable[[float], float], target: float, guess: float) -> float:
  """A float ``x`` near ``guess`` with ``forward(x) == target`` (``guess`` if none is)."""
  candidates = [guess]
  for direction in (math.inf, -math.inf):
    x = guess
    for _ in range(4):
      x = math.nextafter(x, direction)
      candidates.append(x)
  for x in candidates:
    if forward(x) == target:
      return x
  return guess


def _one_cycle(s: Any, g: int) -> dict[str, Any]:
  group = s.optimizer.param_groups[g]
  phases = s._schedule_phases
  total = s.total_steps
  end = phases[0]["end_step"]
  max_lr, initial, min_lr = _float(group["max_lr"]), _float(group["initial_lr"]), group["min_lr"]
  kwargs: dict[str, Any] = {
    "max_lr": max_lr,
    "total_steps": total,
    "pct_start": _inverted(lambda p: float(p * total) - 1, end, (end + 1) / total),
    "anneal_strategy": getattr(s, "_anneal_func_type", "cos"),
    "cycle_momentum": s.cycle_momentum,
    "div_factor": _inverted(lambda d: max_lr / d, initial, max_lr / initial),
    "final_div_factor": _inverted(lambda d: initial / d, _float(min_lr), initial / _float(min_lr)),
    "three_phase": len(phases) == 3,
  }
  if s.cycle_momentum:
    kwargs["base_momentum"] = group["base_momentum"]
    kwargs["max_momentum"] = group["max_momentum"]
  return kwargs


def _cyclic(s: Any, g: int) -> dict[str, Any]:
  up = s.total_size * s.step_ratio
  if abs(up - round(up)) < 1e-9 * max(1.0, up):
    up = float(round(up))
  kwargs: dict[str, Any] = {
    "base_lr": _float(s.base_lrs[g]),
    "max_lr": _float(s.max_lrs[g]),
    "step_size_up": up,
    "step_size_down": s.total_size - up,
    "mode": s.mode,
    "gamma": s.gamma,
    "scale_fn": s._scale_fn_custom,
    "scale_mode": s.scale_mode,
    "cycle_momentum": s.cycle_momentum,
  }
  if s.cycle_momentum:
    kwargs["base_momentum"] = s.base_momentums[g]
    kwargs["max_momentum"] = s.max_momentums[g]
  return kwargs


def _plateau_kwargs(s: Any, g: int) -> dict[str, Any]:
  return {
    "lr": _float(s.optimizer.param_groups[g]["lr"]),
    "mode": s.mode,
    "factor": s.factor,
    "patience": s.patience,
    "threshold": s.threshold,
    "threshold_mode": s.threshold_mode,
    "cooldown": s.cooldown,
    "min_lr": s.min_lrs[g],
    "eps": s.eps,
  }


def _swalr(s: Any, g: int) -> dict[str, Any]:
  return {
    **_base(s, g),
    "swa_lr": s.optimizer.param_groups[g]["swa_lr"],
    "anneal_epochs": s.anneal_epochs,
    "anneal_strategy": s._anneal_strategy,
  }


def _swalr_factory(**kwargs: Any) -> Any:
  from jaxopt_fix.torch_optim import swa_utils

  return swa_utils.swalr(**kwargs)


_TABLE = (
  SchedulerTwin(
    "LambdaLR", S.lambda_lr, lambda s, g: {**_base(s, g), "lr_lambda": s.lr_lambdas[g]}
  ),
  SchedulerTwin(
    "MultiplicativeLR",
    S.multiplicative_lr,
    lambda s, g: {**_base(s, g), "lr_lambda": s.lr_lambdas[g]},
  ),
  SchedulerTwin(
    "StepLR",
    S.step_lr,
    lambda s, g: {**_base(s, g), "step_size": s.step_size, "gamma": s.gamma},
  ),
  SchedulerTwin(
    "MultiStepLR",
    S.multi_step_lr,
    lambda s, g: {**_base(s, g), "milestones": sorted(s.milestones.elements()), "gamma": s.gamma},
  ),
  SchedulerTwin(
    "ConstantLR",
    S.constant_lr,
    lambda s, g: {**_base(s, g), "factor": s.factor, "total_iters": s.total_iters},
  ),
  SchedulerTwin(
    "LinearLR",
    S.linear_lr,
    lambda s, g: {
      **_base(s, g),
      "start_factor": s.start_factor,
      "end_factor": s.end_factor,
      "total_iters": s.total_iters,
    },
  ),
  SchedulerTwin("ExponentialLR", S.exponential_lr, lambda s, g: {**_base(s, g), "gamma": s.gamma}),
  SchedulerTwin(
    "SequentialLR",
    S.sequential_lr,
    lambda s, g: {
      "schedulers": [twin_from_torch(sub, g) for sub in s._schedulers],
      "milestones": list(s._milestones),
    },
  ),
  SchedulerTwin(
    "CosineAnnealingLR",
    S.cosine_annealing_lr,
    lambda s, g: {**_base(s, g), "T_max": s.T_max, "eta_min": s.eta_min},
  ),
  SchedulerTwin(
    "ChainedScheduler",
    S.chained_scheduler,
    lambda s, g: {"schedulers": [twin_from_torch(sub, g) for sub in s._schedulers]},
  ),
  SchedulerTwin("ReduceLROnPlateau", _plateau.reduce_lr_on_plateau, _plateau_kwargs),
  SchedulerTwin("CyclicLR", S.cyclic_lr, _cyclic),
  SchedulerTwin(
    "CosineAnnealingWarmRestarts",
    S.cosine_annealing_warm_restarts,
    lambda s, g: {**_base(s, g), "T_0": s.T_0, "T_mult": s.T_mult, "eta_min": s.eta_min},
  ),
  SchedulerTwin("OneCycleLR", S.one_cycle_lr, _one_cycle),
  SchedulerTwin(
    "PolynomialLR",
    S.polynomial_lr,
    lambda s, g: {**_base(s, g), "total_iters": s.total_iters, "power": s.power},
  ),
  SchedulerTwin("SWALR", _swalr_factory, _swalr, module="torch.optim.swa_utils"),
)

SCHEDULERS: Mapping[str, SchedulerTwin] = types.MappingProxyType({t.torch_name: t for t in _TABLE})
"""Every torch scheduler class with a twin, by class name."""


def twin_from_torch(scheduler: Any, group: int = 0) -> Any:
  """The twin of a live torch scheduler, for param group ``group``, as constructed.

  Raises:
    ValueError: for a class that is not one of :data:`SCHEDULERS` (a custom
      ``LRScheduler`` subclass included: its stepping rules are unknown).
  """
  cls = type(scheduler)
  twin = SCHEDULERS.get(cls.__name__)
  if twin is None or cls.__module__ != twin.module:
    raise ValueError(
      f"scheduler: {cls.__module__}.{cls.__qualname__} has no twin; the twins are "
      f"{', '.join(SCHEDULERS)} of torch.optim.lr_scheduler / swa_utils"
    )
  return twin.factory(**twin.read(scheduler, group))
