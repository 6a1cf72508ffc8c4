"""Building the twin of a live ``torch.optim`` optimizer, with its param groups.

One param group gives the twin itself; several give an :func:`optax.multi_transform` over
the labels ``"group0"``, ``"group1"``, ... whose label function (:func:`param_labels`)
assigns each leaf of the params to its torch parameter's group, by name or by position as
:mod:`jaxopt_fix.torch_optim._matching` proves it, so the caller passes no labels.

torch is imported lazily, inside these functions only.
"""

from __future__ import annotations

from collections.abc import Callable
import functools
import importlib
import inspect
from typing import Any

import jax
import optax

from jaxopt_fix.torch_optim import _matching
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


def torch_module() -> Any:
  """``torch``, imported on first use (``import jaxopt_fix`` never imports it)."""
  return importlib.import_module("torch")


def supported_optimizers() -> tuple[str, ...]:
  """The ``torch.optim`` class names :func:`from_torch` accepts: those with a twin.

  Examples:
    >>> from jaxopt_fix import torch_optim
    >>> "AdamW" in torch_optim.supported_optimizers()
    True
  """
  return tuple(sorted(_registry.TWINS))


def twin_of(optimizer: Any) -> _registry.Twin:
  """The registry entry of ``optimizer``'s class, or a TypeError naming the supported ones."""
  torch = torch_module()
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
  return twin


def _python_value(value: Any, where: str) -> Any:
  """1-element torch tensors (``lr=torch.tensor(1e-3)``, tensor betas) become floats."""
  if isinstance(value, (tuple, list)):
    return type(value)(_python_value(v, where) for v in value)
  if isinstance(value, torch_module().Tensor):
    if value.numel() != 1:
      raise ValueError(
        f"{where}: a tensor hyperparameter must have one element, got shape {tuple(value.shape)}"
      )
    return float(value)
  return value


def _group_kwargs(twin: _registry.Twin, index: int, group: dict[str, Any]) -> dict[str, Any]:
  """The twin's keyword arguments for one param group; an unknown key raises."""
  accepted = inspect.signature(twin.factory).parameters
  kwargs = {}
  for key, value in group.items():
    if key in _BOOKKEEPING_KEYS:
      continue
    if key not in accepted:
      if key in twin.implied and value == twin.implied[key]:
        continue
      raise ValueError(
        f"param group {index} of torch.optim.{twin.torch_name} has the key {key!r} = "
        f"{value!r}, which jaxopt_fix.torch_optim.{twin.name} does not accept"
      )
    kwargs[key] = _python_value(value, f"param group {index}, {key!r}")
  return kwargs


def check_no_scheduler(optimizer: Any) -> None:
  """A scheduler attached to the optimizer but not given would be dropped silently."""
  for k, group in enumerate(optimizer.param_groups):
    if "initial_lr" in group:
      raise ValueError(
        f"param group {k} has 'initial_lr': a torch.optim.lr_scheduler drives this "
        f"optimizer's lr; pass it as scheduler= (to keep the current lr constant instead, "
        f"delete 'initial_lr' from the param groups)"
      )


def group_twin(
  optimizer: Any, index: int, scheduler: Any = None
) -> optax.GradientTransformationExtraArgs:
  """The twin of one param group of ``optimizer``, with that group's hyperparameters and,
  if given, ``scheduler``'s schedules (see :mod:`jaxopt_fix.torch_optim._torch_schedulers`)."""
  twin = twin_of(optimizer)
  kwargs = _group_kwargs(twin, index, optimizer.param_groups[index])
  if scheduler is None:
    return twin.factory(**kwargs)
  from jaxopt_fix.torch_optim import _torch_schedulers

  scheduled = _torch_schedulers.group_schedule(twin, kwargs, scheduler, index)
  tx = twin.factory(**scheduled.kwargs)
  return tx if scheduled.after is None else optax.chain(tx, scheduled.after)


def _labels(params: _matching.TorchParams, tree: Any) -> Any:
  order = _matching.match_tree(params, tree, "params")
  return jax.tree.unflatten(jax.tree.structure(tree), [f"group{params.groups[t]}" for t in order])


