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
      assert state[2].eta.dtype == jnp.float32
      assert state[2].eta == eta, t
      assert state[2].mu == mu, t


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
  np.testing.assert_allclose(state[2].ax, [(history[2] + history[3]) / 2], rtol=1e-6)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_preserves_dtype(dtype):
  tx = torch_optim.asgd(t0=0)
  params = {"a": jnp.zeros((2, 3), dtype), "b": jnp.ones((4,), dtype)}
  state = tx.init(params)
  for _ in range(2):
    updates, state = tx.update(jax.tree.map(jnp.ones_like, params), state, params)
    params = optax.apply_updates(params, updates)
  for tree in (params, updates, state[2].ax):
    assert {leaf.dtype for leaf in jax.tree.leaves(tree)} == {jnp.dtype(dtype)}


def test_needs_params():
  tx = torch_optim.asgd()
  with pytest.raises(ValueError, match="needs the params"):
    tx.update(jnp.ones(2), tx.init(jnp.zeros(2)))


def test_tuple_of_params():
  """Per-leaf results are unzipped by tree structure, not by matching tuples."""
  tx = torch_optim.asgd()
  params = (jnp.ones(3), jnp.ones((2, 3)), jnp.ones(4))
  updates, _ = tx.update(tuple(jnp.full_like(p, 0.5) for p in params), tx.init(params), params)
  assert [u.shape for u in updates] == [p.shape for p in params]
