"""Tests for :func:`jaxopt_fix.torch_optim.adamax` (parity with torch: parity_tests/specs)."""

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxopt_fix import torch_optim


@pytest.mark.parametrize(
  ("kwargs", "match"),
  [
    ({"lr": -1.0}, "Invalid learning rate"),
    ({"eps": -1e-8}, "Invalid epsilon value"),
    ({"betas": (1.0, 0.999)}, "Invalid beta parameter at index 0"),
    ({"betas": (0.9, -0.1)}, "Invalid beta parameter at index 1"),
    ({"weight_decay": -0.1}, "Invalid weight_decay value"),
  ],
)
def test_rejects_what_torch_rejects(kwargs, match):
  with pytest.raises(ValueError, match=match):
    torch_optim.adamax(**kwargs)


def test_default_learning_rate_is_torchs():
  """optax.adamax has no default; torch's is 2e-3. A first step moves by lr * sign(g)."""
  tx = torch_optim.adamax()
  params = jnp.zeros(2)
  updates, _ = tx.update(jnp.array([3.0, -0.5]), tx.init(params), params)
  np.testing.assert_allclose(updates, [-2e-3, 2e-3], rtol=1e-6)


def test_eps_is_inside_the_maximum():
  """A zero gradient leaves exp_inf = max(b2 * 0, 0 + eps) = eps, not 0."""
  tx = torch_optim.adamax(eps=1e-3)
  params = jnp.zeros(1)
  updates, state = tx.update(jnp.zeros(1), tx.init(params), params)
  np.testing.assert_array_equal(optax.tree.get(state, "exp_inf"), [np.float32(1e-3)])
  np.testing.assert_array_equal(updates, [0.0])
