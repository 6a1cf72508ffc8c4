"""``state_to_torch``: a twin's state written into a live ``torch.optim`` optimizer.

Everything is checked before anything is written: the state's twin against the
optimizer's class and each group's hyperparameters (which buffers they keep), every leaf
against its torch parameter (proven by :mod:`jaxopt_fix.torch_optim._matching`), the
schedule counts against the step. Then every parameter's state is replaced at once.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxopt_fix.torch_optim import _from_torch
from jaxopt_fix.torch_optim import _matching
from jaxopt_fix.torch_optim import _state_parts
from jaxopt_fix.torch_optim import _state_schema as S
from jaxopt_fix.torch_optim import _torch_schedulers


def _check_buffers(given: Any, expected: Any, schema: S.StateSchema, k: int, name: str) -> None:
  """The optional buffers the state holds are those the group's hyperparameters keep."""
  optional = [f.field for f in schema.fields if isinstance(f, S.PerParameter) and f.optional]
  missing = [f for f in optional if getattr(given, f) is None and getattr(expected, f) is not None]
  extra = [f for f in optional if getattr(given, f) is not None and getattr(expected, f) is None]
  if missing:
    raise ValueError(
      f"param group {k}: torch.optim.{name} with this group's hyperparameters keeps the state "
      f"keys {missing}, which the twin's state does not hold (it was made for other "
      f"hyperparameters)"
    )
  if extra:
    raise ValueError(
      f"param group {k}: the twin's state holds {extra}, which torch.optim.{name} with this "
      f"group's hyperparameters does not keep (it was made for other hyperparameters)"
    )


def _skeleton(parts: list[_state_parts.Parts], schema: S.StateSchema) -> tuple[list, list]:
  """The params' leaf paths, from the per-parameter fields, and each leaf's group (or None
  for a group without per-parameter fields)."""
  per_parameter = [f.field for f in schema.fields if isinstance(f, S.PerParameter)]
  paths: list | None = None
  membership: list[int | None] = []
  for k, part in enumerate(parts):
    trees = [getattr(part.twin, f) for f in per_parameter if getattr(part.twin, f) is not None]
    if not trees:
      continue
    with_masks = jax.tree.flatten_with_path(
      trees[0], is_leaf=lambda x: isinstance(x, optax.MaskedNode)
    )[0]
    if paths is None:
      paths = [path for path, _ in with_masks]
      membership = [None] * len(paths)
    elif len(with_masks) != len(paths):
      raise ValueError(f"param group {k}: the state's parameters are not the other groups'")
    for i, (_, leaf) in enumerate(with_masks):
      if not isinstance(leaf, optax.MaskedNode):
        membership[i] = k
  return paths or [], membership


def _leaf_order(
  parts: list[_state_parts.Parts], schema: S.StateSchema, params: _matching.TorchParams
) -> list[list[int]]:
  """For each group, the torch parameter of each leaf of its per-parameter fields."""
  paths, membership = _skeleton(parts, schema)
  if not paths:
    return [[] for _ in parts]
  order = _matching.match(params, paths, "the state's per-parameter fields")
  for path, group, t in zip(paths, membership, order, strict=True):
    if group is not None and group != params.groups[t]:
      raise ValueError(
        f"the state's leaf {jax.tree_util.keystr(tuple(path))} is in param group {group} but "
        f"{params.describe(t)} is in param group {params.groups[t]}"
      )
  return [[t for g, t in zip(membership, order, strict=True) if g == k] for k in range(len(parts))]


def _is_fresh(node: Any, expected: Any, counts: list[Any]) -> bool:
  """The state of a group that has not stepped: torch's empty state, initialised lazily."""
  given, fresh = jax.tree.leaves(node), jax.tree.leaves(expected)
  return (
    len(given) == len(fresh)
    and all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(given, fresh, strict=True))
    and all(int(np.asarray(c)) == 0 for c in counts)
  )


def _position(parts: list[_state_parts.Parts]) -> int:
  """The state's schedule position: its counts (a plateau's ``last_epoch``), one for all."""
  counts = {int(np.asarray(c)) for part in parts for c in part.counts}
  counts |= {int(np.asarray(p.plateau.last_epoch)) for p in parts if p.plateau is not None}
  if len(counts) != 1:
    raise ValueError(
      f"scheduler: the state's schedule counts differ ({sorted(counts)}) or there are none "
      f"(was it made by from_torch with this scheduler?)"
    )
  return counts.pop()


