"""jaxopt_fix.torch_optim.adam / adamw against torch.optim.Adam / AdamW, on every CPU
configuration of PyTorch's own tests plus the decoupled/coupled weight-decay combinations."""

import torch

from jaxopt_fix import torch_optim
from parity_tests.config import TWIN_STEPS
from parity_tests.config import ParitySpec
from parity_tests.torch_configs import optim_db_configs


def _fields(kwargs):
  fields = {"exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq"}
  if kwargs.get("amsgrad"):
    fields["max_exp_avg_sq"] = "max_exp_avg_sq"
  return fields


SPECS = [
  ParitySpec(
    name="torch_adam",
    steps=TWIN_STEPS,
    make_jax=lambda kw: torch_optim.adam(**kw),
    make_torch=lambda params, kw: torch.optim.Adam(params, **kw),
    configs={
      **optim_db_configs(torch.optim.Adam),
      "decoupled_weight_decay": {"weight_decay": 0.1, "decoupled_weight_decay": True},
      "decoupled_maximize_amsgrad": {
        "weight_decay": 0.1,
        "decoupled_weight_decay": True,
        "maximize": True,
        "amsgrad": True,
      },
    },
    state_fields=_fields,
    count_field="step",
    initial_params="normal",
  ),
  ParitySpec(
    name="torch_adamw",
    steps=TWIN_STEPS,
    make_jax=lambda kw: torch_optim.adamw(**kw),
    make_torch=lambda params, kw: torch.optim.AdamW(params, **kw),
    configs=optim_db_configs(torch.optim.AdamW),
    state_fields=_fields,
    count_field="step",
    initial_params="normal",
  ),
]
