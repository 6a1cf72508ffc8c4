"""Tests for the twins of torch's classic optimizers: :func:`jaxopt_fix.torch_optim.sgd`,
``adagrad``, ``rmsprop`` and ``adadelta`` (parity with torch: parity_tests/specs)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxopt_fix import torch_optim

# One representative configuration per twin, with every optional state field in use.
_CONFIGS = {
  "sgd": {"lr": 0.1, "momentum": 0.75, "dampening": 0.5, "weight_decay": 0.25},
  "sgd_nesterov": {"lr": 0.1, "momentum": 0.75, "nesterov": True, "maximize": True},
  "adagrad": {"lr": 0.1, "lr_decay": 0.5, "initial_accumulator_value": 0.25, "weight_decay": 0.5},
  "rmsprop": {"lr": 0.01, "alpha": 0.75, "momentum": 0.5, "centered": True, "weight_decay": 0.5},
  "adadelta": {"lr": 0.5, "rho": 0.75, "weight_decay": 0.25, "maximize": True},
}


def _make(name, **overrides):
  factory = getattr(torch_optim, name.split("_")[0])
  return factory(**{**_CONFIGS[name], **overrides})


def _inner(state):
  """The scale_by_torch_* state inside the chain: the node of a registered state class."""
  classes = tuple(twin.state_class for twin in torch_optim.TWINS.values())
  (node,) = [
    n
    for n in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, classes))
    if isinstance(n, classes)
  ]
  return node


@pytest.mark.parametrize(
  ("name", "kwargs", "match"),
  [
    ("sgd", {"lr": -1.0}, "Invalid learning rate"),
    ("sgd", {"momentum": -0.1}, "Invalid momentum value"),
    ("sgd", {"weight_decay": -0.1}, "Invalid weight_decay value"),
    ("sgd", {"nesterov": True}, "Nesterov momentum requires a momentum and zero dampening"),
    (
      "sgd",
      {"nesterov": True, "momentum": 0.9, "dampening": 0.1},
      "Nesterov momentum requires a momentum and zero dampening",
    ),
    ("adagrad", {"lr": -1.0}, "Invalid learning rate"),
    ("adagrad", {"lr_decay": -0.1}, "Invalid lr_decay value"),
    ("adagrad", {"weight_decay": -0.1}, "Invalid weight_decay value"),
    ("adagrad", {"initial_accumulator_value": -0.1}, "Invalid initial_accumulator_value value"),
    ("adagrad", {"eps": -1e-10}, "Invalid epsilon value"),
    ("rmsprop", {"lr": -1.0}, "Invalid learning rate"),
    ("rmsprop", {"eps": -1e-8}, "Invalid epsilon value"),
    ("rmsprop", {"momentum": -0.1}, "Invalid momentum value"),
    ("rmsprop", {"weight_decay": -0.1}, "Invalid weight_decay value"),
    ("rmsprop", {"alpha": -0.1}, "Invalid alpha value"),
    ("adadelta", {"lr": -1.0}, "Invalid learning rate"),
    ("adadelta", {"rho": 1.5}, r"Invalid rho value: 1.5 \(must be in \[0, 1\]\)"),
    ("adadelta", {"rho": -0.1}, "Invalid rho value"),
    ("adadelta", {"eps": -1e-6}, "Invalid epsilon value"),
    ("adadelta", {"weight_decay": -0.1}, "Invalid weight_decay value"),
  ],
)
def test_rejects_what_torch_rejects(name, kwargs, match):
  with pytest.raises(ValueError, match=match):
    getattr(torch_optim, name)(**kwargs)


@pytest.mark.parametrize(
  ("name", "kwargs"),
  [
    ("sgd", {"nesterov": True, "momentum": 0.9}),
    ("rmsprop", {"alpha": 1.5}),  # torch checks only alpha >= 0
    ("adadelta", {"rho": 1.0}),  # torch's interval is closed
    ("adagrad", {"eps": 0.0, "lr_decay": 0.0}),
  ],
)
def test_accepts_what_torch_accepts(name, kwargs):
  getattr(torch_optim, name)(**kwargs)


def test_sgd_first_buffer_is_the_undamped_gradient():
  tx = torch_optim.sgd(lr=1.0, momentum=0.5, dampening=0.75)
  params = jnp.zeros(2)
  state = tx.init(params)
  assert not _inner(state).has_momentum_buffer
  _, state = tx.update(jnp.array([4.0, -8.0]), state, params)
  np.testing.assert_array_equal(_inner(state).momentum_buffer, [4.0, -8.0])
  assert _inner(state).has_momentum_buffer
  updates, state = tx.update(jnp.array([4.0, -8.0]), state, params)
  np.testing.assert_array_equal(_inner(state).momentum_buffer, [3.0, -6.0])  # 0.5 b + 0.25 g
  np.testing.assert_array_equal(updates, [-3.0, 6.0])


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_sgd_first_buffer_is_the_gradient_bit_for_bit_without_a_select(dtype):
  # No dampening: the buffer starts at -0.0, and -0.0 * momentum + g is g, -0.0 included.
  tx = torch_optim.sgd(lr=1.0, momentum=0.9)
  grads = jnp.array([-0.0, 0.0, np.nan, np.inf, -3.5, 1e-30], dtype)
  state = tx.init(jnp.zeros(6, dtype))
  assert np.signbit(np.asarray(_inner(state).momentum_buffer, np.float32)).all()
  _, state = jax.jit(tx.update)(grads, state, jnp.zeros(6, dtype))
  as_bits = lambda x: np.asarray(x).view(np.uint16 if dtype == "bfloat16" else np.uint32)
  np.testing.assert_array_equal(as_bits(_inner(state).momentum_buffer), as_bits(grads))
  jaxpr = jax.make_jaxpr(tx.update)(grads, state, grads).jaxpr
  flag = jaxpr.invars[len(jax.tree.leaves(grads)) + 1]  # has_momentum_buffer, after the buffer
  assert flag.aval.dtype == bool
  assert not any(flag in eqn.invars for eqn in jaxpr.eqns), "the step selects on the flag"


def test_optional_state_is_none_where_torch_keeps_none():
  params = jnp.zeros(2)
  assert _inner(torch_optim.sgd().init(params)).momentum_buffer is None
  rms = _inner(torch_optim.rmsprop().init(params))
  assert rms.momentum_buffer is None
  assert rms.grad_avg is None


@pytest.mark.parametrize("name", list(_CONFIGS))
def test_injected_hyperparameters_match(name):
  """Under inject_hyperparams (traced hyperparameters, so momentum decides nothing at build
  time) the trajectory is the plain twin's: every value above is exact in float32."""
  kwargs = {k: v for k, v in _CONFIGS[name].items() if not isinstance(v, bool)}
  flags = {k: v for k, v in _CONFIGS[name].items() if isinstance(v, bool)}
  factory = getattr(torch_optim, name.split("_")[0])
  injected = optax.inject_hyperparams(factory, static_args=tuple(flags))(**kwargs, **flags)
  plain = _make(name)
  params = jnp.array([1.0, -2.0, 0.5])
  grads = jnp.asarray(np.random.default_rng(0).standard_normal((4, 3)), jnp.float32)
  p_plain, p_injected = params, params
  s_plain, s_injected = plain.init(params), injected.init(params)
  for g in grads:
    u, s_plain = jax.jit(plain.update)(g, s_plain, p_plain)
    p_plain = optax.apply_updates(p_plain, u)
    u, s_injected = jax.jit(injected.update)(g, s_injected, p_injected)
    p_injected = optax.apply_updates(p_injected, u)
  np.testing.assert_allclose(p_injected, p_plain, rtol=1e-6)


def test_sgd_injected_zero_momentum_ignores_the_buffer():
  """torch with momentum 0 uses the gradient itself, whatever the dampening."""
  tx = optax.inject_hyperparams(torch_optim.sgd)(lr=1.0, momentum=0.0, dampening=0.5)
  params = jnp.zeros(2)
  state = tx.init(params)
  for _ in range(3):
    updates, state = jax.jit(tx.update)(jnp.array([1.0, -2.0]), state, params)
  np.testing.assert_array_equal(updates, [-1.0, 2.0])
