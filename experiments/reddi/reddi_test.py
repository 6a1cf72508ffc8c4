"""Tests of :mod:`experiments.reddi`: the online problem's simulation and its command line."""

import dataclasses
import functools
import json
import math
import pathlib
import shutil
import signal
import subprocess
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments import testing
from experiments.reddi import __main__ as cli
from experiments.reddi import checkpoint
from experiments.reddi import problems

LR = 1e-2


def _run_online(tx: optax.GradientTransformation, *args, **kwargs) -> problems.OnlineRun:
  """:func:`problems.run_online` of one transformation."""
  return problems.run_online({"tx": tx}, *args, **kwargs)["tx"]


def _run_stochastic(tx: optax.GradientTransformation, *args, **kwargs) -> problems.OnlineRun:
  """:func:`problems.run_stochastic` of one transformation."""
  return problems.run_stochastic({"tx": tx}, *args, **kwargs)["tx"]


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
  run = _run_online(optax.adam(LR), steps=2020, record_every=101)
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
  run = _run_online(optax.sgd(LR), steps=1, record_every=1, indexing=indexing)
  assert run.x.tolist() == [pytest.approx(x_1)]
  assert run.regret.tolist() == [regret_1]


def test_adam_fails_and_amsgrad_converges_at_1e5_steps():
  # Reference numbers: float32 JAX scan, 0-indexed, lr 1e-2, betas (0.9, 0.99).
  runs = problems.run_online(
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
  every_step = _run_online(tx, steps, record_every=1)
  x_before = np.concatenate([[0.0], every_step.x[:-1]])
  terms = _gradients(steps) * (x_before + 1.0)
  exact = np.cumsum(terms)
  exact[-1] = math.fsum(terms)
  scale = abs(exact[-1])
  np.testing.assert_allclose(every_step.regret, exact, rtol=0, atol=1e-6 * scale)
  for record_every in (1000, steps):
    run = _run_online(tx, steps, record_every)
    np.testing.assert_array_equal(run.x, every_step.x[run.t - 1])
    np.testing.assert_allclose(run.regret, exact[run.t - 1], rtol=0, atol=1e-6 * scale)
    assert abs(run.regret[-1] / exact[-1] - 1) < 1e-6


def test_float64_run_is_close_to_float32():
  tx = problems.OPTIMIZERS["amsgrad"](LR, 0.9, 0.99)
  run32 = _run_online(tx, 100_000, 1000)
  with pytest.raises(ValueError, match="x64"):
    _run_online(tx, 100_000, 1000, dtype=jnp.float64)
  with jax.enable_x64(True):
    run64 = _run_online(tx, 100_000, 1000, dtype=jnp.float64)
    assert run64.state.x.dtype == jnp.float64
  np.testing.assert_allclose(run64.x, run32.x, rtol=0, atol=5e-4)
  assert run64.avg_regret_final == pytest.approx(run32.avg_regret_final, abs=1e-5)


def test_chunks_and_progress_do_not_change_the_run():
  tx = optax.adam(LR)
  whole = _run_online(tx, 2020, 101)
  for chunk_steps in (505, 707, 10**9):  # 4 chunks; 2 chunks and a remainder; 1 chunk.
    done = []
    chunked = _run_online(tx, 2020, 101, chunk_steps=chunk_steps, progress=done.append)
    assert sum(done) == 2020
    np.testing.assert_array_equal(chunked.x, whole.x)
    np.testing.assert_array_equal(chunked.regret, whole.regret)


@pytest.mark.parametrize("problem", ["online", "stochastic"])
def test_optimizers_run_together_as_each_alone(problem):
  """One compiled program for all the optimizers: each trajectory is bit for bit its own."""
  txs = {
    "sgd": optax.sgd(LR),
    "adam": problems.OPTIMIZERS["adam"](LR),
    "yogi": problems.OPTIMIZERS["yogi"](LR),
    "twin": problems.get_optimizer("torch_optim.rmsprop")(LR),
  }
  if problem == "online":
    run = functools.partial(problems.run_online, steps=2020, record_every=101, chunk_steps=1010)
  else:
    run = functools.partial(
      problems.run_stochastic, steps=2020, record_every=101, seed=3, seeds=2, chunk_steps=1010
    )
  runs = run(txs)
  assert list(runs) == list(txs)
  for name, tx in txs.items():
    alone = run({name: tx})[name]
    _assert_same_run(runs[name], alone)
    assert runs[name].run_seconds == runs["sgd"].run_seconds
  with pytest.raises(ValueError, match="at least one"):
    run({})


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
  by_default = _run_online(yogi(LR, 0.9, 0.99), 2020, 101).x
  np.testing.assert_array_equal(_run_online(yogi(LR, 0.9, 0.99, 1e-3), 2020, 101).x, by_default)
  assert not np.array_equal(_run_online(yogi(LR, 0.9, 0.99, 1e-8), 2020, 101).x, by_default)


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
    _run_online(optax.sgd(LR), **kwargs)


# Command line.


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
  return testing.run_python("-m", "experiments.reddi", *args)


def test_cli_runs_and_writes_results(tmp_path):
  out = tmp_path / "out"
  result = _cli("--steps", "2020", "--record-every", "101", "--out", str(out))
  assert result.returncode == 0, result.stderr
  table = result.stdout.splitlines()
  assert table[1].split() == ["optimizer", "variant", "x_T", "R_T/T"]
  assert [line.split()[:2] for line in table[2:4]] == [["adam", "optax"], ["amsgrad", "torch"]]
  assert table[-2].startswith(f"{len(problems.OPTIMIZERS)} optimizers in one compiled program: ")
  results = json.loads((out / "results.json").read_text())
  assert {"problem", "steps", "indexing", "lr", "runs"} <= set(results)
  assert (results["problem"], results["steps"], results["indexing"], results["lr"]) == (
    "online",
    2020,
    "zero",
    0.01,
  )
  expected = _run_online(problems.OPTIMIZERS["amsgrad"](0.01, 0.9, 0.99), 2020, 101)
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
    "--resume",
    "--seed",
    "--seeds",
    "--lr-schedule",
    "--chunk-steps",
  ):
    assert flag in result.stdout
  help_text = " ".join(result.stdout.split())
  assert "(default: 1000000)" in help_text
  assert f"(default:{','.join(problems.OPTIMIZERS)})" in "".join(help_text.split())


