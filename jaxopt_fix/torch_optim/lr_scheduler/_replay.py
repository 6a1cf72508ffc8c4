"""torch 2.13's ``torch/optim/lr_scheduler.py`` and ``SWALR``, replayed in plain Python floats.

A line-for-line port of the schedulers' stepping rules (BSD-3-Clause, the PyTorch authors)
onto a stand-in optimizer (``param_groups`` dicts), without torch and without tensors, so the
twins can tabulate torch's float64 recursions on the host: the chainable forms read and write
``group["lr"]``, ``SequentialLR``'s undo and milestone resets and ``ChainedScheduler``'s order
are kept as torch has them. ``torch`` is never imported. Only ``last_epoch=-1`` (a fresh
scheduler) is replayed.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Callable
from collections.abc import Sequence
import math
from typing import Any


class Optimizer:
  """The part of ``torch.optim.Optimizer`` a scheduler touches: ``param_groups``, ``defaults``."""

  def __init__(self, lr: float, *, momentum: float | None = None, beta1: float | None = None):
    group: dict[str, Any] = {"lr": lr}
    self.defaults: dict[str, Any] = {"lr": lr}
    if momentum is not None:
      group["momentum"] = self.defaults["momentum"] = momentum
    if beta1 is not None:
      group["betas"] = self.defaults["betas"] = (beta1, 0.999)
    self.param_groups = [group]

  def momentum(self) -> float | None:
    """The group's momentum, or ``betas[0]`` for the Adam family; None without either."""
    group = self.param_groups[0]
    if "betas" in group:
      return group["betas"][0]
    return group.get("momentum")


def _lrs(optimizer: Optimizer) -> list[float]:
  return [group["lr"] for group in optimizer.param_groups]


class LRScheduler:
  _is_initial = False

  def __init__(self, optimizer: Optimizer) -> None:
    self.optimizer = optimizer
    for group in optimizer.param_groups:
      group.setdefault("initial_lr", group["lr"])
    self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
    self.last_epoch = -1
    self._initial_step()

  def _initial_step(self) -> None:
    self._step_count = 0
    self._is_initial = True
    try:
      self.step()
    finally:
      self._is_initial = False

  def get_last_lr(self) -> list[float]:
    return self._last_lr

  def get_lr(self) -> list[float]:
    raise NotImplementedError

  def step(self) -> None:
    self._step_count += 1
    self._update_lr(None)

  def _update_lr(self, epoch: int | None) -> None:
    if epoch is None:
      self.last_epoch += 1
      values = self.get_lr()
    else:
      self.last_epoch = epoch
      closed = getattr(self, "_get_closed_form_lr", None)
      values = closed() if closed is not None else self.get_lr()
    for group, lr in zip(self.optimizer.param_groups, values, strict=True):
      group["lr"] = lr
    self._last_lr = _lrs(self.optimizer)


class LambdaLR(LRScheduler):
  def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], Any]) -> None:
    self.lr_lambdas = [lr_lambda]
    super().__init__(optimizer)

  def get_lr(self) -> list[float]:
    return [
      base_lr * float(lmbda(self.last_epoch))
      for lmbda, base_lr in zip(self.lr_lambdas, self.base_lrs, strict=True)
    ]


class MultiplicativeLR(LRScheduler):
  def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], Any]) -> None:
    self.lr_lambdas = [lr_lambda]
    super().__init__(optimizer)

  def get_lr(self) -> list[float]:
    if not self._is_initial:
      return [
        group["lr"] * float(lmbda(self.last_epoch))
        for lmbda, group in zip(self.lr_lambdas, self.optimizer.param_groups, strict=True)
      ]
    return _lrs(self.optimizer)


