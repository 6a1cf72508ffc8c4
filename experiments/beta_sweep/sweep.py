r"""A (β1, β2) phase diagram of Adam-type optimizers on Reddi et al.'s online problem.

Every configuration of the grid runs the online problem of
:mod:`experiments.reddi.problems` (:math:`f_t(x) = 1010x` every 101st step,
:math:`-10x` otherwise, on :math:`[-1, 1]`, from :math:`x_0 = 0`) with the same
learning rate and eps. All configurations of all optimizers advance together in
ONE jit-compiled ``lax.scan`` over the steps: the hyperparameters β1 and β2 are
traced arrays of shape ``(n_configs,)``, each optimizer's transformation is
built inside a ``jax.vmap`` over them, and its state (iterate, moments, step
count, regret accumulators) has a leading config axis. That axis is sharded over
all devices (a one-dimensional :class:`jax.sharding.Mesh` named ``"config"`` over
:func:`jax.devices`), so the same code spreads over the GPUs of a multi-GPU
host and, after :func:`jax.distributed.initialize`, over the devices of every
host (each process holds its hosts' shards; the results are gathered to every
process at the end); the config count is padded to a multiple of the device
count (times :data:`SHARD_MULTIPLE`).

Each step is the engine's (:mod:`experiments.reddi.engine`): the projected
update and the regret as a double-word sum per record interval, the intervals
combined in float64 on the host, so a configuration of the sweep reproduces the
single run of :func:`experiments.reddi.problems.run_online` with the same β
values (rounded to float32, the dtype of the traced hyperparameters).

The grid (:func:`beta_grid`) is linear in β1 on [0, 0.99] and linear in
:math:`\log(1 - \beta_2)` for β2 in [0.5, 0.9999], so that 0.9, 0.99, 0.999 and
0.9999 are equally spaced.

Example:
  >>> from experiments.beta_sweep import sweep
  >>> b1, b2 = sweep.beta_grid(3)
  >>> b1.tolist(), [round(b, 6) for b in b2.tolist()]
  ([0.0, 0.495, 0.99], [0.5, 0.992929, 0.9999])
  >>> result = sweep.run_sweep(["adam", "amsgrad"], [0.9, 0.9], [0.99, 0.9999], steps=100_000)
  >>> for name in result.names:
  ...   x, r = result.x_final[name], result.avg_regret_final[name]
  ...   print(f"{name}: x_T = {x[0]:+.4f}, {x[1]:+.4f}; R_T/T = {r[0]:.3f}, {r[1]:.3f}")
  adam: x_T = +0.9572, -0.7165; R_T/T = 0.513, 0.487
  amsgrad: x_T = -0.7995, -0.9159; R_T/T = 0.395, 0.475
  >>> result.t[:3], result.x["adam"].shape
  (array([10000, 20000, 30000]), (10, 2))

At β = (0.9, 0.99) these are the values of the single runs in
:mod:`experiments.reddi.problems`; raising β2 to 0.9999 rescues Adam. The
heatmaps are drawn by :mod:`experiments.beta_sweep.figures`.
"""

from collections.abc import Callable
from collections.abc import Sequence
import dataclasses
import functools
import time
from typing import Any
from typing import cast

import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import numpy as np
import optax

from experiments import arguments
from experiments.reddi import engine
from experiments.reddi import optimizers
from experiments.reddi import problems
from experiments.reddi import simulation

CONFIG_AXIS = "config"
"""The name of the mesh axis the configurations are sharded over."""
B1_RANGE = (0.0, 0.99)
B2_RANGE = (0.5, 0.9999)
DEFAULT_OPTIMIZERS = ("adam", "amsgrad")
DTYPE = jnp.float32
"""The dtype of the simulation and of the traced β values."""
SHARD_MULTIPLE = 16
"""Each device's share of the configurations is padded to a multiple of this.

XLA:CPU compiles the elementwise step into SIMD loops (up to 16 float32 lanes)
followed by a scalar remainder loop, and the two can round differently (for
AMSGrad's bias corrections, by an ulp). Without this padding a configuration's
trajectory could depend on its position in its shard, hence on the number of
devices; with it, observed results are bitwise identical on 1 and 4 devices.
"""

