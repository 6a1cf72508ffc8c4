"""jaxopt_fix.torch_optim.asgd against torch.optim.ASGD, on every CPU configuration of
PyTorch's own tests plus averaging from the first steps with maximize and weight decay."""

import torch

from jaxopt_fix import torch_optim
from parity_tests.config import TWIN_STEPS
from parity_tests.config import ParitySpec
from parity_tests.torch_configs import optim_db_configs

SPECS = [
  ParitySpec(
    name="torch_asgd",
    steps=TWIN_STEPS,
    make_jax=lambda kw: torch_optim.asgd(**kw),
    make_torch=lambda params, kw: torch.optim.ASGD(params, **kw),
    configs={
      **optim_db_configs(torch.optim.ASGD),
      "averaging_maximize_weight_decay": {
        "lr": 0.05,
        "lambd": 0.01,
        "alpha": 0.6,
        "t0": 2.5,
        "weight_decay": 0.1,
        "maximize": True,
      },
    },
    # eta and mu are one float32 scalar per run (torch keeps identical copies per
    # parameter), which the runner cannot compare per leaf; they drive the displacement,
    # and _asgd_test.py checks them against torch's formula.
    state_fields={"ax": "ax"},
    count_field="step",
    initial_params="normal",
  ),
]