class StepLR(LRScheduler):
  def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
    self.step_size, self.gamma = step_size, gamma
    super().__init__(optimizer)

  def get_lr(self) -> list[float]:
    if (self.last_epoch == 0) or (self.last_epoch % self.step_size != 0):
      return _lrs(self.optimizer)
    return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

  def _get_closed_form_lr(self) -> list[float]:
    return [
      base_lr * self.gamma ** (self.last_epoch // self.step_size) for base_lr in self.base_lrs
    ]


class MultiStepLR(LRScheduler):
  def __init__(self, optimizer: Optimizer, milestones: Sequence[int], gamma: float = 0.1) -> None:
    self.milestones, self.gamma = Counter(milestones), gamma
    super().__init__(optimizer)

  def get_lr(self) -> list[float]:
    if self.last_epoch not in self.milestones:
      return _lrs(self.optimizer)
    return [
      group["lr"] * self.gamma ** self.milestones[self.last_epoch]
      for group in self.optimizer.param_groups
    ]

  def _get_closed_form_lr(self) -> list[float]:
    milestones = sorted(self.milestones.elements())
    return [
      base_lr * self.gamma ** bisect_right(milestones, self.last_epoch) for base_lr in self.base_lrs
    ]


class ConstantLR(LRScheduler):
  def __init__(self, optimizer: Optimizer, factor: float = 1.0 / 3, total_iters: int = 5) -> None:
    self.factor, self.total_iters = factor, total_iters
    super().__init__(optimizer)

  def get_lr(self) -> list[float]:
    if self.last_epoch == 0:
      return [group["lr"] * self.factor for group in self.optimizer.param_groups]
    if self.last_epoch != self.total_iters:
      return _lrs(self.optimizer)
    inverse = 1.0 / self.factor if self.factor else math.inf  # torch: ZeroDivisionError
    return [group["lr"] * inverse for group in self.optimizer.param_groups]

  def _get_closed_form_lr(self) -> list[float]:
    return [
      base_lr * (self.factor + (self.last_epoch >= self.total_iters) * (1 - self.factor))
      for base_lr in self.base_lrs
    ]


class LinearLR(LRScheduler):
  def __init__(
    self,
    optimizer: Optimizer,
    start_factor: float = 1.0 / 3,
    end_factor: float = 1.0,
    total_iters: int = 5,
  ) -> None:
    self.start_factor, self.end_factor, self.total_iters = start_factor, end_factor, total_iters
    super().__init__(optimizer)

  def get_lr(self) -> list[float]:
    if self.last_epoch == 0:
      return [group["lr"] * self.start_factor for group in self.optimizer.param_groups]
    if self._is_initial or self.last_epoch > self.total_iters:
      return _lrs(self.optimizer)
    return [
      group["lr"]
      * (
        1.0
        + (self.end_factor - self.start_factor)
        / (
          self.total_iters * self.start_factor
          + (self.last_epoch - 1) * (self.end_factor - self.start_factor)
        )
      )
      for group in self.optimizer.param_groups
    ]

  def _get_closed_form_lr(self) -> list[float]:
    return [
      base_lr
      * (
        self.start_factor
        + (self.end_factor - self.start_factor)
        * min(self.total_iters, self.last_epoch)
        / self.total_iters
      )
      for base_lr in self.base_lrs
    ]


class ExponentialLR(LRScheduler):
  def __init__(self, optimizer: Optimizer, gamma: float) -> None:
    self.gamma = gamma
    super().__init__(optimizer)

  def get_lr(self) -> list[float]:
    if self._is_initial:
      return _lrs(self.optimizer)
    return [group["lr"] * self.gamma for group in self.optimizer.param_groups]

  def _get_closed_form_lr(self) -> list[float]:
    return [base_lr * self.gamma**self.last_epoch for base_lr in self.base_lrs]


class SequentialLR(LRScheduler):
  def __init__(
    self, optimizer: Optimizer, schedulers: Sequence[LRScheduler], milestones: Sequence[int]
  ) -> None:
    self._schedulers, self._milestones = list(schedulers), list(milestones)
    self.last_epoch = 0
    self.optimizer = optimizer
    for group in optimizer.param_groups:
      group["lr"] = group["initial_lr"]
    self.recursive_undo()
    idx = bisect_right(self._milestones, 0)
    self._schedulers[idx]._initial_step()
    self._last_lr = self._schedulers[idx].get_last_lr()

  def recursive_undo(self, sched: Any = None) -> None:
    scheds = self if sched is None else sched
    if hasattr(scheds, "_schedulers"):
      for s in scheds._schedulers:
        self.recursive_undo(s)
    elif hasattr(scheds, "last_epoch"):
      scheds.last_epoch -= 1

  def step(self) -> None:
    self.last_epoch += 1
    idx = bisect_right(self._milestones, self.last_epoch)
    scheduler = self._schedulers[idx]
    if idx > 0 and self._milestones[idx - 1] == self.last_epoch:
      scheduler._update_lr(0)
    else:
      scheduler.step()
    self._last_lr = scheduler.get_last_lr()


class PolynomialLR(LRScheduler):
  def __init__(self, optimizer: Optimizer, total_iters: int = 5, power: float = 1.0) -> None:
    self.total_iters, self.power = total_iters, power
    super().__init__(optimizer)

  def get_lr(self) -> list[float]:
    if self._is_initial or self.last_epoch > self.total_iters:
      return _lrs(self.optimizer)
    decay_factor = (
      (1.0 - self.last_epoch / self.total_iters) / (1.0 - (self.last_epoch - 1) / self.total_iters)
    ) ** self.power
    return [group["lr"] * decay_factor for group in self.optimizer.param_groups]

  def _get_closed_form_lr(self) -> list[float]:
    return [
      base_lr * (1.0 - min(self.total_iters, self.last_epoch) / self.total_iters) ** self.power
      for base_lr in self.base_lrs
    ]


class CosineAnnealingLR(LRScheduler):
  def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0) -> None:
    self.T_max, self.eta_min = T_max, eta_min
    super().__init__(optimizer)

  def get_lr(self) -> list[float]:
    if self._is_initial:
      return _lrs(self.optimizer)
    if self._step_count == 1 and self.last_epoch > 0:
      return [
        self.eta_min
        + (base_lr - self.eta_min) * (1 + math.cos((self.last_epoch) * math.pi / self.T_max)) / 2
        for base_lr in self.base_lrs
      ]
    if (self.last_epoch - 1 - self.T_max) % (2 * self.T_max) == 0:
      return [
        group["lr"] + (base_lr - self.eta_min) * (1 - math.cos(math.pi / self.T_max)) / 2
        for base_lr, group in zip(self.base_lrs, self.optimizer.param_groups, strict=True)
      ]
    return [
      (1 + math.cos(math.pi * self.last_epoch / self.T_max))
      / (1 + math.cos(math.pi * (self.last_epoch - 1) / self.T_max))
      * (group["lr"] - self.eta_min)
      + self.eta_min
      for group in self.optimizer.param_groups
    ]

  def _get_closed_form_lr(self) -> list[float]:
    return [
      self.eta_min
      + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.last_epoch / self.T_max)) / 2
      for base_lr in self.base_lrs
    ]


