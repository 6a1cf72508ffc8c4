"""What a parity spec is, and how close the two frameworks must be, per dtype.

Errors are measured relative to a natural scale, element by element, after every step:

- the parameter *displacement* ``p_t - p_0`` relative to the distance the element has
  travelled so far, ``sum_s |p_s - p_{s-1}|`` (on the torch side). Without cancellation this
  is the plain relative error of the displacement; with it, it is the error relative to the
  size of the updates that were summed, which is what rounding produces.
- a *state* field (``mu``/``exp_avg`` ...) relative to the largest magnitude that element
  has had so far, since an exponential average that crosses zero carries the rounding of
  its earlier, larger values.
- the step count exactly.

An element whose scale is still 0 must agree exactly.
"""

from collections.abc import Callable
import dataclasses
from typing import Any

import optax
import torch


@dataclasses.dataclass(frozen=True)
class Tolerance:
  """A relative tolerance and, when it is above 1e-6, the reason it has to be.

  ``param_ulps`` (displacement only, and only for specs whose parameters start away from
  zero): that many ulps of the parameter's largest magnitude so far are forgiven before
  the relative error is taken. A float32 parameter near 1 that moves by steps of 1e-3
  lands on a grid of 1.2e-7; two updates that differ in their last bit can round
  ``p + u`` to adjacent points, one ulp of ``p`` apart, which after 5 steps is already
  2e-5 of the distance travelled. Such flips accumulate like a random walk: measured at
  most 4 ulps over 500 steps of every sequence and configuration.
  """

  rtol: float
  reason: str = ""
  param_ulps: int = 0

  def __post_init__(self):
    if self.rtol > 1e-6 and not self.reason:
      raise ValueError(f"a tolerance above 1e-6 ({self.rtol}) needs a stated reason")


# The default tolerance of every compared field ("displacement", "state", or a state field
# name such as "nu_max"), per dtype. Specs may override a field with a stated reason.
TOLERANCES: dict[str, dict[str, Tolerance]] = {
  "float64": {
    # Measured at most 8e-16 against the plain-torch references. Against torch.optim and
    # torch_optimizer up to 6e-13 at b2 = 0.99999: torch computes 1 - b2**t in float64
    # with cancellation (1e-11 relative at t = 1), we use -expm1(t log b2).
    "displacement": Tolerance(1e-12, param_ulps=4),
    "state": Tolerance(1e-12),
  },
  "float32": {
    # Both sides follow torch's order of operations: XLA's CPU backend contracts
    # a * b + c into a fused multiply-add, and so do torch's addcmul_ and lerp_ kernels
    # (addcmul_(t1, t2, value) is fma(value * t1, t2, self)); where torch rounds a
    # product on its own (mul_), we block the contraction (numerics.rounded_product).
    # What is left is the scalar arithmetic: torch folds lr / (1 - b1^t) into one
    # float64 scalar and divides sqrt(v) by a float64-derived scalar, we multiply by
    # float32 scalars, so an update differs by an ulp or two and p + u may round to the
    # neighbouring float. Measured over 500 steps of every sequence and spec: at most
    # 3.8e-7 of the distance travelled from zero initial parameters, 4.5e-8 beyond the
    # forgiven parameter ulps from normal ones.
    "displacement": Tolerance(1e-6, param_ulps=4),
    # The moments match torch bit for bit from identical inputs; what differs is fed
    # back from the parameters through weight decay. Measured at most 4.5e-7 of the
    # element's running scale.
    "state": Tolerance(1e-6),
  },
}


TWIN_STEPS = 200
"""Steps per run for the torch.optim twins: enough for every state field to leave its
start (bias corrections near 1, RAdam's rectification on, Adagrad's decayed lr) while
keeping the default test run short."""

DEFAULT_PARAM_SHAPES: dict[str, tuple[int, ...]] = {"bias": (7,), "kernel": (3, 5)}
"""A small pytree with two leaves of different ranks: 22 coordinates in all."""


@dataclasses.dataclass(frozen=True)
class ParitySpec:
  """One reference pair: a JAX transformation and the torch optimizer it must match.

  Attributes:
    name: Test-id prefix, e.g. ``"amsgrad_torch"``.
    make_jax: Builds the JAX transformation from torch-style keyword arguments
      (``lr``, ``betas``, ``eps``, ...), so that one kwargs dict drives both sides.
    make_torch: Builds the torch optimizer over a list of tensors from the same kwargs.
    configs: Named torch-style kwargs dicts to run.
    state_fields: JAX state field name -> torch ``optimizer.state[p]`` key, compared at
      every step; or a function of the config's kwargs returning that mapping (fields
      such as ``max_exp_avg_sq`` exist only under some flags).
    count_field: The JAX state field compared exactly with torch's ``step``; None for an
      optimizer that keeps no step (SGD).
    initial_params: ``"zeros"`` (the default: the parameter is the displacement, the
      strictest comparison) or ``"normal"`` (standard normal, seeded), needed where the
      update depends on the parameters (weight decay).
    tolerances: Per-dtype overrides of :data:`TOLERANCES`, each with its reason.
    steps: Steps per run: 500 for the core transformations; the torch.optim twins, with
      many more configurations, run 200 to keep the suite's default run short.
    param_shapes: The parameters' names and shapes (Muon takes matrices only).
    cases: The ``(config, sequence, dtype)`` triples to run; None for every combination
      of :attr:`configs`, the gradient sequences and the dtypes.
  """

  name: str
  make_jax: Callable[[dict[str, Any]], optax.GradientTransformation]
  make_torch: Callable[[list[torch.Tensor], dict[str, Any]], torch.optim.Optimizer]
  configs: dict[str, dict[str, Any]]
  state_fields: dict[str, str] | Callable[[dict[str, Any]], dict[str, str]]
  count_field: str | None = "count"
  initial_params: str = "zeros"
  tolerances: dict[str, dict[str, Tolerance]] = dataclasses.field(default_factory=dict)
  steps: int = 500
  param_shapes: dict[str, tuple[int, ...]] = dataclasses.field(
    default_factory=lambda: dict(DEFAULT_PARAM_SHAPES)
  )
  cases: tuple[tuple[str, str, str], ...] | None = None

  def all_cases(self, sequences: list[str], dtypes: list[str]) -> list[tuple[str, str, str]]:
    """The ``(config, sequence, dtype)`` triples this spec runs."""
    if self.cases is not None:
      return list(self.cases)
    return [(c, s, d) for c in self.configs for s in sequences for d in dtypes]

  def fields(self, kwargs: dict[str, Any]) -> dict[str, str]:
    """The state fields compared under the configuration ``kwargs``."""
    return self.state_fields(kwargs) if callable(self.state_fields) else self.state_fields

  def tolerance(self, dtype: str, field: str) -> Tolerance:
    """The tolerance of ``field`` at ``dtype``: the spec's override, else the default."""
    override = self.tolerances.get(dtype, {})
    if field in override:
      return override[field]
    table = TOLERANCES[dtype]
    return table.get(field, table["displacement" if field == "displacement" else "state"])
