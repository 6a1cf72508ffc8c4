"""Tests for :mod:`jaxopt_fix._src.numerics`."""

import decimal

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_fix._src import numerics

_DECAYS = [0.0, 0.5, 0.9, 0.999, 0.99999, 0.9999999]
_COUNTS = [1, 2, 10, 1000, 2**24, 2**31 - 1]


def _reference(decay: float, count: int) -> float:
  """``1 - decay**count`` for the float64 ``decay``, to 50 significant digits.

  ``decimal.Decimal(decay)`` is the exact value of the double, and an integer
  power at 60 digits loses nothing that matters in float64; no logarithm or
  ``expm1`` is involved, so the reference shares no formula with the code.
  """
  with decimal.localcontext() as context:
    context.prec = 60
    return float(1 - decimal.Decimal(decay) ** count)


def _relative_error(actual, expected: float) -> float:
  return abs(float(actual) - expected) / abs(expected)


@pytest.mark.parametrize("count", _COUNTS)
@pytest.mark.parametrize("decay", _DECAYS)
def test_float32(decay, count):
  result = numerics.one_minus_power(decay, jnp.asarray(count, jnp.int32))
  assert result.dtype == jnp.float32
  assert result.shape == ()
  assert _relative_error(result, _reference(decay, count)) < 1e-6


@pytest.mark.parametrize("count", _COUNTS)
@pytest.mark.parametrize("decay", _DECAYS)
def test_float64(decay, count):
  with jax.enable_x64(True):
    result = numerics.one_minus_power(decay, jnp.asarray(count, jnp.int32))
    assert result.dtype == jnp.float64
  assert _relative_error(result, _reference(decay, count)) < 1e-14


def test_naive_float32_formula_is_inaccurate():
  # What the tests above guard against: optax's 1 - float32(b)**t.
  naive = 1 - jnp.float32(0.99999) ** jnp.asarray(1, jnp.int32)
  assert _relative_error(naive, _reference(0.99999, 1)) > 1e-4


@pytest.mark.parametrize("count", _COUNTS)
@pytest.mark.parametrize("decay", _DECAYS)
def test_traced_decay_float32(decay, count):
  decay32 = np.float32(decay)
  result = jax.jit(numerics.one_minus_power)(decay32, jnp.asarray(count, jnp.int32))
  assert result.dtype == jnp.float32
  # A traced decay is used at the precision of its array: the reference is
  # taken at float32(decay), the value the function actually receives.
  assert _relative_error(result, _reference(float(decay32), count)) < 1e-6


@pytest.mark.parametrize("count", _COUNTS)
@pytest.mark.parametrize("decay", _DECAYS)
def test_traced_decay_float64(decay, count):
  with jax.enable_x64(True):
    result = jax.jit(numerics.one_minus_power)(
      jnp.asarray(decay, jnp.float64), jnp.asarray(count, jnp.int32)
    )
    assert result.dtype == jnp.float64
  assert _relative_error(result, _reference(decay, count)) < 1e-14


def test_traced_decay_under_vmap():
  decays = np.array([0.0, 0.5, 0.9, 0.999], np.float32)
  result = jax.vmap(numerics.one_minus_power, in_axes=(0, None))(decays, jnp.asarray(10, jnp.int32))
  assert result.shape == (4,)
  expected = [_reference(float(d), 10) for d in decays]
  np.testing.assert_allclose(result, expected, rtol=1e-6)


def test_concrete_array_decay():
  # The docstring accepts a concrete array and promises a result of its shape.
  decays = np.array([0.5, 0.9, 0.999])
  result = numerics.one_minus_power(decays, jnp.asarray(3, jnp.int32))
  assert result.shape == (3,)
  np.testing.assert_allclose(result, [_reference(float(d), 3) for d in decays], rtol=1e-6)


@pytest.mark.parametrize("count", _COUNTS)
def test_zero_decay_gives_exactly_one(count):
  count = jnp.asarray(count, jnp.int32)
  assert float(numerics.one_minus_power(0.0, count)) == 1.0
  assert float(numerics.one_minus_power(0, count)) == 1.0
  assert float(jax.jit(numerics.one_minus_power)(jnp.float32(0.0), count)) == 1.0
  with jax.enable_x64(True):
    assert float(numerics.one_minus_power(0.0, count)) == 1.0
    assert float(jax.jit(numerics.one_minus_power)(jnp.float64(0.0), count)) == 1.0
