"""jaxopt_fix.torch_optim.nadam against torch.optim.NAdam, on every CPU configuration of
PyTorch's own tests (they include coupled and decoupled weight decay).

``mu_product`` is a scalar on the JAX side, not a tree like the parameters, so the runner
does not compare it; it enters every update through ``1 - mu_product``, and
``jaxopt_fix/torch_optim/_nadam_test.py`` checks it bit for bit against torch's rounding.
"""

import torch

from jaxopt_fix import torch_optim
from parity_tests.config import TWIN_STEPS
from parity_tests.config import ParitySpec
from parity_tests.torch_configs import optim_db_configs

SPECS = [
  ParitySpec(
    name="torch_nadam",
    steps=TWIN_STEPS,
    make_jax=lambda kw: torch_optim.nadam(**kw),
    make_torch=lambda params, kw: torch.optim.NAdam(params, **kw),
    configs=optim_db_configs(torch.optim.NAdam),
    state_fields={"exp_avg": "exp_avg", "exp_avg_sq": "exp_avg_sq"},
    count_field="step",
    initial_params="normal",
  ),
]
