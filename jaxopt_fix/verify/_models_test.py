"""train_side_by_side and the weight conversions: the digits MLP and a small CNN agree in
float64, every layer kind round-trips, and mismatched models are refused by name."""

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from sklearn.datasets import load_digits
import torch

from jaxopt_fix import verify

STEPS, BATCH = 60, 64


def _digits_batches(dtype, image=False):
  digits = load_digits()
  x = (digits.data / 16.0).astype(dtype)
  if image:
    x = x.reshape(-1, 1, 8, 8)
  rng = np.random.default_rng(0)
  batches = []
  for _ in range(STEPS):
    idx = rng.choice(len(x), BATCH, replace=False)
    batches.append((x[idx], digits.target[idx]))
  return batches


class FlaxMLP(nn.Module):
  dtype: Any

  @nn.compact
  def __call__(self, x):
    x = nn.relu(nn.Dense(32, dtype=self.dtype, param_dtype=self.dtype)(x))
    return nn.Dense(10, dtype=self.dtype, param_dtype=self.dtype)(x)


class FlaxCNN(nn.Module):
  """NCHW in, like torch: NHWC for flax's Conv, back to NCHW before flattening."""

  dtype: Any

  @nn.compact
  def __call__(self, x):
    x = jnp.transpose(x, (0, 2, 3, 1))
    x = nn.relu(nn.Conv(4, (3, 3), padding=1, dtype=self.dtype, param_dtype=self.dtype)(x))
    x = jnp.transpose(x, (0, 3, 1, 2)).reshape(x.shape[0], -1)
    return nn.Dense(10, dtype=self.dtype, param_dtype=self.dtype)(x)


def _torch_mlp(dtype):
  torch.manual_seed(0)
  return torch.nn.Sequential(
    torch.nn.Linear(64, 32, dtype=dtype), torch.nn.ReLU(), torch.nn.Linear(32, 10, dtype=dtype)
  )


def _torch_cnn(dtype):
  torch.manual_seed(0)
  return torch.nn.Sequential(
    torch.nn.Conv2d(1, 4, 3, padding=1, dtype=dtype),
    torch.nn.ReLU(),
    torch.nn.Flatten(),
    torch.nn.Linear(4 * 64, 10, dtype=dtype),
  )


MODELS = {
  "mlp": (_torch_mlp, FlaxMLP, False),
  "cnn": (_torch_cnn, FlaxCNN, True),
}


