"""Tests for :mod:`jaxopt_fix._src.transform`: exact semantics, numerics and validation."""

from collections.abc import Callable
import fractions
import itertools
import math
import re
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxopt_fix
from jaxopt_fix._src import transform

# Hyperparameters that make every choice of the variants visible within 20
# steps: b2 = 0.99 keeps the bias corrections far from 1, eps = 0.05 is of the
# order of sqrt(v) so that where it is added matters, and a non-negligible
# initial accumulator separates the Yogi initialisations.
_B1, _B2, _EPS = 0.9, 0.99, 0.05
_INITIAL_ACCUMULATOR = 0.01
_NUM_STEPS = 20
# float64 agreement: 1e-13 relative, with an absolute floor of 1e-15 (about 5
# ulps of 1) for the few elements of the O(1) updates in which the first moment
# nearly cancels (e.g. an update of 9e-4 made of O(1) terms) and whose relative
# error is therefore larger than their operands'.
_RTOL64, _ATOL64 = 1e-13, 1e-15


def _exact_one_minus_power(decay: float, count: int) -> float:
  """``1 - decay**count`` for the float64 ``decay``, correctly rounded."""
  return float(1 - fractions.Fraction(decay) ** count)


def _grads(seed: int = 0, num_steps: int = _NUM_STEPS, size: int = 6) -> np.ndarray:
  """float64 gradients with a large first step, so that the running maximum binds."""
  rng = np.random.default_rng(seed)
  grads = rng.normal(size=(num_steps, size))
  grads[0] *= 10.0
  return grads


def _amsgrad_reference(grads, variant, b1, b2, eps, eps_root):
  """AMSGrad in numpy float64, written from the docstring of :func:`jaxopt_fix.amsgrad`."""
  m = v = v_max = np.zeros_like(grads[0])
  updates = []
  for t, g in enumerate(grads, start=1):
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    bc1 = _exact_one_minus_power(b1, t)
    bc2 = _exact_one_minus_power(b2, t)
    if variant == "torch":  # maximum of the raw v, corrected afterwards
      v_max = np.maximum(v_max, v)
      updates.append(m / bc1 / (np.sqrt(v_max + eps_root * bc2) / np.sqrt(bc2) + eps))
    elif variant == "paper":  # no bias correction at all
      v_max = np.maximum(v_max, v)
      updates.append(m / (np.sqrt(v_max + eps_root) + eps))
    elif variant == "optax":  # maximum of the bias-corrected v
      v_max = np.maximum(v_max, v / bc2)
      updates.append(m / bc1 / (np.sqrt(v_max + eps_root) + eps))
    elif variant == "keras":  # eps on the uncorrected root, corrections in the step size
      v_max = np.maximum(v_max, v)
      updates.append(np.sqrt(bc2) / bc1 * m / (np.sqrt(v_max + eps_root) + eps))
    else:
      raise AssertionError(variant)
  return np.stack(updates), {"mu": m, "nu": v, "nu_max": v_max}


def _yogi_reference(grads, variant, b1, b2, eps, eps_root, initial_accumulator_value):
  """Yogi in numpy float64, written from the docstring of :func:`jaxopt_fix.yogi`."""
  init = np.full_like(grads[0], initial_accumulator_value)
  zero = np.zeros_like(grads[0])
  m = init if variant == "torch_optimizer" else zero
  v = zero if variant == "d2l" else init
  updates = []
  for t, g in enumerate(grads, start=1):
    m = b1 * m + (1 - b1) * g
    v = v - (1 - b2) * np.sign(v - g * g) * g * g
    bc1 = _exact_one_minus_power(b1, t)
    bc2 = _exact_one_minus_power(b2, t)
    if variant in ("torch_optimizer", "d2l"):  # Adam's correction, eps after it
      updates.append(m / bc1 / (np.sqrt(v + eps_root * bc2) / np.sqrt(bc2) + eps))
    elif variant == "tfa":  # eps on the uncorrected root
      updates.append(np.sqrt(bc2) / bc1 * m / (np.sqrt(v + eps_root) + eps))
    elif variant == "paper":  # no bias correction
      updates.append(m / (np.sqrt(v + eps_root) + eps))
    else:
      raise AssertionError(variant)
  return np.stack(updates), {"mu": m, "nu": v}


