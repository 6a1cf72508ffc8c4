"""Smoke test of ``python -m benchmarks`` at tiny sizes: structure and agreement, no timings."""

import json
import math
import pathlib
import shutil

import pytest

from benchmarks import __main__ as cli
from benchmarks import baselines
from benchmarks import online

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc for the C loop")

STEPS = 20_000


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
  out = tmp_path_factory.mktemp("bench") / "results.json"
  assert cli.main(["--steps", str(STEPS), "--quick", "--no-plots", "--out", str(out)]) == 0
  return json.loads(pathlib.Path(out).read_text())


def _is_row(row: dict) -> bool:
  return (
    isinstance(row["name"], str)
    and row["ns_per_step"] > 0
    and row["steps_per_second"] > 0
    and row["ratio_to_fastest"] >= 1.0
    and len(row["repeat_seconds"]) >= 1
  )


def test_json_structure(results):
  assert set(results) >= {"machine", "args", "online", "sweep", "scaling", "targets"}
  assert results["machine"]["nproc"] >= 1
  for algo in online.ALGOS:
    res = results["online"][algo]
    assert res["steps"] == STEPS
    names = {row["name"] for row in res["entries"]}
    assert {"jaxopt_fix", "optax", "hand-rolled JAX", baselines.C_NAME} <= names
    assert all(_is_row(row) for row in res["entries"])
    assert min(row["ratio_to_fastest"] for row in res["entries"]) == 1.0
    assert {"jaxopt_fix/C", "optax/C"} <= set(res["ratios"])
  assert all(_is_row(row) for row in results["sweep"]["entries"])
  for series in ("steps", "configs"):
    for point in results["scaling"][series]:
      assert "error" not in point, point
      assert point["peak_rss_mb"] >= point["peak_rss_mb_after_import"] > 0
  models = json.loads(pathlib.Path(results["models"]).read_text())  # written in the same run
  assert [tree["tree"] for tree in models["trees"]] == ["wide"]
  assert len(results["targets"]) == 5
  assert all(isinstance(t["pass"], bool) and t["ratio"] > 0 for t in results["targets"])


@pytest.mark.parametrize("algo", online.ALGOS)
def test_c_loop_agrees_with_jax(results, algo):
  rows = {row["name"]: row for row in results["online"][algo]["entries"]}
  x_jax = rows["jaxopt_fix"]["x_final"]
  assert math.isfinite(x_jax) and -1.0 <= x_jax <= 1.0
  for name in (baselines.C_NAME, "C, bias corrections every step", "hand-rolled JAX"):
    assert rows[name]["x_final"] == pytest.approx(x_jax, abs=1e-5), name


def test_sweep_agrees_with_hand_rolled(results):
  assert results["sweep"]["x_final_max_abs_diff_jaxopt_fix_vs_hand"] <= 1e-5
