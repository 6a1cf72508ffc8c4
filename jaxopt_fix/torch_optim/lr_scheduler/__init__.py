"""Twins of ``torch.optim.lr_scheduler``: ``torch.optim.lr_scheduler.StepLR(opt, **kw)``
becomes ``lr_scheduler.step_lr(lr, **kw)``, an optax schedule with torch's values.

Each twin takes the class's keywords and defaults, with the optimizer replaced by the param
group's ``lr`` (``CyclicLR`` and ``OneCycleLR`` set the lr themselves and take none).
``schedule(k)`` is torch's ``get_last_lr()`` after ``k`` calls of ``scheduler.step()``, the
lr of optimizer step ``k + 1``: the usual per-iteration loop ``opt.step(); sched.step()`` is
``torch_optim.adam(lr=schedule)``. For per-epoch stepping, compose with the epoch length:
``lambda count: schedule(count // steps_per_epoch)``.

torch computes most lrs recursively (each step from the last one, in float64); the twins
replay the recursion once on the host, without torch, and look the values up (the same to
the last bit in float64 with ``jax_enable_x64``, rounded once to float32 otherwise); each
docstring says how its values continue past the table. ``CyclicLR`` and ``OneCycleLR``
(``cycle_momentum=True``, torch's default) also schedule the momentum: pass
``schedule.momentum`` as ``momentum=`` (SGD, RMSprop) or ``betas=(schedule.momentum, b2)``
(Adam, AdamW). ``ReduceLROnPlateau`` reads a metric: :func:`reduce_lr_on_plateau` is a
transformation reading ``value=``, as ``optax.contrib.reduce_on_plateau``.

torch schedules each param group from its own lr: build one schedule per group and one
twin per group, e.g. ``optax.multi_transform({"a": adam(lr=step_lr(0.1, 5)), "b":
adam(lr=step_lr(0.01, 5))}, labels)``. ``import jaxopt_fix.torch_optim.lr_scheduler`` does not
import torch.
"""

from __future__ import annotations

from jaxopt_fix.torch_optim.lr_scheduler._plateau import ReduceLROnPlateauState
from jaxopt_fix.torch_optim.lr_scheduler._plateau import reduce_lr_on_plateau
from jaxopt_fix.torch_optim.lr_scheduler._schedule import TorchSchedule
from jaxopt_fix.torch_optim.lr_scheduler._schedulers import chained_scheduler
from jaxopt_fix.torch_optim.lr_scheduler._schedulers import constant_lr
from jaxopt_fix.torch_optim.lr_scheduler._schedulers import cosine_annealing_lr
from jaxopt_fix.torch_optim.lr_scheduler._schedulers import cosine_annealing_warm_restarts
from jaxopt_fix.torch_optim.lr_scheduler._schedulers import cyclic_lr
from jaxopt_fix.torch_optim.lr_scheduler._schedulers import exponential_lr
from jaxopt_fix.torch_optim.lr_scheduler._schedulers import lambda_lr
from jaxopt_fix.torch_optim.lr_scheduler._schedulers import linear_lr
from jaxopt_fix.torch_optim.lr_scheduler._schedulers import multi_step_lr
from jaxopt_fix.torch_optim.lr_scheduler._schedulers import multiplicative_lr
from jaxopt_fix.torch_optim.lr_scheduler._schedulers import one_cycle_lr
from jaxopt_fix.torch_optim.lr_scheduler._schedulers import polynomial_lr
from jaxopt_fix.torch_optim.lr_scheduler._schedulers import sequential_lr
from jaxopt_fix.torch_optim.lr_scheduler._schedulers import step_lr

__all__ = (
  "ReduceLROnPlateauState",
  "TorchSchedule",
  "chained_scheduler",
  "constant_lr",
  "cosine_annealing_lr",
  "cosine_annealing_warm_restarts",
  "cyclic_lr",
  "exponential_lr",
  "lambda_lr",
  "linear_lr",
  "multi_step_lr",
  "multiplicative_lr",
  "one_cycle_lr",
  "polynomial_lr",
  "reduce_lr_on_plateau",
  "sequential_lr",
  "step_lr",
)
