"""The public API, read from the packages' ``__all__``: the docs' API pages and their coverage.

One source of truth for what is public: :func:`public_modules` walks ``jaxopt_fix`` and every
submodule whose dotted path has no ``_``-prefixed part, and each module's ``__all__`` lists its
names. The Sphinx extension (``setup``) writes one page per public module into ``docs/api/``
when the configuration is read, before Sphinx looks for documents: an ``autosummary`` table per
kind, whose ``:toctree:`` gives every function and class its own page, and the module's data
inline. After reading, it fails the build (a warning, an error under ``-W``) if a public name was
not documented, as optax's ``coverage_check`` does. ``tests/test_docs.py`` uses the same walk
for the docstring-example check, so a name added to an ``__all__`` is documented and checked
with no edit here.
"""

from collections.abc import Iterator
import dataclasses
import importlib
import inspect
import pathlib
import pkgutil
import sys
from types import ModuleType
import typing
from typing import Any

ROOT_PACKAGE = "jaxopt_fix"
API_DIR = "api"  # relative to the docs' source directory; generated, not committed
STUBS = "_autosummary"  # autosummary's per-object pages, inside API_DIR


def _is_public_module(name: str) -> bool:
  last = name.rpartition(".")[2]
  return not last.startswith("_") and not last.endswith("_test") and not last.startswith("test_")


def public_modules(root: str = ROOT_PACKAGE) -> list[ModuleType]:
  """``root`` and its public submodules, recursively, in import order (parents first)."""
  modules = [importlib.import_module(root)]
  for module in modules:  # grows while iterating: a breadth-first walk
    for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
      name = f"{module.__name__}.{info.name}"
      if _is_public_module(name):
        modules.append(importlib.import_module(name))
  return modules


def public_names(module: ModuleType) -> tuple[str, ...]:
  """``module.__all__``; a public module without one is an error, not a guess."""
  names = getattr(module, "__all__", None)
  if names is None:
    raise AttributeError(
      f"{module.__name__} is a public module (no leading underscore) without __all__: "
      "list its public names in __all__, or rename it with a leading underscore"
    )
  return tuple(names)


@dataclasses.dataclass(frozen=True)
class PublicObject:
  module: str  # the public module that exports it
  name: str
  obj: Any

  @property
  def fullname(self) -> str:
    return f"{self.module}.{self.name}"

  @property
  def kind(self) -> str:
    """``"class"``, ``"function"`` (any other callable) or ``"data"`` (type aliases such as
    ``AmsgradVariant = Literal[...]`` included: they are documented, not called)."""
    if typing.get_origin(self.obj) is not None:
      return "data"
    if inspect.isclass(self.obj):
      return "class"
    return "function" if callable(self.obj) else "data"


def public_objects(root: str = ROOT_PACKAGE) -> Iterator[PublicObject]:
  """Every name of every public module's ``__all__`` (public submodules are not listed)."""
  for module in public_modules(root):
    for name in public_names(module):
      yield PublicObject(module.__name__, name, getattr(module, name))


def public_callables(root: str = ROOT_PACKAGE) -> list[PublicObject]:
  """The functions and classes of the public API: the names that need a page and an example."""
  return [o for o in public_objects(root) if o.kind != "data"]


def _data_docstring(name: str, obj: Any) -> str:
  """The ``#:`` comment or string literal documenting ``name`` where it is defined."""
  from sphinx.pycode import ModuleAnalyzer  # Sphinx only at docs build time

  for module_name, module in sorted(sys.modules.items()):
    if not (module_name == ROOT_PACKAGE or module_name.startswith(ROOT_PACKAGE + ".")):
      continue
    if getattr(module, name, None) is not obj:
      continue
    docs = ModuleAnalyzer.for_module(module_name).find_attr_docs()
    if ("", name) in docs:
      return "\n".join(docs["", name]).strip()
  return ""


def _title(text: str, char: str) -> str:
  return f"{text}\n{char * len(text)}\n"


