"""The optimizers of the experiments by name, and their learning-rate schedules.

:data:`OPTIMIZERS` holds Adam and every AMSGrad and Yogi variant of
:mod:`jaxopt_fix` (the default run); :data:`SEED_OPTIMIZERS` the optimizers only the
seeds' experiments (:mod:`experiments.reddi.presets`) run; ``torch_optim.<twin>``
names a :mod:`jaxopt_fix.torch_optim` twin of a ``torch.optim`` class (:data:`TWIN_NAMES`,
from the twin registry ``torch_optim.TWINS``), with torch's defaults. Each is a factory
``(lr, b1, b2, eps) -> optax.GradientTransformation``.

Example:
  >>> get_optimizer("amsgrad_paper").variant, get_optimizer("torch_optim.adamw").default_eps
  ('paper', 1e-08)
"""

from collections.abc import Callable
from collections.abc import Mapping
import dataclasses
import functools
import inspect
from typing import Any

import jax
import jax.numpy as jnp
import optax

from experiments import arguments
import jaxopt_fix
from jaxopt_fix import torch_optim
from jaxopt_fix._src import moments
from jaxopt_fix._src import numerics
from jaxopt_fix._src import validation


@dataclasses.dataclass(frozen=True)
class Optimizer:
  """A named factory ``(lr, b1, b2, eps) -> optax.GradientTransformation``.

  Attributes:
    variant: The semantics, as in the ``variant`` argument of the jaxopt_fix
      optimizers (``"optax"`` for ``optax.adam``, ``"torch"`` for the twins).
    default_eps: The eps used when the caller passes ``None``.
    make: The factory proper, taking all four hyperparameters.
    takes: Which of ``b1``, ``b2`` and ``eps`` change the transformation (a twin without
      ``betas`` or ``eps`` ignores them).
  """

  variant: str
  default_eps: float
  make: Callable[[optax.ScalarOrSchedule, float, float, float], optax.GradientTransformation]
  takes: frozenset[str] = frozenset({"b1", "b2", "eps"})

  def __call__(
    self, lr: optax.ScalarOrSchedule, b1: float = 0.9, b2: float = 0.99, eps: float | None = None
  ) -> optax.GradientTransformation:
    """The transformation with these hyperparameters (``eps=None``: the default)."""
    return self.make(lr, b1, b2, self.eps_or_default(eps))

  def eps_or_default(self, eps: float | None) -> float:
    """The eps a run with ``eps`` (``None``: the default) uses."""
    return self.default_eps if eps is None else eps


def _adam(
  lr: optax.ScalarOrSchedule, b1: float, b2: float, eps: float
) -> optax.GradientTransformation:
  return optax.adam(lr, b1=b1, b2=b2, eps=eps)


def _amsgrad(variant: jaxopt_fix.AmsgradVariant) -> Optimizer:
  def make(
    lr: optax.ScalarOrSchedule, b1: float, b2: float, eps: float
  ) -> optax.GradientTransformation:
    return jaxopt_fix.amsgrad(lr, b1=b1, b2=b2, eps=eps, variant=variant)

  return Optimizer(variant=variant, default_eps=1e-8, make=make)


def _yogi(variant: jaxopt_fix.YogiVariant) -> Optimizer:
  def make(
    lr: optax.ScalarOrSchedule, b1: float, b2: float, eps: float
  ) -> optax.GradientTransformation:
    return jaxopt_fix.yogi(lr, b1=b1, b2=b2, eps=eps, variant=variant)

  return Optimizer(variant=variant, default_eps=1e-3, make=make)


OPTIMIZERS: Mapping[str, Optimizer] = {
  "adam": Optimizer(variant="optax", default_eps=1e-8, make=_adam),
  "amsgrad": _amsgrad("torch"),
  "amsgrad_paper": _amsgrad("paper"),
  "amsgrad_optax": _amsgrad("optax"),
  "yogi": _yogi("torch_optimizer"),
  "yogi_tfa": _yogi("tfa"),
  "yogi_d2l": _yogi("d2l"),
  "yogi_paper": _yogi("paper"),
}
"""The optimizers of the experiments, by name; each is called as ``(lr, b1, b2, eps)``."""


def scale_by_adam_keras(b1: float, b2: float, eps: float) -> optax.GradientTransformation:
  r"""Adam in the "epsilon hat" form of Keras and labml_nn's ``Adam(optimized_update=True)``.

  .. math::

    d_t = \frac{\sqrt{1 - \beta_2^t}}{1 - \beta_1^t} \, \frac{m_t}{\sqrt{v_t} + \epsilon}

  with Adam's moments: :func:`jaxopt_fix.scale_by_amsgrad` with ``variant="keras"``
  without the running maximum (the same moments, corrections and rounding).

  Example:
    >>> import jax.numpy as jnp
    >>> tx = scale_by_adam_keras(0.9, 0.99, 1e-16)
    >>> updates, _ = tx.update(jnp.array([4.0, -0.5]), tx.init(jnp.zeros(2)))
    >>> print(updates.round(6))
    [ 1. -1.]

  Raises:
    ValueError: if ``b1`` or ``b2`` is not in [0, 1) or ``eps`` is negative.
  """
  validation.check_unit_interval("b1", b1)
  validation.check_unit_interval("b2", b2)
  validation.check_non_negative("eps", eps)

  def init_fn(params):
    return optax.ScaleByAdamState(
      count=jnp.zeros([], jnp.int32),
      mu=optax.tree.zeros_like(params),
      nu=optax.tree.zeros_like(params),
    )

  def update_fn(updates, state, params=None):
    del params
    count = optax.safe_increment(state.count)
    mu = moments.lerp_moment(updates, state.mu, b1)
    nu = moments.ema_squared_moment(updates, state.nu, b2)
    bc1, bc2 = numerics.bias_corrections((b1, b2), count)
    directions = moments.adam_direction(
      updates, mu, nu, mu_scale=jnp.sqrt(bc2) / bc1, nu_correction=None, eps=eps, eps_root=0.0
    )
    cast = functools.partial(jax.tree.map, lambda new, old: new.astype(old.dtype))
    return directions, optax.ScaleByAdamState(
      count=count, mu=cast(mu, state.mu), nu=cast(nu, state.nu)
    )

  return optax.GradientTransformation(init_fn, update_fn)


