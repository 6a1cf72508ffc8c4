"""The parts of a twin's chain state that the state conversion reads and writes.

In a twin's chain state (one per param group, inside :func:`optax.multi_transform` for
several), the node of the schema's state class carries torch's state keys; every
schedule count follows torch's ``step`` and the scheduler's position (so learning-rate
schedules continue where they were); a ``ReduceLROnPlateau`` twin's state holds the
scheduler's counters. Other nodes hold no arrays.
"""

from __future__ import annotations

from collections.abc import Callable
import dataclasses
from typing import Any

import jax
import optax
from optax.schedules import InjectStatefulHyperparamsState

from jaxopt_fix.torch_optim import _from_torch
from jaxopt_fix.torch_optim import _state_schema as S
from jaxopt_fix.torch_optim.lr_scheduler import ReduceLROnPlateauState


def schema_of(optimizer: Any) -> S.StateSchema:
  twin = _from_torch.twin_of(optimizer)
  if isinstance(twin.schema, S.UnconvertibleState):
    raise ValueError(
      f"state conversion is not supported for torch.optim.{twin.torch_name}: {twin.schema.reason}"
    )
  return twin.schema


def check_devices(optimizer: Any, what: str) -> None:
  """A ``meta`` tensor holds no values: reading or writing it would lose them silently."""
  for k, group in enumerate(optimizer.param_groups):
    for p in group["params"]:
      if p.device.type == "meta":
        raise ValueError(
          f"param group {k} has a parameter on the 'meta' device, which holds no values to "
          f"{what}: materialise the parameters first (e.g. module.to_empty(device='cpu'))"
        )


def group_states(state: Any, num_groups: int) -> list[Any]:
  """Each param group's part of ``from_torch``'s state, in group order."""
  if num_groups == 1:
    if isinstance(state, optax.MultiTransformState):
      raise ValueError(
        f"the torch optimizer has 1 param group but the state has the groups "
        f"{sorted(map(str, state.inner_states))}"
      )
    return [state]
  if not isinstance(state, optax.MultiTransformState):
    raise ValueError(
      f"the torch optimizer has {num_groups} param groups: expected the state of "
      f"from_torch's multi_transform, got {type(state).__name__}"
    )
  expected = {f"group{k}" for k in range(num_groups)}
  if set(state.inner_states) != expected:
    raise ValueError(
      f"the state's groups {sorted(map(str, state.inner_states))} are not the "
      f"optimizer's {sorted(expected)}"
    )
  groups = [state.inner_states[f"group{k}"] for k in range(num_groups)]
  return [g.inner_state if isinstance(g, optax.MaskedState) else g for g in groups]


def with_group_states(state: Any, groups: list[Any]) -> Any:
  if not isinstance(state, optax.MultiTransformState):
    return groups[0]
  inner = {}
  for label, inner_state in state.inner_states.items():
    group = groups[int(str(label).removeprefix("group"))]
    masked = isinstance(inner_state, optax.MaskedState)
    inner[label] = inner_state._replace(inner_state=group) if masked else group
  return state._replace(inner_states=inner)


def _is_namedtuple(node: Any) -> bool:
  return isinstance(node, tuple) and hasattr(node, "_fields")


def walk(
  node: Any,
  schema: S.StateSchema,
  on_twin: Callable[[Any], Any],
  on_count: Callable[[Any], Any],
  on_plateau: Callable[[Any], Any],
) -> Any:
  """Rebuilds a group's chain state through ``on_twin`` (the node of the schema's state
  class), ``on_count`` (each schedule count: of :class:`optax.ScaleByScheduleState`, and of
  :func:`optax.inject_hyperparams`, whose injected values are recomputed from it at every
  update) and ``on_plateau`` (a ``ReduceLROnPlateau`` twin's state)."""

  def again(n: Any) -> Any:
    return walk(n, schema, on_twin, on_count, on_plateau)

  if isinstance(node, schema.state_class):
    return on_twin(node)
  if isinstance(node, optax.ScaleByScheduleState):
    return node._replace(count=on_count(node.count))
  if isinstance(node, InjectStatefulHyperparamsState):
    return node._replace(
      count=on_count(node.count),
      hyperparams_states={
        k: s._replace(count=on_count(s.count)) for k, s in node.hyperparams_states.items()
      },
      inner_state=again(node.inner_state),
    )
  if isinstance(node, ReduceLROnPlateauState):
    return on_plateau(node)
  if isinstance(node, optax.MaskedState):
    return node._replace(inner_state=again(node.inner_state))
  if _is_namedtuple(node) and not jax.tree.leaves(node):
    return node
  if isinstance(node, (tuple, list)) and not _is_namedtuple(node):
    return type(node)(again(n) for n in node)
  if jax.tree.leaves(node):
    raise ValueError(
      f"unrecognised optimizer state node {type(node).__name__} (the twin of this optimizer "
      f"keeps a {schema.state_class.__name__})"
    )
  return node


@dataclasses.dataclass
class Parts:
  """A group's twin-state node, schedule counts and plateau state (if any)."""

  twin: Any = None
  counts: list[Any] = dataclasses.field(default_factory=list)
  plateau: Any = None


def parts_of(group_state: Any, schema: S.StateSchema, k: int) -> Parts:
  parts = Parts()

  def on_twin(node):
    if parts.twin is not None:
      raise ValueError(f"param group {k}: the state holds two {type(node).__name__}s")
    parts.twin = node
    return node

  def on_count(count):
    parts.counts.append(count)
    return count

  def on_plateau(node):
    parts.plateau = node
    return node

  walk(group_state, schema, on_twin, on_count, on_plateau)
  if parts.twin is None:
    raise ValueError(
      f"param group {k}: the state holds no {schema.state_class.__name__}, the state of "
      f"this optimizer's twin (was it made by another optimizer's twin?)"
    )
  return parts


def leaves_with_paths(tree: Any) -> list[tuple[Any, Any]]:
  """A per-parameter field's real leaves (multi_transform masks other groups' out)."""
  return jax.tree.flatten_with_path(tree)[0]
