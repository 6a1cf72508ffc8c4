"""jaxopt_fix.amsgrad, one spec per variant, against torch.optim.Adam(amsgrad=True) and
the plain-torch references."""

import torch

import jaxopt_fix
from parity_tests.config import ParitySpec
from parity_tests.reference import amsgrad as reference

CONFIGS = {
  "defaults": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8},
  # The settings of the Reddi et al. reproductions.
  "reddi": {"lr": 1e-2, "betas": (0.9, 0.99), "eps": 1e-8},
  # b2 this close to 1 is where float32 bias corrections go wrong (optax: 6.8e-4).
  "b2_0.99999": {"lr": 1e-3, "betas": (0.5, 0.99999), "eps": 1e-6},
}
FIELDS = {"mu": "exp_avg", "nu": "exp_avg_sq", "nu_max": "max_exp_avg_sq"}


def _jax(variant: jaxopt_fix.AmsgradVariant):
  def make(kw):
    b1, b2 = kw["betas"]
    return jaxopt_fix.amsgrad(kw["lr"], b1, b2, kw["eps"], variant=variant)

  return make


SPECS = [
  ParitySpec(
    name="amsgrad_torch",
    make_jax=_jax("torch"),
    make_torch=lambda params, kw: torch.optim.Adam(params, amsgrad=True, **kw),
    configs=CONFIGS,
    state_fields=FIELDS,
  ),
  ParitySpec(
    name="amsgrad_paper",
    make_jax=_jax("paper"),
    make_torch=lambda params, kw: reference.PaperAMSGrad(params, **kw),
    configs={**CONFIGS, "no_eps": {"lr": 1e-2, "betas": (0.9, 0.99), "eps": 0.0}},
    state_fields=FIELDS,
  ),
  ParitySpec(
    name="amsgrad_optax",
    make_jax=_jax("optax"),
    make_torch=lambda params, kw: reference.OptaxAMSGrad(params, **kw),
    configs=CONFIGS,
    state_fields=FIELDS,
  ),
]
