"""Schedules as data: every configuration of PyTorch's ``test/optim/test_lrscheduler.py`` that
the twins express, and our own long and quirky ones.

A spec is ``(torch class name, keywords)``; a ``schedulers`` keyword holds specs. Keywords in
``PER_GROUP`` given as a list have one value per param group (torch's per-group form); the
twin of group ``g`` takes element ``g``. ``lrs`` are the param groups' lrs (torch's tests use
0.05 and 0.5). Functions are module-level so that ids and reprs are stable.

Not expressible, so not here: ``step(epoch)`` with explicit (fractional) epochs
(``_test_with_epoch``, ``CosineAnnealingWarmRestarts_lr2/lr3``, ``_test_against_closed_form``),
resuming with ``last_epoch >= 0``, ``ReduceLROnPlateau`` stepped together with another
scheduler on the same lr (``test_compound_reduce_lr_on_plateau*``), two schedulers stepped
in turn without ``SequentialLR`` (``test_cosine_then_cyclic``), tensor lrs (torch then computes
in float32), state-dict and warning tests.
"""

from __future__ import annotations

import dataclasses
from typing import Any

PER_GROUP = frozenset(
  {"base_lr", "max_lr", "base_momentum", "max_momentum", "lr_lambda", "swa_lr", "min_lr"}
)

Spec = tuple[str, dict[str, Any]]


def pow_09(epoch):
  return 0.9**epoch


def pow_08(epoch):
  return 0.8**epoch


def const_09(epoch):
  del epoch
  return 0.9


def const_08(epoch):
  del epoch
  return 0.8


def const_09995(epoch):
  del epoch
  return 0.9995


def harmonic(epoch):
  return 1.0 / (1.0 + 0.01 * epoch)


def half(x):
  del x
  return 0.5


def inverse_cycle(x):
  return 1.0 / x


@dataclasses.dataclass(frozen=True)
class Case:
  spec: Spec
  lrs: tuple[float, ...] = (0.05, 0.5)
  steps: int = 30
  optimizer: str = "sgd"  # "sgd" (cycles ``momentum``) or "adam" (cycles ``betas[0]``)


def _c(name: str, **kwargs: Any) -> Spec:
  return (name, kwargs)


