"""bfloat16 against torch: the twins' moments are torch's bit for bit, the parameters an ulp away.

torch's CPU kernels compute each operation on bfloat16 tensors in float32 (``opmath``) and round
its result once (``lerp_``, ``addcmul_``, ``mul_`` by a float32 scalar; ``add_``'s ``alpha`` and
an added scalar are rounded to bfloat16 first). The twins do the same
(:func:`jaxopt_fix._src.numerics.opmath_dtype`), so every state tensor that depends on the
gradients alone is torch's exactly after many steps. The parameter is not: torch rounds
``p - lr * d`` once in ``addcdiv_`` / ``add_``, while an optax step rounds the update ``-lr * d``
to the parameters' dtype (after rounding the direction) and ``apply_updates`` rounds
``p + update`` again. Those extra roundings move a parameter by at most an ulp of the update
and one of the result per step, on a small fraction of the elements; checked on one step.
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from jaxopt_fix import torch_optim

STEPS = 30
SIZE = 4096

# (twin, torch class, keywords, the state fields that depend on the gradients only)
CASES = [
  ("adam", "Adam", {"lr": 1e-3}, ("exp_avg", "exp_avg_sq")),
  ("adam", "Adam", {"lr": 1e-3, "amsgrad": True}, ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")),
  ("adamax", "Adamax", {}, ("exp_avg", "exp_inf")),
  ("nadam", "NAdam", {}, ("exp_avg", "exp_avg_sq")),
  ("radam", "RAdam", {}, ("exp_avg", "exp_avg_sq")),
  ("rmsprop", "RMSprop", {"centered": True}, ("square_avg", "grad_avg")),
  ("adagrad", "Adagrad", {}, ("sum",)),
  ("sgd", "SGD", {"lr": 1e-2, "momentum": 0.9, "dampening": 0.1}, ("momentum_buffer",)),
  ("sgd", "SGD", {"lr": 1e-2, "momentum": 0.9, "nesterov": True}, ("momentum_buffer",)),
  ("adafactor", "Adafactor", {}, ("variance",)),
]


def _run(twin: str, torch_class: str, kwargs: dict[str, Any], steps: int):
  rng = np.random.default_rng(0)
  p0 = rng.standard_normal(SIZE).astype(np.float32)
  grads = rng.standard_normal((steps, SIZE)).astype(np.float32)
  param = torch.tensor(p0).to(torch.bfloat16).requires_grad_()
  opt = getattr(torch.optim, torch_class)([param], foreach=False, **kwargs)
  tx = getattr(torch_optim, twin)(**kwargs)
  params = jnp.asarray(p0).astype(jnp.bfloat16)
  state = tx.init(params)
  step = jax.jit(lambda p, s, g: tx.update(g, s, p))
  for g in grads:
    param.grad = torch.tensor(g).to(torch.bfloat16)
    opt.step()
    updates, state = step(params, state, jnp.asarray(g).astype(jnp.bfloat16))
    params = jnp.asarray(optax.apply_updates(params, updates))
  return jnp.asarray(p0).astype(jnp.bfloat16), params, state, param.detach(), opt.state[param]


@pytest.mark.parametrize(("twin", "torch_class", "kwargs", "fields"), CASES)
def test_moments_are_torchs_bit_for_bit(twin, torch_class, kwargs, fields):
  _, _, state, _, torch_state = _run(twin, torch_class, kwargs, STEPS)
  for name in fields:
    ours = optax.tree.get(state, name)
    assert ours.dtype == jnp.bfloat16
    np.testing.assert_array_equal(
      np.asarray(ours.astype(jnp.float32)), torch_state[name].float().numpy(), err_msg=name
    )


def _ulp(x: np.ndarray) -> np.ndarray:
  """The spacing of bfloat16 numbers at ``|x|`` (8 significant bits)."""
  magnitude = np.maximum(np.abs(x), np.finfo(np.float32).tiny)
  return np.exp2(np.floor(np.log2(magnitude)) - 7)


@pytest.mark.parametrize(("twin", "torch_class", "kwargs", "fields"), CASES)
def test_one_step_differs_only_by_the_double_rounding(twin, torch_class, kwargs, fields):
  # torch: p1 = round(p0 - lr * d), one rounding of float32 values. The twin rounds the
  # direction d, then the update -lr * d (each at most half an ulp of the update), then the sum
  # (at most one ulp of the result where the earlier errors straddle a rounding boundary).
  del fields
  initial, params, _, torch_param, _ = _run(twin, torch_class, kwargs, 1)
  ours = np.asarray(params.astype(jnp.float32))
  theirs = torch_param.float().numpy()
  p0 = np.asarray(initial.astype(jnp.float32))
  bound = _ulp(theirs - p0) + _ulp(theirs)
  assert (np.abs(ours - theirs) <= bound).all()


def test_adafactor_rsqrt_is_torchs_for_every_bfloat16():
  # torch's bfloat16 rsqrt_: 1 / sqrt(x) in float32, each rounded, then rounded to bfloat16.
  # Every bfloat16 but the subnormals, which XLA:CPU flushes to zero (Adafactor clamps its
  # input at eps1 ** 2 first: none reaches the root).
  from jaxopt_fix.torch_optim import _adafactor

  bits = np.arange(2**16, dtype=np.uint32) << 16
  values = bits.view(np.float32)
  values = values[~((np.abs(values) < np.finfo(np.float32).tiny) & (values != 0))]
  theirs = torch.rsqrt(torch.from_numpy(values).to(torch.bfloat16)).float().numpy()
  ours = jax.jit(_adafactor._rsqrt)(jnp.asarray(values).astype(jnp.bfloat16))
  np.testing.assert_array_equal(np.asarray(ours.astype(jnp.float32)), theirs)
