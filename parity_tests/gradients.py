"""The gradient sequences fed, identically, to PyTorch and to JAX.

Each sequence is a function ``(rng, steps, size) -> float64 array (steps, size)``
drawn with numpy from a fixed seed, so both frameworks see the same numbers
(cast to the dtype under test).
"""

from collections.abc import Callable

import numpy as np

GradientSequence = Callable[[np.random.Generator, int, int], np.ndarray]


def gaussian(rng: np.random.Generator, steps: int, size: int) -> np.ndarray:
  """Standard normal gradients."""
  return rng.standard_normal((steps, size))


def student_t(rng: np.random.Generator, steps: int, size: int) -> np.ndarray:
  """Heavy-tailed gradients: Student-t with 1.5 degrees of freedom (infinite variance)."""
  return rng.standard_t(1.5, (steps, size))


def sparse(rng: np.random.Generator, steps: int, size: int) -> np.ndarray:
  """Mostly zeros: each coordinate is non-zero with probability 5%."""
  return rng.standard_normal((steps, size)) * (rng.random((steps, size)) < 0.05)


def scales(rng: np.random.Generator, steps: int, size: int) -> np.ndarray:
  """Normal gradients whose per-coordinate scale runs from 1e-8 to 1e4."""
  return rng.standard_normal((steps, size)) * np.logspace(-8, 4, size)


def reddi_online(rng: np.random.Generator, steps: int, size: int) -> np.ndarray:
  """Reddi et al.'s online sequence: 1010 every 101st step (t % 101 == 1, 0-indexed), else -10."""
  del rng
  t = np.arange(steps)[:, None]
  return np.broadcast_to(np.where(t % 101 == 1, 1010.0, -10.0), (steps, size)).copy()


SEQUENCES: dict[str, GradientSequence] = {
  "gaussian": gaussian,
  "student_t": student_t,
  "sparse": sparse,
  "scales": scales,
  "reddi_online": reddi_online,
}


def draw(name: str, steps: int, size: int) -> np.ndarray:
  """The named sequence, seeded by its name so that every run draws the same numbers."""
  seed = sum(name.encode())
  return SEQUENCES[name](np.random.default_rng(seed), steps, size)
