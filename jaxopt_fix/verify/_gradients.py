"""The gradient battery: sequences fed, identically, to PyTorch and to JAX.

Each sequence is a function ``(rng, steps, size) -> float64 array (steps, size)`` drawn
with numpy from a fixed seed, so both frameworks see the same numbers (cast to the dtype
under test).
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
import types

import numpy as np

GradientSequence = Callable[[np.random.Generator, int, int], np.ndarray]


def _gaussian(rng: np.random.Generator, steps: int, size: int) -> np.ndarray:
  """Standard normal gradients."""
  return rng.standard_normal((steps, size))


def _student_t(rng: np.random.Generator, steps: int, size: int) -> np.ndarray:
  """Heavy-tailed gradients: Student-t with 1.5 degrees of freedom (infinite variance)."""
  return rng.standard_t(1.5, (steps, size))


def _sparse(rng: np.random.Generator, steps: int, size: int) -> np.ndarray:
  """Mostly zeros: each coordinate is non-zero with probability 5%."""
  return rng.standard_normal((steps, size)) * (rng.random((steps, size)) < 0.05)


def _scales(rng: np.random.Generator, steps: int, size: int) -> np.ndarray:
  """Normal gradients whose per-coordinate scale runs from 1e-8 to 1e4."""
  return rng.standard_normal((steps, size)) * np.logspace(-8, 4, size)


def _reddi_online(rng: np.random.Generator, steps: int, size: int) -> np.ndarray:
  """Reddi et al.'s online sequence: 1010 every 101st step (t % 101 == 1, 0-indexed), else -10."""
  del rng
  t = np.arange(steps)[:, None]
  return np.broadcast_to(np.where(t % 101 == 1, 1010.0, -10.0), (steps, size)).copy()


SEQUENCES: Mapping[str, GradientSequence] = types.MappingProxyType(
  {
    "gaussian": _gaussian,
    "student_t": _student_t,
    "sparse": _sparse,
    "scales": _scales,
    "reddi_online": _reddi_online,
  }
)
"""The built-in gradient battery, by name: ``gaussian`` (standard normal), ``student_t``
(heavy-tailed, 1.5 degrees of freedom), ``sparse`` (5% non-zero), ``scales`` (per-coordinate
scales from 1e-8 to 1e4) and ``reddi_online`` (Reddi et al.'s 1010 every 101st step, else -10)."""


def draw_gradients(name: str, steps: int, size: int) -> np.ndarray:
  """The battery's sequence ``name``, seeded by its name: every run draws the same numbers.

  Args:
    name: A key of :data:`SEQUENCES`.
    steps: The number of steps.
    size: The number of coordinates per step.

  Returns:
    A float64 array of shape ``(steps, size)``.

  Raises:
    ValueError: for a name not in :data:`SEQUENCES`.

  Examples:
    >>> from jaxopt_fix import verify
    >>> verify.draw_gradients("reddi_online", 3, 2)
    array([[ -10.,  -10.],
           [1010., 1010.],
           [ -10.,  -10.]])
  """
  if name not in SEQUENCES:
    raise ValueError(f"unknown gradient sequence {name!r}; the battery has {', '.join(SEQUENCES)}")
  seed = sum(name.encode())
  return SEQUENCES[name](np.random.default_rng(seed), steps, size)
