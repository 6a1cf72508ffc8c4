"""jaxopt_fix.torch_optim.radam against torch.optim.RAdam, on every CPU configuration of
PyTorch's own tests (they include coupled and decoupled weight decay). Its float64 tolerance
(torch's rectifier cancels) is in jaxopt_fix.verify.TWIN_TOLERANCES."""

import torch

from jaxopt_fix import torch_optim
from jaxopt_fix.verify import TWIN_TOLERANCES
from parity_tests.config import TWIN_STEPS
from parity_tests.config import ParitySpec
from parity_tests.torch_configs import optim_db_configs

SPECS = [
  ParitySpec(
    name="torch_radam",
    steps=TWIN_STEPS,
    make_jax=lambda kw: torch_optim.radam(**kw),
    make_torch=lambda params, kw: torch.optim.RAdam(params, **kw),
    configs=optim_db_configs(torch.optim.RAdam),
    state_fields={"exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq"},
    count_field="step",
    initial_params="normal",
    tolerances=TWIN_TOLERANCES["RAdam"],
  ),
]
