"""Tests for :func:`jaxopt_fix.torch_optim.muon` (parity with torch:
parity_tests/test_muon_parity.py)."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxopt_fix import torch_optim
from jaxopt_fix.torch_optim import _muon


@pytest.mark.parametrize(
  ("kwargs", "match"),
  [
    ({"lr": -1.0}, "Learning rate should be >= 0 but is"),
    ({"momentum": -0.1}, "momentum should be >= 0"),
    ({"weight_decay": -0.1}, "weight decay should be >= 0"),
    ({"adjust_lr_fn": "rms"}, "Adjust learning rate function rms is not supported"),
    ({"ns_steps": 100}, "Number of steps must be less than 100"),
    ({"ns_coefficients": (3.0, -4.0)}, "Coefficients must be a tuple of exactly 3 values"),
  ],
)
def test_rejects_what_torch_rejects(kwargs, match):
  with pytest.raises(ValueError, match=match):
    torch_optim.muon(**kwargs)


@pytest.mark.parametrize("shape", [(), (3,), (2, 3, 4)])
def test_rejects_non_matrix_parameters(shape):
  tx = torch_optim.muon()
  with pytest.raises(ValueError, match="Muon only supports 2D parameters"):
    tx.init({"w": jnp.zeros((2, 3)), "b": jnp.zeros(shape)})


@pytest.mark.parametrize("shape", [(8, 16), (16, 8)])
def test_newton_schulz_nearly_orthogonalises(shape):
  """Keller Jordan's iteration leaves singular values roughly in (0.5, 1.5)."""
  g = jnp.asarray(np.random.default_rng(1).standard_normal(shape), jnp.float32)
  out = _muon.newton_schulz(g)
  assert out.dtype == jnp.bfloat16 and out.shape == shape
  s = np.linalg.svd(np.asarray(out, np.float32), compute_uv=False)
  assert s.min() > 0.5 and s.max() < 1.5, s


def test_newton_schulz_of_zero_is_zero():
  """The norm is clamped at eps: no division by zero."""
  np.testing.assert_array_equal(np.asarray(_muon.newton_schulz(jnp.zeros((2, 3)))), 0.0)


@pytest.mark.parametrize(
  ("adjust_lr_fn", "shape", "ratio"),
  [
    (None, (3, 5), 1.0),
    ("original", (12, 3), 2.0),
    ("match_rms_adamw", (4, 9), 0.2 * 3.0),
  ],
)
def test_adjust_lr_fn_scales_the_step_by_torchs_shape_ratio(adjust_lr_fn, shape, ratio):
  g = jnp.asarray(np.random.default_rng(2).standard_normal(shape), jnp.float32)
  params = jnp.zeros(shape)
  adjusted = torch_optim.muon(lr=0.1, weight_decay=0.0, adjust_lr_fn=adjust_lr_fn)
  direction = torch_optim.scale_by_torch_muon()
  got, _ = adjusted.update(g, adjusted.init(params), params)
  d, _ = direction.update(g, direction.init(params))
  np.testing.assert_array_equal(np.asarray(got), np.asarray(d * -(0.1 * ratio)))
