"""Construction-time checks of hyperparameters.

Every check looks only at *concrete* values. A traced value (a hyperparameter
being swept under ``jax.vmap``, or injected by ``optax.inject_hyperparams``)
cannot be inspected without a host sync and passes through unchecked.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxopt_fix._src import numerics


def concrete(value: Any) -> np.ndarray | None:
  """``value`` as a float64 numpy array, or None if it is traced or callable."""
  if numerics.is_traced(value) or callable(value):
    return None
  return np.asarray(value, dtype=np.float64)


def check_unit_interval(name: str, value: Any) -> None:
  """Raises ValueError unless every element of ``value`` lies in [0, 1)."""
  array = concrete(value)
  if array is not None and not np.all((array >= 0.0) & (array < 1.0)):
    raise ValueError(f"{name} must be in [0, 1), got {value!r}.")


def check_non_negative(name: str, value: Any) -> None:
  """Raises ValueError unless every element of ``value`` is >= 0 (not NaN)."""
  array = concrete(value)
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
