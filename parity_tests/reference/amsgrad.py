"""AMSGrad as the paper writes it, and as optax implements it (plain torch)."""

import torch

from parity_tests.reference import one_minus_power


class _AMSGrad(torch.optim.Optimizer):
  """Shared state handling; subclasses write the update of one parameter."""

  def __init__(self, params, lr: float, betas: tuple[float, float], eps: float):
    super().__init__(params, {"lr": lr, "betas": betas, "eps": eps})

  @torch.no_grad()
  def step(self, closure=None):  # pyright: ignore[reportIncompatibleMethodOverride]
    assert closure is None
    for group in self.param_groups:
      for p in group["params"]:
        if p.grad is None:
          continue
        state = self.state[p]
        if not state:
          state["step"] = 0
          state["exp_avg"] = torch.zeros_like(p)
          state["exp_avg_sq"] = torch.zeros_like(p)
          state["max_exp_avg_sq"] = torch.zeros_like(p)
        state["step"] += 1
        self._update(p, p.grad, state, group)

  def _update(self, p, g, state, group) -> None:
    raise NotImplementedError


class PaperAMSGrad(_AMSGrad):
  """Reddi, Kale & Kumar (ICLR 2018), Algorithm 2, with a constant beta1 and eps.

  m_t = b1 m_{t-1} + (1 - b1) g_t;  v_t = b2 v_{t-1} + (1 - b2) g_t^2;
  vhat_t = max(vhat_{t-1}, v_t);  x_{t+1} = x_t - lr m_t / (sqrt(vhat_t) + eps).
  No bias correction of either moment.
  """

  def _update(self, p, g, state, group) -> None:
    b1, b2 = group["betas"]
    m, v, vhat = state["exp_avg"], state["exp_avg_sq"], state["max_exp_avg_sq"]
    m.lerp_(g, 1 - b1)  # as torch.optim.Adam
    v.mul_(b2).addcmul_(g, g, value=1 - b2)
    torch.maximum(vhat, v, out=vhat)
    p.sub_(group["lr"] * m / (vhat.sqrt() + group["eps"]))


class OptaxAMSGrad(_AMSGrad):
  """optax.amsgrad (default flags): the maximum of the bias-corrected second moment.

  vhat_t = max(vhat_{t-1}, v_t / (1 - b2^t));
  x_{t+1} = x_t - lr (m_t / (1 - b1^t)) / (sqrt(vhat_t) + eps).
  """

  def _update(self, p, g, state, group) -> None:
    b1, b2 = group["betas"]
    t = state["step"]
    m, v, vhat = state["exp_avg"], state["exp_avg_sq"], state["max_exp_avg_sq"]
    m.lerp_(g, 1 - b1)  # as torch.optim.Adam
    v.mul_(b2).addcmul_(g, g, value=1 - b2)
    torch.maximum(vhat, v / one_minus_power(b2, t), out=vhat)
    p.sub_((group["lr"] / one_minus_power(b1, t)) * m / (vhat.sqrt() + group["eps"]))
