"""Speed benchmarks of jaxopt_fix: ``python -m benchmarks [--quick] [--long] [--steps N]``.

1. The online problem, one run of ``--steps`` steps (default 10M), Adam and
   AMSGrad: jaxopt_fix, optax and a hand-rolled JAX loop inside the same
   ``lax.scan``, a C loop built with ``gcc -O3 -march=native`` (the hardware
   limit), torch eager (timed on ``--torch-steps`` steps, extrapolated) and
   ``torch.compile``; plus a diagnosis of where jaxopt_fix's time goes
   (variants of the hand-rolled loop).
2. A vmapped (β1, β2) sweep, ``--sweep-configs`` x ``--sweep-steps``.
3. Compile time, run time and peak RSS as steps and configurations grow, one
   subprocess per point.
4. ``models``: the update on pytrees shaped like real models, against optax and torch
   (``python -m benchmarks models --help`` runs it alone; here it writes ``models.json``
   next to ``--out``; with ``--quick``, Adam on one tiny tree).

Every figure is the minimum over ``--repeats`` interleaved repeats and is
printed with its ratio to the fastest competitor of its table: the machine is
shared, so only ratios measured side by side mean anything. Writes
``--out`` (default :data:`DEFAULT_OUT`, outside the repository) and, unless
``--no-plots``, ``scaling.png`` next to it, as one set (:func:`experiments.files.output_set`);
``--update-committed`` writes the committed ``benchmarks/results.json`` and
``scaling.png`` instead, on purpose. A bad argument, or an output directory that cannot be
written, prints one line and exits with status 2 before anything is measured.
"""

import argparse
from collections.abc import Sequence
import math
import pathlib
import sys
import tempfile
import time
from typing import Any

from benchmarks import common
from benchmarks import models
from benchmarks import online
from benchmarks import scaling
from benchmarks import sweep
from experiments import cli
from experiments import files

HERE = pathlib.Path(__file__).resolve().parent
DEFAULT_OUT = pathlib.Path(tempfile.gettempdir()) / "jaxopt_fix-benchmarks" / "results.json"
"""Where a run writes without ``--out``: never over the committed numbers."""
PROG = "python -m benchmarks"
C_TARGET = 2.0
"""The target: the library's step within this factor of the C loop's."""
SWEEP_NOISE = 1.05
"""The sweep target "at least as fast as hand-rolled" passes up to this ratio (timing noise)."""


def _output_file(text: str) -> pathlib.Path:
  if not text.strip() or text.endswith("/"):
    raise argparse.ArgumentTypeError(f"must name a file, got {text!r}")
  return pathlib.Path(text)


