"""The seeds' own experiments on Reddi et al.'s problems: ``python -m experiments.reddi --preset``.

A :class:`Preset` is what a published reproduction ran, as the settings of a
:class:`~experiments.reddi.config.RunConfig`, and what it says its optimizers do
(its :class:`Claim`\\ s: Adam goes to x = +1, AMSGrad to the optimum -1):

- ``labml``: labml_nn 0.5.1, ``labml_nn/optimizers/amsgrad.py``, ``_synthetic_experiment``:
  its ``Adam`` and ``AMSGrad`` (both ``optimized_update=True``, eps 1e-16, the epsilon-hat
  form: ``adam_keras`` and ``amsgrad_keras`` here), lr 1e-2, betas (0.9, 0.99), the
  online loss ``1010 x if step % 101 == 1 else -10 x`` on the 0-based loop index
  (``indexing="zero"``), ``x.data.clamp_(-1, 1)`` after each step, from x = 0, for
  10,000,000 steps, the average regret tracked every 1,000 steps.
- ``torchbearer``: torchbearer's "Breaking ADAM" example (``docs/examples/amsgrad``):
  ``torch.optim.Adam(lr=1e-3, betas=(0.9, 0.99))`` without and with ``amsgrad=True``
  (``torch_optim.adam`` and ``amsgrad`` here, torch's eps 1e-8), the online loss on the
  0-based batch index ``state[tb.BATCH] % 101 == 1`` for 6,000,000 steps (its Figure 1), or
  the stochastic loss (1010 x with probability 0.01; one run, ``--seeds 1`` unless given),
  x clipped to [-1, 1] by a callback after each step.

:func:`fill` makes the configuration's arguments of a preset and the flags given with
it; :func:`seed_trajectories` runs the seed's own torch code for the first steps, to
compare with the compiled run step by step (:func:`compare`).

Example:
  >>> settings = fill("labml", {})
  >>> settings["steps"], settings["optimizers"], settings["eps"]
  (10000000, ('adam_keras', 'amsgrad_keras'), 1e-16)
  >>> fill("labml", {"lr": 0.1})
  Traceback (most recent call last):
  ...
  experiments.arguments.ArgumentError: lr conflicts with --preset labml, which sets it to 0.01.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from typing import Any

import numpy as np

from experiments import arguments


@dataclasses.dataclass(frozen=True)
class Claim:
  """What a seed says one of its optimizers does.

  Attributes:
    optimizer: The name of the optimizer here (:mod:`experiments.reddi.optimizers`).
    seed_name: What the seed calls it.
    x_limit: Where the seed says its iterate goes: +1 (Adam) or -1 (AMSGrad).
  """

  optimizer: str
  seed_name: str
  x_limit: float

  def agrees(self, x_final: float) -> bool:
    """Whether ``x_final`` is on the claimed side of 0 (nearer the claimed end than the other)."""
    return x_final * self.x_limit > 0


@dataclasses.dataclass(frozen=True)
class Preset:
  """A seed's experiment: the settings it fixes and the problems it defines.

  Attributes:
    name: The ``--preset`` value.
    source: Where the experiment is, for the printed table.
    settings: The :class:`~experiments.reddi.config.RunConfig` fields it fixes.
    problems: The problems it defines, the first the default.
    claims: What it says each optimizer does.
    defaults: Fields it sets unless a flag gives them.
  """

  name: str
  source: str
  settings: Mapping[str, Any]
  problems: tuple[str, ...]
  claims: tuple[Claim, ...]
  defaults: Mapping[str, Any] = dataclasses.field(default_factory=dict)


_COMMON = {"lr_schedule": "constant", "b1": 0.9, "b2": 0.99, "indexing": "zero"}
_COMMON |= {"record_every": 1000, "dtype": "float32"}

PRESETS: Mapping[str, Preset] = {
  "labml": Preset(
    name="labml",
    source="labml_nn 0.5.1, labml_nn/optimizers/amsgrad.py: _synthetic_experiment",
    settings={
      **_COMMON,
      "steps": 10_000_000,
      "optimizers": ("adam_keras", "amsgrad_keras"),
      "lr": 1e-2,
      "eps": 1e-16,
    },
    problems=("online",),
    claims=(
      Claim("adam_keras", "labml_nn Adam", +1.0),
      Claim("amsgrad_keras", "labml_nn AMSGrad", -1.0),
    ),
  ),
  "torchbearer": Preset(
    name="torchbearer",
    source="torchbearer 0.5.5, docs/examples/amsgrad (Breaking ADAM)",
    settings={
      **_COMMON,
      "steps": 6_000_000,
      "optimizers": ("torch_optim.adam", "amsgrad"),
      "lr": 1e-3,
      "eps": 1e-8,
    },
    problems=("online", "stochastic"),
    claims=(
      Claim("torch_optim.adam", "torch.optim.Adam", +1.0),
      Claim("amsgrad", "torch.optim.Adam(amsgrad=True)", -1.0),
    ),
    defaults={"seeds": 1},  # The example trains once.
  ),
}
"""The presets, by ``--preset`` name."""
NAMES = tuple(PRESETS)


def fill(name: str, given: Mapping[str, Any]) -> dict[str, Any]:
  """The configuration fields of preset ``name`` with the flags ``given`` (by field name).

  A given flag the preset fixes must have the preset's value; ``problem`` must be one of
  the preset's problems (default its first); the other given flags pass through, over the
  preset's defaults.

  Raises:
    ArgumentError: for an unknown preset, a flag that conflicts with it, or a problem it
      does not define.
  """
  arguments.one_of("preset", name, NAMES)
  preset = PRESETS[name]
  for field, value in given.items():
    if field in preset.settings and value != preset.settings[field]:
      raise arguments.ArgumentError(
        field,
        f"conflicts with --preset {name}, which sets it to {_text(preset.settings[field])}",
      )
  problem = given.get("problem", preset.problems[0])
  if problem not in preset.problems:
    raise arguments.ArgumentError(
      "problem", f"--preset {name} defines only {', '.join(preset.problems)}, got {problem!r}"
    )
  return {**preset.defaults, **given, **preset.settings, "problem": problem}


def _text(value: Any) -> str:
  return ",".join(value) if isinstance(value, tuple) else str(value)


def claims_table(preset: Preset, x_finals: Mapping[str, float]) -> list[dict[str, Any]]:
  """Per claim of ``preset``: the seed's name, its claimed limit, the measured x_T, agreement."""
  return [
    {
      "optimizer": claim.optimizer,
      "seed_name": claim.seed_name,
      "seed_says_x_to": claim.x_limit,
      "x_final": x_finals[claim.optimizer],
      "agrees": claim.agrees(x_finals[claim.optimizer]),
    }
    for claim in preset.claims
  ]


