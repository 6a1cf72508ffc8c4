"""jaxopt_fix.yogi, one spec per variant, against torch_optimizer.Yogi and the plain-torch
references."""

import torch_optimizer

import jaxopt_fix
from parity_tests.config import ParitySpec
from parity_tests.reference import yogi as reference

CONFIGS = {
  "defaults": {"lr": 1e-2, "betas": (0.9, 0.999), "eps": 1e-3, "initial_accumulator": 1e-6},
  "reddi": {"lr": 1e-2, "betas": (0.9, 0.99), "eps": 1e-3, "initial_accumulator": 1e-6},
  "b2_0.99999": {"lr": 1e-3, "betas": (0.5, 0.99999), "eps": 1e-6, "initial_accumulator": 1e-6},
}
FIELDS = {"mu": "exp_avg", "nu": "exp_avg_sq"}


def _jax(variant: jaxopt_fix.YogiVariant):
  def make(kw):
    b1, b2 = kw["betas"]
    return jaxopt_fix.yogi(
      kw["lr"],
      b1,
      b2,
      kw["eps"],
      initial_accumulator_value=kw["initial_accumulator"],
      variant=variant,
    )

  return make


SPECS = [
  ParitySpec(
    name="yogi_torch_optimizer",
    make_jax=_jax("torch_optimizer"),
    make_torch=lambda params, kw: torch_optimizer.Yogi(params, **kw),
    configs=CONFIGS,
    state_fields=FIELDS,
  ),
  ParitySpec(
    name="yogi_tfa",
    make_jax=_jax("tfa"),
    make_torch=lambda params, kw: reference.TFAYogi(params, **kw),
    configs=CONFIGS,
    state_fields=FIELDS,
  ),
  ParitySpec(
    name="yogi_d2l",
    make_jax=_jax("d2l"),
    make_torch=lambda params, kw: reference.D2LYogi(params, **kw),
    configs=CONFIGS,
    state_fields=FIELDS,
  ),
  ParitySpec(
    name="yogi_paper",
    make_jax=_jax("paper"),
    make_torch=lambda params, kw: reference.PaperYogi(params, **kw),
    configs=CONFIGS,
    state_fields=FIELDS,
  ),
]
