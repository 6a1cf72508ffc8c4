r"""The online convex problem of Reddi, Kale & Kumar (ICLR 2018), §5, as a JAX simulation.

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

:func:`run_online` runs optax transformations on the problem inside a
``lax.scan`` over record points wrapping, per transformation, a ``lax.scan``
over steps, all in one compiled program, so memory is O(steps / record_every).
Within each record interval the regret is accumulated in the simulation dtype
as a double-word (compensated) sum, two TwoSums per step, so its accuracy does
not depend on the interval's length; the intervals are combined in float64 on
the host. What remains is the rounding of each term ``g * (x + 1)`` in float32:
over 1e7 steps the regret of the float32 trajectory is within about 4e-8
relative of the exact sum of its terms.

The stochastic problem (:func:`run_stochastic`) draws :math:`f_t(x) = 1010\,x`
with probability 0.01 and :math:`-10\,x` otherwise, from a ``jax.random`` key
per seed; several seeds run side by side under ``jax.vmap``.

A run can stop after any chunk and continue later bit for bit: ``on_chunk``
receives a :class:`Snapshot` of everything the run needs, and ``resume_from``
continues from one (:mod:`experiments.reddi.checkpoint` saves and loads them).

Example:
  >>> from experiments.reddi import problems
  >>> names = ("adam", "amsgrad")
  >>> txs = {name: problems.OPTIMIZERS[name](lr=1e-2, b1=0.9, b2=0.99) for name in names}
  >>> runs = problems.run_online(txs, steps=100_000, record_every=1000)
  >>> for name, run in runs.items():
  ...   print(f"{name}: x_T = {run.x_final:+.4f}, R_T/T = {run.avg_regret_final:.3f}")
  adam: x_T = +0.9572, R_T/T = 0.513
  amsgrad: x_T = -0.7995, R_T/T = 0.395
  >>> run.t[:3], run.x.shape
  (array([1000, 2000, 3000]), (100,))
"""

from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
import dataclasses
import functools
import inspect
import time
from typing import Any
from typing import NamedTuple
from typing import cast

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxopt_fix
from jaxopt_fix import torch_optim

PERIOD = 101
"""Every ``PERIOD``-th loss has the large gradient."""
LARGE_GRADIENT = 1010.0
SMALL_GRADIENT = -10.0
X_MIN, X_MAX = -1.0, 1.0
X_STAR = -1.0
"""The minimiser of the average loss over a period, hence of the regret."""
INDEXINGS = ("zero", "paper")
MAX_STEPS = 2**31 - 1
"""The step counter is an int32."""
DEFAULT_CHUNK_STEPS = 2**20
"""About this many steps run per call to the compiled function (one progress update)."""
STOCHASTIC_PROBABILITY = 0.01
"""The probability of the large gradient in the stochastic problem."""
MAX_SEED = 2**31 - 1
LR_SCHEDULES = ("constant", "sqrt")


def _check_indexing(indexing: str) -> None:
  if indexing not in INDEXINGS:
    raise ValueError(f"indexing must be one of {INDEXINGS}, got {indexing!r}.")


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
  _check_indexing(indexing)
  return _gradient(_online_is_large(step, indexing), dtype)


def _gradient(is_large: jax.Array, dtype: jax.typing.DTypeLike) -> jax.Array:
  return jnp.where(is_large, LARGE_GRADIENT, SMALL_GRADIENT).astype(dtype)


def _online_is_large(step: jax.typing.ArrayLike, indexing: str) -> jax.Array:
  large_at = 0 if indexing == "paper" else 1
  return jnp.asarray(step, jnp.int32) % PERIOD == large_at


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


def _stochastic_is_large(step: jax.typing.ArrayLike, key: jax.Array) -> jax.Array:
  if not jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    key = jax.random.wrap_key_data(key)
  return jax.random.bernoulli(
    jax.random.fold_in(key, jnp.asarray(step, jnp.int32)), STOCHASTIC_PROBABILITY
  )


