"""Tests for the optimizers of :mod:`jaxopt_fix._src.alias`, in the style of optax's alias_test.

Every test is crossed with :data:`_OPTIMIZERS_UNDER_TEST`, one row per
(alias, variant) pair, so a new variant is covered by adding one row.
"""

from collections.abc import Callable
import functools
import inspect
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_fix

_OPTIMIZERS_UNDER_TEST: tuple[tuple[str, dict[str, Any]], ...] = (
  ("amsgrad", {"learning_rate": 1e-1, "variant": "torch"}),
  # The paper's exact algorithm is eps=0, which divides 0 by 0 in a
  # coordinate whose gradients have all been zero; eps > 0 avoids that.
  ("amsgrad", {"learning_rate": 1e-1, "variant": "paper", "eps": 1e-8}),
  ("amsgrad", {"learning_rate": 1e-1, "variant": "optax"}),
  ("yogi", {"learning_rate": 1e-1, "variant": "torch_optimizer"}),
  ("yogi", {"learning_rate": 1e-1, "variant": "tfa"}),
  ("yogi", {"learning_rate": 1e-1, "variant": "d2l"}),
  ("yogi", {"learning_rate": 1e-1, "variant": "paper"}),
)

_IDS = [f"{name}-{kwargs['variant']}" for name, kwargs in _OPTIMIZERS_UNDER_TEST]

parametrize_optimizers = pytest.mark.parametrize(
  ("opt_name", "opt_kwargs"), _OPTIMIZERS_UNDER_TEST, ids=_IDS
)

_FLOAT_DTYPES = {
  "float32": jnp.float32,
  "bfloat16": jnp.bfloat16,
  "float64": jnp.float64,
}


def _make(opt_name: str, opt_kwargs: dict[str, Any], **overrides: Any):
  factory: Callable[..., optax.GradientTransformationExtraArgs] = getattr(jaxopt_fix, opt_name)
  return factory(**{**opt_kwargs, **overrides})


def _random_grads(num_steps: int, size: int, seed: int = 0, dtype=np.float32) -> np.ndarray:
  """Gradients bounded away from zero, so that relative comparisons are meaningful."""
  rng = np.random.default_rng(seed)
  magnitude = rng.uniform(0.1, 2.0, size=(num_steps, size))
  sign = rng.choice([-1.0, 1.0], size=(num_steps, size))
  return (sign * magnitude).astype(dtype)


def _leaf_dtypes(tree: Any) -> list[Any]:
  return [jnp.asarray(leaf).dtype for leaf in jax.tree.leaves(tree)]


def _run_scan(tx, loss: Callable[[jax.Array], jax.Array], params: jax.Array, num_steps: int):
  """Minimises ``loss`` for ``num_steps`` steps of ``tx`` in a jitted ``lax.scan``."""

  @jax.jit
  def run(params):
    def step(carry, _):
      params, state = carry
      grads = jax.grad(loss)(params)
      updates, state = tx.update(grads, state, params)
      return (optax.apply_updates(params, updates), state), None

    (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), length=num_steps)
    return params

  return run(params)


def _parabola(x: jax.Array) -> jax.Array:
  return jnp.sum(jnp.square(x - jnp.array([1.0, -1.0, 1.0])))


def _rosenbrock(x: jax.Array) -> jax.Array:
  return jnp.sum(100.0 * jnp.square(x[1:] - x[:-1] ** 2) + jnp.square(1.0 - x[:-1]))


@parametrize_optimizers
def test_converges_on_parabola(opt_name, opt_kwargs):
  tx = _make(opt_name, opt_kwargs)
  params = _run_scan(tx, _parabola, jnp.array([-1.0, 10.0, 1.0]), num_steps=2000)
  assert params.dtype == jnp.float32
  np.testing.assert_allclose(params, [1.0, -1.0, 1.0], atol=1e-4)


