"""Tests for :func:`jaxopt_fix.torch_optim.lbfgs` (parity with torch: parity_tests/specs)."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_fix import torch_optim


@pytest.mark.parametrize(
  ("kwargs", "match"),
  [
    ({"max_iter": 1, "lr": -1.0}, "Invalid learning rate"),
    ({}, "max_iter=20 is not supported"),
    ({"max_iter": 2}, "re-evaluates the closure"),
    ({"max_iter": 1, "line_search_fn": "strong_wolfe"}, "optax.lbfgs"),
    ({"max_iter": 1, "history_size": 0}, "Invalid history_size"),
  ],
)
def test_rejects_what_is_not_closure_free(kwargs, match):
  with pytest.raises(ValueError, match=match):
    torch_optim.lbfgs(**kwargs)


def test_small_gradient_changes_nothing_but_func_evals():
  tx = torch_optim.lbfgs(max_iter=1, tolerance_grad=0.5)
  params = jnp.zeros(2)
  state = tx.init(params)
  updates, new_state = tx.update(jnp.array([0.25, -0.5]), state)
  np.testing.assert_array_equal(updates, [0.0, 0.0])
  assert int(new_state.func_evals) == 1
  assert int(new_state.n_iter) == 0
  np.testing.assert_array_equal(new_state.prev_flat_grad, state.prev_flat_grad)


def test_first_step_and_history():
  tx = torch_optim.lbfgs(lr=0.5, max_iter=1, history_size=2)
  params = {"a": jnp.zeros(2), "b": jnp.zeros(1)}
  state = tx.init(params)
  # |g|_1 = 4: t = min(1, 1/4) * 0.5.
  updates, state = tx.update({"a": jnp.array([1.0, -2.0]), "b": jnp.array([1.0])}, state)
  np.testing.assert_allclose(updates["a"], [-0.125, 0.25])
  np.testing.assert_allclose(updates["b"], [-0.125])
  assert float(state.t) == 0.125
  grads = [jnp.array([2.0, -1.0, 0.5]), jnp.array([0.5, -3.0, 1.0]), jnp.array([3.0, 1.0, 2.0])]
  for g in grads:
    _, state = tx.update({"a": g[:2], "b": g[2:]}, state)
  # Three pairs offered to a history of two: the ring keeps the newest, oldest first.
  assert int(state.num_old) <= 2
  assert int(state.n_iter) == 4
