"""Every twin compiles once inside a jitted ``lax.scan`` and is not retraced by new values."""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxopt_fix import torch_optim

# Each twin with its flags switched on, and a parameter shape it accepts (Muon: matrices).
_TWINS: dict[str, tuple[Callable[[], optax.GradientTransformation], tuple[int, ...], int]] = {
  "adafactor": (lambda: torch_optim.adafactor(weight_decay=0.1, maximize=True), (2, 3), 5),
  "adamax": (lambda: torch_optim.adamax(weight_decay=0.1, maximize=True), (3,), 5),
  "asgd": (lambda: torch_optim.asgd(t0=3, weight_decay=0.1, maximize=True), (3,), 5),
  "lbfgs": (lambda: torch_optim.lbfgs(max_iter=1, history_size=3), (3,), 5),
  "muon": (lambda: torch_optim.muon(lr=0.02, adjust_lr_fn="match_rms_adamw"), (4, 3), 5),
  "nadam": (
    lambda: torch_optim.nadam(weight_decay=0.1, decoupled_weight_decay=True, maximize=True),
    (3,),
    5,
  ),
  "radam": (
    lambda: torch_optim.radam(weight_decay=0.1, decoupled_weight_decay=True, maximize=True),
    (3,),
    8,
  ),
  "rprop": (lambda: torch_optim.rprop(maximize=True), (3,), 5),
  "sparse_adam": (lambda: torch_optim.sparse_adam(maximize=True), (3,), 5),
}


@pytest.mark.parametrize("name", list(_TWINS))
def test_jit_scan_compiles_once(name):
  make, shape, steps = _TWINS[name]
  tx = make()
  traces = []

  @jax.jit
  def run(params, grads):
    traces.append(None)

    def step(carry, g):
      params, state = carry
      updates, state = tx.update(g, state, params)
      return (optax.apply_updates(params, updates), state), None

    return jax.lax.scan(step, (params, tx.init(params)), grads)[0]

  grads = jnp.asarray(np.random.default_rng(0).standard_normal((steps, *shape)), jnp.float32)
  run(jnp.zeros(shape), grads)
  run(jnp.ones(shape), -grads)
  assert len(traces) == 1
