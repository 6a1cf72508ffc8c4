"""The package is what it says: its attributes, the wheel's files, the metadata's claims."""

import ast
from collections.abc import Iterator
import os
import pathlib
import subprocess
import sys
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
TEST_ONLY_IMPORTS = {"pytest", "chex", "expecttest", "absl.testing"}


def test_torch_optim_is_an_attribute_of_the_package():
  code = (
    "import sys, jaxopt_fix\n"
    "assert 'jaxopt_fix.torch_optim' not in sys.modules  # loaded on first access\n"
    "assert 'torch_optim' in dir(jaxopt_fix)\n"
    "module = jaxopt_fix.torch_optim\n"
    "assert module is sys.modules['jaxopt_fix.torch_optim'] and module.adam\n"
    "print('torch' in sys.modules)\n"
  )
  result = subprocess.run(
    [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
  )
  assert result.returncode == 0, result.stderr
  assert result.stdout.strip() == "False"


def test_a_missing_attribute_is_still_an_attribute_error():
  import jaxopt_fix

  with pytest.raises(AttributeError, match="no attribute 'torch_optimizer'"):
    _ = jaxopt_fix.torch_optimizer  # pyright: ignore[reportAttributeAccessIssue]


def _imports(source: str) -> set[str]:
  names = set()
  for node in ast.walk(ast.parse(source)):
    if isinstance(node, ast.Import):
      names.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
      names.add(node.module)
  return names


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Iterator[zipfile.ZipFile]:
  """``pip wheel .`` with the build backend of the environment (no network)."""
  out = tmp_path_factory.mktemp("wheel")
  command = [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation"]
  result = subprocess.run(
    [*command, "-q", "-w", str(out)], cwd=ROOT, capture_output=True, text=True, check=False
  )
  assert result.returncode == 0, (
    f"{result.stdout}{result.stderr}\n(the build backend comes with pip install -e '.[test]')"
  )
  (path,) = out.glob("jaxopt_fix-*.whl")
  with zipfile.ZipFile(path) as archive:
    yield archive


def test_the_wheel_ships_the_library_and_no_tests(wheel):
  shipped = {n for n in wheel.namelist() if not n.startswith("jaxopt_fix-")}
  library = {
    str(p.relative_to(ROOT))
    for p in (ROOT / "jaxopt_fix").rglob("*.py")
    if not p.name.endswith("_test.py") and "__pycache__" not in p.parts
  }
  assert {n for n in shipped if n.endswith(".py")} == library
  assert "jaxopt_fix/py.typed" in shipped
  for name in sorted(library):
    imported = _imports(wheel.read(name).decode())
    assert not {i for i in imported if i.split(".")[0] in TEST_ONLY_IMPORTS}, name


def test_the_metadata_is_true(wheel):
  (metadata,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
  text = wheel.read(metadata).decode()
  headers = dict(
    line.split(": ", 1) for line in text.split("\n\n", 1)[0].splitlines() if ": " in line
  )
  # The parity suite lives in the repository, not in the wheel: the summary may not promise it.
  assert "parity suite" not in headers["Summary"]
  urls = [line for line in text.splitlines() if line.startswith("Project-URL: ")]
  assert {u.split(": ", 2)[1].split(",")[0] for u in urls} >= {"Documentation", "Source"}
  assert "Classifier: Typing :: Typed" in text


def test_the_docs_extra_pins_what_the_site_needs(wheel):
  (metadata,) = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
  requires = [
    line.removeprefix("Requires-Dist: ")
    for line in wheel.read(metadata).decode().splitlines()
    if line.startswith("Requires-Dist: ")
  ]
  docs = [r.split(";")[0].strip() for r in requires if r.endswith("extra == 'docs'")]
  assert docs and all("==" in r for r in docs), docs
  names = {r.split("==")[0] for r in docs}
  assert {"sphinx", "myst-parser", "sphinx-book-theme", "sphinx-mathjax-offline"} <= names
  # The test run builds the site: the test extra holds the docs extra (inlined by the backend).
  test = {r.split(";")[0].strip() for r in requires if r.endswith("extra == 'test'")}
  assert set(docs) <= test or "jaxopt-fix[docs]" in test, test


def test_the_installed_wheel_verifies_from_outside_the_repository(wheel, tmp_path):
  """``python -m jaxopt_fix.verify`` from the unpacked wheel, run in an empty directory."""
  site = tmp_path / "site"
  wheel.extractall(site)
  work = tmp_path / "work"
  work.mkdir()
  env = {**os.environ, "PYTHONPATH": str(site)}
  where = subprocess.run(
    [sys.executable, "-c", "import jaxopt_fix; print(jaxopt_fix.__file__)"],
    cwd=work,
    env=env,
    capture_output=True,
    text=True,
    check=True,
  )
  assert pathlib.Path(where.stdout.strip()).is_relative_to(site)
  command = [sys.executable, "-m", "jaxopt_fix.verify", "torch.optim.Adam(lr=1e-2, amsgrad=True)"]
  short = ["--steps", "20", "--gradients", "reddi_online"]
  agree = subprocess.run([*command, *short], cwd=work, env=env, capture_output=True, text=True)
  assert agree.returncode == 0, agree.stdout + agree.stderr
  assert "float64: AGREE" in agree.stdout and "float32: AGREE" in agree.stdout
  differ = subprocess.run(
    [*command, "--against", "optax.amsgrad(1e-2)", *short],
    cwd=work,
    env=env,
    capture_output=True,
    text=True,
  )
  assert differ.returncode == 1, differ.stdout + differ.stderr
  assert "nu_max/max_exp_avg_sq" in differ.stdout
  bad = subprocess.run(
    [sys.executable, "-m", "jaxopt_fix.verify", "torch.optim.Adam(lr=)"],
    cwd=work,
    env=env,
    capture_output=True,
    text=True,
  )
  assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
