"""``state_from_torch``: a ``torch.optim`` optimizer's state as its twin's state.

Generic over the twins' declared state schemas (:mod:`jaxopt_fix.torch_optim._state_schema`):
no layout is inferred from shapes or names. Which leaf of the params is which torch
parameter is proven by :mod:`jaxopt_fix.torch_optim._matching`.
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

_INT32_MAX = int(np.iinfo(np.int32).max)


def _to_numpy(tensor: Any) -> np.ndarray:
  torch = _from_torch.torch_module()
  if not isinstance(tensor, torch.Tensor):
    return np.asarray(tensor)
  t = tensor.detach().cpu()
  if t.dtype == torch.bfloat16:
    t = t.float()
  # A copy: jnp.asarray would otherwise share torch's memory on CPU, and torch's next
  # in-place step would change the JAX state.
  return t.numpy().copy()


def _like(leaf: Any, value: Any) -> jax.Array:
  return jnp.asarray(value, dtype=jnp.result_type(leaf))


def _common_value(values: list[Any], where: str, what: str) -> Any:
  arrays = [_to_numpy(v) for v in values]
  if any(a.shape != () for a in arrays):
    raise ValueError(f"{where}: torch's {what} is not a scalar")
  if any(not np.array_equal(a, arrays[0]) for a in arrays[1:]):
    raise ValueError(
      f"{where}: the twin keeps one {what} per param group but torch's differs between the "
      f"group's parameters ({sorted({float(a) for a in arrays})})"
    )
  return arrays[0]


def _torch_step(values: list[Any], where: str) -> int:
  steps = sorted({float(v) for v in values})
  if len(steps) != 1:
    raise ValueError(
      f"{where}: the parameters' torch steps differ ({steps}); a twin keeps one step per "
      f"param group"
    )
  step = steps[0]
  if step != int(step) or not 0 <= step <= _INT32_MAX:
    raise ValueError(f"{where}: torch step {step} is not an int32 count")
  return int(step)


def _fill_group(
  group_state: Any,
  schema: S.StateSchema,
  k: int,
  torch_states: list[dict[str, Any]],
  torch_indices: list[int],
  params: _matching.TorchParams,
  scheduler: Any,
) -> Any:
  """The group's state with the twin's fields set from torch's per-parameter states, and its
  schedule counts at the scheduler's position (if a scheduler is given)."""
  position = None if scheduler is None else _torch_schedulers.position(scheduler)

  def on_plateau(node):
    return _torch_schedulers.plateau_state(scheduler, node)

  if not any(torch_states):
    if scheduler is None:
      return group_state  # no step yet: the fresh state is torch's
    if schema.step is not None and position != 0:
      raise ValueError(
        f"param group {k}: the scheduler has been stepped {position} times but the optimizer "
        f"has not stepped yet"
      )
    return _state_parts.walk(
      group_state, schema, lambda n: n, lambda c: _like(c, position), on_plateau
    )
  empty = [t for t, s in zip(torch_indices, torch_states, strict=True) if not s]
  if empty:
    raise ValueError(
      f"param group {k}: parameters {empty} have no torch state yet while others do "
      f"(no gradient so far); a twin keeps one step per param group"
    )
  keys = set().union(*torch_states)
  used: set[str] = set()

  def holders(key: str) -> list[bool]:
    return [key in s for s in torch_states]

  step = None
  if schema.step is not None:
    where = f"param group {k}, state key {schema.step.field!r}"
    if not all(holders(schema.step.field)):
      raise ValueError(f"{where}: some parameters have no torch step")
    step = _torch_step([s[schema.step.field] for s in torch_states], where)
    if position is not None and step != position:
      raise ValueError(
        f"{where}: torch's step is {step} but the scheduler has been stepped {position} "
        f"times; the twin evaluates the schedule at the optimizer's step (for per-epoch "
        f"stepping, build the twin with lr=lambda count: schedule(count // steps_per_epoch))"
      )

  def convert(field: S.Field, value: Any) -> Any:
    key, where = field.field, f"param group {k}, state key {field.field!r}"
    if isinstance(field, S.Step):
      used.add(key)
      return _like(value, step)
    if isinstance(field, S.GroupScalar):
      if not all(holders(key)):
        raise ValueError(f"{where}: some parameters have no such torch state key")
      used.add(key)
      return _like(value, _common_value([s[key] for s in torch_states], where, key))
    if isinstance(field, S.PresenceFlag):
      return _like(value, all(holders(field.of)))
    if value is None:
      return None  # torch keeps no such key for these hyperparameters (checked by `used`)
    leaves = _state_parts.leaves_with_paths(value)
    kept = [field.kept(params.shapes[t]) for t in torch_indices]
    held = [h for h, keep in zip(holders(key), kept, strict=True) if keep]
    if not any(held) and schema.flag_for(key) is not None:
      return value  # not created yet; the flag says so
    if not all(held):
      raise ValueError(
        f"{where}: the twin's state has this field but torch's state has no such key for "
        f"some parameters (torch keys: {sorted(keys)})"
      )
    leaves_out = []
    for (path, leaf), t, s, keep in zip(leaves, torch_indices, torch_states, kept, strict=True):
      if not keep:
        if key in s:
          raise ValueError(f"{where}: torch keeps it for {params.describe(t)}, unexpectedly")
        leaves_out.append(leaf)  # the twin's placeholder: torch keeps nothing here
        continue
      array = _to_numpy(s[key])
      if array.shape != tuple(np.shape(leaf)):
        raise ValueError(
          f"{where}: {params.describe(t)} (leaf {jax.tree_util.keystr(path)}) has torch shape "
          f"{array.shape}, the twin's {tuple(np.shape(leaf))}"
        )
      leaves_out.append(_like(leaf, array))
    used.add(key)
    return jax.tree.unflatten(jax.tree.structure(value), leaves_out)

  def on_twin(node):
    by_name = {f.field: f for f in schema.fields}
    return node._replace(**{name: convert(by_name[name], v) for name, v in node._asdict().items()})

  def on_count(count):
    if position is not None:
      return _like(count, position)
    if step is None:
      return count  # torch keeps no step: the twin's lr is constant, its counts unused
    return _like(count, step)

  new_state = _state_parts.walk(group_state, schema, on_twin, on_count, on_plateau)
  if keys - used:
    raise ValueError(
      f"param group {k}: torch state keys {sorted(keys - used)} have no field in the twin's "
      f"state (torch.optim with other hyperparameters than the twin's?)"
    )
  return new_state