@pytest.mark.parametrize("model", list(MODELS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_digits_train_side_by_side(model, dtype):
  make_torch, flax_class, image = MODELS[model]
  torch_dtype = getattr(torch, dtype)
  net = make_torch(torch_dtype)
  opt = torch.optim.Adam(net.parameters(), lr=1e-2, amsgrad=True)
  result = verify.train_side_by_side(
    net, flax_class(getattr(jnp, dtype)), opt, _digits_batches(dtype, image)
  )
  assert result.torch_loss[-1] < 0.5 * result.torch_loss[0], "the model did not train"
  if dtype == "float64":
    assert result.agrees and result.worst < 1e-12, result.report()
    assert np.max(result.loss_errors) < 1e-12
  else:
    # float32: the frameworks' matmuls and convolutions round differently; the default
    # tolerance (1e-4) holds over these 60 steps.
    assert result.agrees, result.report()
    assert result.worst > 1e-8  # a float32 run is not bit-identical: the measure sees it


def test_a_different_optimizer_parts_at_the_first_step():
  net = _torch_mlp(torch.float64)
  opt = torch.optim.Adam(net.parameters(), lr=1e-2)
  import optax

  result = verify.train_side_by_side(
    net, FlaxMLP(jnp.float64), opt, _digits_batches("float64")[:5], tx=optax.adam(1.1e-2)
  )
  d = result.first_divergence
  assert d is not None and d[0] == 1 and d[1] in ("Dense_0", "Dense_1"), result.report()
  assert "parts at step 1" in result.report()


class FlaxText(nn.Module):
  @nn.compact
  def __call__(self, tokens):
    x = nn.Embed(12, 6, param_dtype=jnp.float64, dtype=jnp.float64)(tokens)
    x = nn.LayerNorm(epsilon=1e-5, param_dtype=jnp.float64, dtype=jnp.float64)(x)
    return nn.Dense(3, param_dtype=jnp.float64, dtype=jnp.float64)(x.mean(axis=1))


class TorchText(torch.nn.Module):
  def __init__(self):
    super().__init__()
    self.embed = torch.nn.Embedding(12, 6, dtype=torch.float64)
    self.norm = torch.nn.LayerNorm(6, dtype=torch.float64)
    self.out = torch.nn.Linear(6, 3, dtype=torch.float64)

  def forward(self, tokens):
    return self.out(self.norm(self.embed(tokens)).mean(dim=1))


def test_embedding_and_layer_norm_convert_both_ways():
  torch.manual_seed(1)
  net = TorchText()
  with torch.no_grad():
    net.norm.weight.uniform_(0.5, 1.5)
    net.norm.bias.uniform_(-0.5, 0.5)
  tokens = np.random.default_rng(0).integers(0, 12, (5, 7))
  with jax.enable_x64(True):
    template = FlaxText().init(jax.random.key(0), jnp.asarray(tokens))["params"]
    params = verify.flax_params_from_torch(net, template)
    out = np.asarray(FlaxText().apply({"params": params}, jnp.asarray(tokens)))
  expected = net(torch.from_numpy(tokens)).detach().numpy()
  np.testing.assert_allclose(out, expected, rtol=1e-13)
  other = TorchText()
  verify.torch_params_from_flax(params, other)
  for a, b in zip(net.parameters(), other.parameters(), strict=True):
    assert torch.equal(a, b)


def test_conv_round_trip_is_exact():
  torch.manual_seed(2)
  net = _torch_cnn(torch.float64)
  x = np.random.default_rng(0).standard_normal((3, 1, 8, 8))
  with jax.enable_x64(True):
    template = FlaxCNN(jnp.float64).init(jax.random.key(0), jnp.asarray(x))["params"]
    params = verify.flax_params_from_torch(net, template)
    out = np.asarray(FlaxCNN(jnp.float64).apply({"params": params}, jnp.asarray(x)))
  np.testing.assert_allclose(out, net(torch.from_numpy(x)).detach().numpy(), rtol=1e-12)
  copy = _torch_cnn(torch.float64)
  torch.nn.init.zeros_(copy[0].weight)
  verify.torch_params_from_flax(params, copy)
  assert torch.equal(copy[0].weight, net[0].weight) and torch.equal(copy[3].weight, net[3].weight)


def test_mismatched_models_are_refused_by_name():
  with jax.enable_x64(True):
    template = FlaxMLP(jnp.float64).init(jax.random.key(0), jnp.zeros((1, 64)))["params"]
  with pytest.raises(ValueError, match="torch module '0' is a BatchNorm1d"):
    verify.flax_params_from_torch(torch.nn.Sequential(torch.nn.BatchNorm1d(64)), template)
  with pytest.raises(ValueError, match="1 Linear layers"):
    verify.flax_params_from_torch(torch.nn.Sequential(torch.nn.Linear(64, 32)), template)
  wrong = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.Linear(16, 10))
  with pytest.raises(ValueError, match=r"torch '0'.weight \(16, 64\) becomes \(64, 16\)"):
    verify.flax_params_from_torch(wrong, template)
  net = _torch_mlp(torch.float64)
  two_groups = torch.optim.SGD([{"params": [net[0].weight]}, {"params": [net[0].bias]}], lr=0.1)
  with pytest.raises(ValueError, match="one param group"):
    verify.train_side_by_side(net, FlaxMLP(jnp.float64), two_groups, _digits_batches("float64")[:2])
