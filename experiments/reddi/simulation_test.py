"""Tests of :mod:`experiments.reddi`'s problems, optimizers and simulation engine."""

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments import testing
from experiments.reddi import checkpoint
from experiments.reddi import optimizers
from experiments.reddi import problems
from experiments.reddi import simulation

LR = 1e-2

_run_online = functools.partial(testing.alone, problems.run_online)
_run_stochastic = functools.partial(testing.alone, problems.run_stochastic)


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
    {name: optimizers.OPTIMIZERS[name](LR, 0.9, 0.99) for name in optimizers.OPTIMIZERS},
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
  tx = optimizers.OPTIMIZERS[name](LR, 0.9, 0.99)
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
  tx = optimizers.OPTIMIZERS["amsgrad"](LR, 0.9, 0.99)
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
    "adam": optimizers.OPTIMIZERS["adam"](LR),
    "yogi": optimizers.OPTIMIZERS["yogi"](LR),
    "twin": optimizers.get_optimizer("torch_optim.rmsprop")(LR),
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
  assert set(optimizers.OPTIMIZERS) == {
    "adam",
    "amsgrad",
    "amsgrad_paper",
    "amsgrad_optax",
    "yogi",
    "yogi_tfa",
    "yogi_d2l",
    "yogi_paper",
  }
  for name, optimizer in optimizers.OPTIMIZERS.items():
    assert optimizer.default_eps == (1e-3 if name.startswith("yogi") else 1e-8)
  yogi = optimizers.OPTIMIZERS["yogi"]
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
  tx = optimizers.OPTIMIZERS["amsgrad"](LR)
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
    name: _run_stochastic(optimizers.OPTIMIZERS[name](LR), 200_000, 1000, seeds=4)
    for name in ("adam", "amsgrad")
  }
  assert np.all(runs["adam"].x[-1] > 0.5)
  assert runs["amsgrad"].x_final < 0


@pytest.mark.parametrize(("seed", "seeds"), [(-1, 1), (0, 0), (2**31 - 1, 2)])
def test_stochastic_rejects_bad_seeds(seed, seeds):
  with pytest.raises(ValueError, match="seed"):
    _run_stochastic(optax.sgd(LR), 100, 10, seed=seed, seeds=seeds)


def test_sqrt_learning_rate_schedule():
  schedule = optimizers.learning_rate(0.5, "sqrt")
  assert callable(schedule)
  for count in range(5):
    assert float(schedule(count)) == pytest.approx(0.5 / math.sqrt(count + 1), rel=1e-6)
  assert optimizers.learning_rate(0.5, "constant") == 0.5
  with pytest.raises(ValueError, match="schedule"):
    optimizers.learning_rate(0.5, "cosine")
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

  def on_chunk(snapshot: simulation.Snapshot) -> None:
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


def _assert_same_run(a: simulation.OnlineRun, b: simulation.OnlineRun) -> None:
  np.testing.assert_array_equal(a.t, b.t)
  np.testing.assert_array_equal(a.x, b.x)
  np.testing.assert_array_equal(a.regret, b.regret)
  for leaf_a, leaf_b in zip(jax.tree.leaves(a.state), jax.tree.leaves(b.state), strict=True):
    np.testing.assert_array_equal(leaf_a, leaf_b)


@pytest.fixture(scope="module")
def _uninterrupted() -> dict[str, simulation.OnlineRun]:
  """The uninterrupted runs of test_resume_is_bit_identical, by problem (each run once)."""
  return {}


@pytest.mark.parametrize(
  ("problem", "stop_after"), [("online", 1), ("online", 3), ("stochastic", 2)]
)
def test_resume_is_bit_identical(tmp_path, _uninterrupted, problem, stop_after):
  tx = optimizers.OPTIMIZERS["amsgrad"](LR)

  def run(**kwargs):
    if problem == "online":
      return _run_online(tx, 20200, 101, chunk_steps=5050, **kwargs)
    return _run_stochastic(tx, 20200, 101, seed=5, seeds=2, chunk_steps=5050, **kwargs)

  if problem not in _uninterrupted:
    _uninterrupted[problem] = run()
  whole = _uninterrupted[problem]
  saved = []
  with pytest.raises(_Stop):
    run(on_chunk=_stop_after(stop_after, saved))
  assert saved[-1].records_done == 50 * stop_after
  assert np.all(np.isnan(saved[-1].x[50 * stop_after :]))
  # Through a checkpoint file, as the command line does.
  path = tmp_path / "state.npz"
  config = {"problem": problem}
  checkpoint.save(path, saved[-1], config)
  definition = problems.Online() if problem == "online" else problems.Stochastic(5, 2)
  template = simulation.initial_snapshot({"tx": tx}, definition, 20200, 101)
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
  adam, amsgrad = optimizers.OPTIMIZERS["adam"](LR), optimizers.OPTIMIZERS["amsgrad"](LR)
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


def test_torch_optim_twins_run_by_name():
  """``torch_optim.adam`` is torch's Adam: on the online problem it tracks optax.adam to
  float32 rounding (same algorithm, different operation order)."""
  assert "torch_optim.adam" in optimizers.TWIN_NAMES
  twin = _run_online(optimizers.get_optimizer("torch_optim.adam")(LR, 0.9, 0.99), 20200, 101)
  plain = _run_online(optimizers.OPTIMIZERS["adam"](LR, 0.9, 0.99), 20200, 101)
  np.testing.assert_allclose(twin.x, plain.x, atol=1e-4)
  with pytest.raises(KeyError):
    optimizers.get_optimizer("torch_optim.nope")
