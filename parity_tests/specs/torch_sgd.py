"""jaxopt_fix.torch_optim.sgd against torch.optim.SGD, on every CPU configuration of
PyTorch's own tests plus dampening under maximize and weight decay."""

import torch

from jaxopt_fix import torch_optim
from parity_tests.config import TWIN_STEPS
from parity_tests.config import ParitySpec
from parity_tests.torch_configs import optim_db_configs


def _fields(kwargs):
  # torch keeps a momentum_buffer only when momentum != 0.
  return {"momentum_buffer": "momentum_buffer"} if kwargs.get("momentum", 0) else {}


SPECS = [
  ParitySpec(
    name="torch_sgd",
    steps=TWIN_STEPS,
    make_jax=lambda kw: torch_optim.sgd(**kw),
    make_torch=lambda params, kw: torch.optim.SGD(params, **kw),
    configs={
      **optim_db_configs(torch.optim.SGD),
      "dampening_maximize_weight_decay": {
        "lr": 0.01,
        "momentum": 0.9,
        "dampening": 0.5,
        "weight_decay": 0.1,
        "maximize": True,
      },
    },
    state_fields=_fields,
    count_field=None,
    initial_params="normal",
  ),
]