TORCH_CASES: dict[str, Case] = {
  # test_step_lr, test_get_last_lr_step_lr, test_closed_form_step_lr, ...
  "step_lr": Case(_c("StepLR", gamma=0.1, step_size=3), steps=20),
  "step_lr_default_gamma": Case(_c("StepLR", step_size=2)),
  "step_lr_30": Case(_c("StepLR", step_size=30), steps=100),
  "multi_step_lr": Case(_c("MultiStepLR", gamma=0.1, milestones=[2, 5, 9]), steps=20),
  "multi_step_lr_30_80": Case(_c("MultiStepLR", milestones=[30, 80]), steps=100),
  "constant_lr_half": Case(_c("ConstantLR", factor=0.5, total_iters=5)),
  "constant_lr_third": Case(_c("ConstantLR", factor=1.0 / 3, total_iters=4)),
  "constant_lr_default": Case(_c("ConstantLR")),
  "linear_lr_quarter": Case(_c("LinearLR", start_factor=0.25, end_factor=0.6, total_iters=4)),
  "linear_lr_half": Case(_c("LinearLR", start_factor=0.5, total_iters=4)),
  "linear_lr_closed_form": Case(
    _c("LinearLR", start_factor=1.0 / 3, end_factor=0.7, total_iters=4), steps=20
  ),
  "linear_lr_default": Case(_c("LinearLR")),
  "exp_lr": Case(_c("ExponentialLR", gamma=0.9), steps=20),
  "poly_lr": Case(_c("PolynomialLR", power=0.9, total_iters=5)),
  "poly_lr_default": Case(_c("PolynomialLR", power=0.9)),
  "cos_anneal_lr": Case(_c("CosineAnnealingLR", T_max=10, eta_min=1e-10)),
  "cos_anneal_lr_5": Case(_c("CosineAnnealingLR", T_max=5, eta_min=1e-10), steps=20),
  "cos_anneal_lr_eta": Case(_c("CosineAnnealingLR", T_max=5, eta_min=0.1)),
  "lambda_lr": Case(_c("LambdaLR", lr_lambda=[pow_09, pow_08]), lrs=(0.05, 0.4)),
  "multiplicative_lr": Case(
    _c("MultiplicativeLR", lr_lambda=[const_09, const_08]), lrs=(0.05, 0.4)
  ),
  "sequential_lr1": Case(
    _c(
      "SequentialLR",
      schedulers=[_c("ExponentialLR", gamma=0.8), _c("StepLR", gamma=0.1, step_size=4)],
      milestones=[3],
    ),
    steps=19,
  ),
  "sequential_lr2": Case(
    _c(
      "SequentialLR",
      schedulers=[_c("ConstantLR", factor=0.1, total_iters=3), _c("ExponentialLR", gamma=0.9)],
      milestones=[3],
    ),
  ),
  "sequential_lr3": Case(
    _c(
      "SequentialLR",
      schedulers=[
        _c("ConstantLR", factor=0.1, total_iters=3),
        _c("ExponentialLR", gamma=0.8),
        _c("StepLR", gamma=0.1, step_size=2),
      ],
      milestones=[3, 6],
    ),
  ),
  "sequential_lr4": Case(
    _c(
      "SequentialLR",
      schedulers=[_c("ConstantLR", factor=1), _c("ConstantLR", factor=0.1)],
      milestones=[10],
    ),
    lrs=(0.1,),
  ),
  "sequential_lr5_chained": Case(
    _c(
      "SequentialLR",
      schedulers=[
        _c(
          "ChainedScheduler",
          schedulers=[
            _c("LinearLR", start_factor=0.1, total_iters=5),
            _c("ConstantLR", factor=0.1, total_iters=5),
          ],
        ),
        _c("ConstantLR", factor=0.5, total_iters=5),
      ],
      milestones=[5],
    ),
  ),
  "sequential_lr_linear_linear": Case(
    _c(
      "SequentialLR",
      schedulers=[
        _c("LinearLR", start_factor=0.1, end_factor=0.8, total_iters=4),
        _c("LinearLR", start_factor=0.8, end_factor=0.1, total_iters=4),
      ],
      milestones=[4],
    ),
    lrs=(2.0,),
  ),
  "sequential_lr_constant_pair": Case(
    _c("SequentialLR", schedulers=[_c("ConstantLR"), _c("ConstantLR")], milestones=[2]),
  ),
  "sequential_lr_linear_exp": Case(
    _c(
      "SequentialLR",
      schedulers=[
        _c("LinearLR", start_factor=0.5, end_factor=0.1, total_iters=5),
        _c("ExponentialLR", gamma=0.9),
      ],
      milestones=[5],
    ),
  ),
  "chained_lr1": Case(_c("ChainedScheduler", schedulers=[_c("StepLR", gamma=0.1, step_size=3)])),
  "chained_lr2": Case(
    _c("ChainedScheduler", schedulers=[_c("LinearLR", start_factor=0.4, total_iters=3)])
  ),
  "chained_lr3": Case(
    _c(
      "ChainedScheduler",
      schedulers=[
        _c("LinearLR", start_factor=0.4, total_iters=3),
        _c("MultiStepLR", milestones=[4, 8, 10], gamma=0.1),
      ],
    ),
  ),
  "chained_lr4": Case(
    _c(
      "ChainedScheduler",
      schedulers=[
        _c("ExponentialLR", gamma=0.9),
        _c("ConstantLR", factor=0.2, total_iters=4),
        _c("StepLR", gamma=0.1, step_size=3),
      ],
    ),
  ),
  "chained_lr5": Case(
    _c(
      "ChainedScheduler",
      schedulers=[_c("PolynomialLR", power=0.9, total_iters=5), _c("ConstantLR", factor=0.1)],
    ),
  ),
  "chained_constant_pair": Case(
    _c("ChainedScheduler", schedulers=[_c("ConstantLR"), _c("ConstantLR")])
  ),
  # test_compound_*: the schedulers stepped together, i.e. ChainedScheduler's rule.
  "compound_step_multistep": Case(
    _c(
      "ChainedScheduler",
      schedulers=[
        _c("StepLR", gamma=0.1, step_size=3),
        _c("MultiStepLR", gamma=0.1, milestones=[2, 5, 9]),
      ],
    ),
  ),
  "compound_step_exp": Case(
    _c(
      "ChainedScheduler",
      schedulers=[_c("StepLR", gamma=0.1, step_size=3), _c("ExponentialLR", gamma=0.9)],
    ),
  ),
  "compound_exp_multistep": Case(
    _c(
      "ChainedScheduler",
      schedulers=[
        _c("MultiStepLR", gamma=0.1, milestones=[2, 5, 9]),
        _c("ExponentialLR", gamma=0.9),
      ],
    ),
  ),
  "compound_linear_exp": Case(
    _c(
      "ChainedScheduler",
      schedulers=[
        _c("LinearLR", start_factor=0.4, end_factor=0.9, total_iters=4),
        _c("ExponentialLR", gamma=0.9),
      ],
    ),
  ),
  "compound_step_constant": Case(
    _c(
      "ChainedScheduler",
      schedulers=[
        _c("StepLR", gamma=0.1, step_size=3),
        _c("ConstantLR", factor=0.4, total_iters=4),
      ],
    ),
  ),
  "compound_multistep_linear": Case(
    _c(
      "ChainedScheduler",
      schedulers=[
        _c("MultiStepLR", gamma=0.1, milestones=[2, 5, 9]),
        _c("LinearLR", start_factor=0.4, total_iters=4),
      ],
    ),
  ),
  "compound_cos_step": Case(
    _c(
      "ChainedScheduler",
      schedulers=[
        _c("CosineAnnealingLR", T_max=10, eta_min=1e-10),
        _c("StepLR", gamma=0.1, step_size=3),
      ],
    ),
  ),
  "compound_cos_multistep": Case(
    _c(
      "ChainedScheduler",
      schedulers=[
        _c("CosineAnnealingLR", T_max=10, eta_min=1e-10),
        _c("MultiStepLR", gamma=0.1, milestones=[2, 5, 9]),
      ],
    ),
  ),
  "compound_linear_cos": Case(
    _c(
      "ChainedScheduler",
      schedulers=[
        _c("LinearLR", start_factor=0.4, total_iters=4),
        _c("CosineAnnealingLR", T_max=10, eta_min=1e-10),
      ],
    ),
  ),
  "compound_cos_exp": Case(
    _c(
      "ChainedScheduler",
      schedulers=[_c("CosineAnnealingLR", T_max=10, eta_min=1e-10), _c("ExponentialLR", gamma=0.1)],
    ),
  ),
  "cycle_triangular": Case(
    _c(
      "CyclicLR",
      base_lr=1,
      max_lr=5,
      step_size_up=4,
      cycle_momentum=True,
      base_momentum=1,
      max_momentum=5,
      mode="triangular",
    ),
  ),
  "cycle_triangular_no_momentum": Case(
    _c("CyclicLR", base_lr=1, max_lr=5, step_size_up=4, cycle_momentum=False, mode="triangular"),
  ),
  "cycle_triangular2": Case(
    _c(
      "CyclicLR",
      base_lr=1,
      max_lr=5,
      step_size_up=4,
      cycle_momentum=True,
      base_momentum=1,
      max_momentum=5,
      mode="triangular2",
    ),
  ),
  "cycle_exp_range": Case(
    _c(
      "CyclicLR",
      base_lr=1,
      max_lr=5,
      step_size_up=4,
      base_momentum=1,
      max_momentum=5,
      mode="exp_range",
      gamma=0.9,
    ),
  ),
  "cycle_triangular_per_group": Case(
    _c(
      "CyclicLR",
      base_lr=[1, 2],
      max_lr=[5, 6],
      step_size_up=4,
      base_momentum=[1, 2],
      max_momentum=[5, 6],
    ),
  ),
  "cycle_triangular2_per_group": Case(
    _c(
      "CyclicLR",
      base_lr=[1, 3],
      max_lr=[5, 7],
      step_size_up=4,
      base_momentum=[1, 3],
      max_momentum=[5, 7],
      mode="triangular2",
    ),
  ),
  "cycle_exp_range_per_group": Case(
    _c(
      "CyclicLR",
      base_lr=[1, 5],
      max_lr=[5, 12],
      step_size_up=4,
      base_momentum=[1, 5],
      max_momentum=[5, 12],
      mode="exp_range",
      gamma=0.9,
    ),
  ),
  "cycle_triangular_up_down": Case(
    _c(
      "CyclicLR",
      base_lr=1,
      max_lr=5,
      step_size_up=4,
      step_size_down=6,
      base_momentum=1,
      max_momentum=5,
    ),
  ),
  "cycle_triangular2_up_down": Case(
    _c(
      "CyclicLR",
      base_lr=[1, 3],
      max_lr=[5, 7],
      step_size_up=2,
      step_size_down=6,
      base_momentum=[1, 3],
      max_momentum=[5, 7],
      mode="triangular2",
    ),
  ),
  "cycle_exp_range_up_down": Case(
    _c(
      "CyclicLR",
      base_lr=1,
      max_lr=5,
      step_size_up=2,
      step_size_down=6,
      base_momentum=1,
      max_momentum=5,
      mode="exp_range",
      gamma=0.9,
    ),
  ),
  "cycle_adam_no_momentum": Case(
    _c("CyclicLR", base_lr=1, max_lr=5, step_size_up=4, cycle_momentum=False), optimizer="adam"
  ),
  "cycle_adam_beta1": Case(_c("CyclicLR", base_lr=1, max_lr=5), optimizer="adam", steps=50),
  "cycle_scale_fn": Case(_c("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=3, scale_fn=half)),
  "cycle_default": Case(_c("CyclicLR", base_lr=0.01, max_lr=0.1), steps=100),
  "onecycle_linear": Case(
    _c(
      "OneCycleLR",
      max_lr=25,
      final_div_factor=2,
      base_momentum=1,
      max_momentum=22,
      total_steps=10,
      anneal_strategy="linear",
    ),
    steps=11,
  ),
  "onecycle_linear_three_phase": Case(
    _c(
      "OneCycleLR",
      max_lr=25,
      div_factor=25,
      base_momentum=1,
      max_momentum=22,
      total_steps=10,
      anneal_strategy="linear",
      pct_start=0.4,
      final_div_factor=4,
      three_phase=True,
    ),
    steps=11,
  ),
  "onecycle_cos": Case(
    _c(
      "OneCycleLR", max_lr=25, final_div_factor=2, base_momentum=1, max_momentum=22, total_steps=10
    ),
    steps=11,
  ),
  "onecycle_adam": Case(
    _c(
      "OneCycleLR",
      max_lr=25,
      final_div_factor=2,
      base_momentum=1,
      max_momentum=22,
      total_steps=10,
      anneal_strategy="linear",
    ),
    steps=11,
    optimizer="adam",
  ),
  "onecycle_state_dict_config": Case(
    _c("OneCycleLR", max_lr=0.01, total_steps=10, anneal_strategy="linear"), steps=11
  ),
  "cawr_1": Case(_c("CosineAnnealingWarmRestarts", T_0=10, T_mult=1, eta_min=1e-10), steps=100),
  "cawr_2": Case(_c("CosineAnnealingWarmRestarts", T_0=10, T_mult=2, eta_min=1e-10), steps=100),
  "cawr_4": Case(_c("CosineAnnealingWarmRestarts", T_0=10, T_mult=4, eta_min=1e-10), steps=100),
  "cawr_20": Case(_c("CosineAnnealingWarmRestarts", T_0=20), steps=100),
  "cawr_10_2": Case(_c("CosineAnnealingWarmRestarts", T_0=10, T_mult=2), steps=100),
  "swalr_default": Case(_c("SWALR", swa_lr=0.01)),
  "swalr_3": Case(_c("SWALR", anneal_epochs=3, swa_lr=0.5)),
  "swalr_linear": Case(_c("SWALR", anneal_epochs=10, anneal_strategy="linear", swa_lr=5.0)),
  "swalr_no_anneal": Case(_c("SWALR", anneal_epochs=1, swa_lr=0.01)),
  "swalr_per_group": Case(
    _c("SWALR", anneal_epochs=4, anneal_strategy="linear", swa_lr=[0.01, 0.02])
  ),
}

LONG = 10_001
OWN_CASES: dict[str, Case] = {
  "exp_long": Case(_c("ExponentialLR", gamma=0.999), steps=LONG),
  "exp_underflow": Case(_c("ExponentialLR", gamma=0.5), steps=1200),
  "step_long": Case(_c("StepLR", step_size=7, gamma=0.9), steps=LONG),
  "multistep_zero_repeats": Case(_c("MultiStepLR", milestones=[0, 3, 3, 8, -2], gamma=0.5)),
  "constant_zero_iters": Case(_c("ConstantLR", factor=0.25, total_iters=0)),
  "linear_long": Case(
    _c("LinearLR", start_factor=0.001, end_factor=0.9, total_iters=3000), steps=LONG
  ),
  "linear_decay_to_zero": Case(_c("LinearLR", start_factor=1.0, end_factor=0.0, total_iters=7)),
  "poly_long": Case(_c("PolynomialLR", total_iters=5000, power=2.0), steps=LONG),
  "cos_long": Case(_c("CosineAnnealingLR", T_max=1000, eta_min=1e-4), steps=LONG),
  "cos_37": Case(_c("CosineAnnealingLR", T_max=37), steps=LONG),
  "lambda_harmonic": Case(_c("LambdaLR", lr_lambda=harmonic), steps=LONG),
  "multiplicative_long": Case(_c("MultiplicativeLR", lr_lambda=const_09995), steps=LONG),
  "cyclic_long_triangular2": Case(
    _c(
      "CyclicLR",
      base_lr=0.001,
      max_lr=0.1,
      step_size_up=300,
      step_size_down=500,
      mode="triangular2",
    ),
    steps=LONG,
  ),
  "cyclic_long_exp_range": Case(
    _c("CyclicLR", base_lr=0.001, max_lr=0.1, step_size_up=250, mode="exp_range", gamma=0.9995),
    steps=LONG,
    optimizer="adam",
  ),
  "cyclic_scale_fn_inverse_cycle": Case(
    _c(
      "CyclicLR",
      base_lr=0.01,
      max_lr=0.1,
      step_size_up=5,
      scale_fn=inverse_cycle,
      scale_mode="cycle",
    ),
    steps=200,
  ),
  "cawr_long": Case(_c("CosineAnnealingWarmRestarts", T_0=17, T_mult=3, eta_min=1e-5), steps=LONG),
  "onecycle_long_cos": Case(
    _c("OneCycleLR", max_lr=0.1, total_steps=10_000), steps=LONG, optimizer="adam"
  ),
  "onecycle_long_three_phase": Case(
    _c(
      "OneCycleLR",
      max_lr=0.3,
      epochs=100,
      steps_per_epoch=100,
      pct_start=0.25,
      anneal_strategy="linear",
      three_phase=True,
    ),
    steps=LONG,
  ),
  "warmup_cosine_long": Case(
    _c(
      "SequentialLR",
      schedulers=[
        _c("LinearLR", start_factor=0.01, total_iters=500),
        _c("CosineAnnealingLR", T_max=9500, eta_min=1e-6),
      ],
      milestones=[500],
    ),
    steps=LONG,
  ),
  "sequential_cawr_second": Case(
    _c(
      "SequentialLR",
      schedulers=[
        _c("ConstantLR", factor=0.5, total_iters=3),
        _c("CosineAnnealingWarmRestarts", T_0=5),
      ],
      milestones=[4],
    ),
  ),
  "sequential_multiplicative_second": Case(
    _c(
      "SequentialLR",
      schedulers=[_c("ExponentialLR", gamma=0.5), _c("MultiplicativeLR", lr_lambda=const_09)],
      milestones=[3],
    ),
  ),
  "sequential_lambda_second": Case(
    _c(
      "SequentialLR",
      schedulers=[_c("StepLR", step_size=2), _c("LambdaLR", lr_lambda=pow_09)],
      milestones=[5],
    ),
  ),
  "sequential_constant_zero_second": Case(
    _c(
      "SequentialLR",
      schedulers=[_c("ExponentialLR", gamma=0.5), _c("ConstantLR", factor=0.5, total_iters=0)],
      milestones=[3],
    ),
  ),
  "sequential_onecycle_second": Case(
    _c(
      "SequentialLR",
      schedulers=[
        _c("LinearLR", start_factor=0.5, total_iters=3),
        _c("OneCycleLR", max_lr=0.2, total_steps=20),
      ],
      milestones=[4],
    ),
    steps=25,
  ),
  "sequential_three_cyclic_last": Case(
    _c(
      "SequentialLR",
      schedulers=[
        _c("ConstantLR", factor=0.1, total_iters=2),
        _c("PolynomialLR", total_iters=4),
        _c("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=3),
      ],
      milestones=[2, 6],
    ),
  ),
  "sequential_swalr": Case(
    _c(
      "SequentialLR",
      schedulers=[_c("CosineAnnealingLR", T_max=10), _c("SWALR", swa_lr=0.01, anneal_epochs=4)],
      milestones=[8],
    ),
  ),
  "chained_onecycle_constant": Case(
    _c(
      "ChainedScheduler",
      schedulers=[
        _c("OneCycleLR", max_lr=0.2, total_steps=29),
        _c("ConstantLR", factor=0.5, total_iters=4),
      ],
    ),
  ),
  "chained_cos_cyclic_adam": Case(
    _c(
      "ChainedScheduler",
      schedulers=[
        _c("CosineAnnealingLR", T_max=6),
        _c("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=4),
      ],
    ),
    optimizer="adam",
  ),
  "swalr_zero_epochs": Case(_c("SWALR", swa_lr=0.02, anneal_epochs=0)),
}

CASES: dict[str, Case] = {**TORCH_CASES, **OWN_CASES}

# ReduceLROnPlateau: (keywords, lr, metrics). test_reduce_lr_on_plateau1..8 and our own.
PLATEAU_CASES: dict[str, tuple[dict[str, Any], float, list[float]]] = {
  "plateau1": (
    {"threshold_mode": "abs", "mode": "min", "threshold": 0.01, "patience": 5, "cooldown": 5},
    0.5,
    [10 - i * 0.0167 for i in range(20)],
  ),
  "plateau2": (
    {"patience": 5, "cooldown": 0, "threshold_mode": "abs", "mode": "min", "threshold": 0.1},
    0.5,
    [10 - i * 0.0165 for i in range(22)],
  ),
  "plateau3": (
    {"mode": "max", "patience": 5, "cooldown": 5, "threshold_mode": "abs"},
    0.5,
    [-0.8] * 2 + [-0.234] * 20,
  ),
  "plateau4": (
    {"mode": "max", "patience": 3, "threshold_mode": "rel", "threshold": 0.1},
    0.5,
    [1.5 * (1.025**i) for i in range(20)],
  ),
  "plateau5": (
    {"mode": "max", "threshold_mode": "rel", "threshold": 0.1, "patience": 5, "cooldown": 5},
    0.5,
    [1.5 * (1.005**i) for i in range(20)],
  ),
  "plateau6": (
    {"mode": "min", "threshold_mode": "rel", "threshold": 0.1},
    0.5,
    [1.5 * (0.85**i) for i in range(20)],
  ),
  "plateau7": (
    {"mode": "min", "threshold_mode": "rel", "threshold": 0.1, "patience": 5, "cooldown": 5},
    0.5,
    [1] * 7 + [0.6] + [0.5] * 12,
  ),
  "plateau8_min_lr": (
    {
      "mode": "max",
      "threshold_mode": "rel",
      "min_lr": 0.4,
      "threshold": 0.1,
      "patience": 5,
      "cooldown": 5,
    },
    0.5,
    [1.5 * (1.005**i) for i in range(20)],
  ),
  "plateau_state_dict_scores": (
    {"mode": "min", "factor": 0.1, "patience": 2},
    0.05,
    [1.0, 2.0, 3.0, 4.0, 3.0, 4.0, 5.0, 3.0, 2.0, 1.0],
  ),
  "plateau_patience0_eps": (
    {"patience": 0, "factor": 0.5, "eps": 1e-3, "min_lr": 1e-4},
    0.01,
    [1.0] * 40,
  ),
  "plateau_nan_and_floor": (
    {"patience": 1, "factor": 0.3, "min_lr": 0.002, "cooldown": 2},
    0.1,
    [1.0, float("nan"), 0.9, 0.95, 0.95, float("nan"), 0.5, 0.6, 0.7, 0.8, 0.9, 1.0] * 3,
  ),
}
