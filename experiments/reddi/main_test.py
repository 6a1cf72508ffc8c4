"""Tests of ``python -m experiments.reddi``: outputs, argument errors, checkpoints, interrupts.

One module (over 400 lines) so that its tests share the module-scoped runs they compare
against (``_finished``, ``_amsgrad_alone``) instead of compiling them again.
"""

import contextlib
import functools
import io
import json
import pathlib
import shutil
import signal
import subprocess
import time

import numpy as np
import pytest

from experiments import testing
from experiments.reddi import __main__ as cli
from experiments.reddi import checkpoint
from experiments.reddi import optimizers
from experiments.reddi import problems
from experiments.reddi import simulation
from experiments.reddi import train

LR = 1e-2

_run_online = functools.partial(testing.alone, problems.run_online)
_run_stochastic = functools.partial(testing.alone, problems.run_stochastic)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
  return testing.run_python("-m", "experiments.reddi", *args)


def test_cli_runs_and_writes_results(tmp_path):
  out = tmp_path / "out"
  result = _cli("--steps", "2020", "--record-every", "101", "--out", str(out))
  assert result.returncode == 0, result.stderr
  table = result.stdout.splitlines()
  assert table[1].split() == ["optimizer", "variant", "x_T", "R_T/T"]
  assert [line.split()[:2] for line in table[2:4]] == [["adam", "optax"], ["amsgrad", "torch"]]
  assert table[-2].startswith(f"{len(optimizers.OPTIMIZERS)} optimizers in one compiled program: ")
  results = json.loads((out / "results.json").read_text())
  assert {"problem", "steps", "indexing", "lr", "runs"} <= set(results)
  assert (results["problem"], results["steps"], results["indexing"], results["lr"]) == (
    "online",
    2020,
    "zero",
    0.01,
  )
  expected = _run_online(optimizers.OPTIMIZERS["amsgrad"](0.01, 0.9, 0.99), 2020, 101)
  amsgrad = results["runs"][1]
  assert {"optimizer", "variant", "x_final", "avg_regret_final", "seconds"} <= set(amsgrad)
  assert amsgrad["x_final"] == expected.x_final
  assert amsgrad["avg_regret_final"] == expected.avg_regret_final


def test_cli_help_documents_every_flag(capsys):
  with pytest.raises(SystemExit) as exit_info:
    cli.main(["--help"])
  assert exit_info.value.code == 0
  stdout = capsys.readouterr().out
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
    assert flag in stdout
  help_text = " ".join(stdout.split())
  assert "(default: 1000000)" in help_text
  assert f"(default:{','.join(optimizers.OPTIMIZERS)})" in "".join(help_text.split())


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


@pytest.fixture(scope="module")
def _finished(tmp_path_factory) -> tuple[pathlib.Path, str]:
  """The output directory of a finished ``_SMALL_RUN`` and what it printed (computed once; copy
  the directory to change it)."""
  out = tmp_path_factory.mktemp("finished") / "out"
  with contextlib.redirect_stdout(io.StringIO()) as stdout:
    assert cli.main([*_SMALL_RUN, "--out", str(out), "--no-progress"]) == 0
  return out, stdout.getvalue()


@pytest.fixture(scope="module")
def _finished_run(_finished) -> pathlib.Path:
  return _finished[0]


@pytest.fixture(scope="module")
def _amsgrad_alone() -> simulation.OnlineRun:
  """AMSGrad alone on the online problem, 20200 steps recorded every 101 (computed once)."""
  return _run_online(optimizers.OPTIMIZERS["amsgrad"](LR), 20200, 101)


def test_cli_writes_trajectory_and_figure(_finished, _amsgrad_alone):
  out, stdout = _finished
  assert stdout.splitlines()[-1].startswith("wrote ")
  lines = (out / "trajectory.csv").read_text().splitlines()
  assert lines[0] == "t,x_adam,avg_regret_adam,x_amsgrad,avg_regret_amsgrad"
  assert len(lines) == 1 + 200
  table = np.array([[float(v) for v in line.split(",")] for line in lines[1:]])
  expected = _amsgrad_alone
  np.testing.assert_array_equal(table[:, 0], expected.t)
  np.testing.assert_array_equal(table[:, 3], expected.x)
  np.testing.assert_array_equal(table[:, 4], expected.avg_regret)
  figure = (out / "figure1.png").read_bytes()
  assert figure.startswith(b"\x89PNG\r\n\x1a\n")
  assert len(figure) > 20_000  # Two panels of lines, labels and a legend; blank is ~5 kB.
  results = _results(out)
  assert results["lr_schedule"] == "constant"
  assert [run["x_final"] for run in results["runs"]][1] == expected.x_final


