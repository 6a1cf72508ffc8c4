"""Checkpoints of :class:`~experiments.reddi.simulation.Snapshot`: atomic, verified on load.

A checkpoint is an uncompressed ``.npz`` file holding the snapshot's arrays (the
leaves of :meth:`Snapshot.tree <experiments.reddi.simulation.Snapshot.tree>`, as
``leaf_0``, ``leaf_1``, ...) and a JSON header ``meta``: the format version,
the run's configuration, the tree structure, every leaf's shape and dtype, the
number of record points done, the run time so far, and a SHA-256 of the rest of
the header and the leaves' bytes (so that no header field changes unnoticed
either). It is written with :func:`experiments.files.replacing`, so an
interruption at any point leaves the previous checkpoint intact. Loading checks
everything against the configuration and the fresh snapshot of the run being
resumed; any difference or damage raises :class:`CheckpointError`, never a
silent restart.

Example:
  >>> import pathlib, tempfile
  >>> from experiments.reddi import optimizers, problems, simulation
  >>> txs = {"adam": optimizers.OPTIMIZERS["adam"](lr=1e-2)}
  >>> config = {"problem": "online", "steps": 2020}
  >>> path = pathlib.Path(tempfile.mkdtemp()) / "state.npz"
  >>> runs = problems.run_online(txs, 2020, 101, chunk_steps=1010,
  ...                            on_chunk=lambda snapshot: save(path, snapshot, config))
  >>> template = simulation.initial_snapshot(txs, problems.Online(), 2020, 101)
  >>> load(path, template, config).records_done
  20
  >>> load(path, template, {**config, "steps": 4040})
  Traceback (most recent call last):
  ...
  experiments.reddi.checkpoint.CheckpointError: ... steps is 2020 in the checkpoint, 4040 here
"""

from collections.abc import Mapping
import hashlib
import json
import pathlib
from typing import Any
import zipfile

import jax
import numpy as np

from experiments import cli
from experiments import files
from experiments.reddi import simulation

FORMAT = 3
"""The version of the file layout, stored in the header."""


class CheckpointError(cli.UsageError):
  """A checkpoint cannot be read, or does not belong to the run being resumed."""


def _digest(header: Mapping[str, Any], leaves: list[np.ndarray]) -> str:
  """The SHA-256 of the header (but its ``sha256``) and of the leaves' bytes."""
  sha = hashlib.sha256()
  rest = {key: value for key, value in header.items() if key != "sha256"}
  sha.update(json.dumps(rest, sort_keys=True, allow_nan=False).encode())
  for leaf in leaves:
    sha.update(np.ascontiguousarray(leaf).tobytes())
  return sha.hexdigest()


def _leaves(snapshot: simulation.Snapshot) -> tuple[list[np.ndarray], Any]:
  leaves, treedef = jax.tree.flatten(snapshot.tree())
  return [np.asarray(leaf) for leaf in leaves], treedef


def _normalized(config: Mapping[str, Any]) -> dict[str, Any]:
  """``config`` as it reads back from JSON (tuples become lists, keys strings)."""
  return json.loads(json.dumps(dict(config)))


def save(path: pathlib.Path, snapshot: simulation.Snapshot, config: Mapping[str, Any]) -> None:
  """Writes ``snapshot`` and ``config`` to ``path`` atomically.

  Args:
    path: The checkpoint file; its directory must exist.
    snapshot: What to save.
    config: The run's configuration (JSON-serialisable), checked on load.
  """
  leaves, treedef = _leaves(snapshot)
  meta = {
    "format": FORMAT,
    "config": _normalized(config),
    "treedef": str(treedef),
    "leaves": [[list(leaf.shape), leaf.dtype.str] for leaf in leaves],
    "records_done": snapshot.records_done,
    "run_seconds": snapshot.run_seconds,
  }
  meta["sha256"] = _digest(meta, leaves)
  arrays: dict[str, Any] = {f"leaf_{i}": leaf for i, leaf in enumerate(leaves)}
  arrays["meta"] = np.array(json.dumps(meta, allow_nan=False))
  with files.replacing(path) as temporary, temporary.open("wb") as file:
    np.savez(file, **arrays)