def learning_rate(lr: float, schedule: str = "constant") -> optax.ScalarOrSchedule:
  """The learning rate ``lr`` (``"constant"``) or the paper's ``lr / sqrt(t)`` (``"sqrt"``).

  The schedule is evaluated at optax's update count ``c = t - 1``, so step
  ``t`` (from 1) uses :math:`\\alpha_t = \\alpha / \\sqrt t`.

  Args:
    lr: The learning rate :math:`\\alpha`.
    schedule: ``"constant"`` or ``"sqrt"``.

  Returns:
    ``lr`` itself, or an optax schedule (a function of the update count).

  Raises:
    ValueError: if ``schedule`` is unknown.

  Example:
    >>> schedule = learning_rate(0.1, "sqrt")
    >>> [round(float(schedule(c)), 4) for c in range(4)]
    [0.1, 0.0707, 0.0577, 0.05]
  """
  if schedule not in LR_SCHEDULES:
    raise ValueError(f"schedule must be one of {LR_SCHEDULES}, got {schedule!r}.")
  if schedule == "constant":
    return lr
  return lambda count: lr / jnp.sqrt(count + 1)


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


def _two_sum(a: jax.Array, b: jax.Array) -> tuple[jax.Array, jax.Array]:
  """Knuth's TwoSum: ``s = fl(a + b)`` and the exact rounding error ``a + b - s``."""
  s = a + b
  b_virtual = s - a
  return s, (a - (s - b_virtual)) + (b - b_virtual)


Records = tuple[jax.Array, jax.Array, jax.Array]
"""Per record point and optimizer: the iterate, and the interval's regret as a double word."""


DRAW_BLOCK = 2**16
"""The losses are drawn this many steps at a time, vectorized, and shared by the optimizers.

It bounds the memory the draws take besides the records: one block of booleans per seed.
"""

Draws = Callable[[jax.Array, int, Any], jax.Array]
"""``(first_step, length, key)`` -> which of the ``length`` steps from ``first_step`` have the
large gradient."""


