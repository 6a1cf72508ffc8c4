"""Tests of ``python -m experiments.reddi --preset``: the seeds' settings, the refusals, and our
trajectories side by side with the seeds' own code (labml_nn's classes, torchbearer's Trial).
"""

import functools
import json

import jax
import numpy as np
import pytest

from experiments.reddi import __main__ as cli
from experiments.reddi import config as configs
from experiments.reddi import optimizers
from experiments.reddi import presets
from experiments.reddi import problems
from experiments.reddi import train

SMOKE_STEPS = 2000

# In ulps of 1 (x is in [-1, 1]) for |x_ours - x_seed|, and of each step's scale for its
# increment (presets.compare). labml_nn rounds the moments as m * b1 + (1 - b1) * g, the
# keras variant as torch's lerp (see the warning of jaxopt_fix.amsgrad), and its step size
# lr * sqrt(1 - b2**t) / (1 - b1**t) in float64: each step agrees to 3.3 ulps in float32
# and 4.9 in float64 (measured over 100,000 steps), and over 2,000 steps x to 3.75 ulps.
# torch.optim.Adam against its twins: each step to 4.4 ulps, x to 0.03.
ULPS = 8


def _ours(name: str, steps: int, dtype: str) -> dict[str, np.ndarray]:
  """Our x after each of the first ``steps`` steps of the preset's optimizers."""
  settings = presets.fill(name, {})
  with jax.enable_x64(dtype == "float64"):
    txs = {
      optimizer: optimizers.get_optimizer(optimizer)(
        settings["lr"], settings["b1"], settings["b2"], settings["eps"]
      )
      for optimizer in settings["optimizers"]
    }
    runs = problems.run_online(txs, steps, 1, settings["indexing"], dtype)
  return {optimizer: run.x for optimizer, run in runs.items()}


