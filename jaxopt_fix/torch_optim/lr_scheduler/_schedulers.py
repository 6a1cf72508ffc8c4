"""The twins of torch 2.13's ``torch.optim.lr_scheduler`` classes (but ``ReduceLROnPlateau``)."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence
import math
from typing import Any
from typing import Literal

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_fix._src import numerics
from jaxopt_fix.torch_optim.lr_scheduler import _replay
from jaxopt_fix.torch_optim.lr_scheduler._schedule import MAX_TABLE
from jaxopt_fix.torch_optim.lr_scheduler._schedule import TABLE_STEPS
from jaxopt_fix.torch_optim.lr_scheduler._schedule import Replayed
from jaxopt_fix.torch_optim.lr_scheduler._schedule import TorchSchedule
from jaxopt_fix.torch_optim.lr_scheduler._schedule import frozen
from jaxopt_fix.torch_optim.lr_scheduler._schedule import kwargs_of
from jaxopt_fix.torch_optim.lr_scheduler._schedule import nan_tail


def _dtype() -> jnp.dtype:
  return numerics.compute_dtype()


def check_fresh(last_epoch: int) -> None:
  """Only a fresh scheduler (torch's default ``last_epoch=-1``) is a twin's starting point."""
  if last_epoch != -1:
    raise ValueError(
      f"last_epoch={last_epoch}: only -1 (a fresh schedule) is supported; to resume a "
      "schedule, resume the optimizer state, whose count is the number of steps taken"
    )


def _check_lr(lr: Any, name: str = "lr") -> float:
  if isinstance(lr, (list, tuple)) or callable(lr):
    raise ValueError(
      f"{name}={lr!r} must be one param group's learning rate (a float): build one schedule "
      "per param group, e.g. with optax.multi_transform"
    )
  lr = float(lr)
  if not lr >= 0.0:
    raise ValueError(f"{name}={lr} must be >= 0")
  return lr


def _check_function(name: str, fn: Any) -> None:
  if isinstance(fn, (list, tuple)):
    raise ValueError(
      f"{name}: one function per schedule; build one schedule per param group "
      "(e.g. with optax.multi_transform)"
    )
  if not callable(fn):
    raise ValueError(f"{name} should be a function, but got {type(fn).__name__}")


def _check_int(name: str, value: Any, minimum: int) -> int:
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
    raise ValueError(f"Expected integer {name} >= {minimum}, but got {value!r}")
  return int(value)


def _closed_tail(table_is_complete: bool, closed: Callable[[jax.Array], jax.Array]):
  return None if table_is_complete else closed


def lambda_lr(lr: float, lr_lambda: Callable[[Any], Any], last_epoch: int = -1) -> TorchSchedule:
  r"""``torch.optim.lr_scheduler.LambdaLR``: :math:`\mathrm{lr}_k = \mathrm{lr} \cdot \lambda(k)`.

  Closed form, as torch's: a host table of ``lr * lr_lambda(k)`` for ``k`` < 16,384,
  ``lr_lambda`` called with Python ints as torch calls it (float64), then the same product
  at the traced count, in the compute dtype.

  Args:
    lr: The param group's learning rate (torch's ``initial_lr``).
    lr_lambda: The multiplicative factor of the step count ``k``. It is called with Python
      ints (16,384 times, when the table is first needed) and, past the table, with an integer
      array under ``jit``: it must be traceable (``jnp.where`` rather than ``if``).
    last_epoch: Only -1.

  Returns:
    A :class:`TorchSchedule`.

  Examples:
    >>> import jax.numpy as jnp
    >>> from jaxopt_fix.torch_optim import lr_scheduler
    >>> warmup = lr_scheduler.lambda_lr(0.1, lambda k: jnp.minimum(1.0, (k + 1) / 4))
    >>> [round(float(warmup(k)), 6) for k in range(6)]
    [0.025, 0.05, 0.075, 0.1, 0.1, 0.1]

  .. warning::
    A ``lr_lambda`` written with ``jnp`` is evaluated in float32 without x64 even on the
    host (torch: in float64), and building the table calls it eagerly 16,384 times; past
    the table the product is in the compute dtype. A per-group list of lambdas is one
    schedule per group here.
  """
  check_fresh(last_epoch)
  lr = _check_lr(lr)
  _check_function("lr_lambda", lr_lambda)

  def replay(opt):
    return _replay.LambdaLR(opt, lr_lambda)

  values = Replayed(replay, lr, TABLE_STEPS)
  return TorchSchedule(
    "LambdaLR",
    kwargs_of(lr_lambda=lr_lambda),
    lr,
    lambda: values.lrs,
    tail=lambda i: lr * jnp.asarray(lr_lambda(i), _dtype()),
    replay=replay,
  )


def multiplicative_lr(
  lr: float, lr_lambda: Callable[[Any], Any], last_epoch: int = -1
) -> TorchSchedule:
  r"""``torch.optim.lr_scheduler.MultiplicativeLR``:
  :math:`\mathrm{lr}_0 = \mathrm{lr}, \ \mathrm{lr}_k = \mathrm{lr}_{k-1} \lambda(k)`.

  A host table of torch's float64 product for the first 16,384 steps (``lr_lambda`` called
  with Python ints), then the product continued at the traced count in the compute dtype
  (a ``lax.fori_loop`` from the table's end).

  Args:
    lr: The param group's learning rate.
    lr_lambda: The factor of step ``k``; it must accept Python ints and be traceable.
    last_epoch: Only -1.

  Returns:
    A :class:`TorchSchedule`.

  Examples:
    >>> from jaxopt_fix.torch_optim import lr_scheduler
    >>> schedule = lr_scheduler.multiplicative_lr(1.0, lambda k: 0.5)
    >>> [float(schedule(k)) for k in range(4)]
    [1.0, 0.5, 0.25, 0.125]

  .. warning::
    Past 16,384 steps the product is taken in the compute dtype at every evaluation, in
    O(count) time: not torch's float64 product without x64.
  """
  check_fresh(last_epoch)
  lr = _check_lr(lr)
  _check_function("lr_lambda", lr_lambda)

  def replay(opt):
    return _replay.MultiplicativeLR(opt, lr_lambda)

  values = Replayed(replay, lr, TABLE_STEPS)

  def tail(i):
    dtype, n = _dtype(), len(values.lrs)
    return jax.lax.fori_loop(
      n,
      jnp.maximum(i + 1, n),
      lambda j, v: (v * jnp.asarray(lr_lambda(j), dtype)).astype(dtype),
      jnp.asarray(values.lrs[-1], dtype),
    )

  return TorchSchedule(
    "MultiplicativeLR",
    kwargs_of(lr_lambda=lr_lambda),
    lr,
    lambda: values.lrs,
    tail=tail,
    replay=replay,
  )


def step_lr(lr: float, step_size: int, gamma: float = 0.1, last_epoch: int = -1) -> TorchSchedule:
  r"""``torch.optim.lr_scheduler.StepLR``: :math:`\mathrm{lr}` times :math:`\gamma` every
  ``step_size`` steps, :math:`\mathrm{lr}_k = \mathrm{lr} \gamma^{\lfloor k / s \rfloor}`.

  torch multiplies the current lr by ``gamma`` (float64); the table holds its first 16,384
  products exactly, indexed by ``k // step_size``, then ``table[-1] * gamma**j``.

  Args:
    lr: The param group's learning rate.
    step_size: The period of the decay, an integer >= 1.
    gamma: The multiplicative factor.
    last_epoch: Only -1.

  Returns:
    A :class:`TorchSchedule`.

  Raises:
    ValueError: for ``step_size < 1`` (torch divides by it at the first step).

  Examples:
    >>> from jaxopt_fix.torch_optim import lr_scheduler
    >>> schedule = lr_scheduler.step_lr(0.1, step_size=3, gamma=0.5)
    >>> [round(float(schedule(k)), 6) for k in range(7)]
    [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]
  """
  check_fresh(last_epoch)
  lr = _check_lr(lr)
  step_size = _check_int("step_size", step_size, 1)
  gamma = float(gamma)
  values = [lr]
  for _ in range(TABLE_STEPS - 1):
    values.append(values[-1] * gamma)
  table = frozen(values)
  last = len(table) - 1
  return TorchSchedule(
    "StepLR",
    kwargs_of(step_size=step_size, gamma=gamma),
    lr,
    lambda: table,
    index=lambda count: count // step_size,
    tail=lambda j: table[-1] * jnp.asarray(gamma, _dtype()) ** (j - last),
    replay=lambda opt: _replay.StepLR(opt, step_size, gamma),
  )


def multi_step_lr(
  lr: float, milestones: Sequence[int], gamma: float = 0.1, last_epoch: int = -1
) -> TorchSchedule:
  r"""``torch.optim.lr_scheduler.MultiStepLR``: :math:`\mathrm{lr}` times
  :math:`\gamma^{c}` at each milestone that appears :math:`c` times.

  Exact everywhere: a table with one float64 value per milestone passed (torch's running
  product), indexed by ``searchsorted(milestones, k, "right")``; a milestone 0 applies at
  construction, as in torch.

  Args:
    lr: The param group's learning rate.
    milestones: Steps (integers) at which the lr decays; repeats decay repeatedly.
    gamma: The multiplicative factor.
    last_epoch: Only -1.

  Returns:
    A :class:`TorchSchedule`.

  Examples:
    >>> from jaxopt_fix.torch_optim import lr_scheduler
    >>> schedule = lr_scheduler.multi_step_lr(1.0, milestones=[2, 4, 4], gamma=0.5)
    >>> [float(schedule(k)) for k in range(6)]
    [1.0, 1.0, 0.5, 0.5, 0.125, 0.125]
  """
  check_fresh(last_epoch)
  lr = _check_lr(lr)
  milestones = [_check_int("milestones", m, -(2**31)) for m in milestones]
  gamma = float(gamma)
  counts: dict[int, int] = {}
  for m in milestones:
    counts[m] = counts.get(m, 0) + 1
  values = [lr * gamma ** counts[0] if 0 in counts else lr]
  later = sorted(m for m in counts if m > 0)
  for m in later:
    values.append(values[-1] * gamma ** counts[m])
  boundaries = np.asarray(later, dtype=np.int64)
  return TorchSchedule(
    "MultiStepLR",
    kwargs_of(milestones=tuple(milestones), gamma=gamma),
    lr,
    lambda: frozen(values),
    index=lambda count: jnp.searchsorted(
      jnp.asarray(boundaries, count.dtype), count, side="right"
    ).astype(count.dtype),
    replay=lambda opt: _replay.MultiStepLR(opt, milestones, gamma),
  )


def constant_lr(
  lr: float, factor: float = 1.0 / 3, total_iters: int = 5, last_epoch: int = -1
) -> TorchSchedule:
  r"""``torch.optim.lr_scheduler.ConstantLR``: :math:`\mathrm{lr} \cdot f` for the first
  ``total_iters`` steps, then torch's ``(lr * f) * (1 / f)`` (within an ulp of ``lr``).

  Exact everywhere (two float64 values). With ``total_iters <= 0`` the factor is never
  removed, as in torch.

  Args:
    lr: The param group's learning rate.
    factor: In [0, 1].
    total_iters: The number of steps with the reduced lr.
    last_epoch: Only -1.

  Returns:
    A :class:`TorchSchedule`.

  Raises:
    ValueError: unless ``0 <= factor <= 1`` (torch's check).

  Examples:
    >>> from jaxopt_fix.torch_optim import lr_scheduler
    >>> schedule = lr_scheduler.constant_lr(0.1, factor=0.5, total_iters=2)
    >>> [round(float(schedule(k)), 6) for k in range(4)]
    [0.05, 0.05, 0.1, 0.1]

  .. warning::
    ``factor=0`` gives NaN from ``total_iters`` on (torch raises ZeroDivisionError there).
  """
  check_fresh(last_epoch)
  lr = _check_lr(lr)
  factor = float(factor)
  if factor > 1.0 or factor < 0:
    raise ValueError(
      f"factor={factor}: Constant multiplicative factor expected to be between 0 and 1."
    )
  total_iters = _check_int("total_iters", total_iters, -(2**31))
  reduced = lr * factor
  inverse = 1.0 / factor if factor else math.inf
  values = [reduced, reduced * inverse if factor else math.nan]
  return TorchSchedule(
    "ConstantLR",
    kwargs_of(factor=factor, total_iters=total_iters),
    lr,
    lambda: frozen(values),
    index=lambda count: ((count >= total_iters) & (total_iters >= 1)).astype(count.dtype),
    replay=lambda opt: _replay.ConstantLR(opt, factor, total_iters),
  )


def linear_lr(
  lr: float,
  start_factor: float = 1.0 / 3,
  end_factor: float = 1.0,
  total_iters: int = 5,
  last_epoch: int = -1,
) -> TorchSchedule:
  r"""``torch.optim.lr_scheduler.LinearLR``: the factor goes linearly from ``start_factor``
  to ``end_factor`` over ``total_iters`` steps, then stays.

  torch's chainable form multiplies the current lr by
  :math:`1 + \frac{e - s}{T s + (k - 1)(e - s)}`; the table replays it exactly up to
  ``total_iters`` and holds the last value (past 2**21 steps, torch's closed form).

  Args:
    lr: The param group's learning rate.
    start_factor: In (0, 1].
    end_factor: In [0, 1].
    total_iters: The length of the ramp.
    last_epoch: Only -1.

  Returns:
    A :class:`TorchSchedule`.

  Raises:
    ValueError: for factors outside torch's ranges.

  Examples:
    >>> from jaxopt_fix.torch_optim import lr_scheduler
    >>> schedule = lr_scheduler.linear_lr(0.1, start_factor=0.25, total_iters=3)
    >>> [round(float(schedule(k)), 6) for k in range(5)]
    [0.025, 0.05, 0.075, 0.1, 0.1]
  """
  check_fresh(last_epoch)
  lr = _check_lr(lr)
  start_factor, end_factor = float(start_factor), float(end_factor)
  if start_factor > 1.0 or start_factor <= 0:
    raise ValueError(
      f"start_factor={start_factor}: Starting multiplicative factor expected to be greater "
      "than 0 and less or equal to 1."
    )
  if end_factor > 1.0 or end_factor < 0:
    raise ValueError(
      f"end_factor={end_factor}: Ending multiplicative factor expected to be between 0 and 1."
    )
  total_iters = _check_int("total_iters", total_iters, -(2**31))

  def replay(opt):
    return _replay.LinearLR(opt, start_factor, end_factor, total_iters)

  steps = min(max(total_iters, 0) + 2, MAX_TABLE)
  values = Replayed(replay, lr, steps)

  def closed(i):
    k = jnp.minimum(i, total_iters).astype(_dtype())
    return lr * (start_factor + (end_factor - start_factor) * k / total_iters)

  return TorchSchedule(
    "LinearLR",
    kwargs_of(start_factor=start_factor, end_factor=end_factor, total_iters=total_iters),
    lr,
    lambda: values.lrs,
    tail=_closed_tail(steps > total_iters, closed),
    replay=replay,
  )


def exponential_lr(lr: float, gamma: float, last_epoch: int = -1) -> TorchSchedule:
  r"""``torch.optim.lr_scheduler.ExponentialLR``: :math:`\mathrm{lr}_k = \mathrm{lr}_{k-1}\gamma`.

  The table holds torch's float64 products for 16,384 steps exactly; then
  ``table[-1] * gamma**(k - 16383)``.

  Args:
    lr: The param group's learning rate.
    gamma: The multiplicative factor.
    last_epoch: Only -1.

  Returns:
    A :class:`TorchSchedule`.

  Examples:
    >>> from jaxopt_fix.torch_optim import lr_scheduler
    >>> schedule = lr_scheduler.exponential_lr(1.0, gamma=0.5)
    >>> [float(schedule(k)) for k in range(4)]
    [1.0, 0.5, 0.25, 0.125]

  .. warning::
    ``optax.exponential_decay(lr, 1, gamma)`` computes ``lr * gamma**k``: a few ulps from
    torch's running product at 10,000 steps, and different once it underflows.
  """
  check_fresh(last_epoch)
  lr = _check_lr(lr)
  gamma = float(gamma)
  values = [lr]
  for _ in range(TABLE_STEPS - 1):
    values.append(values[-1] * gamma)
  table = frozen(values)
  last = len(table) - 1
  return TorchSchedule(
    "ExponentialLR",
    kwargs_of(gamma=gamma),
    lr,
    lambda: table,
    tail=lambda i: table[-1] * jnp.asarray(gamma, _dtype()) ** (i - last),
    replay=lambda opt: _replay.ExponentialLR(opt, gamma),
  )


def polynomial_lr(
  lr: float, total_iters: int = 5, power: float = 1.0, last_epoch: int = -1
) -> TorchSchedule:
  r"""``torch.optim.lr_scheduler.PolynomialLR``:
  :math:`\mathrm{lr}(1 - \min(k, T)/T)^p`, in torch's chainable form.

  torch multiplies by :math:`((1 - k/T) / (1 - (k-1)/T))^p` each step; the table replays it
  exactly through ``total_iters`` and holds the last value (past 2**21 steps, the closed
  form).

  Args:
    lr: The param group's learning rate.
    total_iters: The number of decaying steps.
    power: The polynomial's power.
    last_epoch: Only -1.

  Returns:
    A :class:`TorchSchedule`.

  Examples:
    >>> from jaxopt_fix.torch_optim import lr_scheduler
    >>> schedule = lr_scheduler.polynomial_lr(1.0, total_iters=4, power=2.0)
    >>> [float(schedule(k)) for k in range(6)]
    [1.0, 0.5625, 0.25, 0.0625, 0.0, 0.0]
  """
  check_fresh(last_epoch)
  lr = _check_lr(lr)
  total_iters = _check_int("total_iters", total_iters, 0)
  power = float(power)

  def replay(opt):
    return _replay.PolynomialLR(opt, total_iters, power)

  steps = min(total_iters + 2, MAX_TABLE)
  values = Replayed(replay, lr, steps)

  def closed(i):
    k = jnp.minimum(i, total_iters).astype(_dtype())
    return lr * (1.0 - k / total_iters) ** power

  return TorchSchedule(
    "PolynomialLR",
    kwargs_of(total_iters=total_iters, power=power),
    lr,
    lambda: values.lrs,
    tail=_closed_tail(steps > total_iters, closed),
    replay=replay,
  )


def cosine_annealing_lr(
  lr: float,
  T_max: int,
  eta_min: float = 0.0,
  last_epoch: int = -1,
) -> TorchSchedule:
  r"""``torch.optim.lr_scheduler.CosineAnnealingLR``: from ``lr`` to ``eta_min`` and back
  over :math:`2 T_{max}` steps,
  :math:`\eta_k \approx \eta_{min} + (\mathrm{lr} - \eta_{min})(1 + \cos(\pi k / T_{max}))/2`.

  torch's chainable form multiplies :math:`\eta_{k-1} - \eta_{min}` by
  :math:`(1 + \cos(\pi k/T)) / (1 + \cos(\pi (k-1)/T))` and restarts from ``lr`` each
  period. The table replays it exactly for max(16,384, 4 T_max) steps (at most 2**21);
  past it, its last period repeats (torch's restart makes the recursion periodic to within
  an ulp), or torch's closed form if the table holds no whole period.

  Args:
    lr: The param group's learning rate.
    T_max: Half the period, an integer >= 1.
    eta_min: The minimum lr.
    last_epoch: Only -1.

  Returns:
    A :class:`TorchSchedule`.

  Raises:
    ValueError: for ``T_max < 1`` (torch divides by it).

  Examples:
    >>> from jaxopt_fix.torch_optim import lr_scheduler
    >>> schedule = lr_scheduler.cosine_annealing_lr(1.0, T_max=4)
    >>> [round(float(schedule(k)), 6) for k in range(9)]
    [1.0, 0.853553, 0.5, 0.146447, 0.0, 0.146447, 0.5, 0.853553, 1.0]

  .. warning::
    ``optax.cosine_decay_schedule(lr, T_max)`` is the closed form and stays at
    ``eta_min`` after ``T_max`` steps; torch's goes back up.
  """
  check_fresh(last_epoch)
  lr = _check_lr(lr)
  T_max = _check_int("T_max", T_max, 1)
  eta_min = float(eta_min)

  def replay(opt):
    return _replay.CosineAnnealingLR(opt, T_max, eta_min)

  steps = min(max(TABLE_STEPS, 4 * T_max), MAX_TABLE)
  values = Replayed(replay, lr, steps)
  period = 2 * T_max
  start = steps - period - (steps - period) % period  # a whole number of periods from 0

  def tail(i):
    if 2 * period <= steps:
      return jnp.asarray(values.lrs, _dtype())[start + (i - start) % period]
    k = i.astype(_dtype())
    return eta_min + (lr - eta_min) * (1 + jnp.cos(jnp.pi * k / T_max)) / 2

  return TorchSchedule(
    "CosineAnnealingLR",
    kwargs_of(T_max=T_max, eta_min=eta_min),
    lr,
    lambda: values.lrs,
    tail=tail,
    replay=replay,
  )


def _common_lr(schedulers: Sequence[TorchSchedule], cls: str) -> float | None:
  if len(schedulers) < 1:
    raise ValueError(f"schedulers: {cls} expects at least one scheduler, but got no scheduler.")
  for i, s in enumerate(schedulers):
    if not isinstance(s, TorchSchedule) or s.replay is None:
      raise ValueError(f"schedulers[{i}] must be a twin schedule (of this module), got {s!r}")
    if s.torch_name == "ReduceLROnPlateau":
      raise ValueError(f"schedulers[{i}]: {cls} does not support ReduceLROnPlateau")
  lrs = []
  for s in schedulers:
    if s.lr is None:  # CyclicLR / OneCycleLR set the lr: later ones start from it
      break
    lrs.append(s.lr)
  if len(set(lrs)) > 1:
    raise ValueError(
      f"schedulers: {cls} expects all schedulers to belong to the same optimizer (param "
      f"group), but their lrs differ: {sorted(set(lrs))}"
    )
  return lrs[0] if lrs else next((s.lr for s in schedulers if s.lr is not None), None)


def _momentum_table(
  name: str,
  kwargs: Any,
  values: Replayed,
  cycled: bool,
  tail: Callable[[jax.Array], jax.Array] | None,
) -> TorchSchedule | None:
  if not cycled:
    return None
  return TorchSchedule(name, kwargs, None, lambda: values.momenta, tail=tail)


def sequential_lr(
  schedulers: Sequence[TorchSchedule], milestones: Sequence[int], last_epoch: int = -1
) -> TorchSchedule:
  r"""``torch.optim.lr_scheduler.SequentialLR``: ``schedulers[i]`` from ``milestones[i-1]`` on.

  All of torch 2.13's stepping rules hold: the sub-schedulers are built in order on one
  optimizer (each construction steps it once), then undone by one step; at a milestone
  the next one restarts with its closed form at epoch 0 (``_update_lr(0)``) and from there
  steps its own recursion on the shared lr. The table replays that exactly through the
  last milestone plus 16,384 steps; past it, the last scheduler's own schedule, shifted by
  the last milestone.

  Args:
    schedulers: Twin schedules of one param group (the same ``lr``), in the order torch's
      were constructed. After a ``cyclic_lr`` or ``one_cycle_lr`` (which set the lr) the
      others' ``lr`` is not used: they start from the lr it set, as in torch.
    milestones: ``len(schedulers) - 1`` integer steps.
    last_epoch: Only -1.

  Returns:
    A :class:`TorchSchedule` (with a ``momentum`` schedule if one of them cycles it).

  Raises:
    ValueError: torch's checks (no scheduler, a ReduceLROnPlateau, the milestone count),
      and schedules with different ``lr`` (different optimizers in torch).

  Examples:
    Linear warmup, then cosine decay:

    >>> from jaxopt_fix.torch_optim import lr_scheduler
    >>> warmup = lr_scheduler.linear_lr(1.0, start_factor=0.5, total_iters=2)
    >>> decay = lr_scheduler.cosine_annealing_lr(1.0, T_max=2)
    >>> schedule = lr_scheduler.sequential_lr([warmup, decay], milestones=[2])
    >>> [float(schedule(k)) for k in range(6)]
    [0.5, 0.75, 1.0, 0.5, 0.0, 0.5]
  """
  check_fresh(last_epoch)
  lr = _common_lr(schedulers, "SequentialLR")
  milestones = [_check_int("milestones", m, -(2**31)) for m in milestones]
  if len(milestones) != len(schedulers) - 1:
    raise ValueError(
      "milestones: Sequential Schedulers expects number of schedulers provided to be one more "
      f"than the number of milestone points, but got number of schedulers {len(schedulers)} "
      f"and the number of milestones to be equal to {len(milestones)}"
    )
  subs = tuple(schedulers)

  def replay(opt):
    return _replay.SequentialLR(opt, [s.replay(opt) for s in subs], milestones)  # type: ignore[misc]

  shift = max([0, *milestones])
  steps = min(shift + TABLE_STEPS, MAX_TABLE)
  values = Replayed(replay, lr, steps)
  last = subs[-1]
  offset = milestones[-1] if milestones else 0
  kwargs = kwargs_of(schedulers=subs, milestones=tuple(milestones))

  def shifted(schedule: TorchSchedule | None):
    def tail(i):
      if values.stopped:  # torch raised: nothing to continue
        return nan_tail(i)
      if schedule is None:  # the last one does not cycle the momentum: it stays
        return jnp.full(jnp.shape(i), values.momenta[-1], _dtype())
      return schedule(i - offset)

    return tail

  return TorchSchedule(
    "SequentialLR",
    kwargs,
    lr,
    lambda: values.lrs,
    tail=shifted(last),
    momentum=_momentum_table("SequentialLR", kwargs, values, _cycles(subs), shifted(last.momentum)),
    replay=replay,
  )


def _cycles(schedulers: Sequence[TorchSchedule]) -> bool:
  return any(s.momentum is not None for s in schedulers)


def chained_scheduler(schedulers: Sequence[TorchSchedule]) -> TorchSchedule:
  r"""``torch.optim.lr_scheduler.ChainedScheduler``: every scheduler steps, in order, on the
  same lr (so the chainable ones multiply, and a closed-form one overwrites).

  The table replays torch's rules exactly for 16,384 steps; past it the lr is the table's
  last value times each scheduler's own ratio ``s(k) / s(16383)`` (exact for products of
  chainable schedules).

  Args:
    schedulers: Twin schedules of one param group (the same ``lr``), in torch's order.

  Returns:
    A :class:`TorchSchedule` (with a ``momentum`` schedule if one of them cycles it).

  Raises:
    ValueError: torch's checks (no scheduler, a ReduceLROnPlateau), and schedules with
      different ``lr``.

  Examples:
    >>> from jaxopt_fix.torch_optim import lr_scheduler
    >>> schedule = lr_scheduler.chained_scheduler([
    ...   lr_scheduler.constant_lr(1.0, factor=0.5, total_iters=2),
    ...   lr_scheduler.exponential_lr(1.0, gamma=0.5),
    ... ])
    >>> [float(schedule(k)) for k in range(4)]
    [0.5, 0.25, 0.25, 0.125]
  """
  lr = _common_lr(schedulers, "ChainedScheduler")
  subs = tuple(schedulers)

  def replay(opt):
    return _replay.ChainedScheduler([s.replay(opt) for s in subs], opt)  # type: ignore[misc]

  values = Replayed(replay, lr, TABLE_STEPS)

  def tail(i):
    if values.stopped:
      return nan_tail(i)
    value = jnp.asarray(values.lrs[-1], _dtype())
    for s in subs:
      value = value * (s(i) / s(jnp.full_like(i, len(values.lrs) - 1)))
    return value

  cycling = [s.momentum for s in subs if s.momentum is not None]

  def momentum_tail(i):
    return nan_tail(i) if values.stopped else cycling[-1](i)

  kwargs = kwargs_of(schedulers=subs)
  return TorchSchedule(
    "ChainedScheduler",
    kwargs,
    lr,
    lambda: values.lrs,
    tail=tail,
    momentum=_momentum_table("ChainedScheduler", kwargs, values, bool(cycling), momentum_tail),
    replay=replay,
  )


_CYCLIC_MODES = ("triangular", "triangular2", "exp_range")


def cyclic_lr(
  base_lr: float,
  max_lr: float,
  step_size_up: int = 2000,
  step_size_down: int | None = None,
  mode: Literal["triangular", "triangular2", "exp_range"] = "triangular",
  gamma: float = 1.0,
  scale_fn: Callable[[Any], Any] | None = None,
  scale_mode: Literal["cycle", "iterations"] = "cycle",
  cycle_momentum: bool = True,
  base_momentum: float = 0.8,
  max_momentum: float = 0.9,
  last_epoch: int = -1,
) -> TorchSchedule:
  r"""``torch.optim.lr_scheduler.CyclicLR`` (Smith's cyclical learning rates), with its
  momentum schedule.

  With :math:`c = \lfloor 1 + k/S \rfloor`, :math:`x = 1 + k/S - c` (:math:`S` the cycle
  length, :math:`r` the up fraction) and :math:`h = x/r` if :math:`x \le r` else
  :math:`(x - 1)/(r - 1)`:

  .. math::

    \mathrm{lr}_k = b + (M - b)\,h\,s(c \text{ or } k), \qquad
    \mu_k = \mu_{max} - (\mu_{max} - \mu_{base})\,h\,s(c \text{ or } k).

  Closed form in torch too: the table holds torch's float64 values for 16,384 steps, then
  the same formula at the traced count in the compute dtype.

  Args:
    base_lr: The lower lr (torch sets the group's lr to it).
    max_lr: The upper lr.
    step_size_up: Steps of the increasing half, >= 1.
    step_size_down: Steps of the decreasing half (default ``step_size_up``).
    mode: ``"triangular"``, ``"triangular2"`` (amplitude halves each cycle) or
      ``"exp_range"`` (amplitude times ``gamma**k``).
    gamma: ``exp_range``'s factor.
    scale_fn: A custom amplitude function (replaces ``mode``); traceable, and accepting
      Python numbers.
    scale_mode: ``"cycle"`` or ``"iterations"``: the argument of a custom ``scale_fn``.
    cycle_momentum: Also cycle the momentum, inversely: the ``momentum`` attribute.
    base_momentum: The lower momentum.
    max_momentum: The upper momentum (torch sets the group's momentum to it).
    last_epoch: Only -1.

  Returns:
    A :class:`TorchSchedule`; with ``cycle_momentum``, its ``momentum`` is the momentum (or
    ``betas[0]``) schedule to pass to the optimizer twin (``momentum=`` of :func:`sgd`,
    :func:`rmsprop`; ``betas=(schedule.momentum, b2)`` of :func:`adam`, :func:`adamw`).

  Raises:
    ValueError: for an unknown ``mode`` without ``scale_fn``, or ``step_size_up < 1``.

  Examples:
    >>> from jaxopt_fix.torch_optim import lr_scheduler
    >>> schedule = lr_scheduler.cyclic_lr(0.1, 0.5, step_size_up=2)
    >>> [round(float(schedule(k)), 6) for k in range(5)]
    [0.1, 0.3, 0.5, 0.3, 0.1]
    >>> [round(float(schedule.momentum(k)), 6) for k in range(3)]
    [0.9, 0.85, 0.8]

  .. warning::
    torch checks at construction that the optimizer has a ``momentum`` or ``betas`` when
    ``cycle_momentum``; the twin cannot see the optimizer: pass ``schedule.momentum`` to it.
    ``mode="triangular2"`` overflows ``2.0 ** (cycle - 1)`` after 1,024 cycles, where torch
    raises OverflowError; the twin's tail continues with amplitude 0 (the lr at ``base_lr``).
  """
  check_fresh(last_epoch)
  base_lr, max_lr = _check_lr(base_lr, "base_lr"), _check_lr(max_lr, "max_lr")
  up = float(step_size_up)
  down = float(step_size_down) if step_size_down is not None else up
  if not up > 0 or not down >= 0:
    raise ValueError(
      f"step_size_up={step_size_up}, step_size_down={step_size_down}: expected step_size_up "
      "> 0 and step_size_down >= 0 (torch divides by them)"
    )
  if mode not in _CYCLIC_MODES and scale_fn is None:
    raise ValueError(f"mode={mode!r} is invalid and scale_fn is None")
  if scale_mode not in ("cycle", "iterations"):
    raise ValueError(f"scale_mode={scale_mode!r} must be 'cycle' or 'iterations'")
  gamma, base_momentum, max_momentum = float(gamma), float(base_momentum), float(max_momentum)
  kwargs = kwargs_of(
    base_lr=base_lr,
    max_lr=max_lr,
    step_size_up=up,
    step_size_down=down,
    mode=mode,
    gamma=gamma,
    scale_fn=scale_fn,
    scale_mode=scale_mode,
    cycle_momentum=cycle_momentum,
    base_momentum=base_momentum,
    max_momentum=max_momentum,
  )

  def replay(opt):
    return _replay.CyclicLR(opt, **kwargs)

  values = Replayed(replay, None, TABLE_STEPS)
  total = up + down
  ratio = up / total
  if scale_fn is not None:
    amplitude, by_cycle = scale_fn, scale_mode == "cycle"
  elif mode == "triangular":
    amplitude, by_cycle = (lambda x: 1.0), True
  elif mode == "triangular2":
    amplitude, by_cycle = (lambda x: 1 / (2.0 ** (x - 1))), True
  else:
    amplitude, by_cycle = (lambda x: gamma**x), False

  def height_and_scale(i):
    k = i.astype(_dtype())
    cycle = jnp.floor(1 + k / total)
    x = 1.0 + k / total - cycle
    height = jnp.where(x <= ratio, x / ratio, (x - 1) / (ratio - 1))
    return height, jnp.asarray(amplitude(cycle if by_cycle else k), _dtype())

  def lr_tail(i):
    height, scale = height_and_scale(i)
    return base_lr + (max_lr - base_lr) * height * scale

  def momentum_tail(i):
    height, scale = height_and_scale(i)
    return max_momentum - (max_momentum - base_momentum) * height * scale

  return TorchSchedule(
    "CyclicLR",
    kwargs,
    None,
    lambda: values.lrs,
    tail=lr_tail,
    momentum=_momentum_table("CyclicLR", kwargs, values, cycle_momentum, momentum_tail),
    replay=replay,
  )


def cosine_annealing_warm_restarts(
  lr: float,
  T_0: int,
  T_mult: int = 1,
  eta_min: float = 0.0,
  last_epoch: int = -1,
) -> TorchSchedule:
  r"""``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts`` (SGDR):
  :math:`\eta_{min} + (\mathrm{lr} - \eta_{min})(1 + \cos(\pi T_{cur}/T_i))/2`, restarting
  after :math:`T_i` steps, :math:`T_{i+1} = T_i\,T_{mult}`.

  Closed form in torch (integer ``T_cur``, ``T_i``): the table holds its float64 values for
  16,384 steps, then the same formula at the traced count (exact integer cycle arithmetic,
  the cosine in the compute dtype).

  Args:
    lr: The param group's learning rate.
    T_0: The first period, an integer >= 1.
    T_mult: The period's growth factor, an integer >= 1.
    eta_min: The minimum lr.
    last_epoch: Only -1.

  Returns:
    A :class:`TorchSchedule`.

  Raises:
    ValueError: torch's checks on ``T_0``, ``T_mult`` and ``eta_min``.

  Examples:
    >>> from jaxopt_fix.torch_optim import lr_scheduler
    >>> schedule = lr_scheduler.cosine_annealing_warm_restarts(1.0, T_0=2, T_mult=2)
    >>> [round(float(schedule(k)), 6) for k in range(7)]
    [1.0, 0.5, 1.0, 0.853553, 0.5, 0.146447, 1.0]
  """
  check_fresh(last_epoch)
  lr = _check_lr(lr)
  if isinstance(T_0, bool) or not isinstance(T_0, int) or T_0 <= 0:
    raise ValueError(f"T_0: Expected positive integer T_0, but got {T_0}")
  if isinstance(T_mult, bool) or not isinstance(T_mult, int) or T_mult < 1:
    raise ValueError(f"T_mult: Expected integer T_mult >= 1, but got {T_mult}")
  if not isinstance(eta_min, (float, int)):
    raise ValueError(
      f"eta_min: Expected float or int eta_min, but got {eta_min} of type {type(eta_min)}"
    )
  eta_min = float(eta_min)

  def replay(opt):
    return _replay.CosineAnnealingWarmRestarts(opt, T_0, T_mult, eta_min)

  values = Replayed(replay, lr, TABLE_STEPS)
  starts, periods = [0], [T_0]
  while T_mult > 1 and starts[-1] + periods[-1] < 2**31 - 1:
    starts.append(starts[-1] + periods[-1])
    periods.append(periods[-1] * T_mult)

  starts_at = np.asarray(starts, np.int64)
  periods_of = np.minimum(np.asarray(periods, np.int64), 2**31 - 1)

  def tail(i):
    if T_mult == 1:
      t_cur, t_i = i % T_0, jnp.asarray(T_0, i.dtype)
    else:
      n = jnp.searchsorted(jnp.asarray(starts_at, i.dtype), i, side="right") - 1
      t_cur, t_i = i - jnp.asarray(starts_at, i.dtype)[n], jnp.asarray(periods_of, i.dtype)[n]
    dtype = _dtype()
    angle = jnp.pi * t_cur.astype(dtype) / t_i.astype(dtype)
    return eta_min + (lr - eta_min) * (1 + jnp.cos(angle)) / 2

  return TorchSchedule(
    "CosineAnnealingWarmRestarts",
    kwargs_of(T_0=T_0, T_mult=T_mult, eta_min=eta_min),
    lr,
    lambda: values.lrs,
    tail=tail,
    replay=replay,
  )


def one_cycle_lr(
  max_lr: float,
  total_steps: int | None = None,
  epochs: int | None = None,
  steps_per_epoch: int | None = None,
  pct_start: float = 0.3,
  anneal_strategy: Literal["cos", "linear"] = "cos",
  cycle_momentum: bool = True,
  base_momentum: float = 0.85,
  max_momentum: float = 0.95,
  div_factor: float = 25.0,
  final_div_factor: float = 1e4,
  three_phase: bool = False,
  last_epoch: int = -1,
) -> TorchSchedule:
  r"""``torch.optim.lr_scheduler.OneCycleLR`` (Smith's 1cycle), with its momentum schedule.

  From ``max_lr / div_factor`` up to ``max_lr`` in the first ``pct_start`` of the steps,
  then down to ``max_lr / div_factor / final_div_factor`` (``three_phase``: back to the
  initial lr first), each phase annealed by
  :math:`a(s, e, p) = e + (s - e)(1 + \cos \pi p)/2` (or linearly); the momentum goes the
  other way, ``max_momentum`` to ``base_momentum`` and back.

  Closed form in torch: the table holds all its float64 values, after 0 to
  ``total_steps`` steps (past 2**21 steps, the formula at the traced count).

  Args:
    max_lr: The peak lr.
    total_steps: The number of steps, or None to use ``epochs * steps_per_epoch``.
    epochs: With ``steps_per_epoch``, the number of epochs.
    steps_per_epoch: With ``epochs``, the steps of an epoch.
    pct_start: The fraction of the steps spent increasing the lr, a float in [0, 1].
    anneal_strategy: ``"cos"`` or ``"linear"``.
    cycle_momentum: Also cycle the momentum (the ``momentum`` attribute).
    base_momentum: The lower momentum.
    max_momentum: The upper momentum (the first step's).
    div_factor: ``initial_lr = max_lr / div_factor``.
    final_div_factor: ``min_lr = initial_lr / final_div_factor``.
    three_phase: Use torch's three-phase schedule.
    last_epoch: Only -1.

  Returns:
    A :class:`TorchSchedule`; with ``cycle_momentum`` its ``momentum`` is the momentum (or
    ``betas[0]``) schedule for the optimizer twin.

  Raises:
    ValueError: torch's checks (``total_steps`` or ``epochs`` and ``steps_per_epoch``,
      ``pct_start``, ``anneal_strategy``).

  Examples:
    AdamW with OneCycleLR, ``betas[0]`` cycled as torch cycles it:

    >>> import jax.numpy as jnp
    >>> from jaxopt_fix import torch_optim
    >>> from jaxopt_fix.torch_optim import lr_scheduler
    >>> schedule = lr_scheduler.one_cycle_lr(0.1, total_steps=10)
    >>> print(f"{float(schedule(0)):.4f} {float(schedule(2)):.4f} {float(schedule(9)):.2e}")
    0.0040 0.1000 4.00e-07
    >>> print(f"{float(schedule.momentum(0)):.2f} {float(schedule.momentum(2)):.2f}")
    0.95 0.85
    >>> tx = torch_optim.adamw(lr=schedule, betas=(schedule.momentum, 0.999))
    >>> updates, state = tx.update(jnp.ones(2), tx.init(jnp.zeros(2)), jnp.zeros(2))

  .. warning::
    After ``total_steps`` steps torch raises; the twin gives NaN. ``optax.cosine_onecycle_schedule``
    has no momentum schedule and its phases end a step later than torch's.
  """
  check_fresh(last_epoch)
  if total_steps is not None:
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps <= 0:
      raise ValueError(f"total_steps: Expected positive integer total_steps, but got {total_steps}")
  elif epochs is not None and steps_per_epoch is not None:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs <= 0:
      raise ValueError(f"epochs: Expected positive integer epochs, but got {epochs}")
    if (
      isinstance(steps_per_epoch, bool)
      or not isinstance(steps_per_epoch, int)
      or steps_per_epoch <= 0
    ):
      raise ValueError(
        f"steps_per_epoch: Expected positive integer steps_per_epoch, but got {steps_per_epoch}"
      )
    total_steps = epochs * steps_per_epoch
  else:
    raise ValueError(
      "total_steps: You must define either total_steps OR (epochs AND steps_per_epoch)"
    )
  if not isinstance(pct_start, float) or pct_start < 0 or pct_start > 1:
    raise ValueError(f"pct_start: Expected float between 0 and 1 pct_start, but got {pct_start}")
  if anneal_strategy not in ("cos", "linear"):
    raise ValueError(
      f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}"
    )
  max_lr = _check_lr(max_lr, "max_lr")
  base_momentum, max_momentum = float(base_momentum), float(max_momentum)
  div_factor, final_div_factor = float(div_factor), float(final_div_factor)
  kwargs = kwargs_of(
    max_lr=max_lr,
    total_steps=total_steps,
    pct_start=pct_start,
    anneal_strategy=anneal_strategy,
    cycle_momentum=cycle_momentum,
    base_momentum=base_momentum,
    max_momentum=max_momentum,
    div_factor=div_factor,
    final_div_factor=final_div_factor,
    three_phase=three_phase,
  )

  def replay(opt):
    return _replay.OneCycleLR(opt, **kwargs)

  steps = min(total_steps + 1, MAX_TABLE)
  values = Replayed(replay, None, steps)
  initial = max_lr / div_factor
  group = {
    "initial_lr": initial,
    "max_lr": max_lr,
    "min_lr": initial / final_div_factor,
    "max_momentum": max_momentum,
    "base_momentum": base_momentum,
  }
  phases = _replay.one_cycle_phases(total_steps, pct_start, three_phase)

  def closed(i, start_key, end_key):
    if steps > total_steps:
      return nan_tail(i)
    k = i.astype(_dtype())
    anneal = _anneal_cos if anneal_strategy == "cos" else _anneal_linear
    starts = [0.0, *(p["end_step"] for p in phases[:-1])]

    def annealed(start, phase):
      pct = (k - start) / (phase["end_step"] - start)
      return anneal(group[phase[start_key]], group[phase[end_key]], pct)

    value = annealed(starts[-1], phases[-1])  # torch: the first phase k fits in, else the last
    for start, phase in reversed(list(zip(starts[:-1], phases[:-1], strict=True))):
      value = jnp.where(k <= phase["end_step"], annealed(start, phase), value)
    return jnp.where(i > total_steps, jnp.nan, value)

  return TorchSchedule(
    "OneCycleLR",
    kwargs,
    None,
    lambda: values.lrs,
    tail=lambda i: closed(i, "start_lr", "end_lr"),
    momentum=_momentum_table(
      "OneCycleLR",
      kwargs,
      values,
      cycle_momentum,
      lambda i: closed(i, "start_momentum", "end_momentum"),
    ),
    replay=replay,
  )


def _anneal_cos(start: float, end: float, pct: jax.Array) -> jax.Array:
  return end + (start - end) / 2.0 * (jnp.cos(jnp.pi * pct) + 1)


def _anneal_linear(start: float, end: float, pct: jax.Array) -> jax.Array:
  return (end - start) * pct + start
