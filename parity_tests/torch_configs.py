"""The CPU configurations that PyTorch's own optimizer tests exercise.

``torch.testing._internal.common_optimizers.optim_db`` lists, per optimizer, the keyword
arguments its tests run (``optim_inputs_func("cpu")``; needs the ``expecttest`` package).
The parity suite runs every one of them against the twin.
"""

from typing import Any

import torch
from torch.testing._internal import common_optimizers


def optim_db_configs(optimizer_class: type[torch.optim.Optimizer]) -> dict[str, dict[str, Any]]:
  """``{description: kwargs}`` of every CPU input of ``optimizer_class`` in optim_db."""
  (info,) = [i for i in common_optimizers.optim_db if i.optim_cls is optimizer_class]
  configs = {}
  for optim_input in info.optim_inputs_func(device="cpu"):
    configs[optim_input.desc.replace(" ", "_")] = dict(optim_input.kwargs)
  return configs
