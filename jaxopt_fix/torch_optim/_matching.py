"""Which leaf of a JAX pytree is which parameter of a ``torch.optim`` optimizer.

A mapping is proven, never guessed. A tree's leaves are matched to the optimizer's
parameters (``param_groups[0]["params"]``, then group 1's, ...):

1. **By name**, when the torch parameters have names and the leaves' paths, their keys
   joined with ``"."``, are exactly those names: ``{"net.0.weight": w}`` or
   ``{"net": {"0": {"weight": w}}}`` for torch's ``"net.0.weight"``. The names are those
   given as ``named_parameters=`` (``model.named_parameters()`` or a name -> tensor mapping)
   or, without it, the ``param_names`` torch keeps in the param groups of an optimizer
   built from ``model.named_parameters()``.
2. **By position** otherwise: leaf ``i`` in ``jax.tree.leaves`` order is parameter ``i``.
   JAX orders a dict's leaves by sorted key, not by insertion, so position proves nothing
   between two parameters of the same shape that sit under different keys of a dict: such
   a tree is refused with one error. Lists, tuples and named tuples keep their order.

torch is not imported: the optimizer is read through its ``param_groups``.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses
from typing import Any

import jax

Shape = tuple[int, ...]
KeyPath = tuple[Any, ...]
NamedParameters = Iterable[tuple[str, Any]] | Mapping[str, Any]
"""``model.named_parameters()``, or a mapping from names to the optimizer's tensors."""


@dataclasses.dataclass(frozen=True)
class TorchParams:
  """An optimizer's parameters as plain data: per parameter, its group, shape and name."""

  groups: tuple[int, ...]
  shapes: tuple[Shape, ...]
  names: tuple[str, ...] | None

  @property
  def num_groups(self) -> int:
    return max(self.groups, default=-1) + 1

  def indices(self, group: int) -> list[int]:
    """The indices of the parameters of param group ``group``."""
    return [i for i, g in enumerate(self.groups) if g == group]

  def describe(self, index: int) -> str:
    """``torch parameter 3 ('net.2.weight', param group 1)``."""
    name = "" if self.names is None else f"{self.names[index]!r}, "
    return f"torch parameter {index} ({name}param group {self.groups[index]})"


def torch_params(optimizer: Any, named_parameters: NamedParameters | None = None) -> TorchParams:
  """The parameters of ``optimizer``, named by ``named_parameters`` or its ``param_names``.

  Raises:
    ValueError: if ``named_parameters`` leaves a parameter unnamed or two share a name.
  """
  tensors = [p for group in optimizer.param_groups for p in group["params"]]
  groups = tuple(k for k, group in enumerate(optimizer.param_groups) for _ in group["params"])
  names: tuple[str, ...] | None = None
  if named_parameters is not None:
    pairs = named_parameters.items() if isinstance(named_parameters, Mapping) else named_parameters
    by_tensor = {id(tensor): str(name) for name, tensor in pairs}
    unnamed = [i for i, t in enumerate(tensors) if id(t) not in by_tensor]
    if unnamed:
      raise ValueError(
        f"named_parameters names no tensor of the optimizer's parameters {unnamed}: give the "
        f"named_parameters() of the model whose parameters the optimizer holds"
      )
    names = tuple(by_tensor[id(t)] for t in tensors)
  elif optimizer.param_groups and all("param_names" in g for g in optimizer.param_groups):
    names = tuple(str(n) for g in optimizer.param_groups for n in g["param_names"])
  if names is not None and len(set(names)) != len(names):
    repeated = sorted({n for n in names if names.count(n) > 1})
    raise ValueError(f"the torch parameters' names {repeated} are not unique")
  return TorchParams(groups, tuple(tuple(p.shape) for p in tensors), names)


def path_name(path: KeyPath) -> str:
  """A leaf's path as a torch parameter name: its keys joined with ``"."``."""
  parts = []
  for key in path:
    if isinstance(key, jax.tree_util.DictKey):
      parts.append(str(key.key))
    elif isinstance(key, jax.tree_util.SequenceKey):
      parts.append(str(key.idx))
    elif isinstance(key, jax.tree_util.GetAttrKey):
      parts.append(key.name)
    elif isinstance(key, jax.tree_util.FlattenedIndexKey):
      parts.append(str(key.key))
    else:
      parts.append(str(key))
  return ".".join(parts)


