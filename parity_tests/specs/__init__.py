"""One module per optimizer family; each exports ``SPECS: list[ParitySpec]``.

Adding an optimizer to the parity suite means adding a module here and nothing else:
``parity_tests/test_parity.py`` discovers every module of this package.
"""

import importlib
import pkgutil

from parity_tests.config import ParitySpec


def all_specs() -> list[ParitySpec]:
  """Every spec of every module in this package, in module order."""
  specs: list[ParitySpec] = []
  for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    specs.extend(importlib.import_module(f"{__name__}.{module}").SPECS)
  return specs
