"""The documentation a user reads: the built site, in a real browser, and every docstring.

The site is built once per test run (``sphinx-build -W``, into a temporary directory; under
xdist the first worker builds and the others wait for it), then:

- every public callable (each name of each public module's ``__all__``, found by the walk in
  ``docs/ext/public_api.py``) has its page, and its docstring has an example that the test
  run's ``--doctest-modules`` executes;
- the signatures show ``jax.typing.ArrayLike`` and ``optax.ScalarOrSchedule`` by name, in the
  pages and in ``help()``;
- headless Chromium loads the pages from a local server: MathJax typeset every formula (no raw
  ``\\frac`` left), every image decoded (``naturalWidth > 0``), no request left the machine,
  no script failed;
- every code block of the porting guide runs.
"""

import contextlib
import doctest
import fcntl
import functools
import http.server
import importlib
import inspect
import json
import os
import pathlib
import re
import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest

from docs.ext import public_api
from tests import chromium

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

CALLABLES = public_api.public_callables()
IDS = [o.fullname for o in CALLABLES]


# --- docstrings ---------------------------------------------------------------------------


def _defining_module(obj: Any):
  return importlib.import_module(obj.__module__)


def _doctest_of(obj: Any) -> doctest.DocTest | None:
  """The doctest that ``--doctest-modules`` collects for ``obj`` in its defining module."""
  module = _defining_module(obj)
  name = f"{module.__name__}.{obj.__qualname__}"
  tests = {t.name: t for t in doctest.DocTestFinder().find(module)}
  return tests.get(name)


def test_the_walk_finds_the_public_api():
  modules = [m.__name__ for m in public_api.public_modules()]
  assert modules[:2] == ["jaxopt_fix", "jaxopt_fix.torch_optim"]
  assert not [m for m in modules if "._" in m or m.endswith("_test")]
  assert {"jaxopt_fix.scale_by_amsgrad", "jaxopt_fix.torch_optim.adamw"} <= set(IDS)
  assert len(IDS) == len(set(IDS))


def test_doctests_run_in_the_test_run(pytestconfig):
  """The examples below are real doctests only if the suite collects the modules' docstrings."""
  assert "--doctest-modules" in pytestconfig.getini("addopts")
  assert "jaxopt_fix" in pytestconfig.getini("testpaths")


@pytest.mark.parametrize("public", CALLABLES, ids=IDS)
def test_every_public_callable_has_an_example(public):
  module = _defining_module(public.obj)
  assert module.__name__.startswith("jaxopt_fix.") and not module.__name__.endswith("_test")
  test = _doctest_of(public.obj)
  has_example = test is not None and len(test.examples) > 0
  assert has_example, (
    f"{public.fullname} ({module.__name__}.{public.obj.__qualname__}) has no example in its "
    "docstring: add an `Examples:` section with a doctest"
  )


@pytest.mark.parametrize("public", CALLABLES, ids=IDS)
def test_help_shows_type_aliases_by_name(public):
  """``help()`` prints the signature; an expanded ``ArrayLike`` is eight types long."""
  signature = str(inspect.signature(public.obj))
  expanded = "Union[" in signature or "jaxlib" in signature or "numpy.bool" in signature
  assert not expanded, f"help({public.fullname}) expands a type alias: {signature}"


# --- the built site -----------------------------------------------------------------------


def _build(out: pathlib.Path) -> dict[str, Any]:
  command = [
    sys.executable,
    "-m",
    "sphinx",
    "-W",
    "--keep-going",
    "-q",
    "-b",
    "html",
    "-d",
    str(out / ".doctrees"),
    str(DOCS),
    str(out / "html"),
  ]
  result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
  return {"returncode": result.returncode, "output": result.stdout + result.stderr}


@pytest.fixture(scope="session")
def site(tmp_path_factory) -> pathlib.Path:
  """The built HTML site; built once per run, shared by the xdist workers."""
  run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
  if run is None:
    out = tmp_path_factory.mktemp("docs")
  else:
    out = tmp_path_factory.getbasetemp().parent / f"docs-{run}"
    out.mkdir(exist_ok=True)
  status = out / "status.json"
  with open(out / "lock", "w") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not status.exists():
      status.write_text(json.dumps(_build(out)))
  result = json.loads(status.read_text())
  assert result["returncode"] == 0, result["output"]
  assert "WARNING" not in result["output"], result["output"]
  return out / "html"


def test_the_docs_build_with_warnings_as_errors(site):
  for page in ("index", "semantics", "torch_optim", "porting", "experiments", "benchmarks"):
    assert (site / f"{page}.html").is_file(), page
  assert (site / "verification.html").is_file()
  assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()


def _page(site: pathlib.Path, fullname: str) -> str:
  return (site / "api" / "_autosummary" / f"{fullname}.html").read_text()


@pytest.mark.parametrize("public", CALLABLES, ids=IDS)
def test_every_public_callable_has_a_page(site, public):
  html = _page(site, public.fullname)
  assert f'id="{public.fullname}"' in html  # the object's own description, not a stub
  assert "&gt;&gt;&gt;" in html, "the docstring's example is not on the page"


def test_module_pages_list_every_name_and_the_data(site):
  for module in public_api.public_modules():
    html = (site / "api" / f"{module.__name__}.html").read_text()
    for name in public_api.public_names(module):
      assert f"{module.__name__}.{name}" in html, (module.__name__, name)
  assert "default first" in (site / "api" / "jaxopt_fix.html").read_text()


def test_signatures_show_type_aliases_by_name(site):
  text = re.sub(r"<[^>]+>", "", _page(site, "jaxopt_fix.torch_optim.adam"))
  assert "lr: optax.ScalarOrSchedule = 0.001" in text
  assert "eps: jax.typing.ArrayLike = 1e-08" in text
  assert "numpy.bool" not in text and "ndarray" not in text


