"""Writing the experiments' files atomically: a reader sees the old file or the new one, whole;
and a run's set of files replaces the previous run's set as a whole.

Every command line with an output directory runs inside :func:`run_directory` (created, probed
for writing and locked against a concurrent run before anything is computed) and writes its
outputs through :func:`output_set`.
"""

from collections.abc import Iterator
import contextlib
import fcntl
import hashlib
import json
import math
import os
import pathlib
import shutil
import tempfile
from typing import Any

LOCK = ".lock"
"""The lock file a run holds in its output directory (``fcntl.flock``, exclusive)."""

_STAGING = ".staging-"
_COMMIT = "COMMIT"


class OutputError(Exception):
  """An output directory that cannot be used: missing rights, or held by another run."""


@contextlib.contextmanager
def replacing(path: pathlib.Path) -> Iterator[pathlib.Path]:
  """A temporary path next to ``path`` that replaces ``path`` if the block succeeds.

  The block writes the temporary file; it is then flushed to disk and moved onto
  ``path`` with ``os.replace``, so an interruption at any point (including
  KeyboardInterrupt) leaves ``path`` as it was and no temporary file behind.

  Example:
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "table.csv"
    >>> with replacing(path) as temporary:
    ...   _ = temporary.write_text("t,x\\n")
    >>> path.read_text(), [p.name for p in path.parent.iterdir()]
    ('t,x\\n', ['table.csv'])
  """
  descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
  os.close(descriptor)
  try:
    yield pathlib.Path(temporary)
    descriptor = os.open(temporary, os.O_RDWR)
    try:
      os.fsync(descriptor)
    finally:
      os.close(descriptor)
    os.chmod(temporary, 0o644)  # mkstemp's files are private.
    os.replace(temporary, path)
  except BaseException:
    pathlib.Path(temporary).unlink(missing_ok=True)
    raise


def strict(value: Any) -> Any:
  """``value`` with every non-finite float replaced by ``None`` (JSON has no NaN or infinity).

  Example:
    >>> strict({"x": [1.0, float("nan")], "y": float("-inf")})
    {'x': [1.0, None], 'y': None}
  """
  if isinstance(value, float) and not math.isfinite(value):
    return None
  if isinstance(value, dict):
    return {key: strict(item) for key, item in value.items()}
  if isinstance(value, list | tuple):
    return [strict(item) for item in value]
  return value


def _non_finite(value: Any, where: str = "") -> dict[str, str]:
  if isinstance(value, float) and not math.isfinite(value):
    return {where or "/": repr(value)}
  found: dict[str, str] = {}
  if isinstance(value, dict | list | tuple):
    for key, item in value.items() if isinstance(value, dict) else enumerate(value):
      found.update(_non_finite(item, f"{where}/{key}"))
  return found


def json_text(value: Any, indent: int = 2) -> str:
  """``value`` as strict JSON (and a final newline): a non-finite float becomes ``null``, and a
  dict gains ``"non_finite"``, the JSON pointer of each such value and what it was.

  Example:
    >>> print(json_text({"loss": float("nan"), "x": 1.0}, indent=None), end="")
    {"loss": null, "x": 1.0, "non_finite": {"/loss": "nan"}}
  """
  found = _non_finite(value)
  if found and isinstance(value, dict):
    value = {**value, "non_finite": found}
  return json.dumps(strict(value), indent=indent, allow_nan=False) + "\n"


def write_json(path: pathlib.Path, value: Any, indent: int = 2) -> None:
  """Writes ``value`` as strict JSON (:func:`json_text`) to ``path`` atomically."""
  text = json_text(value, indent)
  with replacing(path) as temporary:
    temporary.write_text(text)


def sha256(path: pathlib.Path) -> str:
  """The SHA-256 of the file at ``path``, in hex."""
  return hashlib.sha256(path.read_bytes()).hexdigest()