@parametrize_optimizers
def test_converges_on_rosenbrock(opt_name, opt_kwargs):
  tx = _make(opt_name, opt_kwargs)
  # The "optax" AMSGrad variant is the slowest (its maximum keeps the huge
  # bias-corrected second moment of the first steps); 20000 steps bring every
  # variant within 2e-3 of the minimum at (1, 1) (the optax variant: 1.02e-3).
  params = _run_scan(tx, _rosenbrock, jnp.array([-1.2, 1.0]), num_steps=20000)
  np.testing.assert_allclose(params, [1.0, 1.0], atol=5e-3)
  assert _rosenbrock(params) < 1e-5


@parametrize_optimizers
def test_no_recompilation(opt_name, opt_kwargs):
  tx = _make(opt_name, opt_kwargs)
  # chex counts traces per function definition site, across parametrizations.
  chex.clear_trace_counter()

  @jax.jit
  @chex.assert_max_traces(n=1)
  def update(grads, state, params):
    return tx.update(grads, state, params)

  params = jnp.array([1.0, -2.0, 3.0])
  state = tx.init(params)
  updates, state = update(jnp.array([0.1, 0.2, -0.3]), state, params)
  params = optax.apply_updates(params, updates)
  # New arrays of the same shapes and dtypes, and the state that the jitted
  # update returned: a weak type or dtype that changed between init and update
  # would trigger a second trace here.
  updates, state = update(jnp.array([-0.5, 0.4, 0.3]), state, params)
  updates, state = update(jnp.array([0.7, -0.1, 0.2]), state, params)
  assert update._cache_size() == 1
  assert np.all(np.isfinite(updates))


@parametrize_optimizers
def test_eager_update_compiles_nothing_after_the_first(opt_name, opt_kwargs, compilations):
  # Un-jitted, a step dispatches programs that the first step compiled, as optax's do.
  tx = _make(opt_name, opt_kwargs)
  params = jnp.array([1.0, -2.0, 3.0])
  state = tx.init(params)
  updates, state = tx.update(jnp.array([0.1, 0.2, -0.3]), state, params)
  params = optax.apply_updates(params, updates)
  compilations.clear()
  for grads in ([-0.5, 0.4, 0.3], [0.7, -0.1, 0.2]):
    updates, state = tx.update(jnp.array(grads), state, params)
    params = optax.apply_updates(params, updates)
  assert compilations == []
  assert np.all(np.isfinite(params))


@parametrize_optimizers
def test_extra_args_are_accepted(opt_name, opt_kwargs):
  tx = _make(opt_name, opt_kwargs)
  assert isinstance(tx, optax.GradientTransformationExtraArgs)
  params = jnp.array([1.0, -2.0, 3.0])
  grads = jnp.array([0.1, 0.2, -0.3])
  state = tx.init(params)
  updates, new_state = tx.update(grads, state, params, unexpected_extra_arg=1)
  expected_updates, expected_state = tx.update(grads, state, params)
  chex.assert_trees_all_equal(updates, expected_updates)
  chex.assert_trees_all_equal(new_state, expected_state)


def _float32_rounded(factory: Callable[..., Any], kwargs: dict[str, Any]) -> dict[str, Any]:
  """All float arguments of ``factory(**kwargs)`` (defaults too) rounded to float32."""
  bound = inspect.signature(factory).bind(**kwargs)
  bound.apply_defaults()
  return {
    k: float(np.float32(v)) if isinstance(v, float) else v for k, v in bound.arguments.items()
  }