@pytest.mark.parametrize(
  "args",
  [["--seeds", "0"], ["--optimizers", "adam,nadam"], ["--steps", "0"]],
)
def test_cli_bad_arguments_in_a_subprocess(args):
  result = _cli(*args)
  assert result.returncode == 2
  testing.assert_usage_error(result.stdout, result.stderr, cli.PROG)


@pytest.mark.parametrize(
  ("args", "match"),
  [
    (["--seeds", "0"], "--seeds"),
    (["--seed", "-1"], "--seed"),
    (["--seed", str(2**31 - 2), "--seeds", "3"], "--seed"),
    (["--lr-schedule", "cosine"], "--lr-schedule"),
    (["--chunk-steps", "0"], "--chunk-steps"),
    (["--resume"], "needs --out"),
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
  testing.assert_main_rejects(cli.main, args, capsys, cli.PROG, match)


def test_cli_out_must_be_a_directory(capsys, tmp_path):
  not_a_directory = tmp_path / "file"
  not_a_directory.write_text("")
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["--out", str(not_a_directory)])
  assert exit_info.value.code == 2
  assert "not a directory" in capsys.readouterr().err


# Stochastic problem and learning-rate schedules.


def test_stochastic_gradient_is_a_function_of_key_and_step():
  key = jax.random.key(7)
  draws = jax.vmap(lambda step: problems.stochastic_gradient(step, key))(jnp.arange(20_000))
  assert set(np.unique(np.asarray(draws)).tolist()) == {-10.0, 1010.0}
  assert 0.005 < float(jnp.mean(draws == 1010.0)) < 0.015
  raw = jax.random.key_data(key)
  again = jax.vmap(lambda step: problems.stochastic_gradient(step, raw))(jnp.arange(20_000))
  np.testing.assert_array_equal(again, draws)


def test_stochastic_runs_are_reproducible_by_seed():
  tx = problems.OPTIMIZERS["amsgrad"](LR)
  run = _run_stochastic(tx, 20200, 101, seed=3, seeds=3)
  assert run.x.shape == run.regret.shape == run.avg_regret.shape == (200, 3)
  assert run.state.x.shape == (3,)
  again = _run_stochastic(tx, 20200, 101, seed=3, seeds=3, chunk_steps=5050)
  np.testing.assert_array_equal(again.x, run.x)
  np.testing.assert_array_equal(again.regret, run.regret)
  # Each seed's trajectory is its own: the same alone as in the batch, and the seeds differ.
  alone = _run_stochastic(tx, 20200, 101, seed=5, seeds=1)
  np.testing.assert_array_equal(alone.x[:, 0], run.x[:, 2])
  np.testing.assert_array_equal(alone.regret[:, 0], run.regret[:, 2])
  for i, j in ((0, 1), (1, 2), (0, 2)):
    assert not np.array_equal(run.x[:, i], run.x[:, j])
  assert run.x_final == pytest.approx(np.mean(run.x[-1]))
  assert run.avg_regret_final == pytest.approx(np.mean(run.regret[-1] / 20200))


def test_stochastic_adam_drifts_to_plus_one_and_amsgrad_does_not():
  # The paper's Figure 1 (right), here at 2e5 steps and 4 seeds.
  runs = {
    name: _run_stochastic(problems.OPTIMIZERS[name](LR), 200_000, 1000, seeds=4)
    for name in ("adam", "amsgrad")
  }
  assert np.all(runs["adam"].x[-1] > 0.5)
  assert runs["amsgrad"].x_final < 0


@pytest.mark.parametrize(("seed", "seeds"), [(-1, 1), (0, 0), (2**31 - 1, 2)])
def test_stochastic_rejects_bad_seeds(seed, seeds):
  with pytest.raises(ValueError, match="seed"):
    _run_stochastic(optax.sgd(LR), 100, 10, seed=seed, seeds=seeds)


def test_sqrt_learning_rate_schedule():
  schedule = problems.learning_rate(0.5, "sqrt")
  assert callable(schedule)
  for count in range(5):
    assert float(schedule(count)) == pytest.approx(0.5 / math.sqrt(count + 1), rel=1e-6)
  assert problems.learning_rate(0.5, "constant") == 0.5
  with pytest.raises(ValueError, match="schedule"):
    problems.learning_rate(0.5, "cosine")
  # SGD from 0, paper indexing: x_1 = clip(-alpha g_1), x_2 = x_1 - alpha / sqrt(2) g_2, ...
  run = _run_online(optax.sgd(schedule), 4, 1, indexing="paper")
  x, expected = 0.0, []
  for t, g in enumerate(_gradients(4, "paper"), start=1):
    x = min(max(x - 0.5 / math.sqrt(t) * g, -1.0), 1.0)
    expected.append(x)
  np.testing.assert_allclose(run.x, expected, rtol=1e-6)


# Checkpoints and resume.


class _Stop(Exception):
  pass


def _stop_after(chunks: int, saved: list):
  """An ``on_chunk`` that keeps a copy of each snapshot and stops the run after ``chunks``."""

  def on_chunk(snapshot: problems.Snapshot) -> None:
    saved.append(
      dataclasses.replace(
        snapshot,
        x=snapshot.x.copy(),
        total=snapshot.total.copy(),
        compensation=snapshot.compensation.copy(),
      )
    )
    if len(saved) == chunks:
      raise _Stop

  return on_chunk


def _assert_same_run(a: problems.OnlineRun, b: problems.OnlineRun) -> None:
  np.testing.assert_array_equal(a.t, b.t)
  np.testing.assert_array_equal(a.x, b.x)
  np.testing.assert_array_equal(a.regret, b.regret)
  for leaf_a, leaf_b in zip(jax.tree.leaves(a.state), jax.tree.leaves(b.state), strict=True):
    np.testing.assert_array_equal(leaf_a, leaf_b)


@pytest.mark.parametrize(
  ("problem", "stop_after"), [("online", 1), ("online", 3), ("stochastic", 2)]
)
def test_resume_is_bit_identical(tmp_path, problem, stop_after):
  tx = problems.OPTIMIZERS["amsgrad"](LR)

  def run(**kwargs):
    if problem == "online":
      return _run_online(tx, 20200, 101, chunk_steps=5050, **kwargs)
    return _run_stochastic(tx, 20200, 101, seed=5, seeds=2, chunk_steps=5050, **kwargs)

  whole = run()
  saved = []
  with pytest.raises(_Stop):
    run(on_chunk=_stop_after(stop_after, saved))
  assert saved[-1].records_done == 50 * stop_after
  assert np.all(np.isnan(saved[-1].x[50 * stop_after :]))
  # Through a checkpoint file, as the command line does.
  path = tmp_path / "state.npz"
  config = {"problem": problem}
  checkpoint.save(path, saved[-1], config)
  template = problems.initial_snapshot(
    {"tx": tx}, 20200, 101, seed=None if problem == "online" else 5, seeds=2
  )
  loaded = checkpoint.load(path, template, config)
  assert loaded.records_done == saved[-1].records_done
  assert loaded.run_seconds == saved[-1].run_seconds
  resumed_chunks = []
  resumed = run(resume_from=loaded, on_chunk=resumed_chunks.append)
  assert len(resumed_chunks) == 4 - stop_after
  _assert_same_run(resumed, whole)
  assert resumed.run_seconds >= saved[-1].run_seconds
  # Resuming a finished run runs nothing and gives the same result.
  finished = run(resume_from=resumed_chunks[-1])
  _assert_same_run(finished, whole)


def test_resume_from_a_snapshot_of_another_run_raises():
  adam, amsgrad = problems.OPTIMIZERS["adam"](LR), problems.OPTIMIZERS["amsgrad"](LR)
  saved = []
  with pytest.raises(_Stop):
    _run_online(adam, 2020, 101, chunk_steps=505, on_chunk=_stop_after(1, saved))
  with pytest.raises(ValueError, match="do not match"):
    _run_online(amsgrad, 2020, 101, chunk_steps=505, resume_from=saved[0])
  with pytest.raises(ValueError, match="do not match"):
    _run_online(adam, 4040, 101, resume_from=saved[0])
  with pytest.raises(ValueError, match="step count"):
    _run_online(adam, 2020, 101, resume_from=dataclasses.replace(saved[0], records_done=4))
  with pytest.raises(ValueError, match="do not match"):
    _run_stochastic(adam, 2020, 101, resume_from=saved[0])


@pytest.fixture(scope="module")
def _checkpoint_bytes(tmp_path_factory) -> bytes:
  """The checkpoint of a finished 2020-step Adam run (computed once)."""
  path = tmp_path_factory.mktemp("checkpoint") / "state.npz"
  _run_online(
    problems.OPTIMIZERS["adam"](LR),
    2020,
    101,
    chunk_steps=505,
    on_chunk=lambda s: checkpoint.save(path, s, _CHECKPOINT_CONFIG),
  )
  return path.read_bytes()


_CHECKPOINT_CONFIG = {"problem": "online", "steps": 2020, "lr": LR}


@pytest.fixture
def _saved_checkpoint(tmp_path, _checkpoint_bytes) -> tuple[pathlib.Path, problems.Snapshot, dict]:
  path = tmp_path / "state.npz"
  path.write_bytes(_checkpoint_bytes)
  return (
    path,
    problems.initial_snapshot({"adam": problems.OPTIMIZERS["adam"](LR)}, 2020, 101),
    dict(_CHECKPOINT_CONFIG),
  )


def test_checkpoint_is_replaced_atomically(tmp_path, _saved_checkpoint):
  path, template, config = _saved_checkpoint
  assert sorted(p.name for p in tmp_path.iterdir()) == ["state.npz"]  # No temporary left.
  assert checkpoint.load(path, template, config).records_done == 20

  class Interrupt(BaseException):
    pass

  def interrupted_write(*args, **kwargs):
    raise Interrupt

  original = np.savez
  np.savez = interrupted_write
  try:
    with pytest.raises(Interrupt):
      checkpoint.save(path, dataclasses.replace(template, records_done=0), config)
  finally:
    np.savez = original
  assert sorted(p.name for p in tmp_path.iterdir()) == ["state.npz"]
  assert checkpoint.load(path, template, config).records_done == 20


def _rewrite(path: pathlib.Path, change) -> None:
  """Rewrites the npz at ``path`` with ``change(arrays)`` applied (a valid zip again)."""
  with np.load(path) as data:
    arrays = dict(data)
  change(arrays)
  with path.open("wb") as file:
    np.savez(file, **arrays)


def _config_of(arrays: dict) -> dict:
  return json.loads(str(arrays["meta"][()]))["config"]


def _set_meta(arrays: dict, **changes) -> None:
  meta = json.loads(str(arrays["meta"][()]))
  meta.update(changes)
  arrays["meta"] = np.array(json.dumps(meta))


@pytest.mark.parametrize(
  ("damage", "match"),
  [
    (lambda path: path.write_bytes(path.read_bytes()[:1000]), "unreadable"),
    (lambda path: path.write_bytes(b""), "unreadable"),
    (lambda path: path.write_text("not a checkpoint"), "unreadable"),
    (
      lambda path: path.write_bytes(
        path.read_bytes()[:2000] + bytes([path.read_bytes()[2000] ^ 1]) + path.read_bytes()[2001:]
      ),
      "unreadable",
    ),
    (lambda path: _rewrite(path, lambda a: a["leaf_0"].fill(0.5)), "checksum"),
    (lambda path: _rewrite(path, lambda a: a.pop("leaf_3")), "unreadable"),
    (lambda path: _rewrite(path, lambda a: _set_meta(a, format=1)), "format"),
    (lambda path: _rewrite(path, lambda a: _set_meta(a, records_done=7)), "step count"),
    (lambda path: _rewrite(path, lambda a: _set_meta(a, records_done="7")), "malformed"),
    (lambda path: _rewrite(path, lambda a: _set_meta(a, treedef="?")), "tree structure"),
    (
      lambda path: _rewrite(path, lambda a: a.update(leaf_0=a["leaf_0"].astype(np.float64))),
      "leaf 0",
    ),
  ],
)
def test_damaged_checkpoint_raises(_saved_checkpoint, damage, match):
  path, template, config = _saved_checkpoint
  damage(path)
  with pytest.raises(checkpoint.CheckpointError, match=match) as error:
    checkpoint.load(path, template, config)
  assert str(path) in str(error.value)


def test_checkpoint_of_another_run_raises(_saved_checkpoint):
  path, template, config = _saved_checkpoint
  with pytest.raises(checkpoint.CheckpointError, match=r"lr is 0.01 in the checkpoint, 0.1 here"):
    checkpoint.load(path, template, {**config, "lr": 0.1})
  with pytest.raises(checkpoint.CheckpointError, match=r"seeds is None in the checkpoint, 2 here"):
    checkpoint.load(path, template, {**config, "seeds": 2})
  amsgrad = problems.initial_snapshot({"amsgrad": problems.OPTIMIZERS["amsgrad"](LR)}, 2020, 101)
  with pytest.raises(checkpoint.CheckpointError, match="tree structure"):
    checkpoint.load(path, amsgrad, config)
  longer = problems.initial_snapshot({"adam": problems.OPTIMIZERS["adam"](LR)}, 4040, 101)
  with pytest.raises(checkpoint.CheckpointError, match="leaf"):
    checkpoint.load(path, longer, config)


# Command line: outputs, schedules, the stochastic problem, checkpoints and interrupts.

_SMALL_RUN = [
  "--steps",
  "20200",
  "--record-every",
  "101",
  "--chunk-steps",
  "5050",
  "--optimizers",
  "adam,amsgrad",
]


def _results(out: pathlib.Path) -> dict:
  results = json.loads((out / "results.json").read_text())
  for run in results["runs"]:  # Wall times differ from run to run.
    del run["seconds"], run["compile_seconds"]
  return results


def _main(capsys, *args: str) -> tuple[int, str, str]:
  status = cli.main(list(args))
  captured = capsys.readouterr()
  return status, captured.out, captured.err


def test_cli_writes_trajectory_and_figure(capsys, tmp_path):
  out = tmp_path / "out"
  status, stdout, _ = _main(capsys, *_SMALL_RUN, "--out", str(out))
  assert status == 0
  assert stdout.splitlines()[-1].startswith("wrote ")
  lines = (out / "trajectory.csv").read_text().splitlines()
  assert lines[0] == "t,x_adam,avg_regret_adam,x_amsgrad,avg_regret_amsgrad"
  assert len(lines) == 1 + 200
  table = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
  expected = _run_online(problems.OPTIMIZERS["amsgrad"](LR), 20200, 101)
  np.testing.assert_array_equal(table[:, 0], expected.t)
  np.testing.assert_array_equal(table[:, 3], expected.x)
  np.testing.assert_array_equal(table[:, 4], expected.avg_regret)
  figure = (out / "figure1.png").read_bytes()
  assert figure.startswith(b"\x89PNG\r\n\x1a\n")
  assert len(figure) > 20_000  # Two panels of lines, labels and a legend; blank is ~5 kB.
  results = _results(out)
  assert results["lr_schedule"] == "constant"
  assert [run["x_final"] for run in results["runs"]][1] == expected.x_final


def test_cli_sqrt_schedule(capsys, tmp_path):
  out = tmp_path / "out"
  status, stdout, _ = _main(capsys, *_SMALL_RUN, "--lr-schedule", "sqrt", "--out", str(out))
  assert status == 0
  assert "lr 0.01 / sqrt(t)" in stdout
  results = _results(out)
  assert results["lr_schedule"] == "sqrt"
  tx = problems.OPTIMIZERS["amsgrad"](problems.learning_rate(LR, "sqrt"))
  expected = _run_online(tx, 20200, 101)
  assert results["runs"][1]["x_final"] == expected.x_final
  constant = _run_online(problems.OPTIMIZERS["amsgrad"](LR), 20200, 101)
  assert expected.x_final != constant.x_final


def test_cli_stochastic(capsys, tmp_path):
  args = ["--problem", "stochastic", "--seeds", "3", "--seed", "11", *_SMALL_RUN]
  status, stdout, _ = _main(capsys, *args, "--out", str(tmp_path / "a"))
  assert status == 0
  assert "stochastic problem" in stdout and "seeds 11..13" in stdout
  results = _results(tmp_path / "a")
  assert (results["problem"], results["seed"], results["seeds"], results["indexing"]) == (
    "stochastic",
    11,
    3,
    None,
  )
  expected = _run_stochastic(problems.OPTIMIZERS["amsgrad"](LR), 20200, 101, 11, 3)
  amsgrad = results["runs"][1]
  assert amsgrad["x_final_per_seed"] == expected.x[-1].tolist()
  assert amsgrad["x_final"] == expected.x_final == pytest.approx(np.mean(expected.x[-1]))
  header = (tmp_path / "a" / "trajectory.csv").read_text().splitlines()[0]
  assert header == (
    "t,x_mean_adam,x_std_adam,avg_regret_mean_adam,"
    "x_mean_amsgrad,x_std_amsgrad,avg_regret_mean_amsgrad"
  )
  assert (tmp_path / "a" / "figure1.png").stat().st_size > 20_000
  # Another first seed: the runs of seeds 12 and 13 are the same, those of 14 new.
  other = ["--optimizers", "amsgrad", "--seed", "12", "--out", str(tmp_path / "b")]
  assert _main(capsys, *args, *other)[0] == 0
  per_seed = _results(tmp_path / "b")["runs"][0]["x_final_per_seed"]
  assert per_seed[:2] == amsgrad["x_final_per_seed"][1:]
  assert per_seed[2] not in amsgrad["x_final_per_seed"]


def _interrupt_on_save(monkeypatch, when: str, at: int) -> None:
  """Makes the ``at``-th checkpoint save raise KeyboardInterrupt, during or after the write."""
  real_save, real_savez, calls = checkpoint.save, np.savez, []

  def save(*args, **kwargs):
    calls.append(None)
    if len(calls) == at and when == "during":
      monkeypatch.setattr(np, "savez", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    try:
      real_save(*args, **kwargs)
    finally:
      monkeypatch.setattr(np, "savez", real_savez)
    if len(calls) == at:
      raise KeyboardInterrupt

  monkeypatch.setattr(checkpoint, "save", save)


@pytest.mark.parametrize(("problem", "when"), [("online", "after"), ("stochastic", "during")])
def test_cli_interrupt_then_resume_is_bit_identical(capsys, monkeypatch, tmp_path, problem, when):
  args = ["--problem", problem, "--seeds", "2", *_SMALL_RUN]
  assert _main(capsys, *args, "--out", str(tmp_path / "whole"))[0] == 0

  out = tmp_path / "interrupted"
  with monkeypatch.context() as patch:
    _interrupt_on_save(patch, when, at=2)  # The second of 4 chunks.
    status, stdout, stderr = _main(capsys, *args, "--out", str(out))
  assert status == cli.INTERRUPTED
  assert stdout == ""
  assert len(stderr.splitlines()) == 1, stderr
  assert stderr.startswith(f"{cli.PROG}: interrupted;") and "--resume" in stderr
  saved = {p.name for p in (out / "checkpoints").iterdir()}
  assert saved == {"run.json", "state.npz"}  # No temporary file left.
  meta = json.loads(str(np.load(out / "checkpoints" / "state.npz")["meta"][()]))
  assert meta["records_done"] == (100 if when == "after" else 50)
  assert not (out / "results.json").exists()

  # Without --resume the checkpoints are not overwritten.
  with pytest.raises(SystemExit) as exit_info:
    cli.main([*args, "--out", str(out)])
  assert exit_info.value.code == 2
  assert "--resume" in capsys.readouterr().err

  status, stdout, _ = _main(capsys, *args, "--out", str(out), "--resume")
  assert status == 0, stdout
  assert _results(out) == _results(tmp_path / "whole")
  for name in ("trajectory.csv",):
    assert (out / name).read_text() == (tmp_path / "whole" / name).read_text()
  if problem == "online":  # Resuming a finished run recomputes nothing, writes the same.
    assert _main(capsys, *args, "--out", str(out), "--resume")[0] == 0
    assert _results(out) == _results(tmp_path / "whole")


@pytest.fixture(scope="module")
def _finished_run(tmp_path_factory) -> pathlib.Path:
  """The output directory of a finished ``_SMALL_RUN`` (computed once; copy it to change it)."""
  out = tmp_path_factory.mktemp("finished") / "out"
  assert cli.main([*_SMALL_RUN, "--out", str(out), "--no-progress"]) == 0
  return out


def _checkpointed_run(finished: pathlib.Path, out: pathlib.Path) -> None:
  shutil.copytree(finished, out)


@pytest.mark.parametrize(
  ("change", "match"),
  [
    (lambda out: (out / "checkpoints" / "state.npz").write_bytes(b"garbage"), "unreadable"),
    (
      lambda out: _rewrite(
        out / "checkpoints" / "state.npz",
        lambda a: _set_meta(a, config={**_config_of(a), "optimizers": ["amsgrad", "adam"]}),
      ),
      "optimizers is ['amsgrad', 'adam'] in the checkpoint, ['adam', 'amsgrad'] here",
    ),
    (
      lambda out: (out / "checkpoints" / "run.json").write_text(
        (out / "checkpoints" / "run.json").read_text().replace('"checkpoint_format": 2', '"x": 1')
      ),
      "checkpoint_format is None in the checkpoint, 2 here",
    ),
    (lambda out: (out / "checkpoints" / "run.json").write_text("{"), "unreadable"),
  ],
)
def test_cli_bad_checkpoint_exits_2(capsys, tmp_path, _finished_run, change, match):
  out = tmp_path / "out"
  _checkpointed_run(_finished_run, out)
  change(out)
  status, _, stderr = _main(capsys, *_SMALL_RUN, "--out", str(out), "--resume")
  assert status == 2
  assert len(stderr.splitlines()) == 1, stderr
  assert stderr.startswith(f"{cli.PROG}: error: ") and match in stderr


def test_cli_resume_with_other_arguments_exits_2(capsys, tmp_path, _finished_run):
  out = tmp_path / "out"
  _checkpointed_run(_finished_run, out)
  for args, match in [
    (["--lr", "0.1"], "lr is 0.01 in the checkpoint, 0.1 here"),
    (["--optimizers", "adam"], "optimizers is"),
    (["--chunk-steps", "10100"], "chunk_steps is 5050"),
  ]:
    status, _, stderr = _main(capsys, *_SMALL_RUN, *args, "--out", str(out), "--resume")
    assert status == 2
    assert len(stderr.splitlines()) == 1 and match in stderr, stderr


def test_cli_resume_starts_a_missing_run_and_repeats_a_finished_one(capsys, tmp_path):
  """So that the README's command can be run again: the second run computes nothing."""
  out = tmp_path / "out"
  first, _, _ = _main(capsys, *_SMALL_RUN, "--out", str(out), "--resume")
  results = (out / "results.json").read_text()
  second, _, _ = _main(capsys, *_SMALL_RUN, "--out", str(out), "--resume")
  assert first == second == 0
  before, after = json.loads(results), json.loads((out / "results.json").read_text())
  for run_before, run_after in zip(before["runs"], after["runs"], strict=True):
    assert run_after["x_final"] == run_before["x_final"]
    assert run_after["avg_regret_final"] == run_before["avg_regret_final"]


def test_cli_damaged_checkpoint_in_a_subprocess(tmp_path, _finished_run):
  out = tmp_path / "out"
  _checkpointed_run(_finished_run, out)
  path = out / "checkpoints" / "state.npz"
  path.write_bytes(path.read_bytes()[:-100])
  result = _cli(*_SMALL_RUN, "--out", str(out), "--resume")
  assert result.returncode == 2
  assert "Traceback" not in result.stderr
  assert len(result.stderr.splitlines()) == 1, result.stderr
  assert result.stderr.startswith(f"{cli.PROG}: error: checkpoint {path}: ")


def test_cli_ctrl_c_in_a_subprocess(tmp_path):
  """A real SIGINT while a long run is checkpointing: status 130, one line, a valid checkpoint."""
  out = tmp_path / "out"
  args = ["--steps", "2000000000", "--record-every", "1000000", "--chunk-steps", "1000000"]
  process = subprocess.Popen(
    testing.python_command(
      "-m", "experiments.reddi", *args, "--optimizers", "adam", "--out", str(out)
    ),
    cwd=testing.REPO,
    env=testing.python_env(),
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    text=True,
  )
  try:
    path = out / "checkpoints" / "state.npz"
    deadline = time.monotonic() + 240  # A hang guard, not a speed requirement.
    while not path.exists() and process.poll() is None and time.monotonic() < deadline:
      time.sleep(0.05)
    assert path.exists(), process.poll()
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=240)
  finally:
    if process.poll() is None:
      process.kill()
      process.communicate()
  assert process.returncode == cli.INTERRUPTED, stderr
  assert stdout == ""
  assert len(stderr.splitlines()) == 1, stderr
  assert stderr.startswith(f"{cli.PROG}: interrupted;")
  assert {p.name for p in path.parent.iterdir()} == {"run.json", "state.npz"}
  config = json.loads((path.parent / "run.json").read_text())
  tx = problems.OPTIMIZERS["adam"](LR)
  template = problems.initial_snapshot({"adam": tx}, 2_000_000_000, 1_000_000)
  snapshot = checkpoint.load(path, template, config)
  assert 0 < snapshot.records_done < 2000
  (state,) = snapshot.state
  assert int(state.step) == snapshot.records_done * 1_000_000


def test_cli_progress_bar_only_for_runs_of_several_chunks(monkeypatch):
  import tqdm

  monkeypatch.setattr(tqdm, "tqdm", lambda **kwargs: kwargs)
  parse = cli._parser().parse_args
  one = ["adam"]
  assert cli._progress_bar(parse(["--steps", "1000", "--chunk-steps", "1000"]), one, 0) is None
  assert cli._progress_bar(parse(["--no-progress", "--steps", "3000"]), one, 0) is None
  several = parse(["--steps", "3000", "--chunk-steps", "1000"])
  assert cli._progress_bar(several, one, 3000) is None  # A finished run, resumed.
  assert cli._progress_bar(several, ["adam", "yogi"], 0)["desc"] == "2 optimizers"
  bar = cli._progress_bar(several, one, 1000)
  assert isinstance(bar, dict)
  assert {key: bar[key] for key in ("total", "initial", "desc", "unit")} == {
    "total": 3000,
    "initial": 1000,
    "desc": "adam",
    "unit": "step",
  }
  assert bar["disable"] is None  # Shown on a terminal only.


def test_cli_checkpoint_write_error_exits_1(capsys, monkeypatch, tmp_path):
  def save(path, *args, **kwargs):
    raise OSError(28, "No space left on device", str(path))

  monkeypatch.setattr(checkpoint, "save", save)
  status, stdout, stderr = _main(capsys, *_SMALL_RUN, "--out", str(tmp_path / "out"))
  assert status == 1
  assert stdout == ""
  assert stderr == (
    f"{cli.PROG}: error: cannot write {tmp_path / 'out' / 'checkpoints' / 'state.npz'}:"
    " No space left on device\n"
  )


def test_torch_optim_twins_run_by_name():
  """``torch_optim.adam`` is torch's Adam: on the online problem it tracks optax.adam to
  float32 rounding (same algorithm, different operation order)."""
  assert "torch_optim.adam" in problems.torch_optim_names()
  twin = _run_online(problems.get_optimizer("torch_optim.adam")(LR, 0.9, 0.99), 20200, 101)
  plain = _run_online(problems.OPTIMIZERS["adam"](LR, 0.9, 0.99), 20200, 101)
  np.testing.assert_allclose(twin.x, plain.x, atol=1e-4)
  with pytest.raises(KeyError):
    problems.get_optimizer("torch_optim.nope")