def _diverge_at_dict_key(a: KeyPath, b: KeyPath) -> bool:
  """Whether two paths first differ at a dict key (whose order JAX sorts)."""
  for key_a, key_b in zip(a, b, strict=False):
    if key_a != key_b:
      return isinstance(key_a, jax.tree_util.DictKey)
  return False


def _ambiguous_pair(paths: Sequence[KeyPath], shapes: Sequence[Shape]) -> tuple[int, int] | None:
  """Two positions whose order is not given and whose torch parameters look alike."""
  by_shape: dict[Shape, list[int]] = {}
  for i, shape in enumerate(shapes):
    by_shape.setdefault(shape, []).append(i)
  for indices in by_shape.values():
    for n, i in enumerate(indices):
      for j in indices[n + 1 :]:
        if _diverge_at_dict_key(paths[i], paths[j]):
          return i, j
  return None


def match(params: TorchParams, paths: Sequence[KeyPath], what: str) -> list[int]:
  """For each leaf, given by its path in ``jax.tree.leaves`` order, its torch parameter.

  Raises:
    ValueError: if the numbers differ, or if the mapping cannot be proven (see the module
      docstring), naming the leaves and what to give instead.
  """
  count = len(params.shapes)
  if len(paths) != count:
    raise ValueError(
      f"{what} has {len(paths)} leaves but the torch optimizer has {count} parameters "
      f"(leaves, in jax.tree.leaves order, must be the optimizer's parameters in "
      f"param-group order, or be named as they are)"
    )
  leaf_names = [path_name(p) for p in paths]
  if params.names is not None and sorted(leaf_names) == sorted(params.names):
    index = {name: i for i, name in enumerate(params.names)}
    return [index[name] for name in leaf_names]
  pair = _ambiguous_pair(paths, params.shapes)
  if pair is None:
    return list(range(count))
  i, j = pair
  unnamed = (
    "the torch parameters have no names"
    if params.names is None
    else f"the leaf names (e.g. {leaf_names[i]!r}) are not the torch parameter names "
    f"(e.g. {params.names[i]!r})"
  )
  raise ValueError(
    f"{what}: cannot tell which leaf is which torch parameter: leaves "
    f"{jax.tree_util.keystr(tuple(paths[i]))} and {jax.tree_util.keystr(tuple(paths[j]))} "
    f"would be parameters {i} and {j}, which have the same shape {params.shapes[i]}, but "
    f"they sit under different keys of a dict, whose leaves JAX orders by sorted key, not "
    f"by torch's parameter order, and {unnamed}. Key the params by the torch names and "
    f"build the optimizer from model.named_parameters() or pass "
    f"named_parameters=model.named_parameters(); or pass the params as a list in "
    f"param-group order"
  )


def check_shapes(
  params: TorchParams,
  order: Sequence[int],
  paths: Sequence[KeyPath],
  shapes: Sequence[Shape],
  what: str,
) -> None:
  """Each leaf's shape against its torch parameter's (``order`` from :func:`match`)."""
  for i, (path, shape, t) in enumerate(zip(paths, shapes, order, strict=True)):
    if shape != params.shapes[t]:
      hint = (
        " (a dict's leaves are in sorted key order: name them as torch does, or pass a list)"
        if params.names is None and any(isinstance(k, jax.tree_util.DictKey) for k in path)
        else ""
      )
      raise ValueError(
        f"{what}: leaf {i} ({jax.tree_util.keystr(tuple(path))}) has shape {shape} but "
        f"{params.describe(t)} has shape {params.shapes[t]}{hint}"
      )


def match_tree(params: TorchParams, tree: Any, what: str) -> list[int]:
  """:func:`match` and :func:`check_shapes` for the leaves of ``tree``."""
  with_paths, _ = jax.tree.flatten_with_path(tree)
  paths = [path for path, _ in with_paths]
  order = match(params, paths, what)
  check_shapes(params, order, paths, [tuple(jax.numpy.shape(leaf)) for _, leaf in with_paths], what)
  return order
