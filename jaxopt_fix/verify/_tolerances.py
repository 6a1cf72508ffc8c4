"""How close the two frameworks must be, per dtype.

Errors are measured relative to a natural scale, element by element, after every step:

- the parameter *displacement* ``p_t - p_0`` relative to the distance the element has
  travelled so far, ``sum_s |p_s - p_{s-1}|`` (on the torch side). Without cancellation this
  is the plain relative error of the displacement; with it, it is the error relative to the
  size of the updates that were summed, which is what rounding produces.
- a *state* field (``mu``/``exp_avg`` ...) relative to the largest magnitude that element
  has had so far, since an exponential average that crosses zero carries the rounding of
  its earlier, larger values.
- the step count exactly.

An element whose scale is still 0 must agree exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses


@dataclasses.dataclass(frozen=True)
class Tolerance:
  """A relative tolerance and, when it is above 1e-6, the reason it has to be.

  ``param_ulps`` (displacement only, and only for parameters that start away from zero):
  that many ulps of the parameter's largest magnitude so far are forgiven before the
  relative error is taken. A float32 parameter near 1 that moves by steps of 1e-3 lands on
  a grid of 1.2e-7; two updates that differ in their last bit can round ``p + u`` to
  adjacent points, one ulp of ``p`` apart, which after 5 steps is already 2e-5 of the
  distance travelled. Such flips accumulate like a random walk: measured at most 4 ulps
  over 500 steps of every sequence and configuration of the parity suite.

  Raises:
    ValueError: for an ``rtol`` above 1e-6 without a ``reason``.

  Examples:
    >>> from jaxopt_fix import verify
    >>> verify.Tolerance(1e-4, reason="float32 matmuls sum in another order").rtol
    0.0001
  """

  rtol: float
  reason: str = ""
  param_ulps: int = 0

  def __post_init__(self):
    if self.rtol > 1e-6 and not self.reason:
      raise ValueError(f"a tolerance above 1e-6 ({self.rtol}) needs a stated reason")


TOLERANCES: Mapping[str, Mapping[str, Tolerance]] = {
  "float64": {
    # Measured at most 8e-16 against the plain-torch references. Against torch.optim and
    # torch_optimizer up to 6e-13 at b2 = 0.99999: torch computes 1 - b2**t in float64
    # with cancellation (1e-11 relative at t = 1), we use -expm1(t log b2).
    "displacement": Tolerance(1e-12, param_ulps=4),
    "state": Tolerance(1e-12),
  },
  "float32": {
    # Both sides follow torch's order of operations: XLA's CPU backend contracts
    # a * b + c into a fused multiply-add, and so do torch's addcmul_ and lerp_ kernels
    # (addcmul_(t1, t2, value) is fma(value * t1, t2, self)); where torch rounds a
    # product on its own (mul_), we block the contraction (numerics.rounded_product).
    # What is left is the scalar arithmetic: torch folds lr / (1 - b1^t) into one
    # float64 scalar and divides sqrt(v) by a float64-derived scalar, we multiply by
    # float32 scalars, so an update differs by an ulp or two and p + u may round to the
    # neighbouring float. Measured over 500 steps of every sequence and spec: at most
    # 3.8e-7 of the distance travelled from zero initial parameters, 4.5e-8 beyond the
    # forgiven parameter ulps from normal ones.
    "displacement": Tolerance(1e-6, param_ulps=4),
    # The moments match torch bit for bit from identical inputs; what differs is fed
    # back from the parameters through weight decay. Measured at most 4.5e-7 of the
    # element's running scale.
    "state": Tolerance(1e-6),
  },
}
"""The parity suite's tolerance of every compared field, per dtype: ``"displacement"`` and
``"state"`` (every state field), with the measurements that justify them."""


# torch's float32 sqrt on CPU (MKL's vectorised kernel) is not correctly rounded: it is one
# ulp away from XLA's correctly rounded sqrt in about 20% of elements (measured on 7- and
# 15-element tensors). With torch's sqrt substituted into the twins (a host callback, for the
# measurement only) Adadelta and every momentum configuration of RMSprop are bit-identical to
# torch (up to subnormals, which XLA flushes to zero).
#
# Adadelta: without it the step sqrt(acc_delta + eps) / sqrt(square_avg + eps) * grad differs
# by an ulp or two, and its square accumulates in acc_delta: measured at most 8.8e-7 of the
# running scale without weight decay; through weight decay the parameter difference also
# enters the gradient, measured at most 1.5e-6 (the displacement stays within 2.5e-7).
#
# RMSprop: the divisor differs by an ulp, and so does the parameter (as it also does from
# torch's addcdiv computing (-lr * g) / avg where the twin computes -lr * (g / avg)); through
# weight decay the parameter difference enters the gradient and every average. Where the
# gradient is dominated by weight_decay * param (the tiny coordinates of the "scales"
# sequence) the normalised steps make the parameter oscillate with growing amplitude, which
# amplifies the difference: measured at most 6.8e-6 (momentum_buffer), 1.5e-6 (square_avg)
# and 1.1e-6 (grad_avg) of the running scale, while the displacement stays within 3e-7.
_SQRT_FEEDBACK = (
  "torch's float32 CPU sqrt is 1 ulp off in about 20% of elements (bit-identical with it"
  " substituted); the difference is fed back through weight decay and amplified by"
  " oscillating wd-dominated coordinates: measured {measured}"
)

TWIN_TOLERANCES: Mapping[str, Mapping[str, Mapping[str, Tolerance]]] = {
  "Adadelta": {
    "float32": {
      "acc_delta": Tolerance(
        4e-6,
        reason="torch's float32 CPU sqrt is 1 ulp off in about 20% of elements (bit-identical"
        " with it substituted); the step's ulp differences accumulate in acc_delta and feed"
        " back through weight decay: measured 1.5e-6",
      )
    }
  },
  "RAdam": {
    "float64": {
      "displacement": Tolerance(
        4e-12,
        reason=(
          "torch's rho_t = rho_inf - 2 t b2^t / (1 - b2^t) cancels in float64 (rho_inf ="
          " 1999, rho_7 = 6.99 at b2 = 0.999): against 50-digit arithmetic its rectifier"
          " is off by 2.6e-13, 2.9e-12, 1.2e-12 and 6.4e-13 relative at t = 6..9, where the"
          " twin's rho_t (radam.sma_length) is exact to 3e-16. Measured at most 9.6e-13 of"
          " the distance travelled, at step 7."
        ),
        param_ulps=4,
      )
    }
  },
  "RMSprop": {
    "float32": {
      "momentum_buffer": Tolerance(2e-5, reason=_SQRT_FEEDBACK.format(measured="6.8e-6")),
      "square_avg": Tolerance(4e-6, reason=_SQRT_FEEDBACK.format(measured="1.5e-6")),
      "grad_avg": Tolerance(4e-6, reason=_SQRT_FEEDBACK.format(measured="1.1e-6")),
    }
  },
}
"""The twins' overrides of :data:`TOLERANCES`, by ``torch.optim`` class name and dtype, each
with its measured reason (the parity suite's specs use the same table):
:func:`jaxopt_fix.verify.compare` applies them when it compares a twin."""


def tolerance_for(
  dtype: str, field: str, overrides: Mapping[str, Mapping[str, Tolerance]] | None = None
) -> Tolerance:
  """The tolerance of ``field`` at ``dtype``: an override, else the table's default."""
  override = (overrides or {}).get(dtype, {})
  if field in override:
    return override[field]
  table = TOLERANCES[dtype]
  return table.get(field, table["displacement" if field == "displacement" else "state"])
