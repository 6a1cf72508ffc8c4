"""The seeds' own code as references for ``amsgrad(variant="keras")``: labml_nn's real
``AMSGrad`` (through the parity specs of ``specs/seeds.py``, run by test_parity.py) and Keras 3's
``Adam(amsgrad=True)`` on the JAX backend.

labml_nn is installed by the README's test command, ``pip install --no-deps -r
parity_tests/seeds.txt`` (its declared dependencies pull torchvision and another torch); under
``CI=true`` its absence fails instead of skipping.
"""

import dataclasses
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import jaxopt_fix
from jaxopt_fix import verify
from jaxopt_fix.verify import _runner
from parity_tests import runner
from parity_tests.specs import seeds

STEPS = 200


def _labml_spec():
  if not seeds.AVAILABLE and os.environ.get("CI") == "true":
    pytest.fail("labml_nn is missing: the README's test command installs parity_tests/seeds.txt")
  pytest.importorskip("labml_nn", reason="pip install --no-deps -r parity_tests/seeds.txt")
  (spec,) = seeds.SPECS
  return spec


def test_the_labml_specs_run_in_the_parity_suite():
  spec = _labml_spec()
  assert spec.name == "amsgrad_keras_labml" and "labml_reddi" in spec.configs


@pytest.mark.parametrize("wrong_variant", ["torch", "optax", "paper"])
def test_labml_tells_the_other_variants_apart(wrong_variant):
  spec = _labml_spec()

  def make_wrong(kw):
    b1, b2 = kw["betas"]
    return jaxopt_fix.amsgrad(kw["lr"], b1, b2, kw["eps"], variant=wrong_variant)

  wrong = dataclasses.replace(spec, make_jax=make_wrong)
  errors, _, _ = runner.run_parity(wrong, "large_eps", "gaussian", "float64", 50)
  assert errors[0].field == "displacement" and errors[0].error > 1e-3


def _keras():
  if "keras" in sys.modules and sys.modules["keras"].backend.backend() != "jax":
    pytest.skip("keras is already imported with another backend")
  os.environ["KERAS_BACKEND"] = "jax"
  return pytest.importorskip("keras", reason="pip install keras==3.15.1 (the test extra)")


@pytest.mark.parametrize("sequence", ["gaussian", "reddi_online"])
def test_keras_adam_amsgrad_on_jax_matches_in_float64(sequence):
  """Keras 3's Adam(amsgrad=True), float64 weights, against variant="keras" in one scan."""
  lr, b1, b2, eps = 1e-2, 0.9, 0.99, 1e-3
  names = list(_runner.DEFAULT_PARAM_SHAPES)
  grads = _runner.grads_for(sequence, STEPS, "float64")
  params0 = _runner.initial_params("zeros", "float64")
  with jax.enable_x64(True):
    keras = _keras()
    floatx = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
      weights = [keras.Variable(p, dtype="float64") for p in params0]
      opt = keras.optimizers.Adam(lr, b1, b2, eps, amsgrad=True)
      opt.build(weights)
      fields = {"mu": opt._momentums, "nu": opt._velocities, "nu_max": opt._velocity_hats}
      history = {f: [np.empty_like(g) for g in grads] for f in ["params", *fields]}
      for t in range(STEPS):
        opt.apply_gradients([(jnp.asarray(g[t]), w) for g, w in zip(grads, weights, strict=True)])
        for i, w in enumerate(weights):
          history["params"][i][t] = np.asarray(w.value)
          for f, variables in fields.items():
            history[f][i][t] = np.asarray(variables[i].value)
    finally:
      keras.config.set_floatx(floatx)
    keras_run = _runner.Trajectory(
      history["params"], {f: history[f] for f in fields}, np.arange(1, STEPS + 1)
    )
    tx = jaxopt_fix.amsgrad(lr, b1, b2, eps, variant="keras")
    jax_run = _runner.run_jax(tx, params0, grads, list(fields), "count", names)
    # The torch variant is another algorithm at this eps.
    torch_like = _runner.run_jax(
      jaxopt_fix.amsgrad(lr, b1, b2, eps), params0, grads, list(fields), "count", names
    )
  np.testing.assert_array_equal(jax_run.count, keras_run.count)
  rtol = verify.TOLERANCES["float64"]
  for e in _runner.field_errors(jax_run, keras_run, params0, 0, names):
    assert e.error <= rtol[e.field if e.field == "displacement" else "state"].rtol, e
  assert _runner.field_errors(torch_like, keras_run, params0, 0, names)[0].error > 1e-4