def _adam_keras(
  lr: optax.ScalarOrSchedule, b1: float, b2: float, eps: float
) -> optax.GradientTransformation:
  return optax.chain(scale_by_adam_keras(b1, b2, eps), optax.scale_by_learning_rate(lr))


SEED_OPTIMIZERS: Mapping[str, Optimizer] = {
  "adam_keras": Optimizer(variant="keras", default_eps=1e-7, make=_adam_keras),
  "amsgrad_keras": dataclasses.replace(_amsgrad("keras"), default_eps=1e-7),
}
"""Optimizers of the seeds' experiments, not in the default run: labml_nn's (and Keras's)
Adam and AMSGrad, with epsilon on the uncorrected root (Keras's default eps, 1e-7)."""

TWIN_PREFIX = "torch_optim."
"""Names ``torch_optim.<twin>`` run a :mod:`jaxopt_fix.torch_optim` twin."""
NOT_ON_A_SCALAR = {
  "LBFGS": "its default max_iter=20 re-evaluates a closure, which an optax update cannot",
  "Muon": "it only takes 2-D parameters",
}
"""The twins that cannot run on the problems' scalar iterate with torch's defaults, and why."""
_TWINS = {
  twin.name: twin
  for torch_name, twin in torch_optim.TWINS.items()
  if torch_name not in NOT_ON_A_SCALAR
}
TWIN_NAMES = tuple(TWIN_PREFIX + name for name in sorted(_TWINS))
"""``torch_optim.<twin>`` for every twin in ``torch_optim.TWINS`` but :data:`NOT_ON_A_SCALAR`."""
NAMES = (*OPTIMIZERS, *SEED_OPTIMIZERS, *TWIN_NAMES)
"""Every name :func:`get_optimizer` knows."""


def _twin(name: str) -> Optimizer:
  """A twin as an :class:`Optimizer`: ``lr``, and ``betas``/``eps`` where the twin takes them."""
  factory = _TWINS[name].factory
  params = inspect.signature(factory).parameters
  eps_default = params["eps"].default if "eps" in params else None
  takes_eps = isinstance(eps_default, float)

  def make(
    lr: optax.ScalarOrSchedule, b1: float, b2: float, eps: float
  ) -> optax.GradientTransformation:
    kwargs: dict[str, Any] = {"lr": lr}
    if "betas" in params:
      kwargs["betas"] = (b1, b2)
    if takes_eps:
      kwargs["eps"] = eps
    return factory(**kwargs)

  takes = {"b1", "b2"} if "betas" in params else set()
  return Optimizer(
    variant="torch",
    default_eps=eps_default if takes_eps else 0.0,
    make=make,
    takes=frozenset(takes | ({"eps"} if takes_eps else set())),
  )


def get_optimizer(name: str) -> Optimizer:
  """The optimizer called ``name``: a key of :data:`OPTIMIZERS` or :data:`SEED_OPTIMIZERS`, or
  one of :data:`TWIN_NAMES`.

  Raises:
    KeyError: for any other name.
  """
  if name in OPTIMIZERS:
    return OPTIMIZERS[name]
  if name in SEED_OPTIMIZERS:
    return SEED_OPTIMIZERS[name]
  if name in TWIN_NAMES:
    return _twin(name.removeprefix(TWIN_PREFIX))
  raise KeyError(name)


LR_SCHEDULES = ("constant", "sqrt")


def learning_rate(lr: float, schedule: str = "constant") -> optax.ScalarOrSchedule:
  """The learning rate ``lr`` (``"constant"``) or the paper's ``lr / sqrt(t)`` (``"sqrt"``).

  The schedule is evaluated at optax's update count ``c = t - 1``, so step
  ``t`` (from 1) uses :math:`\\alpha_t = \\alpha / \\sqrt t`.

  Args:
    lr: The learning rate :math:`\\alpha`.
    schedule: ``"constant"`` or ``"sqrt"``.

  Returns:
    ``lr`` itself, or an optax schedule (a function of the update count).

  Raises:
    ValueError: if ``schedule`` is unknown.

  Example:
    >>> schedule = learning_rate(0.1, "sqrt")
    >>> [round(float(schedule(c)), 4) for c in range(4)]
    [0.1, 0.0707, 0.0577, 0.05]
  """
  arguments.one_of("schedule", schedule, LR_SCHEDULES)
  if schedule == "constant":
    return lr
  return lambda count: lr / jnp.sqrt(count + 1)
