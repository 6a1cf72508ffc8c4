"""Building blocks shared by the torch.optim twins.

A twin is ``optax.chain(maximize, coupled weight decay, scale_by_torch_<algo>,
learning rate, decoupled weight decay)``, each link an identity when unused: the
same order of operations as torch's single-tensor step, so one kwargs dict gives
the same trajectory in both frameworks.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
import functools
import inspect
import math
from typing import Any
from typing import ParamSpec

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxopt_fix._src import eager
from jaxopt_fix._src import leafwise
from jaxopt_fix._src import numerics
from jaxopt_fix._src import validation

_P = ParamSpec("_P")
_Factory = Callable[_P, optax.GradientTransformationExtraArgs]


def is_torch(value: Any) -> bool:
  """Whether ``value`` is a torch object (detected by type: torch is never imported here)."""
  return type(value).__module__.startswith("torch")


def _describe(value: Any) -> str:
  return f"{value!r} ({type(value).__name__})"


def _check_real_scalar(twin: str, name: str, value: Any, *, schedule: bool) -> None:
  """A real scalar: a Python or numpy number, a 0-d array (traced or not), a 1-element
  real torch tensor, or (if ``schedule``) a callable; finite when concrete."""
  if schedule and callable(value):
    return
  allowed = "a real number" + (" or a schedule" if schedule else "")
  if is_torch(value):
    if value.numel() != 1 or value.is_complex() or str(value.dtype) == "torch.bool":
      raise TypeError(f"{twin}: {name} must be {allowed}; got a torch tensor {_describe(value)}.")
    value = value.item()
  if isinstance(value, str | bytes | bool | complex | np.bool_) or not (
    isinstance(value, int | float | np.number) or hasattr(value, "dtype")
  ):
    raise TypeError(f"{twin}: {name} must be {allowed}; got {_describe(value)}.")
  dtype = getattr(value, "dtype", None)
  if np.ndim(value) != 0 or not validation.is_real_dtype(
    np.result_type(value) if dtype is None else dtype
  ):
    raise TypeError(f"{twin}: {name} must be {allowed} (a 0-d real array); got {_describe(value)}.")
  v = validation.concrete(value, name)
  if v is not None and not math.isfinite(float(v)):
    raise ValueError(f"{twin}: {name} must be finite; got {value}.")


# torch's wording where torch checks the length itself.
_LENGTH_MESSAGES = {"ns_coefficients": "Coefficients must be a tuple of exactly 3 values"}


def _check_argument(twin: str, name: str, value: Any, parameter: inspect.Parameter) -> None:
  annotation, default = str(parameter.annotation), parameter.default
  if value is None and default is None:
    return
  if annotation in ("bool", "bool | None"):
    if not isinstance(value, bool | np.bool_):
      none = " or None" if default is None else ""
      raise TypeError(f"{twin}: {name} must be True or False{none}; got {_describe(value)}.")
  elif annotation in ("int", "int | None"):
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | np.integer):
      raise TypeError(f"{twin}: {name} must be an int; got {_describe(value)}.")
  elif annotation == "str | None":
    if not isinstance(value, str):
      raise TypeError(f"{twin}: {name} must be a str or None; got {_describe(value)}.")
  elif isinstance(default, tuple):
    if not isinstance(value, tuple | list):
      raise TypeError(
        f"{twin}: {name} must be a tuple of {len(default)} real numbers; got {_describe(value)}."
      )
    if len(value) != len(default):
      raise ValueError(
        _LENGTH_MESSAGES.get(name, f"{name} must be a tuple of {len(default)} real numbers")
        + f"; got {_describe(value)}."
      )
    items = _tuple_item_annotations(annotation, len(default))
    for i, (item, item_default) in enumerate(zip(value, default, strict=True)):
      if not (item is None and item_default is None):
        _check_real_scalar(twin, f"{name}[{i}]", item, schedule="Schedule" in items[i])
  else:
    # A schedule lr where the twin takes none is refused by the twin, in its own words.
    _check_real_scalar(twin, name, value, schedule="Schedule" in annotation or name == "lr")


def _tuple_item_annotations(annotation: str, n: int) -> list[str]:
  """The item annotations of ``"tuple[A, B]"`` (``n`` empty strings for anything else)."""
  if not annotation.startswith("tuple[") or not annotation.endswith("]"):
    return [""] * n
  items, depth, start = [], 0, len("tuple[")
  for i, char in enumerate(annotation[start:-1], start):
    depth += {"[": 1, "]": -1}.get(char, 0)
    if char == "," and depth == 0:
      items.append(annotation[start:i])
      start = i + 1
  items.append(annotation[start:-1])
  return items if len(items) == n else [""] * n


def _check_torch_combinations(arguments: Mapping[str, Any]) -> None:
  """The flag combinations torch refuses at construction, with torch's messages."""
  if arguments.get("fused"):
    check_torch(not arguments.get("differentiable"), "`fused` does not support `differentiable`")
    check_torch(not arguments.get("foreach"), "`fused` and `foreach` cannot be `True` together.")


