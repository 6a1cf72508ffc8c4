"""Every twin takes exactly torch's keywords: same names, order, kinds and defaults."""

import inspect

import pytest
import torch

from jaxopt_fix import torch_optim


@pytest.mark.parametrize("class_name", torch_optim.supported_optimizers())
def test_signature_is_torchs(class_name):
  ours = inspect.signature(torch_optim.TWINS[class_name].factory).parameters.values()
  theirs = list(inspect.signature(getattr(torch.optim, class_name)).parameters.values())[1:]
  assert [(p.name, p.kind, p.default) for p in ours] == [
    (p.name, p.kind, p.default) for p in theirs
  ]


def test_every_torch_optimizer_has_a_twin():
  """torch.optim's optimizers without a twin, listed so that a gap is visible."""
  missing = sorted(
    name
    for name, cls in vars(torch.optim).items()
    if isinstance(cls, type)
    and issubclass(cls, torch.optim.Optimizer)
    and cls is not torch.optim.Optimizer
    and name not in torch_optim.supported_optimizers()
  )
  assert missing == [], missing