def _run(tx: optax.GradientTransformation, grads, params=None):
  """Applies ``tx`` to the rows of ``grads``; returns the stacked updates and final state."""
  if params is None:
    params = jnp.zeros_like(grads[0])
  state = tx.init(params)
  update = jax.jit(tx.update)
  updates = []
  for g in grads:
    u, state = update(jnp.asarray(g), state, params)
    updates.append(np.asarray(u))
  return np.stack(updates), state


@pytest.mark.parametrize("eps_root", [0.0, 1e-2])
@pytest.mark.parametrize("variant", jaxopt_fix.AMSGRAD_VARIANTS)
def test_amsgrad_matches_reference_in_float64(variant, eps_root):
  grads = _grads(seed=1)
  expected_updates, expected_state = _amsgrad_reference(grads, variant, _B1, _B2, _EPS, eps_root)
  with jax.enable_x64(True):
    tx = jaxopt_fix.scale_by_amsgrad(_B1, _B2, _EPS, eps_root, variant=variant)
    updates, state = _run(tx, grads)
  assert updates.dtype == np.float64
  np.testing.assert_allclose(updates, expected_updates, rtol=_RTOL64, atol=_ATOL64)
  assert int(state.count) == _NUM_STEPS
  for field, expected in expected_state.items():
    np.testing.assert_allclose(getattr(state, field), expected, rtol=_RTOL64, atol=_ATOL64)


@pytest.mark.parametrize("eps_root", [0.0, 1e-2])
@pytest.mark.parametrize("variant", jaxopt_fix.YOGI_VARIANTS)
def test_yogi_matches_reference_in_float64(variant, eps_root):
  grads = _grads(seed=2)
  expected_updates, expected_state = _yogi_reference(
    grads, variant, _B1, _B2, _EPS, eps_root, _INITIAL_ACCUMULATOR
  )
  with jax.enable_x64(True):
    tx = jaxopt_fix.scale_by_yogi(
      _B1, _B2, _EPS, eps_root, initial_accumulator_value=_INITIAL_ACCUMULATOR, variant=variant
    )
    updates, state = _run(tx, grads)
  assert updates.dtype == np.float64
  np.testing.assert_allclose(updates, expected_updates, rtol=_RTOL64, atol=_ATOL64)
  assert int(state.count) == _NUM_STEPS
  for field, expected in expected_state.items():
    np.testing.assert_allclose(getattr(state, field), expected, rtol=_RTOL64, atol=_ATOL64)


@pytest.mark.parametrize(
  ("ours", "theirs"),
  [
    pytest.param(
      lambda: jaxopt_fix.scale_by_amsgrad(_B1, _B2, _EPS, 1e-3, variant="optax"),
      lambda: optax.scale_by_amsgrad(_B1, _B2, _EPS, 1e-3),
      id="amsgrad-optax",
    ),
    pytest.param(
      lambda: jaxopt_fix.scale_by_amsgrad(_B1, _B2, _EPS, 1e-3, variant="paper"),
      lambda: optax.scale_by_amsgrad(
        _B1, _B2, _EPS, 1e-3, bias_correction_mu=False, bias_correction_nu=False
      ),
      id="amsgrad-paper",
    ),
    pytest.param(
      lambda: jaxopt_fix.scale_by_yogi(
        _B1, _B2, _EPS, 1e-3, initial_accumulator_value=_INITIAL_ACCUMULATOR
      ),
      lambda: optax.scale_by_yogi(
        _B1, _B2, _EPS, 1e-3, initial_accumulator_value=_INITIAL_ACCUMULATOR
      ),
      id="yogi-torch_optimizer",
    ),
  ],
)
def test_matches_optax_in_float64(ours, theirs):
  grads = _grads(seed=3)
  with jax.enable_x64(True):
    our_updates, our_state = _run(ours(), grads)
    their_updates, their_state = _run(theirs(), grads)
  assert our_updates.dtype == np.float64
  np.testing.assert_allclose(our_updates, their_updates, rtol=_RTOL64, atol=_ATOL64)
  for field in their_state._fields:
    np.testing.assert_allclose(
      getattr(our_state, field), getattr(their_state, field), rtol=_RTOL64, atol=_ATOL64
    )


