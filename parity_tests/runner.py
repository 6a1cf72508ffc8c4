"""The one generic parity runner: same gradients into torch and JAX, compare every step.

Parameters start at zero unless the spec asks for ``"normal"``. Where the update does not
depend on the parameters, the start only sets how much rounding the parameter accumulates:
at zero, the parameter *is* the displacement and rounds relative to it, which makes the
comparison as strict as float arithmetic allows.
"""

from collections.abc import Callable
from collections.abc import Hashable
import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch

from parity_tests import gradients
from parity_tests.config import DEFAULT_PARAM_SHAPES
from parity_tests.config import ParitySpec

Shapes = dict[str, tuple[int, ...]]
PARAM_SHAPES: Shapes = DEFAULT_PARAM_SHAPES
DTYPES = {"float32": (np.float32, torch.float32), "float64": (np.float64, torch.float64)}


@dataclasses.dataclass
class Trajectory:
  """Per-step values, one array (steps, *shape) per leaf, in the spec's ``param_shapes``
  order."""

  params: list[np.ndarray]
  state: dict[str, list[np.ndarray]]  # keyed by the JAX field name
  count: np.ndarray | None  # (steps,), None if the optimizer keeps no step


@dataclasses.dataclass(frozen=True)
class FieldError:
  """The worst relative error of one field over all steps, and where it happened."""

  field: str
  error: float
  step: int  # 1-based
  leaf: str


def _split(flat: np.ndarray, shapes: Shapes) -> list[np.ndarray]:
  """(steps, size) -> one (steps, *shape) array per leaf."""
  out, start = [], 0
  for shape in shapes.values():
    size = int(np.prod(shape))
    out.append(flat[:, start : start + size].reshape(flat.shape[0], *shape))
    start += size
  return out


def grads_for(
  sequence: str, steps: int, dtype: str, shapes: Shapes = PARAM_SHAPES
) -> list[np.ndarray]:
  """The named gradient sequence, split into leaves and cast to ``dtype``."""
  size = sum(int(np.prod(s)) for s in shapes.values())
  return _split(gradients.draw(sequence, steps, size).astype(DTYPES[dtype][0]), shapes)


def initial_params(kind: str, dtype: str, shapes: Shapes = PARAM_SHAPES) -> list[np.ndarray]:
  """The starting parameters, one array per leaf: zeros, or seeded standard normals."""
  np_dtype = DTYPES[dtype][0]
  if kind == "zeros":
    return [np.zeros(shape, np_dtype) for shape in shapes.values()]
  rng = np.random.default_rng(0)
  return [rng.standard_normal(shape).astype(np_dtype) for shape in shapes.values()]


# Compiled scans by the caller's key: the gradient sequences of one configuration share a
# program (compiling is most of a case's time; the runs themselves take milliseconds).
_COMPILED: dict[Hashable, Callable[..., Any]] = {}


def _scan(tx: optax.GradientTransformation) -> Callable[..., Any]:
  @jax.jit
  def run(params, grad_tree):
    def step(carry, g):
      params, state = carry
      updates, state = tx.update(g, state, params)
      params = optax.apply_updates(params, updates)
      return (params, state), (params, state)

    _, history = jax.lax.scan(step, (params, tx.init(params)), grad_tree)
    return history

  return run


def run_jax(
  tx: optax.GradientTransformation,
  params0: list[np.ndarray],
  grads: list[np.ndarray],
  fields,
  count_field: str | None,
  names: list[str],
  cache_key: Hashable | None = None,
) -> Trajectory:
  """All steps in one jit-compiled ``lax.scan``, recording params and state after each;
  the leaves are named ``names``. Calls with the same ``cache_key`` must pass the same
  transformation (built from the same arguments): they reuse the first call's program."""
  params = {n: jnp.asarray(p) for n, p in zip(names, params0, strict=True)}
  grad_tree = {n: jnp.asarray(g) for n, g in zip(names, grads, strict=True)}
  run = _scan(tx) if cache_key is None else _COMPILED.setdefault(cache_key, _scan(tx))
  params_hist, state_hist = run(params, grad_tree)

  def leaves(tree: dict[str, Any]) -> list[np.ndarray]:
    return [np.asarray(tree[n]) for n in names]

  return Trajectory(
    params=leaves(params_hist),
    state={f: leaves(optax.tree.get(state_hist, f)) for f in fields},
    count=None if count_field is None else np.asarray(optax.tree.get(state_hist, count_field)),
  )


