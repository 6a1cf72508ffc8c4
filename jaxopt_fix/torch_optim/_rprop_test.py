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
  np.testing.assert_array_equal(optax.tree.get(state, "step_size"), [0.75, 0.375])
  np.testing.assert_array_equal(optax.tree.get(state, "prev"), [1.0, 0.0])
  assert int(optax.tree.get(state, "step")) == 2


def _step_temp_bytes(tx, params) -> int:
  def step(params, state, grads):
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  compiled = jax.jit(step, donate_argnums=(0, 1)).lower(params, tx.init(params), params).compile()
  analysis = compiled.memory_analysis()
  if analysis is None:
    pytest.skip("no memory analysis on this backend")
  return int(analysis.temp_size_in_bytes)


def test_step_copies_no_more_state_than_optax():
  # The new step size is computed once (numerics.computed_once): recomputed in the parameter's
  # update, it made XLA copy both prev and step_size before overwriting them (twice optax's
  # temporary memory, which copies one buffer).
  params = {f"leaf{i}": jnp.ones(100_000 + i) for i in range(4)}
  ours = _step_temp_bytes(torch_optim.rprop(), params)
  theirs = _step_temp_bytes(optax.rprop(1e-2), params)
  assert ours <= theirs + 1024, (ours, theirs)