def state_to_torch(
  state: optax.OptState,
  optimizer: Any,
  *,
  scheduler: Any = None,
  named_parameters: _matching.NamedParameters | None = None,
) -> None:
  """Writes a twin's ``state`` into ``optimizer.state`` (the inverse of
  :func:`state_from_torch`).

  ``state`` is the state of ``from_torch(optimizer, scheduler=scheduler)`` or of the twin
  built with the same hyperparameters. The group's ``step`` is written to every
  parameter's ``step`` as torch stores it (a float tensor of
  ``torch.optim.optimizer._get_scalar_dtype()``, SparseAdam's Python int); per-parameter
  leaves become tensors of the parameter's dtype and device;
  a value kept once per group is written to every parameter of the group. A twin's
  placeholder (Adafactor's unfactored fields) and a buffer the twin's flag says torch has
  not created yet (SGD's first momentum buffer) are not written; a group that has not
  stepped gets torch's empty state (Adagrad's, which torch creates in its constructor,
  is written). An existing tensor of the same key sets dtype and
  device. The leaves are matched to the torch parameters by their paths as in
  :func:`state_from_torch`.

  With ``scheduler``, the scheduler is moved to the state's position (its schedule counts)
  by its own ``step()``, so all of torch's scheduler bookkeeping is torch's; it must not be
  past that position already, and its groups' current ``lr`` must be on its twin's
  trajectory. A ``ReduceLROnPlateau`` gets the state's counters, and each group the lr of
  the state's reductions (counted from the group's current lr, as :func:`from_torch`
  builds the twin).

  Everything is checked first; if anything is inconsistent nothing is modified.

  Args:
    state: The JAX optimizer state.
    optimizer: A ``torch.optim`` optimizer accepted by :func:`from_torch`.
    scheduler: The optimizer's learning-rate scheduler, or None (see :func:`from_torch`).
    named_parameters: The parameters' names (``model.named_parameters()``), if the
      optimizer was not built from them.

  Raises:
    ValueError: if the state is not this optimizer's twin's (another class, or buffers the
      group's hyperparameters do not keep or need), if its groups, leaves or shapes do
      not match the optimizer's parameters (naming the parameter), if the mapping cannot
      be proven, if schedule counts disagree with ``step``, if torch's current state holds
      a key the twin does not model, if a parameter is on the ``meta`` device, or if the
      scheduler cannot be moved to the state's position (see above).
    TypeError: for an optimizer class without a twin.

  Examples:
    >>> import jax.numpy as jnp
    >>> import torch
    >>> from jaxopt_fix import torch_optim
    >>> w = torch.zeros(2)
    >>> opt = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    >>> tx = torch_optim.from_torch(opt)
    >>> _, state = tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))
    >>> torch_optim.state_to_torch(state, opt)
    >>> opt.state[w]["momentum_buffer"]
    tensor([1., 1.])
  """
  twin = _from_torch.twin_of(optimizer)
  schema = _state_parts.schema_of(optimizer)
  _state_parts.check_devices(optimizer, "write")
  if scheduler is None:
    _from_torch.check_no_scheduler(optimizer)
  else:
    _torch_schedulers.check_scheduler(optimizer, scheduler)
  params = _matching.torch_params(optimizer, named_parameters)
  groups = _state_parts.group_states(state, params.num_groups)
  parts = [_state_parts.parts_of(g, schema, k) for k, g in enumerate(groups)]
  position = None
  if scheduler is not None:
    position = _position(parts)
    _torch_schedulers.check_can_advance(scheduler, position)
    _torch_schedulers.check_on_trajectory(
      optimizer, scheduler, _torch_schedulers.position(scheduler)
    )
    plateaus = [p.plateau for p in parts]
    if _torch_schedulers.is_plateau(scheduler) != all(p is not None for p in plateaus):
      raise ValueError("scheduler: the state was not made with this scheduler")
  leaf_order = _leaf_order(parts, schema, params)
  new_states: dict[int, dict[str, Any]] = {}
  for k, part in enumerate(parts):
    zeros = [jnp.zeros(params.shapes[t]) for t in params.indices(k)]
    fresh = _state_parts.parts_of(
      _from_torch.group_twin(optimizer, k, scheduler).init(zeros), schema, k
    )
    _check_buffers(part.twin, fresh.twin, schema, k, twin.torch_name)
    new_states.update(_group_torch_states(optimizer, k, part, fresh.twin, leaf_order[k], params))
  plateau = None
  if scheduler is not None and _torch_schedulers.is_plateau(scheduler):
    plateau = _torch_schedulers.plateau_write(scheduler, [p.plateau for p in parts])
  tensors = [p for group in optimizer.param_groups for p in group["params"]]
  for t, torch_state in new_states.items():
    optimizer.state[tensors[t]] = torch_state
  if plateau is not None:
    _torch_schedulers.write_plateau(scheduler, plateau)
  elif scheduler is not None and position is not None:
    _torch_schedulers.advance(scheduler, position)


