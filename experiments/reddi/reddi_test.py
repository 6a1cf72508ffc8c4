"""Tests of :mod:`experiments.reddi`: the online problem's simulation and its command line."""

import json
import math
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments.reddi import __main__ as cli
from experiments.reddi import problems

REPO = pathlib.Path(__file__).resolve().parents[2]
LR = 1e-2


def _gradients(steps: int, indexing: str = "zero") -> np.ndarray:
  return np.asarray(
    problems.online_gradient(jnp.arange(steps, dtype=jnp.int32), indexing), np.float64
  )


def test_online_gradient_indexings():
  steps = jnp.array([0, 1, 2, 100, 101, 102, 203], jnp.int32)
  zero = problems.online_gradient(steps, "zero")
  paper = problems.online_gradient(steps, "paper")
  assert zero.dtype == paper.dtype == jnp.float32
  assert zero.tolist() == [-10, 1010, -10, -10, -10, 1010, 1010]
  assert paper.tolist() == [1010, -10, -10, -10, 1010, -10, -10]
  with pytest.raises(ValueError, match="indexing"):
    problems.online_gradient(steps, "one")


def test_run_shapes_and_fields():
  run = problems.run_online(optax.adam(LR), steps=2020, record_every=101)
  assert run.t.tolist() == list(range(101, 2021, 101))
  assert run.x.shape == run.regret.shape == run.avg_regret.shape == (20,)
  assert run.x.dtype == run.regret.dtype == np.float64
  assert np.all(np.abs(run.x) <= 1.0)
  assert run.x_final == run.x[-1]
  assert run.avg_regret_final == run.regret[-1] / 2020
  assert int(run.state.step) == 2020
  assert run.compile_seconds >= 0 and run.run_seconds >= 0


@pytest.mark.parametrize(
  ("indexing", "x_1", "regret_1"), [("zero", 0.1, -10.0), ("paper", -1.0, 1010.0)]
)
def test_first_step_and_clipping(indexing, x_1, regret_1):
  # SGD from 0: x_1 = -lr * g_1, clipped; R_1 = g_1 * (x_0 + 1) = g_1.
  run = problems.run_online(optax.sgd(LR), steps=1, record_every=1, indexing=indexing)
  assert run.x.tolist() == [pytest.approx(x_1)]
  assert run.regret.tolist() == [regret_1]


def test_adam_fails_and_amsgrad_converges_at_1e5_steps():
  # Reference numbers: float32 JAX scan, 0-indexed, lr 1e-2, betas (0.9, 0.99).
  runs = problems.run_many(
    {name: problems.OPTIMIZERS[name](LR, 0.9, 0.99) for name in problems.OPTIMIZERS},
    steps=100_000,
    record_every=1000,
  )
  assert runs["adam"].x_final > 0
  assert runs["amsgrad"].x_final < 0
  assert runs["adam"].x_final == pytest.approx(0.9572, abs=1e-4)
  assert runs["adam"].avg_regret_final == pytest.approx(0.513, abs=1e-3)
  assert runs["amsgrad"].x_final == pytest.approx(-0.7995, abs=1e-4)
  assert runs["amsgrad"].avg_regret_final == pytest.approx(0.395, abs=1e-3)
  assert runs["amsgrad_optax"].x_final == pytest.approx(-0.1533, abs=1e-4)
  for name, run in runs.items():
    assert np.all(np.isfinite(run.x)) and np.all(np.abs(run.x) <= 1), name
    assert np.all(np.isfinite(run.regret)), name