def format_claims(preset: Preset, rows: list[dict[str, Any]]) -> str:
  """The printed table of :func:`claims_table`."""
  width = max(len(row["seed_name"]) for row in rows)
  lines = [
    f"vs the seed: {preset.source}",
    f"{'seed optimizer':<{width}} {'seed says x ->':>14} {'x_T':>9}  agrees",
  ]
  for row in rows:
    lines.append(
      f"{row['seed_name']:<{width}} {row['seed_says_x_to']:>+14.0f} {row['x_final']:>+9.5f}"
      f"  {'yes' if row['agrees'] else 'NO'}"
    )
  return "\n".join(lines)


def _online_loss(x, step: int):
  """The seeds' online loss at the 0-based ``step``."""
  return (1010 * x).sum() if step % 101 == 1 else (-10 * x).sum()


def _labml_trajectory(optimizer: str, steps: int, dtype: str) -> np.ndarray:
  """labml_nn's ``_synthetic_experiment`` loop, without its tracker: x after each step."""
  from labml_nn.optimizers.adam import Adam
  from labml_nn.optimizers.amsgrad import AMSGrad
  import torch

  x = torch.nn.Parameter(torch.tensor([0.0], dtype=getattr(torch, dtype)))
  x_star = torch.nn.Parameter(torch.tensor([-1]), requires_grad=False)
  kind = Adam if optimizer == "adam_keras" else AMSGrad
  seed_optimizer = kind([x], lr=1e-2, betas=(0.9, 0.99))
  out = np.empty(steps)
  for step in range(steps):
    regret = _online_loss(x, step) - _online_loss(x_star, step)
    regret.backward()
    seed_optimizer.step()
    seed_optimizer.zero_grad()
    x.data.clamp_(-1.0, +1.0)
    out[step] = x.item()
  return out


