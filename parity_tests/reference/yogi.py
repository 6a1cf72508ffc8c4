"""Yogi as TF Addons, Dive into Deep Learning and the paper write it (plain torch).

``torch_optimizer.Yogi`` is the fourth variant and is used directly. All variants share
the additive second-moment update v_t = v_{t-1} - (1 - b2) sign(v_{t-1} - g_t^2) g_t^2.
"""

import math

import torch

from parity_tests.reference import one_minus_power


class _Yogi(torch.optim.Optimizer):
  """Shared state handling; subclasses set the initial moments and the step."""

  m0_is_accumulator = False  # else the first moment starts at 0
  v0_is_accumulator = True  # else the second moment starts at 0

  def __init__(
    self,
    params,
    lr: float,
    betas: tuple[float, float],
    eps: float,
    initial_accumulator: float = 1e-6,
  ):
    defaults = {"lr": lr, "betas": betas, "eps": eps, "initial_accumulator": initial_accumulator}
    super().__init__(params, defaults)

  @torch.no_grad()
  def step(self, closure=None):  # pyright: ignore[reportIncompatibleMethodOverride]
    assert closure is None
    for group in self.param_groups:
      init = group["initial_accumulator"]
      for p in group["params"]:
        if p.grad is None:
          continue
        state = self.state[p]
        if not state:
          state["step"] = 0
          state["exp_avg"] = torch.full_like(p, init if self.m0_is_accumulator else 0.0)
          state["exp_avg_sq"] = torch.full_like(p, init if self.v0_is_accumulator else 0.0)
        state["step"] += 1
        b1, b2 = group["betas"]
        g, m, v = p.grad, state["exp_avg"], state["exp_avg_sq"]
        m.mul_(b1).add_(g, alpha=1 - b1)
        g2 = g * g
        v.addcmul_(torch.sign(v - g2), g2, value=-(1 - b2))  # as torch_optimizer.Yogi
        self._apply(p, m, v, state["step"], group)

  def _apply(self, p, m, v, t, group) -> None:
    raise NotImplementedError


class TFAYogi(_Yogi):
  """tensorflow_addons/optimizers/yogi.py (_resource_apply_dense), without l1/l2.

  m_0 = 0, v_0 = initial_accumulator_value;
  lr_t = lr * sqrt(1 - b2^t) / (1 - b1^t);  x -= lr_t * m / (sqrt(v) + eps).
  """

  def _apply(self, p, m, v, t, group) -> None:
    b1, b2 = group["betas"]
    lr_t = group["lr"] * math.sqrt(one_minus_power(b2, t)) / one_minus_power(b1, t)
    p.sub_(lr_t * m / (v.sqrt() + group["eps"]))


class D2LYogi(_Yogi):
  """d2l-en chapter_optimization/adam.md (Yogi, PyTorch tab).

  m_0 = v_0 = 0;  x -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps).
  """

  v0_is_accumulator = False

  def _apply(self, p, m, v, t, group) -> None:
    b1, b2 = group["betas"]
    m_hat = m / one_minus_power(b1, t)
    v_hat = v / one_minus_power(b2, t)
    p.sub_(group["lr"] * m_hat / (v_hat.sqrt() + group["eps"]))


class PaperYogi(_Yogi):
  """Zaheer et al. (NeurIPS 2018): m_0 = 0, v_0 = initial value, no bias correction.

  x -= lr * m / (sqrt(v) + eps).
  """

  def _apply(self, p, m, v, t, group) -> None:
    del t
    p.sub_(group["lr"] * m / (v.sqrt() + group["eps"]))
