"""jaxopt_fix: optax gradient transformations that behave exactly as the paper or PyTorch says.

``import jaxopt_fix`` never imports torch. The torch-exact twins of ``torch.optim`` are
:mod:`jaxopt_fix.torch_optim`, reachable as ``jaxopt_fix.torch_optim`` (imported on first
access; it does not import torch either). :mod:`jaxopt_fix.verify` compares a torch optimizer
and an optax transformation step by step (torch imported by its functions only).
"""

import importlib
from typing import TYPE_CHECKING
from typing import Any

from jaxopt_fix._src.alias import amsgrad
from jaxopt_fix._src.alias import yogi
from jaxopt_fix._src.numerics import one_minus_power
from jaxopt_fix._src.transform import AMSGRAD_VARIANTS
from jaxopt_fix._src.transform import YOGI_VARIANTS
from jaxopt_fix._src.transform import AmsgradVariant
from jaxopt_fix._src.transform import ScaleByAmsgradState
from jaxopt_fix._src.transform import ScaleByYogiState
from jaxopt_fix._src.transform import YogiVariant
from jaxopt_fix._src.transform import scale_by_amsgrad
from jaxopt_fix._src.transform import scale_by_yogi

if TYPE_CHECKING:
  from jaxopt_fix import torch_optim as torch_optim
  from jaxopt_fix import verify as verify

__version__ = "0.1.0"

_SUBMODULES = ("torch_optim", "verify")


def __getattr__(name: str) -> Any:
  """``jaxopt_fix.torch_optim`` and ``jaxopt_fix.verify`` without an explicit import, loaded
  when first used (PEP 562)."""
  if name in _SUBMODULES:
    return importlib.import_module(f"{__name__}.{name}")
  raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
  return sorted({*globals(), *_SUBMODULES})


__all__ = (
  "AMSGRAD_VARIANTS",
  "YOGI_VARIANTS",
  "AmsgradVariant",
  "ScaleByAmsgradState",
  "ScaleByYogiState",
  "YogiVariant",
  "amsgrad",
  "one_minus_power",
  "scale_by_amsgrad",
  "scale_by_yogi",
  "yogi",
)
