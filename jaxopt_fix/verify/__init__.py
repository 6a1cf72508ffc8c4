"""Cross-framework verification: does an optax transformation take the same steps as a torch
optimizer?

:func:`compare` feeds the same gradients (a built-in battery, :data:`SEQUENCES`, or your own)
to a ``torch.optim`` optimizer and to an optax transformation (by default its twin from
:mod:`jaxopt_fix.torch_optim`), and compares the parameters' displacement and every state
field with a counterpart after every step, in float64 and float32, against the parity
suite's :data:`TOLERANCES`. ``python -m jaxopt_fix.verify`` does the same from a shell.

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
from jaxopt_fix.verify._tolerances import TOLERANCES
from jaxopt_fix.verify._tolerances import Tolerance

__all__ = (
  "SEQUENCES",
  "TOLERANCES",
  "Comparison",
  "Divergence",
  "FieldComparison",
  "Tolerance",
  "VerifyResult",
  "compare",
  "draw_gradients",
)