def _group_torch_states(
  optimizer: Any,
  k: int,
  part: _state_parts.Parts,
  fresh: Any,
  leaf_order: list[int],
  params: _matching.TorchParams,
) -> dict[int, dict[str, Any]]:
  """The new torch state of each parameter of group ``k``, by parameter index; raises on
  any inconsistency (nothing is written here)."""
  torch = _from_torch.torch_module()
  from torch.optim.optimizer import _get_scalar_dtype

  schema = _state_parts.schema_of(optimizer)
  tensors = [p for group in optimizer.param_groups for p in group["params"]]
  group = optimizer.param_groups[k]
  indices = params.indices(k)
  known_keys = {f.field for f in schema.fields if not isinstance(f, S.PresenceFlag)}
  for t in indices:
    stale = set(optimizer.state.get(tensors[t], {})) - known_keys
    if stale:
      raise ValueError(
        f"param group {k}, {params.describe(t)}: torch's state has keys {sorted(stale)} "
        f"that the twin's state does not hold"
      )
  node = part.twin
  step = None
  if schema.step is not None:
    step = int(np.asarray(getattr(node, schema.step.field)))
    for c in part.counts:
      if int(np.asarray(c)) != step:
        raise ValueError(
          f"param group {k}: a schedule count ({int(np.asarray(c))}) differs from step ({step})"
        )
  new_states: dict[int, dict[str, Any]] = {t: {} for t in indices}
  if not schema.eager and _is_fresh(node, fresh, part.counts):
    return new_states  # torch creates this state lazily, at the first step
  on_device = bool(group.get("capturable") or group.get("fused"))

  def tensor(value: Any, t: int, key: str, dtype: Any, device: Any) -> Any:
    """``value`` as a tensor; an existing tensor of the key sets dtype and device."""
    array = np.asarray(value)
    if array.dtype.name == "bfloat16":
      array = array.astype(np.float32)
    existing = optimizer.state.get(tensors[t], {}).get(key)
    if isinstance(existing, torch.Tensor):
      dtype, device = existing.dtype, existing.device
    return torch.from_numpy(np.array(array)).to(dtype=dtype, device=device)

  def scalar(value: Any, t: int, field: S.Step | S.GroupScalar) -> Any:
    device = tensors[t].device if field.device == "param" or on_device else torch.device("cpu")
    return tensor(value, t, field.field, _get_scalar_dtype(is_fused=group.get("fused")), device)

  for field in schema.fields:
    value = getattr(node, field.field)
    if isinstance(field, S.Step):
      for t in indices:
        new_states[t][field.field] = step if field.torch_type == "int" else scalar(step, t, field)
    elif isinstance(field, S.GroupScalar):
      for t in indices:
        new_states[t][field.field] = scalar(np.asarray(value).reshape(()), t, field)
    elif isinstance(field, S.PerParameter) and value is not None:
      flag = schema.flag_for(field.field)
      if flag is not None and not bool(np.asarray(getattr(node, flag.field))):
        continue  # torch has not created this buffer yet
      leaves = _state_parts.leaves_with_paths(value)
      for (path, leaf), t in zip(leaves, leaf_order, strict=True):
        shape = params.shapes[t]
        if not field.kept(shape):
          continue  # the twin's placeholder: torch keeps no such key here
        if tuple(np.shape(leaf)) != field.shape(shape):
          raise ValueError(
            f"{params.describe(t)}, state key {field.field!r}: the leaf "
            f"{jax.tree_util.keystr(tuple(path))} has shape {tuple(np.shape(leaf))}, but a "
            f"parameter of shape {shape} needs {field.shape(shape)}"
          )
        p = tensors[t]
        new_states[t][field.field] = tensor(leaf, t, field.field, p.dtype, p.device)
  return new_states