def state_from_torch(
  optimizer: Any,
  params: Any,
  *,
  scheduler: Any = None,
  named_parameters: _matching.NamedParameters | None = None,
) -> optax.OptState:
  """The state of ``from_torch(optimizer, scheduler=scheduler)`` equal to ``optimizer``'s
  (and ``scheduler``'s) current state.

  Each per-parameter tensor ``optimizer.state[p][key]`` becomes the leaf of ``p`` in the
  twin's state field ``key`` (cast to that leaf's dtype, which follows ``params``); torch's
  per-parameter ``step`` becomes the group's shared int32 ``step``, and every
  :class:`optax.ScaleByScheduleState` count in the group's chain is set to it (torch's SGD
  and Muon keep no step: their twins' counts stay 0, unused by a constant lr). A value
  torch keeps per parameter that the twin keeps once per group (ASGD's ``eta``, NAdam's
  ``mu_product``) must be the same for all the group's parameters. Where torch keeps a key
  for some parameters only (Adafactor: ``row_var``/``col_var`` for 2+ dimensions,
  ``variance`` for fewer), the others keep the twin's placeholder. A group whose
  parameters have no torch state yet keeps the freshly initialised state.

  With ``scheduler``, every schedule count is the scheduler's position (its number of
  ``step()`` calls), which must be torch's ``step`` (the per-iteration pattern
  ``opt.step(); sched.step()``), and each group's current ``lr`` (and cycled momentum) must
  be the scheduler twin's value there, to the bit in float64 (torch's SGD and Muon keep no
  step: their position is the scheduler's); a ``ReduceLROnPlateau``'s
  counters (``best``, ``num_bad_epochs``, ``cooldown_counter``, ``last_epoch``) become its
  twin's state.

  Which leaf is which torch parameter is proven, never guessed: by name when the leaves'
  paths are the torch parameters' names (from ``named_parameters`` or the optimizer's
  ``param_names``), else by position; a dict with two same-shaped parameters under
  different keys and no names is refused.

  Args:
    optimizer: A ``torch.optim`` optimizer accepted by :func:`from_torch`.
    params: A pytree of the optimizer's parameters (same shapes; the values only set
      dtypes): keyed by their torch names, or with leaves in param-group order.
    scheduler: The optimizer's learning-rate scheduler, or None (see :func:`from_torch`).
    named_parameters: The parameters' names (``model.named_parameters()``), if the
      optimizer was not built from them.

  Returns:
    An optimizer state for ``from_torch(optimizer)``, to be used with ``params``.

  Raises:
    ValueError: on a different number of leaves or a different shape (naming the leaf), an
      unprovable mapping, torch state the twin cannot hold (a key without a field, steps
      that differ within a group, a group where only some parameters have state), a twin
      field that torch's state lacks, a parameter on the ``meta`` device, an optimizer
      whose state is not per parameter (LBFGS), or a scheduler whose position is not
      provably the optimizer's step.

  Examples:
    >>> import jax.numpy as jnp
    >>> import optax
    >>> import torch
    >>> from jaxopt_fix import torch_optim
    >>> net = torch.nn.Linear(3, 2)
    >>> opt = torch.optim.Adam(net.parameters(), lr=0.1)
    >>> net(torch.ones(1, 3)).sum().backward()
    >>> opt.step()
    >>> params = {k: jnp.asarray(v.detach().numpy()) for k, v in net.named_parameters()}
    >>> state = torch_optim.state_from_torch(opt, params, named_parameters=net.named_parameters())
    >>> print(int(optax.tree.get(state, "step")), optax.tree.get(state, "exp_avg")["bias"])
    1 [0.1 0.1]
  """
  schema = _state_parts.schema_of(optimizer)
  _state_parts.check_devices(optimizer, "read")
  torch_params = _matching.torch_params(optimizer, named_parameters)
  order = _matching.match_tree(torch_params, params, "params")
  tx = _from_torch.from_torch(optimizer, scheduler=scheduler, named_parameters=named_parameters)
  if scheduler is not None:
    _torch_schedulers.check_on_trajectory(
      optimizer, scheduler, _torch_schedulers.position(scheduler)
    )
  state = tx.init(params)
  tensors = [p for group in optimizer.param_groups for p in group["params"]]
  new_groups = []
  for k, group_state in enumerate(_state_parts.group_states(state, torch_params.num_groups)):
    indices = [t for t in order if torch_params.groups[t] == k]
    # A key holding None (a buffer torch has not created yet) counts as absent.
    torch_states = [
      {key: v for key, v in optimizer.state.get(tensors[t], {}).items() if v is not None}
      for t in indices
    ]
    new_groups.append(
      _fill_group(group_state, schema, k, torch_states, indices, torch_params, scheduler)
    )
  return _state_parts.with_group_states(state, new_groups)