def run_torch(
  opt_factory,
  kwargs: dict[str, Any],
  params0: list[np.ndarray],
  grads: list[np.ndarray],
  fields,
  has_step: bool,
) -> Trajectory:
  """An eager torch loop over the same gradients, copying params and state after each step."""
  tensors = [torch.from_numpy(p.copy()) for p in params0]
  opt = opt_factory(tensors, dict(kwargs))
  steps = grads[0].shape[0]
  params = [np.empty_like(g) for g in grads]
  state = {jax_f: [np.empty_like(g) for g in grads] for jax_f in fields}
  count = np.empty(steps, np.int64) if has_step else None
  for t in range(steps):
    for p, g in zip(tensors, grads, strict=True):
      p.grad = torch.from_numpy(g[t].copy())
    opt.step()
    for i, p in enumerate(tensors):
      params[i][t] = p.detach().numpy()
      for jax_f, torch_f in fields.items():
        state[jax_f][i][t] = opt.state[p][torch_f].numpy()
    if count is not None:
      count[t] = int(opt.state[tensors[0]]["step"])
  return Trajectory(params=params, state=state, count=count)


def _worst(
  field: str,
  actual: list[np.ndarray],
  desired: list[np.ndarray],
  scale,
  names: list[str],
  slack: list[np.ndarray] | None = None,
) -> FieldError:
  """Largest (|actual - desired| - slack) / scale(desired) over steps, leaves and elements."""
  worst = FieldError(field, 0.0, 0, "")
  slacks = slack or [np.zeros(a.shape) for a in actual]
  for name, a, d, allowed in zip(names, actual, desired, slacks, strict=True):
    diff = np.maximum(np.abs(a.astype(np.float64) - d.astype(np.float64)) - allowed, 0.0)
    s = scale(d.astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
      # Where the scale is still 0 the values must agree exactly; a NaN on both sides
      # (the paper's eps = 0 dividing 0 by 0) agrees, a NaN on one side does not.
      ratio = np.where(s > 0, diff / s, np.where(diff > 0, np.inf, 0.0))
      ratio = np.where(np.isnan(a) & np.isnan(d), 0.0, np.where(np.isnan(diff), np.inf, ratio))
    per_step = ratio.reshape(ratio.shape[0], -1).max(axis=1)
    t = int(np.argmax(per_step))
    if per_step[t] > worst.error or np.isnan(per_step[t]):
      worst = FieldError(field, float(per_step[t]), t + 1, name)
  return worst


def _distance_travelled(displacements: np.ndarray) -> np.ndarray:
  """sum_{s <= t} |p_s - p_{s-1}| per element, from the displacements p_t - p_0."""
  steps = np.diff(displacements, axis=0, prepend=np.zeros_like(displacements[:1]))
  return np.cumsum(np.abs(steps), axis=0)


def _running_max_abs(values: np.ndarray) -> np.ndarray:
  return np.maximum.accumulate(np.abs(values), axis=0)


def compare(
  jax_run: Trajectory,
  torch_run: Trajectory,
  params0: list[np.ndarray],
  param_ulps: int = 0,
  names: list[str] | None = None,
) -> list[FieldError]:
  """The worst error of the displacement and of every state field (leaves named
  ``names``, by default those of :data:`PARAM_SHAPES`).

  ``param_ulps`` ulps of the parameter's largest magnitude so far are forgiven in the
  displacement: a parameter that moves by small steps can only land on float neighbours,
  and two updates that differ in their last bit can round ``p + u`` to adjacent ones.
  """

  def displacements(run: Trajectory) -> list[np.ndarray]:
    return [p.astype(np.float64) - p0 for p, p0 in zip(run.params, params0, strict=True)]

  # Measured at the largest |p| so far: a flip made while |p| was large stays in the
  # displacement after p has moved towards zero.
  slack = [
    param_ulps * np.spacing(_running_max_abs(np.maximum(np.abs(a), np.abs(b)))).astype(np.float64)
    for a, b in zip(jax_run.params, torch_run.params, strict=True)
  ]
  names = list(PARAM_SHAPES) if names is None else names
  errors = [
    _worst(
      "displacement",
      displacements(jax_run),
      displacements(torch_run),
      _distance_travelled,
      names,
      slack,
    )
  ]
  for field in jax_run.state:
    errors.append(
      _worst(field, jax_run.state[field], torch_run.state[field], _running_max_abs, names)
    )
  return errors


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