def test_amsgrad_torch_and_optax_variants_differ():
  # One large early gradient: the optax variant keeps g_1**2 (1 - b2) / (1 - b2)
  # = g_1**2 in its maximum, torch keeps (1 - b2) g_1**2 and divides by the
  # growing 1 - b2**t, so torch's steps are much larger afterwards.
  grads = np.full((30, 1), 0.1)
  grads[0] = 10.0
  torch_updates, _ = _run(jaxopt_fix.scale_by_amsgrad(variant="torch"), grads)
  optax_updates, _ = _run(jaxopt_fix.scale_by_amsgrad(variant="optax"), grads)
  np.testing.assert_allclose(torch_updates[0], optax_updates[0], rtol=1e-6)
  relative = np.abs(torch_updates[-1] - optax_updates[-1]) / np.abs(optax_updates[-1])
  assert relative > 1e-3
  assert np.all(torch_updates[-1] > 2 * optax_updates[-1])


@pytest.mark.parametrize(
  ("factory", "variant_a", "variant_b"),
  [
    *[
      # torch and keras differ only in where eps goes: an eps of the order of sqrt(v).
      (lambda variant: jaxopt_fix.scale_by_amsgrad(eps=_EPS, variant=variant), a, b)
      for a, b in itertools.combinations(jaxopt_fix.AMSGRAD_VARIANTS, 2)
    ],
    *[
      (
        lambda variant: jaxopt_fix.scale_by_yogi(
          initial_accumulator_value=_INITIAL_ACCUMULATOR, variant=variant
        ),
        a,
        b,
      )
      for a, b in itertools.combinations(jaxopt_fix.YOGI_VARIANTS, 2)
    ],
  ],
)
def test_every_pair_of_variants_differs(factory, variant_a, variant_b):
  grads = _grads(seed=4).astype(np.float32)
  updates_a, _ = _run(factory(variant=variant_a), grads)
  updates_b, _ = _run(factory(variant=variant_b), grads)
  relative = np.max(np.abs(updates_a - updates_b) / np.abs(updates_b))
  assert relative > 1e-3


_BIAS_CORRECTED = [
  *[(jaxopt_fix.scale_by_amsgrad, v, "amsgrad") for v in ("torch", "optax")],
  *[(jaxopt_fix.scale_by_yogi, v, "yogi") for v in ("torch_optimizer", "tfa", "d2l")],
]


@pytest.mark.parametrize(
  ("factory", "variant", "algorithm"), _BIAS_CORRECTED, ids=[v for _, v, _ in _BIAS_CORRECTED]
)
def test_float32_bias_correction_is_accurate(factory, variant, algorithm):
  # At b2 = 0.99999, 1 - b2 is 1e-5 while float32(b2) is 1.4e-8 away from b2:
  # 1 - float32(b2)**t is wrong by 1.4e-3 relative on the first step.
  b1, b2 = 0.9, 0.99999
  grads = np.array([[1.0, -2.0, 0.5, 3.0]])
  if algorithm == "amsgrad":
    expected, _ = _amsgrad_reference(grads, variant, b1, b2, 1e-8, 0.0)
  else:
    expected, _ = _yogi_reference(grads, variant, b1, b2, 1e-3, 0.0, 1e-6)
  ours, _ = _run(factory(b1=b1, b2=b2, variant=variant), grads.astype(np.float32))
  assert ours.dtype == np.float32
  np.testing.assert_allclose(ours, expected, rtol=1e-6, atol=0)

  # In the same float32 setting optax is off by 3.4e-4 (half the 6.8e-4 error
  # of its 1 - float32(b2)**t, through the square root): the reason this
  # package exists. Compared with the float64 reference of the variant optax
  # implements.
  if algorithm == "amsgrad":
    their_tx = optax.scale_by_amsgrad(b1=b1, b2=b2)
    their_expected, _ = _amsgrad_reference(grads, "optax", b1, b2, 1e-8, 0.0)
  else:
    their_tx = optax.scale_by_yogi(b1=b1, b2=b2)
    their_expected, _ = _yogi_reference(grads, "torch_optimizer", b1, b2, 1e-3, 0.0, 1e-6)
  theirs, _ = _run(their_tx, grads.astype(np.float32))
  assert theirs.dtype == np.float32
  assert np.max(np.abs(theirs - their_expected) / np.abs(their_expected)) > 1e-4


