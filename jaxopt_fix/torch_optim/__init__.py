"""Torch-exact JAX twins of ``torch.optim``: ``torch.optim.X(params, **kw)`` becomes
``jaxopt_fix.torch_optim.x(**kw)``, with the same keywords, defaults and trajectory.

Each twin is an ``optax.chain`` whose state fields carry torch's state keys (``step``,
``exp_avg``, ...). ``import jaxopt_fix.torch_optim`` does not import torch.
"""

from jaxopt_fix.torch_optim._adam import ScaleByTorchAdamState
from jaxopt_fix.torch_optim._adam import adam
from jaxopt_fix.torch_optim._adam import adamw
from jaxopt_fix.torch_optim._adam import scale_by_torch_adam

__all__ = (
  "ScaleByTorchAdamState",
  "adam",
  "adamw",
  "scale_by_torch_adam",
)
