"""Smoke test of ``python -m benchmarks models`` at tiny sizes: structure, no timings."""

import json
import math
import pathlib

import pytest

from benchmarks import __main__ as cli
from benchmarks import common
from benchmarks import models

CASES = ("adam", "amsgrad:torch")


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, pathlib.Path]:
  out = tmp_path_factory.mktemp("models") / "models.json"
  argv = [
    "models",
    "--quick",
    "--trees",
    "wide",
    "--dtypes",
    "float32",
    "--cases",
    ",".join(CASES),
    "--out",
    str(out),
  ]
  assert cli.main(argv) == 0
  return json.loads(out.read_text()), out


def test_json_structure(results):
  data, out = results
  assert out.with_suffix(".png").stat().st_size > 0
  assert data["device"] and data["local_devices"] >= 1
  assert [(t["tree"], t["dtype"]) for t in data["trees"]] == [("wide", "float32")]
  for tree in data["trees"]:
    assert tree["leaves"] == 20 and tree["copy_bandwidth_gb_s"] > 0
    assert [row["case"] for row in tree["cases"]] == list(CASES)
    for row in tree["cases"]:
      assert row["ns_per_param"]["ours"] > 0 and row["ns_per_param"]["optax"] > 0
      assert row["bandwidth_fraction"] > 0
      assert row["ratios"]["time/optax"] > 0 and row["ratios"]["compile/optax"] > 0
      assert row["temp_bytes"]["ours"] is None or row["temp_bytes"]["ours"] >= 0
      # Each torch implementation is timed or says why not.
      for impl in ("torch_foreach", "torch_fused"):
        assert (impl in row["seconds_per_step"]) != (impl in row["notes"])
  assert {t["case"] for t in data["targets"]} == set(CASES)
  assert all(isinstance(t["pass"], bool) and math.isfinite(t["ratio"]) for t in data["targets"])


def test_every_case_builds_a_transformation():
  for case in models.cases():
    assert case.optax_name is None or case.optax_name in models.OPTAX
    assert callable(case.ours().update)


@pytest.mark.parametrize(
  "argv",
  [
    ["--trees", "cnn"],
    ["--cases", "adamm"],
    ["--dtypes", "float16"],
    ["--repeats", "0"],
    ["--placements", "0"],
  ],
)
def test_bad_arguments_exit_2(argv, capsys):
  with pytest.raises(SystemExit) as exit_info:
    models.parse_args(argv)
  assert exit_info.value.code == 2
  assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_tree_shapes():
  assert len(models.transformer_shapes(16)) == 148
  assert sum(math.prod(s) for s in models.wide_shapes(10_000_000).values()) == 10_000_000
  assert len(models.wide_shapes(10_000_000)) == 20


def test_a_ratio_beyond_its_target_is_measured_again(monkeypatch):
  monkeypatch.setattr(models, "TIME_TARGET", 0.0)  # every time ratio is beyond it
  monkeypatch.setattr(models, "COMPILE_TARGET", 0.0)
  (case,) = [c for c in models.cases() if c.name == "adam"]
  lines: list[str] = []
  for tree in ("wide", "transformer"):
    result = models.run_tree(
      tree, {"w": (8, 8)}, "float32", [case], 1, True, lines.append, placements=2
    )
    (row,) = result["cases"]
    expected = {"time/optax"} | ({"compile/optax"} if tree == "transformer" else set())
    assert set(row["first_series_ratios"]) == expected
    assert all(v > 0 for v in row["first_series_ratios"].values())
  assert "(time/optax" in lines[-1] and "in the first series)" in lines[-1]


def test_rounds_go_back_and_forth():
  order: list[str] = []
  runners = {name: (lambda name=name: order.append(name) or 1.0) for name in "abc"}
  times = common.back_and_forth(runners, 3)
  assert order == list("abccbaabc")
  assert times == {name: [1.0] * 3 for name in "abc"}


def test_the_time_ratio_is_the_median_over_side_by_side_pairs():
  # Placement 0 is paired round by round (a slow round slows both sides); placement 1 too.
  ours = [[2.0, 4.0, 2.2], [1.0, 1.1, 0.9]]
  theirs = [[2.0, 3.0, 2.0], [1.0, 1.0, 1.0]]
  # Pair ratios 1, 4/3, 1.1, 1, 1.1, 0.9: the median of six is the mean of 1 and 1.1.
  assert common.paired_ratio(ours, theirs) == pytest.approx(1.05)
  # Not the ratio of the minimums (0.9 / 1.0), which come from runs that were not side by side.
  assert min(min(r) for r in ours) / min(min(r) for r in theirs) == pytest.approx(0.9)
  with pytest.raises(ValueError):  # Rounds without a partner.
    common.paired_ratio([[1.0]], [[1.0, 2.0]])


def test_the_control_row_has_no_target():
  rows = {c.name: c for c in models.cases()}
  assert rows["control"].control and not rows["adam"].control
  result = models.run_tree(
    "wide",
    {"w": (8, 8)},
    "float32",
    [rows["control"], rows["adam"]],
    2,
    True,
    print,
    placements=2,
  )
  control, adam = result["cases"]
  assert control["control"] and not adam["control"]
  assert len(control["placement_time_ratios"]) == len(adam["placement_time_ratios"]) == 2
  assert {t["case"] for t in models.targets([result])} == {"adam"}
