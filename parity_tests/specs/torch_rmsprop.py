"""jaxopt_fix.torch_optim.rmsprop against torch.optim.RMSprop, on every CPU configuration of
PyTorch's own tests plus uncentered momentum and an alpha below 0.5 (torch's lerp then takes
its other branch)."""

import torch

from jaxopt_fix import torch_optim
from parity_tests.config import TWIN_STEPS
from parity_tests.config import ParitySpec
from parity_tests.config import Tolerance
from parity_tests.torch_configs import optim_db_configs

# torch's float32 sqrt on CPU (MKL's vectorised kernel) is not correctly rounded: it is one
# ulp away from XLA's correctly rounded sqrt in about 20% of elements (measured on 7- and
# 15-element tensors). With torch's sqrt substituted into the twin (a host callback, for the
# measurement only) every momentum configuration is bit-identical to torch (up to subnormals,
# which XLA flushes to zero). Without it the divisor differs by an ulp, and so does the
# parameter (as it also does from torch's addcdiv computing (-lr * g) / avg where the twin
# computes -lr * (g / avg)); through weight decay the parameter difference enters the
# gradient and every average. Where the gradient is dominated by weight_decay * param (the
# tiny coordinates of the "scales" sequence) the normalised steps make the parameter
# oscillate with growing amplitude, which amplifies the difference: measured at most 6.8e-6
# (momentum_buffer), 1.5e-6 (square_avg) and 1.1e-6 (grad_avg) of the running scale, while
# the displacement stays within 3e-7.
_SQRT_FEEDBACK = (
  "torch's float32 CPU sqrt is 1 ulp off in about 20% of elements (bit-identical with it"
  " substituted); the difference is fed back through weight decay and amplified by"
  " oscillating wd-dominated coordinates: measured {measured}"
)
_FLOAT32_STATE = {
  "momentum_buffer": Tolerance(2e-5, reason=_SQRT_FEEDBACK.format(measured="6.8e-6")),
  "square_avg": Tolerance(4e-6, reason=_SQRT_FEEDBACK.format(measured="1.5e-6")),
  "grad_avg": Tolerance(4e-6, reason=_SQRT_FEEDBACK.format(measured="1.1e-6")),
}


def _fields(kwargs):
  fields = {"square_avg": "square_avg"}
  if kwargs.get("momentum", 0) > 0:
    fields["momentum_buffer"] = "momentum_buffer"
  if kwargs.get("centered"):
    fields["grad_avg"] = "grad_avg"
  return fields


SPECS = [
  ParitySpec(
    name="torch_rmsprop",
    steps=TWIN_STEPS,
    make_jax=lambda kw: torch_optim.rmsprop(**kw),
    make_torch=lambda params, kw: torch.optim.RMSprop(params, **kw),
    configs={
      **optim_db_configs(torch.optim.RMSprop),
      "momentum_uncentered": {"momentum": 0.9, "weight_decay": 0.1},
      "small_alpha_centered_momentum": {
        "alpha": 0.3,
        "centered": True,
        "momentum": 0.5,
        "maximize": True,
      },
    },
    state_fields=_fields,
    count_field="step",
    initial_params="normal",
    tolerances={"float32": _FLOAT32_STATE},
  ),
]
