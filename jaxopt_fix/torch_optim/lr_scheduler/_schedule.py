"""The schedule object every twin returns: torch's values as a host table, plus a tail."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses
import functools
import types
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_fix._src import numerics
from jaxopt_fix.torch_optim.lr_scheduler import _replay

TABLE_STEPS = 2**14
"""A tabulated recursion holds at least the values after 0, ..., ``TABLE_STEPS - 1`` steps."""

MAX_TABLE = 2**21
"""No table is longer (16 MiB in float64); beyond it a twin continues with its tail."""

Replay = Callable[[_replay.Optimizer], _replay.LRScheduler]


@dataclasses.dataclass(frozen=True, eq=False)
class TorchSchedule:
  r"""An optax schedule (count :math:`\mapsto` value) that is a ``torch.optim.lr_scheduler`` twin.

  ``schedule(k)`` is torch's ``get_last_lr()`` (or the group's momentum) after ``k`` calls of
  ``scheduler.step()``, which is what ``optimizer.step()`` number ``k + 1`` uses: pass the
  schedule as ``lr=`` to a twin (optax evaluates it at count ``k`` on update ``k + 1``).

  The values are ``table[index(k)]``, a float64 table computed once on the host by replaying
  torch's float64 recursion (rounded once to float32 without x64), and ``tail(i)`` for an
  index past the table; each twin's docstring says what its tail is. The replay runs when the
  table is first needed (a sub-schedule of :func:`sequential_lr` is replayed inside it). The
  object also describes itself, so a live torch scheduler can be matched and rebuilt.

  Attributes:
    torch_name: The ``torch.optim.lr_scheduler`` (or ``swa_utils``) class name.
    kwargs: The class's keywords, without the optimizer (and ``last_epoch``).
    lr: The param group's ``lr`` when the scheduler was built (torch's ``initial_lr``),
      or None where the scheduler sets it (``CyclicLR``, ``OneCycleLR``).
    make_table: Computes :attr:`table` (the replay), called once.
    momentum: The momentum (``betas[0]`` for the Adam family) schedule that ``CyclicLR`` and
      ``OneCycleLR`` also run with ``cycle_momentum=True``, or None.

  Examples:
    >>> from jaxopt_fix.torch_optim import lr_scheduler
    >>> schedule = lr_scheduler.step_lr(0.1, step_size=2)
    >>> [round(float(schedule(k)), 6) for k in range(5)]
    [0.1, 0.1, 0.01, 0.01, 0.001]
    >>> schedule.torch_name, dict(schedule.kwargs), schedule.momentum
    ('StepLR', {'step_size': 2, 'gamma': 0.1}, None)
  """

  torch_name: str
  kwargs: Mapping[str, Any]
  lr: float | None
  make_table: Callable[[], np.ndarray] = dataclasses.field(repr=False)
  index: Callable[[jax.Array], jax.Array] | None = dataclasses.field(default=None, repr=False)
  tail: Callable[[jax.Array], jax.Array] | None = dataclasses.field(default=None, repr=False)
  momentum: TorchSchedule | None = None
  replay: Replay | None = dataclasses.field(default=None, repr=False)

  @functools.cached_property
  def table(self) -> np.ndarray:
    """The float64 values, index by index (read-only)."""
    return self.make_table()

  def __call__(self, count: jax.typing.ArrayLike) -> jax.Array:
    count = jnp.asarray(count)
    i = count if self.index is None else self.index(count)
    dtype = numerics.compute_dtype()
    table = jnp.asarray(self.table, dtype)
    n = len(self.table)
    value = table[jnp.clip(i, 0, n - 1)]
    if self.tail is None:
      return value
    return jnp.where(i < n, value, jnp.asarray(self.tail(i), dtype))


def frozen(values: Sequence[float | None]) -> np.ndarray:
  table = np.asarray(values, dtype=np.float64)
  table.flags.writeable = False
  return table


def kwargs_of(**kwargs: Any) -> Mapping[str, Any]:
  return types.MappingProxyType(kwargs)


class Replayed:
  """torch's lr and momentum after 0..steps-1 steps, replayed on first use.

  ``stopped``: the replay ended early because torch raises there (``OneCycleLR`` past its
  steps). ``momenta`` is the group's momentum (0 where nothing has set it yet).
  """

  def __init__(self, replay: Replay, lr: float | None, steps: int):
    self._replay, self._lr, self._steps = replay, lr, steps

  @functools.cached_property
  def _values(self) -> tuple[np.ndarray, np.ndarray, bool]:
    optimizer = _replay.Optimizer(0.0 if self._lr is None else self._lr, momentum=0.0)
    scheduler = self._replay(optimizer)
    lrs, momenta = _replay.trajectory(scheduler, optimizer, self._steps)
    return frozen(lrs), frozen(momenta), len(lrs) < self._steps

  @property
  def lrs(self) -> np.ndarray:
    return self._values[0]

  @property
  def momenta(self) -> np.ndarray:
    return self._values[1]

  @property
  def stopped(self) -> bool:
    return self._values[2]


def nan_tail(i: jax.Array) -> jax.Array:
  """Past the end (``OneCycleLR`` after ``total_steps`` steps, where torch raises)."""
  return jnp.full(jnp.shape(i), jnp.nan, numerics.compute_dtype())
