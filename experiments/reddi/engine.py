r"""The simulation engine: optax transformations on online linear losses over an interval.

A problem (:class:`Problem`, e.g. :class:`experiments.reddi.problems.Online`) is
a sequence of losses :math:`f_t(x) = g_t x` on an interval, every :math:`g_t`
one of two values. One step of a transformation takes the gradient at the
iterate, applies the update and projects back onto the interval (a clip):
:func:`projected_update`. The regret against the comparator :math:`x^*`,

.. math::

  R_T = \sum_{s=1}^{T} f_s(x_s) - f_s(x^*) = \sum_{s=1}^{T} g_s (x_s - x^*),

with :math:`x_s` the iterate *before* step :math:`s`'s update, is accumulated
per record interval in the simulation dtype as a double-word (compensated)
sum, two TwoSums per step (:func:`add_regret`), so its accuracy does not depend
on the interval's length; the intervals are combined in float64 on the host
(:func:`cumulative_regret`). What remains is the rounding of each term
``g * (x - x*)`` in float32: over 1e7 steps the regret of the float32
trajectory is within about 4e-8 relative of the exact sum of its terms.

These three functions are the step of every simulation of the experiments:
the chunked runs of :mod:`experiments.reddi.simulation`, the vmapped sweep of
:mod:`experiments.beta_sweep.sweep` and the loops of :mod:`benchmarks`.
:func:`make_chunk` is the compiled program of the first: a ``lax.scan`` over
record points wrapping, per transformation, a ``lax.scan`` over steps.
"""

from collections.abc import Callable
from collections.abc import Sequence
import functools
from typing import Any
from typing import NamedTuple
from typing import Protocol
from typing import cast

import jax
import jax.numpy as jnp
import numpy as np
import optax

DRAW_BLOCK = 2**16
"""The losses are drawn this many steps at a time, vectorized, and shared by the optimizers.

It bounds the memory the draws take besides the records: one block of booleans per seed.
"""


class Problem(Protocol):
  """What the engine needs of a problem."""

  @property
  def x_star(self) -> float:
    """The comparator of the regret."""
    ...

  @property
  def bounds(self) -> tuple[float, float]:
    """The feasible interval: every step ends with a clip to it."""
    ...

  def gradient(self, is_large: jax.Array, dtype: jax.typing.DTypeLike) -> jax.Array:
    """The gradient of each step, from whether it has the large one."""
    ...

  def draws(self, first_step: jax.Array, length: int, key: Any) -> jax.Array:
    """Which of the ``length`` 0-based steps from ``first_step`` have the large gradient.

    ``key`` is one row of :meth:`keys` (under ``vmap``), or ``None``.
    """
    ...

  def keys(self) -> np.ndarray | None:
    """The raw random keys, one row per seed run side by side, or ``None`` (no randomness)."""
    ...


class OnlineState(NamedTuple):
  """The simulation's carry between record points (batched over seeds when stochastic)."""

  x: jax.Array  # shape=() (or (seeds,)), the current iterate.
  opt_state: optax.OptState
  step: jax.Array  # shape=() (or (seeds,)), dtype=int32: the number of steps taken so far.


def init_online(
  tx: optax.GradientTransformation, dtype: jax.typing.DTypeLike = jnp.float32
) -> OnlineState:
  """The state at step 0: ``x_0 = 0`` and ``tx``'s initial state."""
  x = jnp.zeros((), dtype)
  return OnlineState(x=x, opt_state=tx.init(x), step=jnp.zeros((), jnp.int32))