@functools.cache
def _side_by_side(name: str, steps: int, dtype: str) -> dict[str, dict]:
  seed = presets.seed_trajectories(name, steps, dtype)
  return presets.compare(_ours(name, steps, dtype), seed, dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", presets.NAMES)
def test_trajectory_is_the_seeds(name, dtype):
  report = _side_by_side(name, SMOKE_STEPS, dtype)
  assert list(report) == [claim.optimizer for claim in presets.PRESETS[name].claims]
  for entry in report.values():
    assert entry["steps"] == SMOKE_STEPS
    assert entry["max_abs_diff"] <= ULPS * np.finfo(dtype).eps, entry
    assert entry["max_step_ulps"] <= ULPS, entry


def test_seed_trajectories_run_the_seeds_settings():
  """The seed's code is not our code: AMSGrad and Adam part, and the lr is the seed's."""
  seed = presets.seed_trajectories("labml", 200)
  adam, amsgrad = seed["adam_keras"], seed["amsgrad_keras"]
  assert adam[0] == pytest.approx(0.01, rel=1e-6)  # First step: lr * sign(-g), x_1 = +lr.
  assert not np.array_equal(adam, amsgrad)
  torch_seed = presets.seed_trajectories("torchbearer", 1)
  assert torch_seed["torch_optim.adam"][0] == pytest.approx(1e-3, rel=1e-6)


def test_fill_sets_the_seeds_settings():
  labml = presets.fill("labml", {})
  assert labml == {**presets.PRESETS["labml"].settings, "problem": "online"}
  assert (labml["lr"], labml["eps"], labml["steps"], labml["record_every"]) == (
    1e-2,
    1e-16,
    10_000_000,
    1000,
  )
  torchbearer = presets.fill("torchbearer", {"problem": "stochastic", "seed": 3, "lr": 1e-3})
  assert (torchbearer["problem"], torchbearer["seed"], torchbearer["seeds"]) == ("stochastic", 3, 1)
  assert torchbearer["steps"] == 6_000_000
  assert presets.fill("torchbearer", {"seeds": 4})["seeds"] == 4


@pytest.mark.parametrize(
  ("args", "message"),
  [
    (["--preset", "labml", "--steps", "2000"], "--steps: conflicts with --preset labml"),
    (["--preset", "labml", "--optimizers", "adam"], "which sets it to adam_keras,amsgrad_keras"),
    (["--preset", "torchbearer", "--lr", "0.01"], "--lr: conflicts with --preset torchbearer"),
    (["--preset", "labml", "--problem", "stochastic"], "defines only online"),
    (["--preset", "torchbearer", "--dtype", "float64"], "--dtype: conflicts"),
    (["--preset", "labml", "--seeds", "2"], "--seeds: has no effect on the online problem"),
    (["--preset", "nope"], "invalid choice: 'nope'"),
    (["--check-seed", "10"], "--check-seed: needs --preset"),
    (
      ["--preset", "torchbearer", "--problem", "stochastic", "--check-seed", "5"],
      "the online problem only",
    ),
    (["--preset", "labml", "--check-seed", "-1"], "--check-seed: must be in [0, 10000000]"),
  ],
)
def test_cli_refuses_flags_that_conflict(capsys, args, message):
  with pytest.raises(SystemExit) as exit_info:
    cli.main(args)
  assert exit_info.value.code == 2
  stderr = capsys.readouterr().err
  assert stderr.count("\n") == 1 and message in stderr, stderr


def test_cli_accepts_the_presets_own_values(capsys):
  config = cli._configure(
    cli._parser().parse_args(["--preset", "labml", "--lr", "0.01", "--eps", "1e-16"])
  )
  assert (config.preset, config.steps, config.optimizers) == (
    "labml",
    10_000_000,
    ("adam_keras", "amsgrad_keras"),
  )
  assert capsys.readouterr().err == ""


def test_preset_outputs_claims_and_comparison(capsys, tmp_path):
  """A short run of the labml preset: the claims table and the seed comparison, printed and
  in results.json, the comparison that of the side-by-side test."""
  settings = presets.fill("labml", {})
  config = configs.RunConfig(
    **{**settings, "steps": SMOKE_STEPS, "record_every": 1000},
    preset="labml",
    check_seed=SMOKE_STEPS,
    out=tmp_path,
    progress=False,
  )
  runs = train.train_and_evaluate(config)
  stdout = capsys.readouterr().out
  assert stdout.startswith("preset labml: online problem, T = 2,000 steps")
  assert "vs the seed: labml_nn 0.5.1" in stdout
  assert "adam_keras: first 2,000 steps vs the seed's code: max |dx| = " in stdout
  results = json.loads((tmp_path / "results.json").read_text())
  assert results["preset"] == "labml"
  claims = results["seed_claims"]
  assert [(row["seed_name"], row["seed_says_x_to"]) for row in claims] == [
    ("labml_nn Adam", 1.0),
    ("labml_nn AMSGrad", -1.0),
  ]
  for row in claims:
    assert row["x_final"] == runs[row["optimizer"]].x_final
    assert row["agrees"] == (row["x_final"] * row["seed_says_x_to"] > 0)
  assert results["seed_comparison"] == _side_by_side("labml", SMOKE_STEPS, "float32")


def test_default_run_has_no_preset():
  config = configs.RunConfig()
  assert config.preset is None and config.optimizers == tuple(optimizers.OPTIMIZERS)
  assert not set(optimizers.SEED_OPTIMIZERS) & set(config.optimizers)
  assert "preset" not in config.results([])


def test_claim_agrees_by_side():
  claim = presets.Claim("adam", "Adam", +1.0)
  assert claim.agrees(0.5) and not claim.agrees(-0.2) and not claim.agrees(0.0)


@pytest.mark.slow
@pytest.mark.parametrize("name", presets.NAMES)
def test_every_step_is_the_seeds_for_100k_steps(name):
  """Over 100,000 steps each step agrees to round-off; x differs by their sum (labml_nn's
  AMSGrad never clips: 6.2e-6 after 100,000 float32 steps), so only the steps are bounded."""
  for dtype in ("float32", "float64"):
    for entry in _side_by_side(name, 100_000, dtype).values():
      assert entry["max_step_ulps"] <= ULPS, entry


@pytest.mark.slow
@pytest.mark.parametrize(
  "args",
  [
    ["--preset", "labml"],
    ["--preset", "torchbearer"],
    ["--preset", "torchbearer", "--problem", "stochastic"],
  ],
)
def test_cli_preset_agrees_with_the_seed(capsys, tmp_path, args):
  assert cli.main([*args, "--no-progress", "--out", str(tmp_path)]) == 0
  results = json.loads((tmp_path / "results.json").read_text())
  assert all(row["agrees"] for row in results["seed_claims"]), results["seed_claims"]


def test_cli_help_documents_the_preset_flags(capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["--help"])
  assert exit_info.value.code == 0
  stdout = capsys.readouterr().out
  for text in ("--preset {labml,torchbearer}", "--check-seed N", "adam_keras, amsgrad_keras"):
    assert text in stdout