Maker = Callable[[jax.Array, jax.Array], optax.GradientTransformation]


def beta_grid(
  n: int,
  b1_range: tuple[float, float] = B1_RANGE,
  b2_range: tuple[float, float] = B2_RANGE,
) -> tuple[np.ndarray, np.ndarray]:
  r"""The axes of the grid: β1 linear, β2 linear in :math:`\log(1 - \beta_2)`.

  Args:
    n: The number of values on each axis, >= 1 (1 gives the lower ends).
    b1_range: The first and last β1, in [0, 1).
    b2_range: The first and last β2, in [0, 1).

  Returns:
    ``(b1, b2)``, two float64 arrays of shape ``(n,)``, increasing if the
    ranges are.

  Raises:
    ValueError: if ``n < 1`` or a β is outside [0, 1).
  """
  if n < 1:
    raise ValueError(f"n must be >= 1, got {n}.")
  for beta in (*b1_range, *b2_range):
    if not 0 <= beta < 1:
      raise ValueError(f"every beta must be in [0, 1), got {beta}.")
  b1 = np.linspace(b1_range[0], b1_range[1], n)
  b2 = 1 - np.geomspace(1 - b2_range[0], 1 - b2_range[1], n)
  # Hit the ends exactly (geomspace's 1 - (1 - b) can be off by an ulp).
  b2[0] = b2_range[0]
  b2[-1] = b2_range[1]
  return b1, b2


def config_mesh(devices: Sequence[Any] | None = None) -> jax.sharding.Mesh:
  """A one-dimensional mesh named :data:`CONFIG_AXIS` over ``devices`` (default: all)."""
  devices = jax.devices() if devices is None else list(devices)
  return jax.sharding.Mesh(np.asarray(devices), (CONFIG_AXIS,))


@dataclasses.dataclass(frozen=True)
class SweepResult:
  """The trajectories of every configuration, at the record points.

  Attributes:
    names: The optimizers, in order.
    b1: float64 array ``(n_configs,)``: the β1 of each configuration as
      simulated (the requested value rounded to float32).
    b2: Likewise for β2.
    t: int64 array ``(n_records,)``: the number of steps at each record point.
    x: Per optimizer, a float64 array ``(n_records, n_configs)``: the iterate.
    regret: Per optimizer, a float64 array ``(n_records, n_configs)``: the
      regret :math:`R_t`.
    num_devices: The number of devices the configurations were sharded over.
    compile_seconds: Wall time spent tracing and compiling.
    run_seconds: Wall time of the simulation proper, compilation excluded.
  """

  names: tuple[str, ...]
  b1: np.ndarray
  b2: np.ndarray
  t: np.ndarray
  x: dict[str, np.ndarray]
  regret: dict[str, np.ndarray]
  num_devices: int
  compile_seconds: float
  run_seconds: float

  @property
  def x_final(self) -> dict[str, np.ndarray]:
    """Per optimizer, the last iterate :math:`x_T` of each configuration."""
    return {name: x[-1] for name, x in self.x.items()}

  @property
  def avg_regret_final(self) -> dict[str, np.ndarray]:
    """Per optimizer, the average regret :math:`R_T / T` of each configuration."""
    return {name: regret[-1] / self.t[-1] for name, regret in self.regret.items()}


def _maker(name: str, lr: float, eps: float | None) -> Maker:
  """``(b1, b2) -> transformation`` for one optimizer; b1 and b2 may be traced."""
  optimizer = optimizers.OPTIMIZERS[name]
  eps = optimizer.eps_or_default(eps)

  def make(b1: jax.Array, b2: jax.Array) -> optax.GradientTransformation:
    # The factories are annotated with floats but accept arrays and tracers.
    return optimizer.make(lr, cast(float, b1), cast(float, b2), eps)

  return make


