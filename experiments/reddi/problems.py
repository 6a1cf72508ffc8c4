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

:func:`run_online` runs any optax transformation on the problem inside a
``lax.scan`` over record points wrapping a ``lax.scan`` over steps, so memory is
O(steps / record_every). Within each record interval the regret is accumulated
in the simulation dtype as a double-word (compensated) sum, two TwoSums per
step, so its accuracy does not depend on the interval's length; the intervals
are combined in float64 on the host. What remains is the rounding of each
term ``g * (x + 1)`` in float32: over 1e7 steps the regret of the float32
trajectory is within about 4e-8 relative of the exact sum of its terms.

Example:
  >>> from experiments.reddi import problems
  >>> for name in ("adam", "amsgrad"):
  ...   tx = problems.OPTIMIZERS[name](lr=1e-2, b1=0.9, b2=0.99)
  ...   run = problems.run_online(tx, steps=100_000, record_every=1000)
  ...   print(f"{name}: x_T = {run.x_final:+.4f}, R_T/T = {run.avg_regret_final:.3f}")
  adam: x_T = +0.9572, R_T/T = 0.513
  amsgrad: x_T = -0.7995, R_T/T = 0.395
  >>> run.t[:3], run.x.shape
  (array([1000, 2000, 3000]), (100,))
"""

from collections.abc import Callable
from collections.abc import Mapping
import dataclasses
import time
from typing import Any
from typing import NamedTuple
from typing import cast

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxopt_fix

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
  large_at = 0 if indexing == "paper" else 1
  step = jnp.asarray(step, jnp.int32)
  return jnp.where(step % PERIOD == large_at, LARGE_GRADIENT, SMALL_GRADIENT).astype(dtype)


class OnlineState(NamedTuple):
  """The simulation's carry between record points (what a checkpoint must hold)."""

  x: jax.Array  # shape=(), the current iterate.
  opt_state: optax.OptState
  step: jax.Array  # shape=(), dtype=int32: the number of steps taken so far.


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


def _make_chunk(
  tx: optax.GradientTransformation, record_every: int, num_records: int, indexing: str
) -> Callable[[OnlineState], tuple[OnlineState, tuple[jax.Array, jax.Array, jax.Array]]]:
  """A function running ``num_records * record_every`` steps from a state.

  It returns the final state and, per record point, the iterate after the
  interval and the interval's regret as a double word ``(total, compensation)``
  (its value is ``total + compensation``, taken in float64 on the host).
  """

  def one_step(carry, _):
    x, opt_state, step, total, compensation = carry
    g = online_gradient(step, indexing, x.dtype)
    term = g * (x - X_STAR)  # f_s(x_s) - f_s(x*), with x_s before the update.
    # A double-word sum: `total + compensation` is the running sum to about
    # twice the dtype's precision, whatever the interval's length.
    total, error = _two_sum(total, term)
    total, compensation = _two_sum(total, compensation + error)
    updates, opt_state = tx.update(g, opt_state, x)
    x = jnp.clip(cast(jax.Array, optax.apply_updates(x, updates)), X_MIN, X_MAX)
    return (x, opt_state, step + 1, total, compensation), None

  def one_record(state: OnlineState, _):
    zero = jnp.zeros((), state.x.dtype)
    carry = (state.x, state.opt_state, state.step, zero, zero)
    (x, opt_state, step, total, compensation), _ = jax.lax.scan(
      one_step, carry, length=record_every
    )
    return OnlineState(x, opt_state, step), (x, total, compensation)

  def chunk(state: OnlineState):
    return jax.lax.scan(one_record, state, length=num_records)

  return chunk


