"""Moving a live ``torch.optim`` optimizer, and its state, to the JAX twins and back.

The contract between the two sides is the *parameter order*: a params pytree stands for
the torch optimizer's parameters when its leaves, in ``jax.tree.leaves`` order, are the
tensors of ``optimizer.param_groups[0]["params"]``, then those of group 1, and so on,
with the same shapes. Nothing else of the pytree (its keys, its nesting) matters.

- :func:`from_torch` builds the twin from the optimizer's class and hyperparameters. One
  param group gives the twin itself; several give an :func:`optax.multi_transform` over
  the labels ``"group0"``, ``"group1"``, ... whose label function (:func:`param_labels`,
  captured with the group sizes) assigns them from that leaf order, so the caller passes
  no labels.
- :func:`state_from_torch` and :func:`state_to_torch` convert the optimizer state. The
  twins' state fields carry torch's per-parameter state keys (``step``, ``exp_avg``, ...):
  a per-parameter tensor becomes the leaf of the parameter's position in the field's
  tree, torch's per-parameter float ``step`` becomes the twin's shared int32 ``step``
  (and every learning-rate schedule count in the chain, so schedules continue where they
  were), and back. A twin's boolean field ``has_<key>`` (SGD's ``has_momentum_buffer``)
  says whether torch's state holds ``<key>`` yet.

torch is imported lazily, inside these functions only.
"""

from collections.abc import Callable
from collections.abc import Sequence
import dataclasses
import functools
import importlib
import inspect
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxopt_fix.torch_optim import _registry

# Param-group keys that are not hyperparameters of the step: the tensors, their names, and
# what torch's learning-rate schedulers and SWA store next to the current values (which they
# write into ``lr``, ``betas`` or ``momentum`` themselves).
_BOOKKEEPING_KEYS = frozenset(
  {
    "params",
    "param_names",
    "initial_lr",
    "max_lr",
    "min_lr",
    "base_momentum",
    "max_momentum",
    "swa_lr",
  }
)

_STEP = "step"
# A twin's boolean field ``has_<key>`` records whether torch's state holds ``<key>`` yet
# (SGD's momentum buffer is created by the first step, from the gradient alone).
_HAS = "has_"


def _torch():
  return importlib.import_module("torch")


def supported_optimizers() -> tuple[str, ...]:
  """The ``torch.optim`` class names :func:`from_torch` accepts: those whose twin exists."""
  return tuple(sorted(_registry.TWINS))


def _twin_factory(
  optimizer: Any,
) -> tuple[str, Callable[..., optax.GradientTransformationExtraArgs]]:
  """The twin of ``optimizer``'s class, or a TypeError naming the supported ones."""
  torch = _torch()
  cls = type(optimizer)
  name = f"{cls.__module__}.{cls.__qualname__}"
  supported = ", ".join(supported_optimizers())
  if not isinstance(optimizer, torch.optim.Optimizer):
    raise TypeError(f"expected a torch.optim.Optimizer, got {name}")
  if getattr(torch.optim, cls.__name__, None) is not cls:
    # A subclass may override step(): its twin cannot be guessed from a base class.
    raise TypeError(
      f"{name} is not a torch.optim class and has no twin (subclasses are not accepted: "
      f"their step may differ); supported: {supported}"
    )
  twin = _registry.TWINS.get(cls.__name__)
  if twin is None:
    raise TypeError(f"torch.optim.{cls.__name__} has no twin; supported: {supported}")
  return cls.__name__, twin.factory


def _python_value(value: Any, where: str) -> Any:
  """1-element torch tensors (``lr=torch.tensor(1e-3)``, tensor betas) become floats."""
  if isinstance(value, (tuple, list)):
    return type(value)(_python_value(v, where) for v in value)
  if isinstance(value, _torch().Tensor):
    if value.numel() != 1:
      raise ValueError(
        f"{where}: a tensor hyperparameter must have one element, got shape {tuple(value.shape)}"
      )
    return float(value)
  return value


