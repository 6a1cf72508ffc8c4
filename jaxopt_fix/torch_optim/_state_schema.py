"""Declarative descriptions of the twins' states: how each field maps to torch's state.

Each twin module declares, next to its state class, a :class:`StateSchema` listing every
field of the class once, as one of:

- :class:`Step`: the twin's int32 ``step``, one per param group; torch keeps one per
  parameter (a float tensor, or SparseAdam's Python int), equal within a group.
- :class:`PerParameter`: a tree like the params whose leaf for parameter ``p`` is torch's
  ``optimizer.state[p][key]``. ``optional``: the twin holds None (and torch no such key)
  for hyperparameters that need no such buffer (Adam's ``max_exp_avg_sq`` without
  ``amsgrad``). ``kept_for``: the parameter shapes torch keeps the key for; the twin holds
  a placeholder for the others (Adafactor's factored ``row_var``/``col_var``).
- :class:`GroupScalar`: one 0-d value per param group that torch keeps per parameter, equal
  within a group (ASGD's ``eta``, NAdam's ``mu_product``).
- :class:`PresenceFlag`: a bool scalar saying whether torch holds a :class:`PerParameter`
  field's key yet (SGD creates its momentum buffer at the first step, from the gradient).

:class:`UnconvertibleState` marks a twin whose torch state is not per parameter (LBFGS).

The state conversion (:mod:`jaxopt_fix.torch_optim._convert`) is generic over these
declarations; no layout is inferred from shapes or names.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
from typing import Literal

ScalarDevice = Literal["host", "param"]
"""Where torch keeps a scalar tensor: ``"host"``, on the CPU unless the group is
``capturable`` or ``fused``; ``"param"``, on the parameter's device."""

Shape = tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Step:
  """The int32 step count of the group; torch's per-parameter ``step``."""

  field: str = "step"
  torch_type: Literal["tensor", "int"] = "tensor"
  device: ScalarDevice = "host"


@dataclasses.dataclass(frozen=True)
class PerParameter:
  """A tree like the params whose leaves are torch's per-parameter tensors ``field``."""

  field: str
  optional: bool = False
  kept_for: Callable[[Shape], bool] | None = None
  torch_shape: Callable[[Shape], Shape] | None = None
  """torch's tensor shape for a parameter shape (default: the parameter's)."""

  def kept(self, param_shape: Shape) -> bool:
    """Whether torch keeps this key for a parameter of ``param_shape``."""
    return self.kept_for is None or self.kept_for(param_shape)

  def shape(self, param_shape: Shape) -> Shape:
    """The shape of torch's tensor (and the twin's leaf) for ``param_shape``."""
    return param_shape if self.torch_shape is None else self.torch_shape(param_shape)


@dataclasses.dataclass(frozen=True)
class GroupScalar:
  """One 0-d value per group; torch keeps a 0-d tensor per parameter, equal in a group."""

  field: str
  device: ScalarDevice = "host"


@dataclasses.dataclass(frozen=True)
class PresenceFlag:
  """A bool scalar: whether torch holds the key of the per-parameter field ``of`` yet."""

  field: str
  of: str


Field = Step | PerParameter | GroupScalar | PresenceFlag


@dataclasses.dataclass(frozen=True)
class StateSchema:
  """How every field of ``state_class`` corresponds to torch's per-parameter state.

  The field names are torch's state keys. ``eager``: torch creates the state in the
  optimizer's constructor (Adagrad), not at the first step. Construction checks that the
  fields are exactly those of ``state_class``, each declared once, and that every flag
  names a per-parameter field.
  """

  state_class: type
  fields: tuple[Field, ...]
  eager: bool

  def __init__(self, state_class: type, *fields: Field, eager: bool = False):
    object.__setattr__(self, "state_class", state_class)
    object.__setattr__(self, "fields", fields)
    object.__setattr__(self, "eager", eager)
    declared = [f.field for f in fields]
    names = list(getattr(state_class, "_fields", ()))
    if sorted(declared) != sorted(names) or len(set(declared)) != len(declared):
      raise TypeError(
        f"the schema of {state_class.__name__} declares {declared}, not its fields {names}"
      )
    per_parameter = {f.field for f in fields if isinstance(f, PerParameter)}
    for f in fields:
      if isinstance(f, PresenceFlag) and f.of not in per_parameter:
        raise TypeError(f"{f.field} flags {f.of!r}, which is not a per-parameter field")

  @property
  def step(self) -> Step | None:
    """The step field, or None where torch keeps no step (SGD, Muon)."""
    return next((f for f in self.fields if isinstance(f, Step)), None)

  def flag_for(self, field: str) -> PresenceFlag | None:
    """The flag saying whether torch holds ``field`` yet, if the twin has one."""
    return next((f for f in self.fields if isinstance(f, PresenceFlag) and f.of == field), None)


@dataclasses.dataclass(frozen=True)
class UnconvertibleState:
  """A twin whose state has no per-parameter torch counterpart; ``reason`` says why."""

  state_class: type
  reason: str
