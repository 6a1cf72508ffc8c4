r"""The synthetic problems of Reddi, Kale & Kumar (ICLR 2018), §5, on which Adam fails.

On the feasible set :math:`F = [-1, 1]` the loss at step :math:`t` is linear,

.. math::

  f_t(x) = \begin{cases} 1010\,x & t \bmod 101 = 1, \\ -10\,x & \text{otherwise,}
  \end{cases}

so the optimum is :math:`x^* = -1`, while Adam with :math:`\beta_1 = 0.9, \beta_2
= 0.99` (the settings of the common reproductions) drifts to :math:`x = +1`.
Every step is followed by the projection onto :math:`F` (a clip), starting from
:math:`x_0 = 0`. The regret after :math:`T` steps is

.. math::

  R_T = \sum_{s=1}^{T} f_s(x_s) - f_s(x^*) = \sum_{s=1}^{T} g_s (x_s + 1),

where :math:`x_s` is the iterate *before* step :math:`s`'s update. Two
indexings are in use: ``"paper"`` counts steps from 1, so the large gradient
comes on the first step; ``"zero"`` (the default) is the 0-indexed loop of the
common reproductions, ``for t in range(T): g = 1010 if t % 101 == 1 else -10``,
with the large gradient on the second step.

The stochastic problem draws :math:`f_t(x) = 1010\,x` with probability 0.01 and
:math:`-10\,x` otherwise, from a ``jax.random`` key per seed; several seeds run
side by side under ``jax.vmap``.

:class:`Online` and :class:`Stochastic` describe the two problems to the engine
(:mod:`experiments.reddi.engine`, :mod:`experiments.reddi.simulation`);
:func:`run_online` and :func:`run_stochastic` run optax transformations on them,
all in one compiled program.

Example:
  >>> from experiments.reddi import optimizers
  >>> names = ("adam", "amsgrad")
  >>> txs = {name: optimizers.OPTIMIZERS[name](lr=1e-2, b1=0.9, b2=0.99) for name in names}
  >>> runs = run_online(txs, steps=100_000, record_every=1000)
  >>> for name, run in runs.items():
  ...   print(f"{name}: x_T = {run.x_final:+.4f}, R_T/T = {run.avg_regret_final:.3f}")
  adam: x_T = +0.9572, R_T/T = 0.513
  amsgrad: x_T = -0.7995, R_T/T = 0.395
  >>> run.t[:3], run.x.shape
  (array([1000, 2000, 3000]), (100,))
"""

from collections.abc import Callable
from collections.abc import Mapping
import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments import arguments
from experiments.reddi import simulation

PERIOD = 101
"""Every ``PERIOD``-th loss has the large gradient."""
LARGE_GRADIENT = 1010.0
SMALL_GRADIENT = -10.0
X_MIN, X_MAX = -1.0, 1.0
BOUNDS = (X_MIN, X_MAX)
"""The feasible set: every step ends with a clip to it."""
X_STAR = -1.0
"""The minimiser of the average loss over a period, hence of the regret."""
INDEXINGS = ("zero", "paper")
STOCHASTIC_PROBABILITY = 0.01
"""The probability of the large gradient in the stochastic problem."""
MAX_SEED = 2**31 - 1


def _gradient(is_large: jax.Array, dtype: jax.typing.DTypeLike) -> jax.Array:
  return jnp.where(is_large, LARGE_GRADIENT, SMALL_GRADIENT).astype(dtype)


def _online_is_large(step: jax.typing.ArrayLike, indexing: str) -> jax.Array:
  large_at = 0 if indexing == "paper" else 1
  return jnp.asarray(step, jnp.int32) % PERIOD == large_at


def _stochastic_is_large(step: jax.typing.ArrayLike, key: jax.Array) -> jax.Array:
  if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    key = jax.random.wrap_key_data(key)
  return jax.random.bernoulli(
    jax.random.fold_in(key, jnp.asarray(step, jnp.int32)), STOCHASTIC_PROBABILITY
  )


def online_gradient(
  step: jax.typing.ArrayLike, indexing: str = "zero", dtype: jax.typing.DTypeLike = jnp.float32
) -> jax.Array:
  """The gradient of the online loss at a 0-based loop index.

  Args:
    step: The 0-based loop index (an int32 array of any shape, or an int).
    indexing: ``"zero"`` (large gradient when ``step % 101 == 1``) or
      ``"paper"`` (time ``t = step + 1``, large gradient when ``t % 101 == 1``).
    dtype: The float dtype of the result.

  Returns:
    1010 or -10, elementwise, as ``dtype`` (float32 by default).

  Raises:
    ValueError: if ``indexing`` is unknown.

  Example:
    >>> import jax.numpy as jnp
    >>> online_gradient(jnp.arange(3, dtype=jnp.int32)).tolist()
    [-10.0, 1010.0, -10.0]
    >>> online_gradient(jnp.arange(3, dtype=jnp.int32), "paper").tolist()
    [1010.0, -10.0, -10.0]
  """
  arguments.one_of("indexing", indexing, INDEXINGS)
  return _gradient(_online_is_large(step, indexing), dtype)