def _group_kwargs(
  class_name: str, factory: Callable[..., Any], index: int, group: dict[str, Any]
) -> dict[str, Any]:
  """The twin's keyword arguments for one param group; an unknown key raises."""
  accepted = inspect.signature(factory).parameters
  implied = _registry.TWINS[class_name].implied
  kwargs = {}
  for key, value in group.items():
    if key in _BOOKKEEPING_KEYS:
      continue
    if key not in accepted:
      if key in implied and value == implied[key]:
        continue
      raise ValueError(
        f"param group {index} of torch.optim.{class_name} has the key {key!r} = {value!r}, "
        f"which jaxopt_fix.torch_optim.{factory.__name__} does not accept"
      )
    kwargs[key] = _python_value(value, f"param group {index}, {key!r}")
  return kwargs


@dataclasses.dataclass(frozen=True)
class _Layout:
  """The optimizer's parameters as plain data: per parameter, its group and shape."""

  groups: tuple[int, ...]
  shapes: tuple[tuple[int, ...], ...]

  @property
  def num_groups(self) -> int:
    return max(self.groups, default=-1) + 1

  def indices(self, group: int) -> list[int]:
    return [i for i, g in enumerate(self.groups) if g == group]


def _layout(optimizer: Any) -> _Layout:
  groups, shapes = [], []
  for k, group in enumerate(optimizer.param_groups):
    for p in group["params"]:
      groups.append(k)
      shapes.append(tuple(p.shape))
  return _Layout(tuple(groups), tuple(shapes))


def _check_leaves(layout: _Layout, tree: Any, what: str) -> list[Any]:
  """``tree``'s leaves, checked against the torch parameters (count and shapes)."""
  with_paths, _ = jax.tree.flatten_with_path(tree)
  if len(with_paths) != len(layout.shapes):
    raise ValueError(
      f"{what} has {len(with_paths)} leaves but the torch optimizer has "
      f"{len(layout.shapes)} parameters (leaves, in jax.tree.leaves order, must be the "
      f"optimizer's parameters in param-group order)"
    )
  for i, (path, leaf) in enumerate(with_paths):
    shape = tuple(np.shape(leaf))
    if shape != layout.shapes[i]:
      raise ValueError(
        f"{what}: leaf {i} ({jax.tree_util.keystr(path)}) has shape {shape} but torch "
        f"parameter {i} (param group {layout.groups[i]}) has shape {layout.shapes[i]}"
      )
  return [leaf for _, leaf in with_paths]


def _labels(layout: _Layout, tree: Any) -> Any:
  _check_leaves(layout, tree, "params")
  return jax.tree.unflatten(jax.tree.structure(tree), [f"group{g}" for g in layout.groups])


def param_labels(optimizer: Any, params: Any) -> Any:
  """The tree of ``"group<k>"`` labels :func:`from_torch` uses for several param groups.

  Args:
    optimizer: A ``torch.optim`` optimizer.
    params: A pytree whose leaves, in ``jax.tree.leaves`` order, have the shapes of the
      optimizer's parameters in param-group order.

  Returns:
    A pytree like ``params`` whose leaf ``i`` is ``"group<k>"``, ``k`` the param group of
    torch parameter ``i``.

  Raises:
    ValueError: if the number of leaves or a shape differs, naming the leaf.
  """
  return _labels(_layout(optimizer), params)


