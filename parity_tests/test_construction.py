"""The twin refuses at construction exactly the flag combinations torch refuses.

The combinations are not listed here: every combination of the implementation flags
(``foreach``, ``fused``, ``differentiable``, ``capturable``) each twin shares with its torch
class, with ``lr`` a float or a 1-element tensor, is given to torch, and torch's answer is
the expectation, so the test follows torch when a release changes its rules.
"""

import inspect
import itertools

import jax.numpy as jnp
import pytest
import torch

from jaxopt_fix import torch_optim

_FLAGS = {
  "foreach": (None, False, True),
  "fused": (None, False, True),
  "differentiable": (False, True),
  "capturable": (False, True),
}
# Away from torch's defaults: the L-BFGS twin supports max_iter=1 only.
_KWARGS = {"LBFGS": {"max_iter": 1}}


def _combinations(class_name: str):
  twin = inspect.signature(torch_optim.TWINS[class_name].factory).parameters
  theirs = inspect.signature(getattr(torch.optim, class_name)).parameters
  flags = [f for f in _FLAGS if f in twin and f in theirs]
  for values in itertools.product(*(_FLAGS[f] for f in flags)):
    for tensor_lr in (False, True):
      kwargs = dict(zip(flags, values, strict=True))
      yield {**_KWARGS.get(class_name, {}), **kwargs}, tensor_lr


def _torch_refuses(class_name: str, kwargs: dict, tensor_lr: bool) -> bool:
  param = torch.zeros(2, 3, requires_grad=True)
  lr = torch.tensor(0.01) if tensor_lr else 0.01
  try:
    getattr(torch.optim, class_name)([param], lr=lr, **kwargs)
  except (ValueError, RuntimeError):
    return True
  return False


def _twin_refuses(class_name: str, kwargs: dict, tensor_lr: bool) -> bool:
  lr = torch.tensor(0.01) if tensor_lr else 0.01
  try:
    torch_optim.TWINS[class_name].factory(lr=lr, **kwargs)
  except ValueError:
    return True
  return False


@pytest.mark.parametrize("class_name", torch_optim.supported_optimizers())
def test_the_twin_refuses_what_torch_refuses_at_construction(class_name):
  combinations = list(_combinations(class_name))
  refused = [c for c in combinations if _torch_refuses(class_name, *c)]
  assert [c for c in combinations if _twin_refuses(class_name, *c)] == refused
  if any(f in inspect.signature(getattr(torch.optim, class_name)).parameters for f in _FLAGS):
    assert len(refused) < len(combinations)


def test_torch_state_is_not_converted_into_integer_params():
  """Casting torch's float state into int32 leaves would truncate it silently."""
  param = torch.nn.Parameter(torch.ones(3))
  optimizer = torch.optim.Adam([param])
  param.grad = torch.ones(3)
  optimizer.step()
  with pytest.raises(TypeError, match=r"torch_optim\.adam .*int32"):
    torch_optim.state_from_torch(optimizer, [jnp.ones(3, jnp.int32)])