@pytest.mark.parametrize("static_variant", [True, False], ids=["static", "not_static"])
@parametrize_optimizers
def test_inject_hyperparams(opt_name, opt_kwargs, static_variant):
  factory = getattr(jaxopt_fix, opt_name)
  kwargs = {**opt_kwargs, "b1": 0.9}
  # optax.inject_hyperparams puts every argument that is not numeric or
  # callable (the string `variant`, `mu_dtype=None`) among the static ones by
  # itself, so `static_args=("variant",)` is optional; both must work.
  static_args = ("variant",) if static_variant else ()
  injected = optax.inject_hyperparams(factory, static_args=static_args)(**kwargs)
  # Under inject_hyperparams every float hyperparameter, defaults included,
  # becomes a float32 array: b1 is float32(0.9) = 0.89999998, and
  # 1 - float32(0.999) is 1.3e-5 away from 0.001 relative. The plain alias is
  # therefore given the same float32-rounded values as Python floats. What is
  # left is that the plain alias takes log(beta) in float64 on the host, the
  # injected one in float32 on the device (inside jit the hyperparameters are
  # tracers): a few float32 ulps (~1e-7) in the bias corrections, hence 1e-6.
  plain = factory(**_float32_rounded(factory, kwargs))

  params = jnp.array([1.0, -2.0, 3.0, 0.5])
  grads = _random_grads(5, 4, seed=1)
  plain_update = jax.jit(plain.update)
  injected_update = jax.jit(injected.update)
  plain_state = plain.init(params)
  injected_state = injected.init(params)
  assert "variant" not in injected_state.hyperparams
  np.testing.assert_array_equal(injected_state.hyperparams["b1"], np.float32(0.9))
  for g in grads:
    plain_updates, plain_state = plain_update(g, plain_state, params)
    injected_updates, injected_state = injected_update(g, injected_state, params)
    np.testing.assert_allclose(injected_updates, plain_updates, rtol=1e-6, atol=0)
  chex.assert_trees_all_close(injected_state.inner_state, plain_state, rtol=1e-6, atol=0)

  # The injected hyperparameters are live: a zero learning rate in the state
  # zeroes the next update.
  injected_state.hyperparams["learning_rate"] = jnp.zeros([], jnp.float32)
  updates, _ = injected_update(grads[0], injected_state, params)
  np.testing.assert_array_equal(updates, np.zeros(4, np.float32))


_DTYPE_CASES = [
  pytest.param("float32", False, id="float32"),
  pytest.param("bfloat16", False, id="bfloat16"),
  pytest.param("float64", True, id="float64-x64"),
  pytest.param("float32", True, id="float32-x64"),
  pytest.param("bfloat16", True, id="bfloat16-x64"),
]


def _check_dtypes_preserved(tx, dtype) -> None:
  params = jnp.array([1.0, -2.0, 3.0], dtype)
  grads = jnp.asarray(_random_grads(3, 3, seed=2), dtype)
  state = tx.init(params)
  init_dtypes = _leaf_dtypes(state)
  update = jax.jit(tx.update)
  for g in grads:
    updates, state = update(g, state, params)
    assert updates.dtype == dtype
    assert np.all(np.isfinite(np.asarray(updates, np.float64)))
    params = optax.apply_updates(params, updates)
    assert params.dtype == dtype
    assert _leaf_dtypes(state) == init_dtypes

  # lax.scan requires the carry's dtypes to be the same on output as on input.
  @jax.jit
  def run(params, grads):
    def step(carry, g):
      params, state = carry
      updates, state = tx.update(g, state, params)
      return (optax.apply_updates(params, updates), state), updates

    return jax.lax.scan(step, (params, tx.init(params)), grads)

  (params, state), all_updates = run(params, grads)
  assert params.dtype == dtype
  assert all_updates.dtype == dtype
  assert _leaf_dtypes(state) == init_dtypes


@pytest.mark.parametrize(("dtype_name", "x64"), _DTYPE_CASES)
@parametrize_optimizers
def test_dtype_preservation(opt_name, opt_kwargs, dtype_name, x64):
  with jax.enable_x64(x64):
    _check_dtypes_preserved(_make(opt_name, opt_kwargs), _FLOAT_DTYPES[dtype_name])