def from_torch(optimizer: Any) -> optax.GradientTransformationExtraArgs:
  """The twin of a live ``torch.optim`` optimizer, with its current hyperparameters.

  The twin is looked up by the optimizer's class (``Adam`` -> :func:`adam`, ``SparseAdam``
  -> ``sparse_adam``, ...) and called with each param group's entries (minus ``params``
  and scheduler bookkeeping such as ``initial_lr``; a tensor ``lr`` becomes a float).
  With one param group, the result is the twin itself. With several, it is an
  :func:`optax.multi_transform` of one twin per group under the labels ``"group0"``,
  ``"group1"``, ..., assigned by :func:`param_labels` from the parameter order: the params
  given to ``init`` must be a pytree whose leaves, in ``jax.tree.leaves`` order, are the
  optimizer's parameters in param-group order.

  A learning-rate scheduler is not converted: the twin takes the group's current ``lr``.

  Args:
    optimizer: A ``torch.optim`` optimizer of a class with a twin (not a subclass).

  Returns:
    The corresponding :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    TypeError: for an optimizer class without a twin, naming it and the supported ones.
    ValueError: for a param-group key the twin does not accept (nothing is dropped), or
      a value the twin rejects.

  Examples:
    >>> import jax.numpy as jnp
    >>> import torch
    >>> from jaxopt_fix import torch_optim
    >>> w, b = torch.zeros(3), torch.zeros(1)
    >>> opt = torch.optim.Adam([{"params": [w]}, {"params": [b], "lr": 0.25}], lr=0.5)
    >>> tx = torch_optim.from_torch(opt)
    >>> params = {"w": jnp.zeros(3), "x": jnp.zeros(1)}  # leaves in order: w, then b
    >>> torch_optim.param_labels(opt, params)
    {'w': 'group0', 'x': 'group1'}
    >>> updates, _ = tx.update({"w": jnp.ones(3), "x": jnp.ones(1)}, tx.init(params))
    >>> print(updates["w"].round(3), updates["x"].round(3))
    [-0.5 -0.5 -0.5] [-0.25]
  """
  class_name, factory = _twin_factory(optimizer)
  txs = [
    factory(**_group_kwargs(class_name, factory, k, group))
    for k, group in enumerate(optimizer.param_groups)
  ]
  if len(txs) == 1:
    return txs[0]
  return optax.multi_transform(
    {f"group{k}": tx for k, tx in enumerate(txs)}, functools.partial(_labels, _layout(optimizer))
  )


# --- state conversion --------------------------------------------------------------------


def _is_namedtuple(node: Any) -> bool:
  return isinstance(node, tuple) and hasattr(node, "_fields")


def _has_leaves(node: Any) -> bool:
  return bool(jax.tree.leaves(node))


def _map_groups(state: Any, num_groups: int, fn: Callable[[Any, int], Any]) -> Any:
  """Applies ``fn(group_state, k)`` to each param group's part of ``from_torch``'s state."""
  if num_groups == 1:
    if isinstance(state, optax.MultiTransformState):
      raise ValueError(
        f"the torch optimizer has 1 param group but the state has the groups "
        f"{sorted(map(str, state.inner_states))}"
      )
    return fn(state, 0)
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
  inner = {}
  for label, sub in state.inner_states.items():
    k = int(str(label).removeprefix("group"))
    if isinstance(sub, optax.MaskedState):
      inner[label] = sub._replace(inner_state=fn(sub.inner_state, k))
    else:
      inner[label] = fn(sub, k)
  return state._replace(inner_states=inner)


def _walk(node: Any, on_state: Callable[[Any], Any], on_schedule: Callable[[Any], Any]) -> Any:
  """Rebuilds a twin's chain state, mapping its per-parameter states and schedule counts.

  Any other NamedTuple that holds arrays is a twin's algorithm state, whose fields are
  torch's state keys.
  """
  if isinstance(node, optax.ScaleByScheduleState):
    return on_schedule(node)
  if isinstance(node, optax.MaskedState):
    return node._replace(inner_state=_walk(node.inner_state, on_state, on_schedule))
  if _is_namedtuple(node):
    return on_state(node) if _has_leaves(node) else node
  if isinstance(node, (tuple, list)):
    return type(node)(_walk(n, on_state, on_schedule) for n in node)
  if _has_leaves(node):
    raise ValueError(f"unrecognised optimizer state node {type(node).__name__}: {node!r}")
  return node


