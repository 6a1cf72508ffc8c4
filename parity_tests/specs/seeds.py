"""The seed systems' own code as references: ``jaxopt_fix.amsgrad(variant="keras")`` against
labml_nn's ``AMSGrad`` (``optimized_update=True``, its default: ε on the uncorrected root,
both bias corrections folded into the step size).

labml_nn is installed without its dependencies (``pip install --no-deps -r
parity_tests/seeds.txt``, part of the README's test command: its optimizers need only torch;
its other requirements pull torchvision and another torch build). Without it this module has
no specs and ``test_seeds.py`` says why.
"""

import importlib.util

import jaxopt_fix
from parity_tests.config import ParitySpec

AVAILABLE = importlib.util.find_spec("labml_nn") is not None

CONFIGS = {
  # labml_nn's AMSGrad defaults.
  "labml_defaults": {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-16},
  # labml_nn's Reddi et al. experiment (labml_nn/optimizers/amsgrad.py, _synthetic_experiment).
  "labml_reddi": {"lr": 1e-2, "betas": (0.9, 0.99), "eps": 1e-16},
  # eps of the order of sqrt(v): where it is added is visible.
  "large_eps": {"lr": 1e-3, "betas": (0.9, 0.99), "eps": 1e-1},
  # b2 this close to 1 is where float32 bias corrections go wrong.
  "b2_0.99999": {"lr": 1e-3, "betas": (0.5, 0.99999), "eps": 1e-6},
}
FIELDS = {"mu": "exp_avg", "nu": "exp_avg_sq", "nu_max": "max_exp_avg_sq"}


def _keras(kw):
  b1, b2 = kw["betas"]
  return jaxopt_fix.amsgrad(kw["lr"], b1, b2, kw["eps"], variant="keras")


def _labml(params, kw):
  from labml_nn.optimizers.amsgrad import AMSGrad

  return AMSGrad(params, **kw)


SPECS = (
  [
    ParitySpec(
      name="amsgrad_keras_labml",
      make_jax=_keras,
      make_torch=_labml,
      configs=CONFIGS,
      state_fields=FIELDS,
    )
  ]
  if AVAILABLE
  else []
)
