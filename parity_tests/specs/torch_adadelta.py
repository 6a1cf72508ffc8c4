"""jaxopt_fix.torch_optim.adadelta against torch.optim.Adadelta, on every CPU configuration
of PyTorch's own tests plus a small rho and large eps under maximize. Its float32 acc_delta
tolerance (torch's CPU sqrt) is in jaxopt_fix.verify.TWIN_TOLERANCES."""

import torch

from jaxopt_fix import torch_optim
from jaxopt_fix.verify import TWIN_TOLERANCES
from parity_tests.config import TWIN_STEPS
from parity_tests.config import ParitySpec
from parity_tests.torch_configs import optim_db_configs

SPECS = [
  ParitySpec(
    name="torch_adadelta",
    steps=TWIN_STEPS,
    make_jax=lambda kw: torch_optim.adadelta(**kw),
    make_torch=lambda params, kw: torch.optim.Adadelta(params, **kw),
    configs={
      **optim_db_configs(torch.optim.Adadelta),
      "small_rho_large_eps_maximize": {
        "lr": 0.5,
        "rho": 0.5,
        "eps": 1e-3,
        "weight_decay": 0.1,
        "maximize": True,
      },
    },
    state_fields={"square_avg": "square_avg", "acc_delta": "acc_delta"},
    count_field="step",
    initial_params="normal",
    tolerances=TWIN_TOLERANCES["Adadelta"],
  ),
]