@pytest.mark.parametrize("mu_dtype_name", ["bfloat16", "float32"])
@pytest.mark.parametrize("params_dtype_name", ["bfloat16", "float32"])
@pytest.mark.parametrize("variant", jaxopt_fix.AMSGRAD_VARIANTS)
def test_amsgrad_mu_dtype(variant, params_dtype_name, mu_dtype_name):
  mu_dtype = _FLOAT_DTYPES[mu_dtype_name]
  params_dtype = _FLOAT_DTYPES[params_dtype_name]
  tx = jaxopt_fix.amsgrad(1e-1, variant=variant, mu_dtype=mu_dtype)
  state = tx.init(jnp.zeros(3, params_dtype))
  mu = optax.tree.get(state, "mu")
  nu = optax.tree.get(state, "nu")
  nu_max = optax.tree.get(state, "nu_max")
  assert mu.dtype == mu_dtype
  assert nu.dtype == params_dtype
  assert nu_max.dtype == params_dtype
  _check_dtypes_preserved(tx, params_dtype)


@parametrize_optimizers
def test_multi_steps(opt_name, opt_kwargs):
  tx = _make(opt_name, opt_kwargs)
  multi = optax.MultiSteps(tx, every_k_schedule=4)
  params = jnp.array([1.0, -2.0, 3.0])
  grads = jnp.asarray(_random_grads(4, 3, seed=3))
  state = multi.init(params)
  update = jax.jit(multi.update)
  for g in grads[:3]:
    updates, state = update(g, state, params)
    np.testing.assert_array_equal(updates, np.zeros(3, np.float32))
  updates, state = update(grads[3], state, params)
  expected, _ = tx.update(jnp.mean(grads, axis=0), tx.init(params), params)
  assert np.all(np.abs(updates) > 1e-3)
  # MultiSteps averages with a running mean, jnp.mean sums then divides: the
  # gradients differ by float32 rounding only.
  np.testing.assert_allclose(updates, expected, rtol=1e-5)


@parametrize_optimizers
def test_none_leaves(opt_name, opt_kwargs):
  tx = _make(opt_name, opt_kwargs)
  a = jnp.array([1.0, -2.0, 3.0])
  params = {"a": a, "b": None}
  grads = {"a": jnp.array([0.1, 0.2, -0.3]), "b": None}
  state = tx.init(params)
  updates, state = tx.update(grads, state, params)
  updates, state = tx.update(grads, state, params)
  assert updates["b"] is None
  assert optax.tree.get(state, "mu")["b"] is None

  # The "a" leaf moves exactly as it would without the None beside it.
  reference_tx = _make(opt_name, opt_kwargs)
  reference_state = reference_tx.init(a)
  reference, reference_state = reference_tx.update(grads["a"], reference_state, a)
  reference, reference_state = reference_tx.update(grads["a"], reference_state, a)
  np.testing.assert_allclose(updates["a"], reference, rtol=1e-6)


@parametrize_optimizers
def test_masked(opt_name, opt_kwargs):
  tx = optax.masked(_make(opt_name, opt_kwargs), {"a": True, "b": False})
  params = {"a": jnp.array([1.0, -2.0, 3.0]), "b": jnp.array([4.0, 5.0])}
  grads = {"a": jnp.array([0.1, 0.2, -0.3]), "b": jnp.array([0.7, -0.8])}
  state = tx.init(params)
  update = jax.jit(tx.update)
  updates, state = update(grads, state, params)
  updates, state = update(grads, state, params)
  # Masked-out leaves pass through untouched.
  np.testing.assert_array_equal(updates["b"], grads["b"])

  reference_tx = _make(opt_name, opt_kwargs)
  reference_state = reference_tx.init(params["a"])
  reference, reference_state = reference_tx.update(grads["a"], reference_state, params["a"])
  reference, reference_state = reference_tx.update(grads["a"], reference_state, params["a"])
  np.testing.assert_allclose(updates["a"], reference, rtol=1e-6)


# One sweep of four settings, as Python floats; the vmapped run gets them as
# float32 arrays.
_SWEEP = {
  "b1": [0.0, 0.5, 0.9, 0.95],
  "b2": [0.9, 0.99, 0.999, 0.99999],
  "eps": [1e-8, 1e-6, 1e-3, 1e-1],
  "learning_rate": [1e-3, 1e-2, 1e-1, 1.0],
}


