"""Chunked, resumable runs of several transformations on a problem, in one compiled program.

:func:`simulate` runs :func:`experiments.reddi.engine.make_chunk` chunk after
chunk (about ``chunk_steps`` steps each), copying the records to the host
between chunks, so memory is O(steps / record_every) and a long run reports
progress. A run can stop after any chunk and continue later bit for bit:
``on_chunk`` receives a :class:`Snapshot` of everything the run needs, and
``resume_from`` continues from one (:mod:`experiments.reddi.checkpoint` saves
and loads them). Problems with random keys (the stochastic problem) run their
seeds side by side under ``jax.vmap``.

The problems' own entry points are :func:`experiments.reddi.problems.run_online`
and :func:`~experiments.reddi.problems.run_stochastic`.
"""

from collections.abc import Callable
from collections.abc import Mapping
import dataclasses
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from experiments import arguments
from experiments.reddi import engine

MAX_STEPS = 2**31 - 1
"""The step counter is an int32."""
DEFAULT_CHUNK_STEPS = 2**20
"""About this many steps run per call to the compiled function (one progress update)."""


@dataclasses.dataclass(frozen=True)
class Snapshot:
  """Everything a run needs to continue after a chunk: what a checkpoint holds.

  The record arrays have their final length from the start, and only the first
  ``records_done`` entries are meaningful (the rest are NaN). During a run's
  ``on_chunk`` callback they are the run's own buffers: copy them to keep them.

  Attributes:
    state: The simulation's carry, one :class:`~experiments.reddi.engine.OnlineState`
      per optimizer (batched over seeds for the stochastic problem).
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

  state: tuple[engine.OnlineState, ...]
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
    state: The final :class:`~experiments.reddi.engine.OnlineState` (to continue the run).
  """

  t: np.ndarray
  x: np.ndarray
  regret: np.ndarray
  compile_seconds: float
  run_seconds: float
  state: engine.OnlineState

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


def check_steps(steps: int, record_every: int) -> None:
  """Raises ArgumentError unless ``steps`` fits the step counter and ``record_every`` divides it."""
  arguments.in_range("steps", steps, 1, MAX_STEPS)
  if record_every <= 0 or steps % record_every:
    raise arguments.ArgumentError(
      "record_every", f"must be positive and divide steps ({steps}), got {record_every}"
    )


def _check_dtype(dtype: Any) -> np.dtype:
  dtype = np.dtype(dtype)
  if not jnp.issubdtype(dtype, jnp.floating):
    raise ValueError(f"dtype must be a float dtype, got {dtype}.")
  if jax.dtypes.canonicalize_dtype(dtype) != dtype:
    raise ValueError(f"dtype {dtype} needs x64: run under `with jax.enable_x64(True):`.")
  return dtype


def initial_snapshot(
  txs: Mapping[str, optax.GradientTransformation],
  problem: engine.Problem,
  steps: int,
  record_every: int,
  dtype: jax.typing.DTypeLike = jnp.float32,
) -> Snapshot:
  """The snapshot at step 0 (also the template a checkpoint is checked against).

  Args:
    txs: The transformations, by name (the names do not enter the snapshot).
    problem: The problem (its keys enter the snapshot).
    steps: See :func:`simulate`.
    record_every: See :func:`simulate`.
    dtype: See :func:`simulate`.

  Returns:
    The snapshot with no record point done.

  Raises:
    ValueError: if an argument is out of range.
  """
  if not txs:
    raise ValueError("txs must name at least one transformation.")
  check_steps(steps, record_every)
  dtype = _check_dtype(dtype)
  num_records = steps // record_every
  key = problem.keys()
  if key is None:
    state = tuple(engine.init_online(tx, dtype) for tx in txs.values())
    batch = ()
  else:
    seeds = jnp.arange(len(key))
    state = tuple(
      jax.vmap(lambda _, tx=tx: engine.init_online(tx, dtype))(seeds) for tx in txs.values()
    )
    batch = (len(key),)
  nan = np.full((num_records, *batch, len(txs)), np.nan, dtype)
  return Snapshot(
    state, nan, nan.copy(), nan.copy(), key, record_every, records_done=0, run_seconds=0.0
  )


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


def simulate(
  txs: Mapping[str, optax.GradientTransformation],
  problem: engine.Problem,
  steps: int,
  record_every: int,
  dtype: jax.typing.DTypeLike = jnp.float32,
  *,
  chunk_steps: int = DEFAULT_CHUNK_STEPS,
  progress: Callable[[int], object] | None = None,
  resume_from: Snapshot | None = None,
  on_chunk: Callable[[Snapshot], object] | None = None,
) -> dict[str, OnlineRun]:
  """Runs each of ``txs`` for ``steps`` steps of ``problem`` from ``x_0 = 0``.

  All the transformations run in one compiled program, in chunks of about
  ``chunk_steps`` steps (a whole number of record intervals); at most two
  chunk lengths are compiled. Each transformation's trajectory is bit for bit
  the one it has when run alone, and a run resumed from a snapshot taken after
  a chunk gives bit for bit the results of a run that was never stopped.

  Args:
    txs: Optax gradient transformations (including the learning rate), by name.
    problem: The problem; with keys, its seeds run side by side (``jax.vmap``).
    steps: The number of steps T, in [1, 2**31 - 1].
    record_every: Record ``x_t`` and ``R_t`` every this many steps; must divide
      ``steps``. Memory is O(steps / record_every).
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
  template = initial_snapshot(txs, problem, steps, record_every, dtype)
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
    chunk = engine.make_chunk(tuple(txs.values()), problem, record_every, n)
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
  regret = engine.cumulative_regret(total, compensation)
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
