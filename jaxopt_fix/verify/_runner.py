"""The one runner: the same gradients into torch and JAX, compared after every step.

:func:`run_jax` runs all steps in one compiled ``lax.scan``, :func:`run_torch` an eager torch
loop; :func:`field_errors` measures each field's error per step against the scales of
:mod:`jaxopt_fix.verify._tolerances`. The parity suite and :func:`jaxopt_fix.verify.compare`
both drive these. torch is imported inside :func:`run_torch` only.

Where the update does not depend on the parameters, the start only sets how much rounding
the parameter accumulates: at zero, the parameter *is* the displacement and rounds relative
to it, which makes the comparison as strict as float arithmetic allows.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Hashable
from collections.abc import Mapping
import dataclasses
import importlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxopt_fix.verify import _gradients

Shapes = Mapping[str, tuple[int, ...]]
DEFAULT_PARAM_SHAPES: Mapping[str, tuple[int, ...]] = {"bias": (7,), "kernel": (3, 5)}
"""A small pytree with two leaves of different ranks: 22 coordinates in all."""

DTYPES: Mapping[str, type[np.floating]] = {"float32": np.float32, "float64": np.float64}


@dataclasses.dataclass
class Trajectory:
  """Per-step values, one array (steps, *shape) per leaf, in the parameters' order."""

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


@dataclasses.dataclass(frozen=True)
class StepErrors:
  """One field's error after every step: the worst over the leaves, and which leaf."""

  field: str
  errors: np.ndarray  # (steps,)
  leaves: tuple[str, ...]  # the leaf of each step's worst error

  def worst(self) -> FieldError:
    if not len(self.errors):
      return FieldError(self.field, 0.0, 0, "")
    t = int(np.argmax(self.errors))
    return FieldError(self.field, float(self.errors[t]), t + 1, self.leaves[t])


def split(flat: np.ndarray, shapes: Shapes) -> list[np.ndarray]:
  """(steps, size) -> one (steps, *shape) array per leaf."""
  out, start = [], 0
  for shape in shapes.values():
    size = int(np.prod(shape))
    out.append(flat[:, start : start + size].reshape(flat.shape[0], *shape))
    start += size
  return out


def grads_for(
  sequence: str, steps: int, dtype: str, shapes: Shapes = DEFAULT_PARAM_SHAPES
) -> list[np.ndarray]:
  """The named gradient sequence, split into leaves and cast to ``dtype``."""
  size = sum(int(np.prod(s)) for s in shapes.values())
  return split(_gradients.draw_gradients(sequence, steps, size).astype(DTYPES[dtype]), shapes)


def initial_params(
  kind: str, dtype: str, shapes: Shapes = DEFAULT_PARAM_SHAPES
) -> list[np.ndarray]:
  """The starting parameters, one array per leaf: zeros, or seeded standard normals."""
  np_dtype = DTYPES[dtype]
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


def state_field(state: Any, field: str, names: list[str]) -> list[np.ndarray]:
  """The leaves of the state field ``field``, one per parameter name.

  Several param groups (an :func:`optax.multi_transform`) hold the field once per group,
  each with the other groups' leaves masked: the leaves are gathered from all of them.
  """
  found = [value for _, value in optax.tree.get_all_with_path(state, field)]
  leaves: dict[str, Any] = {}
  for value in found:
    if isinstance(value, Mapping):
      for n in names:
        if n in value and not isinstance(value[n], optax.MaskedNode):
          leaves.setdefault(n, value[n])
  missing = [n for n in names if n not in leaves]
  if missing:
    raise KeyError(f"the state field {field!r} has no leaf for {missing}")
  return [np.asarray(leaves[n]) for n in names]


def run_jax(
  tx: optax.GradientTransformation,
  params0: list[np.ndarray],
  grads: list[np.ndarray],
  fields,
  count_field: str | None,
  names: list[str],
  cache_key: Hashable | None = None,
  cache: dict[Hashable, Callable[..., Any]] = _COMPILED,
) -> Trajectory:
  """All steps in one jit-compiled ``lax.scan``, recording params and state after each;
  the leaves are named ``names``. Calls with the same ``cache_key`` must pass the same
  transformation (built from the same arguments): they reuse the first call's program,
  kept in ``cache`` (by default the module's, for the whole process)."""
  params = {n: jnp.asarray(p) for n, p in zip(names, params0, strict=True)}
  grad_tree = {n: jnp.asarray(g) for n, g in zip(names, grads, strict=True)}
  run = _scan(tx) if cache_key is None else cache.setdefault(cache_key, _scan(tx))
  params_hist, state_hist = run(params, grad_tree)
  count = None
  if count_field is not None:
    counts = [np.asarray(v) for _, v in optax.tree.get_all_with_path(state_hist, count_field)]
    count = counts[0]
  return Trajectory(
    params=[np.asarray(params_hist[n]) for n in names],
    state={f: state_field(state_hist, f, names) for f in fields},
    count=count,
  )


