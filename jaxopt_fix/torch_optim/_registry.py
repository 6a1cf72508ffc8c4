"""The one table of twins: torch class name -> twin factory and state schema.

Everything that lists the twins (:func:`from_torch`, the state conversion, the experiments'
``torch_optim.<name>`` optimizers, the test batteries) reads :data:`TWINS`. Adding a twin is
its own module plus one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Mapping
import dataclasses
import types
from typing import Any

import optax

from jaxopt_fix.torch_optim import _adadelta
from jaxopt_fix.torch_optim import _adafactor
from jaxopt_fix.torch_optim import _adagrad
from jaxopt_fix.torch_optim import _adam
from jaxopt_fix.torch_optim import _adamax
from jaxopt_fix.torch_optim import _asgd
from jaxopt_fix.torch_optim import _lbfgs
from jaxopt_fix.torch_optim import _muon
from jaxopt_fix.torch_optim import _nadam
from jaxopt_fix.torch_optim import _radam
from jaxopt_fix.torch_optim import _rmsprop
from jaxopt_fix.torch_optim import _rprop
from jaxopt_fix.torch_optim import _sgd
from jaxopt_fix.torch_optim import _sparse_adam
from jaxopt_fix.torch_optim._state_schema import StateSchema
from jaxopt_fix.torch_optim._state_schema import UnconvertibleState


@dataclasses.dataclass(frozen=True)
class Twin:
  """One ``torch.optim`` class and its twin.

  Attributes:
    torch_name: The class name in ``torch.optim`` (``"AdamW"``).
    factory: The twin, called with the class's keywords (:func:`adamw`).
    schema: How the state of the twin's ``scale_by_torch_*`` link maps to torch's state
      (declared next to the state class, in the twin's module).
    implied: Param-group entries the twin implies rather than accepts (AdamW's
      ``decoupled_weight_decay=True``).

  Examples:
    >>> from jaxopt_fix import torch_optim
    >>> twin = torch_optim.TWINS["AdamW"]
    >>> twin.name, twin.state_class.__name__, dict(twin.implied)
    ('adamw', 'ScaleByTorchAdamState', {'decoupled_weight_decay': True})
  """

  torch_name: str
  factory: Callable[..., optax.GradientTransformationExtraArgs]
  schema: StateSchema | UnconvertibleState
  implied: Mapping[str, Any] = dataclasses.field(default_factory=dict)

  @property
  def name(self) -> str:
    """The twin's name in ``jaxopt_fix.torch_optim`` (``"adamw"``)."""
    return self.factory.__name__

  @property
  def state_class(self) -> type:
    """The state class of the twin's ``scale_by_torch_*`` link."""
    return self.schema.state_class


def _table(*twins: Twin) -> Mapping[str, Twin]:
  return types.MappingProxyType({t.torch_name: t for t in twins})


TWINS: Mapping[str, Twin] = _table(
  Twin("ASGD", _asgd.asgd, _asgd.SCHEMA),
  Twin("Adadelta", _adadelta.adadelta, _adadelta.SCHEMA),
  Twin("Adafactor", _adafactor.adafactor, _adafactor.SCHEMA),
  Twin("Adagrad", _adagrad.adagrad, _adagrad.SCHEMA),
  Twin("Adam", _adam.adam, _adam.SCHEMA),
  Twin("AdamW", _adam.adamw, _adam.SCHEMA, {"decoupled_weight_decay": True}),
  Twin("Adamax", _adamax.adamax, _adamax.SCHEMA),
  Twin("LBFGS", _lbfgs.lbfgs, _lbfgs.SCHEMA),
  Twin("Muon", _muon.muon, _muon.SCHEMA),
  Twin("NAdam", _nadam.nadam, _nadam.SCHEMA),
  Twin("RAdam", _radam.radam, _radam.SCHEMA),
  Twin("RMSprop", _rmsprop.rmsprop, _rmsprop.SCHEMA),
  Twin("Rprop", _rprop.rprop, _rprop.SCHEMA),
  Twin("SGD", _sgd.sgd, _sgd.SCHEMA),
  Twin("SparseAdam", _sparse_adam.sparse_adam, _sparse_adam.SCHEMA),
)
"""Every twin, by ``torch.optim`` class name, in torch's sorted order."""