def test_cli_sqrt_schedule(capsys, tmp_path, _amsgrad_alone):
  out = tmp_path / "out"
  status, stdout, _ = _main(capsys, *_SMALL_RUN, "--lr-schedule", "sqrt", "--out", str(out))
  assert status == 0
  assert "lr 0.01 / sqrt(t)" in stdout
  results = _results(out)
  assert results["lr_schedule"] == "sqrt"
  tx = optimizers.OPTIMIZERS["amsgrad"](optimizers.learning_rate(LR, "sqrt"))
  expected = _run_online(tx, 20200, 101)
  assert results["runs"][1]["x_final"] == expected.x_final
  constant = _amsgrad_alone
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
  expected = _run_stochastic(optimizers.OPTIMIZERS["amsgrad"](LR), 20200, 101, 11, 3)
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
def test_cli_interrupt_then_resume_is_bit_identical(
  capsys, monkeypatch, tmp_path, _finished_run, problem, when
):
  seeds = ["--seeds", "2"] if problem == "stochastic" else []  # Refused on the online one.
  args = ["--problem", problem, *seeds, *_SMALL_RUN]
  whole = tmp_path / "whole"
  if problem == "online":  # The same run as _finished_run's.
    whole = _finished_run
  else:
    assert _main(capsys, *args, "--out", str(whole))[0] == 0

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
  assert _results(out) == _results(whole)
  for name in ("trajectory.csv",):
    assert (out / name).read_text() == (whole / name).read_text()
  if problem == "online":  # Resuming a finished run recomputes nothing, writes the same.
    assert _main(capsys, *args, "--out", str(out), "--resume")[0] == 0
    assert _results(out) == _results(whole)


def _checkpointed_run(finished: pathlib.Path, out: pathlib.Path) -> None:
  shutil.copytree(finished, out)


def _contents(out: pathlib.Path) -> dict[str, bytes]:
  """Every file under ``out`` (but the lock) by relative path, with its bytes."""
  return {
    str(path.relative_to(out)): path.read_bytes()
    for path in sorted(out.rglob("*"))
    if path.is_file() and path.name != ".lock"
  }


@pytest.mark.parametrize(
  ("change", "match"),
  [
    (lambda out: (out / "checkpoints" / "state.npz").write_bytes(b"garbage"), "unreadable"),
    (
      lambda out: testing.rewrite_npz(
        out / "checkpoints" / "state.npz",
        lambda a: testing.set_meta(
          a, config={**testing.meta(a)["config"], "optimizers": ["amsgrad", "adam"]}
        ),
      ),
      "optimizers is ['amsgrad', 'adam'] in the checkpoint, ['adam', 'amsgrad'] here",
    ),
    (
      lambda out: (out / "checkpoints" / "run.json").write_text(
        (out / "checkpoints" / "run.json").read_text().replace('"checkpoint_format": 3', '"x": 1')
      ),
      "checkpoint_format is None in the checkpoint, 3 here",
    ),
    (lambda out: (out / "checkpoints" / "run.json").write_text("{"), "unreadable"),
  ],
)
def test_cli_bad_checkpoint_exits_2(capsys, tmp_path, _finished_run, change, match):
  """Refused with nothing modified: not the checkpoint, not the outputs."""
  out = tmp_path / "out"
  _checkpointed_run(_finished_run, out)
  change(out)
  before = _contents(out)
  status, _, stderr = _main(capsys, *_SMALL_RUN, "--out", str(out), "--resume")
  assert status == 2
  assert _contents(out) == before
  assert len(stderr.splitlines()) == 1, stderr
  assert stderr.startswith(f"{cli.PROG}: error: ") and match in stderr


def test_cli_resume_with_other_arguments_exits_2(capsys, tmp_path, _finished_run):
  """Refused with nothing modified: the run's checkpoints and outputs stay as they were."""
  out = tmp_path / "out"
  _checkpointed_run(_finished_run, out)
  before = _contents(out)
  for args, match in [
    (["--lr", "0.1"], "lr is 0.01 in the checkpoint, 0.1 here"),
    (["--optimizers", "adam"], "optimizers is"),
    (["--chunk-steps", "10100"], "chunk_steps is 5050"),
  ]:
    status, _, stderr = _main(capsys, *_SMALL_RUN, *args, "--out", str(out), "--resume")
    assert status == 2
    assert len(stderr.splitlines()) == 1 and match in stderr, stderr
    assert _contents(out) == before


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
  tx = optimizers.OPTIMIZERS["adam"](LR)
  template = simulation.initial_snapshot({"adam": tx}, problems.Online(), 2_000_000_000, 1_000_000)
  snapshot = checkpoint.load(path, template, config)
  assert 0 < snapshot.records_done < 2000
  (state,) = snapshot.state
  assert int(state.step) == snapshot.records_done * 1_000_000


def test_cli_progress_bar_only_for_runs_of_several_chunks(monkeypatch):
  import tqdm

  monkeypatch.setattr(tqdm, "tqdm", lambda **kwargs: kwargs)

  def parse(argv: list[str]):
    return cli._configure(cli._parser().parse_args(argv))

  one = ["--optimizers", "adam"]
  assert train.progress_bar(parse(["--steps", "1000", "--chunk-steps", "1000", *one]), 0) is None
  assert train.progress_bar(parse(["--no-progress", "--steps", "3000", *one]), 0) is None
  several = ["--steps", "3000", "--chunk-steps", "1000"]
  assert train.progress_bar(parse([*several, *one]), 3000) is None  # A finished run, resumed.
  two = parse([*several, "--optimizers", "adam,yogi"])
  assert train.progress_bar(two, 0)["desc"] == "2 optimizers"
  bar = train.progress_bar(parse([*several, *one]), 1000)
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
