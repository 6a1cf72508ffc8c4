"""jaxopt_fix.torch_optim.rprop against torch.optim.Rprop, on every CPU configuration of
PyTorch's own tests plus an initial step size outside the step-size bounds."""

import torch

from jaxopt_fix import torch_optim
from parity_tests.config import TWIN_STEPS
from parity_tests.config import ParitySpec
from parity_tests.torch_configs import optim_db_configs

SPECS = [
  ParitySpec(
    name="torch_rprop",
    steps=TWIN_STEPS,
    make_jax=lambda kw: torch_optim.rprop(**kw),
    make_torch=lambda params, kw: torch.optim.Rprop(params, **kw),
    configs={
      **optim_db_configs(torch.optim.Rprop),
      # torch clamps the step size on the first step too (optax does not).
      "lr_above_max_maximize": {"lr": 0.5, "step_sizes": (1e-3, 0.1), "maximize": True},
    },
    state_fields={"prev": "prev", "step_size": "step_size"},
    count_field="step",
  ),
]
