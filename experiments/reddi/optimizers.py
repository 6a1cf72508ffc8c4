"""The optimizers of the experiments by name, and their learning-rate schedules.

:data:`OPTIMIZERS` holds Adam and every AMSGrad and Yogi variant of
:mod:`jaxopt_fix`; ``torch_optim.<twin>`` names a :mod:`jaxopt_fix.torch_optim`
twin of a ``torch.optim`` class (:data:`TWIN_NAMES`, from the twin registry
``torch_optim.TWINS``), with torch's defaults. Each is a factory
``(lr, b1, b2, eps) -> optax.GradientTransformation``.

Example:
  >>> get_optimizer("amsgrad_paper").variant, get_optimizer("torch_optim.adamw").default_eps
  ('paper', 1e-08)
"""

from collections.abc import Callable
from collections.abc import Mapping
import dataclasses
import inspect
from typing import Any

import jax.numpy as jnp
import optax

from experiments import arguments
import jaxopt_fix
from jaxopt_fix import torch_optim


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
NAMES = (*OPTIMIZERS, *TWIN_NAMES)
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
  """The optimizer called ``name``: a key of :data:`OPTIMIZERS` or one of :data:`TWIN_NAMES`.

  Raises:
    KeyError: for any other name.
  """
  if name in OPTIMIZERS:
    return OPTIMIZERS[name]
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
