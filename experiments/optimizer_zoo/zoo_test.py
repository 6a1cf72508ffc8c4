"""Smoke tests of the optimizer zoo at tiny sizes, and its command line's argument errors."""

import json

import jax
import numpy as np
import pytest
import torch

from experiments import testing
from experiments.optimizer_zoo import __main__ as cli
from experiments.optimizer_zoo import digits
from experiments.optimizer_zoo import regression

PNG = b"\x89PNG\r\n\x1a\n"


def test_flax_model_reproduces_the_torch_model():
  data = digits.load_data()
  weights = digits.initial_weights(0)
  params = digits.flax_params(weights, np.float32)
  out = digits.MLP().apply({"params": params}, data.x_heldout.astype(np.float32))
  with torch.no_grad():
    expected = digits.torch_mlp(weights, "float32")(torch.from_numpy(data.x_heldout).float())
  np.testing.assert_allclose(np.asarray(out), expected.numpy(), rtol=1e-5, atol=1e-6)


def test_initial_weights_leave_torch_random_state_alone():
  state = torch.get_rng_state()
  digits.initial_weights(3)
  assert torch.equal(torch.get_rng_state(), state)


def test_batches_are_permutations_per_epoch():
  indices = digits.batch_indices(3, seed=5)
  for epoch in indices.reshape(3, -1):
    assert sorted(epoch.tolist()) == list(range(digits.TRAIN))
  assert not np.array_equal(indices, digits.batch_indices(3, seed=6))


def test_float64_runs_agree_to_rounding():
  data = digits.load_data()
  weights = digits.initial_weights(0)
  indices = digits.batch_indices(1, seed=0)
  with jax.enable_x64(True):
    jax_run = digits.run_jax(digits.OPTIMIZERS["nadam"], data, weights, indices, "float64")
    torch_run = digits.run_torch(digits.OPTIMIZERS["nadam"], data, weights, indices, "float64")
    yogi = regression.METHODS["yogi"]
    jax_curve = regression.run_jax(yogi, 1, 0, "float64")
    torch_curve = regression.run_torch(yogi, 1, 0, "float64")
  assert jax_run.losses[-1] < jax_run.losses[0]  # It trains.
  np.testing.assert_allclose(jax_run.losses, torch_run.losses, rtol=0, atol=1e-12)
  assert jax_run.final_loss == pytest.approx(torch_run.final_loss, rel=1e-12)
  assert jax_curve.shape == (1 + 442 // regression.BATCH,)
  assert jax_curve[-1] < jax_curve[0]
  np.testing.assert_allclose(jax_curve, torch_curve, rtol=0, atol=1e-12)


def test_cli_tiny_run_writes_results_and_figures(capsys, tmp_path):
  out = tmp_path / "zoo"
  args = ["--epochs", "2", "--optimizers", "yogi", "--regression-epochs", "1"]
  status = cli.main([*args, "--out", str(out), "--no-progress"])
  stdout = capsys.readouterr().out
  assert status == 0
  assert stdout.splitlines()[-1].startswith("wrote ")
  assert "Yogi" in stdout and "Adam" in stdout
  results = json.loads((out / "results.json").read_text())
  assert (results["epochs"], results["dtype"]) == (2, "float32")
  runs = results["digits"]["runs"]
  assert list(runs) == ["yogi"]
  for run in runs.values():
    assert len(run["epoch_loss_jax"]) == len(run["epoch_loss_torch"]) == 2
    assert run["max_abs_delta_loss"] < 1e-4  # float32 rounding after 12 steps.
    assert 0 <= run["heldout_accuracy_jax"] <= 1
    assert run["final_train_loss_jax"] == pytest.approx(run["final_train_loss_torch"], rel=1e-4)
  assert runs["yogi"]["torch"].startswith("torch_optimizer.Yogi(lr=0.01")
  assert set(results["regression"]["runs"]) == {"adam", "yogi"}
  for name in cli.FILES[1:]:
    figure = (out / name).read_bytes()
    assert figure.startswith(PNG)
    assert len(figure) > 20_000  # Curves, labels and legends; a blank figure is a few kB.


@pytest.mark.parametrize(
  ("args", "match"),
  [
    (["--epochs", "0"], "argument --epochs: must be in [1, 10000], got 0"),
    (["--regression-epochs", "-1"], "argument --regression-epochs: must be in"),
    (["--seed", "-3"], "argument --seed: must be in"),
    (["--optimizers", "sgd,lbfgs"], "unknown optimizer 'lbfgs'"),
    (["--optimizers", "adam,adam"], "names an optimizer twice"),
    (["--dtype", "float16"], "invalid choice: 'float16'"),
    (["--epochs", "many"], "invalid int value: 'many'"),
  ],
)
def test_cli_bad_arguments_exit_2(capsys, args, match):
  testing.assert_main_rejects(cli.main, args, capsys, cli.PROG, match)


def test_cli_bad_argument_in_a_subprocess(tmp_path):
  file = tmp_path / "a_file"
  file.write_text("")
  result = testing.run_python("-m", "experiments.optimizer_zoo", "--out", str(file))
  assert result.returncode == 2
  testing.assert_usage_error(result.stdout, result.stderr, cli.PROG)
  assert result.stderr.splitlines() == [
    f"{cli.PROG}: error: argument --out: {str(file)!r} exists and is not a directory"
  ]