def run_torch(
  opt_factory: Callable[[list[Any], dict[str, Any]], Any],
  kwargs: dict[str, Any],
  params0: list[np.ndarray],
  grads: list[np.ndarray],
  fields,
  has_step: bool,
  scheduler: Callable[[Any], Any] | None = None,
) -> Trajectory:
  """An eager torch loop over the same gradients, copying params and state after each step.

  ``opt_factory(tensors, kwargs)`` builds the optimizer over fresh tensors holding
  ``params0``; ``scheduler(optimizer)``, if given, its learning-rate scheduler, stepped after
  every optimizer step."""
  torch = importlib.import_module("torch")
  tensors = [torch.from_numpy(p.copy()) for p in params0]
  opt = opt_factory(tensors, dict(kwargs))
  sched = None if scheduler is None else scheduler(opt)
  steps = grads[0].shape[0]
  params = [np.empty_like(g) for g in grads]
  state = {jax_f: [np.empty_like(g) for g in grads] for jax_f in fields}
  count = np.empty(steps, np.int64) if has_step else None
  for t in range(steps):
    for p, g in zip(tensors, grads, strict=True):
      p.grad = torch.from_numpy(g[t].copy())
    opt.step()
    if sched is not None:
      sched.step()
    for i, p in enumerate(tensors):
      params[i][t] = p.detach().numpy()
      for jax_f, torch_f in fields.items():
        state[jax_f][i][t] = opt.state[p][torch_f].numpy()
    if count is not None:
      count[t] = int(opt.state[tensors[0]]["step"])
  return Trajectory(params=params, state=state, count=count)


def _per_step(
  field: str,
  actual: list[np.ndarray],
  desired: list[np.ndarray],
  scale,
  names: list[str],
  slack: list[np.ndarray] | None = None,
) -> StepErrors:
  """Per step, the largest (|actual - desired| - slack) / scale(desired) over leaves and
  elements."""
  slacks = slack or [np.zeros(a.shape) for a in actual]
  per_leaf = []
  for a, d, allowed in zip(actual, desired, slacks, strict=True):
    diff = np.maximum(np.abs(a.astype(np.float64) - d.astype(np.float64)) - allowed, 0.0)
    s = scale(d.astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
      # Where the scale is still 0 the values must agree exactly; a NaN on both sides
      # (the paper's eps = 0 dividing 0 by 0) agrees, a NaN on one side does not.
      ratio = np.where(s > 0, diff / s, np.where(diff > 0, np.inf, 0.0))
      ratio = np.where(np.isnan(a) & np.isnan(d), 0.0, np.where(np.isnan(diff), np.inf, ratio))
    per_leaf.append(ratio.reshape(ratio.shape[0], -1).max(axis=1, initial=0.0))
  table = np.stack(per_leaf, axis=1)  # (steps, leaves)
  which = np.argmax(table, axis=1)
  return StepErrors(field, table.max(axis=1), tuple(names[i] for i in which))


def _distance_travelled(displacements: np.ndarray) -> np.ndarray:
  """sum_{s <= t} |p_s - p_{s-1}| per element, from the displacements p_t - p_0."""
  steps = np.diff(displacements, axis=0, prepend=np.zeros_like(displacements[:1]))
  return np.cumsum(np.abs(steps), axis=0)


def _running_max_abs(values: np.ndarray) -> np.ndarray:
  return np.maximum.accumulate(np.abs(values), axis=0)


def step_errors(
  jax_run: Trajectory,
  torch_run: Trajectory,
  params0: list[np.ndarray],
  param_ulps: int = 0,
  names: list[str] | None = None,
) -> list[StepErrors]:
  """The error of the displacement and of every state field after every step (leaves named
  ``names``, by default those of :data:`DEFAULT_PARAM_SHAPES`).

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
  names = list(DEFAULT_PARAM_SHAPES) if names is None else names
  errors = [
    _per_step(
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
      _per_step(field, jax_run.state[field], torch_run.state[field], _running_max_abs, names)
    )
  return errors


def field_errors(
  jax_run: Trajectory,
  torch_run: Trajectory,
  params0: list[np.ndarray],
  param_ulps: int = 0,
  names: list[str] | None = None,
) -> list[FieldError]:
  """The worst error of the displacement and of every state field over all steps (see
  :func:`step_errors`)."""
  return [e.worst() for e in step_errors(jax_run, torch_run, params0, param_ulps, names)]