_ALL_VARIANTS = [
  *[(jaxopt_fix.scale_by_amsgrad, v) for v in jaxopt_fix.AMSGRAD_VARIANTS],
  *[(jaxopt_fix.scale_by_yogi, v) for v in jaxopt_fix.YOGI_VARIANTS],
]
_ALL_VARIANT_IDS = [f"{f.__name__}-{v}" for f, v in _ALL_VARIANTS]


@pytest.mark.parametrize(("factory", "variant"), _ALL_VARIANTS, ids=_ALL_VARIANT_IDS)
def test_count_saturates_at_int32_max(factory, variant):
  tx = factory(variant=variant)
  params = jnp.array([1.0, -2.0, 3.0])
  grads = jnp.array([0.1, -0.2, 0.3])
  state = tx.init(params)
  _, state = tx.update(grads, state, params)  # non-trivial moments
  state = state._replace(count=jnp.asarray(2**31 - 1, jnp.int32))
  updates, state = jax.jit(tx.update)(grads, state, params)
  assert state.count.dtype == jnp.int32
  assert int(state.count) == 2**31 - 1
  assert np.all(np.isfinite(updates))
  assert np.all(updates != 0)


@pytest.mark.parametrize(("factory", "variant"), _ALL_VARIANTS, ids=_ALL_VARIANT_IDS)
def test_count_is_exact_beyond_float32_integers(factory, variant):
  # torch keeps `step` in a float32 tensor, where 2**24 + 1 == 2**24: its step
  # count freezes at 2**24. The int32 count keeps counting.
  tx = factory(variant=variant)
  params = jnp.array([1.0, -2.0, 3.0])
  state = tx.init(params)._replace(count=jnp.asarray(2**24 + 5, jnp.int32))
  _, state = jax.jit(tx.update)(jnp.array([0.1, -0.2, 0.3]), state, params)
  assert state.count.dtype == jnp.int32
  assert int(state.count) == 2**24 + 6


_FACTORIES: dict[str, Callable[..., Any]] = {
  "scale_by_amsgrad": jaxopt_fix.scale_by_amsgrad,
  "scale_by_yogi": jaxopt_fix.scale_by_yogi,
  "amsgrad": lambda **kw: jaxopt_fix.amsgrad(**{"learning_rate": 0.1, **kw}),
  "yogi": lambda **kw: jaxopt_fix.yogi(**{"learning_rate": 0.1, **kw}),
}
_UNIT_INTERVAL = r"^{} must be in \[0, 1\), got {}\.$"
_NON_NEGATIVE = r"^{} must be >= 0, got {}\.$"
_BAD_HYPERPARAMETERS = [
  ("b1", 1.0, _UNIT_INTERVAL.format("b1", r"1\.0")),
  ("b1", -0.1, _UNIT_INTERVAL.format("b1", r"-0\.1")),
  ("b1", math.nan, _UNIT_INTERVAL.format("b1", "nan")),
  ("b2", 1.0, _UNIT_INTERVAL.format("b2", r"1\.0")),
  ("eps", -1, _NON_NEGATIVE.format("eps", "-1")),
  ("eps", math.nan, _NON_NEGATIVE.format("eps", "nan")),
  ("eps_root", -1, _NON_NEGATIVE.format("eps_root", "-1")),
]


@pytest.mark.parametrize(("name", "value", "match"), _BAD_HYPERPARAMETERS)
@pytest.mark.parametrize("factory_name", list(_FACTORIES))
def test_bad_hyperparameter_raises(factory_name, name, value, match):
  with pytest.raises(ValueError, match=match):
    _FACTORIES[factory_name](**{name: value})


