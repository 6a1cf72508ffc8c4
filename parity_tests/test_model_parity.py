"""Model-level parity: one MLP trained in flax with a twin and in torch.nn with torch.optim.

The 8-16-16-1 tanh MLP starts from torch's initial weights (copied into the flax params,
kernels transposed: flax's Dense kernel is ``(in, out)``, torch's Linear weight
``(out, in)``), sees the same batches, and trains 100 float64 steps on a mean squared
error. Each framework differentiates its own model, so the gradients differ in the last
bits (summation order, tanh); the optimizers must not amplify that: the final weights
agree to 1e-10 relative.

The JAX optimizer is ``torch_optim.from_torch(torch_optimizer)``: the twin with the torch
optimizer's own hyperparameters.
"""

import itertools
from typing import Any
from typing import cast

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from jaxopt_fix import torch_optim

STEPS, BATCH = 100, 32
SIZES = (8, 16, 16, 1)
RTOL = 1e-10

# Twin name -> torch class and keyword arguments; names without a twin yet are skipped.
OPTIMIZERS: dict[str, tuple[str, dict[str, Any]]] = {
  "adam": ("Adam", {"lr": 1e-2, "amsgrad": True}),
  "adamw": ("AdamW", {"lr": 1e-2, "weight_decay": 0.1}),
  "sgd": ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
  "adagrad": ("Adagrad", {"lr": 0.05, "lr_decay": 1e-3}),
  "rmsprop": ("RMSprop", {"lr": 1e-3, "momentum": 0.5, "centered": True}),
  "adadelta": ("Adadelta", {"lr": 1.0}),
  "adamax": ("Adamax", {"lr": 2e-3}),
  "nadam": ("NAdam", {"lr": 2e-3}),
  "radam": ("RAdam", {"lr": 1e-2}),
}


class MLP(nn.Module):
  """Dense-tanh-Dense-tanh-Dense, the flax side."""

  @nn.compact
  def __call__(self, x):
    for width in SIZES[1:-1]:
      x = jnp.tanh(nn.Dense(width, param_dtype=jnp.float64, dtype=jnp.float64)(x))
    return nn.Dense(SIZES[-1], param_dtype=jnp.float64, dtype=jnp.float64)(x)


def _torch_mlp() -> torch.nn.Sequential:
  torch.manual_seed(0)
  layers = []
  for i, (n_in, n_out) in enumerate(itertools.pairwise(SIZES)):
    layers.append(torch.nn.Linear(n_in, n_out, dtype=torch.float64))
    if i < len(SIZES) - 2:
      layers.append(torch.nn.Tanh())
  return torch.nn.Sequential(*layers)


def _linears(model: torch.nn.Sequential) -> list[torch.nn.Linear]:
  return [m for m in model if isinstance(m, torch.nn.Linear)]


def _flax_params(model: torch.nn.Sequential) -> dict[str, Any]:
  """torch's weights as flax params: kernel = weight.T."""
  return {
    f"Dense_{i}": {
      "kernel": jnp.asarray(layer.weight.detach().numpy().T),
      "bias": jnp.asarray(layer.bias.detach().numpy()),
    }
    for i, layer in enumerate(_linears(model))
  }


def _batches() -> tuple[np.ndarray, np.ndarray]:
  rng = np.random.default_rng(42)
  x = rng.standard_normal((STEPS, BATCH, SIZES[0]))
  y = np.sin(x.sum(axis=-1, keepdims=True)) + 0.1 * rng.standard_normal((STEPS, BATCH, 1))
  return x, y


def _relative_error(actual: np.ndarray, desired: np.ndarray) -> float:
  """max |actual - desired| / max |desired| over the leaf."""
  return float(np.max(np.abs(actual - desired)) / np.max(np.abs(desired)))


def test_flax_params_reproduce_the_torch_model():
  model = _torch_mlp()
  x, _ = _batches()
  with jax.enable_x64(True):
    out = cast(jax.Array, MLP().apply({"params": _flax_params(model)}, jnp.asarray(x[0])))
  np.testing.assert_allclose(out, model(torch.from_numpy(x[0])).detach().numpy(), rtol=1e-13)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_mlp_training_matches_torch(name):
  class_name, kwargs = OPTIMIZERS[name]
  model = _torch_mlp()
  x, y = _batches()
  opt = getattr(torch.optim, class_name)(model.parameters(), **kwargs)

  with jax.enable_x64(True):
    params = _flax_params(model)
    tx = torch_optim.from_torch(opt)

    def loss(params, xb, yb):
      return jnp.mean((MLP().apply({"params": params}, xb) - yb) ** 2)

    @jax.jit
    def train(params, xs, ys):
      def step(carry, batch):
        params, state = carry
        grads = jax.grad(loss)(params, *batch)
        updates, state = tx.update(grads, state, params)
        return (optax.apply_updates(params, updates), state), None

      (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), (xs, ys))
      return params

    final = jax.tree.map(np.asarray, train(params, jnp.asarray(x), jnp.asarray(y)))

  for t in range(STEPS):
    opt.zero_grad()
    prediction = model(torch.from_numpy(x[t]))
    torch.mean((prediction - torch.from_numpy(y[t])) ** 2).backward()
    opt.step()

  initial = _flax_params(_torch_mlp())
  for i, layer in enumerate(_linears(model)):
    leaves = {"kernel": layer.weight.detach().numpy().T, "bias": layer.bias.detach().numpy()}
    for leaf, desired in leaves.items():
      actual = final[f"Dense_{i}"][leaf]
      moved = _relative_error(np.asarray(initial[f"Dense_{i}"][leaf]), desired)
      assert moved > 1e-4, f"Dense_{i}/{leaf} barely trained ({moved:.1e})"
      error = _relative_error(actual, desired)
      assert error <= RTOL, f"Dense_{i}/{leaf}: {error:.2e} relative"