def _to_numpy(tensor: Any) -> np.ndarray:
  torch = _torch()
  if not isinstance(tensor, torch.Tensor):
    return np.asarray(tensor)
  t = tensor.detach().cpu()
  if t.dtype == torch.bfloat16:
    t = t.float()
  # A copy: jnp.asarray would otherwise share torch's memory on CPU, and torch's next
  # in-place step would change the JAX state.
  return t.numpy().copy()


def _fit_shape(value: np.ndarray, shape: tuple[int, ...], where: str) -> np.ndarray:
  """``value`` in ``shape``: equal shapes, or equal once size-1 dimensions are dropped."""
  if value.shape == shape:
    return value
  if [d for d in value.shape if d != 1] == [d for d in shape if d != 1]:
    return value.reshape(shape)
  raise ValueError(f"{where}: shape {value.shape} does not match {shape}")


def _is_placeholder(shape: tuple[int, ...], param_shape: tuple[int, ...]) -> bool:
  """A twin's stand-in for a per-parameter buffer torch does not keep for this parameter:
  all dimensions 1 where the parameter's are not (Adafactor's unused row_var/variance)."""
  return (
    len(shape) == len(param_shape)
    and all(d == 1 for d in shape)
    and any(d > 1 for d in param_shape)
  )


def _is_reduction(shape: tuple[int, ...], param_shape: tuple[int, ...]) -> bool:
  """The parameter's shape with some dimensions reduced to 1 (Adafactor's row_var)."""
  return len(shape) == len(param_shape) and all(
    d in (1, pd) for d, pd in zip(shape, param_shape, strict=True)
  )


def _step_value(values: Sequence[float], where: str) -> int:
  if len(set(values)) != 1:
    raise ValueError(
      f"{where}: the parameters' torch steps differ ({sorted(set(values))}); a twin keeps "
      f"one step per param group"
    )
  step = values[0]
  if step != int(step) or not 0 <= step <= np.iinfo(np.int32).max:
    raise ValueError(f"{where}: torch step {step} is not an int32 count")
  return int(step)


def _check_per_parameter_state(optimizer: Any) -> None:
  """LBFGS keeps one state for the flattened vector of all parameters: not converted."""
  if type(optimizer).__name__ == "LBFGS":
    raise ValueError(
      "state conversion is not supported for torch.optim.LBFGS: torch keeps its state "
      "once, on the first parameter, for the flattened vector of all parameters "
      "(lists of history tensors), not per parameter; from_torch(optimizer) builds the "
      "twin, whose fresh state (tx.init(params)) restarts the L-BFGS history"
    )