def _make_chunk(
  txs: Sequence[optax.GradientTransformation],
  record_every: int,
  num_records: int,
  draws: Draws,
) -> Callable[[tuple[OnlineState, ...], Any], tuple[tuple[OnlineState, ...], Records]]:
  """A function running ``num_records * record_every`` steps of every optimizer from their states.

  ``draws(first_step, length, key)`` tells which of ``length`` consecutive
  0-based steps have the large gradient; ``key`` is passed through unchanged
  (``None`` for the online problem). The function returns the final states and, per
  record point and optimizer (the last axis), the iterate after the interval
  and the interval's regret as a double word ``(total, compensation)`` (its
  value is ``total + compensation``, taken in float64 on the host).

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
    g = _gradient(is_large, x.dtype)
    term = g * (x - X_STAR)  # f_s(x_s) - f_s(x*), with x_s before the update.
    # A double-word sum: `total + compensation` is the running sum to about
    # twice the dtype's precision, whatever the interval's length.
    total, error = _two_sum(total, term)
    total, compensation = _two_sum(total, compensation + error)
    updates, opt_state = tx.update(g, opt_state, x)
    x = jnp.clip(cast(jax.Array, optax.apply_updates(x, updates)), X_MIN, X_MAX)
    return (x, opt_state, total, compensation), None

  def run_block(carries, first_step, length, key):
    is_large = draws(first_step, length, key)
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


@dataclasses.dataclass(frozen=True)
class Snapshot:
  """Everything a run needs to continue after a chunk: what a checkpoint holds.

  The record arrays have their final length from the start, and only the first
  ``records_done`` entries are meaningful (the rest are NaN). During a run's
  ``on_chunk`` callback they are the run's own buffers: copy them to keep them.

  Attributes:
    state: The simulation's carry, one :class:`OnlineState` per optimizer (batched
      over seeds for the stochastic problem).
    x: The iterate at each record point, in the simulation dtype, shape
      ``(num_records, optimizers)`` or ``(num_records, seeds, optimizers)``.
    total: Each record interval's regret, the high word of a double word.
    compensation: The low word: an interval's regret is ``total + compensation``.
    key: The raw ``uint32`` key data, shape ``(seeds, 2)``, for the stochastic
      problem; ``None`` for the online problem.
    record_every: The number of steps between record points.
    records_done: The number of record points reached.
    run_seconds: Wall time of the simulation so far, compilation excluded.
  """

  state: tuple[OnlineState, ...]
  x: np.ndarray
  total: np.ndarray
  compensation: np.ndarray
  key: np.ndarray | None
  record_every: int
  records_done: int
  run_seconds: float

  def tree(self) -> dict[str, Any]:
    """The arrays of the snapshot, as a pytree (``key`` only when there is one)."""
    tree = {
      "state": self.state,
      "x": self.x,
      "total": self.total,
      "compensation": self.compensation,
    }
    if self.key is not None:
      tree["key"] = self.key
    return tree

  def replace_tree(
    self, tree: Mapping[str, Any], records_done: int, run_seconds: float
  ) -> "Snapshot":
    """A snapshot with the arrays of ``tree`` (as from :meth:`tree`) and these counters."""
    return Snapshot(
      state=tree["state"],
      x=tree["x"],
      total=tree["total"],
      compensation=tree["compensation"],
      key=tree.get("key"),
      record_every=self.record_every,
      records_done=records_done,
      run_seconds=run_seconds,
    )


def _stochastic_keys(seed: int, seeds: int) -> np.ndarray:
  """The raw keys of seeds ``seed, seed + 1, ..., seed + seeds - 1``, shape ``(seeds, 2)``."""
  return np.stack([np.asarray(jax.random.key_data(jax.random.key(seed + i))) for i in range(seeds)])


def _check_optimizers(txs: Mapping[str, optax.GradientTransformation]) -> None:
  if not txs:
    raise ValueError("txs must name at least one transformation.")


def initial_snapshot(
  txs: Mapping[str, optax.GradientTransformation],
  steps: int,
  record_every: int,
  dtype: jax.typing.DTypeLike = jnp.float32,
  *,
  seed: int | None = None,
  seeds: int = 1,
) -> Snapshot:
  """The snapshot at step 0 (also the template a checkpoint is checked against).

  Args:
    txs: The transformations, by name (the names do not enter the snapshot).
    steps: See :func:`run_online`.
    record_every: See :func:`run_online`.
    dtype: See :func:`run_online`.
    seed: ``None`` for the online problem; for the stochastic problem, the
      first seed.
    seeds: The number of seeds of the stochastic problem.

  Returns:
    The snapshot with no record point done.

  Raises:
    ValueError: if an argument is out of range.
  """
  _check_optimizers(txs)
  dtype = _check_run_arguments(steps, record_every, dtype)
  num_records = steps // record_every
  if seed is None:
    state = tuple(init_online(tx, dtype) for tx in txs.values())
    key, batch = None, ()
  else:
    if seeds < 1 or not 0 <= seed <= MAX_SEED - seeds + 1:
      raise ValueError(
        f"seeds must be >= 1 and seed..seed+seeds-1 in [0, {MAX_SEED}], got {seed}, {seeds}."
      )
    state = tuple(
      jax.vmap(lambda _, tx=tx: init_online(tx, dtype))(jnp.arange(seeds)) for tx in txs.values()
    )
    key, batch = _stochastic_keys(seed, seeds), (seeds,)
  nan = np.full((num_records, *batch, len(txs)), np.nan, dtype)
  return Snapshot(
    state, nan, nan.copy(), nan.copy(), key, record_every, records_done=0, run_seconds=0.0
  )


@dataclasses.dataclass(frozen=True)
class OnlineRun:
  """The trajectory of one optimizer on a problem, at the record points.

  For the stochastic problem every array has a second axis, over the seeds,
  and the ``*_final`` properties are means over the seeds.

  Attributes:
    t: int64 array, the number of steps taken at each record point
      (``record_every, 2 * record_every, ..., steps``).
    x: float64 array, the iterate :math:`x_t` after ``t`` steps (exactly the
      simulation's value, converted).
    regret: float64 array, the regret :math:`R_t`.
    compile_seconds: Wall time spent tracing and compiling the program that
      ran this optimizer and the others run with it.
    run_seconds: Wall time of that program's simulation proper, compilation
      excluded (including the time before a resume): all the optimizers run
      together, so they share it.
    state: The final :class:`OnlineState` (to continue the run).
  """

  t: np.ndarray
  x: np.ndarray
  regret: np.ndarray
  compile_seconds: float
  run_seconds: float
  state: OnlineState

  @property
  def avg_regret(self) -> np.ndarray:
    """The average regret :math:`R_t / t` at each record point."""
    return self.regret / self.t.reshape((-1,) + (1,) * (self.regret.ndim - 1))

  @property
  def x_final(self) -> float:
    """The last iterate (the mean over seeds)."""
    return float(np.mean(self.x[-1]))

  @property
  def avg_regret_final(self) -> float:
    """The average regret after the last step (the mean over seeds)."""
    return float(np.mean(self.avg_regret[-1]))


def _check_run_arguments(steps: int, record_every: int, dtype: Any) -> np.dtype:
  if not 0 < steps <= MAX_STEPS:
    raise ValueError(f"steps must be in [1, {MAX_STEPS}], got {steps}.")
  if record_every <= 0 or steps % record_every:
    raise ValueError(f"record_every must be positive and divide steps={steps}, got {record_every}.")
  dtype = np.dtype(dtype)
  if not jnp.issubdtype(dtype, jnp.floating):
    raise ValueError(f"dtype must be a float dtype, got {dtype}.")
  if jax.dtypes.canonicalize_dtype(dtype) != dtype:
    raise ValueError(f"dtype {dtype} needs x64: run under `with jax.enable_x64(True):`.")
  return dtype


def _shape_and_dtype(leaf: Any) -> tuple[tuple[int, ...], np.dtype]:
  return np.shape(leaf), np.dtype(leaf.dtype if hasattr(leaf, "dtype") else np.result_type(leaf))


def check_snapshot(snapshot: Snapshot, template: Snapshot) -> None:
  """Raises ValueError unless ``snapshot`` can continue the run that ``template`` starts.

  The arrays must have the template's tree structure, shapes and dtypes, the
  keys must be the template's, and the step count must match the record points.

  Raises:
    ValueError: describing the first mismatch.
  """
  got, expected = (jax.tree.map(_shape_and_dtype, s.tree()) for s in (snapshot, template))
  if got != expected:
    raise ValueError("the snapshot's arrays do not match the run's (shapes, dtypes or structure).")
  got_key, expected_key = snapshot.key, template.key
  if got_key is None or expected_key is None:
    same_keys = got_key is expected_key
  else:
    same_keys = np.array_equal(got_key, expected_key)
  if not same_keys:
    raise ValueError("the snapshot's random keys are not the run's.")
  if snapshot.record_every != template.record_every:
    raise ValueError("the snapshot's record interval is not the run's.")
  if not 0 <= snapshot.records_done <= len(template.x):
    raise ValueError(f"records_done must be in [0, {len(template.x)}].")
  steps_done = snapshot.records_done * template.record_every
  if any(np.any(np.asarray(state.step) != steps_done) for state in snapshot.state):
    raise ValueError("the snapshot's step count does not match its record points.")


def _simulate(
  txs: Mapping[str, optax.GradientTransformation],
  steps: int,
  record_every: int,
  draws: Draws,
  template: Snapshot,
  chunk_steps: int,
  progress: Callable[[int], object] | None,
  resume_from: Snapshot | None,
  on_chunk: Callable[[Snapshot], object] | None,
) -> dict[str, OnlineRun]:
  """Runs the chunks of a run from ``resume_from`` (default: ``template``)."""
  snapshot = template if resume_from is None else resume_from
  check_snapshot(snapshot, template)
  num_records = steps // record_every
  records_per_chunk = min(num_records, max(1, chunk_steps // record_every))
  plan, done = [], snapshot.records_done
  while done < num_records:
    plan.append(min(records_per_chunk, num_records - done))
    done += plan[-1]

  key = None if snapshot.key is None else jnp.asarray(snapshot.key)

  def compiled_chunk(n: int):
    chunk = _make_chunk(tuple(txs.values()), record_every, n, draws)
    if key is not None:  # Batched over seeds, records first.
      chunk = jax.vmap(chunk, in_axes=(0, 0), out_axes=(0, 1))
    return jax.jit(chunk).lower(state, key).compile()

  state = jax.tree.map(jnp.asarray, snapshot.state)
  start = time.perf_counter()
  compiled = {n: compiled_chunk(n) for n in sorted(set(plan))}
  compile_seconds = time.perf_counter() - start

  x, total, compensation = (
    np.array(a, copy=True) for a in (snapshot.x, snapshot.total, snapshot.compensation)
  )
  done, run_seconds = snapshot.records_done, snapshot.run_seconds
  for n in plan:
    start = time.perf_counter()
    state, records = compiled[n](state, key)
    for buffer, record in zip((x, total, compensation), records, strict=True):
      buffer[done : done + n] = np.asarray(record)
    done += n
    run_seconds += time.perf_counter() - start
    if on_chunk is not None:
      on_chunk(
        Snapshot(state, x, total, compensation, snapshot.key, record_every, done, run_seconds)
      )
    if progress is not None:
      progress(n * record_every)

  t = np.arange(1, num_records + 1, dtype=np.int64) * record_every
  # Each interval's regret is the double word total + compensation.
  regret = np.cumsum(total.astype(np.float64) + compensation.astype(np.float64), axis=0)
  return {
    name: OnlineRun(
      t=t,
      x=x[..., i].astype(np.float64),
      regret=regret[..., i],
      compile_seconds=compile_seconds,
      run_seconds=run_seconds,
      state=state[i],
    )
    for i, name in enumerate(txs)
  }


def run_online(
  txs: Mapping[str, optax.GradientTransformation],
  steps: int,
  record_every: int,
  indexing: str = "zero",
  dtype: jax.typing.DTypeLike = jnp.float32,
  *,
  chunk_steps: int = DEFAULT_CHUNK_STEPS,
  progress: Callable[[int], object] | None = None,
  resume_from: Snapshot | None = None,
  on_chunk: Callable[[Snapshot], object] | None = None,
) -> dict[str, OnlineRun]:
  """Runs each of ``txs`` for ``steps`` steps of the online problem from ``x_0 = 0``.

  Each step takes the gradient of the current loss at the current iterate,
  applies the transformation's update and clips the iterate to [-1, 1]. All
  the transformations run in one compiled program, in chunks of about
  ``chunk_steps`` steps (a whole number of record intervals); at most two
  chunk lengths are compiled. Each transformation's trajectory is bit for bit
  the one it has when run alone, and a run resumed from a snapshot taken after
  a chunk gives bit for bit the results of a run that was never stopped.

  Args:
    txs: Optax gradient transformations (including the learning rate), by name.
    steps: The number of steps T, in [1, 2**31 - 1].
    record_every: Record ``x_t`` and ``R_t`` every this many steps; must divide
      ``steps``. Memory is O(steps / record_every).
    indexing: ``"zero"`` or ``"paper"``, see :func:`online_gradient`.
    dtype: The dtype of the iterate, the gradients and the optimizer's
      arithmetic; float64 requires ``jax.enable_x64``.
    chunk_steps: About how many steps run per call of the compiled function.
    progress: Called with the number of steps done after each chunk (e.g. a
      ``tqdm`` bar's ``update``).
    resume_from: Continue from this snapshot (one passed to ``on_chunk`` by a
      run with the same arguments, or loaded from its checkpoint).
    on_chunk: Called with the :class:`Snapshot` after each chunk (e.g. to
      save a checkpoint).

  Returns:
    The :class:`OnlineRun` of each transformation, by the same names in the
    same order, with ``steps // record_every`` record points.

  Raises:
    ValueError: if an argument is out of range, or ``resume_from`` does not
      fit the run.
  """
  _check_indexing(indexing)
  template = initial_snapshot(txs, steps, record_every, dtype)

  def draws(first_step, length, _):
    return _online_is_large(first_step + jnp.arange(length, dtype=jnp.int32), indexing)

  return _simulate(
    txs,
    steps,
    record_every,
    draws,
    template,
    chunk_steps,
    progress,
    resume_from,
    on_chunk,
  )


def run_stochastic(
  txs: Mapping[str, optax.GradientTransformation],
  steps: int,
  record_every: int,
  seed: int = 0,
  seeds: int = 1,
  dtype: jax.typing.DTypeLike = jnp.float32,
  *,
  chunk_steps: int = DEFAULT_CHUNK_STEPS,
  progress: Callable[[int], object] | None = None,
  resume_from: Snapshot | None = None,
  on_chunk: Callable[[Snapshot], object] | None = None,
) -> dict[str, OnlineRun]:
  """Runs each of ``txs`` on the stochastic problem, for seeds ``seed, ..., seed + seeds - 1``.

  The gradient at each step is 1010 with probability 0.01, else -10 (see
  :func:`stochastic_gradient`), so the expected loss is :math:`0.2 x` with
  optimum :math:`x^* = -1`. The seeds run side by side (``jax.vmap``), each
  with its own key ``jax.random.key(seed + i)``, so a seed's trajectory does
  not depend on which other seeds or transformations run with it, and all
  transformations see the same draws. The regret is taken against
  :math:`x^* = -1` on the drawn losses.

  Args:
    txs: Optax gradient transformations (including the learning rate), by name.
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
    The :class:`OnlineRun` of each transformation, by the same names in the
    same order, with arrays of shape ``(steps // record_every, seeds)``.

  Raises:
    ValueError: if an argument is out of range, or ``resume_from`` does not
      fit the run.

  Example:
    >>> tx = OPTIMIZERS["adam"](lr=1e-2, b1=0.9, b2=0.99)
    >>> runs = run_stochastic({"adam": tx}, steps=10_000, record_every=1000, seed=0, seeds=3)
    >>> runs["adam"].x.shape
    (10, 3)
  """
  template = initial_snapshot(txs, steps, record_every, dtype, seed=seed, seeds=seeds)

  def draws(first_step, length, key):
    indices = first_step + jnp.arange(length, dtype=jnp.int32)
    return jax.vmap(lambda step: _stochastic_is_large(step, key))(indices)

  return _simulate(
    txs,
    steps,
    record_every,
    draws,
    template,
    chunk_steps,
    progress,
    resume_from,
    on_chunk,
  )


@dataclasses.dataclass(frozen=True)
class Optimizer:
  """A named factory ``(lr, b1, b2, eps) -> optax.GradientTransformation``.

  Attributes:
    variant: The semantics, as in the ``variant`` argument of the jaxopt_fix
      optimizers (``"optax"`` for ``optax.adam``).
    default_eps: The eps used when the caller passes ``None``.
    make: The factory proper, taking all four hyperparameters.
  """

  variant: str
  default_eps: float
  make: Callable[[optax.ScalarOrSchedule, float, float, float], optax.GradientTransformation]

  def __call__(
    self, lr: optax.ScalarOrSchedule, b1: float = 0.9, b2: float = 0.99, eps: float | None = None
  ) -> optax.GradientTransformation:
    """The transformation with these hyperparameters (``eps=None``: the default)."""
    return self.make(lr, b1, b2, self.default_eps if eps is None else eps)


def _adam(
  lr: optax.ScalarOrSchedule, b1: float, b2: float, eps: float
) -> optax.GradientTransformation:
  return optax.adam(lr, b1=b1, b2=b2, eps=eps)


def _amsgrad(variant: jaxopt_fix.AmsgradVariant) -> Optimizer:
  def make(
    lr: optax.ScalarOrSchedule, b1: float, b2: float, eps: float
  ) -> optax.GradientTransformation:
    return jaxopt_fix.amsgrad(lr, b1=b1, b2=b2, eps=eps, variant=variant)

  return Optimizer(variant=variant, default_eps=1e-8, make=make)


def _yogi(variant: jaxopt_fix.YogiVariant) -> Optimizer:
  def make(
    lr: optax.ScalarOrSchedule, b1: float, b2: float, eps: float
  ) -> optax.GradientTransformation:
    return jaxopt_fix.yogi(lr, b1=b1, b2=b2, eps=eps, variant=variant)

  return Optimizer(variant=variant, default_eps=1e-3, make=make)


OPTIMIZERS: Mapping[str, Optimizer] = {
  "adam": Optimizer(variant="optax", default_eps=1e-8, make=_adam),
  "amsgrad": _amsgrad("torch"),
  "amsgrad_paper": _amsgrad("paper"),
  "amsgrad_optax": _amsgrad("optax"),
  "yogi": _yogi("torch_optimizer"),
  "yogi_tfa": _yogi("tfa"),
  "yogi_d2l": _yogi("d2l"),
  "yogi_paper": _yogi("paper"),
}
"""The optimizers of the experiments, by name; each is called as ``(lr, b1, b2, eps)``."""

TORCH_OPTIM_PREFIX = "torch_optim."
"""Names ``torch_optim.<twin>`` run any :mod:`jaxopt_fix.torch_optim` twin."""


def torch_optim_names() -> list[str]:
  """``torch_optim.<twin>`` for every optimizer twin (not the interop helpers)."""
  twins = []
  for name in torch_optim.__all__:
    factory = getattr(torch_optim, name)
    if inspect.isfunction(factory) and "lr" in inspect.signature(factory).parameters:
      twins.append(TORCH_OPTIM_PREFIX + name)
  return twins


def _torch_optim(name: str) -> Optimizer:
  """A twin as an :class:`Optimizer`: ``lr``, and ``betas``/``eps`` where the twin takes them."""
  factory = getattr(torch_optim, name)
  params = inspect.signature(factory).parameters
  eps_default = params["eps"].default if "eps" in params else None
  takes_eps = isinstance(eps_default, float)

  def make(
    lr: optax.ScalarOrSchedule, b1: float, b2: float, eps: float
  ) -> optax.GradientTransformation:
    kwargs: dict[str, Any] = {"lr": lr}
    if "betas" in params:
      kwargs["betas"] = (b1, b2)
    if takes_eps:
      kwargs["eps"] = eps
    return factory(**kwargs)

  return Optimizer(variant="torch", default_eps=eps_default if takes_eps else 0.0, make=make)


def get_optimizer(name: str) -> Optimizer:
  """The optimizer called ``name``: a key of :data:`OPTIMIZERS` or ``torch_optim.<twin>``.

  Raises:
    KeyError: for any other name.
  """
  if name in OPTIMIZERS:
    return OPTIMIZERS[name]
  if name in torch_optim_names():
    return _torch_optim(name.removeprefix(TORCH_OPTIM_PREFIX))
  raise KeyError(name)