def check_params(params: Any, twin: str) -> None:
  """Raises TypeError, naming the leaf, unless every leaf of ``params`` is a real float array.

  torch tensors are refused by name (convert them with ``jnp.asarray(t.detach().numpy())``);
  integer and complex params are refused as the core transformations refuse them.
  """
  for path, leaf in jax.tree_util.tree_leaves_with_path(params):
    if is_torch(leaf):
      raise TypeError(
        f"{twin} needs JAX arrays as params, but the leaf at"
        f" {jax.tree_util.keystr(path) or '<root>'} is a {type(leaf).__name__};"
        " convert it with jnp.asarray(tensor.detach().cpu().numpy())."
      )
  validation.check_float_leaves(params, twin)


def twin(factory: _Factory) -> _Factory:
  """Decorates a twin factory: every argument's type checked against its annotation and
  default (``TypeError``, or ``ValueError`` for a non-finite number, naming the argument),
  torch's refused flag combinations refused, and ``init`` checking the params (real float
  JAX arrays) and warning if ``eps`` vanishes in their dtype."""
  signature = inspect.signature(factory)
  name = f"torch_optim.{factory.__name__}"

  @functools.wraps(factory)
  def checked(*args: _P.args, **kwargs: _P.kwargs) -> optax.GradientTransformationExtraArgs:
    arguments = signature.bind(*args, **kwargs).arguments
    for key, value in arguments.items():
      _check_argument(name, key, value, signature.parameters[key])
    _check_torch_combinations(arguments)
    tx = factory(*args, **kwargs)
    unchecked = getattr(tx.init, "unchecked", tx.init)  # a twin built by another (AdamW)
    eps = (
      arguments.get("eps", signature.parameters["eps"].default)
      if "eps" in signature.parameters
      else None
    )

    def init(params):
      check_params(params, name)
      if eps is not None and not isinstance(eps, tuple):
        validation.warn_if_eps_vanishes(params, eps, name)
      return unchecked(params)

    init.unchecked = unchecked  # pyright: ignore[reportFunctionMemberAccess]
    return eager.compiled_when_eager(tx._replace(init=init))

  return checked


def unzip(updates: Any, out: Any, n: int) -> tuple[Any, ...]:
  """``out``, a tree like ``updates`` of ``n``-tuples, as ``n`` trees like ``updates``
  (``n`` empty trees when ``updates`` has no leaves)."""
  outer = jax.tree.structure(updates)
  if outer.num_leaves == 0:
    return (updates,) * n
  return jax.tree.transpose(outer, jax.tree.structure((0,) * n), out)


def hyperparameter(value: Any) -> Any:
  """torch accepts 1-element tensors for ``lr`` and betas: take their float value.

  Detected by type, so that torch is never imported here.
  """
  if type(value).__module__.startswith("torch"):
    return float(value)
  return value


def check_torch(condition_ok: bool, message: str) -> None:
  """Raises ``ValueError(message)`` (torch's wording) unless ``condition_ok``."""
  if not condition_ok:
    raise ValueError(message)