def param_labels(
  optimizer: Any, params: Any, *, named_parameters: _matching.NamedParameters | None = None
) -> Any:
  """The tree of ``"group<k>"`` labels :func:`from_torch` uses for several param groups.

  Args:
    optimizer: A ``torch.optim`` optimizer.
    params: A pytree of the optimizer's parameters: keyed by their torch names, or with its
      leaves, in ``jax.tree.leaves`` order, in param-group order.
    named_parameters: The parameters' names (``model.named_parameters()``), if the
      optimizer was not built from them.

  Returns:
    A pytree like ``params`` whose leaf for torch parameter ``i`` is ``"group<k>"``, ``k``
    that parameter's param group.

  Raises:
    ValueError: if the number of leaves or a shape differs (naming the leaf), or if
      which leaf is which parameter cannot be proven (same shapes under dict keys, no
      names).

  Examples:
    >>> import jax.numpy as jnp
    >>> import torch
    >>> from jaxopt_fix import torch_optim
    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 2))
    >>> opt = torch.optim.SGD(
    ...   [{"params": [net[0].weight, net[1].weight]}, {"params": [net[0].bias, net[1].bias]}]
    ... )
    >>> params = {k: jnp.asarray(v.detach().numpy()) for k, v in net.named_parameters()}
    >>> torch_optim.param_labels(opt, params, named_parameters=net.named_parameters())
    {'0.bias': 'group1', '0.weight': 'group0', '1.bias': 'group1', '1.weight': 'group0'}
  """
  return _labels(_matching.torch_params(optimizer, named_parameters), params)


def from_torch(
  optimizer: Any,
  *,
  scheduler: Any = None,
  named_parameters: _matching.NamedParameters | None = None,
) -> optax.GradientTransformationExtraArgs:
  """The twin of a live ``torch.optim`` optimizer, with its current hyperparameters.

  The twin is looked up by the optimizer's class in :data:`TWINS` (``Adam`` ->
  :func:`adam`, ``SparseAdam`` -> :func:`sparse_adam`, ...) and called with each param
  group's entries (minus ``params`` and scheduler bookkeeping such as ``initial_lr``; a
  tensor ``lr`` becomes a float). With one param group, the result is the twin itself.
  With several, it is an :func:`optax.multi_transform` of one twin per group under the
  labels ``"group0"``, ``"group1"``, ..., assigned by :func:`param_labels` to the params
  given to ``init``: keyed by the torch parameters' names (from ``named_parameters`` or
  the optimizer's ``param_names``), or with leaves in param-group order.

  With ``scheduler`` (a ``torch.optim.lr_scheduler`` or ``swa_utils.SWALR`` object bound to
  ``optimizer``), each group's ``lr`` is the scheduler's twin
  (:mod:`jaxopt_fix.torch_optim.lr_scheduler`) as it was constructed, for the per-iteration
  pattern ``opt.step(); sched.step()``: update ``k + 1`` uses torch's lr after ``k``
  scheduler steps. ``CyclicLR`` and ``OneCycleLR`` also schedule ``momentum`` /
  ``betas[0]``. ``ReduceLROnPlateau`` becomes the twin with ``lr=1`` chained with
  :func:`~jaxopt_fix.torch_optim.lr_scheduler.reduce_lr_on_plateau` (give the metric as
  ``update(..., value=m)``). A run in the middle of a schedule continues from the state:
  :func:`state_from_torch` with the same ``scheduler``. For per-epoch stepping, build the
  twin directly with ``lr=lambda count: schedule(count // steps_per_epoch)``.

  Without ``scheduler``, an optimizer that a scheduler has touched (its groups have
  ``initial_lr``) is refused, rather than its schedule dropped.

  Args:
    optimizer: A ``torch.optim`` optimizer of a class with a twin (not a subclass).
    scheduler: The optimizer's learning-rate scheduler, or None.
    named_parameters: The parameters' names (``model.named_parameters()``), for several
      param groups of an optimizer not built from them.

  Returns:
    The corresponding :class:`optax.GradientTransformationExtraArgs`.

  Raises:
    TypeError: for an optimizer class without a twin, naming it and the supported ones.
    ValueError: for a param-group key the twin does not accept (nothing is dropped), a
      value the twin rejects, a scheduler without a twin (a custom subclass) or bound to
      another optimizer, or a scheduler attached but not given.

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
  twin_of(optimizer)
  if scheduler is None:
    check_no_scheduler(optimizer)
  else:
    from jaxopt_fix.torch_optim import _torch_schedulers

    _torch_schedulers.check_scheduler(optimizer, scheduler)
  txs = [group_twin(optimizer, k, scheduler) for k in range(len(optimizer.param_groups))]
  if len(txs) == 1:
    return txs[0]
  label_fn: Callable[[Any], Any] = functools.partial(
    _labels, _matching.torch_params(optimizer, named_parameters)
  )
  return optax.multi_transform({f"group{k}": tx for k, tx in enumerate(txs)}, label_fn)
