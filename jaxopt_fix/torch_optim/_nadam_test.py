"""Tests for :func:`jaxopt_fix.torch_optim.nadam` (parity with torch: parity_tests/specs).

The parity runner compares per-parameter trees; ``mu_product`` is a scalar, so it is
checked here against torch's arithmetic: ``mu_product *= mu`` on a float32 tensor with
a Python-float ``mu``, i.e. ``float32(mu_product * float32(mu))``.
"""

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
    ({"eps": -1e-8}, "Invalid epsilon value"),
    ({"betas": (1.0, 0.999)}, "Invalid beta parameter at index 0"),
    ({"betas": (0.9, 1.5)}, "Invalid beta parameter at index 1"),
    ({"weight_decay": -0.1}, "Invalid weight_decay value"),
    ({"momentum_decay": -1e-3}, "Invalid momentum_decay value"),
  ],
)
def test_rejects_what_torch_rejects(kwargs, match):
  with pytest.raises(ValueError, match=match):
    torch_optim.nadam(**kwargs)


def _torch_mu_products(b1: float, momentum_decay: float, steps: int) -> np.ndarray:
  product, out = np.float32(1.0), []
  for t in range(1, steps + 1):
    mu = b1 * (1.0 - 0.5 * (0.96 ** (t * momentum_decay)))
    product = np.float32(product * np.float32(mu))
    out.append(product)
  return np.array(out)


def _jax_mu_products(b1: float, momentum_decay: float, steps: int) -> np.ndarray:
  tx = torch_optim.nadam(betas=(b1, 0.999), momentum_decay=momentum_decay)

  @jax.jit
  def run(params):
    def step(state, _):
      _, state = tx.update(jnp.ones_like(params), state, params)
      return state, optax.tree.get(state, "mu_product")

    return jax.lax.scan(step, tx.init(params), length=steps)[1]

  return np.asarray(run(jnp.zeros(2)))


@pytest.mark.parametrize("b1", [0.9, 0.95])
@pytest.mark.parametrize("momentum_decay", [4e-3, 6e-3, 0.0, 0.5, 1e6])
def test_mu_product_is_torchs_float32_bit_for_bit_under_x64(b1, momentum_decay):
  steps = 300
  with jax.enable_x64(True):
    got = _jax_mu_products(b1, momentum_decay, steps)
  want = _torch_mu_products(b1, momentum_decay, steps)
  assert got.dtype == np.float32
  # XLA flushes subnormals to zero; torch keeps them (1 - mu_product is 1 either way).
  normal = want >= np.finfo(np.float32).tiny
  np.testing.assert_array_equal(got[normal], want[normal])
  np.testing.assert_array_equal(got[~normal], 0.0)


@pytest.mark.parametrize("momentum_decay", [4e-3, 0.5])
def test_mu_product_within_float32_rounding_without_x64(momentum_decay):
  got = _jax_mu_products(0.9, momentum_decay, 300)
  want = _torch_mu_products(0.9, momentum_decay, 300)
  normal = want >= np.finfo(np.float32).tiny
  np.testing.assert_allclose(got[normal], want[normal], rtol=3e-6)


def test_large_momentum_decay_is_optax_nadam():
  """momentum_decay -> inf makes mu_t = b1: optax.nadam's constant-momentum NAdam.

  Equal up to float32 rounding: mu_product = b1**t is a float32 in torch, and optax takes
  its bias corrections 1 - b1**t in float32 too.
  """
  tx = torch_optim.nadam(lr=0.01, momentum_decay=1e6)
  reference = optax.nadam(0.01)
  grads = np.random.default_rng(0).standard_normal((20, 4))
  with jax.enable_x64(True):
    params = ref_params = jnp.zeros(4)
    state, ref_state = tx.init(params), reference.init(ref_params)
    for g in grads:
      updates, state = tx.update(jnp.asarray(g), state, params)
      params = optax.apply_updates(params, updates)
      ref_updates, ref_state = reference.update(jnp.asarray(g), ref_state, ref_params)
      ref_params = optax.apply_updates(ref_params, ref_updates)
    np.testing.assert_allclose(params, ref_params, rtol=1e-6)


def test_schedule_matches_constant():
  grads = np.random.default_rng(1).standard_normal((5, 3)).astype(np.float32)
  finals = []
  for lr in (0.01, optax.constant_schedule(0.01)):
    tx = torch_optim.nadam(lr=lr, weight_decay=0.1, decoupled_weight_decay=True)
    params = jnp.ones(3)
    state = tx.init(params)
    for g in grads:
      updates, state = tx.update(jnp.asarray(g), state, params)
      params = optax.apply_updates(params, updates)
    finals.append(params)
  np.testing.assert_array_equal(*finals)


@pytest.mark.parametrize("decoupled", [False, True])
def test_mu_product_stays_float32_for_bfloat16_params(decoupled):
  # torch keeps mu_product as a float32 tensor whatever the params' dtype (the rest of
  # the dtype battery is in _battery_test.py).
  tx = torch_optim.nadam(weight_decay=0.1, decoupled_weight_decay=decoupled)
  params = jnp.ones(3, jnp.bfloat16)
  updates, state = tx.update(jnp.full(3, 0.5, jnp.bfloat16), tx.init(params), params)
  assert updates.dtype == jnp.bfloat16
  assert (
    optax.tree.get(state, "exp_avg").dtype
    == optax.tree.get(state, "exp_avg_sq").dtype
    == jnp.bfloat16
  )
  assert optax.tree.get(state, "mu_product").dtype == jnp.float32


def test_direction_matches_fused_update():
  """scale_by_torch_nadam chained with -lr is the same algorithm as nadam, up to rounding."""
  grads = np.random.default_rng(2).standard_normal((30, 4))
  with jax.enable_x64(True):
    fused = torch_optim.nadam(lr=0.01)
    chained = optax.chain(torch_optim.scale_by_torch_nadam(), optax.scale(-0.01))
    p1 = p2 = jnp.zeros(4)
    s1, s2 = fused.init(p1), chained.init(p2)
    for g in grads:
      u1, s1 = fused.update(jnp.asarray(g), s1, p1)
      u2, s2 = chained.update(jnp.asarray(g), s2, p2)
      p1, p2 = optax.apply_updates(p1, u1), optax.apply_updates(p2, u2)
    np.testing.assert_allclose(p1, p2, rtol=1e-13)