def _torchbearer_trajectory(optimizer: str, steps: int, dtype: str) -> np.ndarray:
  """torchbearer's example run by torchbearer's own ``Trial``: x after each step.

  As the example has it: the model's forward (given the Trial's state) is the online loss
  of the batch index, the criterion returns it, and a step callback clamps x to [-1, 1];
  a second step callback records x.
  """
  import torch
  import torchbearer as tb

  class Online(torch.nn.Module):
    def __init__(self):
      super().__init__()
      self.x = torch.nn.Parameter(torch.zeros(1, dtype=getattr(torch, dtype)))

    def forward(self, _, state):
      return _online_loss(self.x, state[tb.BATCH])

  out: list[float] = []

  @tb.callbacks.on_step_training
  def greedy_update(state):
    x = state[tb.MODEL].x
    if x > 1:
      x.data.fill_(1)
    elif x < -1:
      x.data.fill_(-1)

  @tb.callbacks.on_step_training
  def record(state):
    out.append(state[tb.MODEL].x.item())

  model = Online()
  seed_optimizer = torch.optim.Adam(
    model.parameters(), lr=1e-3, betas=(0.9, 0.99), amsgrad=optimizer == "amsgrad"
  )
  trial = tb.Trial(
    model, seed_optimizer, lambda y_pred, _: y_pred, callbacks=[greedy_update, record], verbose=0
  )
  trial.for_train_steps(steps).run()
  return np.asarray(out)


def seed_trajectories(name: str, steps: int, dtype: str = "float32") -> dict[str, np.ndarray]:
  """The seed's own torch code on the online problem: x after each of ``steps`` steps.

  labml_nn's ``Adam``/``AMSGrad`` classes (imported from the installed labml_nn), or
  torchbearer's ``Trial`` running ``torch.optim.Adam`` as its example does; ``dtype`` is x's
  torch dtype.

  Returns:
    Per claimed optimizer (by its name here), the float64 array of x_1, ..., x_steps.
  """
  preset = PRESETS[name]
  run = _labml_trajectory if name == "labml" else _torchbearer_trajectory
  return {claim.optimizer: run(claim.optimizer, steps, dtype) for claim in preset.claims}


def compare(
  ours: Mapping[str, np.ndarray], seed: Mapping[str, np.ndarray], dtype: str = "float32"
) -> dict[str, Any]:
  """Per optimizer, how far our x trajectory is from the seed's, step by step.

  The losses do not depend on x, so the two runs see the same gradients and their x
  differ by the sum of each step's rounding differences: the largest
  ``|x_ours - x_seed|`` grows with the steps between clips. Each step's own difference
  does not: ``max_step_ulps`` is the largest difference of the increments
  ``x_t - x_{t-1}``, over the steps where neither run is clipped, in units of
  ``eps(dtype) * max(|x_{t-1}|, |x_t|, |x_t - x_{t-1}|)``.

  Returns:
    ``{name: {"steps", "max_abs_diff", "at_step", "identical_steps", "max_step_ulps"}}``:
    the largest ``|x_ours - x_seed|`` over the steps, the 1-based step where it is, how
    many steps agree to the bit, and the largest step difference.
  """
  report = {}
  eps = float(np.finfo(dtype).eps)
  for name, theirs in seed.items():
    a = np.concatenate([[0.0], np.asarray(ours[name], np.float64)])
    b = np.concatenate([[0.0], theirs])
    diff = np.abs(a[1:] - b[1:])
    increments = np.diff(b)
    scale = np.maximum.reduce([np.abs(b[1:]), np.abs(b[:-1]), np.abs(increments)])
    inside = (np.abs(a[1:]) < 1) & (np.abs(b[1:]) < 1) & (scale > 0)
    step_diff = np.abs(np.diff(a) - increments)[inside] / scale[inside]
    report[name] = {
      "steps": int(diff.size),
      "max_abs_diff": float(diff.max()),
      "at_step": int(diff.argmax()) + 1,
      "identical_steps": int((diff == 0).sum()),
      "max_step_ulps": float(step_diff.max(initial=0.0) / eps),
    }
  return report


def format_comparison(report: Mapping[str, Mapping[str, Any]]) -> str:
  """The printed lines of :func:`compare`."""
  return "\n".join(
    f"{name}: first {entry['steps']:,} steps vs the seed's code: max |dx| = "
    f"{entry['max_abs_diff']:.3g} (step {entry['at_step']:,}),"
    f" {entry['identical_steps']:,} steps bit-identical, each step within"
    f" {entry['max_step_ulps']:.2g} ulps"
    for name, entry in report.items()
  )
