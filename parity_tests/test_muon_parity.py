"""jaxopt_fix.torch_optim.muon against torch.optim.Muon, with the generic runner.

Not a module of ``parity_tests/specs``: torch's Muon rejects the runner's 1-D ``bias``
leaf at construction, so these cases swap the runner's ``PARAM_SHAPES`` for two matrices,
a wide one (no transposition, lr ratio 1) and a tall one (Newton–Schulz on the transpose,
lr ratio ``sqrt(5 / 3)``), and otherwise run and compare exactly as ``test_parity.py``.
"""

import numpy as np
import pytest
import torch

from jaxopt_fix import torch_optim
from parity_tests import gradients
from parity_tests import runner
from parity_tests.config import TWIN_STEPS
from parity_tests.config import ParitySpec
from parity_tests.torch_configs import optim_db_configs

SHAPES: dict[str, tuple[int, ...]] = {"kernel": (3, 5), "tall": (5, 3)}

SPEC = ParitySpec(
  name="torch_muon",
  steps=TWIN_STEPS,
  make_jax=lambda kw: torch_optim.muon(**kw),
  make_torch=lambda params, kw: torch.optim.Muon(params, **kw),
  configs={
    **optim_db_configs(torch.optim.Muon),
    # Both branches of torch's lerp: weight 1 - momentum >= 0.5 in the buffer update,
    # momentum < 0.5 in the Nesterov mix.
    "small_momentum_no_weight_decay": {"momentum": 0.3, "weight_decay": 0.0},
    "no_nesterov_match_rms_adamw": {
      "nesterov": False,
      "adjust_lr_fn": "match_rms_adamw",
      "lr": 0.02,
    },
  },
  state_fields={"momentum_buffer": "momentum_buffer"},
  count_field=None,
  initial_params="normal",
)

# torch's bfloat16 Newton-Schulz makes a case take seconds: rather than the full product,
# configuration i runs sequence i mod 5 in dtype i mod 2 (every sequence in both dtypes
# but "reddi_online", added in float64). The full product (9 x 5 x 2) was measured exact.
_SEQUENCES, _DTYPES = list(gradients.SEQUENCES), list(runner.DTYPES)
CASES = [
  pytest.param(config, sequence, dtype, id=f"{SPEC.name}-{config}-{sequence}-{dtype}")
  for config, sequence, dtype in [
    *(
      (config, _SEQUENCES[i % len(_SEQUENCES)], _DTYPES[i % len(_DTYPES)])
      for i, config in enumerate(SPEC.configs)
    ),
    ("default", "reddi_online", "float64"),
  ]
]


@pytest.fixture(autouse=True)
def _matrices_only(monkeypatch):
  monkeypatch.setattr(runner, "PARAM_SHAPES", SHAPES)


@pytest.mark.parametrize(("config", "sequence", "dtype"), CASES)
def test_muon_parity(config, sequence, dtype):
  errors, _, _ = runner.run_parity(SPEC, config, sequence, dtype, SPEC.steps)
  failures = [
    f"{e.field}: {e.error:.3g} > {SPEC.tolerance(dtype, e.field).rtol:.3g}"
    f" (first worst at step {e.step}, leaf {e.leaf!r})"
    for e in errors
    if not e.error <= SPEC.tolerance(dtype, e.field).rtol
  ]
  assert not failures, "\n".join(failures)


def test_runner_sees_only_matrices():
  grads = runner.grads_for("gaussian", 2, "float32")
  assert [g.shape[1:] for g in grads] == list(SHAPES.values())
  assert np.all(np.isfinite(np.concatenate([g.ravel() for g in grads])))