def _check_ranges(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
  for name in ("steps", "torch_steps", "repeats", "sweep_configs", "sweep_steps"):
    if getattr(args, name) < 1:
      parser.error(f"argument --{name.replace('_', '-')}: must be >= 1, got {getattr(args, name)}")
  timeout = args.torch_compile_timeout
  if not (math.isfinite(timeout) and timeout >= 0):
    parser.error(f"argument --torch-compile-timeout: must be finite and >= 0, got {timeout}")
  if args.update_committed and args.out is not None:
    parser.error("argument --update-committed: not allowed with argument --out")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
  parser = cli.OneLineErrorParser(prog=PROG, description=(__doc__ or "").split("\n")[0])
  parser.add_argument("--steps", type=int, default=10_000_000, help="online run length")
  parser.add_argument("--torch-steps", type=int, default=20_000, help="torch steps timed")
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--sweep-configs", type=int, default=1024)
  parser.add_argument("--sweep-steps", type=int, default=100_000)
  parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
  parser.add_argument("--long", action="store_true", help="add 1e8 steps and 16384 configs")
  parser.add_argument(
    "--torch-compile-timeout", type=float, default=300.0, help="seconds; 0 skips torch.compile"
  )
  parser.add_argument("--no-scaling", action="store_true")
  parser.add_argument("--no-plots", action="store_true")
  parser.add_argument(
    "--out", type=_output_file, default=None, help=f"the results file (default: {DEFAULT_OUT})"
  )
  parser.add_argument(
    "--update-committed",
    action="store_true",
    help="write the committed benchmarks/results.json and scaling.png",
  )
  args = parser.parse_args(argv)
  _check_ranges(parser, args)
  if args.out is None:
    args.out = HERE / "results.json" if args.update_committed else DEFAULT_OUT
  if args.quick:
    args.repeats = min(args.repeats, 2)
    args.torch_steps = min(args.torch_steps, 200)
    args.sweep_configs = min(args.sweep_configs, 64)
    args.sweep_steps = min(args.sweep_steps, 2_000)
    args.torch_compile_timeout = 0.0
  return args


def _fmt_ns(ns: float) -> str:
  return f"{ns / 1e3:,.1f} us" if ns >= 1e4 else f"{ns:.2f} ns"


def print_table(title: str, rows: list[dict[str, Any]], unit: str = "step") -> None:
  print(f"\n== {title}")
  header = f"{'per ' + unit:>12s} {unit + 's/s':>12s} {'x fastest':>10s} {'compile':>9s}  x_T"
  print(f"  {'':42s} {header}")
  for row in rows:
    compile_s = row["compile_seconds"]
    compile_text = "" if compile_s is None else f"{compile_s:.2f} s"
    x = row["x_final"]
    x_text = "" if x is None else f"{x:+.6f}"
    print(
      f"  {row['name']:42s} {_fmt_ns(row['ns_per_step']):>12s} {row['steps_per_second']:12.3g}"
      f" {row['ratio_to_fastest']:10.2f} {compile_text:>9s}  {x_text}  {row['note']}"
    )


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
  out = []
  for algo in online.ALGOS:
    for impl in ("jaxopt_fix", "optax"):
      ratio = results["online"][algo]["ratios"][f"{impl}/C"]
      out.append(
        {
          "target": f"{algo}: {impl} within {C_TARGET:g}x of C",
          "ratio": ratio,
          "pass": ratio <= C_TARGET,
        }
      )
  ratio = results["sweep"]["ratios"]["jaxopt_fix/hand-rolled"]
  out.append(
    {
      "target": f"sweep: jaxopt_fix at least as fast as hand-rolled (ratio <= {SWEEP_NOISE})",
      "ratio": ratio,
      "pass": ratio <= SWEEP_NOISE,
    }
  )
  return out


def main(argv: Sequence[str] | None = None) -> int:
  """Parses ``argv``, measures, prints and writes; returns the exit status."""
  argv = sys.argv[1:] if argv is None else list(argv)
  if argv[:1] == ["models"]:
    return models.main(argv[1:])
  args = parse_args(argv)
  return common.in_run_directory(PROG, args.out.parent, lambda: _main(args))


def _main(args: argparse.Namespace) -> int:
  start = time.perf_counter()
  results: dict[str, Any] = {"machine": common.machine(), "args": {}}
  results["args"] = {k: str(v) if isinstance(v, pathlib.Path) else v for k, v in vars(args).items()}
  print(
    f"machine: {results['machine']['nproc']} cores, {results['machine']['cpu']}; "
    f"jax {results['machine']['jax']}, torch {results['machine']['torch']}"
  )

  results["online"] = {}
  for algo in online.ALGOS:
    res = online.compare(
      algo,
      args.steps,
      args.torch_steps,
      args.repeats,
      torch_compile_timeout=args.torch_compile_timeout,
    )
    results["online"][algo] = res
    print_table(
      f"online problem, {algo}, {args.steps:,} steps (min of {args.repeats})", res["entries"]
    )
    if "torch_compile" in res and "error" in res["torch_compile"]:
      print(f"  torch.compile: {res['torch_compile']['error']}")
    print("  ratios: " + ", ".join(f"{k} {v:.2f}" for k, v in res["ratios"].items()))

  results["diagnosis"] = {}
  for algo in () if args.quick else online.ALGOS:
    diag = online.diagnose(algo, args.steps, args.repeats)
    results["diagnosis"][algo] = diag
    print_table(f"diagnosis, {algo}: where the JAX step's time goes", diag["entries"])
  results["bias_correction_error"] = online.bias_correction_error()

  res = sweep.compare(args.sweep_configs, args.sweep_steps, args.repeats)
  results["sweep"] = res
  print_table(
    f"sweep, {args.sweep_configs} (b1, b2) configs x {args.sweep_steps:,} steps, AMSGrad",
    res["entries"],
    unit="config-step",
  )

  if not args.no_scaling:
    if args.quick:
      steps_list, configs_list, config_steps = [args.steps], [16], 1000
    else:
      steps_list = [100_000, 1_000_000, 10_000_000] + ([100_000_000] if args.long else [])
      configs_list = [1, 16, 256, 4096] + ([16384] if args.long else [])
      config_steps = args.sweep_steps
    impls = ("jaxopt_fix",) if args.quick else ("jaxopt_fix", "hand-rolled")
    sc = scaling.run(steps_list, configs_list, config_steps, impls)
    results["scaling"] = sc
    for series, label in (("steps", "steps"), ("configs", f"configs ({config_steps:,} steps)")):
      print(f"\n== scaling with {label}, AMSGrad, one subprocess per point")
      print(
        f"  {'impl':12s} {'size':>11s} {'compile':>8s} {'run':>9s} {'per step':>10s}"
        f" {'vs smallest':>11s} {'CPU/step':>10s} {'vs smallest':>11s}"
        f" {'peak RSS':>9s} {'(import)':>9s}"
      )
      for p in sc[series]:
        if "error" in p:
          print(f"  {p['impl']:12s} {p[series]:11,d} error: {p['error']}")
          continue
        print(
          f"  {p['impl']:12s} {p[series]:11,d} {p['compile_seconds']:7.2f}s"
          f" {p['run_seconds']:8.3f}s"
          f" {_fmt_ns(p['ns_per_step']):>10s} {p['ns_per_step_vs_smallest']:11.2f}"
          f" {_fmt_ns(p['cpu_ns_per_step']):>10s} {p['cpu_ns_per_step_vs_smallest']:11.2f}"
          f" {p['peak_rss_mb']:7.0f}MB {p['peak_rss_mb_after_import']:7.0f}MB"
        )

  models_argv = ["--out", str(args.out.with_name("models.json"))] + (
    ["--no-plot"] if args.no_plots else []
  )
  if args.quick:
    models_argv += ["--quick", "--trees", "wide", "--dtypes", "float32", "--cases", "adam"]
  # In this run's locked directory (models.main would try to take the same lock and refuse).
  status = models.measure_and_write(models.parse_args(models_argv))
  if status != 0:
    return status
  results["models"] = str(args.out.with_name("models.json"))

  results["targets"] = targets(results)
  print("\n== targets")
  for t in results["targets"]:
    print(f"  {'PASS' if t['pass'] else 'FALL SHORT':10s} {t['target']}: ratio {t['ratio']:.2f}")
  results["total_seconds"] = time.perf_counter() - start
  with cli.writing(args.out.parent), files.output_set(args.out.parent) as staging:
    if "scaling" in results and not args.no_plots:
      try:
        scaling.plot(results["scaling"], staging / "scaling.png")
      except ImportError as e:
        print(f"  (no plot: {e})")
    files.write_json(staging / args.out.name, results, indent=1)
  print(f"\nwrote {args.out} in {results['total_seconds']:.0f} s")
  return 0


if __name__ == "__main__":
  sys.exit(main())
