"""Tests of :mod:`experiments.reddi.checkpoint`: atomic writes, damage and other runs detected."""

import dataclasses
import functools
import pathlib

import numpy as np
import pytest

from experiments import testing
from experiments.reddi import checkpoint
from experiments.reddi import optimizers
from experiments.reddi import problems
from experiments.reddi import simulation

LR = 1e-2
_run_online = functools.partial(testing.alone, problems.run_online)
_rewrite = testing.rewrite_npz
_set_meta = testing.set_meta


def _template(txs, steps: int) -> simulation.Snapshot:
  """The fresh snapshot of an online run recording every 101 steps."""
  return simulation.initial_snapshot(txs, problems.Online(), steps, 101)


@pytest.fixture(scope="module")
def _checkpoint_bytes(tmp_path_factory) -> bytes:
  """The checkpoint of a finished 2020-step Adam run (computed once)."""
  path = tmp_path_factory.mktemp("checkpoint") / "state.npz"
  _run_online(
    optimizers.OPTIMIZERS["adam"](LR),
    2020,
    101,
    chunk_steps=505,
    on_chunk=lambda s: checkpoint.save(path, s, _CHECKPOINT_CONFIG),
  )
  return path.read_bytes()


_CHECKPOINT_CONFIG = {"problem": "online", "steps": 2020, "lr": LR}


@pytest.fixture
def _saved_checkpoint(
  tmp_path, _checkpoint_bytes
) -> tuple[pathlib.Path, simulation.Snapshot, dict]:
  path = tmp_path / "state.npz"
  path.write_bytes(_checkpoint_bytes)
  return (
    path,
    _template({"adam": optimizers.OPTIMIZERS["adam"](LR)}, 2020),
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
    # Every header field is covered by the checksum, the run time too.
    (lambda path: _rewrite(path, lambda a: _set_meta(a, records_done=7)), "checksum"),
    (lambda path: _rewrite(path, lambda a: _set_meta(a, records_done="7")), "checksum"),
    (lambda path: _rewrite(path, lambda a: _set_meta(a, run_seconds=1e9)), "checksum"),
    (
      lambda path: _rewrite(path, lambda a: _set_meta(a, treedef="?")),
      "tree structure",
    ),
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
  amsgrad = _template({"amsgrad": optimizers.OPTIMIZERS["amsgrad"](LR)}, 2020)
  with pytest.raises(checkpoint.CheckpointError, match="tree structure"):
    checkpoint.load(path, amsgrad, config)
  longer = _template({"adam": optimizers.OPTIMIZERS["adam"](LR)}, 4040)
  with pytest.raises(checkpoint.CheckpointError, match="leaf"):
    checkpoint.load(path, longer, config)