def state_from_torch(optimizer: Any, params: Any) -> optax.OptState:
  """The state of ``from_torch(optimizer)`` equal to ``optimizer``'s current state.

  Each per-parameter tensor ``optimizer.state[p][key]`` becomes the leaf of parameter
  ``p``'s position in the twin's state field ``key`` (cast to that leaf's dtype, which
  follows ``params``); torch's per-parameter ``step`` becomes the group's shared int32
  ``step``, and every :class:`optax.ScaleByScheduleState` count in the group's chain is set
  to it. A per-parameter 0-d tensor that the twin keeps as one scalar per group must be the
  same for all the group's parameters. Where torch keeps a key for some parameters only
  (Adafactor: ``row_var``/``col_var`` for matrices, ``variance`` for vectors), the others
  keep the twin's placeholder (all dimensions 1); a twin's flag ``has_<key>`` is set to
  whether torch holds ``<key>``. A group whose parameters have no torch state yet keeps
  the freshly initialised state.

  Args:
    optimizer: A ``torch.optim`` optimizer accepted by :func:`from_torch`.
    params: A pytree whose leaves, in ``jax.tree.leaves`` order, are the optimizer's
      parameters in param-group order (same shapes; the values only set dtypes).

  Returns:
    An optimizer state for ``from_torch(optimizer)``, to be used with ``params``.

  Raises:
    ValueError: on a different number of leaves or a different shape (naming the leaf's
      index and path), on torch state the twin cannot hold (a key without a field, steps
      that differ within a group, a group where only some parameters have state), or on
      a twin field that torch's state lacks.
  """
  layout = _layout(optimizer)
  _check_leaves(layout, params, "params")
  tx = from_torch(optimizer)
  _check_per_parameter_state(optimizer)
  state = tx.init(params)
  tensors = [p for group in optimizer.param_groups for p in group["params"]]
  labels = _labels(layout, params)

  def fill_group(group_state: Any, k: int) -> Any:
    indices = layout.indices(k)
    # A key holding None (a buffer torch has not created yet) counts as absent.
    torch_states = [
      {key: v for key, v in optimizer.state.get(tensors[i], {}).items() if v is not None}
      for i in indices
    ]
    if not any(torch_states):
      return group_state
    if not all(torch_states):
      empty = [i for i, s in zip(indices, torch_states, strict=True) if not s]
      raise ValueError(
        f"param group {k}: parameters {empty} have no torch state yet while others do "
        f"(no gradient so far); a twin keeps one step per param group"
      )
    # Keys may differ between parameters (Adafactor keeps row_var/col_var for matrices,
    # variance for vectors): a twin holds a placeholder where torch holds nothing.
    keys = set().union(*torch_states)
    for i, s in zip(indices, torch_states, strict=True):
      if _STEP in keys and _STEP not in s:
        raise ValueError(f"param group {k}: parameter {i} has no torch step while others do")
    step = None
    if _STEP in keys:
      step = _step_value([float(s[_STEP]) for s in torch_states], f"param group {k}")
    # The params tree as the group's state fields hold it: multi_transform masks the
    # other groups' leaves out.
    masked = jax.tree.map(
      lambda p, label: p if label == f"group{k}" else optax.MaskedNode(), params, labels
    )
    per_param = jax.tree.structure(masked) if layout.num_groups > 1 else jax.tree.structure(params)
    used = set()
    field_names: set[str] = set()

    def field_value(key: str, value: Any) -> Any:
      where = f"param group {k}, state key {key!r}"
      flagged = key.removeprefix(_HAS)
      if key.startswith(_HAS) and flagged in field_names:
        # The twin's record of whether torch holds the buffer ``flagged`` at all.
        (leaf,) = jax.tree.leaves(value)
        return jax.tree.unflatten(
          jax.tree.structure(value), [jnp.asarray(flagged in keys, dtype=jnp.result_type(leaf))]
        )
      if key not in keys and _HAS + key in field_names:
        return value  # torch holds no such buffer yet: the twin's flag says so
      if (
        key not in keys
        and jax.tree.structure(value) == per_param
        and all(
          _is_placeholder(np.shape(leaf), layout.shapes[i])
          for i, leaf in zip(indices, jax.tree.leaves(value), strict=True)
        )
      ):
        return value  # no parameter of the group has this key (Adafactor's matrices only)
      if key not in keys:
        raise ValueError(
          f"{where}: the twin's state has this field but torch's state has no such key "
          f"(torch keys: {sorted(keys)})"
        )
      used.add(key)
      if key == _STEP:
        (leaf,) = jax.tree.leaves(value)
        return jax.tree.unflatten(
          jax.tree.structure(value), [jnp.asarray(step, dtype=jnp.result_type(leaf))]
        )
      leaves = jax.tree.leaves(value)
      if jax.tree.structure(value) == per_param:
        new = []
        for i, leaf, torch_state in zip(indices, leaves, torch_states, strict=True):
          if key not in torch_state:
            if not _is_placeholder(np.shape(leaf), layout.shapes[i]):
              raise ValueError(f"{where}: parameter {i} has no such torch state key")
            new.append(leaf)  # torch holds nothing here: keep the twin's placeholder
            continue
          arr = _fit_shape(
            _to_numpy(torch_state[key]), tuple(np.shape(leaf)), f"{where}, parameter {i}"
          )
          new.append(jnp.asarray(arr, dtype=jnp.result_type(leaf)))
        return jax.tree.unflatten(per_param, new)
      if len(leaves) == 1:
        (leaf,) = leaves
        missing = [i for i, s in zip(indices, torch_states, strict=True) if key not in s]
        if missing:
          raise ValueError(f"{where}: parameters {missing} have no such torch state key")
        arrs = [_to_numpy(s[key]) for s in torch_states]
        if any(not np.array_equal(a, arrs[0]) for a in arrs[1:]):
          raise ValueError(
            f"{where}: the twin keeps one value per param group but torch's differs "
            f"between the group's parameters"
          )
        arr = _fit_shape(arrs[0], tuple(np.shape(leaf)), where)
        return jax.tree.unflatten(
          jax.tree.structure(value), [jnp.asarray(arr, dtype=jnp.result_type(leaf))]
        )
      raise ValueError(f"{where}: the twin's field is neither per-parameter nor one scalar")

    def on_state(node: Any) -> Any:
      field_names.update(node._fields)
      return node._replace(
        **{f: field_value(f, v) for f, v in zip(node._fields, node, strict=True) if _has_leaves(v)}
      )

    def on_schedule(node: Any) -> Any:
      if step is None:
        raise ValueError(f"param group {k}: the twin has a schedule count but torch keeps no step")
      return node._replace(count=jnp.asarray(step, dtype=jnp.result_type(node.count)))

    new_state = _walk(group_state, on_state, on_schedule)
    if keys - used:
      raise ValueError(
        f"param group {k}: torch state keys {sorted(keys - used)} have no field in the twin's state"
      )
    return new_state

  return _map_groups(state, layout.num_groups, fill_group)


