"""Evaluating the command line's optimizer expressions, safely.

An expression is a call (or a bare name) whose function is a public attribute path under
``torch.optim``, ``optax`` or ``jaxopt_fix`` (``optax.chain(optax.scale_by_adam(),
optax.scale(-1e-3))``), with literal arguments: numbers, strings, booleans, None, tuples,
lists, dicts, and such calls again. Nothing else is evaluated: no other names, no
attributes starting with ``_``, no operators but a sign. The torch expression is not
called: its class and keyword arguments are returned, for :func:`jaxopt_fix.verify.compare`
to build the optimizer over its own tensors.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
import importlib
import inspect
from typing import Any

ROOTS = ("torch.optim", "optax", "jaxopt_fix")
"""The namespaces an expression may name."""


class ExpressionError(ValueError):
  """An expression that is not allowed or does not evaluate."""


def _path(node: ast.expr) -> str:
  parts = []
  while isinstance(node, ast.Attribute):
    parts.append(node.attr)
    node = node.value
  if not isinstance(node, ast.Name):
    raise ExpressionError(f"{ast.unparse(node)!r} is not a name under {', '.join(ROOTS)}")
  parts.append(node.id)
  return ".".join(reversed(parts))


def _resolve(path: str) -> Any:
  root = next((r for r in ROOTS if path == r or path.startswith(r + ".")), None)
  if root is None:
    raise ExpressionError(f"{path!r} is not under {', '.join(ROOTS)}")
  rest = path[len(root) :].lstrip(".").split(".") if path != root else []
  if any(part.startswith("_") for part in rest):
    raise ExpressionError(f"{path!r}: private names are not allowed")
  value = importlib.import_module(root)
  for i, part in enumerate(rest):
    try:
      value = getattr(value, part)
    except AttributeError:
      where = ".".join([root, *rest[:i]])
      raise ExpressionError(f"{where} has no attribute {part!r}") from None
  return value


def _value(node: ast.expr) -> Any:
  if isinstance(node, ast.Constant):
    return node.value
  if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
    operand = _value(node.operand)
    if not isinstance(operand, (int, float)) or isinstance(operand, bool):
      raise ExpressionError(f"{ast.unparse(node)!r}: a sign applies to numbers only")
    return -operand if isinstance(node.op, ast.USub) else operand
  if isinstance(node, (ast.Tuple, ast.List)):
    items = [_value(e) for e in node.elts]
    return tuple(items) if isinstance(node, ast.Tuple) else items
  if isinstance(node, ast.Dict):
    if any(k is None for k in node.keys):
      raise ExpressionError("'**' in a dict is not allowed")
    return {
      _value(k): _value(v) for k, v in zip(node.keys, node.values, strict=True) if k is not None
    }
  if isinstance(node, ast.Call):
    function, args, kwargs = _call(node)
    try:
      return function(*args, **kwargs)
    except Exception as e:
      raise ExpressionError(f"{ast.unparse(node)}: {type(e).__name__}: {e}") from None
  if isinstance(node, (ast.Attribute, ast.Name)):
    return _resolve(_path(node))
  raise ExpressionError(f"{ast.unparse(node)!r} is not a literal or an allowed call")


def _call(node: ast.Call) -> tuple[Callable[..., Any], list[Any], dict[str, Any]]:
  function = _resolve(_path(node.func))
  if not callable(function):
    raise ExpressionError(f"{ast.unparse(node.func)} is not callable")
  kwargs = {}
  for k in node.keywords:
    if k.arg is None:
      raise ExpressionError("'**' arguments are not allowed")
    kwargs[k.arg] = _value(k.value)
  if any(isinstance(a, ast.Starred) for a in node.args):
    raise ExpressionError("'*' arguments are not allowed")
  return function, [_value(a) for a in node.args], kwargs


def _parse(text: str) -> ast.expr:
  try:
    return ast.parse(text.strip(), mode="eval").body
  except SyntaxError as e:
    raise ExpressionError(f"{text!r} is not an expression: {e.msg}") from None


def torch_optimizer(text: str) -> tuple[type, dict[str, Any]]:
  """``"torch.optim.Adam(lr=1e-2, amsgrad=True)"`` -> ``(torch.optim.Adam, {"lr": 0.01,
  "amsgrad": True})``; positional arguments are bound to the class's parameters after
  ``params``."""
  node = _parse(text)
  if isinstance(node, ast.Call):
    cls, args, kwargs = _call(node)
  else:
    cls, args, kwargs = _value(node), [], {}
  torch = importlib.import_module("torch")
  if not (isinstance(cls, type) and issubclass(cls, torch.optim.Optimizer)):
    raise ExpressionError(f"{text!r} is not a torch.optim optimizer class")
  if cls is torch.optim.Optimizer:
    raise ExpressionError("torch.optim.Optimizer is the base class: name an optimizer")
  if args:
    try:
      bound = inspect.signature(cls).bind(None, *args, **kwargs)
    except TypeError as e:
      raise ExpressionError(f"{text}: {e}") from None
    kwargs = {k: v for k, v in bound.arguments.items() if k != "params"}
  return cls, kwargs


def torch_scheduler(text: str) -> tuple[type, dict[str, Any]]:
  """``"torch.optim.lr_scheduler.StepLR(step_size=10)"`` -> ``(StepLR, {"step_size": 10})``;
  positional arguments are bound to the class's parameters after ``optimizer``."""
  node = _parse(text)
  if isinstance(node, ast.Call):
    cls, args, kwargs = _call(node)
  else:
    cls, args, kwargs = _value(node), [], {}
  torch = importlib.import_module("torch")
  schedulers = torch.optim.lr_scheduler
  if not (isinstance(cls, type) and issubclass(cls, schedulers.LRScheduler)):
    raise ExpressionError(f"{text!r} is not a torch.optim.lr_scheduler class")
  if issubclass(cls, schedulers.ReduceLROnPlateau):
    raise ExpressionError("ReduceLROnPlateau steps on a metric; the gradient battery has none")
  if cls is schedulers.LRScheduler:
    raise ExpressionError("torch.optim.lr_scheduler.LRScheduler is the base class")
  try:
    bound = inspect.signature(cls).bind(None, *args, **kwargs)
  except TypeError as e:
    raise ExpressionError(f"{text}: {e}") from None
  return cls, {k: v for k, v in bound.arguments.items() if k != "optimizer"}


def transformation(text: str) -> Any:
  """The value of an optax expression (``"optax.amsgrad(1e-2)"``); must be an
  ``optax.GradientTransformation``."""
  optax = importlib.import_module("optax")
  value = _value(_parse(text))
  if not isinstance(value, optax.GradientTransformation):
    raise ExpressionError(f"{text!r} is not an optax GradientTransformation")
  return value