def _module_page(module: ModuleType) -> str:
  objects = [PublicObject(module.__name__, n, getattr(module, n)) for n in public_names(module)]
  submodules = [
    f"{module.__name__}.{info.name}"
    for info in pkgutil.iter_modules(getattr(module, "__path__", []))
    if _is_public_module(f"{module.__name__}.{info.name}")
  ]
  lines = [
    _title(f"``{module.__name__}``", "="),
    f".. automodule:: {module.__name__}",
    "   :no-members:",
    "",
    f".. currentmodule:: {module.__name__}",
    "",
  ]
  for kind, heading in (("function", "Functions"), ("class", "Classes")):
    names = sorted((o.name for o in objects if o.kind == kind), key=str.lower)
    if names:
      lines += [_title(heading, "-"), ".. autosummary::", f"   :toctree: {STUBS}", ""]
      lines += [f"   {name}" for name in names] + [""]
  data = sorted((o for o in objects if o.kind == "data"), key=lambda o: o.name.lower())
  if data:
    lines.append(_title("Data", "-"))
  for o in data:
    lines.append(f".. py:data:: {o.name}")
    value = repr(o.obj)
    if len(value) <= 80:
      lines.append(f"   :value: {value}")
    lines.append("")
    doc = _data_docstring(o.name, o.obj)
    lines += [f"   {line}" if line else "" for line in doc.splitlines()] + [""]
  if submodules:
    lines += [_title("Submodules", "-"), ".. toctree::", "   :maxdepth: 1", ""]
    lines += [f"   {name}" for name in submodules] + [""]
  return "\n".join(lines)


def _index_page(modules: list[ModuleType]) -> str:
  lines = [
    _title("API reference", "="),
    "Generated from the ``__all__`` of every public module: each function and class has",
    "its own page with its signature, math, warnings and a doctested example.",
    "",
    ".. toctree::",
    "   :maxdepth: 2",
    "",
    f"   {modules[0].__name__}",
    "",
  ]
  return "\n".join(lines)


def _write_if_changed(path: pathlib.Path, text: str) -> None:
  """Leaves an unchanged page untouched, so that Sphinx does not read it again."""
  if not path.exists() or path.read_text() != text:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def write_api_pages(srcdir: pathlib.Path) -> list[pathlib.Path]:
  """Writes ``srcdir/api/``: an index and one page per public module; removes stale pages.

  Returns the module pages, for ``autosummary_generate``.
  """
  api = srcdir / API_DIR
  modules = public_modules()
  pages = {api / "index.rst": _index_page(modules)}
  pages.update({api / f"{m.__name__}.rst": _module_page(m) for m in modules})
  for path, text in pages.items():
    _write_if_changed(path, text)
  expected_stubs = {api / STUBS / f"{o.fullname}.rst" for o in public_callables()}
  for path in [*api.glob("*.rst"), *(api / STUBS).glob("*.rst")]:
    if path not in pages and path not in expected_stubs:
      path.unlink()  # a name no longer public: its page would be an orphan
  return [p for p in pages if p.name != "index.rst"]


def _on_config_inited(app: Any, config: Any) -> None:
  pages = write_api_pages(pathlib.Path(app.srcdir))
  config.autosummary_generate = [str(p.relative_to(app.srcdir)) for p in pages]


def _check_coverage(app: Any, env: Any) -> None:
  """Every public name is described by some page (optax's ``coverage_check``)."""
  from sphinx.util import logging

  documented = set(env.get_domain("py").objects)
  missing = [o.fullname for o in public_objects() if o.fullname not in documented]
  if missing:
    logging.getLogger(__name__).warning(
      "public names without documentation: %s", ", ".join(missing), type="coverage"
    )


def _drop_namedtuple_field_docstrings(app, what, name, obj, options, lines) -> None:
  """A NamedTuple field's docstring is ``Alias for field number N``: noise on a state page."""
  del app, name, obj, options
  if what in ("attribute", "property") and lines[:1] and lines[0].startswith("Alias for field"):
    lines.clear()


def setup(app: Any) -> dict[str, Any]:
  app.connect("config-inited", _on_config_inited)
  app.connect("autodoc-process-docstring", _drop_namedtuple_field_docstrings)
  app.connect("env-check-consistency", _check_coverage)
  return {"parallel_read_safe": True, "parallel_write_safe": True}
