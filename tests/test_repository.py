"""Repository-level guarantees: lint, types, the torch-free import, the CI command."""

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(*cmd: str) -> subprocess.CompletedProcess:
  return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)


def test_import_does_not_import_torch():
  code = "import sys, jaxopt_fix; print('torch' in sys.modules)"
  result = _run(sys.executable, "-c", code)
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip() == "False"


@pytest.mark.parametrize(
  "cmd",
  [("ruff", "check", "."), ("ruff", "format", "--check", "."), ("pyright",)],
  ids=["ruff-check", "ruff-format", "pyright"],
)
def test_tooling_is_clean(cmd):
  result = _run(sys.executable, "-m", *cmd)
  assert result.returncode == 0, result.stdout + result.stderr


def test_ci_runs_exactly_the_readme_test_command():
  readme = (ROOT / "README.md").read_text()
  commands = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
  assert len(commands) >= 2, "README must give the two commands"
  ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
  assert ci[-1] == commands[1].strip()
