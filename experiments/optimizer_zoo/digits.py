"""Eleven optimizers on a digits MLP, each in JAX (a :mod:`jaxopt_fix` twin) and PyTorch.

The problem: scikit-learn's 8×8 digits (1797 images, pixels scaled to [0, 1]),
a fixed split into 1536 training images (6 batches of 256) and 261 held out, and
a 64-100-100-10 MLP with ReLU activations, trained on the mean negative
log-likelihood of its log-softmax. Every epoch visits the training images in a
new order, a permutation drawn from a numpy seed; both frameworks see the same
batches and start from the same weights, created once by ``torch.nn.Linear``
and copied into the flax params (kernel = weight.T).

In JAX the whole run, epochs × batches, is one jit-compiled ``lax.scan``; in
PyTorch it is the usual eager loop. Both record the minibatch loss at every step,
before the update.

``import experiments.optimizer_zoo.digits`` does not import torch.
"""

from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
import contextlib
import dataclasses
import itertools
import time
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

import jaxopt_fix
from jaxopt_fix import torch_optim

SIZES = (64, 100, 100, 10)
"""The MLP's layer widths, input to output."""
BATCH = 256
TRAIN = 1536
"""Training images: 6 batches of 256, so every epoch sees each image once."""
SPLIT_SEED = 0
"""The numpy seed of the train / held-out split, the same for every run."""


@dataclasses.dataclass(frozen=True)
class Optimizer:
  """One optimizer of the zoo, as PyTorch names it.

  Attributes:
    label: The name in tables and figures.
    torch_class: ``torch.optim.<torch_class>``, or ``"Yogi"`` for ``torch_optimizer.Yogi``.
    kwargs: The keyword arguments of the torch class, also those of the JAX twin.
  """

  label: str
  torch_class: str
  kwargs: Mapping[str, Any]

  def jax(self) -> optax.GradientTransformation:
    """The JAX twin: ``torch_optim.TWINS[torch_class]`` with ``kwargs``, or ``jaxopt_fix.yogi``."""
    if self.torch_class == "Yogi":
      b1, b2 = self.kwargs["betas"]
      return jaxopt_fix.yogi(
        self.kwargs["lr"],
        b1,
        b2,
        self.kwargs["eps"],
        initial_accumulator_value=self.kwargs["initial_accumulator"],
        variant="torch_optimizer",
      )
    return torch_optim.TWINS[self.torch_class].factory(**self.kwargs)

  def torch(self, params: Iterable[Any]) -> Any:
    """The PyTorch optimizer over ``params``."""
    if self.torch_class == "Yogi":
      import torch_optimizer

      return torch_optimizer.Yogi(params, **self.kwargs)
    import torch

    return getattr(torch.optim, self.torch_class)(params, **self.kwargs)

  def describe(self) -> str:
    """``Class(key=value, ...)``, as in the results."""
    module = "torch_optimizer" if self.torch_class == "Yogi" else "torch.optim"
    args = ", ".join(f"{key}={value!r}" for key, value in self.kwargs.items())
    return f"{module}.{self.torch_class}({args})"


