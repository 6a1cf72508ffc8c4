"""A run of ``python -m experiments.reddi`` from its configuration: :func:`train_and_evaluate`.

All the optimizers of the configuration run in one compiled program
(:func:`experiments.reddi.simulation.simulate`), from the last checkpoint under
``resume``. With an output directory, a checkpoint of all their states is saved
after each chunk in ``out/checkpoints`` (next to the manifest, the
configuration it belongs to), and the run writes ``results.json``,
``trajectory.csv`` and ``figure1.png``.

Example:
  >>> from experiments.reddi import config
  >>> runs = train_and_evaluate(config.RunConfig(steps=2020, record_every=101,
  ...                                            optimizers=("adam",), progress=False))
  ... # doctest: +ELLIPSIS
  online problem, T = 2,020 steps, indexing 'zero', lr 0.01, betas (0.9, 0.99), float32
  optimizer      variant                x_T     R_T/T
  adam           optax             +0.39960   0.39960
  1 optimizer in one compiled program: ... s, plus ... s compiling
  >>> int(runs["adam"].t[-1])
  2020
"""

from collections.abc import Callable
from collections.abc import Sequence
import functools
import pathlib
from typing import Any

import jax
import jax.numpy as jnp

from experiments import cli
from experiments import files
from experiments.reddi import checkpoint
from experiments.reddi import config as configs
from experiments.reddi import optimizers
from experiments.reddi import outputs
from experiments.reddi import presets
from experiments.reddi import problems
from experiments.reddi import simulation


def progress_bar(config: configs.RunConfig, done: int):
  """A tqdm bar over the steps (rate and ETA) if the run has several chunks left, else None."""
  if not config.progress or config.steps <= config.chunk_steps or done == config.steps:
    return None
  import tqdm  # Only long runs need it.

  names = config.optimizers
  return tqdm.tqdm(
    total=config.steps,
    initial=done,
    desc=names[0] if len(names) == 1 else f"{len(names)} optimizers",
    unit="step",
    unit_scale=True,
    leave=False,
    disable=None,
    smoothing=0.1,
  )


def _save(path: pathlib.Path, manifest: dict[str, Any], snapshot: simulation.Snapshot) -> None:
  with cli.writing(path):
    checkpoint.save(path, snapshot, manifest)


def _simulate(config: configs.RunConfig) -> dict[str, simulation.OnlineRun]:
  """Runs the configuration, saving a checkpoint after each chunk when it has an ``out``."""
  txs = config.transformations()
  problem = config.definition
  dtype = jnp.dtype(config.dtype)
  snapshot: simulation.Snapshot | None = None
  on_chunk: Callable[[simulation.Snapshot], None] | None = None
  if config.checkpoints is not None:
    path = config.checkpoints / configs.STATE
    manifest = config.manifest()
    if config.resume and path.exists():
      template = simulation.initial_snapshot(txs, problem, config.steps, config.record_every, dtype)
      snapshot = checkpoint.load(path, template, manifest)
    on_chunk = functools.partial(_save, path, manifest)

  done = 0 if snapshot is None else snapshot.records_done * config.record_every
  bar = progress_bar(config, done)
  try:
    return simulation.simulate(
      txs,
      problem,
      config.steps,
      config.record_every,
      dtype,
      chunk_steps=config.chunk_steps,
      progress=None if bar is None else bar.update,
      resume_from=snapshot,
      on_chunk=on_chunk,
    )
  finally:
    if bar is not None:
      bar.close()


def summary(config: configs.RunConfig, name: str, run: simulation.OnlineRun) -> dict[str, Any]:
  """One optimizer's entry in ``results.json``."""
  optimizer = optimizers.get_optimizer(name)
  entry: dict[str, Any] = {
    "optimizer": name,
    "variant": optimizer.variant,
    "eps": optimizer.eps_or_default(config.eps),
    "x_final": run.x_final,
    "avg_regret_final": run.avg_regret_final,
    "seconds": run.run_seconds,
    "compile_seconds": run.compile_seconds,
  }
  if run.x.ndim == 2:
    entry["x_final_per_seed"] = run.x[-1].tolist()
    entry["avg_regret_final_per_seed"] = run.avg_regret[-1].tolist()
  return entry


