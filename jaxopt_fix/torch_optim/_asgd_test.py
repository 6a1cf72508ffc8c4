"""Tests for :func:`jaxopt_fix.torch_optim.asgd` (parity with torch: parity_tests/specs)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxopt_fix import torch_optim


@pytest.mark.parametrize(
  ("kwargs", "match"),
  [
    ({"lr": -1.0}, "Invalid learning rate"),
    ({"weight_decay": -0.1}, "Invalid weight_decay value"),
    ({"lr": optax.constant_schedule(0.1)}, "schedule is not supported"),
  ],
)
def test_rejects_what_torch_rejects(kwargs, match):
  with pytest.raises(ValueError, match=match):
    torch_optim.asgd(**kwargs)


def test_eta_and_mu_follow_torch_formula():
  """torch: eta = lr / (1 + lambd * lr * t) ** alpha and mu = 1 / max(1, t - t0), in
  Python floats, stored as float32 tensors."""
  lr, lambd, alpha, t0 = 0.05, 0.01, 0.6, 2.5
  tx = torch_optim.asgd(lr, lambd, alpha, t0)
  with jax.enable_x64(True):
    params = jnp.zeros(3)
    state = tx.init(params)
    update = jax.jit(tx.update)
    for t in range(1, 30):
      _, state = update(jnp.ones(3), state, params)
      eta = np.float32(lr / ((1 + lambd * lr * float(t)) ** alpha))
      mu = np.float32(1 / max(1, float(t) - t0))
      assert optax.tree.get(state, "eta").dtype == jnp.float32
      assert optax.tree.get(state, "eta") == eta, t
      assert optax.tree.get(state, "mu") == mu, t


def test_averaging_starts_after_t0():
  tx = torch_optim.asgd(lr=0.1, lambd=0.0, t0=1.0)
  params = jnp.zeros(1)
  state = tx.init(params)
  history = []
  for g in (1.0, 2.0, 3.0, 4.0):
    updates, state = tx.update(jnp.array([g]), state, params)
    params = optax.apply_updates(params, updates)
    history.append(float(params[0]))
  # Step t averages with the mu of step t - 1: 1 / max(1, t - 1 - t0), so ax copies the
  # parameter for three steps, then ax = ax + 0.5 * (p - ax) on the fourth.
  np.testing.assert_allclose(
    optax.tree.get(state, "ax"), [(history[2] + history[3]) / 2], rtol=1e-6
  )