def _float32_rounding(name: str, value: float) -> float:
  """The relative change that rounding ``value`` to float32 makes to the update.

  For a decay rate β the update depends on 1 - β, whose relative change is
  |fl(β) - β| / (1 - β): rounding 0.99999 to float32 moves 1 - β by 1.4e-3.
  """
  rounded = float(np.float32(value))
  error = abs(rounded - value) / value if value else 0.0
  if name in ("b1", "b2"):
    error = max(error, abs(rounded - value) / (1.0 - value))
  return error


@parametrize_optimizers
def test_vmap_over_hyperparameters(opt_name, opt_kwargs):
  grads = jnp.asarray(_random_grads(20, 5, seed=4))
  initial_params = jnp.linspace(-1.0, 1.0, 5)

  def run(hyperparams):
    # Built inside the vmapped function: every hyperparameter is a tracer, and
    # the constructor's range checks must let it through.
    tx = _make(opt_name, opt_kwargs, **hyperparams)

    def step(carry, g):
      params, state = carry
      updates, state = tx.update(g, state, params)
      return (optax.apply_updates(params, updates), state), updates

    (params, _), updates = jax.lax.scan(step, (initial_params, tx.init(initial_params)), grads)
    return params, updates

  swept_params, swept_updates = jax.jit(jax.vmap(run))(
    {k: jnp.asarray(v, jnp.float32) for k, v in _SWEEP.items()}
  )
  assert swept_updates.shape == (4, 20, 5)
  for i in range(4):
    # 1. Against the Python floats that are exactly the slice's float32
    # values: only the order and precision of intermediate operations differ
    # (the traced path takes log(beta) in float32 on the device rather than
    # float64 on the host; 1 - beta is exact in float32 for these betas). That
    # is at most a few float32 ulps; in practice the results are identical.
    same_values = {k: float(np.float32(v[i])) for k, v in _SWEEP.items()}
    params, updates = jax.jit(functools.partial(run, same_values))()
    np.testing.assert_allclose(swept_updates[i], updates, rtol=1e-6, atol=0)
    np.testing.assert_allclose(swept_params[i], params, rtol=1e-6, atol=1e-7)

    # 2. Against the intended Python floats (0.999, not float32(0.999)): now the
    # float32 rounding of the hyperparameters is part of the difference. The
    # updates (the gradients are fixed, so they do not depend on the params)
    # move by about that relative rounding; the factor 10 covers cancellation in
    # the first moment and 20 steps of accumulation, and 1e-6 a few ulps.
    python_values = {k: v[i] for k, v in _SWEEP.items()}
    _, updates = jax.jit(functools.partial(run, python_values))()
    rounding = max(_float32_rounding(k, v) for k, v in python_values.items())
    np.testing.assert_allclose(swept_updates[i], updates, rtol=10 * rounding + 1e-6, atol=0)
  # The sweep really changes the trajectory.
  assert not np.allclose(swept_params[0], swept_params[3], rtol=1e-3)


@parametrize_optimizers
def test_state_field_names(opt_name, opt_kwargs):
  tx = _make(opt_name, opt_kwargs)
  params = jnp.array([1.0, -2.0, 3.0])
  state = tx.init(params)
  _, state = tx.update(jnp.array([0.1, 0.2, -0.3]), state, params)
  fields = ("count", "mu", "nu", "nu_max") if opt_name == "amsgrad" else ("count", "mu", "nu")
  state_class = (
    jaxopt_fix.ScaleByAmsgradState if opt_name == "amsgrad" else jaxopt_fix.ScaleByYogiState
  )
  (inner,) = [
    n
    for n in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, state_class))
    if isinstance(n, state_class)
  ]
  assert inner._fields == fields
  for field in fields:
    chex.assert_trees_all_equal(optax.tree.get(state, field), getattr(inner, field))
  assert optax.tree.get(state, "count") == 1