@dataclasses.dataclass(frozen=True)
class OnlineRun:
  """The trajectory of one optimizer on the online problem, at the record points.

  Attributes:
    t: int64 array, the number of steps taken at each record point
      (``record_every, 2 * record_every, ..., steps``).
    x: float64 array, the iterate :math:`x_t` after ``t`` steps (exactly the
      simulation's value, converted).
    regret: float64 array, the regret :math:`R_t`.
    compile_seconds: Wall time spent tracing and compiling.
    run_seconds: Wall time of the simulation proper, compilation excluded.
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
    return self.regret / self.t

  @property
  def x_final(self) -> float:
    """The last iterate."""
    return float(self.x[-1])

  @property
  def avg_regret_final(self) -> float:
    """The average regret after the last step."""
    return float(self.avg_regret[-1])


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


def run_online(
  tx: optax.GradientTransformation,
  steps: int,
  record_every: int,
  indexing: str = "zero",
  dtype: jax.typing.DTypeLike = jnp.float32,
  *,
  chunk_steps: int = DEFAULT_CHUNK_STEPS,
  progress: Callable[[int], object] | None = None,
) -> OnlineRun:
  """Runs ``tx`` for ``steps`` steps of the online problem from ``x_0 = 0``.

  Each step takes the gradient of the current loss at the current iterate,
  applies ``tx``'s update and clips the iterate to [-1, 1]. The steps run in
  compiled chunks of about ``chunk_steps`` steps (a whole number of record
  intervals); at most two chunk lengths are compiled.

  Args:
    tx: Any optax gradient transformation (including the learning rate).
    steps: The number of steps T, in [1, 2**31 - 1].
    record_every: Record ``x_t`` and ``R_t`` every this many steps; must divide
      ``steps``. Memory is O(steps / record_every).
    indexing: ``"zero"`` or ``"paper"``, see :func:`online_gradient`.
    dtype: The dtype of the iterate, the gradients and the optimizer's
      arithmetic; float64 requires ``jax.enable_x64``.
    chunk_steps: About how many steps run per call of the compiled function.
    progress: Called with the number of steps done after each chunk (e.g. a
      ``tqdm`` bar's ``update``).

  Returns:
    The :class:`OnlineRun` with ``steps // record_every`` record points.

  Raises:
    ValueError: if an argument is out of range.
  """
  _check_indexing(indexing)
  dtype = _check_run_arguments(steps, record_every, dtype)
  num_records = steps // record_every
  records_per_chunk = min(num_records, max(1, chunk_steps // record_every))
  full_chunks, remainder = divmod(num_records, records_per_chunk)
  plan = [records_per_chunk] * full_chunks + ([remainder] if remainder else [])

  state = init_online(tx, dtype)
  start = time.perf_counter()
  compiled = {
    n: jax.jit(_make_chunk(tx, record_every, n, indexing)).lower(state).compile()
    for n in sorted(set(plan))
  }
  compile_seconds = time.perf_counter() - start

  xs, totals, compensations = [], [], []
  start = time.perf_counter()
  for n in plan:
    state, (x, total, compensation) = compiled[n](state)
    xs.append(np.asarray(x))
    totals.append(np.asarray(total))
    compensations.append(np.asarray(compensation))
    if progress is not None:
      progress(n * record_every)
  run_seconds = time.perf_counter() - start

  # Each interval's regret is the double word total + compensation.
  intervals = np.concatenate(totals).astype(np.float64) + np.concatenate(compensations).astype(
    np.float64
  )
  return OnlineRun(
    t=np.arange(1, num_records + 1, dtype=np.int64) * record_every,
    x=np.concatenate(xs).astype(np.float64),
    regret=np.cumsum(intervals),
    compile_seconds=compile_seconds,
    run_seconds=run_seconds,
    state=state,
  )


def run_many(
  txs: Mapping[str, optax.GradientTransformation],
  steps: int,
  record_every: int,
  indexing: str = "zero",
  dtype: jax.typing.DTypeLike = jnp.float32,
  **kwargs: Any,
) -> dict[str, OnlineRun]:
  """Runs several transformations one after another; see :func:`run_online`.

  Args:
    txs: The transformations, by name.
    steps: See :func:`run_online`.
    record_every: See :func:`run_online`.
    indexing: See :func:`run_online`.
    dtype: See :func:`run_online`.
    **kwargs: Passed to :func:`run_online` (``chunk_steps``, ``progress``).

  Returns:
    The runs, by the same names, in the same order.
  """
  return {
    name: run_online(tx, steps, record_every, indexing, dtype, **kwargs) for name, tx in txs.items()
  }


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
  make: Callable[[float, float, float, float], optax.GradientTransformation]

  def __call__(
    self, lr: float, b1: float = 0.9, b2: float = 0.99, eps: float | None = None
  ) -> optax.GradientTransformation:
    """The transformation with these hyperparameters (``eps=None``: the default)."""
    return self.make(lr, b1, b2, self.default_eps if eps is None else eps)


def _adam(lr: float, b1: float, b2: float, eps: float) -> optax.GradientTransformation:
  return optax.adam(lr, b1=b1, b2=b2, eps=eps)


def _amsgrad(variant: str) -> Optimizer:
  def make(lr: float, b1: float, b2: float, eps: float) -> optax.GradientTransformation:
    return jaxopt_fix.amsgrad(lr, b1=b1, b2=b2, eps=eps, variant=variant)

  return Optimizer(variant=variant, default_eps=1e-8, make=make)


def _yogi(variant: str) -> Optimizer:
  def make(lr: float, b1: float, b2: float, eps: float) -> optax.GradientTransformation:
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
