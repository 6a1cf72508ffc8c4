"""jaxopt_fix.torch_optim.adafactor against torch.optim.Adafactor, on every CPU
configuration of PyTorch's own tests.

torch keeps ``row_var``/``col_var`` for the 2-D parameter and ``variance`` for the 1-D one;
the twin holds zero placeholders of shape ``(1,) * ndim`` in the other fields, and the torch
side below records the same placeholders so that every field is compared on every leaf.
"""

import torch

from jaxopt_fix import torch_optim
from parity_tests.config import TWIN_STEPS
from parity_tests.config import ParitySpec
from parity_tests.torch_configs import optim_db_configs

_KEYS = ("row_var", "col_var", "variance")


class _WithPlaceholders(torch.optim.Adafactor):
  """torch's Adafactor, exposing the twin's zero placeholders for the keys a parameter
  lacks (after each step, so the step itself never sees them)."""

  def step(self, closure=None):
    loss = super().step(closure)
    for group in self.param_groups:
      for p in group["params"]:
        state = self.state[p]
        for key in _KEYS:
          if key not in state:
            state[key] = torch.zeros((1,) * p.dim(), dtype=p.dtype)
    return loss


SPECS = [
  ParitySpec(
    name="torch_adafactor",
    steps=TWIN_STEPS,
    make_jax=lambda kw: torch_optim.adafactor(**kw),
    make_torch=lambda params, kw: _WithPlaceholders(params, **kw),
    configs=optim_db_configs(torch.optim.Adafactor),
    state_fields={key: key for key in _KEYS},
    count_field="step",
    initial_params="normal",
  ),
]
