"""What every command line promises about its output directory and its arguments.

- a run holds an exclusive lock on its ``--out`` (a second run exits 2, one line);
- a directory that cannot be used, and ``--out ""``, are refused before anything is computed;
- a run's outputs replace the previous run's as one set, and no leftover of a killed run
  survives the next run;
- ``results.json`` is strict JSON (no NaN), the non-finite values named;
- every optimizer choice of ``experiments.reddi`` runs or is refused in one line, and a flag
  without effect on the chosen problem is refused.
"""

import json
import pathlib

import jax
import jax.numpy as jnp
import pytest

from benchmarks import __main__ as benchmarks_cli
from experiments import arguments
from experiments import files
from experiments import testing
from experiments.beta_sweep import __main__ as beta_sweep
from experiments.optimizer_zoo import __main__ as optimizer_zoo
from experiments.perceptron_instability import __main__ as perceptron
from experiments.reddi import __main__ as reddi
from experiments.reddi import config as reddi_config
from experiments.reddi import optimizers
from experiments.reddi import outputs

_MAINS = {
  "python -m experiments.reddi": reddi.main,
  "python -m experiments.beta_sweep": beta_sweep.main,
  "python -m experiments.optimizer_zoo": optimizer_zoo.main,
  "python -m experiments.perceptron_instability": perceptron.main,
  "python -m benchmarks": benchmarks_cli.main,
}
_REDDI_SMALL = ["--steps", "2020", "--record-every", "101", "--no-progress"]


def _out_argument(prog: str, directory: pathlib.Path) -> list[str]:
  """``--out`` for ``prog``: a directory, or for the benchmarks a file in it."""
  return ["--out", str(directory / "results.json" if "benchmarks" in prog else directory)]


def _one_line_failure(main, argv, capsys, status: int, message: str) -> None:
  assert main(argv) == status
  captured = capsys.readouterr()
  assert captured.out == ""
  assert len(captured.err.splitlines()) == 1 and "Traceback" not in captured.err, captured.err
  assert message in captured.err, captured.err


# --- the run directory --------------------------------------------------------------------


@pytest.mark.parametrize("prog", list(_MAINS))
def test_a_second_run_into_a_held_directory_exits_2_at_once(prog, tmp_path, capsys):
  with files.run_directory(tmp_path):
    _one_line_failure(
      _MAINS[prog], _out_argument(prog, tmp_path), capsys, 2, "is in use by another run"
    )


@pytest.mark.parametrize("prog", list(_MAINS))
def test_a_directory_that_cannot_be_created_exits_2_before_computing(prog, tmp_path, capsys):
  (tmp_path / "file").write_text("")
  _one_line_failure(
    _MAINS[prog], _out_argument(prog, tmp_path / "file" / "out"), capsys, 2, "cannot write"
  )


@pytest.mark.parametrize("prog", list(_MAINS))
def test_an_empty_out_is_refused(prog, capsys):
  testing.assert_main_rejects(_MAINS[prog], ["--out", ""], capsys, prog, "argument --out: must")


def test_the_lock_is_released_after_the_run(tmp_path):
  with files.run_directory(tmp_path):
    pass
  with files.run_directory(tmp_path):
    pass


# --- one set of outputs -------------------------------------------------------------------


def test_an_interrupted_output_set_leaves_the_previous_set_whole(tmp_path):
  with files.output_set(tmp_path) as staging:
    (staging / "a.csv").write_text("old a")
    files.write_json(staging / "results.json", {"run": "old"})

  class Killed(BaseException):
    pass

  with pytest.raises(Killed), files.output_set(tmp_path) as staging:
    (staging / "a.csv").write_text("new a")
    raise Killed
  assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "results.json"]
  assert (tmp_path / "a.csv").read_text() == "old a"
  assert json.loads((tmp_path / "results.json").read_text()) == {"run": "old"}


