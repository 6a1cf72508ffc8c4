"""Writing the experiments' files atomically: a reader sees the old file or the new one, whole."""

from collections.abc import Iterator
import contextlib
import json
import os
import pathlib
import tempfile
from typing import Any


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


def write_json(path: pathlib.Path, value: Any, indent: int = 2) -> None:
  """Writes ``value`` as JSON (and a final newline) to ``path`` atomically."""
  with replacing(path) as temporary:
    temporary.write_text(json.dumps(value, indent=indent) + "\n")
