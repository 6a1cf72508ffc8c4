"""What a parity spec is. The tolerance tables and how errors are measured live in the public
runner, :mod:`jaxopt_fix.verify` (``TOLERANCES``, ``Tolerance``), and are re-exported here for
the specs.
"""

from collections.abc import Callable
from collections.abc import Mapping
import dataclasses
from typing import Any

import optax
import torch

from jaxopt_fix.verify import TOLERANCES
from jaxopt_fix.verify import Tolerance
from jaxopt_fix.verify._runner import DEFAULT_PARAM_SHAPES
from jaxopt_fix.verify._tolerances import tolerance_for

__all__ = ["DEFAULT_PARAM_SHAPES", "TOLERANCES", "TWIN_STEPS", "ParitySpec", "Tolerance"]

TWIN_STEPS = 200
"""Steps per run for the torch.optim twins: enough for every state field to leave its
start (bias corrections near 1, RAdam's rectification on, Adagrad's decayed lr) while
keeping the default test run short."""


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
  tolerances: Mapping[str, Mapping[str, Tolerance]] = dataclasses.field(default_factory=dict)
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
    return tolerance_for(dtype, field, self.tolerances)