class ChainedScheduler(LRScheduler):
  def __init__(self, schedulers: Sequence[LRScheduler], optimizer: Optimizer) -> None:
    self._schedulers, self.optimizer = list(schedulers), optimizer
    self._last_lr = _lrs(optimizer)

  def step(self) -> None:
    for scheduler in self._schedulers:
      scheduler.step()
    self._last_lr = _lrs(self.optimizer)


def _set_momentum(group: dict[str, Any], use_beta1: bool, momentum: float) -> None:
  if use_beta1:
    group["betas"] = (momentum, *group["betas"][1:])
  else:
    group["momentum"] = momentum


def _check_momentum(optimizer: Optimizer) -> bool:
  if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
    raise ValueError(
      "optimizer must support momentum or beta1 with `cycle_momentum` option enabled"
    )
  return "betas" in optimizer.defaults


class CyclicLR(LRScheduler):
  def __init__(
    self,
    optimizer: Optimizer,
    base_lr: float,
    max_lr: float,
    step_size_up: float = 2000,
    step_size_down: float | None = None,
    mode: str = "triangular",
    gamma: float = 1.0,
    scale_fn: Callable[[Any], Any] | None = None,
    scale_mode: str = "cycle",
    cycle_momentum: bool = True,
    base_momentum: float = 0.8,
    max_momentum: float = 0.9,
  ) -> None:
    self.optimizer = optimizer
    base_lrs = [base_lr]
    for lr, group in zip(base_lrs, optimizer.param_groups, strict=True):
      group["lr"] = lr
    self.max_lrs = [max_lr]
    up = float(step_size_up)
    down = float(step_size_down) if step_size_down is not None else up
    self.total_size = up + down
    self.step_ratio = up / self.total_size
    self.mode, self.gamma = mode, gamma
    if scale_fn is not None:
      self.scale_fn, self.scale_mode = scale_fn, scale_mode
    elif mode == "triangular":
      self.scale_fn, self.scale_mode = (lambda x: 1.0), "cycle"
    elif mode == "triangular2":
      self.scale_fn, self.scale_mode = (lambda x: 1 / (2.0 ** (x - 1))), "cycle"
    else:
      self.scale_fn, self.scale_mode = (lambda x: gamma**x), "iterations"
    self.cycle_momentum = cycle_momentum
    if cycle_momentum:
      self.use_beta1 = _check_momentum(optimizer)
      self.base_momentums, self.max_momentums = [base_momentum], [max_momentum]
      for group in optimizer.param_groups:
        _set_momentum(group, self.use_beta1, max_momentum)
        group["max_momentum"], group["base_momentum"] = max_momentum, base_momentum
    super().__init__(optimizer)
    self.base_lrs = base_lrs

  def get_lr(self) -> list[float]:
    cycle = math.floor(1 + self.last_epoch / self.total_size)
    x = 1.0 + self.last_epoch / self.total_size - cycle
    ratio = self.step_ratio
    scale_factor = x / ratio if x <= ratio else (x - 1) / (ratio - 1)
    scale_x = cycle if self.scale_mode == "cycle" else self.last_epoch
    lrs = []
    for base_lr, max_lr in zip(self.base_lrs, self.max_lrs, strict=True):
      base_height = (max_lr - base_lr) * scale_factor
      lrs.append(base_lr + base_height * float(self.scale_fn(scale_x)))
    if self.cycle_momentum:
      for group, base_momentum, max_momentum in zip(
        self.optimizer.param_groups, self.base_momentums, self.max_momentums, strict=True
      ):
        base_height = (max_momentum - base_momentum) * scale_factor
        momentum = max_momentum - base_height * float(self.scale_fn(scale_x))
        _set_momentum(group, self.use_beta1, momentum)
    return lrs


