"""Sphinx configuration: ``python -m sphinx -W -b html docs docs/_build/html`` (see the README).

Offline by construction: MathJax comes from the ``sphinx-mathjax-offline`` package (MathJax
3.2.2 with its fonts, copied into ``_static/mathjax``), the theme bundles its own assets, and
no intersphinx inventory is fetched.
"""

import pathlib
import sys

DOCS = pathlib.Path(__file__).resolve().parent
ROOT = DOCS.parent
# The checkout's package, not an installed copy; and this folder's extensions.
sys.path[:0] = [str(ROOT), str(DOCS / "ext")]

import jaxopt_fix  # noqa: E402

project = "jaxopt_fix"
author = "the jaxopt_fix authors"
copyright = "the jaxopt_fix authors; Apache-2.0"
release = version = jaxopt_fix.__version__

extensions = [
  "myst_parser",
  "sphinx.ext.autodoc",
  "sphinx.ext.autosummary",
  "sphinx.ext.napoleon",
  "sphinx.ext.mathjax",
  "sphinx-mathjax-offline",
  "public_api",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "ext", "**/*.tmp"]
templates_path = ["_templates"]

# API pages: docs/ext/public_api.py writes docs/api/ from the packages' __all__.
autosummary_generate = True  # replaced by the generated module pages at config-inited
autosummary_imported_members = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
# The annotations are strings (``from __future__ import annotations``), so autodoc can show
# these aliases by name instead of expanding their unions.
autodoc_type_aliases = {
  name: name
  for name in (
    "jax.typing.ArrayLike",
    "jax.typing.DTypeLike",
    "optax.ScalarOrSchedule",
    "optax.Schedule",
    "optax.Params",
    "optax.Updates",
    "optax.OptState",
    "optax.GradientTransformation",
    "optax.GradientTransformationExtraArgs",
  )
}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

# Markdown: the README's sections are included; its heading anchors are linked to.
myst_heading_anchors = 3
myst_enable_extensions = ["dollarmath"]

html_theme = "sphinx_book_theme"
html_title = "jaxopt_fix"
html_theme_options = {
  "show_toc_level": 2,
  "navigation_with_keys": False,
}
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_last_updated_fmt = None
html_show_sourcelink = False