def test_the_porting_guide_runs(tmp_path):
  """Every ```python block of docs/porting.md, in order, as one script (torch included)."""
  pytest.importorskip("torch")
  text = (DOCS / "porting.md").read_text()
  blocks = re.findall(r"^( *)```python\n(.*?)^\1```", text, flags=re.S | re.M)
  assert len(blocks) >= 5
  script = tmp_path / "porting.py"
  script.write_text("\n".join(textwrap.dedent(code) for _, code in blocks))
  env = {**os.environ, "PYTHONPATH": str(ROOT)}
  result = subprocess.run(
    [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True
  )
  assert result.returncode == 0, result.stdout + result.stderr


# --- in a browser ---------------------------------------------------------------------------


@contextlib.contextmanager
def _serve(directory: pathlib.Path):
  handler = functools.partial(_QuietHandler, directory=str(directory))
  server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
  thread = threading.Thread(target=server.serve_forever, daemon=True)
  thread.start()
  try:
    yield f"http://127.0.0.1:{server.server_address[1]}"
  finally:
    server.shutdown()
    server.server_close()
    thread.join()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
  def log_message(self, format, *args):
    del format, args


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
  binary = chromium.find_chromium()
  if binary is None:
    message = "no chromium on PATH (apt-get install chromium; .ci/run installs it)"
    if os.environ.get("CI") == "true":
      pytest.fail(message)
    pytest.skip(message)
  with chromium.Chromium(binary, tmp_path_factory.mktemp("chromium-profile")) as browser:
    yield browser


# Runs in the page: waits for MathJax and the images, then reports what a reader sees.
_INSPECT = r"""
(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  await Promise.all([...document.images].map((img) => img.complete ? null :
    new Promise((done) => { img.onload = img.onerror = done; })));
  const main = document.querySelector("main") || document.body;
  const formulas = [...document.querySelectorAll(".math")];
  return {
    title: document.title,
    mathjax: window.MathJax && MathJax.version ? MathJax.version : null,
    formulas: formulas.length,
    typeset: formulas.filter((f) => f.querySelector("mjx-container")).length,
    raw_tex: (main.innerText.match(/\\(frac|sqrt|beta|hat|max|operatorname|\(|\[)/g) || []),
    images: [...document.images].map((i) => ({src: i.currentSrc, width: i.naturalWidth})),
    table_rows: [...main.querySelectorAll("table tr")].map((r) => r.innerText),
    text: main.innerText,
  };
})()
"""

PAGES = {
  "index": "index.html",
  "scale_by_amsgrad": "api/_autosummary/jaxopt_fix.scale_by_amsgrad.html",
  "amsgrad": "api/_autosummary/jaxopt_fix.amsgrad.html",
  "difference table": "torch_optim.html",
  "experiments": "experiments.html",
  "benchmarks": "benchmarks.html",
}


@pytest.fixture(scope="module")
def pages(site, browser, tmp_path_factory) -> dict[str, dict[str, Any]]:
  shots = tmp_path_factory.mktemp("screenshots")
  seen = {}
  with _serve(site) as base:
    for name, path in PAGES.items():
      browser.open(f"{base}/{path}")
      report = browser.evaluate(_INSPECT)
      browser.screenshot(shots / f"{path.replace('/', '_')}.png")
      report.update(
        urls=browser.requested_urls(),
        failed=browser.failed_requests(),
        exceptions=browser.exceptions(),
        base=base,
        screenshot=str(shots),
      )
      seen[name] = report
  return seen


@pytest.mark.parametrize("name", list(PAGES))
def test_pages_load_from_the_site_alone(pages, name):
  page = pages[name]
  assert page["title"] and "jaxopt_fix" in page["title"], page["title"]
  offsite = [u for u in page["urls"] if not u.startswith((page["base"], "data:", "about:"))]
  assert offsite == [], f"requests that leave the machine: {offsite}"
  assert page["failed"] == [], page["failed"]
  assert page["exceptions"] == [], page["exceptions"]


@pytest.mark.parametrize("name", ["scale_by_amsgrad", "amsgrad"])
def test_math_is_typeset(pages, name):
  page = pages[name]
  assert page["formulas"] >= 3, "the page's .. math:: blocks are missing"
  assert page["mathjax"], f"MathJax did not load (screenshots in {page['screenshot']})"
  assert page["typeset"] == page["formulas"], page
  assert page["raw_tex"] == [], f"raw TeX left on the page: {page['raw_tex']}"


def test_the_amsgrad_page_reads_as_documentation(pages):
  text = pages["scale_by_amsgrad"]["text"]
  assert "jax.typing.ArrayLike" in text and "numpy.bool" not in text
  assert ">>> tx = optax.chain(jaxopt_fix.scale_by_amsgrad(b2=0.99)" in text
  assert "Warning" in text


@pytest.mark.parametrize("name", ["experiments", "benchmarks"])
def test_figures_are_displayed(pages, name):
  images = pages[name]["images"]
  assert images, f"no figure on the {name} page"
  broken = [i["src"] for i in images if i["width"] == 0]
  assert broken == [], f"images that did not decode: {broken}"


def test_the_difference_table_is_a_table(pages):
  rows = pages["difference table"]["table_rows"]
  twins = {line.split("\t")[1].strip() for line in rows[1:] if "\t" in line}
  # One row per twin of the registry: the table keeps up with the code.
  from jaxopt_fix import torch_optim

  assert {t.name for t in torch_optim.TWINS.values()} <= twins, twins
