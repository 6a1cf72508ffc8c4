"""What the experiments' tests share: running Python in the repository, checking a usage error,
running one transformation, damaging a checkpoint."""

import json
import os
import pathlib
import subprocess
import sys
from typing import Any

import numpy as np

REPO = pathlib.Path(__file__).resolve().parents[1]
"""The repository's root: the working directory of every subprocess."""
TIMEOUT = 300
"""Seconds a subprocess may take: a hang guard, not a speed requirement."""


def python_env(extra: dict[str, str] | None = None) -> dict[str, str]:
  """This process's environment, with the repository first on ``PYTHONPATH`` and ``extra``."""
  env = {**os.environ, **(extra or {})}
  env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
  return env


def python_command(*args: str) -> list[str]:
  """``python ARGS`` with this process's interpreter."""
  return [sys.executable, *args]


def run_python(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
  """Runs ``python ARGS`` in the repository, output captured; ``env`` as :func:`python_env`'s."""
  return subprocess.run(
    python_command(*args),
    cwd=REPO,
    env=python_env(env),
    capture_output=True,
    text=True,
    timeout=TIMEOUT,
    check=False,
  )


def assert_usage_error(stdout: str, stderr: str, prog: str, message: str = "") -> None:
  """What a CLI prints for a bad argument: no output, one ``PROG: error: ...`` line with
  ``message`` in it, no traceback."""
  assert stdout == "", stdout
  assert len(stderr.splitlines()) == 1 and stderr.endswith("\n"), stderr
  assert "Traceback" not in stderr
  assert stderr.startswith(f"{prog}: error: "), stderr
  assert message in stderr, stderr


def assert_main_rejects(main: Any, argv: list[str], capsys: Any, prog: str, message: str) -> None:
  """``main(argv)`` exits with status 2 and prints a usage error (:func:`assert_usage_error`)."""
  try:
    main(argv)
  except SystemExit as exit_info:
    assert exit_info.code == 2, exit_info.code
  else:
    raise AssertionError(f"{prog} {argv} did not exit")
  captured = capsys.readouterr()
  assert_usage_error(captured.out, captured.err, prog, message)


def alone(run: Any, tx: Any, *args: Any, **kwargs: Any) -> Any:
  """``run({"tx": tx}, *args, **kwargs)["tx"]``: one transformation through a runner of several
  (:func:`experiments.reddi.problems.run_online`, ...)."""
  return run({"tx": tx}, *args, **kwargs)["tx"]


def rewrite_npz(path: pathlib.Path, change: Any) -> None:
  """Rewrites the npz at ``path`` with ``change(arrays)`` applied (a valid zip again)."""
  with np.load(path) as data:
    arrays = dict(data)
  change(arrays)
  with path.open("wb") as file:
    np.savez(file, **arrays)


def meta(arrays: dict[str, Any]) -> dict[str, Any]:
  """The JSON header of a checkpoint's arrays (as :func:`rewrite_npz` passes them)."""
  return json.loads(str(arrays["meta"][()]))


def set_meta(arrays: dict[str, Any], **changes: Any) -> None:
  """Changes entries of the JSON header of a checkpoint's arrays."""
  arrays["meta"] = np.array(json.dumps({**meta(arrays), **changes}))