def _fsync_directory(directory: pathlib.Path) -> None:
  descriptor = os.open(directory, os.O_RDONLY)
  try:
    os.fsync(descriptor)
  finally:
    os.close(descriptor)


def _roll_forward(staging: pathlib.Path, directory: pathlib.Path) -> None:
  """Moves a committed staging directory's files into ``directory``, in the commit's order."""
  for name in json.loads((staging / _COMMIT).read_text()):
    if (staging / name).exists():
      os.replace(staging / name, directory / name)
  _fsync_directory(directory)
  shutil.rmtree(staging)


def recover(directory: pathlib.Path) -> None:
  """Finishes or discards what a killed run left in ``directory``.

  A committed output set is moved into place (its files were all written); an uncommitted
  one, and every temporary file of :func:`replacing` in ``directory`` or below, is deleted.
  """
  for staging in sorted(directory.glob(_STAGING + "*")):
    if (staging / _COMMIT).is_file():
      _roll_forward(staging, directory)
    else:
      shutil.rmtree(staging, ignore_errors=True)
  for leftover in directory.rglob(".*.tmp"):  # Also the checkpoints' (experiments.reddi).
    leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def output_set(directory: pathlib.Path) -> Iterator[pathlib.Path]:
  """A fresh directory for a run's outputs, whose files replace their namesakes in
  ``directory`` as one set once the block succeeds.

  The block writes its files into the yielded staging directory (inside ``directory``). On
  success they are flushed, a commit record listing them is written, and they are moved into
  ``directory``, ``results.json`` last; after a kill before the commit the old set stays
  whole, after it the next :func:`recover` (every :func:`run_directory` starts with one)
  finishes the move. On an exception the staging directory is deleted.

  Example:
    >>> import pathlib, tempfile
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> with output_set(out) as staging:
    ...   _ = (staging / "table.csv").write_text("t,x\\n")
    ...   write_json(staging / "results.json", {"x": 1})
    >>> sorted(p.name for p in out.iterdir())
    ['results.json', 'table.csv']
  """
  staging = pathlib.Path(tempfile.mkdtemp(prefix=_STAGING, dir=directory))
  try:
    yield staging
    names = sorted(p.name for p in staging.iterdir())
    names.sort(key=lambda name: name == "results.json")
    for name in names:
      descriptor = os.open(staging / name, os.O_RDONLY)
      try:
        os.fsync(descriptor)
      finally:
        os.close(descriptor)
    with replacing(staging / _COMMIT) as temporary:
      temporary.write_text(json.dumps(names))
    _fsync_directory(staging)
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
  _roll_forward(staging, directory)


@contextlib.contextmanager
def run_directory(directory: pathlib.Path | None) -> Iterator[None]:
  """Creates ``directory``, probes that files can be written in it, and holds its lock.

  Called before anything is computed, so that a directory that cannot be used ends the run at
  once. ``None`` (no outputs) does nothing.

  Raises:
    OutputError: if the directory cannot be created or written, or another run holds it
      (an exclusive ``fcntl.flock`` on ``directory/.lock``).

  Example:
    >>> import pathlib, tempfile
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "run"
    >>> with run_directory(out):
    ...   with run_directory(out):
    ...     pass
    Traceback (most recent call last):
    ...
    experiments.files.OutputError: .../run is in use by another run (it holds .../run/.lock)
  """
  if directory is None:
    yield
    return
  try:
    directory.mkdir(parents=True, exist_ok=True)
    lock = os.open(directory / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
  except OSError as error:
    raise OutputError(f"cannot write {error.filename or directory}: {error.strerror}") from error
  try:
    try:
      fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      raise OutputError(
        f"{directory} is in use by another run (it holds {directory / LOCK})"
      ) from None
    try:
      with replacing(directory / ".probe"):
        pass
      (directory / ".probe").unlink()
      recover(directory)
    except OSError as error:
      raise OutputError(f"cannot write {error.filename or directory}: {error.strerror}") from error
    yield
  finally:
    os.close(lock)