def stochastic_gradient(
  step: jax.typing.ArrayLike, key: jax.Array, dtype: jax.typing.DTypeLike = jnp.float32
) -> jax.Array:
  """The gradient of the stochastic loss at a 0-based step, drawn from ``key``.

  The draw depends only on ``key`` and ``step`` (through
  ``jax.random.fold_in``), so a run is reproducible however it is chunked,
  resumed or batched.

  Args:
    step: The 0-based loop index, a scalar.
    key: A typed key (``jax.random.key(seed)``) or its raw ``uint32[2]`` data.
    dtype: The float dtype of the result.

  Returns:
    1010 with probability 0.01, else -10, as a scalar of ``dtype``.

  Example:
    >>> import jax
    >>> key = jax.random.key(0)
    >>> draws = jax.vmap(lambda s: stochastic_gradient(s, key))(jnp.arange(10_000))
    >>> int((draws == LARGE_GRADIENT).sum()), int((draws == SMALL_GRADIENT).sum())
    (107, 9893)
  """
  return _gradient(_stochastic_is_large(step, key), dtype)


def check_seeds(seed: int, seeds: int) -> None:
  """Raises ArgumentError unless ``seeds >= 1`` and seeds ``seed..seed+seeds-1`` are valid."""
  arguments.at_least("seeds", seeds, 1)
  if not 0 <= seed <= MAX_SEED - seeds + 1:
    raise arguments.ArgumentError(
      "seed", f"seed..seed+seeds-1 must be in [0, {MAX_SEED}], got {seed}..{seed + seeds - 1}"
    )


class _Reddi:
  """What the two problems share: the losses' values, the feasible set and the optimum."""

  @property
  def x_star(self) -> float:
    """The optimum, -1: the comparator of the regret."""
    return X_STAR

  @property
  def bounds(self) -> tuple[float, float]:
    """The feasible set, [-1, 1]."""
    return BOUNDS

  def gradient(self, is_large: jax.Array, dtype: jax.typing.DTypeLike) -> jax.Array:
    """1010 where ``is_large``, else -10, as ``dtype``."""
    return _gradient(is_large, dtype)


@dataclasses.dataclass(frozen=True)
class Online(_Reddi):
  """The online problem: the large gradient every 101st step, see :func:`online_gradient`."""

  indexing: str = "zero"
  name: ClassVar[str] = "online"

  def __post_init__(self):
    arguments.one_of("indexing", self.indexing, INDEXINGS)

  def draws(self, first_step: jax.Array, length: int, key: None) -> jax.Array:
    """Which of ``length`` steps from ``first_step`` have the large gradient."""
    del key  # Nothing random.
    return _online_is_large(first_step + jnp.arange(length, dtype=jnp.int32), self.indexing)

  def keys(self) -> None:
    """No random keys."""
    return None

  def settings(self) -> dict[str, object]:
    """What identifies the problem besides its name, as JSON."""
    return {"indexing": self.indexing}

  def describe(self) -> str:
    """The settings in words, for the line above the table."""
    return f"indexing '{self.indexing}'"

  def caption(self) -> str:
    """The settings in words, for a figure's title."""
    return self.describe()


@dataclasses.dataclass(frozen=True)
class Stochastic(_Reddi):
  """The stochastic problem, seeds ``seed, ..., seed + seeds - 1`` side by side.

  Each seed has its own key ``jax.random.key(seed + i)``, so a seed's
  trajectory does not depend on which other seeds or transformations run with
  it, and all transformations see the same draws.
  """

  seed: int = 0
  seeds: int = 1
  name: ClassVar[str] = "stochastic"

  def __post_init__(self):
    check_seeds(self.seed, self.seeds)

  def draws(self, first_step: jax.Array, length: int, key: jax.Array) -> jax.Array:
    """Which of ``length`` steps from ``first_step`` have the large gradient, drawn from ``key``."""
    indices = first_step + jnp.arange(length, dtype=jnp.int32)
    return jax.vmap(lambda step: _stochastic_is_large(step, key))(indices)

  def keys(self) -> np.ndarray:
    """The raw keys of the seeds, shape ``(seeds, 2)``."""
    return np.stack(
      [np.asarray(jax.random.key_data(jax.random.key(self.seed + i))) for i in range(self.seeds)]
    )

  def settings(self) -> dict[str, object]:
    """What identifies the problem besides its name, as JSON."""
    return {"seed": self.seed, "seeds": self.seeds}

  def describe(self) -> str:
    """The settings in words, for the line above the table."""
    return f"seeds {self.seed}..{self.seed + self.seeds - 1}"

  def caption(self) -> str:
    """The settings in words, for a figure's title."""
    return f"{self.seeds} seed{'s' * (self.seeds > 1)} from {self.seed}"


