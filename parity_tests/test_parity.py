"""Every spec x configuration x gradient sequence x dtype, compared after every step."""

import dataclasses

import numpy as np
import pytest

import jaxopt_fix
from jaxopt_fix import verify
from parity_tests import runner
from parity_tests.specs import all_specs

# The sequences of one configuration and dtype share a compiled program (runner.run_jax):
# xdist's loadgroup keeps them on one worker.
CASES = [
  pytest.param(
    spec,
    config,
    sequence,
    dtype,
    id=f"{spec.name}-{config}-{sequence}-{dtype}",
    marks=pytest.mark.xdist_group(f"{spec.name}-{config}-{dtype}"),
  )
  for spec in all_specs()
  for config, sequence, dtype in spec.all_cases(list(verify.SEQUENCES), list(runner.DTYPES))
]


@pytest.mark.parametrize(("spec", "config", "sequence", "dtype"), CASES)
def test_parity(spec, config, sequence, dtype):
  errors, jax_run, torch_run = runner.run_parity(spec, config, sequence, dtype, spec.steps)
  if spec.count_field is not None:
    np.testing.assert_array_equal(jax_run.count, torch_run.count, err_msg="step count")
  failures = [
    f"{e.field}: {e.error:.3g} > {spec.tolerance(dtype, e.field).rtol:.3g}"
    f" (first worst at step {e.step}, leaf {e.leaf!r})"
    for e in errors
    if not e.error <= spec.tolerance(dtype, e.field).rtol
  ]
  assert not failures, "\n".join(failures)


@pytest.mark.parametrize(
  ("spec_name", "wrong_variant"),
  [("amsgrad_torch", "optax"), ("amsgrad_torch", "paper"), ("yogi_torch_optimizer", "tfa")],
)
def test_runner_tells_variants_apart(spec_name, wrong_variant):
  """The runner must fail a JAX variant that is not the reference's algorithm."""
  spec = next(s for s in all_specs() if s.name == spec_name)
  alias = jaxopt_fix.amsgrad if spec_name.startswith("amsgrad") else jaxopt_fix.yogi

  def make_wrong(kw):
    b1, b2 = kw["betas"]
    return alias(kw["lr"], b1, b2, kw["eps"], variant=wrong_variant)

  wrong = dataclasses.replace(spec, make_jax=make_wrong, state_fields={"mu": "exp_avg"})
  errors, _, _ = runner.run_parity(wrong, "reddi", "gaussian", "float64", 50)
  assert errors[0].field == "displacement"
  assert errors[0].error > 1e-3


def test_a_spec_runs_on_its_own_parameter_shapes():
  muon = next(s for s in all_specs() if s.name == "torch_muon")
  _, jax_run, torch_run = runner.run_parity(muon, "default", "gaussian", "float32", 2)
  shapes = list(muon.param_shapes.values())
  assert [p.shape[1:] for p in jax_run.params] == shapes
  assert [p.shape[1:] for p in torch_run.params] == shapes