def test_the_next_run_finishes_a_committed_set_and_deletes_leftovers(tmp_path):
  """A kill after the commit record: the set is moved into place by the next run; a kill
  before it, or during an atomic write, leaves files that the next run deletes."""
  (tmp_path / "a.csv").write_text("old a")
  committed = tmp_path / ".staging-committed"
  committed.mkdir()
  (committed / "a.csv").write_text("new a")
  (committed / "COMMIT").write_text(json.dumps(["a.csv"]))
  uncommitted = tmp_path / ".staging-uncommitted"
  uncommitted.mkdir()
  (uncommitted / "a.csv").write_text("newer a")
  (tmp_path / ".results.json.x1y2.tmp").write_text("{")
  (tmp_path / "checkpoints").mkdir()
  (tmp_path / "checkpoints" / ".state.npz.x1y2.tmp").write_bytes(b"PK")
  with files.run_directory(tmp_path):
    pass
  assert sorted(p.name for p in tmp_path.iterdir()) == [files.LOCK, "a.csv", "checkpoints"]
  assert not list((tmp_path / "checkpoints").iterdir())
  assert (tmp_path / "a.csv").read_text() == "new a"


def test_an_interrupted_reddi_run_keeps_the_previous_outputs(tmp_path, monkeypatch, capsys):
  """Killed after the new results and trajectory are written, before the figure: the old set
  stays, whole and alone."""
  out = tmp_path / "out"
  assert reddi.main([*_REDDI_SMALL, "--out", str(out)]) == 0
  before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

  def killed(*args, **kwargs):
    raise KeyboardInterrupt

  monkeypatch.setattr(outputs, "write_figure", killed)
  (out / "checkpoints").rename(tmp_path / "first-checkpoints")  # A fresh run, same --out.
  assert reddi.main([*_REDDI_SMALL, "--lr", "0.02", "--out", str(out)]) == reddi.INTERRUPTED
  after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
  assert after == before
  assert not list(out.glob(".staging-*")) and not list(out.glob(".*.tmp"))
  capsys.readouterr()


_SMALL_RUNS = {
  "beta_sweep": (beta_sweep.main, ["--grid", "4", "--steps", "2020"]),
  "perceptron_instability": (
    perceptron.main,
    ["--steps", "20", "--optimizers", "sgd", "--no-torch", "--no-progress"],
  ),
  "optimizer_zoo": (
    optimizer_zoo.main,
    ["--epochs", "1", "--optimizers", "yogi", "--regression-epochs", "1", "--no-progress"],
  ),
}
# The last file each writes: interrupting it leaves the others written into the staging set.
_LAST_WRITER = {
  "beta_sweep": (files, "write_json"),
  "perceptron_instability": (perceptron.figures, "plot_optimizers"),
  "optimizer_zoo": (optimizer_zoo.figures, "write_regression"),
}


@pytest.mark.parametrize("name", list(_SMALL_RUNS))
def test_an_interrupted_run_of_every_other_cli_keeps_the_previous_outputs(
  name, tmp_path, monkeypatch, capsys
):
  main, argv = _SMALL_RUNS[name]
  out = tmp_path / "out"
  out.mkdir()
  (out / "results.json").write_text('{"run": "previous"}\n')

  def killed(*args, **kwargs):
    raise KeyboardInterrupt

  monkeypatch.setattr(*_LAST_WRITER[name], killed)
  assert main([*argv, "--out", str(out)]) == 130
  capsys.readouterr()
  assert sorted(p.name for p in out.iterdir()) == [files.LOCK, "results.json"]
  assert (out / "results.json").read_text() == '{"run": "previous"}\n'


# --- strict JSON --------------------------------------------------------------------------


