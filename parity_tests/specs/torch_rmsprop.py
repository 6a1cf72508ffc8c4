"""jaxopt_fix.torch_optim.rmsprop against torch.optim.RMSprop, on every CPU configuration of
PyTorch's own tests plus uncentered momentum and an alpha below 0.5 (torch's lerp then takes
its other branch). Its float32 state tolerances (torch's CPU sqrt, fed back through weight
decay) are in jaxopt_fix.verify.TWIN_TOLERANCES."""

import torch

from jaxopt_fix import torch_optim
from jaxopt_fix.verify import TWIN_TOLERANCES
from parity_tests.config import TWIN_STEPS
from parity_tests.config import ParitySpec
from parity_tests.torch_configs import optim_db_configs


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
    tolerances=TWIN_TOLERANCES["RMSprop"],
  ),
]
