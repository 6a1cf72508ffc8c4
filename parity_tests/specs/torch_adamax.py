"""jaxopt_fix.torch_optim.adamax against torch.optim.Adamax, on every CPU configuration of
PyTorch's own tests."""

import torch

from jaxopt_fix import torch_optim
from parity_tests.config import TWIN_STEPS
from parity_tests.config import ParitySpec
from parity_tests.torch_configs import optim_db_configs

SPECS = [
  ParitySpec(
    name="torch_adamax",
    steps=TWIN_STEPS,
    make_jax=lambda kw: torch_optim.adamax(**kw),
    make_torch=lambda params, kw: torch.optim.Adamax(params, **kw),
    configs=optim_db_configs(torch.optim.Adamax),
    state_fields={"exp_avg": "exp_avg", "exp_inf": "exp_inf"},
    count_field="step",
    initial_params="normal",
  ),
]