def _init_one(make: Maker, b1: jax.Array, b2: jax.Array) -> tuple[jax.Array, optax.OptState]:
  state = engine.init_online(make(b1, b2), DTYPE)
  return state.x, state.opt_state


def _update_one(
  make: Maker, b1: jax.Array, b2: jax.Array, x: jax.Array, opt_state: optax.OptState, g: jax.Array
) -> tuple[jax.Array, optax.OptState]:
  """One step of one configuration: the engine's, as in ``run_online``."""
  return engine.projected_update(make(b1, b2), x, opt_state, g, problems.BOUNDS)


def _make_simulation(
  makers: Sequence[Maker], indexing: str, record_every: int, full_records: int, remainder: int
) -> Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array, jax.Array]]:
  """``(b1, b2) -> (x, total, compensation)``, each ``(n_optimizers, n_records, n_configs)``.

  ``total + compensation`` is the regret of each record interval as a double
  word, as in ``run_online``; the intervals are ``full_records`` intervals of
  ``record_every`` steps and, if ``remainder`` is positive, a last one of
  ``remainder`` steps.
  """

  def simulate(b1: jax.Array, b2: jax.Array):
    def one_step(carry, _):
      step, states = carry
      g = problems.online_gradient(step, indexing, DTYPE)  # The same for every configuration.
      new_states = []
      for make, (x, opt_state, total, compensation) in zip(makers, states, strict=True):
        total, compensation = engine.add_regret(total, compensation, g, x, problems.X_STAR)
        x, opt_state = jax.vmap(functools.partial(_update_one, make), in_axes=(0, 0, 0, 0, None))(
          b1, b2, x, opt_state, g
        )
        new_states.append((x, opt_state, total, compensation))
      return (step + 1, tuple(new_states)), None

    def one_record(carry, _, length):
      step, states = carry
      zero = jnp.zeros_like(b1, DTYPE)
      carry = (step, tuple((x, opt_state, zero, zero) for x, opt_state in states))
      (step, states), _ = jax.lax.scan(one_step, carry, length=length)
      out = tuple(
        jnp.stack(column) for column in zip(*((x, t, c) for x, _, t, c in states), strict=True)
      )
      return (step, tuple((x, opt_state) for x, opt_state, _, _ in states)), out

    states = tuple(jax.vmap(functools.partial(_init_one, make))(b1, b2) for make in makers)
    carry = (jnp.zeros((), jnp.int32), states)
    outs = []
    if full_records:
      carry, out = jax.lax.scan(
        functools.partial(one_record, length=record_every), carry, length=full_records
      )
      outs.append(out)
    if remainder:
      carry, out = one_record(carry, None, remainder)
      outs.append(tuple(o[None] for o in out))
    # (n_records, n_optimizers, n_configs) -> (n_optimizers, n_records, n_configs).
    x, total, compensation = (
      jnp.swapaxes(jnp.concatenate(parts), 0, 1) for parts in zip(*outs, strict=True)
    )
    return x, total, compensation

  return simulate


def _pad(values: np.ndarray, multiple: int) -> np.ndarray:
  """``values`` padded with copies of its last element to a length divisible by ``multiple``."""
  padding = -len(values) % multiple
  return np.concatenate([values, np.repeat(values[-1:], padding)])


def _shard(values: np.ndarray, sharding: jax.sharding.Sharding) -> jax.Array:
  """``values`` (the same in every process) as a global array; each process puts its shards."""
  return jax.make_array_from_callback(values.shape, sharding, lambda index: values[index])


def check_settings(steps: int, *, lr: float, eps: float | None, indexing: str) -> None:
  """Raises ArgumentError unless these arguments of :func:`run_sweep` are in range."""
  arguments.in_range("steps", steps, 1, simulation.MAX_STEPS)
  arguments.finite_nonnegative("lr", lr)
  arguments.finite_nonnegative("eps", eps)
  arguments.one_of("indexing", indexing, problems.INDEXINGS)


