"""Tests for :func:`jaxopt_fix.torch_optim.radam` (parity with torch: parity_tests/specs)."""

from fractions import Fraction
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_fix import torch_optim
from jaxopt_fix.torch_optim import _radam


@pytest.mark.parametrize(
  ("kwargs", "match"),
  [
    ({"lr": -1.0}, "Invalid learning rate"),
    ({"eps": -1e-8}, "Invalid epsilon value"),
    ({"betas": (1.0, 0.999)}, "Invalid beta parameter at index 0"),
    ({"betas": (0.9, 1.0)}, "Invalid beta parameter at index 1"),
    ({"weight_decay": -0.1}, "Invalid weight_decay value"),
  ],
)
def test_rejects_what_torch_rejects(kwargs, match):
  with pytest.raises(ValueError, match=match):
    torch_optim.radam(**kwargs)


def _exact_sma_length(b2: float, t: int) -> float:
  """rho_t in exact rational arithmetic on the float64 value of b2."""
  b = Fraction(b2)
  power = b**t
  return float((2 / (1 - b) - 1) - 2 * t * power / (1 - power))


@pytest.mark.parametrize("x64", [False, True])
@pytest.mark.parametrize("b2", [0.999, 0.99, 0.9, 0.7, 0.5])
def test_sma_length_is_accurate(x64, b2):
  """torch's float64 formula cancels (1.4e-11 relative at b2 = 0.999), optax's float32 one
  is 0.3% off at t = 6; sma_length is within a few ulps of the exact value in either dtype."""
  steps = [1, 2, 5, 6, 7, 10, 100, 500, 700, 1000, 5000]
  with jax.enable_x64(x64):
    got = np.asarray(jax.jit(lambda t: _radam.sma_length(b2, t))(jnp.asarray(steps)))
  exact = np.array([_exact_sma_length(b2, t) for t in steps])
  np.testing.assert_allclose(got, exact, rtol=1e-15 * 4 if x64 else 3e-7, atol=0)


def test_rectification_threshold_is_strict_and_eps_uncorrected():
  """At b2 = 0.999, rho_5 = 4.996 (plain momentum) and rho_6 = 5.994 (rectified, with eps
  added to sqrt(v) before the bias correction)."""
  b1, b2, eps, lr = 0.9, 0.999, 0.5, 1.0
  tx = torch_optim.radam(lr=lr, betas=(b1, b2), eps=eps)
  g = 2.0
  with jax.enable_x64(True):
    params = jnp.zeros(1)
    state = tx.init(params)
    moves = []
    for _ in range(6):
      updates, state = tx.update(jnp.array([g]), state, params)
      moves.append(float(updates[0]))
  # A constant gradient: m_t / (1 - b1^t) = g and v_t = (1 - b2^t) g^2.
  assert moves[4] == pytest.approx(-lr * g, rel=1e-14)
  rho, rho_inf = _exact_sma_length(b2, 6), 2 / (1 - b2) - 1
  rect = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
  bc2 = 1 - b2**6
  v = bc2 * g * g
  assert moves[5] == pytest.approx(
    -lr * g * math.sqrt(bc2) / (math.sqrt(v) + eps) * rect, rel=1e-14
  )
