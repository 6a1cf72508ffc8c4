"""The one table of twins: torch class name -> twin factory and state class.

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


@dataclasses.dataclass(frozen=True)
class Twin:
  """One ``torch.optim`` class and its twin.

  Attributes:
    torch_name: The class name in ``torch.optim`` (``"AdamW"``).
    factory: The twin, called with the class's keywords (:func:`adamw`).
    state_class: The state of the twin's ``scale_by_torch_*`` link.
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
  state_class: type
  implied: Mapping[str, Any] = dataclasses.field(default_factory=dict)

  @property
  def name(self) -> str:
    """The twin's name in ``jaxopt_fix.torch_optim`` (``"adamw"``)."""
    return self.factory.__name__


def _table(*twins: Twin) -> Mapping[str, Twin]:
  return types.MappingProxyType({t.torch_name: t for t in twins})


TWINS: Mapping[str, Twin] = _table(
  Twin("ASGD", _asgd.asgd, _asgd.ScaleByTorchAsgdState),
  Twin("Adadelta", _adadelta.adadelta, _adadelta.ScaleByTorchAdadeltaState),
  Twin("Adafactor", _adafactor.adafactor, _adafactor.ScaleByTorchAdafactorState),
  Twin("Adagrad", _adagrad.adagrad, _adagrad.ScaleByTorchAdagradState),
  Twin("Adam", _adam.adam, _adam.ScaleByTorchAdamState),
  Twin("AdamW", _adam.adamw, _adam.ScaleByTorchAdamState, {"decoupled_weight_decay": True}),
  Twin("Adamax", _adamax.adamax, _adamax.ScaleByTorchAdamaxState),
  Twin("LBFGS", _lbfgs.lbfgs, _lbfgs.ScaleByTorchLbfgsState),
  Twin("Muon", _muon.muon, _muon.ScaleByTorchMuonState),
  Twin("NAdam", _nadam.nadam, _nadam.ScaleByTorchNAdamState),
  Twin("RAdam", _radam.radam, _radam.ScaleByTorchRAdamState),
  Twin("RMSprop", _rmsprop.rmsprop, _rmsprop.ScaleByTorchRmspropState),
  Twin("Rprop", _rprop.rprop, _rprop.ScaleByTorchRpropState),
  Twin("SGD", _sgd.sgd, _sgd.ScaleByTorchSgdState),
  Twin("SparseAdam", _sparse_adam.sparse_adam, _sparse_adam.ScaleByTorchSparseAdamState),
)
"""Every twin, by ``torch.optim`` class name, in torch's sorted order."""
