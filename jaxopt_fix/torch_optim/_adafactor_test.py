"""Tests for :func:`jaxopt_fix.torch_optim.adafactor` (parity with torch: parity_tests/specs)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxopt_fix import torch_optim
from jaxopt_fix._src import leafwise


@pytest.mark.parametrize(
  ("kwargs", "match"),
  [
    ({"lr": -1.0}, "Learning rate should be >= 0"),
    ({"beta2_decay": 0.5}, "beta2_decay should be <= 0"),
    ({"eps": (-1.0, 1e-3)}, "epsilon1 should be >= 0"),
    ({"eps": (None, -1e-3)}, "epsilon2 should be >= 0"),
    ({"d": 0.5}, "Clipping threshold d should be >= 1"),
    ({"weight_decay": -0.1}, "weight_decay should be >= 0"),
  ],
)
def test_rejects_what_torch_rejects(kwargs, match):
  with pytest.raises(ValueError, match=match):
    torch_optim.adafactor(**kwargs)


def test_state_shapes_follow_torch():
  tx = torch_optim.adafactor()
  params = {
    "s": jnp.zeros(()),
    "v": jnp.zeros(4),
    "m": jnp.zeros((2, 3)),
    "t": jnp.zeros((5, 2, 3)),
  }
  state = tx.init(params)[1]
  shapes = lambda tree: {k: v.shape for k, v in tree.items()}
  assert shapes(state.row_var) == {"s": (), "v": (1,), "m": (2, 1), "t": (5, 2, 1)}
  assert shapes(state.col_var) == {"s": (), "v": (1,), "m": (1, 3), "t": (5, 1, 3)}
  assert shapes(state.variance) == {"s": (), "v": (4,), "m": (1, 1), "t": (1, 1, 1)}


def test_first_step_of_a_vector():
  """Step 1: the variance is g^2, U = sign(g) (clipped to RMS 1), alpha = eps2 * lr for
  zero parameters."""
  tx = torch_optim.adafactor(lr=0.1, eps=(None, 1e-3))
  params = jnp.zeros(3)
  updates, state = tx.update(jnp.array([2.0, -3.0, 0.5]), tx.init(params), params)
  np.testing.assert_allclose(optax.tree.get(state, "variance"), [4.0, 9.0, 0.25])
  np.testing.assert_allclose(updates, [-1e-4, 1e-4, -1e-4], rtol=1e-6)


def test_schedule_lr():
  tx = torch_optim.adafactor(lr=optax.constant_schedule(0.1), weight_decay=0.1)
  reference = torch_optim.adafactor(lr=0.1, weight_decay=0.1)
  params = jnp.ones((2, 3))
  grads = jnp.arange(6.0).reshape(2, 3)
  got, _ = tx.update(grads, tx.init(params), params)
  want, _ = reference.update(grads, reference.init(params), params)
  np.testing.assert_array_equal(got, want)


def _step_temp_bytes(params) -> int:
  tx = torch_optim.adafactor()

  def step(params, state, grads):
    updates, state = tx.update(grads, state, params)
    return optax.apply_updates(params, updates), state

  compiled = jax.jit(step, donate_argnums=(0, 1)).lower(params, tx.init(params), params).compile()
  return compiled.memory_analysis().temp_size_in_bytes


def test_bfloat16_leaves_hold_their_float32_temporaries_one_leaf_at_a_time(monkeypatch):
  # Each bfloat16 matrix needs three float32 copies in memory for its reductions (the
  # gradient's squares, the update, the parameter); the bfloat16 directions of all leaves
  # are live until the parameters are updated, and so are their float32 row and column means.
  shape, leaves = (256, 256), 4
  params = {f"w{i}": jnp.ones(shape, jnp.bfloat16) for i in range(leaves)}
  one_leaf_float32 = 4 * shape[0] * shape[1]
  directions = leaves * 2 * shape[0] * shape[1]
  statistics = leaves * 4 * (shape[0] + shape[1])
  temp = _step_temp_bytes(params)
  assert temp <= 3 * one_leaf_float32 + directions + statistics
  monkeypatch.setattr(leafwise, "map_in_sequence", lambda fn, *trees: leafwise.map(fn, *trees))
  assert temp < _step_temp_bytes(params)  # all leaves' reductions scheduled first