def two_sum(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Knuth's TwoSum: ``s = fl(a + b)`` and the exact rounding error ``a + b - s``."""
  s = a + b
  b_virtual = s - a
  return s, (a - (s - b_virtual)) + (b - b_virtual)


def add_regret(
  total: jax.Array, compensation: jax.Array, g: jax.Array, x: jax.Array, x_star: float
) -> tuple[jax.Array, jax.Array]:
  """The double word ``total + compensation`` plus the step's regret ``g * (x - x_star)``.

  ``x`` is the iterate before the step's update. ``total + compensation`` is
  the running sum to about twice the dtype's precision, whatever its length.
  """
  total, error = two_sum(total, g * (x - x_star))
  return two_sum(total, compensation + error)


def projected_update(
  tx: optax.GradientTransformation,
  x: jax.Array,
  opt_state: optax.OptState,
  g: jax.Array,
  bounds: tuple[float, float],
) -> tuple[jax.Array, optax.OptState]:
  """One step of ``tx`` from ``x`` with gradient ``g``, clipped to ``bounds``."""
  updates, opt_state = tx.update(g, opt_state, x)
  return jnp.clip(cast(jax.Array, optax.apply_updates(x, updates)), *bounds), opt_state


def cumulative_regret(total: np.ndarray, compensation: np.ndarray, axis: int = 0) -> np.ndarray:
  """The regret at each record point from the intervals' double words, summed in float64."""
  return np.cumsum(total.astype(np.float64) + compensation.astype(np.float64), axis=axis)


Records = tuple[jax.Array, jax.Array, jax.Array]
"""Per record point and optimizer: the iterate, and the interval's regret as a double word."""


def make_chunk(
  txs: Sequence[optax.GradientTransformation],
  problem: Problem,
  record_every: int,
  num_records: int,
) -> Callable[[tuple[OnlineState, ...], Any], tuple[tuple[OnlineState, ...], Records]]:
  """A function running ``num_records * record_every`` steps of every optimizer from their states.

  It takes the states and a key (a row of ``problem.keys()``, or ``None``) and
  returns the final states and, per record point and optimizer (the last
  axis), the iterate after the interval and the interval's regret as a double
  word ``(total, compensation)`` (its value is ``total + compensation``, taken
  in float64 on the host).

  The steps of a record interval run in blocks of at most :data:`DRAW_BLOCK`:
  the block's losses are drawn at once (a vectorized draw is several times
  faster than a random draw per step and optimizer) and then each optimizer
  runs its own inner ``lax.scan`` over them. The draws are booleans, and each
  step makes its gradient from its boolean: so XLA compiles the update for
  the two gradient values whatever the block, and the trajectory's bits do
  not depend on ``record_every`` (a loaded float gradient is contracted into
  FMAs differently from a select of constants). One scan per optimizer,
  not one scan carrying them all: XLA's CPU backend compiles a while loop into
  a single function only when its body touches less than 1 KiB
  (``xla_cpu_small_while_loop_byte_threshold``), and one loop carrying the
  eight optimizers of the CLI crosses it and runs 15× slower (17.8 s instead
  of 1.2 s for 10.1M steps), a kernel launch per scalar operation.
  """
  block = min(record_every, DRAW_BLOCK)
  full_blocks, last_block = divmod(record_every, block)

  def one_step(tx, carry, is_large):
    x, opt_state, total, compensation = carry
    g = problem.gradient(is_large, x.dtype)
    total, compensation = add_regret(total, compensation, g, x, problem.x_star)
    x, opt_state = projected_update(tx, x, opt_state, g, problem.bounds)
    return (x, opt_state, total, compensation), None

  def run_block(carries, first_step, length, key):
    is_large = problem.draws(first_step, length, key)
    return tuple(
      jax.lax.scan(functools.partial(one_step, tx), carry, is_large)[0]
      for tx, carry in zip(txs, carries, strict=True)
    )

  def one_record(states: tuple[OnlineState, ...], key):
    first_step = states[0].step
    zero = jnp.zeros((), states[0].x.dtype)
    carries = tuple((state.x, state.opt_state, zero, zero) for state in states)
    if full_blocks == 1:
      carries = run_block(carries, first_step, block, key)
    else:
      carries, _ = jax.lax.scan(
        lambda c, i: (run_block(c, first_step + i * block, block, key), None),
        carries,
        jnp.arange(full_blocks, dtype=jnp.int32),
      )
    if last_block:
      carries = run_block(carries, first_step + full_blocks * block, last_block, key)
    states = tuple(
      OnlineState(x, opt_state, state.step + record_every)
      for (x, opt_state, _, _), state in zip(carries, states, strict=True)
    )
    xs, _, totals, compensations = zip(*carries, strict=True)
    x, total, compensation = (jnp.stack(r, axis=-1) for r in (xs, totals, compensations))
    return states, (x, total, compensation)

  def chunk(states: tuple[OnlineState, ...], key):
    return jax.lax.scan(lambda s, _: one_record(s, key), states, length=num_records)

  return chunk