def run_sweep(
  names: Sequence[str],
  b1: Any,
  b2: Any,
  steps: int,
  *,
  lr: float = 1e-2,
  eps: float | None = None,
  indexing: str = "zero",
  record_every: int = 10_000,
  devices: Sequence[Any] | None = None,
) -> SweepResult:
  """Runs every optimizer at every ``(b1[i], b2[i])`` on the online problem, in one scan.

  Args:
    names: Optimizer names, from :data:`experiments.reddi.optimizers.OPTIMIZERS`
      (e.g. ``"adam"``, ``"amsgrad"``), at least one, no repeats.
    b1: The β1 of each configuration, a sequence of floats in [0, 1) (flatten
      a grid first, e.g. with ``np.meshgrid``).
    b2: The β2 of each configuration, of the same length.
    steps: The number of steps T, in [1, 2**31 - 1].
    lr: The constant learning rate, >= 0.
    eps: The optimizers' eps, >= 0; ``None`` for each optimizer's default.
    indexing: ``"zero"`` or ``"paper"``, see
      :func:`experiments.reddi.problems.online_gradient`.
    record_every: Record ``x_t`` and ``R_t`` every this many steps (and after
      the last step). Memory is O(n_configs * steps / record_every).
    devices: The devices (:class:`jax.Device`) to shard the configurations
      over (default: all of :func:`jax.devices`, the devices of every process
      after :func:`jax.distributed.initialize`; every process must call
      ``run_sweep`` with the same arguments).

  Returns:
    The :class:`SweepResult`.

  Raises:
    ValueError: if an argument is out of range.
  """
  names = tuple(names)
  arguments.distinct_names("names", names, optimizers.OPTIMIZERS)
  check_settings(steps, lr=lr, eps=eps, indexing=indexing)
  arguments.positive("record_every", record_every)
  b1_32 = np.asarray(b1, DTYPE)
  b2_32 = np.asarray(b2, DTYPE)
  if b1_32.ndim != 1 or b1_32.shape != b2_32.shape or not b1_32.size:
    raise ValueError(
      f"b1 and b2 must be non-empty 1-D and alike, got {b1_32.shape}, {b2_32.shape}."
    )
  for label, beta in (("b1", b1_32), ("b2", b2_32)):
    if not np.all((beta >= 0) & (beta < 1)):
      raise ValueError(f"every {label} must be in [0, 1) after rounding to float32.")

  mesh = config_mesh(devices)
  sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec(CONFIG_AXIS))
  out_sharding = jax.sharding.NamedSharding(
    mesh, jax.sharding.PartitionSpec(None, None, CONFIG_AXIS)
  )
  n_configs = b1_32.size
  multiple = mesh.size * SHARD_MULTIPLE
  b1_dev, b2_dev = (_shard(_pad(b, multiple), sharding) for b in (b1_32, b2_32))

  full_records, remainder = divmod(steps, record_every)
  simulate = _make_simulation(
    [_maker(name, lr, eps) for name in names], indexing, record_every, full_records, remainder
  )
  start = time.perf_counter()
  compiled = (
    jax.jit(simulate, in_shardings=(sharding, sharding), out_shardings=out_sharding)
    .lower(b1_dev, b2_dev)
    .compile()
  )
  compile_seconds = time.perf_counter() - start

  start = time.perf_counter()
  outputs = multihost_utils.process_allgather(compiled(b1_dev, b2_dev), tiled=True)
  x, total, compensation = (np.asarray(a)[..., :n_configs] for a in outputs)
  run_seconds = time.perf_counter() - start

  regret = engine.cumulative_regret(total, compensation, axis=1)
  t = np.arange(1, full_records + 1, dtype=np.int64) * record_every
  if remainder:
    t = np.append(t, steps)
  return SweepResult(
    names=names,
    b1=b1_32.astype(np.float64),
    b2=b2_32.astype(np.float64),
    t=t,
    x={name: x[i].astype(np.float64) for i, name in enumerate(names)},
    regret={name: regret[i] for i, name in enumerate(names)},
    num_devices=mesh.size,
    compile_seconds=compile_seconds,
    run_seconds=run_seconds,
  )
