"""Dive into Deep Learning's Adam versus Yogi (§12.10), on scikit-learn's diabetes data.

D2L trains linear regression on the standardized airfoil data (not in
scikit-learn) with minibatches of 10, the loss ``(ŷ - y)² / 2`` and lr 0.01,
with its from-scratch Adam (eps 1e-6) and Yogi (eps 1e-3, both moments starting
at 0). Here the data are scikit-learn's diabetes (442 patients, 10 features and
the target, all standardized); the weights start at N(0, 0.01²), the bias at 0.
Adam is ``jaxopt_fix.torch_optim.adam(lr=0.01, eps=1e-6)`` (D2L's Adam is
torch's); Yogi is ``jaxopt_fix.yogi(0.01, eps=1e-3, variant="d2l")``, in torch
``torch_optimizer.Yogi(initial_accumulator=0)``. The loss on the whole data set
is recorded after every step.
"""

from collections.abc import Callable
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxopt_fix
from jaxopt_fix import torch_optim

BATCH = 10
LR = 0.01
INIT_SEED = 0
"""The numpy seed of the initial weights."""


@dataclasses.dataclass(frozen=True)
class Method:
  """One of the two optimizers, in both frameworks."""

  label: str
  jax: Callable[[], optax.GradientTransformation]
  torch: Callable[..., object]


def _torch_adam(params):
  import torch

  return torch.optim.Adam(params, lr=LR, eps=1e-6)


def _torch_yogi(params):
  import torch_optimizer

  return torch_optimizer.Yogi(params, lr=LR, eps=1e-3, initial_accumulator=0.0)


METHODS = {
  "adam": Method("Adam", lambda: torch_optim.adam(lr=LR, eps=1e-6), _torch_adam),
  "yogi": Method("Yogi", lambda: jaxopt_fix.yogi(LR, eps=1e-3, variant="d2l"), _torch_yogi),
}


def load_data() -> tuple[np.ndarray, np.ndarray]:
  """The diabetes features ``(442, 10)`` and target ``(442,)``, each column standardized.

  Examples:
    >>> x, y = load_data()
    >>> x.shape, round(float(y.std()), 6)
    ((442, 10), 1.0)
  """
  from sklearn.datasets import load_diabetes

  diabetes = load_diabetes()
  x = np.asarray(diabetes.data, dtype=np.float64)  # pyright: ignore[reportAttributeAccessIssue]
  y = np.asarray(diabetes.target, dtype=np.float64)  # pyright: ignore[reportAttributeAccessIssue]
  return (x - x.mean(axis=0)) / x.std(axis=0), (y - y.mean()) / y.std()


def batch_indices(n: int, epochs: int, seed: int) -> np.ndarray:
  """Rows of every step: a permutation of ``range(n)`` per epoch, the last partial batch dropped.

  Examples:
    >>> batch_indices(442, 2, seed=0).shape
    (88, 10)
  """
  rng = np.random.default_rng(seed)
  steps = n // BATCH
  return np.stack([rng.permutation(n)[: steps * BATCH] for _ in range(epochs)]).reshape(-1, BATCH)


def initial_weights(features: int) -> tuple[np.ndarray, np.ndarray]:
  """D2L's initialization: weights ``(features,)`` from N(0, 0.01²), bias ``(1,)`` zero."""
  rng = np.random.default_rng(INIT_SEED)
  return 0.01 * rng.standard_normal(features), np.zeros(1)


def run_jax(method: Method, epochs: int, seed: int, dtype: str = "float32") -> np.ndarray:
  """The full-data loss after every step (the first entry: before any), in JAX.

  One jit-compiled ``lax.scan``; float64 needs ``jax.enable_x64``, set by the caller.
  """
  jdtype = jnp.dtype(dtype)
  x_np, y_np = load_data()
  w0, b0 = initial_weights(x_np.shape[1])
  x, y = jnp.asarray(x_np, jdtype), jnp.asarray(y_np, jdtype)
  tx = method.jax()

  def loss(params, xb, yb):
    return jnp.mean((xb @ params["w"] + params["b"] - yb) ** 2) / 2

  @jax.jit
  def train(params, indices):
    def step(carry, rows):
      params, state = carry
      grads = jax.grad(loss)(params, x[rows], y[rows])
      updates, state = tx.update(grads, state, params)
      params = optax.apply_updates(params, updates)
      return (params, state), loss(params, x, y)

    _, losses = jax.lax.scan(step, (params, tx.init(params)), indices)
    return jnp.concatenate([loss(params, x, y)[None], losses])

  params = {"w": jnp.asarray(w0, jdtype), "b": jnp.asarray(b0, jdtype)}
  indices = jnp.asarray(batch_indices(len(y_np), epochs, seed), jnp.int32)
  return np.asarray(train(params, indices), np.float64)


def run_torch(method: Method, epochs: int, seed: int, dtype: str = "float32") -> np.ndarray:
  """The same as :func:`run_jax`, in PyTorch."""
  import torch

  from experiments.optimizer_zoo import digits

  torch_dtype = getattr(torch, dtype)
  x_np, y_np = load_data()
  w0, b0 = initial_weights(x_np.shape[1])
  x = torch.from_numpy(x_np).to(torch_dtype)
  y = torch.from_numpy(y_np).to(torch_dtype)
  w = torch.from_numpy(w0).to(torch_dtype).requires_grad_()
  b = torch.from_numpy(b0).to(torch_dtype).requires_grad_()
  opt = method.torch([w, b])

  def loss(xb, yb):
    return torch.mean((xb @ w + b - yb) ** 2) / 2

  indices = torch.from_numpy(batch_indices(len(y_np), epochs, seed))
  losses = []
  with digits.single_thread():
    with torch.no_grad():
      losses.append(loss(x, y).item())
    for rows in indices:
      opt.zero_grad()  # pyright: ignore[reportAttributeAccessIssue]
      loss(x[rows], y[rows]).backward()
      opt.step()  # pyright: ignore[reportAttributeAccessIssue]
      with torch.no_grad():
        losses.append(loss(x, y).item())
  return np.asarray(losses)
