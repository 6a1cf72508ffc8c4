"""Cross-framework verification: does an optax transformation take the same steps as a torch
optimizer?

:func:`compare` feeds the same gradients (a built-in battery, :data:`SEQUENCES`, or your own)
to a ``torch.optim`` optimizer and to an optax transformation (by default its twin from
:mod:`jaxopt_fix.torch_optim`), and compares the parameters' displacement and every state
field with a counterpart after every step, in float64 and float32, against the parity
suite's :data:`TOLERANCES`. ``python -m jaxopt_fix.verify`` does the same from a shell.

:func:`train_side_by_side` does it for a whole model: a torch ``nn.Module`` and a flax module
with the same weights (:func:`flax_params_from_torch`), trained on the same batches.

``import jaxopt_fix.verify`` does not import torch; the functions that run torch import it.
"""

from __future__ import annotations

from jaxopt_fix.verify._compare import Comparison
from jaxopt_fix.verify._compare import Divergence
from jaxopt_fix.verify._compare import FieldComparison
from jaxopt_fix.verify._compare import VerifyResult
from jaxopt_fix.verify._compare import compare
from jaxopt_fix.verify._gradients import SEQUENCES
from jaxopt_fix.verify._gradients import draw_gradients
from jaxopt_fix.verify._models import RTOL
from jaxopt_fix.verify._models import SideBySide
from jaxopt_fix.verify._models import flax_params_from_torch
from jaxopt_fix.verify._models import torch_params_from_flax
from jaxopt_fix.verify._models import train_side_by_side
from jaxopt_fix.verify._tolerances import TOLERANCES
from jaxopt_fix.verify._tolerances import TWIN_TOLERANCES
from jaxopt_fix.verify._tolerances import Tolerance

__all__ = (
  "RTOL",
  "SEQUENCES",
  "TOLERANCES",
  "TWIN_TOLERANCES",
  "Comparison",
  "Divergence",
  "FieldComparison",
  "SideBySide",
  "Tolerance",
  "VerifyResult",
  "compare",
  "draw_gradients",
  "flax_params_from_torch",
  "torch_params_from_flax",
  "train_side_by_side",
)