def _collect(group_state: Any) -> tuple[dict[str, Any], list[Any]]:
  """A group's twin state as {torch key: value} and its schedule counts."""
  fields: dict[str, Any] = {}
  counts: list[Any] = []

  def on_state(node: Any) -> Any:
    for f, v in zip(node._fields, node, strict=True):
      if _has_leaves(v):
        if f in fields:
          raise ValueError(f"the state key {f!r} appears twice in a twin's state")
        fields[f] = v
    return node

  def on_schedule(node: Any) -> Any:
    counts.append(node.count)
    return node

  _walk(group_state, on_state, on_schedule)
  return fields, counts


def state_to_torch(state: optax.OptState, optimizer: Any) -> None:
  """Writes a twin's ``state`` into ``optimizer.state`` (the inverse of
  :func:`state_from_torch`).

  ``state`` is the state of ``from_torch(optimizer)`` (or of the twin built with the same
  hyperparameters) for params ordered as torch's parameters. The group's ``step`` is
  written to every parameter's ``step`` as torch stores it (a float tensor of
  ``torch.optim.optimizer._get_scalar_dtype()``); per-parameter leaves become tensors of
  the parameter's dtype and device, in the leaf's shape (the parameter's, or that with
  some dimensions reduced to 1, as Adafactor's ``row_var``); a field held as one scalar
  per group is written to every parameter of the group. A placeholder leaf (all
  dimensions 1 for a larger parameter) is not written unless torch already holds the key,
  nor is ``<key>`` while the twin's flag ``has_<key>`` is False. An existing tensor of the
  same key sets dtype and device. Nothing is modified if anything is inconsistent.

  Args:
    state: The JAX optimizer state.
    optimizer: A ``torch.optim`` optimizer accepted by :func:`from_torch`.

  Raises:
    ValueError: if the state's groups, number of per-parameter leaves or shapes do not
      match the optimizer's parameters (naming the parameter), if schedule counts
      disagree with ``step``, or if torch's current state holds a key the twin's state
      does not (it would be left stale).
    TypeError: for an optimizer class without a twin.
  """
  torch = _torch()
  from torch.optim.optimizer import _get_scalar_dtype

  _twin_factory(optimizer)
  _check_per_parameter_state(optimizer)
  layout = _layout(optimizer)
  tensors = [p for group in optimizer.param_groups for p in group["params"]]
  new_states: dict[int, dict[str, Any]] = {}

  def to_tensor(value: Any, template: Any, dtype: Any, device: Any) -> Any:
    arr = np.asarray(value)
    if arr.dtype.name == "bfloat16":
      arr = arr.astype(np.float32)
    if template is not None and isinstance(template, torch.Tensor):
      dtype, device = template.dtype, template.device
    return torch.from_numpy(np.array(arr)).to(dtype=dtype, device=device)

  def write_group(group_state: Any, k: int) -> Any:
    group = optimizer.param_groups[k]
    indices = layout.indices(k)
    fields, counts = _collect(group_state)
    step = None
    if _STEP in fields:
      step = int(np.asarray(jax.tree.leaves(fields[_STEP])[0]))
      for c in counts:
        if int(np.asarray(c)) != step:
          raise ValueError(
            f"param group {k}: a schedule count ({int(np.asarray(c))}) differs from step ({step})"
          )
    flags = {
      key: bool(np.asarray(jax.tree.leaves(value)[0]))
      for key, value in fields.items()
      if key.startswith(_HAS) and key.removeprefix(_HAS) in fields
    }
    on_device = bool(group.get("capturable") or group.get("fused"))
    scalar_dtype = _get_scalar_dtype(is_fused=group.get("fused"))
    for j, i in enumerate(indices):
      p = tensors[i]
      old = optimizer.state.get(p, {})
      stale = set(old) - set(fields)
      if stale:
        raise ValueError(
          f"param group {k}, parameter {i}: torch's state has keys {sorted(stale)} that "
          f"the twin's state does not hold"
        )
      scalar_device = p.device if on_device else torch.device("cpu")
      new = {}
      for key, value in fields.items():
        where = f"param group {k}, state key {key!r}, parameter {i}"
        leaves = jax.tree.leaves(value)
        if key in flags or not flags.get(_HAS + key, True):
          continue  # a flag, or a buffer torch does not hold yet
        if key == _STEP:
          assert step is not None
          new[key] = to_tensor(float(step), old.get(key), scalar_dtype, scalar_device)
        elif len(leaves) == len(indices) and all(
          np.ndim(leaf) == len(layout.shapes[n]) for leaf, n in zip(leaves, indices, strict=True)
        ):
          arr = np.asarray(leaves[j])
          if _is_placeholder(arr.shape, layout.shapes[i]) and key not in old:
            continue  # torch keeps no such buffer for this parameter
          if not _is_reduction(arr.shape, layout.shapes[i]):
            raise ValueError(
              f"{where}: shape {arr.shape} does not match the parameter's {layout.shapes[i]}"
            )
          new[key] = to_tensor(arr, old.get(key), p.dtype, p.device)
        elif len(leaves) == 1 and np.size(leaves[0]) == 1:
          arr = np.asarray(leaves[0]).reshape(())
          new[key] = to_tensor(arr, old.get(key), scalar_dtype, scalar_device)
        else:
          raise ValueError(
            f"{where}: the field's {len(leaves)} leaves with shapes "
            f"{[np.shape(x) for x in leaves]} do not match the group's parameters "
            f"{[layout.shapes[n] for n in indices]}"
          )
      new_states[i] = new
    return group_state

  _map_groups(state, layout.num_groups, write_group)
  for i, new in new_states.items():
    optimizer.state[tensors[i]] = new