@pytest.mark.parametrize("name", ["adam", "amsgrad"])
def test_regret_is_the_exact_sum_of_the_trajectory(name):
  """The compensated float32 sum against a float64 sum of the recorded trajectory.

  ``record_every=1`` records every iterate, from which numpy recomputes every
  term ``g_s (x_s + 1)`` exactly in float64 and sums them with ``math.fsum``.
  Longer record intervals must follow the same trajectory (bitwise) and give
  the same regret to 1e-6 relative, however long the interval. (A float64 run
  cannot serve as the reference: its trajectory differs from float32's by up to
  1e-4 in x, which moves the regret by about 3e-6 relative at 1e6 steps.)
  """
  steps = 1_000_000
  tx = problems.OPTIMIZERS[name](LR, 0.9, 0.99)
  every_step = problems.run_online(tx, steps, record_every=1)
  x_before = np.concatenate([[0.0], every_step.x[:-1]])
  terms = _gradients(steps) * (x_before + 1.0)
  exact = np.cumsum(terms)
  exact[-1] = math.fsum(terms)
  scale = abs(exact[-1])
  np.testing.assert_allclose(every_step.regret, exact, rtol=0, atol=1e-6 * scale)
  for record_every in (1000, steps):
    run = problems.run_online(tx, steps, record_every)
    np.testing.assert_array_equal(run.x, every_step.x[run.t - 1])
    np.testing.assert_allclose(run.regret, exact[run.t - 1], rtol=0, atol=1e-6 * scale)
    assert abs(run.regret[-1] / exact[-1] - 1) < 1e-6


def test_float64_run_is_close_to_float32():
  tx = problems.OPTIMIZERS["amsgrad"](LR, 0.9, 0.99)
  run32 = problems.run_online(tx, 100_000, 1000)
  with pytest.raises(ValueError, match="x64"):
    problems.run_online(tx, 100_000, 1000, dtype=jnp.float64)
  with jax.enable_x64(True):
    run64 = problems.run_online(tx, 100_000, 1000, dtype=jnp.float64)
    assert run64.state.x.dtype == jnp.float64
  np.testing.assert_allclose(run64.x, run32.x, rtol=0, atol=5e-4)
  assert run64.avg_regret_final == pytest.approx(run32.avg_regret_final, abs=1e-5)


def test_chunks_and_progress_do_not_change_the_run():
  tx = optax.adam(LR)
  whole = problems.run_online(tx, 2020, 101)
  for chunk_steps in (505, 707, 10**9):  # 4 chunks; 2 chunks and a remainder; 1 chunk.
    done = []
    chunked = problems.run_online(tx, 2020, 101, chunk_steps=chunk_steps, progress=done.append)
    assert sum(done) == 2020
    np.testing.assert_array_equal(chunked.x, whole.x)
    np.testing.assert_array_equal(chunked.regret, whole.regret)


def test_run_many_runs_each_in_order():
  txs = {"b": optax.sgd(LR), "a": optax.adam(LR)}
  runs = problems.run_many(txs, 2020, 101)
  assert list(runs) == ["b", "a"]
  for name, tx in txs.items():
    np.testing.assert_array_equal(runs[name].x, problems.run_online(tx, 2020, 101).x)


def test_optimizers_registry():
  assert set(problems.OPTIMIZERS) == {
    "adam",
    "amsgrad",
    "amsgrad_paper",
    "amsgrad_optax",
    "yogi",
    "yogi_tfa",
    "yogi_d2l",
    "yogi_paper",
  }
  for name, optimizer in problems.OPTIMIZERS.items():
    assert optimizer.default_eps == (1e-3 if name.startswith("yogi") else 1e-8)
  yogi = problems.OPTIMIZERS["yogi"]
  by_default = problems.run_online(yogi(LR, 0.9, 0.99), 2020, 101).x
  np.testing.assert_array_equal(
    problems.run_online(yogi(LR, 0.9, 0.99, 1e-3), 2020, 101).x, by_default
  )
  assert not np.array_equal(problems.run_online(yogi(LR, 0.9, 0.99, 1e-8), 2020, 101).x, by_default)


@pytest.mark.parametrize(
  ("kwargs", "match"),
  [
    ({"steps": 0, "record_every": 1}, "steps"),
    ({"steps": 2**31, "record_every": 1}, "steps"),
    ({"steps": 100, "record_every": 0}, "record_every"),
    ({"steps": 100, "record_every": 7}, "record_every"),
    ({"steps": 100, "record_every": 10, "indexing": "one"}, "indexing"),
    ({"steps": 100, "record_every": 10, "dtype": jnp.int32}, "dtype"),
  ],
)
def test_run_online_rejects_bad_arguments(kwargs, match):
  with pytest.raises(ValueError, match=match):
    problems.run_online(optax.sgd(LR), **kwargs)


