"""The parity suite's driver of the public runner (:mod:`jaxopt_fix.verify`): one spec,
configuration, gradient sequence and dtype through torch and JAX.

Parameters start at zero unless the spec asks for ``"normal"`` (see
:mod:`jaxopt_fix.verify._runner`). The JAX programs are compiled once per spec,
configuration, dtype and length, and shared by the gradient sequences.
"""

import jax

from jaxopt_fix.verify._runner import DEFAULT_PARAM_SHAPES as PARAM_SHAPES
from jaxopt_fix.verify._runner import DTYPES
from jaxopt_fix.verify._runner import FieldError
from jaxopt_fix.verify._runner import Trajectory
from jaxopt_fix.verify._runner import field_errors as compare
from jaxopt_fix.verify._runner import grads_for
from jaxopt_fix.verify._runner import initial_params
from jaxopt_fix.verify._runner import run_jax
from jaxopt_fix.verify._runner import run_torch
from parity_tests.config import ParitySpec

__all__ = [
  "DTYPES",
  "PARAM_SHAPES",
  "FieldError",
  "Trajectory",
  "compare",
  "grads_for",
  "initial_params",
  "run_jax",
  "run_parity",
  "run_torch",
]


def run_parity(spec: ParitySpec, config: str, sequence: str, dtype: str, steps: int):
  """Runs both sides and returns (errors per field, JAX trajectory, torch trajectory)."""
  kwargs = spec.configs[config]
  fields = spec.fields(kwargs)
  shapes = spec.param_shapes
  names = list(shapes)
  grads = grads_for(sequence, steps, dtype, shapes)
  params0 = initial_params(spec.initial_params, dtype, shapes)
  has_step = spec.count_field is not None
  torch_run = run_torch(spec.make_torch, kwargs, params0, grads, fields, has_step)
  with jax.enable_x64(dtype == "float64"):
    jax_run = run_jax(
      spec.make_jax(dict(kwargs)),
      params0,
      grads,
      fields,
      spec.count_field,
      names,
      # The factory itself, not its name: a spec replaced in a test has another one.
      cache_key=(spec.make_jax, spec.name, config, dtype, steps),
    )
  # With zero initial parameters the parameter is the displacement and rounds relative to
  # it: nothing to forgive beyond rtol.
  param_ulps = (
    0 if spec.initial_params == "zeros" else spec.tolerance(dtype, "displacement").param_ulps
  )
  return compare(jax_run, torch_run, params0, param_ulps, names), jax_run, torch_run