@pytest.mark.parametrize("factory_name", ["scale_by_yogi", "yogi"])
def test_bad_initial_accumulator_value_raises(factory_name):
  with pytest.raises(ValueError, match=_NON_NEGATIVE.format("initial_accumulator_value", "-1")):
    _FACTORIES[factory_name](initial_accumulator_value=-1)


def test_array_hyperparameter_is_checked_elementwise():
  with pytest.raises(ValueError, match=r"^b2 must be in \[0, 1\)"):
    jaxopt_fix.scale_by_amsgrad(b2=np.array([0.9, 1.5]))


@pytest.mark.parametrize("alias", [jaxopt_fix.amsgrad, jaxopt_fix.yogi])
def test_negative_learning_rate_raises(alias):
  with pytest.raises(ValueError, match=_NON_NEGATIVE.format("learning_rate", r"-0\.1")):
    alias(learning_rate=-0.1)


@pytest.mark.parametrize(
  ("factory_name", "valid"),
  [
    ("scale_by_amsgrad", transform.AMSGRAD_VARIANTS),
    ("amsgrad", transform.AMSGRAD_VARIANTS),
    ("scale_by_yogi", transform.YOGI_VARIANTS),
    ("yogi", transform.YOGI_VARIANTS),
  ],
)
def test_unknown_variant_raises_and_lists_valid_ones(factory_name, valid):
  listed = ", ".join(repr(v) for v in valid)
  with pytest.raises(ValueError, match=re.escape(f"variant must be one of {listed}; got 'nope'.")):
    _FACTORIES[factory_name](variant="nope")


@pytest.mark.parametrize("alias", [jaxopt_fix.amsgrad, jaxopt_fix.yogi])
def test_schedule_learning_rate_is_accepted(alias):
  tx = alias(learning_rate=optax.linear_schedule(0.1, 0.0, transition_steps=10))
  params = jnp.array([1.0, -2.0])
  state = tx.init(params)
  updates, state = tx.update(jnp.array([0.5, 0.5]), state, params)
  assert np.all(updates < 0)
  for _ in range(10):
    updates, state = tx.update(jnp.array([0.5, 0.5]), state, params)
  # The schedule reached 0, up to optax's linear schedule compiled: XLA multiplies the count by
  # 1 / transition_steps, 10 * float32(0.1) = 1 + 1.5e-8, so the learning rate ends at -1.5e-9
  # (the alias's eager update is one compiled call, as under jit).
  assert np.all(np.abs(updates) < 2e-9)  # from 0.1 at the start


_ARRAY_MODULES = [pytest.param(np, id="numpy"), pytest.param(jnp, id="jax")]


@pytest.mark.parametrize("xnp", _ARRAY_MODULES)
@pytest.mark.parametrize("factory", [jaxopt_fix.scale_by_amsgrad, jaxopt_fix.scale_by_yogi])
def test_integer_params_raise_at_init(factory, xnp):
  tx = factory()  # construction does not look at params
  params = {"layer": {"b": xnp.zeros(2, xnp.float32), "w": xnp.zeros(3, xnp.int32)}}
  with pytest.raises(TypeError, match=r"\['layer'\]\['w'\] has dtype int32"):
    tx.init(params)


@pytest.mark.parametrize("xnp", _ARRAY_MODULES)
@pytest.mark.parametrize("factory", [jaxopt_fix.scale_by_amsgrad, jaxopt_fix.scale_by_yogi])
def test_complex_params_raise_at_init(factory, xnp):
  tx = factory()
  with pytest.raises(TypeError, match=r"<root> has dtype complex64"):
    tx.init(xnp.zeros(3, xnp.complex64))


@pytest.mark.parametrize("factory", [jaxopt_fix.scale_by_amsgrad, jaxopt_fix.scale_by_yogi])
def test_float_params_from_jax_arrays_init_cleanly(factory):
  # Plain jax.Array params must not raise or warn (pytest turns warnings into
  # errors), eagerly or under jit.
  params = {"w": jnp.zeros(3, jnp.float32), "b": jnp.zeros(2, jnp.bfloat16)}
  eager = factory().init(params)
  jitted = jax.jit(factory().init)(params)
  assert jax.tree.structure(eager) == jax.tree.structure(jitted)
