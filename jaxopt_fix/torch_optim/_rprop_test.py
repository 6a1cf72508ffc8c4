"""Tests for :func:`jaxopt_fix.torch_optim.rprop` (parity with torch: parity_tests/specs)."""

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
    ({"etas": (0.0, 1.2)}, "Invalid eta values"),
    ({"etas": (0.5, 1.0)}, "Invalid eta values"),
    ({"etas": (1.0, 1.2)}, "Invalid eta values"),
    ({"lr": optax.constant_schedule(0.1)}, "schedule is not supported"),
  ],
)
def test_rejects_what_torch_rejects(kwargs, match):
  with pytest.raises(ValueError, match=match):
    torch_optim.rprop(**kwargs)


def test_sign_flip_skips_the_step_and_clamps():
  tx = torch_optim.rprop(lr=1.0, etas=(0.5, 2.0), step_sizes=(0.1, 0.75))
  params = jnp.zeros(2)
  state = tx.init(params)
  # First step: the step size is clamped to 0.75 even though the product is zero.
  updates, state = tx.update(jnp.array([1.0, -1.0]), state)
  np.testing.assert_array_equal(updates, [-0.75, 0.75])
  # Same sign grows (clamped at 0.75); a flip shrinks the step size and skips the step.
  updates, state = tx.update(jnp.array([1.0, 1.0]), state)
  np.testing.assert_array_equal(updates, [-0.75, 0.0])
  np.testing.assert_array_equal(state[1].step_size, [0.75, 0.375])
  np.testing.assert_array_equal(state[1].prev, [1.0, 0.0])
  assert int(state[1].step) == 2


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_preserves_dtype(dtype):
  tx = torch_optim.rprop()
  params = {"a": jnp.zeros((2, 3), dtype), "b": jnp.ones((4,), dtype)}
  state = tx.init(params)
  for _ in range(2):
    updates, state = tx.update(jax.tree.map(jnp.ones_like, params), state, params)
    params = optax.apply_updates(params, updates)
  for tree in (params, updates, state[1].prev, state[1].step_size):
    assert {leaf.dtype for leaf in jax.tree.leaves(tree)} == {jnp.dtype(dtype)}


def test_tuple_of_params():
  """Per-leaf results are unzipped by tree structure, not by matching tuples."""
  tx = torch_optim.rprop()
  params = (jnp.ones(3), jnp.ones((2, 3)), jnp.ones(4))
  updates, _ = tx.update(tuple(jnp.full_like(p, 0.5) for p in params), tx.init(params), params)
  assert [u.shape for u in updates] == [p.shape for p in params]