def concrete_or_none(value: Any) -> float | None:
  """A concrete scalar hyperparameter as a float; None if traced or a schedule."""
  array = validation.concrete(value)
  return None if array is None else float(array)


def check_at_least(message: str, value: Any, minimum: float, *, strict: bool = False) -> None:
  """torch's ``if not minimum <= value: raise ValueError(message)`` on concrete values."""
  v = concrete_or_none(value)
  if v is not None:
    ok = v > minimum if strict else v >= minimum
    check_torch(ok, f"{message}: {value} (must be {'>' if strict else '>='} {minimum})")


def check_unit_interval(message: str, value: Any) -> None:
  """torch's ``if not 0.0 <= value < 1.0: raise ValueError(message)`` on concrete values."""
  v = concrete_or_none(value)
  if v is not None:
    check_torch(0.0 <= v < 1.0, f"{message}: {value} (must be in [0, 1))")


def check_lr(lr: Any) -> None:
  """torch's learning-rate check; a schedule (callable) is not checked."""
  if not callable(lr):
    check_at_least("Invalid learning rate", lr, 0.0)


def maximize(enabled: bool) -> optax.GradientTransformation:
  """torch's ``maximize=True``: negate the gradient first, before weight decay."""
  return optax.scale(-1.0) if enabled else optax.identity()


def _is_zero(value: Any) -> bool:
  return concrete_or_none(value) == 0.0


def coupled_weight_decay(weight_decay: Any) -> optax.GradientTransformation:
  """torch's L2 ``weight_decay``: ``grad + weight_decay * param``, before the moments."""
  return optax.identity() if _is_zero(weight_decay) else optax.add_decayed_weights(weight_decay)


def decoupled_weight_decay(
  lr: optax.ScalarOrSchedule, weight_decay: Any
) -> optax.GradientTransformation:
  """torch's decoupled decay ``param *= 1 - lr * weight_decay``, after the learning rate.

  The update gains ``param * (1 - lr * weight_decay) - param``: the decayed parameter is
  rounded exactly as torch rounds it and the difference is exact (Sterbenz), so
  ``param + update`` lands where torch's two in-place steps land, not an ulp of the
  parameter away as ``-lr * (direction + weight_decay * param)`` would. A schedule ``lr``
  is evaluated at this transformation's own count, in step with the learning-rate link.
  """
  if _is_zero(weight_decay):
    return optax.identity()

  def init_fn(params):
    del params
    return optax.ScaleByScheduleState(count=jnp.zeros([], jnp.int32))

  def update_fn(updates, state, params=None):
    if params is None:
      raise ValueError(
        "decoupled weight decay needs the params: call update(updates, state, params)"
      )
    lr_t = lr(state.count) if callable(lr) else lr
    factor = 1 - lr_t * weight_decay
    updates = leafwise.map(
      lambda u, p: (
        None if u is None else (u + (numerics.rounded_product(p, factor) - p)).astype(u.dtype)
      ),
      updates,
      params,
      is_leaf=lambda x: x is None,
    )
    return updates, optax.ScaleByScheduleState(count=optax.safe_increment(state.count))

  return optax.GradientTransformation(init_fn, update_fn)


def learning_rate(lr: optax.ScalarOrSchedule) -> optax.GradientTransformation:
  """Multiplies by ``-lr``; a schedule is evaluated at count 0 on the first step."""
  return optax.scale_by_learning_rate(lr)


def torch_chain(
  scaler: optax.GradientTransformation,
  *,
  lr: optax.ScalarOrSchedule,
  weight_decay: jax.typing.ArrayLike = 0.0,
  decoupled: bool = False,
  maximize_: bool = False,
) -> optax.GradientTransformationExtraArgs:
  """The twin of a torch optimizer step around ``scaler`` (see the module docstring)."""
  return optax.chain(
    maximize(maximize_),
    optax.identity() if decoupled else coupled_weight_decay(weight_decay),
    scaler,
    learning_rate(lr),
    decoupled_weight_decay(lr, weight_decay) if decoupled else optax.identity(),
  )
