"""End to end: Reddi et al.'s online problem in eager torch vs :func:`run_online` in JAX.

The torch side is the loop of the common reproductions: a float32 ``x =
torch.zeros(1, requires_grad=True)``, ``torch.optim.Adam`` with lr 1e-2, betas
(0.9, 0.99), eps 1e-8, one ``opt.step()`` per iteration of ``for t in
range(T)`` (the 0-indexed loop: the gradient is 1010 when ``t % 101 == 1``,
else -10), then ``x.clamp_(-1, 1)`` under ``no_grad``.

With autograd the eager loop costs about 150 µs per step on a small CPU, so
the 100k-step runs set ``x.grad`` to the gradient directly (about 60 µs per
step); ``test_direct_gradient_is_the_autograd_loop`` checks on a prefix that
this is bitwise the same trajectory as ``loss.backward()``, as it must be: the
gradient of ``g * x`` is exactly ``g``. The 100k-step runs with autograd are
marked slow (``--runslow``).
"""

import math
import time

import jax.numpy as jnp
import numpy as np
import optax
import pytest
import torch

from experiments.reddi import problems
import jaxopt_fix

LR = 1e-2
BETAS = (0.9, 0.99)
EPS = 1e-8
STEPS = 100_000
X_TOLERANCE = 1e-4
AVG_REGRET_TOLERANCE = 1e-5


def _gradient(t: int) -> float:
  return 1010.0 if t % 101 == 1 else -10.0


def _torch_online(amsgrad: bool, steps: int, *, autograd: bool) -> tuple[np.ndarray, float]:
  """Runs the reproductions' eager loop; returns the iterates and the regret R_T.

  The regret is summed in float64 (``math.fsum``) from the iterate before each
  update, as :func:`run_online` defines it.
  """
  x = torch.zeros(1, requires_grad=True)
  opt = torch.optim.Adam([x], lr=LR, betas=BETAS, eps=EPS, amsgrad=amsgrad)
  xs = np.empty(steps, np.float32)
  terms = []
  for t in range(steps):
    g = _gradient(t)
    terms.append(g * (x.item() + 1.0))
    if autograd:
      loss = (g * x).sum()
      opt.zero_grad()
      loss.backward()
    else:
      x.grad = torch.full((1,), g)
    opt.step()
    with torch.no_grad():
      x.clamp_(-1.0, 1.0)
    xs[t] = x.item()
  return xs, math.fsum(terms)


def test_direct_gradient_is_the_autograd_loop():
  steps = 2 * 101 * 10
  for amsgrad in (False, True):
    with_autograd, regret_autograd = _torch_online(amsgrad, steps, autograd=True)
    direct, regret_direct = _torch_online(amsgrad, steps, autograd=False)
    np.testing.assert_array_equal(direct, with_autograd)
    assert regret_direct == regret_autograd


@pytest.mark.parametrize(
  ("amsgrad", "make_tx"),
  [
    (False, lambda: optax.adam(LR, b1=BETAS[0], b2=BETAS[1], eps=EPS)),
    (
      True,
      lambda: jaxopt_fix.amsgrad(LR, b1=BETAS[0], b2=BETAS[1], eps=EPS, variant="torch"),
    ),
  ],
  ids=["adam", "amsgrad"],
)
@pytest.mark.parametrize(
  "autograd", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["grad", "autograd"]
)
def test_online_problem_matches_eager_torch(amsgrad, make_tx, autograd):
  start = time.perf_counter()
  torch_xs, torch_regret = _torch_online(amsgrad, STEPS, autograd=autograd)
  torch_seconds = time.perf_counter() - start

  (run,) = problems.run_online(
    {"tx": make_tx()}, STEPS, record_every=1000, indexing="zero", dtype=jnp.float32
  ).values()
  torch_at_records = torch_xs[run.t - 1].astype(np.float64)
  x_diff = abs(run.x_final - float(torch_xs[-1]))
  max_x_diff = float(np.max(np.abs(run.x - torch_at_records)))
  regret_diff = abs(run.regret[-1] - torch_regret) / STEPS
  print(
    f"\n{'amsgrad' if amsgrad else 'adam'}: torch x_T {torch_xs[-1]:+.7f} ({torch_seconds:.1f} s),"
    f" jax x_T {run.x_final:+.7f} ({run.run_seconds:.3f} s); |diff| {x_diff:.2e},"
    f" max over record points {max_x_diff:.2e}; R_T/T torch {torch_regret / STEPS:.7f},"
    f" jax {run.avg_regret_final:.7f}, |diff| {regret_diff:.2e}"
  )
  assert x_diff < X_TOLERANCE
  assert max_x_diff < X_TOLERANCE
  assert regret_diff < AVG_REGRET_TOLERANCE
