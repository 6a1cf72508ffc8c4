"""Construction-time checks of hyperparameters.

Every check looks only at *concrete* values. A traced value (a hyperparameter
being swept under ``jax.vmap``, or injected by ``optax.inject_hyperparams``)
cannot be inspected without a host sync and passes through unchecked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_fix._src import numerics


def is_real_dtype(dtype: Any) -> bool:
  """Whether ``dtype`` is an integer or real floating-point dtype (not bool, not complex)."""
  try:
    dtype = np.dtype(dtype)
  except TypeError:
    return False
  return bool(jnp.issubdtype(dtype, jnp.integer) or jnp.issubdtype(dtype, jnp.floating))


def concrete(value: Any, name: str = "value") -> np.ndarray | None:
  """``value`` as a float64 numpy array, or None if it is traced or callable.

  Raises:
    TypeError: naming ``name``, unless ``value`` is a real number or an array of real
      numbers (strings, bools, complex numbers and ragged lists are refused, not
      converted).

  Examples:
    >>> from jaxopt_fix._src import validation
    >>> validation.concrete(0.5)
    array(0.5)
    >>> validation.concrete("0.5", "b1")
    Traceback (most recent call last):
    ...
    TypeError: b1 must be a real number or an array of real numbers, got '0.5' (str).
  """
  if numerics.is_traced(value) or callable(value):
    return None
  array = None
  if not isinstance(value, str | bytes | bool | complex):
    try:
      array = np.asarray(value)
    except ValueError:
      array = None
  if array is None or not is_real_dtype(array.dtype):
    raise TypeError(
      f"{name} must be a real number or an array of real numbers,"
      f" got {value!r} ({type(value).__name__})."
    )
  return array.astype(np.float64)


def check_unit_interval(name: str, value: Any) -> None:
  """Raises ValueError unless every element of ``value`` lies in [0, 1)."""
  array = concrete(value, name)
  if array is not None and not np.all((array >= 0.0) & (array < 1.0)):
    raise ValueError(f"{name} must be in [0, 1), got {value!r}.")


def check_non_negative(name: str, value: Any) -> None:
  """Raises ValueError unless every element of ``value`` is >= 0 (not NaN)."""
  array = concrete(value, name)
  if array is not None and not np.all(array >= 0.0):
    raise ValueError(f"{name} must be >= 0, got {value!r}.")


def check_learning_rate(value: Any) -> None:
  """A learning rate is a schedule (unchecked) or a non-negative number."""
  check_non_negative("learning_rate", value)


def check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
  """Raises ValueError unless ``value`` is one of ``choices``."""
  if value not in choices:
    valid = ", ".join(repr(c) for c in choices)
    raise ValueError(f"{name} must be one of {valid}; got {value!r}.")


def check_float_leaves(tree: Any, transformation: str) -> None:
  """Raises TypeError if a leaf of ``tree`` is not a real floating-point array.

  Integer parameters cannot move by a fractional step, and complex parameters
  have two incompatible conventions (torch treats them as pairs of reals, optax
  squares their modulus), so both are rejected rather than guessed at.
  """
  for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
    dtype = leaf.dtype if hasattr(leaf, "dtype") else np.result_type(leaf)
    if not jnp.issubdtype(dtype, jnp.floating):
      raise TypeError(
        f"{transformation} needs real floating-point params, but the leaf at"
        f" {jax.tree_util.keystr(path) or '<root>'} has dtype {dtype}."
        " Cast it to a float dtype (or split complex params into real and"
        " imaginary parts)."
      )


def warn_if_eps_vanishes(params: Any, eps: Any, transformation: str) -> None:
  """Warns once if a positive concrete ``eps`` rounds to 0 in a params leaf's dtype.

  A zero ``eps`` turns a zero gradient's ``0 / (sqrt(0) + eps)`` into ``0 / 0`` = NaN, as in
  optax and torch with the same dtype (float16 rounds 1e-8 to 0).
  """
  array = concrete(eps, "eps")
  if array is None:
    return
  value = float(np.min(array))
  if value <= 0.0:
    return
  dtypes = {jnp.dtype(leaf.dtype) for leaf in jax.tree.leaves(params) if hasattr(leaf, "dtype")}
  vanishing = sorted(str(d) for d in dtypes if np.asarray(value, d) == 0)
  if vanishing:
    warnings.warn(
      f"{transformation}: eps={eps} rounds to 0 in {', '.join(vanishing)}: a zero gradient"
      " gives 0/0 = NaN (as in optax and torch); pass a larger eps or use a wider dtype.",
      RuntimeWarning,
      stacklevel=3,
    )