OPTIMIZERS: dict[str, Optimizer] = {
  "sgd": Optimizer("SGD", "SGD", {"lr": 0.1}),
  "momentum": Optimizer("SGD + momentum", "SGD", {"lr": 0.05, "momentum": 0.9}),
  "nesterov": Optimizer("Nesterov", "SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
  "adagrad": Optimizer("Adagrad", "Adagrad", {"lr": 0.05}),
  "rmsprop": Optimizer("RMSprop", "RMSprop", {"lr": 1e-3}),
  "adadelta": Optimizer("Adadelta", "Adadelta", {"lr": 1.0}),
  "adam": Optimizer("Adam", "Adam", {"lr": 1e-3}),
  "adamax": Optimizer("Adamax", "Adamax", {"lr": 2e-3}),
  "nadam": Optimizer("NAdam", "NAdam", {"lr": 2e-3}),
  "amsgrad": Optimizer("AMSGrad", "Adam", {"lr": 1e-3, "amsgrad": True}),
  "yogi": Optimizer(
    "Yogi", "Yogi", {"lr": 1e-2, "betas": (0.9, 0.999), "eps": 1e-3, "initial_accumulator": 1e-6}
  ),
}
"""The zoo, by short name: each one's usual learning rate, torch's other defaults."""


@dataclasses.dataclass(frozen=True)
class Data:
  """The digits split: float64 images in [0, 1] (rows of 64 pixels) and int64 labels."""

  x_train: np.ndarray
  y_train: np.ndarray
  x_heldout: np.ndarray
  y_heldout: np.ndarray


def load_data() -> Data:
  """scikit-learn's digits, split by :data:`SPLIT_SEED` into :data:`TRAIN` and the rest.

  Returns:
    The split.

  Examples:
    >>> data = load_data()
    >>> data.x_train.shape, data.x_heldout.shape
    ((1536, 64), (261, 64))
  """
  from sklearn.datasets import load_digits

  digits = load_digits()
  x = np.asarray(digits.data, dtype=np.float64) / 16.0  # pyright: ignore[reportAttributeAccessIssue]
  y = np.asarray(digits.target, dtype=np.int64)  # pyright: ignore[reportAttributeAccessIssue]
  order = np.random.default_rng(SPLIT_SEED).permutation(len(y))
  train, heldout = order[:TRAIN], order[TRAIN:]
  return Data(x[train], y[train], x[heldout], y[heldout])


def batch_indices(epochs: int, seed: int) -> np.ndarray:
  """The training rows of every step: one permutation of the training set per epoch.

  Args:
    epochs: The number of epochs.
    seed: The numpy seed of the permutations.

  Returns:
    An int64 array of shape ``(epochs * TRAIN // BATCH, BATCH)``.

  Examples:
    >>> batch_indices(2, seed=0).shape
    (12, 256)
  """
  rng = np.random.default_rng(seed)
  orders = [rng.permutation(TRAIN) for _ in range(epochs)]
  return np.concatenate(orders).reshape(-1, BATCH)


@contextlib.contextmanager
def _torch_seed(seed: int) -> Iterator[None]:
  import torch

  with torch.random.fork_rng(devices=[]):
    torch.manual_seed(seed)
    yield


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
  """Runs torch on one thread inside the block: for these small matrices threads only add
  overhead, and much of it on a shared machine."""
  import torch

  threads = torch.get_num_threads()
  torch.set_num_threads(1)
  try:
    yield
  finally:
    torch.set_num_threads(threads)


def initial_weights(seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
  """``torch.nn.Linear``'s float32 initial (weight, bias) of every layer, from torch seed ``seed``.

  torch's global random state is left as it was.
  """
  import torch

  with _torch_seed(seed):
    layers = [torch.nn.Linear(n_in, n_out) for n_in, n_out in itertools.pairwise(SIZES)]
  return [(layer.weight.detach().numpy(), layer.bias.detach().numpy()) for layer in layers]


class MLP(nn.Module):
  """The flax model: Dense-ReLU-Dense-ReLU-Dense, returning logits."""

  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    for width in SIZES[1:-1]:
      x = jax.nn.relu(nn.Dense(width, dtype=self.dtype, param_dtype=self.dtype)(x))
    return nn.Dense(SIZES[-1], dtype=self.dtype, param_dtype=self.dtype)(x)


def flax_params(weights: list[tuple[np.ndarray, np.ndarray]], dtype: Any) -> dict[str, Any]:
  """The torch weights as flax params of :class:`MLP`: kernel = weight.T."""
  return {
    f"Dense_{i}": {"kernel": jnp.asarray(w.T, dtype), "bias": jnp.asarray(b, dtype)}
    for i, (w, b) in enumerate(weights)
  }


def torch_mlp(weights: list[tuple[np.ndarray, np.ndarray]], dtype: str) -> Any:
  """The torch model with the given weights, as ``torch.nn.Sequential``."""
  import torch

  torch_dtype = getattr(torch, dtype)
  layers: list[torch.nn.Module] = []
  for i, (w, b) in enumerate(weights):
    layer = torch.nn.Linear(w.shape[1], w.shape[0], dtype=torch_dtype)
    with torch.no_grad():
      layer.weight.copy_(torch.from_numpy(w))
      layer.bias.copy_(torch.from_numpy(b))
    layers.append(layer)
    if i < len(weights) - 1:
      layers.append(torch.nn.ReLU())
  return torch.nn.Sequential(*layers)


def _nll(params: Any, x: jax.Array, y: jax.Array, dtype: Any) -> jax.Array:
  log_p = jax.nn.log_softmax(MLP(dtype).apply({"params": params}, x))  # pyright: ignore[reportArgumentType]
  return -jnp.mean(jnp.take_along_axis(log_p, y[:, None], axis=1))


@dataclasses.dataclass(frozen=True)
class Run:
  """One optimizer's training in one framework.

  Attributes:
    losses: The minibatch loss of every step, before its update (float64 copy).
    final_loss: The loss on the whole training set after the last step.
    heldout_accuracy: The fraction of held-out images classified right.
    seconds: Wall time of the training loop (JAX: the compiled call only).
    compile_seconds: JAX: time to trace and compile; PyTorch: 0.
  """

  losses: np.ndarray
  final_loss: float
  heldout_accuracy: float
  seconds: float
  compile_seconds: float


def run_jax(
  optimizer: Optimizer,
  data: Data,
  weights: list[tuple[np.ndarray, np.ndarray]],
  indices: np.ndarray,
  dtype: str = "float32",
) -> Run:
  """Trains :class:`MLP` with the JAX twin of ``optimizer``, one jit-compiled scan.

  float64 needs ``jax.enable_x64``, which the caller sets.

  Args:
    optimizer: The optimizer.
    data: The digits split.
    weights: The initial weights, as :func:`initial_weights` returns them.
    indices: The training rows of every step, as :func:`batch_indices` returns them.
    dtype: ``"float32"`` or ``"float64"``.

  Returns:
    The run.
  """
  jdtype = jnp.dtype(dtype)
  tx = optimizer.jax()

  def train(params, x, y, indices):
    def step(carry, rows):
      params, state = carry
      loss, grads = jax.value_and_grad(_nll)(params, x[rows], y[rows], jdtype)
      updates, state = tx.update(grads, state, params)
      return (optax.apply_updates(params, updates), state), loss

    (params, _), losses = jax.lax.scan(step, (params, tx.init(params)), indices)
    return params, losses

  @jax.jit
  def evaluate(params, x, y, x_heldout, y_heldout):
    logits = MLP(jdtype).apply({"params": params}, x_heldout)
    correct = jnp.argmax(logits, axis=-1) == y_heldout  # pyright: ignore[reportArgumentType]
    return _nll(params, x, y, jdtype), jnp.mean(correct.astype(jdtype))

  args = (
    flax_params(weights, jdtype),
    jnp.asarray(data.x_train, jdtype),
    jnp.asarray(data.y_train, jnp.int32),
    jnp.asarray(indices, jnp.int32),
  )
  start = time.perf_counter()
  compiled = jax.jit(train).lower(*args).compile()
  compile_seconds = time.perf_counter() - start
  start = time.perf_counter()
  params, losses = jax.block_until_ready(compiled(*args))
  seconds = time.perf_counter() - start
  final_loss, accuracy = evaluate(
    params,
    args[1],
    args[2],
    jnp.asarray(data.x_heldout, jdtype),
    jnp.asarray(data.y_heldout, jnp.int32),
  )
  return Run(
    np.asarray(losses, np.float64), float(final_loss), float(accuracy), seconds, compile_seconds
  )


def run_torch(
  optimizer: Optimizer,
  data: Data,
  weights: list[tuple[np.ndarray, np.ndarray]],
  indices: np.ndarray,
  dtype: str = "float32",
) -> Run:
  """Trains the torch twin of :class:`MLP` with the PyTorch ``optimizer``, eagerly.

  Args:
    optimizer: The optimizer.
    data: The digits split.
    weights: The initial weights, as :func:`initial_weights` returns them.
    indices: The training rows of every step, as :func:`batch_indices` returns them.
    dtype: ``"float32"`` or ``"float64"``.

  Returns:
    The run.
  """
  import torch
  import torch.nn.functional as F

  torch_dtype = getattr(torch, dtype)
  model = torch_mlp(weights, dtype)
  opt = optimizer.torch(model.parameters())
  x = torch.from_numpy(data.x_train).to(torch_dtype)
  y = torch.from_numpy(data.y_train)
  rows = torch.from_numpy(indices)
  losses = np.empty(len(indices))
  with single_thread():
    start = time.perf_counter()
    for t in range(len(indices)):
      opt.zero_grad()
      loss = F.nll_loss(F.log_softmax(model(x[rows[t]]), dim=1), y[rows[t]])
      loss.backward()
      opt.step()
      losses[t] = loss.item()
    seconds = time.perf_counter() - start
  with torch.no_grad():
    final_loss = F.nll_loss(F.log_softmax(model(x), dim=1), y).item()
    logits = model(torch.from_numpy(data.x_heldout).to(torch_dtype))
    correct = logits.argmax(dim=1) == torch.from_numpy(data.y_heldout)
    accuracy = correct.to(torch_dtype).mean().item()
  return Run(losses, final_loss, accuracy, seconds, 0.0)