def _read(path: pathlib.Path) -> tuple[dict[str, Any], list[np.ndarray]]:
  """The header and the leaves of the file, or CheckpointError if it is unreadable."""
  try:
    with path.open("rb") as file:
      data = np.load(file, allow_pickle=False)
      if not isinstance(data, np.lib.npyio.NpzFile):
        raise CheckpointError("it is not an npz archive")
      with data:
        meta = json.loads(str(data["meta"][()]))
        if not isinstance(meta, dict) or not isinstance(meta.get("leaves"), list):
          raise CheckpointError("its header is malformed")
        leaves = [data[f"leaf_{i}"] for i in range(len(meta["leaves"]))]
  except CheckpointError:
    raise
  except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as error:
    raise CheckpointError(f"it is unreadable ({type(error).__name__}: {error})") from error
  return meta, leaves


def _difference(got: Mapping[str, Any], expected: Mapping[str, Any]) -> str | None:
  """The first configuration entry that differs, described, or None."""
  for key in sorted(set(got) | set(expected)):
    if got.get(key) != expected.get(key):
      return f"{key} is {got.get(key)!r} in the checkpoint, {expected.get(key)!r} here"
  return None


def load(
  path: pathlib.Path, template: simulation.Snapshot, config: Mapping[str, Any]
) -> simulation.Snapshot:
  """Reads the checkpoint at ``path`` and checks it against the run to resume.

  Args:
    path: The checkpoint file.
    template: The fresh snapshot of the run being resumed
      (:func:`~experiments.reddi.simulation.initial_snapshot`): the checkpoint's
      tree structure, shapes and dtypes must be the same.
    config: The run's configuration: must equal the saved one.

  Returns:
    The saved snapshot, with the template's tree structure.

  Raises:
    CheckpointError: if the file is unreadable or damaged, or was written by
      a different configuration or for a differently shaped state.
  """
  try:
    return _load(path, template, config)
  except CheckpointError as error:
    raise CheckpointError(f"checkpoint {path}: {error}") from error


def _load(
  path: pathlib.Path, template: simulation.Snapshot, config: Mapping[str, Any]
) -> simulation.Snapshot:
  meta, leaves = _read(path)
  if meta.get("format") != FORMAT:
    raise CheckpointError(f"format {meta.get('format')!r}, expected {FORMAT}")
  difference = _difference(meta.get("config", {}), _normalized(config))
  if difference is not None:
    raise CheckpointError(f"written by another configuration: {difference}")
  expected_leaves, treedef = _leaves(template)
  if meta.get("treedef") != str(treedef) or len(leaves) != len(expected_leaves):
    raise CheckpointError("its state has another tree structure than this run's")
  for i, (leaf, expected) in enumerate(zip(leaves, expected_leaves, strict=True)):
    if leaf.shape != expected.shape or leaf.dtype != expected.dtype:
      raise CheckpointError(
        f"leaf {i} is {leaf.dtype}{list(leaf.shape)}, this run's is"
        f" {expected.dtype}{list(expected.shape)}"
      )
  if meta.get("sha256") != _digest(meta, leaves):
    raise CheckpointError("its contents do not match their checksum (damaged file)")
  records_done, run_seconds = meta.get("records_done"), meta.get("run_seconds")
  if not isinstance(records_done, int) or not isinstance(run_seconds, int | float):
    raise CheckpointError("its header is malformed")
  tree = jax.tree.unflatten(treedef, leaves)
  tree["state"] = jax.tree.map(jax.numpy.asarray, tree["state"])
  snapshot = template.replace_tree(tree, records_done, float(run_seconds))
  try:
    simulation.check_snapshot(snapshot, template)
  except ValueError as error:
    raise CheckpointError(str(error).rstrip(".")) from error
  return snapshot


def check_manifest(path: pathlib.Path, config: Mapping[str, Any]) -> None:
  """Checks that the JSON file at ``path`` holds ``config`` (as :func:`experiments.files.write_json`
  wrote it).

  Raises:
    CheckpointError: if it is unreadable or holds another configuration.
  """
  try:
    saved = json.loads(path.read_text())
  except (OSError, ValueError) as error:
    raise CheckpointError(f"{path}: unreadable ({type(error).__name__}: {error})") from error
  if not isinstance(saved, dict):
    raise CheckpointError(f"{path}: malformed")
  difference = _difference(saved, _normalized(config))
  if difference is not None:
    raise CheckpointError(f"{path}: written by another configuration: {difference}")
