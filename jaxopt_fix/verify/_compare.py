"""``verify.compare``: a torch optimizer and an optax transformation, step by step.

The torch optimizer is rebuilt over fresh tensors for every run, so the live object a
user passes is never stepped. torch is imported inside these functions only.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
import dataclasses
import importlib
import inspect
import math
import re
from typing import Any

import jax
import numpy as np
import optax

from jaxopt_fix.verify import _gradients
from jaxopt_fix.verify import _runner
from jaxopt_fix.verify import _tolerances
from jaxopt_fix.verify._tolerances import Tolerance

TorchOptimizer = Any
"""A ``torch.optim.Optimizer`` class, a live optimizer, or ``params -> optimizer``."""

# optax's state field names and the torch state keys that hold the same quantity.
_TORCH_NAMES: Mapping[str, str] = {
  "mu": "exp_avg",
  "nu": "exp_avg_sq",
  "nu_max": "max_exp_avg_sq",
  "trace": "momentum_buffer",
  "sum_of_squares": "sum",
}
_COUNT_FIELDS = ("step", "count")


@dataclasses.dataclass(frozen=True)
class Divergence:
  """Where two runs first part: the first step at which a field exceeds its tolerance.

  Attributes:
    sequence: The gradient sequence.
    dtype: ``"float32"`` or ``"float64"``.
    step: The step (1-based).
    field: The JAX name of the field (``"displacement"``, ``"mu"``, ``"step"``, ...).
    torch_field: torch's name for it.
    leaf: The parameter where the error is largest at that step.
    error: The relative error there (see :data:`TOLERANCES`); for ``"step"``, the
      absolute difference of the counts.
    rtol: The tolerance it exceeds.

  Examples:
    >>> from jaxopt_fix import verify
    >>> d = verify.Divergence("gaussian", "float64", 2, "displacement", "displacement",
    ...                       "bias", 0.3, 1e-12)
    >>> print(d)
    float64: parts at step 2 of gaussian, displacement (leaf 'bias'): 3e-01 > 1e-12
  """

  sequence: str
  dtype: str
  step: int
  field: str
  torch_field: str
  leaf: str
  error: float
  rtol: float

  def where(self) -> str:
    """Where, without the dtype: ``step 2 of gaussian, displacement (leaf 'bias'): ...``."""
    name = self.field if self.field == self.torch_field else f"{self.field}/{self.torch_field}"
    return (
      f"step {self.step} of {self.sequence}, {name} (leaf {self.leaf!r}): "
      f"{self.error:.0e} > {self.rtol:.0e}"
    )

  def __str__(self) -> str:
    return f"{self.dtype}: parts at {self.where()}"


@dataclasses.dataclass(frozen=True)
class FieldComparison:
  """One field's error after every step of one run.

  Attributes:
    field: The JAX name (``"displacement"`` for the parameters' displacement).
    torch_field: torch's name (its ``optimizer.state[p]`` key).
    errors: ``(steps,)`` relative errors, the worst over the parameters.
    leaves: The parameter of each step's worst error.
    rtol: The tolerance.

  Examples:
    >>> import numpy as np
    >>> from jaxopt_fix import verify
    >>> f = verify.FieldComparison("mu", "exp_avg", np.array([0.0, 2e-16, 5e-3]),
    ...                            ("bias",) * 3, 1e-12)
    >>> f.worst, f.first_failure
    (0.005, 3)
  """

  field: str
  torch_field: str
  errors: np.ndarray
  leaves: tuple[str, ...]
  rtol: float

  @property
  def worst(self) -> float:
    """The largest error over the steps."""
    return float(np.max(self.errors, initial=0.0))

  @property
  def first_failure(self) -> int | None:
    """The first step (1-based) whose error exceeds :attr:`rtol`, or None."""
    bad = np.flatnonzero(~(self.errors <= self.rtol))
    return int(bad[0]) + 1 if bad.size else None


@dataclasses.dataclass(frozen=True)
class Comparison:
  """One gradient sequence at one dtype: every compared field, step by step.

  Examples:
    >>> import numpy as np
    >>> from jaxopt_fix import verify
    >>> ok = verify.FieldComparison("displacement", "displacement", np.zeros(3),
    ...                             ("w",) * 3, 1e-12)
    >>> verify.Comparison("gaussian", "float64", (ok,)).agrees
    True
  """

  sequence: str
  dtype: str
  fields: tuple[FieldComparison, ...]

  @property
  def divergence(self) -> Divergence | None:
    """The first step and field where the runs part (displacement first on a tie)."""
    return self.divergence_in()

  def divergence_in(self, field: str | None = None) -> Divergence | None:
    """The first step where the JAX field ``field`` (default: any) exceeds its tolerance."""
    first = [
      (f.first_failure, i, f)
      for i, f in enumerate(self.fields)
      if f.first_failure and field in (None, f.field)
    ]
    if not first:
      return None
    step, _, f = min(first, key=lambda item: (item[0], item[1]))
    return Divergence(
      self.sequence,
      self.dtype,
      step,
      f.field,
      f.torch_field,
      f.leaves[step - 1],
      float(f.errors[step - 1]),
      f.rtol,
    )

  @property
  def agrees(self) -> bool:
    """Whether every field is within its tolerance at every step."""
    return self.divergence is None


@dataclasses.dataclass(frozen=True)
class VerifyResult:
  """What :func:`compare` found: one :class:`Comparison` per gradient sequence and dtype.

  Attributes:
    torch_name: The torch optimizer, as called (``"torch.optim.Adam(lr=0.01)"``).
    jax_name: The optax transformation (``"jaxopt_fix.torch_optim.adam (the twin)"``).
    steps: Steps per run.
    comparisons: Every run, in (dtype, sequence) order.

  Examples:
    >>> import torch
    >>> from jaxopt_fix import verify
    >>> result = verify.compare(torch.optim.SGD, kwargs={"lr": 0.1}, steps=5,
    ...                         gradients=["gaussian"], dtypes=["float64"])
    >>> result.agrees, result.dtypes
    (True, ('float64',))
  """

  torch_name: str
  jax_name: str
  steps: int
  comparisons: tuple[Comparison, ...]

  @property
  def dtypes(self) -> tuple[str, ...]:
    """The dtypes compared, in order."""
    return tuple(dict.fromkeys(c.dtype for c in self.comparisons))

  @property
  def agrees(self) -> bool:
    """Whether every run agrees."""
    return all(c.agrees for c in self.comparisons)

  def agrees_in(self, dtype: str) -> bool:
    """Whether every run at ``dtype`` agrees."""
    return all(c.agrees for c in self.comparisons if c.dtype == dtype)

  def divergence(self, dtype: str, field: str | None = None) -> Divergence | None:
    """The earliest :class:`Divergence` at ``dtype`` over the sequences, or None; only of
    the JAX field ``field`` if given (``"displacement"``: where the parameters part)."""
    found = [c.divergence_in(field) for c in self.comparisons if c.dtype == dtype]
    parts = [d for d in found if d is not None]
    return min(parts, key=lambda d: d.step) if parts else None

  def report(self) -> str:
    """A short text report: per dtype, each field's worst error against its tolerance,
    and the verdict with the first step and field where the runs part."""
    lines = [f"{self.torch_name}  vs  {self.jax_name}", f"{self.steps} steps per sequence"]
    for dtype in self.dtypes:
      runs = [c for c in self.comparisons if c.dtype == dtype]
      lines.append("")
      header = ["field", *[c.sequence for c in runs], "tolerance"]
      rows = [header]
      for i, f in enumerate(runs[0].fields):
        name = f.field if f.field == f.torch_field else f"{f.field}/{f.torch_field}"
        rows.append([name, *[f"{c.fields[i].worst:.1e}" for c in runs], f"{f.rtol:.0e}"])
      widths = [max(len(r[k]) for r in rows) for k in range(len(header))]
      lines.append(f"{dtype}:")
      lines.extend(
        ("  " + "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True))).rstrip()
        for r in rows
      )
      first, moved = self.divergence(dtype), self.divergence(dtype, "displacement")
      if first is None:
        lines.append(f"  {dtype}: AGREE")
        continue
      lines.append(f"  {dtype}: DISAGREE, first at {first.where()}")
      if moved is None:
        lines.append(f"  {dtype}: the parameters agree: only the state differs")
      elif moved != first:
        lines.append(f"  {dtype}: the parameters part at {moved.where()}")
    return "\n".join(lines)

  def plot(self, path: str) -> None:
    """Writes a PNG: per dtype, each field's error (worst over the sequences) against the
    step, and its tolerance. Needs matplotlib."""
    matplotlib = importlib.import_module("matplotlib")
    matplotlib.use("Agg")
    plt = importlib.import_module("matplotlib.pyplot")
    fig, axes = plt.subplots(1, len(self.dtypes), figsize=(6 * len(self.dtypes), 4), squeeze=False)
    for ax, dtype in zip(axes[0], self.dtypes, strict=True):
      runs = [c for c in self.comparisons if c.dtype == dtype]
      for i, f in enumerate(runs[0].fields):
        worst = np.max([c.fields[i].errors for c in runs], axis=0)
        (line,) = ax.semilogy(np.arange(1, self.steps + 1), np.maximum(worst, 1e-20), label=f.field)
        ax.axhline(f.rtol, color=line.get_color(), linestyle=":", linewidth=0.8)
      ax.set(title=f"{dtype}: {'agree' if self.agrees_in(dtype) else 'DISAGREE'}", xlabel="step")
      ax.set_ylabel("relative error (dotted: tolerance)")
      ax.legend(fontsize="small")
    fig.suptitle(f"{self.torch_name} vs {self.jax_name}", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _torch() -> Any:
  return importlib.import_module("torch")


def _format_kwargs(kwargs: Mapping[str, Any]) -> str:
  return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


@dataclasses.dataclass(frozen=True)
class _TorchSide:
  """How to build the torch optimizer over fresh tensors, and the parameters' shapes."""

  make: Callable[[list[Any]], Any]
  shapes: dict[str, tuple[int, ...]]
  groups: tuple[int, ...]  # parameters per param group
  name: str


def _leaf_names(count: int) -> list[str]:
  """Names whose sorted order is their order: JAX orders a dict's leaves by key."""
  return [f"p{i:0{len(str(count - 1))}d}" for i in range(count)]


def _torch_side(
  torch_optimizer: TorchOptimizer,
  kwargs: Mapping[str, Any] | None,
  params: Mapping[str, tuple[int, ...]] | None,
) -> _TorchSide:
  torch = _torch()
  if isinstance(torch_optimizer, torch.optim.Optimizer):
    if kwargs:
      raise ValueError("kwargs: a live optimizer brings its own hyperparameters; pass none")
    if params is not None:
      raise ValueError("params: a live optimizer brings its own parameters; pass none")
    opt = torch_optimizer
    sizes = tuple(len(g["params"]) for g in opt.param_groups)
    tensors = [p for g in opt.param_groups for p in g["params"]]
    names = _leaf_names(len(tensors))
    shapes = {n: tuple(p.shape) for n, p in zip(names, tensors, strict=True)}
    settings = [
      {k: v for k, v in g.items() if k not in ("params", "param_names")} for g in opt.param_groups
    ]
    cls = type(opt)
    accepted = inspect.signature(cls.__init__).parameters
    defaults = {k: v for k, v in opt.defaults.items() if k in accepted}

    def make(new: list[Any]) -> Any:
      groups, start = [], 0
      for size, group in zip(sizes, settings, strict=True):
        groups.append({**group, "params": new[start : start + size]})
        start += size
      return cls(groups, **defaults)

    label = f"{cls.__module__}.{cls.__qualname__}"
    if label.startswith("torch.optim."):
      label = f"torch.optim.{cls.__qualname__}"
    desc = f"{label}({_format_kwargs(settings[0])})" if len(sizes) == 1 else label
    if len(sizes) > 1:
      desc += f" with {len(sizes)} param groups"
    return _TorchSide(make, shapes, sizes, desc)
  shapes = dict(params if params is not None else _runner.DEFAULT_PARAM_SHAPES)
  for name, shape in shapes.items():
    if not all(isinstance(n, int) and n >= 0 for n in tuple(shape)):
      raise ValueError(f"params: the shape of {name!r} must be a tuple of sizes, got {shape!r}")
  kw = dict(kwargs or {})
  if isinstance(torch_optimizer, type) and issubclass(torch_optimizer, torch.optim.Optimizer):
    cls = torch_optimizer
    prefix = (
      "torch.optim." if getattr(torch.optim, cls.__name__, None) is cls else cls.__module__ + "."
    )
    return _TorchSide(
      lambda new: cls(new, **kw),
      shapes,
      (len(shapes),),
      f"{prefix}{cls.__qualname__}({_format_kwargs(kw)})",
    )
  if callable(torch_optimizer):
    if kwargs:
      raise ValueError("kwargs: pass the hyperparameters inside the factory")
    name = getattr(torch_optimizer, "__qualname__", repr(torch_optimizer))
    return _TorchSide(torch_optimizer, shapes, (len(shapes),), name)
  raise TypeError(
    "torch_optimizer: expected a torch.optim.Optimizer class, a live optimizer or a "
    f"function of the parameters, got {type(torch_optimizer).__name__}"
  )


def _state_fields(tx: optax.GradientTransformation, params: dict[str, Any]) -> list[str]:
  """The names of the state fields that hold one leaf per parameter (a tree like the
  params, leaves possibly masked), in the order they appear."""
  shapes = {n: tuple(np.shape(p)) for n, p in params.items()}
  found: dict[str, None] = {}

  def walk(node: Any) -> None:
    field_names = getattr(node, "_fields", None)
    if isinstance(node, tuple) and field_names is not None:
      for field, value in zip(field_names, node, strict=True):
        if isinstance(value, Mapping) and set(value) == set(shapes):
          present = [n for n in shapes if not isinstance(value[n], optax.MaskedNode)]
          if present and all(tuple(value[n].shape) == shapes[n] for n in present):
            found.setdefault(field)
        else:
          walk(value)
    elif isinstance(node, (tuple, list)):
      for value in node:
        walk(value)
    elif isinstance(node, Mapping):
      for value in node.values():
        walk(value)

  walk(jax.eval_shape(tx.init, params))
  return list(found)


def _count_field(tx: optax.GradientTransformation, params: dict[str, Any]) -> str | None:
  state = jax.eval_shape(tx.init, params)
  for field in _COUNT_FIELDS:
    if optax.tree.get_all_with_path(state, field):
      return field
  return None


def _torch_fields(side: _TorchSide, dtype: str) -> tuple[set[str], bool]:
  """The per-parameter state keys torch holds for every parameter after one step, and
  whether it keeps a ``step``."""
  torch = _torch()
  np_dtype = _runner.DTYPES[dtype]
  tensors = [
    torch.zeros(s, dtype=torch.from_numpy(np.zeros(0, np_dtype)).dtype)
    for s in side.shapes.values()
  ]
  opt = side.make(tensors)
  for p in tensors:
    p.grad = torch.ones_like(p)
  try:
    opt.step()
  except (RuntimeError, TypeError) as e:
    raise ValueError(
      f"{side.name}: step() fails on dense gradients without a closure: {e}"
    ) from None
  keys = None
  for p in tensors:
    held = {
      k
      for k, v in opt.state[p].items()
      if isinstance(v, torch.Tensor) and tuple(v.shape) == tuple(p.shape)
    }
    keys = held if keys is None else keys & held
  has_step = all("step" in opt.state[p] for p in tensors) and bool(tensors)
  return keys or set(), has_step


def _battery(
  gradients: Iterable[str] | Mapping[str, np.ndarray], steps: int, size: int
) -> dict[str, np.ndarray]:
  if isinstance(gradients, Mapping):
    out = {}
    for name, g in gradients.items():
      g = np.asarray(g, np.float64)
      if g.ndim != 2 or g.shape[1] != size:
        raise ValueError(
          f"gradients[{name!r}]: expected an array (steps, {size}) for {size} parameter "
          f"coordinates, got shape {g.shape}"
        )
      out[name] = g
    return out
  return {name: _gradients.draw_gradients(name, steps, size) for name in gradients}


def compare(
  torch_optimizer: TorchOptimizer,
  tx: optax.GradientTransformation | None = None,
  *,
  kwargs: Mapping[str, Any] | None = None,
  gradients: Iterable[str] | Mapping[str, np.ndarray] = tuple(_gradients.SEQUENCES),
  steps: int = 200,
  dtypes: Iterable[str] = ("float64", "float32"),
  params: Mapping[str, tuple[int, ...]] | None = None,
  initial: str = "zeros",
  fields: Mapping[str, str] | None = None,
  tolerances: Mapping[str, Mapping[str, Tolerance]] | None = None,
  tx_name: str | None = None,
  scheduler: Callable[[Any], Any] | None = None,
) -> VerifyResult:
  """Feeds the same gradients to a torch optimizer and an optax transformation, and compares
  every step: the parameters' displacement and each state field with a counterpart.

  Each gradient sequence runs at each dtype: torch in an eager loop (a fresh optimizer over
  fresh tensors: a live optimizer passed here is never stepped), JAX in one compiled
  ``lax.scan``, compiled once per dtype. After every step the displacement ``p_t - p_0`` is
  compared relative to the distance each element has travelled, each state field relative
  to its running largest magnitude, and the step count exactly, against :data:`TOLERANCES`
  (the parity suite's tables: 1e-12 in float64, 1e-6 in float32; for a twin, with its
  measured overrides, :data:`TWIN_TOLERANCES`).

  Args:
    torch_optimizer: A ``torch.optim.Optimizer`` class (with ``kwargs``), a live optimizer
      (its param groups and their hyperparameters are rebuilt over new tensors of its
      parameters' shapes), or a function from a list of tensors to an optimizer.
    tx: The optax transformation; by default the twin,
      ``jaxopt_fix.torch_optim.from_torch`` of the torch optimizer.
    kwargs: The class's keyword arguments.
    gradients: Names from :data:`SEQUENCES` (default: all five), or your own
      ``{name: array (steps, size)}``, ``size`` the parameters' total number of coordinates.
    steps: Steps per built-in sequence.
    dtypes: ``"float64"`` and/or ``"float32"``.
    params: The parameters' names and shapes (default ``{"bias": (7,), "kernel": (3, 5)}``);
      a live optimizer brings its own.
    initial: ``"zeros"`` (the strictest comparison: the parameter is the displacement) or
      ``"normal"`` (seeded standard normals, for updates that depend on the parameters).
    fields: JAX state field name -> torch state key to compare; by default every field
      whose name is torch's key (the twins) or optax's name for it (``mu`` ↔ ``exp_avg``,
      ``nu`` ↔ ``exp_avg_sq``, ``nu_max`` ↔ ``max_exp_avg_sq``, ``trace`` ↔
      ``momentum_buffer``, ``sum_of_squares`` ↔ ``sum``).
    tolerances: Per-dtype overrides of :data:`TOLERANCES`, ``{dtype: {field: Tolerance}}``.
    tx_name: How the report names ``tx`` (``"optax.amsgrad(1e-2)"``).
    scheduler: A function from the torch optimizer to its learning-rate scheduler
      (``lambda opt: torch.optim.lr_scheduler.StepLR(opt, 10)``), stepped after every
      optimizer step; the default twin then takes the scheduler's twin
      (``from_torch(optimizer, scheduler=...)``), and a given ``tx`` must carry its own
      schedule.

  Returns:
    A :class:`VerifyResult`: per-step errors, the verdict per dtype, the first step and
    field where the runs part, a text :meth:`~VerifyResult.report` and a PNG
    (:meth:`~VerifyResult.plot`).

  Raises:
    TypeError: for a torch optimizer without a twin when ``tx`` is None (a subclass of a
      torch class included: its step may differ), naming the supported ones.
    ValueError: for an unknown sequence or dtype, gradients of the wrong shape, a
      ``fields`` entry without a counterpart, or an optimizer whose ``step`` needs a
      closure or sparse gradients.

  Examples:
    >>> import optax
    >>> import torch
    >>> from jaxopt_fix import verify
    >>> twin = verify.compare(torch.optim.Adam, kwargs={"lr": 1e-2, "amsgrad": True}, steps=50)
    >>> twin.agrees
    True
    >>> other = verify.compare(torch.optim.Adam, optax.amsgrad(1e-2),
    ...                        kwargs={"lr": 1e-2, "amsgrad": True}, steps=50)
    >>> print(other.divergence("float64"))
    float64: parts at step 1 of gaussian, nu_max/max_exp_avg_sq (leaf 'bias'): 1e+03 > 1e-12
    >>> print(other.divergence("float64", "displacement").step)
    2
  """
  dtypes = tuple(dtypes)
  for dtype in dtypes:
    if dtype not in _runner.DTYPES:
      raise ValueError(f"dtypes: {dtype!r} is not one of {', '.join(_runner.DTYPES)}")
  if not isinstance(gradients, Mapping):
    gradients = tuple(gradients)
    for name in gradients:
      if name not in _gradients.SEQUENCES:
        raise ValueError(
          f"gradients: unknown sequence {name!r}; the battery has {', '.join(_gradients.SEQUENCES)}"
        )
  if not isinstance(steps, int) or steps < 1:
    raise ValueError(f"steps must be a positive integer, got {steps!r}")
  if initial not in ("zeros", "normal"):
    raise ValueError(f"initial must be 'zeros' or 'normal', got {initial!r}")
  side = _torch_side(torch_optimizer, kwargs, params)
  if tx is None:
    probe = side.make([_torch().zeros(s, dtype=_torch().float64) for s in side.shapes.values()])
    tolerances = _twin_tolerances(type(probe).__name__, tolerances)
  names = list(side.shapes)
  size = sum(math.prod(s) for s in side.shapes.values())
  battery = _battery(gradients, steps, size)
  jax_name = tx_name or ("the given transformation" if tx is not None else "")
  results = []
  for dtype in dtypes:
    torch_keys, torch_step = _torch_fields(side, dtype)
    params0 = _runner.initial_params(initial, dtype, side.shapes)
    with jax.enable_x64(dtype == "float64"):
      jax_tx = tx
      if jax_tx is None:
        jax_tx, jax_name = _twin(side, params0, names, scheduler)
      tree = {n: np.asarray(p) for n, p in zip(names, params0, strict=True)}
      pairs = _pairs(_state_fields(jax_tx, tree), torch_keys, fields)
      count_field = _count_field(jax_tx, tree) if torch_step else None
      cache: dict[Any, Any] = {}
      for sequence, flat in battery.items():
        grads = _runner.split(flat.astype(_runner.DTYPES[dtype]), side.shapes)
        torch_run = _runner.run_torch(
          lambda tensors, _: side.make(tensors),
          {},
          params0,
          grads,
          pairs,
          count_field is not None,
          scheduler,
        )
        jax_run = _runner.run_jax(jax_tx, params0, grads, pairs, count_field, names, dtype, cache)
        results.append(
          _comparison(
            sequence, dtype, jax_run, torch_run, params0, names, pairs, initial, tolerances
          )
        )
  return VerifyResult(side.name, jax_name, next(iter(battery.values())).shape[0], tuple(results))


def _twin_tolerances(
  torch_name: str, overrides: Mapping[str, Mapping[str, Tolerance]] | None
) -> dict[str, dict[str, Tolerance]]:
  """The twin's measured overrides (:data:`TWIN_TOLERANCES`), under the caller's."""
  merged: dict[str, dict[str, Tolerance]] = {}
  for table in (_tolerances.TWIN_TOLERANCES.get(torch_name, {}), overrides or {}):
    for dtype, fields in table.items():
      merged.setdefault(dtype, {}).update(fields)
  return merged


def _twin(
  side: _TorchSide,
  params0: list[np.ndarray],
  names: list[str],
  scheduler: Callable[[Any], Any] | None,
) -> tuple[optax.GradientTransformation, str]:
  """The twin of the torch optimizer (built over tensors named ``names``) and of its
  scheduler, and its name."""
  torch_optim = importlib.import_module("jaxopt_fix.torch_optim")
  probe = side.make([_torch().from_numpy(p.copy()) for p in params0])
  sched = None if scheduler is None else scheduler(probe)
  tensors = [p for g in probe.param_groups for p in g["params"]]
  named = list(zip(names, tensors, strict=True))
  twin = torch_optim.from_torch(probe, scheduler=sched, named_parameters=named)
  name = f"jaxopt_fix.torch_optim.{torch_optim.TWINS[type(probe).__name__].name}"
  if sched is not None:
    name += f" with lr_scheduler.{_snake(type(sched).__name__)}"
  return twin, f"{name} (the twin)"


def _snake(name: str) -> str:
  """``"StepLR"`` -> ``"step_lr"``, the scheduler twins' names."""
  return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _pairs(
  jax_fields: list[str], torch_keys: set[str], fields: Mapping[str, str] | None
) -> dict[str, str]:
  """JAX state field -> torch state key, for the fields compared."""
  if fields is not None:
    for jax_field, torch_key in fields.items():
      if jax_field not in jax_fields:
        raise ValueError(
          f"fields: the transformation has no per-parameter state field {jax_field!r} "
          f"(it has {', '.join(jax_fields) or 'none'})"
        )
      if torch_key not in torch_keys:
        raise ValueError(
          f"fields: torch keeps no per-parameter state {torch_key!r} "
          f"(it keeps {', '.join(sorted(torch_keys)) or 'none'})"
        )
    return dict(fields)
  pairs = {}
  for f in jax_fields:
    if f in torch_keys:
      pairs[f] = f
    elif _TORCH_NAMES.get(f) in torch_keys:
      pairs[f] = _TORCH_NAMES[f]
  return pairs


def _comparison(
  sequence: str,
  dtype: str,
  jax_run: _runner.Trajectory,
  torch_run: _runner.Trajectory,
  params0: list[np.ndarray],
  names: list[str],
  pairs: Mapping[str, str],
  initial: str,
  tolerances: Mapping[str, Mapping[str, Tolerance]] | None,
) -> Comparison:
  def rtol(field: str) -> Tolerance:
    return _tolerances.tolerance_for(dtype, field, tolerances)

  # From zero the parameter is the displacement and rounds relative to it: no ulps forgiven.
  ulps = 0 if initial == "zeros" else rtol("displacement").param_ulps
  compared = [
    FieldComparison(e.field, pairs.get(e.field, e.field), e.errors, e.leaves, rtol(e.field).rtol)
    for e in _runner.step_errors(jax_run, torch_run, params0, ulps, names)
  ]
  if jax_run.count is not None and torch_run.count is not None:
    diff = np.abs(jax_run.count.astype(np.int64) - torch_run.count).astype(np.float64)
    compared.append(FieldComparison("step", "step", diff, (names[0],) * len(diff), 0.0))
  return Comparison(sequence, dtype, tuple(compared))