def _strict(text: str):
  def refuse(constant):
    raise AssertionError(f"{constant} in results.json")

  return json.loads(text, parse_constant=refuse)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_results_are_strict_json_with_the_non_finite_values_named(tmp_path, capsys):
  """The issue's example: ASGD with lr 1e300 (inf in float32) ends at NaN. The figure is drawn
  too (its t axis no longer comes from the data, which NaN leaves empty)."""
  out = tmp_path / "out"
  argv = ["--steps", "10100", "--record-every", "101", "--lr", "1e300"]
  argv += ["--optimizers", "torch_optim.asgd", "--no-progress", "--out", str(out)]
  assert reddi.main(argv) == 0
  capsys.readouterr()
  results = _strict((out / "results.json").read_text())
  assert results["non_finite"] == {"/runs/0/x_final": "nan", "/runs/0/avg_regret_final": "nan"}
  assert results["runs"][0]["x_final"] is None
  assert (out / "figure1.png").stat().st_size > 0


def test_json_text_names_what_it_nulls():
  text = files.json_text({"a": [1.0, float("inf")], "b": {"c": float("nan")}})
  assert _strict(text) == {
    "a": [1.0, None],
    "b": {"c": None},
    "non_finite": {"/a/1": "inf", "/b/c": "nan"},
  }


# --- arguments ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", optimizers.NAMES)
@pytest.mark.parametrize(
  ("schedule", "lr", "eps"),
  [
    ("constant", 0.01, None),
    ("sqrt", 0.01, None),
    ("constant", 0.0, None),
    ("constant", 0.01, 0.0),
  ],
)
def test_every_listed_optimizer_runs_or_is_refused_as_an_argument(name, schedule, lr, eps):
  """Each choice of ``--optimizers``, with a schedule, lr 0 and eps 0: either the configuration
  refuses it (one line, exit 2, through ArgumentError) or its update traces on the problems'
  scalar iterate (the update is traced, not run: every crash seen was a trace-time error)."""
  try:
    config = reddi_config.RunConfig(
      steps=2020, record_every=101, optimizers=(name,), lr=lr, lr_schedule=schedule, eps=eps
    )
  except arguments.ArgumentError as error:
    assert error.name == "optimizers" and name in error.problem
    return
  tx = config.transformations()[name]
  x = jnp.zeros([])
  jax.eval_shape(lambda x: tx.update(x + 1.0, tx.init(x), x), x)


@pytest.mark.parametrize(
  ("argv", "message"),
  [
    (["--seeds", "3"], "argument --seeds: has no effect on the online problem"),
    (["--seed", "3"], "argument --seed: has no effect on the online problem"),
    (
      ["--problem", "stochastic", "--indexing", "paper"],
      "argument --indexing: has no effect on the stochastic problem",
    ),
    (
      ["--optimizers", "torch_optim.sgd,torch_optim.rprop", "--eps", "1e-3"],
      "argument --eps: has no effect: none of torch_optim.sgd, torch_optim.rprop takes it",
    ),
    (["--optimizers", "torch_optim.adagrad", "--b1", "0.5"], "argument --b1: has no effect"),
  ],
)
def test_flags_without_effect_are_refused(argv, message, capsys):
  testing.assert_main_rejects(reddi.main, argv, capsys, reddi.PROG, message)


def test_a_sweep_too_large_for_the_memory_is_refused(capsys):
  testing.assert_main_rejects(
    beta_sweep.main,
    ["--grid", "100000"],
    capsys,
    "python -m experiments.beta_sweep",
    "GiB, more than",
  )


@pytest.mark.parametrize(
  ("argv", "message"),
  [
    (["--steps", "0"], "argument --steps: must be >= 1, got 0"),
    (["--repeats", "-1"], "argument --repeats: must be >= 1"),
    (["--torch-compile-timeout", "nan"], "must be finite and >= 0"),
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--update-committed", "--out", "x.json"], "not allowed with argument --out"),
  ],
)
def test_benchmark_arguments_are_checked_in_one_line(argv, message, capsys):
  testing.assert_main_rejects(benchmarks_cli.main, argv, capsys, benchmarks_cli.PROG, message)


def test_benchmarks_write_outside_the_tree_by_default():
  assert testing.REPO not in benchmarks_cli.DEFAULT_OUT.parents
  args = benchmarks_cli.parse_args(["--update-committed"])
  assert args.out == benchmarks_cli.HERE / "results.json"
