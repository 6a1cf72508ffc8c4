"""Tests for :func:`jaxopt_fix.torch_optim.sparse_adam` (parity with torch: parity_tests/specs)."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxopt_fix import torch_optim


@pytest.mark.parametrize(
  ("kwargs", "match"),
  [
    ({"lr": 0.0}, "Invalid learning rate"),
    ({"eps": 0.0}, "Invalid epsilon value"),
    ({"betas": (1.0, 0.999)}, "Invalid beta parameter at index 0"),
    ({"betas": (0.9, -0.1)}, "Invalid beta parameter at index 1"),
  ],
)
def test_rejects_what_torch_rejects(kwargs, match):
  with pytest.raises(ValueError, match=match):
    torch_optim.sparse_adam(**kwargs)


def test_zero_gradients_leave_moments_and_params_alone():
  tx = torch_optim.sparse_adam(lr=0.1)
  params = jnp.array([1.0, 2.0, 3.0])
  state = tx.init(params)
  updates, state = tx.update(jnp.array([1.0, 1.0, 1.0]), state, params)
  params = optax.apply_updates(params, updates)
  before = state
  updates, state = tx.update(jnp.array([0.0, -0.0, 2.0]), state, params)
  np.testing.assert_array_equal(updates[:2], [0.0, 0.0])
  np.testing.assert_array_equal(
    optax.tree.get(state, "exp_avg")[:2], optax.tree.get(before, "exp_avg")[:2]
  )
  np.testing.assert_array_equal(
    optax.tree.get(state, "exp_avg_sq")[:2], optax.tree.get(before, "exp_avg_sq")[:2]
  )
  assert int(optax.tree.get(state, "step")) == 2
  # The touched element: Adam's step 2, with the global step's bias correction.
  m = 0.1 * 1.0 + 0.1 * (2.0 - 0.1)
  v = 0.001 * 1.0 + 0.001 * (4.0 - 0.001)
  expected = -0.1 * m / (np.sqrt(v) + 1e-8) * np.sqrt(1 - 0.999**2) / (1 - 0.9**2)
  np.testing.assert_allclose(updates[2], expected, rtol=1e-5)


def test_dense_gradient_is_adam():
  """With no zero in the gradient it is Adam (up to rounding)."""
  tx = torch_optim.sparse_adam(lr=0.1)
  adam = torch_optim.adam(lr=0.1)
  params = jnp.array([1.0, -2.0])
  s1, s2 = tx.init(params), adam.init(params)
  for g in ([0.5, -1.0], [0.25, 2.0], [-1.0, 0.5]):
    u1, s1 = tx.update(jnp.array(g), s1, params)
    u2, s2 = adam.update(jnp.array(g), s2, params)
    np.testing.assert_allclose(u1, u2, rtol=1e-5)