def table(summaries: Sequence[dict[str, Any]]) -> str:
  """The printed table: per optimizer x_T and R_T / T, then the program's wall time."""
  width = max(14, *(len(str(entry["optimizer"])) for entry in summaries))
  lines = [f"{'optimizer':<{width}} {'variant':<16} {'x_T':>9} {'R_T/T':>9}"]
  for entry in summaries:
    lines.append(
      f"{entry['optimizer']:<{width}} {entry['variant']:<16} {entry['x_final']:>+9.5f}"
      f" {entry['avg_regret_final']:>9.5f}"
    )
  lines.append(
    f"{len(summaries)} optimizer{'s' * (len(summaries) > 1)} in one compiled program:"
    f" {summaries[0]['seconds']:.2f} s, plus {summaries[0]['compile_seconds']:.2f} s compiling"
  )
  return "\n".join(lines)


def seed_comparison(config: configs.RunConfig) -> dict[str, Any]:
  """The first ``config.check_seed`` steps of the run and of the preset seed's own torch code,
  compared step by step (:func:`experiments.reddi.presets.compare`)."""
  assert config.preset is not None
  steps = config.check_seed
  with jax.enable_x64(config.dtype == "float64"):
    ours = problems.run_online(
      config.transformations(), steps, 1, config.indexing, jnp.dtype(config.dtype)
    )
  seed = presets.seed_trajectories(config.preset, steps, config.dtype)
  return presets.compare({name: run.x for name, run in ours.items()}, seed, config.dtype)


def _vs_seed(config: configs.RunConfig, runs: dict[str, simulation.OnlineRun]) -> dict[str, Any]:
  """With a preset: prints and returns the claims table, and the seed comparison if asked."""
  if config.preset is None:
    return {}
  preset = presets.PRESETS[config.preset]
  rows = presets.claims_table(preset, {name: run.x_final for name, run in runs.items()})
  print(presets.format_claims(preset, rows))
  seed: dict[str, Any] = {"seed_claims": rows}
  if config.check_seed:
    seed["seed_comparison"] = seed_comparison(config)
    print(presets.format_comparison(seed["seed_comparison"]))
  return seed


def train_and_evaluate(config: configs.RunConfig) -> dict[str, simulation.OnlineRun]:
  """Runs ``config``, prints its table and writes its outputs and checkpoints.

  Returns:
    The run of each optimizer, by name.

  Raises:
    CheckpointError: (a :class:`~experiments.cli.UsageError`) if the manifest or
      the checkpoint in ``out`` is damaged or belongs to another configuration.
    OutputError: if ``out`` cannot be written or another run holds it (before anything
      is computed).
    WriteError: if a checkpoint or an output cannot be written.
  """
  with files.run_directory(config.out):
    return _train_and_evaluate(config)


def _train_and_evaluate(config: configs.RunConfig) -> dict[str, simulation.OnlineRun]:
  manifest = config.manifest()
  if config.checkpoints is not None:
    path = config.checkpoints / configs.MANIFEST
    with cli.writing(config.checkpoints):
      config.checkpoints.mkdir(parents=True, exist_ok=True)
      if not (config.resume and path.exists()):
        files.write_json(path, manifest)
    checkpoint.check_manifest(path, manifest)

  with jax.enable_x64(config.dtype == "float64"):
    runs = _simulate(config)
  summaries = [summary(config, name, run) for name, run in runs.items()]
  print(config.description())
  print(table(summaries))
  seed = _vs_seed(config, runs)

  if config.out is not None:
    names = ("results.json", "trajectory.csv", "figure1.png")
    with cli.writing(config.out), files.output_set(config.out) as staging:
      files.write_json(staging / names[0], config.results(summaries, **seed))
      outputs.write_trajectory(staging / names[1], runs)
      outputs.write_figure(staging / names[2], runs, config.title())
    print(f"wrote {', '.join(str(config.out / name) for name in names)}")
  return runs
