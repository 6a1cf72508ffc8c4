"""jaxopt_fix.torch_optim.muon against torch.optim.Muon.

torch's Muon takes matrices only: the spec declares two, a wide one (no transposition,
lr ratio 1) and a tall one (Newton–Schulz on the transpose, lr ratio ``sqrt(5 / 3)``).
torch's bfloat16 Newton–Schulz makes a case take seconds, so rather than the full
product the spec lists its cases: configuration i runs sequence i mod 5 in dtype i mod 2
(every sequence in both dtypes but "reddi_online", added in float64). The full product
(9 configurations x 5 sequences x 2 dtypes) was measured within the tolerances.
"""

import torch

from jaxopt_fix import torch_optim
from jaxopt_fix import verify
from parity_tests.config import TWIN_STEPS
from parity_tests.config import ParitySpec
from parity_tests.torch_configs import optim_db_configs

_CONFIGS = {
  **optim_db_configs(torch.optim.Muon),
  # Both branches of torch's lerp: weight 1 - momentum >= 0.5 in the buffer update,
  # momentum < 0.5 in the Nesterov mix.
  "small_momentum_no_weight_decay": {"momentum": 0.3, "weight_decay": 0.0},
  "no_nesterov_match_rms_adamw": {"nesterov": False, "adjust_lr_fn": "match_rms_adamw", "lr": 0.02},
}
_SEQUENCES, _DTYPES = list(verify.SEQUENCES), ["float32", "float64"]

SPECS = [
  ParitySpec(
    name="torch_muon",
    steps=TWIN_STEPS,
    make_jax=lambda kw: torch_optim.muon(**kw),
    make_torch=lambda params, kw: torch.optim.Muon(params, **kw),
    configs=_CONFIGS,
    state_fields={"momentum_buffer": "momentum_buffer"},
    count_field=None,
    initial_params="normal",
    param_shapes={"kernel": (3, 5), "tall": (5, 3)},
    cases=(
      *(
        (config, _SEQUENCES[i % len(_SEQUENCES)], _DTYPES[i % len(_DTYPES)])
        for i, config in enumerate(_CONFIGS)
      ),
      ("default", "reddi_online", "float64"),
    ),
  )
]
