"""jaxopt_fix.torch_optim.adagrad against torch.optim.Adagrad, on every CPU configuration of
PyTorch's own tests plus lr_decay with an initial accumulator under maximize."""

import torch

from jaxopt_fix import torch_optim
from parity_tests.config import TWIN_STEPS
from parity_tests.config import ParitySpec
from parity_tests.torch_configs import optim_db_configs

SPECS = [
  ParitySpec(
    name="torch_adagrad",
    steps=TWIN_STEPS,
    make_jax=lambda kw: torch_optim.adagrad(**kw),
    make_torch=lambda params, kw: torch.optim.Adagrad(params, **kw),
    configs={
      **optim_db_configs(torch.optim.Adagrad),
      "lr_decay_accumulator_maximize": {
        "lr": 0.1,
        "lr_decay": 0.01,
        "initial_accumulator_value": 0.5,
        "weight_decay": 0.1,
        "maximize": True,
      },
    },
    state_fields={"sum": "sum"},
    count_field="step",
    initial_params="normal",
  ),
]
