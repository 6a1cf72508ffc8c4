"""Small, readable plain-torch reference optimizers for semantics that torch.optim lacks.

Each is written from its source (a paper's algorithm box, or another library's code) with
one line per formula, not for speed. Scalars (bias corrections) are Python floats, as in
``torch.optim``'s default single-tensor path. State keys follow ``torch.optim.Adam``:
``step``, ``exp_avg``, ``exp_avg_sq``, ``max_exp_avg_sq``.
"""

import math


def one_minus_power(beta: float, t: int) -> float:
  """1 - beta**t in float64 without cancellation.

  ``1 - beta**t`` loses about 1e-16 / (1 - beta**t) relative to cancellation: 1e-11 at
  beta = 0.99999, t = 1, which would make the reference, not the code under test, the
  less accurate side.
  """
  return 1.0 if beta == 0.0 else -math.expm1(t * math.log(beta))