class CosineAnnealingWarmRestarts(LRScheduler):
  def __init__(
    self,
    optimizer: Optimizer,
    T_0: int,
    T_mult: int = 1,
    eta_min: float = 0.0,
  ) -> None:
    self.T_0, self.T_i, self.T_mult, self.eta_min = T_0, T_0, T_mult, eta_min
    self.T_cur = -1
    super().__init__(optimizer)

  def get_lr(self) -> list[float]:
    return [
      self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * self.T_cur / self.T_i)) / 2
      for base_lr in self.base_lrs
    ]

  def step(self) -> None:
    if self.last_epoch < 0:  # torch's step(epoch=0): T_0 >= 1, so a fresh cycle
      epoch = 0
      self.T_i, self.T_cur = self.T_0, 0
    else:
      epoch = self.last_epoch + 1
      self.T_cur = self.T_cur + 1
      if self.T_cur >= self.T_i:
        self.T_cur = self.T_cur % self.T_i
        self.T_i = self.T_i * self.T_mult
    self.last_epoch = math.floor(epoch)
    for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
      group["lr"] = lr
    self._last_lr = _lrs(self.optimizer)


class OneCycleLR(LRScheduler):
  def __init__(
    self,
    optimizer: Optimizer,
    max_lr: float,
    total_steps: int,
    pct_start: float = 0.3,
    anneal_strategy: str = "cos",
    cycle_momentum: bool = True,
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    three_phase: bool = False,
  ) -> None:
    self.optimizer, self.total_steps = optimizer, total_steps
    self._schedule_phases = one_cycle_phases(total_steps, pct_start, three_phase)
    self._anneal = _annealing_cos if anneal_strategy == "cos" else _annealing_linear
    for group in optimizer.param_groups:
      group["initial_lr"] = max_lr / div_factor
      group["max_lr"] = max_lr
      group["min_lr"] = group["initial_lr"] / final_div_factor
    self.cycle_momentum = cycle_momentum
    if cycle_momentum:
      self.use_beta1 = _check_momentum(optimizer)
      for group in optimizer.param_groups:
        _set_momentum(group, self.use_beta1, max_momentum)
        group["max_momentum"], group["base_momentum"] = max_momentum, base_momentum
    super().__init__(optimizer)

  def get_lr(self) -> list[float]:
    step_num = self.last_epoch
    if step_num > self.total_steps:
      raise ValueError(
        f"Tried to step {step_num} times. The specified number of total steps is {self.total_steps}"
      )
    lrs = []
    for group in self.optimizer.param_groups:
      start_step = 0.0
      for i, phase in enumerate(self._schedule_phases):
        end_step = phase["end_step"]
        if step_num <= end_step or i == len(self._schedule_phases) - 1:
          pct = (step_num - start_step) / (end_step - start_step)
          lrs.append(self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
          if self.cycle_momentum:
            momentum = self._anneal(
              group[phase["start_momentum"]], group[phase["end_momentum"]], pct
            )
            _set_momentum(group, self.use_beta1, momentum)
          break
        start_step = phase["end_step"]
    return lrs


def one_cycle_phases(total_steps: int, pct_start: float, three_phase: bool) -> list[dict[str, Any]]:
  """``OneCycleLR._schedule_phases``: each phase's last step and the group keys it joins."""
  first = {
    "end_step": float(pct_start * total_steps) - 1,
    "start_lr": "initial_lr",
    "end_lr": "max_lr",
    "start_momentum": "max_momentum",
    "end_momentum": "base_momentum",
  }
  if three_phase:
    return [
      first,
      {
        "end_step": float(2 * pct_start * total_steps) - 2,
        "start_lr": "max_lr",
        "end_lr": "initial_lr",
        "start_momentum": "base_momentum",
        "end_momentum": "max_momentum",
      },
      {
        "end_step": total_steps - 1,
        "start_lr": "initial_lr",
        "end_lr": "min_lr",
        "start_momentum": "max_momentum",
        "end_momentum": "max_momentum",
      },
    ]
  return [
    first,
    {
      "end_step": total_steps - 1,
      "start_lr": "max_lr",
      "end_lr": "min_lr",
      "start_momentum": "base_momentum",
      "end_momentum": "max_momentum",
    },
  ]


def _annealing_cos(start: float, end: float, pct: float) -> float:
  cos_out = math.cos(math.pi * pct) + 1
  return end + (start - end) / 2.0 * cos_out


def _annealing_linear(start: float, end: float, pct: float) -> float:
  return (end - start) * pct + start


class SWALR(LRScheduler):
  def __init__(
    self, optimizer: Optimizer, swa_lr: float, anneal_epochs: int = 10, anneal_strategy: str = "cos"
  ) -> None:
    for group in optimizer.param_groups:
      group["swa_lr"] = swa_lr
    self.anneal_func = _swa_cos if anneal_strategy == "cos" else _swa_linear
    self.anneal_epochs = anneal_epochs
    super().__init__(optimizer)

  def get_lr(self) -> list[float]:
    step = self._step_count - 1
    if self.anneal_epochs == 0:
      step = max(1, step)
    prev_t = max(0, min(1, (step - 1) / max(1, self.anneal_epochs)))
    prev_alpha = self.anneal_func(prev_t)
    prev_lrs = [
      _swa_initial_lr(group["lr"], group["swa_lr"], prev_alpha)
      for group in self.optimizer.param_groups
    ]
    t = max(0, min(1, step / max(1, self.anneal_epochs)))
    alpha = self.anneal_func(t)
    return [
      group["swa_lr"] * alpha + lr * (1 - alpha)
      for group, lr in zip(self.optimizer.param_groups, prev_lrs, strict=True)
    ]


def _swa_linear(t: float) -> float:
  return t


def _swa_cos(t: float) -> float:
  return (1 - math.cos(math.pi * t)) / 2


def _swa_initial_lr(lr: float, swa_lr: float, alpha: float) -> float:
  if alpha == 1:
    return swa_lr
  return (lr - alpha * swa_lr) / (1 - alpha)


def trajectory(
  scheduler: LRScheduler, optimizer: Optimizer, steps: int
) -> tuple[list[float], list[float | None]]:
  """``get_last_lr()[0]`` and the group's momentum after 0, 1, ..., ``steps - 1`` calls of
  ``step()`` (fewer if the scheduler raises, as ``OneCycleLR`` past ``total_steps`` or
  ``CyclicLR("triangular2")``'s ``2.0 ** cycle`` after 1,024 cycles)."""
  lrs, momenta = [scheduler.get_last_lr()[0]], [optimizer.momentum()]
  for _ in range(steps - 1):
    try:
      scheduler.step()
    except (ValueError, ArithmeticError):
      break
    lrs.append(scheduler.get_last_lr()[0])
    momenta.append(optimizer.momentum())
  return lrs, momenta