# Command line.


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
  env = dict(os.environ)
  env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
  return subprocess.run(
    [sys.executable, "-m", "experiments.reddi", *args],
    cwd=REPO,
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
    check=False,
  )


def test_cli_runs_and_writes_results(tmp_path):
  out = tmp_path / "out"
  result = _cli("--steps", "2020", "--record-every", "101", "--out", str(out))
  assert result.returncode == 0, result.stderr
  table = result.stdout.splitlines()
  assert table[1].split() == ["optimizer", "variant", "x_T", "R_T/T", "seconds", "compile_s"]
  assert [line.split()[:2] for line in table[2:4]] == [["adam", "optax"], ["amsgrad", "torch"]]
  results = json.loads((out / "results.json").read_text())
  assert {"problem", "steps", "indexing", "lr", "runs"} <= set(results)
  assert (results["problem"], results["steps"], results["indexing"], results["lr"]) == (
    "online",
    2020,
    "zero",
    0.01,
  )
  expected = problems.run_online(problems.OPTIMIZERS["amsgrad"](0.01, 0.9, 0.99), 2020, 101)
  amsgrad = results["runs"][1]
  assert {"optimizer", "variant", "x_final", "avg_regret_final", "seconds"} <= set(amsgrad)
  assert amsgrad["x_final"] == expected.x_final
  assert amsgrad["avg_regret_final"] == expected.avg_regret_final


def test_cli_help_documents_every_flag():
  result = _cli("--help")
  assert result.returncode == 0
  for flag in (
    "--problem",
    "--steps",
    "--optimizers",
    "--lr",
    "--b1",
    "--b2",
    "--eps",
    "--indexing",
    "--record-every",
    "--dtype",
    "--out",
    "--no-progress",
  ):
    assert flag in result.stdout
  help_text = " ".join(result.stdout.split())
  assert "(default: 1000000)" in help_text
  assert f"(default:{','.join(problems.OPTIMIZERS)})" in "".join(help_text.split())


@pytest.mark.parametrize(
  "args",
  [["--problem", "stochastic"], ["--optimizers", "adam,nadam"], ["--steps", "0"]],
)
def test_cli_bad_arguments_in_a_subprocess(args):
  result = _cli(*args)
  assert result.returncode == 2
  assert "Traceback" not in result.stderr
  assert len(result.stderr.splitlines()) == 1, result.stderr
  assert result.stderr.startswith(f"{cli.PROG}: error: ")
  assert result.stdout == ""


@pytest.mark.parametrize(
  ("args", "match"),
  [
    (["--problem", "stochastic"], "not implemented yet"),
    (["--problem", "convex"], "--problem"),
    (["--optimizers", "adam,nadam"], "unknown optimizer 'nadam'"),
    (["--optimizers", "adam,adam"], "twice"),
    (["--optimizers", ""], "unknown optimizer ''"),
    (["--steps", "0"], "--steps"),
    (["--steps", "-5"], "--steps"),
    (["--steps", "1e6"], "--steps"),
    (["--record-every", "0"], "--record-every"),
    (["--record-every", "-1000"], "--record-every"),
    (["--steps", "2020", "--record-every", "100"], "--record-every"),
    (["--lr", "-0.01"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--b1", "1"], "--b1"),
    (["--b2", "-0.5"], "--b2"),
    (["--b2", "1.5"], "--b2"),
    (["--eps", "-1"], "--eps"),
    (["--indexing", "one"], "--indexing"),
    (["--unknown"], "unrecognized"),
  ],
)
def test_cli_bad_arguments(capsys, args, match):
  with pytest.raises(SystemExit) as exit_info:
    cli.main(args)
  assert exit_info.value.code == 2
  captured = capsys.readouterr()
  assert captured.out == ""
  assert len(captured.err.splitlines()) == 1, captured.err
  assert captured.err.startswith(f"{cli.PROG}: error: ")
  assert match in captured.err


def test_cli_out_must_be_a_directory(capsys, tmp_path):
  not_a_directory = tmp_path / "file"
  not_a_directory.write_text("")
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["--out", str(not_a_directory)])
  assert exit_info.value.code == 2
  assert "not a directory" in capsys.readouterr().err
