"""The schedule table of ``docs/torch_optim.md``: each torch scheduler, its twin, the nearest
optax schedule and the measured max |Δlr| over 1,000 steps, computed against live torch.

``python -m parity_tests.schedule_table`` prints the table; ``--write`` puts it into the docs
between the ``schedule-table`` markers. ``parity_tests/test_lr_scheduler.py`` checks that
the docs hold exactly what this computes.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import dataclasses
import pathlib
import sys
from typing import Any
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import optax
import torch

from jaxopt_fix.torch_optim.lr_scheduler import _registry

STEPS = 1_000
LR = 0.1
DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs" / "torch_optim.md"
BEGIN, END = "<!-- schedule-table -->", "<!-- /schedule-table -->"


def _harmonic(k):
  return 1.0 / (1.0 + 0.01 * k)


def _factor(k):
  del k
  return 0.995


def _plateau_metrics() -> np.ndarray:
  k = np.arange(STEPS)
  return np.maximum(1.0 - 0.002 * k, 0.6) + 0.01 * np.sin(k)


def _cyclic_optax() -> optax.Schedule:
  up = optax.linear_schedule(0.001, LR, 100)
  down = optax.linear_schedule(LR, 0.001, 100)
  return optax.join_schedules([up, down] * 5, boundaries=list(range(100, STEPS, 100)))


def _plateau_lrs(tx: optax.GradientTransformationExtraArgs, scale: float) -> np.ndarray:
  """``scale`` times what ``tx`` multiplies a unit update by, step by step (one scan)."""

  def step(state, m):
    updates, state = tx.update(jnp.ones(()), state, value=m)
    return state, scale * jnp.asarray(updates)

  _, lrs = jax.jit(lambda ms: jax.lax.scan(step, tx.init(jnp.zeros(())), ms))(
    jnp.asarray(_plateau_metrics())
  )
  return np.asarray(lrs)


@dataclasses.dataclass(frozen=True)
class Row:
  torch_call: str  # as shown
  twin_call: str
  optax_call: str  # "" where optax has none
  build: Callable[[torch.optim.Optimizer], Any]
  optax_schedule: Callable[[], Any] | None = None
  plateau: bool = False


def _lr_cls(name: str):
  return getattr(torch.optim.lr_scheduler, name)


ROWS = [
  Row(
    "LambdaLR(lr_lambda=lambda k: 1 / (1 + 0.01 * k))",
    "lambda_lr(0.1, lr_lambda=...)",
    "lambda count: 0.1 / (1 + 0.01 * count)",
    lambda o: _lr_cls("LambdaLR")(o, _harmonic),
    lambda: lambda count: LR * _harmonic(count),
  ),
  Row(
    "MultiplicativeLR(lr_lambda=lambda k: 0.995)",
    "multiplicative_lr(0.1, lr_lambda=...)",
    "exponential_decay(0.1, 1, 0.995)",
    lambda o: _lr_cls("MultiplicativeLR")(o, _factor),
    lambda: optax.exponential_decay(LR, 1, 0.995),
  ),
  Row(
    "StepLR(step_size=300, gamma=0.1)",
    "step_lr(0.1, step_size=300)",
    "exponential_decay(0.1, 300, 0.1, staircase=True)",
    lambda o: _lr_cls("StepLR")(o, step_size=300, gamma=0.1),
    lambda: optax.exponential_decay(LR, 300, 0.1, staircase=True),
  ),
  Row(
    "MultiStepLR(milestones=[300, 600, 900])",
    "multi_step_lr(0.1, [300, 600, 900])",
    "piecewise_constant_schedule(0.1, {300: 0.1, 600: 0.1, 900: 0.1})",
    lambda o: _lr_cls("MultiStepLR")(o, milestones=[300, 600, 900]),
    lambda: optax.piecewise_constant_schedule(LR, {300: 0.1, 600: 0.1, 900: 0.1}),
  ),
  Row(
    "ConstantLR(factor=0.5, total_iters=100)",
    "constant_lr(0.1, factor=0.5, total_iters=100)",
    "piecewise_constant_schedule(0.05, {100: 2.0})",
    lambda o: _lr_cls("ConstantLR")(o, factor=0.5, total_iters=100),
    lambda: optax.piecewise_constant_schedule(0.05, {100: 2.0}),
  ),
  Row(
    "LinearLR(start_factor=0.01, total_iters=100)",
    "linear_lr(0.1, start_factor=0.01, total_iters=100)",
    "linear_schedule(0.001, 0.1, 100)",
    lambda o: _lr_cls("LinearLR")(o, start_factor=0.01, total_iters=100),
    lambda: optax.linear_schedule(0.001, LR, 100),
  ),
  Row(
    "ExponentialLR(gamma=0.995)",
    "exponential_lr(0.1, gamma=0.995)",
    "exponential_decay(0.1, 1, 0.995)",
    lambda o: _lr_cls("ExponentialLR")(o, gamma=0.995),
    lambda: optax.exponential_decay(LR, 1, 0.995),
  ),
  Row(
    "SequentialLR([LinearLR(start_factor=0.01, total_iters=100), CosineAnnealingLR(T_max=900)], "
    "milestones=[100])",
    "sequential_lr([linear_lr(...), cosine_annealing_lr(...)], [100])",
    "warmup_cosine_decay_schedule(0.001, 0.1, 100, 1000)",
    lambda o: _lr_cls("SequentialLR")(
      o,
      [
        _lr_cls("LinearLR")(o, start_factor=0.01, total_iters=100),
        _lr_cls("CosineAnnealingLR")(o, T_max=900),
      ],
      milestones=[100],
    ),
    lambda: optax.warmup_cosine_decay_schedule(0.001, LR, 100, STEPS),
  ),
  Row(
    "CosineAnnealingLR(T_max=1000)",
    "cosine_annealing_lr(0.1, T_max=1000)",
    "cosine_decay_schedule(0.1, 1000)",
    lambda o: _lr_cls("CosineAnnealingLR")(o, T_max=1000),
    lambda: optax.cosine_decay_schedule(LR, STEPS),
  ),
  Row(
    "CosineAnnealingLR(T_max=250)",
    "cosine_annealing_lr(0.1, T_max=250)",
    "cosine_decay_schedule(0.1, 250)",
    lambda o: _lr_cls("CosineAnnealingLR")(o, T_max=250),
    lambda: optax.cosine_decay_schedule(LR, 250),
  ),
  Row(
    "ChainedScheduler([ConstantLR(factor=0.5, total_iters=100), ExponentialLR(gamma=0.995)])",
    "chained_scheduler([constant_lr(...), exponential_lr(...)])",
    "",
    lambda o: _lr_cls("ChainedScheduler")(
      [
        _lr_cls("ConstantLR")(o, factor=0.5, total_iters=100),
        _lr_cls("ExponentialLR")(o, gamma=0.995),
      ]
    ),
  ),
  Row(
    "ReduceLROnPlateau(factor=0.5, patience=10) ¹",
    "reduce_lr_on_plateau(0.1, factor=0.5, patience=10)",
    "contrib.reduce_on_plateau(factor=0.5, patience=10)",
    lambda o: _lr_cls("ReduceLROnPlateau")(o, factor=0.5, patience=10),
    plateau=True,
  ),
  Row(
    "CyclicLR(base_lr=0.001, max_lr=0.1, step_size_up=100) ²",
    "cyclic_lr(0.001, 0.1, step_size_up=100)",
    "join_schedules of linear_schedules",
    lambda o: _lr_cls("CyclicLR")(o, base_lr=0.001, max_lr=LR, step_size_up=100),
    _cyclic_optax,
  ),
  Row(
    "CosineAnnealingWarmRestarts(T_0=100, T_mult=2)",
    "cosine_annealing_warm_restarts(0.1, T_0=100, T_mult=2)",
    "sgdr_schedule (decay_steps 100, 200, 400, 800)",
    lambda o: _lr_cls("CosineAnnealingWarmRestarts")(o, T_0=100, T_mult=2),
    lambda: optax.sgdr_schedule(
      [
        {"init_value": LR, "peak_value": LR, "decay_steps": n, "warmup_steps": 0, "end_value": 0.0}
        for n in (100, 200, 400, 800)
      ]
    ),
  ),
  Row(
    "OneCycleLR(max_lr=0.1, total_steps=1000) ²",
    "one_cycle_lr(0.1, total_steps=1000)",
    "cosine_onecycle_schedule(1000, 0.1)",
    lambda o: _lr_cls("OneCycleLR")(o, max_lr=LR, total_steps=STEPS),
    lambda: optax.cosine_onecycle_schedule(STEPS, LR),
  ),
  Row(
    "PolynomialLR(total_iters=1000, power=2.0)",
    "polynomial_lr(0.1, total_iters=1000, power=2.0)",
    "polynomial_schedule(0.1, 0.0, 2.0, 1000)",
    lambda o: _lr_cls("PolynomialLR")(o, total_iters=STEPS, power=2.0),
    lambda: optax.polynomial_schedule(LR, 0.0, 2.0, STEPS),
  ),
  Row(
    "swa_utils.SWALR(swa_lr=0.01, anneal_epochs=100)",
    "swa_utils.swalr(0.1, swa_lr=0.01, anneal_epochs=100)",
    "cosine_decay_schedule(0.1, 100, alpha=0.1)",
    lambda o: torch.optim.swa_utils.SWALR(o, swa_lr=0.01, anneal_epochs=100),
    lambda: optax.cosine_decay_schedule(LR, 100, alpha=0.1),
  ),
]


def _torch_lrs(row: Row) -> tuple[np.ndarray, Any]:
  opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=LR, momentum=0.9)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    scheduler = row.build(opt)
  twin = _registry.twin_from_torch(scheduler)
  lrs = []
  metrics = _plateau_metrics()
  for k in range(STEPS):
    lrs.append(opt.param_groups[0]["lr"])
    opt.step()
    if row.plateau:
      scheduler.step(metrics[k])
    elif k < STEPS - 1:
      scheduler.step()
  return np.asarray(lrs, dtype=np.float64), twin


def measure() -> list[tuple[str, str, str, float, float | None]]:
  """Per row: the calls and max |Δlr| of the twin and of the optax schedule (None: none)."""
  out = []
  with jax.enable_x64(True):
    for row in ROWS:
      expected, twin = _torch_lrs(row)
      if row.plateau:
        optax_plateau = optax.contrib.reduce_on_plateau(factor=0.5, patience=10)
        twin_lrs, optax_lrs = _plateau_lrs(twin, 1.0), _plateau_lrs(optax_plateau, LR)
      else:
        counts = jnp.arange(STEPS)
        twin_lrs = np.asarray(jax.vmap(twin)(counts))
        optax_lrs = (
          None if row.optax_schedule is None else np.asarray(jax.vmap(row.optax_schedule())(counts))
        )
      twin_delta = float(np.max(np.abs(twin_lrs - expected)))
      optax_delta = None if optax_lrs is None else float(np.max(np.abs(optax_lrs - expected)))
      out.append((row.torch_call, row.twin_call, row.optax_call, twin_delta, optax_delta))
  return out


def _number(x: float | None) -> str:
  if x is None:
    return "—"
  return "0" if x == 0 else f"{x:.1e}"


def render() -> str:
  lines = [
    "| torch (lr = 0.1) | twin (`lr_scheduler.`) | nearest optax schedule (`optax.`) "
    "| max \\|Δlr\\| twin | max \\|Δlr\\| optax |",
    "|---|---|---|---|---|",
  ]
  for torch_call, twin_call, optax_call, twin_delta, optax_delta in measure():
    optax_cell = f"`{optax_call}`" if optax_call else "none"
    lines.append(
      f"| `{torch_call}` | `{twin_call}` | {optax_cell} | {_number(twin_delta)} "
      f"| {_number(optax_delta)} |"
    )
  return "\n".join(lines)


def in_docs() -> str:
  text = DOCS.read_text()
  return text[text.index(BEGIN) + len(BEGIN) : text.index(END)].strip()


def main(argv: list[str] | None = None) -> int:
  parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
  parser.add_argument("--write", action="store_true", help="update docs/torch_optim.md")
  args = parser.parse_args(argv)
  table = render()
  if args.write:
    text = DOCS.read_text()
    head, tail = text[: text.index(BEGIN) + len(BEGIN)], text[text.index(END) :]
    DOCS.write_text(f"{head}\n{table}\n{tail}")
  else:
    sys.stdout.write(table + "\n")
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