def run_online(
  txs: Mapping[str, optax.GradientTransformation],
  steps: int,
  record_every: int,
  indexing: str = "zero",
  dtype: jax.typing.DTypeLike = jnp.float32,
  *,
  chunk_steps: int = simulation.DEFAULT_CHUNK_STEPS,
  progress: Callable[[int], object] | None = None,
  resume_from: simulation.Snapshot | None = None,
  on_chunk: Callable[[simulation.Snapshot], object] | None = None,
) -> dict[str, simulation.OnlineRun]:
  """Runs each of ``txs`` for ``steps`` steps of the online problem from ``x_0 = 0``.

  Each step takes the gradient of the current loss at the current iterate,
  applies the transformation's update and clips the iterate to [-1, 1]; see
  :func:`experiments.reddi.simulation.simulate` for the arguments, the chunks
  and resuming.

  Args:
    txs: Optax gradient transformations (including the learning rate), by name.
    steps: The number of steps T, in [1, 2**31 - 1].
    record_every: Record ``x_t`` and ``R_t`` every this many steps; must divide ``steps``.
    indexing: ``"zero"`` or ``"paper"``, see :func:`online_gradient`.
    dtype: The simulation's dtype; float64 requires ``jax.enable_x64``.
    chunk_steps: About how many steps run per call of the compiled function.
    progress: Called with the number of steps done after each chunk.
    resume_from: Continue from this snapshot.
    on_chunk: Called with the snapshot after each chunk.

  Returns:
    The :class:`~experiments.reddi.simulation.OnlineRun` of each
    transformation, by the same names in the same order.

  Raises:
    ValueError: if an argument is out of range, or ``resume_from`` does not
      fit the run.
  """
  return simulation.simulate(
    txs,
    Online(indexing),
    steps,
    record_every,
    dtype,
    chunk_steps=chunk_steps,
    progress=progress,
    resume_from=resume_from,
    on_chunk=on_chunk,
  )


def run_stochastic(
  txs: Mapping[str, optax.GradientTransformation],
  steps: int,
  record_every: int,
  seed: int = 0,
  seeds: int = 1,
  dtype: jax.typing.DTypeLike = jnp.float32,
  *,
  chunk_steps: int = simulation.DEFAULT_CHUNK_STEPS,
  progress: Callable[[int], object] | None = None,
  resume_from: simulation.Snapshot | None = None,
  on_chunk: Callable[[simulation.Snapshot], object] | None = None,
) -> dict[str, simulation.OnlineRun]:
  """Runs each of ``txs`` on the stochastic problem, for seeds ``seed, ..., seed + seeds - 1``.

  The gradient at each step is 1010 with probability 0.01, else -10 (see
  :func:`stochastic_gradient`), so the expected loss is :math:`0.2 x` with
  optimum :math:`x^* = -1`; the regret is taken against :math:`x^* = -1` on
  the drawn losses. The seeds run side by side (:class:`Stochastic`).

  Args:
    txs: See :func:`run_online`.
    steps: See :func:`run_online`.
    record_every: See :func:`run_online`.
    seed: The first seed, >= 0.
    seeds: The number of seeds, >= 1.
    dtype: See :func:`run_online`.
    chunk_steps: See :func:`run_online`.
    progress: See :func:`run_online`.
    resume_from: See :func:`run_online`.
    on_chunk: See :func:`run_online`.

  Returns:
    The :class:`~experiments.reddi.simulation.OnlineRun` of each
    transformation, by the same names in the same order, with arrays of shape
    ``(steps // record_every, seeds)``.

  Raises:
    ValueError: if an argument is out of range, or ``resume_from`` does not
      fit the run.

  Example:
    >>> from experiments.reddi import optimizers
    >>> tx = optimizers.OPTIMIZERS["adam"](lr=1e-2, b1=0.9, b2=0.99)
    >>> runs = run_stochastic({"adam": tx}, steps=10_000, record_every=1000, seed=0, seeds=3)
    >>> runs["adam"].x.shape
    (10, 3)
  """
  return simulation.simulate(
    txs,
    Stochastic(seed, seeds),
    steps,
    record_every,
    dtype,
    chunk_steps=chunk_steps,
    progress=progress,
    resume_from=resume_from,
    on_chunk=on_chunk,
  )
